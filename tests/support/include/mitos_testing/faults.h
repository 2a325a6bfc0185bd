// Real faults for tests: a file this process may not write, a small
// filesystem to fill up, a damaged database, a remote that is down and one
// that never answers. Those that change something undo it on destruction.
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

// Damages the database of module `module` in `data_dir` (the file the
// runtime opens for it), which no connection may hold open: the root page
// of every table is overwritten with garbage. The schema stays readable, so
// the module starts, and every read of a table fails as corrupt. Returns ""
// when done, else why not.
std::string DamageDatabase(const std::filesystem::path& data_dir,
                           const std::string& module);

// Returns a loopback port that nothing listens on, as a remote that is
// down: connecting to it is refused. (Another process could take it later;
// use it at once.)
int ClosedPort();

// A loopback listener that never accepts nor answers, as a remote that
// hangs: a request sent to it waits until its deadline or its timeout.
class SilentServer {
 public:
  SilentServer();
  ~SilentServer();
  SilentServer(const SilentServer&) = delete;
  SilentServer& operator=(const SilentServer&) = delete;

  // "http://127.0.0.1:<port>"
  std::string url() const;

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace mitos::testing

#endif  // MITOS_TESTING_FAULTS_H_
