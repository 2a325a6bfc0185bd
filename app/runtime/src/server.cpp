#include "server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "mitos/log.h"
#include "mitos/metrics.h"
#include "request_id.h"

namespace mitos::internal {
namespace {

using Clock = std::chrono::steady_clock;

// Per-connection state that a handler running on this thread can reach.
struct ConnectionState {
  bool close_after_response = false;
};
thread_local ConnectionState* tl_conn = nullptr;

void CloseAfterResponse(httplib::Response& res) {
  res.set_header("Connection", "close");
  if (tl_conn != nullptr) tl_conn->close_after_response = true;
}

// Worker threads grow on demand up to a maximum. The library's pool has a
// fixed size and an unbounded queue: every keep-alive connection holds a
// thread, so connections beyond the pool size were never served.
class GrowingPool : public httplib::TaskQueue {
 public:
  GrowingPool(size_t min, size_t max) : max_(max) {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < min; ++i) Spawn();
  }

  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.push_back(std::move(fn));
      queued_.store(jobs_.size(), std::memory_order_relaxed);
      if (idle_ < jobs_.size() && threads_.size() < max_) Spawn();
      at_max_.store(threads_.size() >= max_, std::memory_order_relaxed);
    }
    cv_.notify_one();
  }

  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

  // True while connections wait for a worker: keep-alive connections then
  // close after their current request so that the waiting ones get served.
  bool Backlogged() const {
    return at_max_.load(std::memory_order_relaxed) &&
           queued_.load(std::memory_order_relaxed) > 0;
  }

 private:
  void Spawn() {  // REQUIRES: mu_ held
    threads_.emplace_back([this] { Work(); });
  }

  void Work() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      ++idle_;
      cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      --idle_;
      if (jobs_.empty()) return;  // stopping and drained
      auto fn = std::move(jobs_.front());
      jobs_.pop_front();
      queued_.store(jobs_.size(), std::memory_order_relaxed);
      lock.unlock();
      fn();
      lock.lock();
    }
  }

  const size_t max_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  bool stopping_ = false;
  std::atomic<size_t> queued_{0};
  std::atomic<bool> at_max_{false};
};

// A socket stream tuned for the common case: a keep-alive request that
// arrives in one segment costs one recv() and its response one send().
// Within a request, reads are bounded by the read timeout and by a deadline
// for the whole request; the head and the body have byte budgets.
class ConnectionStream : public httplib::Stream {
 public:
  ConnectionStream(int sock, const ServerOptions& o) : sock_(sock), o_(o) {
    Address(::getpeername, remote_ip_, remote_port_);
    Address(::getsockname, local_ip_, local_port_);
  }

  // Starts the budget of a new request.
  void BeginRequest() {
    in_head_ = true;
    head_bytes_ = 0;
    body_bytes_ = 0;
    crlf_state_ = 0;
    request_deadline_ = Clock::now() + std::chrono::milliseconds(
                                           o_.request_timeout_ms);
  }

  // Waits for the first bytes of the next request: a blocking recv()
  // bounded by the socket's receive timeout (the keep-alive timeout).
  // Returns false on timeout, on close, or when the read side was shut
  // down to end an idle connection.
  bool WaitForRequest(bool block) {
    if (rpos_ < rlen_) return true;
    return Fill(block ? 0 : MSG_DONTWAIT) > 0;
  }

  bool Flush() {
    size_t off = 0;
    while (off < wbuf_.size()) {
      // Blocking send, bounded by SO_SNDTIMEO (the write timeout).
      ssize_t n = ::send(sock_, wbuf_.data() + off, wbuf_.size() - off,
                         MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      off += static_cast<size_t>(n);
    }
    wbuf_.clear();
    return true;
  }

  bool is_readable() const override { return true; }
  bool is_writable() const override { return true; }

  ssize_t read(char* ptr, size_t size) override {
    if (rpos_ >= rlen_) {
      ssize_t n = Fill(MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        int remaining = static_cast<int>(
            std::chrono::duration_cast<std::chrono::milliseconds>(
                request_deadline_ - Clock::now())
                .count());
        if (remaining <= 0) return -1;
        pollfd p{sock_, POLLIN, 0};
        int r;
        do {
          r = ::poll(&p, 1, std::min(remaining, o_.read_timeout_ms));
        } while (r < 0 && errno == EINTR);
        if (r <= 0) return -1;
        n = Fill(MSG_DONTWAIT);
      }
      if (n <= 0) return n < 0 ? -1 : 0;
    }
    size_t n = std::min(size, rlen_ - rpos_);
    if (!Account(rbuf_ + rpos_, n)) return -1;
    std::memcpy(ptr, rbuf_ + rpos_, n);
    rpos_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    wbuf_.append(ptr, size);
    if (wbuf_.size() >= 64 * 1024 && !Flush()) return -1;
    return static_cast<ssize_t>(size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = remote_ip_;
    port = remote_port_;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = local_ip_;
    port = local_port_;
  }
  socket_t socket() const override { return sock_; }

 private:
  // One recv() into the (empty) read buffer.
  ssize_t Fill(int flags) {
    ssize_t n;
    do {
      n = ::recv(sock_, rbuf_, sizeof(rbuf_), flags);
    } while (n < 0 && errno == EINTR);
    rpos_ = 0;
    rlen_ = n > 0 ? static_cast<size_t>(n) : 0;
    return n;
  }

  // Keeps the head and the body of one request within their limits.
  bool Account(const char* p, size_t n) {
    if (!in_head_) {
      body_bytes_ += n;
      return body_bytes_ <= o_.max_body_bytes + o_.max_header_bytes;
    }
    for (size_t i = 0; i < n; ++i) {
      static constexpr char kEnd[] = "\r\n\r\n";
      crlf_state_ = (p[i] == kEnd[crlf_state_]) ? crlf_state_ + 1
                                               : (p[i] == '\r' ? 1 : 0);
      if (crlf_state_ == 4) {
        in_head_ = false;
        body_bytes_ = n - i - 1;
        return true;
      }
    }
    head_bytes_ += n;
    return head_bytes_ <= o_.max_header_bytes;
  }

  template <typename F>
  void Address(F fn, std::string& ip, int& port) const {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    ip.clear();
    port = 0;
    if (fn(sock_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return;
    char buf[INET6_ADDRSTRLEN] = {0};
    if (addr.ss_family == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(&addr);
      inet_ntop(AF_INET, &a->sin_addr, buf, sizeof(buf));
      port = ntohs(a->sin_port);
    } else if (addr.ss_family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
      inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof(buf));
      port = ntohs(a->sin6_port);
    }
    ip = buf;
  }

  int sock_;
  const ServerOptions& o_;
  std::string remote_ip_, local_ip_;
  int remote_port_ = 0, local_port_ = 0;
  char rbuf_[4096];
  size_t rpos_ = 0;
  size_t rlen_ = 0;
  std::string wbuf_;
  bool in_head_ = true;
  size_t head_bytes_ = 0;
  size_t body_bytes_ = 0;
  int crlf_state_ = 0;
  Clock::time_point request_deadline_;
};

bool IsBodyMethod(const std::string& m) {
  return m == "POST" || m == "PUT" || m == "PATCH" || m == "DELETE";
}

// Headers the library adds to the request itself; a client may also send
// them, so they are never trusted or passed on.
bool IsLibraryPseudoHeader(const std::string& k) {
  return k == "REMOTE_ADDR" || k == "REMOTE_PORT" || k == "LOCAL_ADDR" ||
         k == "LOCAL_PORT";
}

// A problem raised by the transport itself, before the runtime saw the
// request; it still carries the request's id.
// Answers a request refused before routing (malformed, too large, an
// unsupported encoding). It is counted and logged like a routed one, as
// route "rejected" of the runtime, since it never reached a module.
void Problem(const httplib::Request& req, httplib::Response& res, int status,
             const std::string& detail) {
  http::Response r;
  http::WriteProblem(r, status, "about:blank", "", detail);
  res.status = r.status;
  res.set_content(r.body, r.content_type);
  const std::string id = RequestIdFor(req.get_header_value("X-Request-Id"));
  res.set_header("X-Request-Id", id);
  if (metrics::Enabled()) {
    static auto& rejected = metrics::Registry::Default().Counters(
        "mitos_http_server_rejected_total",
        "Requests refused before routing: malformed, too large, or with an "
        "unsupported encoding, by status code.",
        {"status"});
    rejected.With({std::to_string(status)}).Inc();
  }
  log::AccessEntry e;
  e.module = "runtime";
  e.method = req.method.empty() ? std::string_view("-") : std::string_view(req.method);
  e.route = "rejected";
  e.status = status;
  e.bytes = r.body.size();
  e.client = req.remote_addr;
  e.request_id = id;
  log::Access(e);
}

}  // namespace

class HttpServer::Impl : public httplib::Server {
 public:
  Impl(ServerOptions o, HttpServer::Dispatch d) : o_(std::move(o)), dispatch_(std::move(d)) {
    new_task_queue = [this] {
      pool_ = new GrowingPool(static_cast<size_t>(o_.threads_min),
                              static_cast<size_t>(o_.threads_max));
      return pool_;
    };
    set_tcp_nodelay(true);
    // SO_REUSEADDR only: a restarted process can bind while old connections
    // sit in TIME_WAIT, but a second live listener is refused.
    set_socket_options([](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    set_payload_max_length(o_.max_body_bytes);
    // Only for the Keep-Alive response header; our loop enforces both.
    set_keep_alive_max_count(static_cast<size_t>(o_.keep_alive_max_requests));
    set_keep_alive_timeout((o_.keep_alive_timeout_ms + 999) / 1000);
    set_read_timeout(o_.read_timeout_ms / 1000, (o_.read_timeout_ms % 1000) * 1000);
    set_write_timeout(o_.write_timeout_ms / 1000,
                      (o_.write_timeout_ms % 1000) * 1000);

    set_pre_routing_handler(
        [this](const httplib::Request& req, httplib::Response& res) {
          return PreRoute(req, res);
        });
    auto with_body = [this](const httplib::Request& req, httplib::Response& res,
                            const httplib::ContentReader& reader) {
      ReadBodyAndDispatch(req, res, reader);
    };
    Post(".*", with_body);
    Put(".*", with_body);
    Patch(".*", with_body);
    Delete(".*", with_body);

    set_exception_handler([](const httplib::Request& req, httplib::Response& res,
                             std::exception_ptr) {
      // The library would copy what() into a response header.
      res.headers.clear();
      Problem(req, res, 500, "The server failed to handle the request.");
    });
    set_error_handler(HandlerWithResponse(
        [](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return HandlerResponse::Unhandled;
      // Errors the library raised itself (a malformed request line or
      // headers, an over-long URI): the rest of the stream cannot be
      // trusted, so the connection closes.
      Problem(req, res, res.status, "The request could not be parsed.");
      CloseAfterResponse(res);
      return HandlerResponse::Handled;
    }));
  }


  Status BindAndListen(int* port) {
    int p = bind_to_any_port_or(o_.host, o_.port);
    if (p < 0) {
      return Status::Unavailable("cannot listen on " + o_.host + ":" +
                                 std::to_string(o_.port) + ": " +
                                 std::strerror(bind_errno_));
    }
    // The library listens with a backlog of 5; bursts of connections then
    // overflow the accept queue and stall for a second. listen() again
    // sets the real backlog.
    ::listen(svr_sock_, o_.listen_backlog);
    *port = p;
    return Status::Ok();
  }

  // Ends every connection that waits for its next request; busy ones
  // close after their response (they see `stopping`).
  void CloseIdleConnections() {
    stopping.store(true);
    std::lock_guard<std::mutex> lock(conns_mu_);
    for (Connection* c : conns_) {
      if (c->idle.load()) ::shutdown(c->fd, SHUT_RD);
    }
  }

  std::atomic<bool> stopping{false};

  std::atomic<bool> draining{false};
  std::atomic<int> open_connections{0};

 private:
  int bind_to_any_port_or(const std::string& host, int port) {
    errno = 0;
    int p = port == 0 ? bind_to_any_port(host) : (bind_to_port(host, port) ? port : -1);
    bind_errno_ = errno != 0 ? errno : EADDRINUSE;
    return p;
  }

  bool process_and_close_socket(socket_t sock) override {
    open_connections.fetch_add(1, std::memory_order_relaxed);
    int one = 1;
    ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (sock >= FD_SETSIZE) {
      // The library refuses descriptors beyond FD_SETSIZE with a bare 500;
      // answer with a clear, retryable error instead.
      static const char kBusy[] =
          "HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
          "application/problem+json\r\nConnection: close\r\nRetry-After: "
          "1\r\nContent-Length: 86\r\n\r\n{\"type\":\"about:blank\",\"title\":"
          "\"Service Unavailable\",\"status\":503,\"detail\":\"busy\"}";
      ssize_t n = ::send(sock, kBusy, sizeof(kBusy) - 1, MSG_NOSIGNAL);
      (void)n;
    } else {
      ServeConnection(sock);
    }
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    open_connections.fetch_sub(1, std::memory_order_relaxed);
    return true;
  }

  struct Connection {
    int fd;
    std::atomic<bool> idle{false};
  };

  void ServeConnection(int sock) {
    // The wait for the next request is a blocking recv() bounded by this.
    timeval tv{o_.keep_alive_timeout_ms / 1000,
               (o_.keep_alive_timeout_ms % 1000) * 1000};
    ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    Connection conn{sock};
    {
      std::lock_guard<std::mutex> lock(conns_mu_);
      conns_.insert(&conn);
    }
    ConnectionStream strm(sock, o_);
    ConnectionState state;
    tl_conn = &state;
    for (int served = 0;; ++served) {
      // Marked idle before `stopping` is read, and Stop sets `stopping`
      // before it scans for idle connections: one of the two always sees
      // the other, so no connection sleeps through a stop.
      conn.idle.store(true);
      bool got = strm.WaitForRequest(/*block=*/!stopping.load());
      conn.idle.store(false);
      if (!got) break;
      bool last = served + 1 >= o_.keep_alive_max_requests ||
                  draining.load(std::memory_order_relaxed) ||
                  stopping.load(std::memory_order_relaxed) ||
                  (pool_ != nullptr && pool_->Backlogged());
      bool closed_by_client = false;
      state.close_after_response = false;
      strm.BeginRequest();
      bool ok = process_request(strm, last, closed_by_client, nullptr);
      if (!strm.Flush() || !ok || last || closed_by_client ||
          state.close_after_response) {
        break;
      }
    }
    tl_conn = nullptr;
    std::lock_guard<std::mutex> lock(conns_mu_);
    conns_.erase(&conn);
  }

  HandlerResponse PreRoute(const httplib::Request& req,
                           httplib::Response& res) {
    bool has_te = req.has_header("Transfer-Encoding");
    bool has_cl = req.has_header("Content-Length");
    if (has_te && has_cl) {
      Problem(req, res, 400, "Content-Length and Transfer-Encoding together are "
                        "not accepted.");
      CloseAfterResponse(res);
      return HandlerResponse::Handled;
    }
    if (has_te && req.get_header_value("Transfer-Encoding") != "chunked") {
      Problem(req, res, 501, "Only the chunked transfer coding is supported.");
      CloseAfterResponse(res);
      return HandlerResponse::Handled;
    }
    if (req.has_header("Content-Encoding") &&
        req.get_header_value("Content-Encoding") != "identity") {
      // The library would inflate a compressed body without a limit.
      Problem(req, res, 415, "Compressed request bodies are not accepted.");
      CloseAfterResponse(res);
      return HandlerResponse::Handled;
    }
    uint64_t length = 0;
    if (has_cl) {
      const std::string v = req.get_header_value("Content-Length");
      if (v.empty() || v.size() > 19 ||
          v.find_first_not_of("0123456789") != std::string::npos) {
        Problem(req, res, 400, "Content-Length is not a number.");
        CloseAfterResponse(res);
        return HandlerResponse::Handled;
      }
      length = std::stoull(v);
      if (length > o_.max_body_bytes) {
        Problem(req, res, 413, "The request body exceeds " +
                              std::to_string(o_.max_body_bytes) + " bytes.");
        CloseAfterResponse(res);
        return HandlerResponse::Handled;
      }
    }
    if (IsBodyMethod(req.method)) return HandlerResponse::Unhandled;
    if (length > 0 || has_te) {
      // The library never reads a body of these methods; the unread bytes
      // would be parsed as the next request.
      Problem(req, res, 400, "A " + req.method + " request cannot have a body.");
      CloseAfterResponse(res);
      return HandlerResponse::Handled;
    }
    Forward(req, std::string(), res);
    return HandlerResponse::Handled;
  }

  void ReadBodyAndDispatch(const httplib::Request& req, httplib::Response& res,
                           const httplib::ContentReader& reader) {
    std::string body;
    bool too_large = false;
    // A request with neither Content-Length nor Transfer-Encoding has no
    // body (RFC 9112); the library would read until the peer closes.
    if (req.has_header("Content-Length") || req.has_header("Transfer-Encoding")) {
      bool ok = reader([&](const char* data, size_t n) {
        if (body.size() + n > o_.max_body_bytes) {
          too_large = true;
          return false;
        }
        body.append(data, n);
        return true;
      });
      if (too_large) {
        Problem(req, res, 413, "The request body exceeds " +
                              std::to_string(o_.max_body_bytes) + " bytes.");
        CloseAfterResponse(res);
        return;
      }
      if (!ok) {
        Problem(req, res, 400, "The request body could not be read.");
        CloseAfterResponse(res);
        return;
      }
    }
    Forward(req, std::move(body), res);
  }

  void Forward(const httplib::Request& in, std::string body,
                httplib::Response& out) {
    http::Request req;
    req.method = in.method;
    req.path = in.path;
    req.target = in.target;
    req.remote_addr = in.remote_addr;
    req.body = std::move(body);
    for (const auto& [k, v] : in.params) req.query.emplace(k, v);
    req.headers.reserve(in.headers.size());
    for (const auto& [k, v] : in.headers) {
      if (!IsLibraryPseudoHeader(k)) req.headers.emplace_back(k, v);
    }
    http::Response res;
    try {
      dispatch_(req, res);
    } catch (...) {
      res = http::Response();
      http::WriteProblem(res, 500, "about:blank", "",
                         "The server failed to handle the request.");
      res.SetHeader("X-Request-Id", RequestIdFor(req.Header("X-Request-Id")));
    }
    out.status = res.status;
    for (auto& [k, v] : res.headers) out.set_header(k, v);
    if (!res.body.empty() || !res.content_type.empty()) {
      out.set_content(std::move(res.body), res.content_type.empty()
                                               ? "text/plain"
                                               : res.content_type.c_str());
    }
    if (http::EqualsIgnoreCase(res.Header("Connection"), "close") &&
        tl_conn != nullptr) {
      tl_conn->close_after_response = true;
    }
  }

  ServerOptions o_;
  HttpServer::Dispatch dispatch_;
  int bind_errno_ = 0;
  std::mutex conns_mu_;
  std::unordered_set<Connection*> conns_;
  GrowingPool* pool_ = nullptr;  // owned by the library's listen loop
};

HttpServer::HttpServer(ServerOptions options, Dispatch dispatch)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(dispatch))) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Bind() { return impl_->BindAndListen(&port_); }

void HttpServer::Start() {
  thread_ = std::thread([this] { impl_->listen_after_bind(); });
}

void HttpServer::BeginDrain() { impl_->draining = true; }

void HttpServer::Stop() {
  if (!thread_.joinable()) return;
  impl_->draining = true;
  // stop() only acts once the accept loop runs.
  for (int i = 0; i < 1000 && !impl_->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  impl_->stop();                  // closes the listening socket
  impl_->CloseIdleConnections();  // idle keep-alive connections end now
  thread_.join();  // the pool finishes in-flight requests and joins
}

int HttpServer::open_connections() const {
  return impl_->open_connections.load(std::memory_order_relaxed);
}

}  // namespace mitos::internal
