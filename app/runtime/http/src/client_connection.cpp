#include "mitos/http/client_connection.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mitos::internal {
namespace {

using std::chrono::milliseconds;

constexpr size_t kMaxHead = 64 * 1024;
constexpr size_t kMaxBody = 64 * 1024 * 1024;

bool ParseSize(std::string_view s, int base, size_t* out) {
  if (s.empty() || s.size() > 16) return false;
  size_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (base == 16 && c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (base == 16 && c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return false;
    v = v * static_cast<size_t>(base) + static_cast<size_t>(d);
  }
  *out = v;
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

namespace {

// Starts a non-blocking connect to each address of host:port in turn and
// returns the first socket that `finish` accepts (it returns false to try
// the next address), with TCP_NODELAY set; -1 if none.
template <typename Finish>
int ConnectFirst(const std::string& host, int port, Finish finish) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0) {
    return -1;
  }
  int found = -1;
  for (addrinfo* ai = res; ai != nullptr && found < 0; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                      ai->ai_protocol);
    if (fd < 0) continue;
    int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    bool in_progress = rc != 0 && errno == EINPROGRESS;
    if ((rc != 0 && !in_progress) || !finish(fd, in_progress)) {
      ::close(fd);
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    found = fd;
  }
  ::freeaddrinfo(res);
  return found;
}

}  // namespace

std::unique_ptr<HttpConnection> HttpConnection::Connect(const std::string& host,
                                                        int port,
                                                        milliseconds timeout) {
  int fd = ConnectFirst(host, port, [&](int s, bool in_progress) {
    if (in_progress) {
      pollfd p{s, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof(err);
      if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1 ||
          ::getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        return false;
      }
    }
    int flags = ::fcntl(s, F_GETFL);
    ::fcntl(s, F_SETFL, flags & ~O_NONBLOCK);
    return true;
  });
  return fd < 0 ? nullptr : std::unique_ptr<HttpConnection>(new HttpConnection(fd));
}

// The connect's outcome is left to the event loop: a failure after
// EINPROGRESS shows as SO_ERROR, and the next address is not tried.
std::unique_ptr<HttpConnection> HttpConnection::ConnectNonBlocking(
    const std::string& host, int port) {
  int fd = ConnectFirst(host, port, [](int, bool) { return true; });
  return fd < 0 ? nullptr : std::unique_ptr<HttpConnection>(new HttpConnection(fd));
}

HttpConnection::~HttpConnection() { ::close(fd_); }

bool HttpConnection::SetTimeout(milliseconds t) {
  if (t == timeout_set_) return true;
  timeval tv{static_cast<time_t>(t.count() / 1000),
             static_cast<suseconds_t>((t.count() % 1000) * 1000)};
  if (tv.tv_sec == 0 && tv.tv_usec == 0) tv.tv_usec = 1000;
  if (::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
      ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
    return false;
  }
  timeout_set_ = t;
  return true;
}

bool HttpConnection::Reusable() {
  if (!keep_alive_ || !buf_.empty()) return false;
  char c;
  ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

bool HttpConnection::Fill(Clock::time_point deadline, bool* timed_out) {
  char tmp[16384];
  for (;;) {
    ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
    if (n > 0) {
      buf_.append(tmp, static_cast<size_t>(n));
      return true;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      *timed_out = Clock::now() >= deadline - milliseconds(1);
      if (*timed_out) return false;
      continue;  // woke early; the socket timeout bounds the next wait
    }
    return false;
  }
}

HttpConnection::Outcome HttpConnection::RoundTrip(const std::string& request,
                                                  bool head, milliseconds timeout,
                                                  http::ClientResponse* out) {
  auto deadline = Clock::now() + timeout;
  if (!SetTimeout(timeout)) return Outcome::kSendFailed;
  buf_.clear();
  size_t off = 0;
  while (off < request.size()) {
    ssize_t n = ::send(fd_, request.data() + off, request.size() - off,
                       MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      keep_alive_ = false;
      bool timed_out = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
      if (timed_out) return Outcome::kTimeout;
      return off == 0 ? Outcome::kSendFailed : Outcome::kBroken;
    }
    off += static_cast<size_t>(n);
  }
  Outcome o = ReadResponse(head, deadline, out);
  if (o != Outcome::kOk) keep_alive_ = false;
  last_used_ = Clock::now();
  return o;
}

ResponseParse ParseResponse(std::string& buf, bool head, bool eof,
                            http::ClientResponse* out, bool* keep_alive) {
  size_t head_end = buf.find("\r\n\r\n");
  if (head_end == std::string::npos) {
    return buf.size() > kMaxHead || eof ? ResponseParse::kBroken
                                        : ResponseParse::kNeedMore;
  }
  std::string_view h(buf.data(), head_end);
  // Status line: HTTP/1.x SSS reason
  size_t eol = h.find("\r\n");
  std::string_view status_line = h.substr(0, eol);
  if (status_line.size() < 12 || status_line.compare(0, 7, "HTTP/1.") != 0) {
    return ResponseParse::kBroken;
  }
  size_t code = 0;
  if (!ParseSize(status_line.substr(9, 3), 10, &code)) return ResponseParse::kBroken;
  out->status = static_cast<int>(code);
  out->headers.clear();
  bool alive = status_line[7] != '0';
  bool chunked = false;
  bool has_length = false;
  size_t length = 0;
  size_t pos = eol == std::string_view::npos ? h.size() : eol + 2;
  while (pos < h.size()) {
    size_t next = h.find("\r\n", pos);
    if (next == std::string_view::npos) next = h.size();
    std::string_view line = h.substr(pos, next - pos);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return ResponseParse::kBroken;
    std::string_view name = line.substr(0, colon);
    std::string_view value = Trim(line.substr(colon + 1));
    if (http::EqualsIgnoreCase(name, "Content-Length")) {
      if (!ParseSize(value, 10, &length) || length > kMaxBody) return ResponseParse::kBroken;
      has_length = true;
    } else if (http::EqualsIgnoreCase(name, "Transfer-Encoding")) {
      chunked = http::EqualsIgnoreCase(value, "chunked");
      if (!chunked) return ResponseParse::kBroken;
    } else if (http::EqualsIgnoreCase(name, "Connection")) {
      if (http::EqualsIgnoreCase(value, "close")) alive = false;
      if (http::EqualsIgnoreCase(value, "keep-alive")) alive = true;
    }
    out->headers.emplace_back(std::string(name), std::string(value));
    pos = next + 2;
  }
  const size_t body_start = head_end + 4;
  out->body.clear();
  if (head || out->status == 204 || out->status == 304 || out->status < 200) {
    buf.erase(0, body_start);
    *keep_alive = alive;
    return ResponseParse::kOk;
  }
  if (chunked) {
    size_t p = body_start;
    for (;;) {
      size_t line_end = buf.find("\r\n", p);
      if (line_end == std::string::npos) {
        return eof ? ResponseParse::kBroken : ResponseParse::kNeedMore;
      }
      std::string_view size_text(buf.data() + p, line_end - p);
      size_text = size_text.substr(0, size_text.find(';'));
      size_t size = 0;
      if (!ParseSize(Trim(size_text), 16, &size) || out->body.size() + size > kMaxBody) {
        return ResponseParse::kBroken;
      }
      if (buf.size() < line_end + 2 + size + 2) {
        return eof ? ResponseParse::kBroken : ResponseParse::kNeedMore;
      }
      if (size == 0) {
        // No trailers are expected from our services; a final CRLF ends it.
        buf.erase(0, line_end + 4);
        *keep_alive = alive;
        return ResponseParse::kOk;
      }
      out->body.append(buf, line_end + 2, size);
      p = line_end + 2 + size + 2;
    }
  }
  if (has_length) {
    if (buf.size() - body_start < length) {
      return eof ? ResponseParse::kBroken : ResponseParse::kNeedMore;
    }
    out->body.assign(buf, body_start, length);
    buf.erase(0, body_start + length);
    *keep_alive = alive;
    return ResponseParse::kOk;
  }
  // No length: the body runs until the peer closes.
  if (buf.size() - body_start > kMaxBody) return ResponseParse::kBroken;
  if (!eof) return ResponseParse::kNeedMore;
  out->body.assign(buf, body_start, std::string::npos);
  buf.clear();
  *keep_alive = false;
  return ResponseParse::kOk;
}

HttpConnection::Outcome HttpConnection::ReadResponse(bool head,
                                                     Clock::time_point deadline,
                                                     http::ClientResponse* out) {
  bool eof = false;
  for (;;) {
    switch (ParseResponse(buf_, head, eof, out, &keep_alive_)) {
      case ResponseParse::kOk:
        return Outcome::kOk;
      case ResponseParse::kBroken:
        return Outcome::kBroken;
      case ResponseParse::kNeedMore:
        break;
    }
    bool timed_out = false;
    if (!Fill(deadline, &timed_out)) {
      if (timed_out) return Outcome::kTimeout;
      eof = true;
    }
  }
}

}  // namespace mitos::internal
