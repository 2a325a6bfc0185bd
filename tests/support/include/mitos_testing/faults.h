// Real storage faults for tests: a file this process may not write, and a
// small filesystem to fill up. Both undo themselves on destruction.
#ifndef MITOS_TESTING_FAULTS_H_
#define MITOS_TESTING_FAULTS_H_

#include <cstdint>
#include <filesystem>
#include <string>

namespace mitos::testing {

// Makes an existing file read-only to this process for as long as it
// lives: a read-only bind mount of the file over itself when running as
// root (whom permissions do not stop), else mode 0444. Files already open
// for writing stay writable through their descriptors.
class ReadOnlyFile {
 public:
  explicit ReadOnlyFile(std::filesystem::path path);
  ~ReadOnlyFile();
  ReadOnlyFile(const ReadOnlyFile&) = delete;
  ReadOnlyFile& operator=(const ReadOnlyFile&) = delete;

  // Returns "" when the file is read-only, else why it is not (for
  // GTEST_SKIP).
  const std::string& error() const { return error_; }

 private:
  std::filesystem::path path_;
  std::string error_;
  bool mounted_ = false;
  std::filesystem::perms perms_{};
};

// A tmpfs of `bytes` mounted on a fresh directory, removed on destruction.
// Needs root (CAP_SYS_ADMIN); error() says why when it could not mount.
class SmallFilesystem {
 public:
  explicit SmallFilesystem(uint64_t bytes);
  ~SmallFilesystem();
  SmallFilesystem(const SmallFilesystem&) = delete;
  SmallFilesystem& operator=(const SmallFilesystem&) = delete;

  // Returns "" when mounted, else why not (for GTEST_SKIP).
  const std::string& error() const { return error_; }
  const std::filesystem::path& path() const { return path_; }

  // Writes a file that takes up all the space left. Returns its size.
  uint64_t Fill();
  // Removes what Fill wrote, so that the space is free again.
  void Free();

 private:
  std::filesystem::path path_;
  std::string error_;
  bool mounted_ = false;
};

}  // namespace mitos::testing

#endif  // MITOS_TESTING_FAULTS_H_
