#include "mitos/server/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "mitos/http/request_id.h"
#include "mitos/http/request_parser.h"
#include "mitos/io/cpus.h"
#include "mitos/io/event_loop.h"
#include "mitos/observability/log.h"
#include "mitos/observability/metrics.h"

namespace mitos::internal {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr size_t kReadChunk = 16 * 1024;
// How many connections of its queue a loop serves in one round, and how
// many of those past the shedding cap it answers 503, before it looks at
// its sockets again. Well below the 512 events a round fetches, so that under
// load the queue takes what waits in the kernel rather than the kernel
// keeping it, unseen and in its own order.
constexpr int kServeSlice = 64;
constexpr int kAcceptsPerRound = 256;
// Answers to pipelined requests are written together up to this size.
constexpr size_t kCoalesceBytes = 64 * 1024;
constexpr auto kSweepInterval = milliseconds(100);
// How long a connection accepted just before the server stops may take to
// send its first request.
constexpr auto kStopGrace = milliseconds(200);

// True on the server's worker threads.
thread_local bool tl_worker = false;

// Worker threads for handlers that may block. They grow on demand up to a
// maximum; requests queue beyond it.
class WorkerPool {
 public:
  WorkerPool(size_t min, size_t max) : max_(std::max<size_t>(1, max)) {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < std::min(min, max_); ++i) Spawn();
  }

  void Enqueue(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.push_back(std::move(fn));
      if (idle_ < jobs_.size() && threads_.size() < max_) Spawn();
    }
    cv_.notify_one();
  }

  // Runs what is queued, then joins every thread.
  void Shutdown() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

 private:
  void Spawn() {  // REQUIRES: mu_ held
    threads_.emplace_back([this] { Work(); });
  }

  void Work() {
    tl_worker = true;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      ++idle_;
      cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      --idle_;
      if (jobs_.empty()) return;  // stopping and drained
      auto fn = std::move(jobs_.front());
      jobs_.pop_front();
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
};

// The media types worth compressing (those the HTTP library compressed).
bool Compressible(std::string_view ct) {
  ct = ct.substr(0, ct.find(';'));
  if (ct.rfind("text/", 0) == 0) return ct != "text/event-stream";
  return ct == "application/json" || ct == "application/xml" ||
         ct == "application/javascript" || ct == "application/xhtml+xml" ||
         ct == "image/svg+xml";
}

// True iff Accept-Encoding names gzip without q=0.
bool AcceptsGzip(std::string_view list) {
  size_t i = 0;
  while (i < list.size()) {
    size_t j = list.find(',', i);
    if (j == std::string_view::npos) j = list.size();
    std::string_view item = list.substr(i, j - i);
    i = j + 1;
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    std::string_view name = item.substr(0, item.find(';'));
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    if (!http::EqualsIgnoreCase(name, "gzip") && name != "*") continue;
    size_t q = item.find("q=");
    if (q != std::string_view::npos) {
      std::string_view v = item.substr(q + 2);
      if (v.find_first_not_of("0.") == std::string_view::npos) return false;
    }
    return true;
  }
  return false;
}

bool Gzip(const std::string& in, std::string* out) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 31, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    return false;
  }
  out->resize(deflateBound(&z, in.size()) + 32);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out->data());
  z.avail_out = static_cast<uInt>(out->size());
  int rc = deflate(&z, Z_FINISH);
  out->resize(z.total_out);
  deflateEnd(&z);
  return rc == Z_STREAM_END;
}

std::string AddressOf(const sockaddr_storage& addr) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr,
              buf, sizeof(buf));
  } else if (addr.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr,
              buf, sizeof(buf));
  }
  return buf;
}

// The answer to a request whose handler threw or never answered: a 500
// that says nothing of the cause.
http::Response Failed() {
  http::Response r;
  http::WriteProblem(r, 500, "about:blank", "", "The server failed to handle the request.");
  return r;
}

// Answers a request refused before routing (malformed, too large, an
// unsupported encoding). It is counted and logged like a routed one, as
// route "rejected" of the runtime, since it never reached a module.
http::Response Problem(const http::Request& req, int status,
                       const std::string& detail) {
  http::Response r;
  http::WriteProblem(r, status, "about:blank", "", detail);
  const std::string id = RequestIdFor(req.Header("X-Request-Id"));
  r.SetHeader("X-Request-Id", id);
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
  return r;
}

// Health probes: never shed, so that an instance busy shedding is not
// also restarted or taken out of its service for failing them.
bool IsProbe(std::string_view path) { return path == "/livez" || path == "/readyz"; }

// The answer to a shed request: cheap to make (a fixed body), so that
// shedding costs far less than serving. `queue` ("loop" or "worker") is
// where it waited `waited`.
http::Response Overloaded(const http::Request& req, const char* queue,
                          Clock::duration waited) {
  static constexpr std::string_view kBody =
      R"({"type":"urn:mitos:problem:overloaded","title":"Service Unavailable",)"
      R"("status":503,"detail":"The server is overloaded; retry later."})";
  http::Response r;
  r.status = 503;
  r.content_type = "application/problem+json";
  r.body = kBody;
  r.SetHeader("Retry-After", "1");
  const std::string id = RequestIdFor(req.Header("X-Request-Id"));
  r.SetHeader("X-Request-Id", id);
  if (metrics::Enabled()) {
    static auto& shed = metrics::Registry::Default().Counters(
        "mitos_requests_shed_total",
        "Requests answered 503 at once, unserved, because they waited too "
        "long in a queue: the event loop's or the worker pool's.",
        {"queue"});
    static auto& on_loop = shed.With({"loop"});
    static auto& on_worker = shed.With({"worker"});
    (queue == std::string_view("loop") ? on_loop : on_worker).Inc();
  }
  log::AccessEntry e;
  e.module = "runtime";
  e.method = req.method;
  e.route = "shed";
  e.status = 503;
  e.duration_ms = std::chrono::duration<double, std::milli>(waited).count();
  e.bytes = r.body.size();
  e.client = req.remote_addr;
  e.request_id = id;
  log::Access(e);
  return r;
}

}  // namespace

// Who may touch a connection: the loop thread while it reads or writes;
// while a request is being handled, the handler (through its Exchange),
// and the loop only records the events it sees in `pending`. A lingering
// connection has sent its last answer and only drops what it reads.
enum class ConnState : int { kReading, kBusy, kWriting, kLingering, kClosed };

struct Loop;

struct Conn final : EventLoop::Handler, std::enable_shared_from_this<Conn> {
  Conn(HttpServer::Impl* s, Loop* l, int f, std::string p,
       const RequestParser::Limits& limits)
      : server(s), loop(l), fd(f), peer(std::move(p)), parser(limits) {}
  void OnEvents(uint32_t events) override;

  HttpServer::Impl* const server;
  Loop* const loop;
  const int fd;
  const std::string peer;
  RequestParser parser;
  std::string in;
  std::string out;
  size_t out_off = 0;
  int served = 0;
  bool close_after = false;
  bool in_process = false;
  std::atomic<ConnState> state{ConnState::kReading};
  std::atomic<uint32_t> pending{0};
  Clock::time_point last_activity = Clock::now();  // idle since
  Clock::time_point request_started;               // first byte of a request
  // Since when the requests buffered in `in` have been the loop's to
  // serve: when the loop learned their bytes were there (its queue's
  // stamp), or the end of the request before them on this connection.
  // What a request waits from then is the server's doing (the shedder's
  // to judge).
  Clock::time_point ready_at;
  Clock::time_point write_started;
  Clock::time_point linger_until;
  size_t lingered = 0;  // bytes dropped while lingering
  // In its loop's ready queue, with the events that put it there.
  bool queued = false;
  uint32_t queued_events = 0;
};

struct Loop {
  explicit Loop(const limits::ShedderOptions& o) : shedder(o) {}
  EventLoop ev;
  // Judges the waits of the requests this loop serves, from its queue's
  // stamps (see Conn::ready_at), on this loop's thread.
  limits::Shedder shedder;
  std::thread thread;
  std::unordered_map<Conn*, std::shared_ptr<Conn>> conns;  // loop thread only
  // The loop's queue (loop thread only): reading connections whose socket
  // has bytes not read yet, each with the time the loop learned of them,
  // which is when their wait for the server starts. Served a slice a
  // round, oldest first; newest first while the queue stands (see
  // UpdateOrder).
  struct Ready {
    std::shared_ptr<Conn> conn;
    Clock::time_point since;
  };
  std::deque<Ready> ready;
  bool serve_scheduled = false;
  bool lifo = false;  // newest first (see UpdateOrder)
  struct Listener final : EventLoop::Handler {
    HttpServer::Impl* server = nullptr;
    Loop* loop = nullptr;
    void OnEvents(uint32_t) override;
  } listener;
};

struct HttpServer::Exchange {
  explicit Exchange(std::shared_ptr<Conn> c);
  std::shared_ptr<Conn> conn;
  std::atomic<bool> answered{false};
  bool head = false;
  bool keep_alive = true;
  bool http10 = false;
  bool gzip_ok = false;
  // Set for a request handed to the worker pool while nothing was left to
  // write: its worker may then write the answer itself.
  bool worker_may_write = false;
  ~Exchange();
};

class HttpServer::Impl {
 public:
  Impl(ServerOptions o, Dispatch d, Fast f)
      : o_(std::move(o)),
        dispatch_(std::move(d)),
        fast_(std::move(f)),
        pool_shedder_(o_.shedding) {
    limits_.max_header_bytes = o_.max_header_bytes;
    limits_.max_body_bytes = o_.max_body_bytes;
  }

  ~Impl() {
    if (listen_fd_ >= 0) ::close(listen_fd_);
    if (spare_fd_ >= 0) ::close(spare_fd_);
  }

  Status Bind(int* port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    const std::string where = o_.host + ":" + std::to_string(o_.port);
    int rc = ::getaddrinfo(o_.host.c_str(), std::to_string(o_.port).c_str(),
                           &hints, &res);
    if (rc != 0) {
      return Status::Unavailable("cannot listen on " + where + ": " + gai_strerror(rc));
    }
    int err = 0;
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
      int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        ai->ai_protocol);
      if (fd < 0) {
        err = errno;
        continue;
      }
      // SO_REUSEADDR only: a restarted process can bind while old
      // connections sit in TIME_WAIT, but a second live listener is
      // refused (no SO_REUSEPORT).
      int yes = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
      if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
          ::listen(fd, o_.listen_backlog) == 0) {
        listen_fd_ = fd;
        break;
      }
      err = errno;
      ::close(fd);
    }
    ::freeaddrinfo(res);
    if (listen_fd_ < 0) {
      return Status::Unavailable("cannot listen on " + where + ": " +
                                 std::strerror(err != 0 ? err : EADDRINUSE));
    }
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    *port = addr.ss_family == AF_INET6
                ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    // Held in reserve: when the process runs out of descriptors, it is
    // released to accept and answer one connection with a 503.
    spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    return Status::Ok();
  }

  void Start() {
    int n = o_.io_threads > 0 ? o_.io_threads : UsableCpus();
    n = std::max(1, n);
    event_loops_.store(n, std::memory_order_relaxed);
    pool_ = std::make_unique<WorkerPool>(static_cast<size_t>(o_.threads_min),
                                         static_cast<size_t>(o_.threads_max));
    for (int i = 0; i < n; ++i) {
      auto l = std::make_unique<Loop>(o_.shedding);
      l->listener.server = this;
      l->listener.loop = l.get();
      // Every loop accepts; EPOLLEXCLUSIVE wakes one of them per connection.
      l->ev.Add(listen_fd_, EPOLLIN | EPOLLEXCLUSIVE, &l->listener);
      loops_.push_back(std::move(l));
    }
    for (auto& l : loops_) {
      Loop* lp = l.get();
      ScheduleSweep(*lp);
      lp->thread = std::thread([lp] { lp->ev.Run(); });
    }
    started_ = true;
  }

  void BeginDrain() { draining_.store(true); }

  void Stop() {
    if (!started_ || stopped_) return;
    draining_.store(true);
    stopping_.store(true);
    // No loop accepts any more; then the listening socket closes, so that a
    // later connection is refused at once (which a client may safely try
    // elsewhere, even with a write) instead of being reset, its request
    // sent, once the server is done. What the kernel accepted before that
    // is served.
    {
      std::mutex mu;
      std::condition_variable cv;
      size_t left = loops_.size();
      for (auto& l : loops_) {
        Loop* lp = l.get();
        lp->ev.Post([this, lp, &mu, &cv, &left] {
          lp->ev.Remove(listen_fd_);
          std::lock_guard<std::mutex> g(mu);
          if (--left == 0) cv.notify_one();
        });
      }
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return left == 0; });
    }
    std::vector<std::vector<std::pair<int, sockaddr_storage>>> late(loops_.size());
    for (size_t n = 0;; ++n) {
      sockaddr_storage addr{};
      int fd = AcceptOne(&addr);
      if (fd < 0) break;
      late[n % late.size()].emplace_back(fd, addr);
    }
    ::close(listen_fd_);
    listen_fd_ = -1;
    // End every connection that holds no request; busy ones close after
    // their response.
    for (size_t i = 0; i < loops_.size(); ++i) {
      Loop* lp = loops_[i].get();
      lp->ev.Post([this, lp, mine = std::move(late[i])] {
        for (const auto& [fd, addr] : mine) Adopt(*lp, fd, addr);
        CloseIdle(*lp);
      });
    }
    // Requests whose client has gone still hold their loop (their answer
    // may be on its way to it): wait for them too.
    while (open_connections_.load() > 0 || live_exchanges_.load() > 0) {
      std::this_thread::sleep_for(milliseconds(2));
    }
    for (auto& l : loops_) l->ev.Quit();
    for (auto& l : loops_) l->thread.join();
    pool_->Shutdown();
    loops_.clear();
    stopped_ = true;
  }

  int open_connections() const { return open_connections_.load(); }

  int event_loops() const { return event_loops_.load(std::memory_order_relaxed); }

  uint64_t requests_shed() const { return shed_.load(std::memory_order_relaxed); }

  // --- loop thread ---------------------------------------------------------

  // Takes up to kAcceptsPerRound connections from the backlog (the
  // listener is level-triggered: more come next round). A connection
  // waiting there is a wait the loop cannot see, so under a flood of new
  // connections it accepts well more than it serves in a round.
  void Accept(Loop& l) {
    for (int i = 0; i < kAcceptsPerRound; ++i) {
      sockaddr_storage addr{};
      int fd = AcceptOne(&addr);
      if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE) RefuseOne();
        return;
      }
      Adopt(l, fd, addr);
    }
  }

  // Takes one connection from the backlog and counts it in
  // open_connections_. Returns its descriptor, or -1 with errno set when
  // there is none (EAGAIN) or accepting failed.
  int AcceptOne(sockaddr_storage* addr) {
    for (;;) {
      socklen_t len = sizeof(*addr);
      int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(addr), &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        open_connections_.fetch_add(1);
        return fd;
      }
      if (errno != EINTR && errno != ECONNABORTED) return -1;
    }
  }

  // Serves the accepted connection `fd` on `l`. REQUIRES: counted in
  // open_connections_.
  void Adopt(Loop& l, int fd, const sockaddr_storage& addr) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto c = std::make_shared<Conn>(this, &l, fd, AddressOf(addr), limits_);
    l.conns.emplace(c.get(), c);
    if (!l.ev.Add(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, c.get())) return Close(*c);
    // A client sends its request right after connecting: it is likely
    // there already, and queued now it joins this round's queue rather
    // than the next one's (under load a round is a whole slice). If not,
    // the read finds nothing and the event brings it later.
    Enqueue(*c, EPOLLIN);
  }

  void OnEvents(Conn& c, uint32_t events) {
    if (c.state.load() == ConnState::kBusy) {
      // Recorded for whoever finishes the request; if it finished in the
      // meantime, exactly one of us takes the events (exchange).
      c.pending.fetch_or(events);
      if (c.state.load() == ConnState::kBusy) return;
      events = c.pending.exchange(0);
      if (events == 0) return;
    }
    switch (c.state.load()) {
      case ConnState::kClosed:
      case ConnState::kBusy:
        return;
      case ConnState::kWriting:
        if (events & (EPOLLERR | EPOLLHUP)) return Close(c);
        if (events & EPOLLOUT) return Resume(c, events);
        c.pending.fetch_or(events);  // read once the response is out
        return;
      case ConnState::kReading:
        if (events & EPOLLERR) return Close(c);
        Enqueue(c, events);
        return;
      case ConnState::kLingering:
        if (events & EPOLLERR) return Close(c);
        Discard(c);
        return;
    }
  }

  // Puts a reading connection that has something to read in its loop's
  // queue, once.
  void Enqueue(Conn& c, uint32_t events) {
    c.queued_events |= events;
    if (c.queued) return;
    c.queued = true;
    Loop& l = *c.loop;
    l.ready.push_back({c.shared_from_this(), Clock::now()});
    if (!l.serve_scheduled) {
      l.serve_scheduled = true;
      l.ev.Defer([this, &l] { ServeReady(l); });
    }
  }

  // Serves a slice of the loop's queue, after the round's events; what is
  // left waits for the next round, which fetches the events that came
  // meanwhile first, and so stamps them with the time they came.
  void ServeReady(Loop& l) {
    l.serve_scheduled = false;
    const auto now = Clock::now();
    UpdateOrder(l, now);
    if (l.lifo) {
      // Newest first leaves the oldest waiting: past the cap they are
      // answered 503 (ShouldShed sees their wait), oldest first.
      for (int i = 0; i < kServeSlice && !l.ready.empty() &&
                      now - l.ready.front().since > o_.shedding.max_queue_time;
           ++i) {
        Loop::Ready r = std::move(l.ready.front());
        l.ready.pop_front();
        Take(r);
      }
    }
    for (int i = 0; i < kServeSlice && !l.ready.empty(); ++i) {
      Loop::Ready r;
      if (l.lifo) {
        r = std::move(l.ready.back());
        l.ready.pop_back();
      } else {
        r = std::move(l.ready.front());
        l.ready.pop_front();
      }
      Take(r);
    }
    if (!l.ready.empty() && !l.serve_scheduled) {
      l.serve_scheduled = true;
      l.ev.DeferToNextRound([this, &l] { ServeReady(l); });
    }
  }

  // Oldest first while the queue's oldest entry has waited no longer than
  // the shedding target; newest first once it has, as in adaptive LIFO
  // (Facebook's "Fail at Scale"). Served in order, a queue that does not
  // drain makes every request late; newest first serves nearly all of them
  // at once and leaves the rest to wait out the cap, whose 503s tell their
  // clients. Newest first starts at once, not after a CoDel interval: it
  // refuses nobody, and a burst that drains in time is served all the same.
  // Without a cap the oldest would wait with no end, so the order then
  // stays oldest first.
  void UpdateOrder(Loop& l, Clock::time_point now) {
    const auto& sh = o_.shedding;
    l.lifo = sh.enabled && sh.max_queue_time > Clock::duration::zero() && !l.ready.empty() &&
             now - l.ready.front().since > sh.target;
  }

  // Serves an entry taken from the queue.
  void Take(Loop::Ready& r) {
    Conn& c = *r.conn;
    c.queued = false;
    const uint32_t events = std::exchange(c.queued_events, 0);
    const ConnState st = c.state.load();
    if (st == ConnState::kReading) return ReadAndProcess(c, events, r.since);
    if (st != ConnState::kClosed) KeepEvents(c, events);
  }

  // Reads what the socket holds (edge-triggered: until a short read) and
  // serves every complete request in it. `since`: when the loop learned
  // the bytes were there, where the requests' wait starts.
  void ReadAndProcess(Conn& c, uint32_t events, Clock::time_point since) {
    char buf[kReadChunk];
    for (;;) {
      ssize_t n = ::recv(c.fd, buf, sizeof(buf), 0);
      if (n > 0) {
        if (c.in.empty() && !c.parser.started()) c.request_started = Clock::now();
        c.last_activity = Clock::now();
        c.ready_at = std::min(since, c.last_activity);
        c.in.append(buf, static_cast<size_t>(n));
        Process(c);
        ConnState st = c.state.load();
        if (st == ConnState::kClosed || st == ConnState::kLingering) return;
        if (st == ConnState::kBusy || st == ConnState::kWriting) {
          // More may wait in the socket, or the peer may have closed:
          // whoever resumes the connection must come back and look.
          if (static_cast<size_t>(n) == sizeof(buf) || (events & EPOLLRDHUP)) {
            KeepEvents(c, EPOLLIN | (events & EPOLLRDHUP));
          }
          return;
        }
        if (static_cast<size_t>(n) < sizeof(buf) && !(events & EPOLLRDHUP)) return;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      // The peer closed (or reset): nothing more will come.
      return Close(c);
    }
  }

  // Keeps the read-side events of a connection that cannot read now (busy
  // with a request, or writing an answer) for whoever resumes it.
  void KeepEvents(Conn& c, uint32_t events) {
    events &= ~static_cast<uint32_t>(EPOLLOUT);
    if (events == 0) return;
    ConnState st = c.state.load();
    if (st == ConnState::kBusy) return ForwardPending(c, events);
    if (st == ConnState::kWriting) c.pending.fetch_or(events);
  }

  // Records events for a busy connection's finisher; takes them back if
  // the request finished meanwhile.
  void ForwardPending(Conn& c, uint32_t events) {
    c.pending.fetch_or(events);
    if (c.state.load() == ConnState::kBusy) return;
    if (uint32_t taken = c.pending.exchange(0); taken != 0) {
      c.loop->ev.Post([this, sp = c.shared_from_this(), taken] { Resume(*sp, taken); });
    }
  }

  // Serves the complete requests buffered in c.in. REQUIRES: kReading.
  void Process(Conn& c) {
    c.in_process = true;
    while (c.state.load() == ConnState::kReading) {
      if (c.in.empty() && !c.parser.started()) break;
      RequestParser::Result r = c.parser.Parse(c.in);
      if (r == RequestParser::Result::kNeedMore) {
        if (c.parser.TakeExpectContinue()) {
          static constexpr char k100[] = "HTTP/1.1 100 Continue\r\n\r\n";
          ssize_t n = ::send(c.fd, k100, sizeof(k100) - 1, MSG_NOSIGNAL);
          (void)n;
        }
        break;
      }
      http::Request& parsed = c.parser.request();
      parsed.remote_addr = c.peer;
      if (r == RequestParser::Result::kError) {
        // The rest of the stream cannot be trusted: answer and close.
        http::Response res = Problem(parsed, c.parser.status(), c.parser.detail());
        auto ex = std::make_shared<Exchange>(c.shared_from_this());
        ex->keep_alive = false;
        c.state.store(ConnState::kBusy);
        Complete(*ex, std::move(res));
        break;
      }
      DispatchRequest(c);
    }
    c.in_process = false;
    // The answers produced above, in one write. (In any other state the
    // output is not the loop's to touch here: a worker may own it.)
    if (c.state.load() == ConnState::kReading && !c.out.empty()) {
      c.state.store(ConnState::kWriting);
      c.write_started = Clock::now();
      Flush(c);
    }
  }

  void DispatchRequest(Conn& c) {
    http::Request req = std::move(c.parser.request());
    auto ex = std::make_shared<Exchange>(c.shared_from_this());
    ex->head = req.method == "HEAD";
    ex->http10 = c.parser.http10();
    ex->keep_alive = c.parser.keep_alive() &&
                     ++c.served < o_.keep_alive_max_requests &&
                     !draining_.load(std::memory_order_relaxed);
    ex->gzip_ok = AcceptsGzip(req.Header("Accept-Encoding"));
    c.parser.Reset();
    c.state.store(ConnState::kBusy);
    // The wait counts from when the loop learned the bytes were there (its
    // queue's stamp), so it includes the time the connection waited in the
    // queue behind others; what waited in the kernel before that (a
    // connection not yet accepted) it cannot see.
    const bool shed_ok = o_.shedding.enabled && !IsProbe(req.path);
    if (shed_ok) {
      const auto now = Clock::now();
      const auto waited = now - c.ready_at;
      if (c.loop->shedder.ShouldShed(waited, now)) {
        shed_.fetch_add(1, std::memory_order_relaxed);
        return Complete(*ex, Overloaded(req, "loop", waited));
      }
    }
    if (fast_) {
      bool taken = false;
      try {
        taken = fast_(req, Responder(ex));
      } catch (...) {
        taken = false;
      }
      if (taken) {
        // Answered later, always on this loop: the answers before it go
        // out meanwhile, as far as they can.
        if (c.state.load() == ConnState::kBusy) SendPending(c);
        return;
      }
    }
    // Answers still unsent go first; if some remain, the worker's answer
    // goes through the loop after them.
    SendPending(c);
    ex->worker_may_write = c.out.empty();
    // The pool's wait counts from the loop's read, so that it includes the
    // time spent behind the requests read with this one.
    pool_->Enqueue([this, ex = std::move(ex), req = std::move(req), shed_ok,
                    ready_at = c.ready_at]() mutable {
      if (shed_ok) {
        const auto now = Clock::now();
        const auto waited = now - ready_at;
        if (pool_shedder_.ShouldShed(waited, now)) {
          shed_.fetch_add(1, std::memory_order_relaxed);
          return Complete(*ex, Overloaded(req, "worker", waited));
        }
      }
      try {
        dispatch_(req, Responder(ex));
      } catch (...) {
        http::Response res = Failed();
        res.SetHeader("X-Request-Id", RequestIdFor(req.Header("X-Request-Id")));
        Complete(*ex, std::move(res));
      }
    });
  }

  enum class Sent { kAll, kFull, kFailed };
  // Writes as much of c.out as the socket takes now; clears it when all
  // of it went.
  Sent SendOut(Conn& c) {
    while (c.out_off < c.out.size()) {
      ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off,
                         MSG_NOSIGNAL);
      if (n > 0) {
        c.out_off += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Sent::kFull;
      return Sent::kFailed;
    }
    c.out.clear();
    c.out_off = 0;
    return Sent::kAll;
  }

  // Writes what it can of c.out while a request is busy; the rest goes
  // with that request's answer (whose own write finds a broken socket).
  void SendPending(Conn& c) { SendOut(c); }

  // Writes c.out. Ends in kReading (all written), kWriting (waiting for
  // room) or kClosed.
  void Flush(Conn& c) {
    switch (SendOut(c)) {
      case Sent::kFull:
        if (c.state.load() != ConnState::kWriting) c.write_started = Clock::now();
        c.state.store(ConnState::kWriting);
        return;
      case Sent::kFailed:
        return Close(c);
      case Sent::kAll:
        break;
    }
    if (c.close_after) return Linger(c);
    c.last_activity = Clock::now();
    c.state.store(ConnState::kReading);
  }

  // Ends a connection whose last answer is out. Closing a socket with
  // unread bytes makes the kernel send a reset, and a client still sending
  // (a body the server refused, pipelined requests it will not serve)
  // then loses the answer it has not read yet. So, as nginx's lingering
  // close does, stop writing (the client reads the end of the stream after
  // the answer) and drop what comes until the client closes, for a bounded
  // time and number of bytes. Nothing read here is ever parsed.
  void Linger(Conn& c) {
    if (o_.linger_timeout_ms <= 0 || stopping_.load()) return Close(c);
    ::shutdown(c.fd, SHUT_WR);
    c.state.store(ConnState::kLingering);
    c.linger_until = Clock::now() + milliseconds(o_.linger_timeout_ms);
    c.lingered = c.in.size();
    std::string().swap(c.in);
    // Edge-triggered: what came before now raises no new event.
    Discard(c);
  }

  void Discard(Conn& c) {
    char buf[kReadChunk];
    for (;;) {
      // MSG_TRUNC: TCP drops the bytes without copying them.
      ssize_t n = ::recv(c.fd, buf, sizeof(buf), MSG_TRUNC);
      if (n > 0) {
        c.lingered += static_cast<size_t>(n);
        if (c.lingered > o_.linger_max_bytes) return Close(c);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      return Close(c);  // the client closed (or reset): done
    }
  }

  // Continues a connection whose request finished: writes what is left,
  // then serves what was buffered, and reads if the socket reported
  // anything meanwhile (`events`, plus those recorded while it was busy).
  // A connection that is busy again (another request) belongs to its
  // handler.
  void Resume(Conn& c, uint32_t events) {
    ConnState st = c.state.load();
    if (st == ConnState::kClosed || st == ConnState::kBusy ||
        st == ConnState::kLingering) {
      return;
    }
    events |= c.pending.exchange(0);
    if (st == ConnState::kWriting) {
      Flush(c);
      if (c.state.load() != ConnState::kReading) {
        c.pending.fetch_or(events & ~static_cast<uint32_t>(EPOLLOUT));
        return;
      }
    }
    // What is buffered waited for the request before it, not for the
    // server.
    if (!c.in.empty()) c.ready_at = Clock::now();
    Process(c);
    if (c.state.load() != ConnState::kReading) return KeepEvents(c, events);
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
      ReadAndProcess(c, events, Clock::now());
    }
  }

  void Close(Conn& c) {
    if (c.state.exchange(ConnState::kClosed) == ConnState::kClosed) return;
    Loop& l = *c.loop;
    l.ev.Remove(c.fd);
    ::shutdown(c.fd, SHUT_RDWR);
    ::close(c.fd);
    auto it = l.conns.find(&c);
    if (it != l.conns.end()) {
      l.ev.KeepUntilIdle(std::move(it->second));
      l.conns.erase(it);
    }
    open_connections_.fetch_sub(1);
  }

  void CloseIdle(Loop& l) {
    const auto now = Clock::now();
    std::vector<Conn*> idle;
    for (auto& [p, c] : l.conns) {
      ConnState st = c->state.load();
      if ((st == ConnState::kReading && Disposable(*c, now)) ||
          st == ConnState::kLingering)
        idle.push_back(p);
    }
    for (Conn* c : idle) Close(*c);
  }

  // Returns true iff the reading connection `c` may be closed as the
  // server stops: it holds no part of a request, none waits in its socket,
  // and it is no connection just accepted whose first request may still
  // be on its way (Sweep closes those after kStopGrace).
  static bool Disposable(Conn& c, Clock::time_point now) {
    if (!c.in.empty() || c.parser.started()) return false;
    char b;
    ssize_t n = ::recv(c.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) return false;
    if (n == 0) return true;  // the client closed it
    return c.served > 0 || now - c.last_activity >= kStopGrace;
  }

  // Ends connections past their time limits: idle keep-alive, a request
  // arriving too slowly, a response the client does not read, lingering.
  void Sweep(Loop& l) {
    const auto now = Clock::now();
    const bool stopping = stopping_.load();
    std::vector<Conn*> expired;
    for (auto& [p, c] : l.conns) {
      ConnState st = c->state.load();
      // A queued connection has a request waiting for the loop, not for
      // its client: the queue serves it, or sheds it.
      if (st == ConnState::kReading && c->queued) continue;
      if (st == ConnState::kReading) {
        bool idle = c->in.empty() && !c->parser.started();
        // Stopping, a request on its way still gets its read timeouts.
        if ((stopping && idle && Disposable(*c, now)) ||
            (idle && now - c->last_activity > milliseconds(o_.keep_alive_timeout_ms)) ||
            (!idle && (now - c->request_started > milliseconds(o_.request_timeout_ms) ||
                       now - c->last_activity > milliseconds(o_.read_timeout_ms)))) {
          expired.push_back(p);
        }
      } else if (st == ConnState::kWriting &&
                 now - c->write_started > milliseconds(o_.write_timeout_ms)) {
        expired.push_back(p);
      } else if (st == ConnState::kLingering &&
                 (stopping || now > c->linger_until)) {
        expired.push_back(p);
      }
    }
    for (Conn* c : expired) Close(*c);
  }

  void ScheduleSweep(Loop& l) {
    l.ev.AddTimer(Clock::now() + kSweepInterval, [this, &l] {
      Sweep(l);
      ScheduleSweep(l);
    });
  }

  // Out of descriptors: accept one connection on the spare descriptor,
  // answer it with a retryable 503, and close it, so that clients are not
  // left waiting in the backlog.
  void RefuseOne() {
    std::lock_guard<std::mutex> lock(spare_mu_);
    if (spare_fd_ < 0) return;
    ::close(spare_fd_);
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
      static const char kBusy[] =
          "HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
          "application/problem+json\r\nConnection: close\r\nRetry-After: "
          "1\r\nContent-Length: 86\r\n\r\n{\"type\":\"about:blank\",\"title\":"
          "\"Service Unavailable\",\"status\":503,\"detail\":\"busy\"}";
      ssize_t n = ::send(fd, kBusy, sizeof(kBusy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      (void)n;
      ::close(fd);
    }
    spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  }

  // --- any thread ----------------------------------------------------------

  // Sends the answer of `ex`. On the connection's loop it writes at once,
  // or, while the loop serves more requests read with this one, with their
  // answers. A worker that may write (nothing was left unsent before its
  // request) writes too, and hands the connection back to the loop only
  // when something is left to do there. Any other thread hands the answer
  // to the loop.
  void Complete(Exchange& ex, http::Response&& res) {
    if (ex.answered.exchange(true)) return;
    Conn& c = *ex.conn;
    bool close = !ex.keep_alive || stopping_.load(std::memory_order_relaxed) ||
                 http::EqualsIgnoreCase(res.Header("Connection"), "close");
    std::string wire = Serialize(ex, res, close);
    if (c.loop->ev.InLoop()) return WriteOnLoop(c, std::move(wire), close);
    if (!tl_worker || !ex.worker_may_write) {
      c.loop->ev.Post([this, sp = c.shared_from_this(), w = std::move(wire), close]() mutable {
        WriteOnLoop(*sp, std::move(w), close);
      });
      return;
    }
    // A worker owns the connection until it leaves kBusy.
    size_t off = 0;
    while (!close && off < wire.size()) {
      ssize_t n = ::send(c.fd, wire.data() + off, wire.size() - off, MSG_NOSIGNAL);
      if (n > 0) {
        off += static_cast<size_t>(n);
      } else if (!(n < 0 && errno == EINTR)) {
        break;
      }
    }
    if (!close && off == wire.size() && c.in.empty()) {
      c.last_activity = Clock::now();
      c.state.store(ConnState::kReading);
      // Events that came while it was busy: exactly one of this thread and
      // the loop (OnEvents) takes them.
      uint32_t events = c.pending.exchange(0);
      if (events == 0) return;  // the common case: done
      c.loop->ev.Post([this, sp = c.shared_from_this(), events] { Resume(*sp, events); });
      return;
    } else {
      // Handed to the loop: what is left to write, or the close.
      c.out = std::move(wire);
      c.out_off = off;
      c.close_after = close;
      c.write_started = Clock::now();
      c.state.store(ConnState::kWriting);
    }
    c.loop->ev.Post([this, sp = c.shared_from_this()] { Resume(*sp, 0); });
  }

  // Appends an answer to the connection's output on its loop.
  void WriteOnLoop(Conn& c, std::string wire, bool close) {
    ConnState st = c.state.load();
    if (st == ConnState::kClosed || st == ConnState::kLingering) return;
    if (c.out.empty()) {
      c.out = std::move(wire);
      c.out_off = 0;
    } else {
      c.out += wire;
    }
    c.close_after = close;
    if (c.in_process && !close && c.out.size() - c.out_off < kCoalesceBytes) {
      // Process goes on with the requests read with this one, and writes
      // their answers together.
      c.state.store(ConnState::kReading);
      return;
    }
    c.state.store(ConnState::kWriting);
    c.write_started = Clock::now();
    Flush(c);
    if (!c.in_process && c.state.load() == ConnState::kReading) Resume(c, 0);
  }

  std::string Serialize(const Exchange& ex, http::Response& res, bool close) const {
    const std::string& ct = res.content_type;
    std::string* body = &res.body;
    std::string compressed;
    const bool compressible = Compressible(ct);
    bool gzip = false;
    if (ex.gzip_ok && compressible && !body->empty() && !ex.head &&
        res.Header("Content-Encoding").empty() && Gzip(*body, &compressed)) {
      gzip = true;
      body = &compressed;
    }
    std::string w;
    w.reserve(256 + (ex.head ? 0 : body->size()));
    w += "HTTP/1.1 ";
    w += std::to_string(res.status);
    w += ' ';
    w += http::ReasonPhrase(res.status);
    w += "\r\n";
    for (const auto& [k, v] : res.headers) {
      if (http::EqualsIgnoreCase(k, "Content-Length") ||
          http::EqualsIgnoreCase(k, "Transfer-Encoding") ||
          http::EqualsIgnoreCase(k, "Connection") ||
          http::EqualsIgnoreCase(k, "Keep-Alive") ||
          http::EqualsIgnoreCase(k, "Content-Type")) {
        continue;
      }
      if (k.find_first_of("\r\n:") != std::string::npos ||
          v.find_first_of("\r\n") != std::string::npos) {
        continue;  // a value must never split the head
      }
      w += k;
      w += ": ";
      w += v;
      w += "\r\n";
    }
    if (!ct.empty() || !body->empty()) {
      w += "Content-Type: ";
      w += ct.empty() ? "text/plain" : ct;
      w += "\r\n";
    }
    if (gzip) w += "Content-Encoding: gzip\r\n";
    if (compressible && res.Header("Vary").empty()) w += "Vary: Accept-Encoding\r\n";
    const bool bodiless = res.status < 200 || res.status == 204 || res.status == 304;
    if (!bodiless) {
      w += "Content-Length: ";
      w += std::to_string(body->size());
      w += "\r\n";
    }
    if (close) {
      w += "Connection: close\r\n";
    } else if (ex.http10) {
      w += "Connection: keep-alive\r\n";
    }
    w += "\r\n";
    if (!ex.head && !bodiless) w += *body;
    return w;
  }

  ServerOptions o_;
  RequestParser::Limits limits_;
  Dispatch dispatch_;
  Fast fast_;
  int listen_fd_ = -1;
  std::mutex spare_mu_;
  int spare_fd_ = -1;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::unique_ptr<WorkerPool> pool_;
  std::atomic<bool> draining_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<int> open_connections_{0};
  std::atomic<int> event_loops_{0};
  std::atomic<int> live_exchanges_{0};
  // Judges the waits for a worker; shared by every worker thread.
  limits::Shedder pool_shedder_;
  std::atomic<uint64_t> shed_{0};
  bool started_ = false;
  bool stopped_ = false;
};

void Conn::OnEvents(uint32_t events) { server->OnEvents(*this, events); }

void Loop::Listener::OnEvents(uint32_t) { server->Accept(*loop); }

HttpServer::Exchange::Exchange(std::shared_ptr<Conn> c) : conn(std::move(c)) {
  conn->server->live_exchanges_.fetch_add(1);
}

HttpServer::Exchange::~Exchange() {
  Impl* server = conn->server;
  if (!answered.load()) server->Complete(*this, Failed());
  server->live_exchanges_.fetch_sub(1);
}

void HttpServer::Responder::Send(http::Response&& res) const {
  if (exchange_ == nullptr) return;
  Conn& c = *exchange_->conn;
  if (!tl_worker && !c.loop->ev.InLoop()) {
    // A thread the server does not own: the loop also encodes the answer,
    // so that this thread (a database's serial writer, say) goes on at once.
    c.loop->ev.Post([ex = exchange_, r = std::make_shared<http::Response>(std::move(res))] {
      ex->conn->server->Complete(*ex, std::move(*r));
    });
    return;
  }
  c.server->Complete(*exchange_, std::move(res));
}

HttpServer::HttpServer(ServerOptions options, Dispatch dispatch, Fast fast)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(dispatch),
                                   std::move(fast))) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Bind() { return impl_->Bind(&port_); }

void HttpServer::Start() { impl_->Start(); }

int HttpServer::event_loops() const { return impl_->event_loops(); }

void HttpServer::BeginDrain() { impl_->BeginDrain(); }

void HttpServer::Stop() { impl_->Stop(); }

int HttpServer::open_connections() const { return impl_->open_connections(); }

uint64_t HttpServer::requests_shed() const { return impl_->requests_shed(); }

HttpServer::Dispatch Synchronous(
    std::function<void(http::Request&, http::Response&)> handler) {
  return [handler = std::move(handler)](http::Request& req,
                                        const HttpServer::Responder& r) {
    http::Response res;
    handler(req, res);
    r.Send(std::move(res));
  };
}

}  // namespace mitos::internal
