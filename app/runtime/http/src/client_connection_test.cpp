// The client connection against a scripted peer that writes raw bytes.
#include "mitos/http/client_connection.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace mitos::internal {
namespace {

using std::chrono::milliseconds;

// Accepts one connection; for each request it reads, sends the next
// scripted answer, split into pieces of `chunk` bytes.
class ScriptedPeer {
 public:
  ScriptedPeer(std::vector<std::string> answers, size_t chunk = 1 << 20,
               bool close_after = false)
      : answers_(std::move(answers)), chunk_(chunk), close_after_(close_after) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    ::listen(fd_, 1);
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedPeer() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  int port() const { return port_; }

 private:
  void Serve() {
    int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    for (const auto& answer : answers_) {
      char buf[4096];
      ssize_t n = ::recv(c, buf, sizeof(buf), 0);
      if (n <= 0) break;
      for (size_t off = 0; off < answer.size(); off += chunk_) {
        ::send(c, answer.data() + off, std::min(chunk_, answer.size() - off),
               MSG_NOSIGNAL);
        if (chunk_ < answer.size()) std::this_thread::sleep_for(milliseconds(1));
      }
    }
    if (close_after_) {
      ::close(c);
      return;
    }
    char buf[1];
    ::recv(c, buf, 1, 0);  // wait for the client to go away
    ::close(c);
  }

  std::vector<std::string> answers_;
  size_t chunk_;
  bool close_after_;
  int fd_;
  int port_ = 0;
  std::thread thread_;
};

const std::string kGet = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";

TEST(HttpConnection, ReadsContentLengthBodiesAndKeepsAlive) {
  ScriptedPeer peer({"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello",
                     "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"});
  auto c = HttpConnection::Connect("127.0.0.1", peer.port(), milliseconds(1000));
  ASSERT_NE(c, nullptr);
  http::ClientResponse r;
  ASSERT_EQ(c->RoundTrip(kGet, false, milliseconds(2000), &r), HttpConnection::Outcome::kOk);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello");
  EXPECT_EQ(r.Header("x-a"), "b");
  EXPECT_TRUE(c->Reusable());
  ASSERT_EQ(c->RoundTrip(kGet, false, milliseconds(2000), &r), HttpConnection::Outcome::kOk);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "");
}

TEST(HttpConnection, ReadsAResponseDeliveredOneByteAtATime) {
  ScriptedPeer peer({"HTTP/1.1 201 Created\r\nContent-Length: 11\r\n\r\n{\"id\":1234}"}, 1);
  auto c = HttpConnection::Connect("127.0.0.1", peer.port(), milliseconds(1000));
  http::ClientResponse r;
  ASSERT_EQ(c->RoundTrip(kGet, false, milliseconds(5000), &r), HttpConnection::Outcome::kOk);
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, "{\"id\":1234}");
}

TEST(HttpConnection, DecodesChunkedBodies) {
  ScriptedPeer peer({"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n"});
  auto c = HttpConnection::Connect("127.0.0.1", peer.port(), milliseconds(1000));
  http::ClientResponse r;
  ASSERT_EQ(c->RoundTrip(kGet, false, milliseconds(2000), &r), HttpConnection::Outcome::kOk);
  EXPECT_EQ(r.body, "hello, world");
  EXPECT_TRUE(c->keep_alive());
}

TEST(HttpConnection, BodyWithoutLengthRunsToClose) {
  ScriptedPeer peer({"HTTP/1.1 200 OK\r\n\r\nuntil the end"}, 1 << 20, /*close_after=*/true);
  auto c = HttpConnection::Connect("127.0.0.1", peer.port(), milliseconds(1000));
  http::ClientResponse r;
  ASSERT_EQ(c->RoundTrip(kGet, false, milliseconds(2000), &r), HttpConnection::Outcome::kOk);
  EXPECT_EQ(r.body, "until the end");
  EXPECT_FALSE(c->keep_alive());
}

TEST(HttpConnection, ConnectionCloseIsHonoured) {
  ScriptedPeer peer({"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"});
  auto c = HttpConnection::Connect("127.0.0.1", peer.port(), milliseconds(1000));
  http::ClientResponse r;
  ASSERT_EQ(c->RoundTrip(kGet, false, milliseconds(2000), &r), HttpConnection::Outcome::kOk);
  EXPECT_FALSE(c->keep_alive());
  EXPECT_FALSE(c->Reusable());
}

TEST(HttpConnection, HeadAnswersHaveNoBody) {
  ScriptedPeer peer({"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"});
  auto c = HttpConnection::Connect("127.0.0.1", peer.port(), milliseconds(1000));
  http::ClientResponse r;
  ASSERT_EQ(c->RoundTrip("HEAD / HTTP/1.1\r\nHost: t\r\n\r\n", true, milliseconds(2000), &r),
            HttpConnection::Outcome::kOk);
  EXPECT_EQ(r.body, "");
}

TEST(HttpConnection, MalformedOrTruncatedAnswersAreBroken) {
  {
    ScriptedPeer peer({"SMTP ready\r\n\r\n"});
    auto c = HttpConnection::Connect("127.0.0.1", peer.port(), milliseconds(1000));
    http::ClientResponse r;
    EXPECT_EQ(c->RoundTrip(kGet, false, milliseconds(2000), &r), HttpConnection::Outcome::kBroken);
  }
  {
    ScriptedPeer peer({"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"}, 1 << 20, true);
    auto c = HttpConnection::Connect("127.0.0.1", peer.port(), milliseconds(1000));
    http::ClientResponse r;
    EXPECT_EQ(c->RoundTrip(kGet, false, milliseconds(2000), &r), HttpConnection::Outcome::kBroken);
    EXPECT_FALSE(c->keep_alive());
  }
}

TEST(HttpConnection, SilentPeerTimesOut) {
  ScriptedPeer peer({""});  // reads the request, answers nothing
  auto c = HttpConnection::Connect("127.0.0.1", peer.port(), milliseconds(1000));
  http::ClientResponse r;
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(c->RoundTrip(kGet, false, milliseconds(200), &r), HttpConnection::Outcome::kTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - started, milliseconds(2000));
}

TEST(HttpConnection, ConnectToAClosedPortFails) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  EXPECT_EQ(HttpConnection::Connect("127.0.0.1", ntohs(a.sin_port), milliseconds(500)),
            nullptr);
}

}  // namespace
}  // namespace mitos::internal
