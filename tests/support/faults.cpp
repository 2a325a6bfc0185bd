#include "mitos_testing/faults.h"

#include <SQLiteCpp/Database.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>
#include <vector>

namespace mitos::testing {
namespace {

std::string Why(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

// A TCP socket bound to 127.0.0.1 on a port the kernel picks; sets *port.
int BoundLoopbackSocket(int* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(Why("socket"));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::string why = Why("bind");
    ::close(fd);
    throw std::runtime_error(why);
  }
  *port = ntohs(addr.sin_port);
  return fd;
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

std::string DamageDatabase(const std::filesystem::path& data_dir,
                           const std::string& module) {
  const std::filesystem::path path = data_dir / (module + ".db");
  std::vector<int> roots;
  int page_size = 0;
  try {
    // Read-write, so that closing it (the last connection) folds the log
    // into the file and removes it: the pages overwritten are those read.
    SQLite::Database raw(path.string(), SQLite::OPEN_READWRITE);
    SQLite::Statement q(raw, "SELECT rootpage FROM sqlite_master WHERE type = 'table'");
    while (q.executeStep()) roots.push_back(q.getColumn(0).getInt());
    page_size = raw.execAndGet("PRAGMA page_size").getInt();
  } catch (const std::exception& e) {
    return e.what();
  }
  if (roots.empty()) return path.string() + " has no table";
  std::error_code ec;
  if (std::filesystem::exists(path.string() + "-wal", ec)) {
    return "the log of " + path.string() + " is still there: is it open?";
  }
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  const std::string garbage(static_cast<size_t>(page_size), '\xff');
  for (int root : roots) {
    f.seekp(static_cast<std::streamoff>(root - 1) * page_size);
    f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  f.close();
  return f ? "" : "cannot write " + path.string();
}

int ClosedPort() {
  int port = 0;
  ::close(BoundLoopbackSocket(&port));
  return port;
}

SilentServer::SilentServer() {
  fd_ = BoundLoopbackSocket(&port_);
  // Never accepted: the kernel completes connections into the backlog,
  // takes the requests into their buffers, and nothing ever answers.
  if (::listen(fd_, 64) != 0) {
    std::string why = Why("listen");
    ::close(fd_);
    throw std::runtime_error(why);
  }
}

SilentServer::~SilentServer() { ::close(fd_); }

std::string SilentServer::url() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

}  // namespace mitos::testing
