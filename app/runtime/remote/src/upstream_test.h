// Test servers for the remote channels' tests: real HTTP servers on
// loopback whose answers a test scripts, and a port nothing listens on.
// Only test targets include it (hence the _test name: it needs the server,
// which the remote library does not link).
#ifndef MITOS_REMOTE_UPSTREAM_TEST_H_
#define MITOS_REMOTE_UPSTREAM_TEST_H_

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <string>

#include "mitos/server/server.h"

namespace mitos::internal {

// An upstream whose behaviour each test scripts.
class Upstream {
 public:
  explicit Upstream(std::function<void(http::Request&, http::Response&)> d,
                    int port = 0) {
    ServerOptions o;
    o.host = "127.0.0.1";
    o.port = port;
    o.threads_min = 2;
    server_ = std::make_unique<HttpServer>(o, Synchronous(std::move(d)));
    EXPECT_TRUE(server_->Bind().ok());
    server_->Start();
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(server_->port());
  }
  int open_connections() const { return server_->open_connections(); }
  int port() const { return server_->port(); }

 private:
  std::unique_ptr<HttpServer> server_;
};

// A port with nothing listening on it.
inline int ClosedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

}  // namespace mitos::internal

#endif  // MITOS_REMOTE_UPSTREAM_TEST_H_
