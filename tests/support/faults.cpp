#include "mitos_testing/faults.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <vector>

namespace mitos::testing {
namespace {

std::string Why(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

}  // namespace

ReadOnlyFile::ReadOnlyFile(std::filesystem::path path)
    : path_(std::move(path)) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path_, ec)) {
    error_ = path_.string() + " is not a file";
    return;
  }
  if (::geteuid() != 0) {
    perms_ = std::filesystem::status(path_, ec).permissions();
    std::filesystem::permissions(path_,
                                 std::filesystem::perms::owner_read |
                                     std::filesystem::perms::group_read |
                                     std::filesystem::perms::others_read,
                                 ec);
    if (ec) error_ = "chmod: " + ec.message();
    return;
  }
  const char* p = path_.c_str();
  if (::mount(p, p, nullptr, MS_BIND, nullptr) != 0) {
    error_ = Why("bind mount (needs CAP_SYS_ADMIN)");
    return;
  }
  mounted_ = true;
  if (::mount(nullptr, p, nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY,
              nullptr) != 0) {
    error_ = Why("read-only remount");
  }
}

ReadOnlyFile::~ReadOnlyFile() {
  if (mounted_) {
    // Detached: a descriptor still open through the mount must not keep
    // the file read-only for the next test.
    ::umount2(path_.c_str(), MNT_DETACH);
  } else if (error_.empty()) {
    std::error_code ec;
    std::filesystem::permissions(path_, perms_, ec);
  }
}

SmallFilesystem::SmallFilesystem(uint64_t bytes) {
  if (::geteuid() != 0) {
    error_ = "mounting a tmpfs needs root";
    return;
  }
  path_ = std::filesystem::temp_directory_path() /
          ("mitos-tmpfs-" + std::to_string(::getpid()) + "-" +
           std::to_string(std::random_device{}()));
  std::error_code ec;
  std::filesystem::create_directories(path_, ec);
  if (ec) {
    error_ = "mkdir: " + ec.message();
    return;
  }
  const std::string options = "size=" + std::to_string(bytes) + ",mode=0700";
  if (::mount("tmpfs", path_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
              options.c_str()) != 0) {
    error_ = Why("mount -t tmpfs (needs CAP_SYS_ADMIN)");
    return;
  }
  mounted_ = true;
}

SmallFilesystem::~SmallFilesystem() {
  if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

uint64_t SmallFilesystem::Fill() {
  const std::string file = (path_ / "filler").string();
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                  0600);
  if (fd < 0) return 0;
  uint64_t written = 0;
  // Big writes first, then single pages, until not one more byte fits.
  for (size_t chunk : {size_t{1} << 16, size_t{4096}, size_t{1}}) {
    std::vector<char> buf(chunk, 'f');
    for (;;) {
      ssize_t n = ::write(fd, buf.data(), buf.size());
      if (n > 0) {
        written += static_cast<uint64_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      break;
    }
  }
  ::fsync(fd);
  ::close(fd);
  return written;
}

void SmallFilesystem::Free() {
  std::error_code ec;
  std::filesystem::remove(path_ / "filler", ec);
}

}  // namespace mitos::testing
