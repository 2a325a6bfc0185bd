// Open-loop HTTP/1.1 load generator for bench/overload.sh.
//
// Sends requests on a fixed schedule (uniformly spaced, or Poisson) at a
// given rate to 127.0.0.1:PORT, whatever the server does, and measures each
// request's latency from its *scheduled* send time to the end of its
// response, so that a server falling behind shows as latency rather than
// as a lower send rate (no coordinated omission; wrk, a closed loop, cannot
// do this).
//
// Each request goes out at its scheduled time on an idle keep-alive
// connection, one request per connection at a time (no pipelining). With no
// connection idle, a new one is opened, up to --conns; beyond that the
// request is counted as not sent: a limit of the generator, reported.
//
// With --warmup W the schedule runs W seconds before the measured window
// and W after it, and only the requests scheduled in the window count: the
// figures are of a steady load, not of the generator opening its
// connections at the start, nor of the queue draining once it stops.
//
// Build: g++ -O2 -std=c++20 -pthread -o loadgen loadgen.cpp
// Usage: loadgen --port P --rate R [options]; see --help.
// Output: one JSON line on stdout at the end.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

struct Options {
  int port = 0;
  double rate = 0;             // requests per second, all threads together
  double duration_s = 10;      // length of the schedule that is measured
  double warmup_s = 0;         // schedule before it and after it, not measured
  int deadline_ms = 1000;      // X-Mitos-Deadline-Ms and the "late" line
  int timeout_ms = -1;         // no answer by then: timeout (default D + 5 s)
  int conns = 4000;            // connection cap, all threads together
  int idle_close_ms = 4000;    // close connections idle this long
  int threads = 1;             // epoll loops
  long max_id = 100000;        // {id} is uniform in 1..max_id
  bool poisson = false;        // exponential gaps instead of uniform ones
  std::string path = "/users/{id}";
  std::string auth_env;        // env var holding an Authorization value
  unsigned seed = 0;
};

void Usage(FILE* f) {
  std::fprintf(f,
      "Usage: loadgen --port P --rate R [options]\n"
      "  --port P          server port on 127.0.0.1 (required)\n"
      "  --rate R          offered requests per second (required)\n"
      "  --duration S      seconds of schedule measured (default 10)\n"
      "  --warmup S        seconds of the same schedule before the measured ones, and\n"
      "                    again after them; their requests are in no count or figure.\n"
      "                    The generator opens its connections before, and the\n"
      "                    measured requests are answered under the same load after\n"
      "                    (no drain once the load stops) (default 0)\n"
      "  --deadline-ms D   sent as X-Mitos-Deadline-Ms; a response later than D\n"
      "                    after its scheduled time counts as late (default 1000)\n"
      "  --timeout-ms T    no response T after the scheduled time: timeout,\n"
      "                    connection closed (default D + 5000)\n"
      "  --conns N         most connections open at once (default 4000)\n"
      "  --idle-close-ms T close a connection idle for T, before the server's\n"
      "                    keep-alive timeout closes it under a request (default 4000)\n"
      "  --threads N       event loops, each with its share of rate and conns (default 1)\n"
      "  --max-id N        {id} in the path is uniform in 1..N (default 100000)\n"
      "  --path TEMPLATE   request path; {id} is replaced (default /users/{id})\n"
      "  --poisson         exponential gaps (Poisson arrivals) instead of uniform\n"
      "  --auth-env NAME   send 'Authorization: <value of $NAME>' if it is set\n"
      "  --seed N          random seed (default: from the clock)\n");
}

bool ParseArgs(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto val = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "loadgen: %s needs a value\n", argv[i]);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--port") o->port = std::atoi(val());
    else if (a == "--rate") o->rate = std::atof(val());
    else if (a == "--duration") o->duration_s = std::atof(val());
    else if (a == "--warmup") o->warmup_s = std::atof(val());
    else if (a == "--deadline-ms") o->deadline_ms = std::atoi(val());
    else if (a == "--timeout-ms") o->timeout_ms = std::atoi(val());
    else if (a == "--conns") o->conns = std::atoi(val());
    else if (a == "--idle-close-ms") o->idle_close_ms = std::atoi(val());
    else if (a == "--threads") o->threads = std::atoi(val());
    else if (a == "--max-id") o->max_id = std::atol(val());
    else if (a == "--path") o->path = val();
    else if (a == "--poisson") o->poisson = true;
    else if (a == "--auth-env") o->auth_env = val();
    else if (a == "--seed") o->seed = static_cast<unsigned>(std::strtoul(val(), nullptr, 10));
    else if (a == "-h" || a == "--help") { Usage(stdout); std::exit(0); }
    else { std::fprintf(stderr, "loadgen: unknown argument: %s\n", argv[i]); return false; }
  }
  if (o->port <= 0 || o->port > 65535 || !(o->rate > 0) || !(o->duration_s > 0) ||
      !(o->warmup_s >= 0) ||
      o->deadline_ms <= 0 || o->conns < 1 || o->threads < 1 || o->max_id < 1 ||
      o->idle_close_ms < 1) {
    std::fprintf(stderr, "loadgen: --port and --rate are required; values must be positive\n");
    return false;
  }
  if (o->timeout_ms < 0) o->timeout_ms = o->deadline_ms + 5000;
  if (o->threads > o->conns) o->threads = o->conns;
  return true;
}

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

enum class State { kFree, kConnecting, kIdle, kBusy };

struct Conn {
  int fd = -1;
  State state = State::kFree;
  int idle_pos = -1;          // index in Worker::idle while idle
  int64_t sched_ns = 0;       // scheduled send time of the request in flight
  int64_t idle_since = 0;     // when it last became idle
  std::string out;            // unsent part of the request
  size_t out_off = 0;
  std::string in;             // response bytes so far
  bool want_out = false;      // EPOLLOUT registered
};

struct Counts {
  uint64_t scheduled = 0, sent = 0, not_sent = 0, responses = 0;
  uint64_t cls[6] = {0, 0, 0, 0, 0, 0};  // 1xx..5xx by index 1..5, [0] other
  uint64_t s200 = 0, s404 = 0, s429 = 0, s503 = 0, s504 = 0;
  uint64_t late = 0, late_2xx = 0, timeouts = 0;
  uint64_t conn_errors = 0;      // request lost to a closed/reset connection
  uint64_t connect_errors = 0;   // connections that failed to open
  uint64_t opened = 0, peak_open = 0, idle_closed = 0;
  // Answers to the measured requests, whenever they came.
  uint64_t good_in_window = 0;   // 2xx
  uint64_t good_in_deadline = 0; // ... within the deadline
  uint64_t resp_in_window = 0;   // any status
};

class Worker {
 public:
  Worker(const Options& o, int index, sockaddr_in addr, const std::string& auth)
      : o_(o), addr_(addr), auth_(auth) {
    const int n = o.threads;
    cap_ = o.conns / n + (index < o.conns % n ? 1 : 0);
    gap_ns_ = 1e9 * n / o.rate;
    rng_.seed(o.seed * 7919u + static_cast<unsigned>(index) * 104729u + 1);
    conns_.resize(static_cast<size_t>(cap_));
    for (int i = cap_ - 1; i >= 0; --i) free_.push_back(i);
    index_ = index;
  }

  void Run(int64_t start_ns) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);

    start_ns_ = start_ns;
    measure_ns_ = start_ns + static_cast<int64_t>(o_.warmup_s * 1e9);
    window_end_ns_ = measure_ns_ + static_cast<int64_t>(o_.duration_s * 1e9);
    end_ns_ = window_end_ns_ + static_cast<int64_t>(o_.warmup_s * 1e9);
    timeout_ns_ = int64_t{o_.timeout_ms} * 1000000;
    deadline_ns_ = int64_t{o_.deadline_ms} * 1000000;
    // Thread i's first request at i gaps of the whole schedule, so the
    // threads' schedules interleave into one.
    next_ = static_cast<double>(start_ns) + gap_ns_ * index_ / o_.threads;
    if (o_.poisson) next_ = static_cast<double>(start_ns) + Gap();
    lat_all_.reserve(static_cast<size_t>(o_.rate / o_.threads * o_.duration_s * 1.1) + 16);
    lat_ok_.reserve(lat_all_.capacity());
    lag_.reserve(lat_all_.capacity());

    epoll_event events[256];
    int64_t next_check = start_ns;
    for (;;) {
      int64_t now = NowNs();
      // Every request whose time has come, each stamped with its own
      // scheduled time.
      while (static_cast<int64_t>(next_) <= now && static_cast<int64_t>(next_) < end_ns_) {
        Dispatch(static_cast<int64_t>(next_), now);
        next_ += o_.poisson ? Gap() : gap_ns_;
      }
      const bool schedule_done = static_cast<int64_t>(next_) >= end_ns_;
      if (now >= next_check) {
        CheckTimeouts(now);
        next_check = now + 20000000;  // every 20 ms
      }
      if (schedule_done && busy_ == 0) break;
      // Sleep until the next scheduled send (to the nanosecond: epoll_pwait2)
      // or the timeout sweep, unless sockets are ready before.
      const int64_t wake = schedule_done ? next_check
                                         : std::min<int64_t>(static_cast<int64_t>(next_), next_check);
      const int64_t wait_ns = std::max<int64_t>(0, wake - NowNs());
      timespec ts{static_cast<time_t>(wait_ns / 1000000000), static_cast<long>(wait_ns % 1000000000)};
      int n = epoll_pwait2(ep_, events, 256, &ts, nullptr);
      if (n < 0 && errno != EINTR) { std::perror("loadgen: epoll_pwait2"); std::exit(1); }
      for (int i = 0; i < n; ++i) OnEvents(static_cast<int>(events[i].data.u32), events[i].events);
    }
    for (auto& c : conns_) if (c.state != State::kFree) CloseConn(c, /*reset=*/true);
    close(ep_);
  }

  Counts counts;
  std::vector<uint32_t> lat_all_, lat_ok_, lag_;  // microseconds

 private:
  double Gap() {
    std::exponential_distribution<double> d(1.0 / gap_ns_);
    return d(rng_);
  }

  std::string BuildRequest(int64_t sched_ns, int64_t now) {
    std::uniform_int_distribution<long> id(1, o_.max_id);
    std::string path = o_.path;
    if (auto p = path.find("{id}"); p != std::string::npos) path.replace(p, 4, std::to_string(id(rng_)));
    // The deadline header tells what is left of D at the actual send.
    int64_t left_ms = (deadline_ns_ - (now - sched_ns)) / 1000000;
    if (left_ms < 1) left_ms = 1;
    std::string r;
    r.reserve(160 + auth_.size());
    r += "GET ";
    r += path;
    r += " HTTP/1.1\r\nHost: 127.0.0.1:";
    r += std::to_string(o_.port);
    r += "\r\nX-Mitos-Deadline-Ms: ";
    r += std::to_string(left_ms);
    r += "\r\n";
    if (!auth_.empty()) { r += "Authorization: "; r += auth_; r += "\r\n"; }
    r += "\r\n";
    return r;
  }

  // Whether the request scheduled at `sched_ns` is measured (past the
  // warm-up).
  bool Counted(int64_t sched_ns) const {
    return sched_ns >= measure_ns_ && sched_ns < window_end_ns_;
  }

  void Dispatch(int64_t sched_ns, int64_t now) {
    const bool counted = Counted(sched_ns);
    if (counted) ++counts.scheduled;
    int ci;
    if (!idle_.empty()) {
      ci = idle_.back();
      RemoveIdle(conns_[static_cast<size_t>(ci)]);
    } else {
      ci = Open();
      if (ci < 0) {
        if (counted) ++counts.not_sent;
        return;
      }
    }
    Conn& c = conns_[static_cast<size_t>(ci)];
    c.sched_ns = sched_ns;
    c.out = BuildRequest(sched_ns, now);
    c.out_off = 0;
    c.in.clear();
    ++busy_;
    if (counted) {
      ++counts.sent;
      lag_.push_back(static_cast<uint32_t>(std::min<int64_t>((now - sched_ns) / 1000, UINT32_MAX)));
    }
    if (c.state == State::kConnecting) return;  // written once connected
    c.state = State::kBusy;
    Write(ci, c);
  }

  // A new connection (connect in progress) or -1 at the cap or on error.
  int Open() {
    if (free_.empty()) return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { ++counts.connect_errors; return -1; }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int r = connect(fd, reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_);
    if (r < 0 && errno != EINPROGRESS) {
      ++counts.connect_errors;
      close(fd);
      return -1;
    }
    int ci = free_.back();
    free_.pop_back();
    Conn& c = conns_[static_cast<size_t>(ci)];
    c.fd = fd;
    c.state = State::kConnecting;
    c.want_out = true;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    ev.data.u32 = static_cast<uint32_t>(ci);
    epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
    ++counts.opened;
    ++open_;
    counts.peak_open = std::max<uint64_t>(counts.peak_open, open_);
    return ci;
  }

  void SetOut(int ci, Conn& c, bool want) {
    if (c.want_out == want) return;
    c.want_out = want;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0u);
    ev.data.u32 = static_cast<uint32_t>(ci);
    epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
  }

  void Write(int ci, Conn& c) {
    while (c.out_off < c.out.size()) {
      ssize_t n = send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (n > 0) { c.out_off += static_cast<size_t>(n); continue; }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) { SetOut(ci, c, true); return; }
      return Fail(c);
    }
    SetOut(ci, c, false);
  }

  void OnEvents(int ci, uint32_t ev) {
    Conn& c = conns_[static_cast<size_t>(ci)];
    if (c.state == State::kFree) return;
    if (c.state == State::kConnecting) {
      if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0 || (ev & (EPOLLERR | EPOLLHUP))) {
        ++counts.connect_errors;
        return Fail(c);  // its request is lost
      }
      c.state = State::kBusy;
      Write(ci, c);
      return;
    }
    if ((ev & EPOLLOUT) && c.state == State::kBusy && c.out_off < c.out.size()) {
      Write(ci, c);
      if (c.state == State::kFree) return;
    }
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) Read(ci, c);
  }

  void Read(int ci, Conn& c) {
    char buf[16384];
    for (;;) {
      ssize_t n = recv(c.fd, buf, sizeof buf, 0);
      if (n > 0) {
        if (c.state != State::kBusy) return CloseConn(c, true);  // unasked-for bytes
        c.in.append(buf, static_cast<size_t>(n));
        if (!TryComplete(ci, c)) continue;
        // Done (idle, or closed after the response). No read to EAGAIN: an
        // EOF on an idle connection comes as its own event.
        return;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      // EOF or error.
      if (c.state == State::kBusy) return Fail(c);
      return CloseConn(c, false);
    }
  }

  static bool IEquals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
        return false;
    return true;
  }

  // Parses c.in; on a whole response records it and returns true.
  bool TryComplete(int ci, Conn& c) {
    size_t hend = c.in.find("\r\n\r\n");
    if (hend == std::string::npos) return false;
    std::string_view head(c.in.data(), hend);
    int status = 0;
    if (head.size() >= 12 && head.substr(0, 5) == "HTTP/") {
      size_t sp = head.find(' ');
      if (sp != std::string_view::npos && sp + 4 <= head.size())
        status = std::atoi(std::string(head.substr(sp + 1, 3)).c_str());
    }
    long clen = -1;
    bool close_after = false;
    size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos && pos < head.size()) {
      size_t next = head.find("\r\n", pos + 2);
      std::string_view line = head.substr(pos + 2, (next == std::string_view::npos ? head.size() : next) - pos - 2);
      size_t colon = line.find(':');
      if (colon != std::string_view::npos) {
        std::string_view k = line.substr(0, colon), v = line.substr(colon + 1);
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
        while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
        if (IEquals(k, "content-length")) clen = std::atol(std::string(v).c_str());
        else if (IEquals(k, "connection") && IEquals(v, "close")) close_after = true;
        else if (IEquals(k, "transfer-encoding")) clen = -2;  // never sent by Mitos
      }
      pos = next;
    }
    if (status < 100 || clen < 0) {
      // Unparseable for this generator: the request counts as a connection error.
      Fail(c);
      return true;
    }
    if (c.in.size() < hend + 4 + static_cast<size_t>(clen)) return false;
    if (Counted(c.sched_ns)) Record(status, NowNs() - c.sched_ns);
    c.in.clear();
    --busy_;
    if (close_after) { CloseConn(c, false); return true; }
    c.state = State::kIdle;
    c.idle_since = NowNs();
    c.idle_pos = static_cast<int>(idle_.size());
    idle_.push_back(ci);
    return true;
  }

  void Record(int status, int64_t lat_ns) {
    ++counts.responses;
    const uint32_t us = static_cast<uint32_t>(std::min<int64_t>(lat_ns / 1000, UINT32_MAX));
    lat_all_.push_back(us);
    int k = status / 100;
    ++counts.cls[(k >= 1 && k <= 5) ? k : 0];
    switch (status) {
      case 200: ++counts.s200; break;
      case 404: ++counts.s404; break;
      case 429: ++counts.s429; break;
      case 503: ++counts.s503; break;
      case 504: ++counts.s504; break;
      default: break;
    }
    const bool late = lat_ns > deadline_ns_;
    if (late) ++counts.late;
    ++counts.resp_in_window;
    if (k == 2) {
      lat_ok_.push_back(us);
      if (late) ++counts.late_2xx;
      ++counts.good_in_window;
      if (!late) ++counts.good_in_deadline;
    }
  }

  // Requests unanswered past the timeout; and connections idle so long
  // that the server's keep-alive timeout may close them just as a request
  // goes out on them (idle ones are reused last-in first-out, so a burst
  // reaches the long-idle ones).
  void CheckTimeouts(int64_t now) {
    const int64_t idle_ns = int64_t{o_.idle_close_ms} * 1000000;
    for (auto& c : conns_) {
      if ((c.state == State::kBusy || c.state == State::kConnecting) &&
          now - c.sched_ns > timeout_ns_ && c.sched_ns != 0) {
        if (Counted(c.sched_ns)) ++counts.timeouts;
        --busy_;
        CloseConn(c, true);
      } else if (c.state == State::kIdle && now - c.idle_since > idle_ns) {
        ++counts.idle_closed;
        CloseConn(c, true);
      }
    }
  }

  // The request in flight on c is lost (reset, EOF, bad response).
  void Fail(Conn& c) {
    if (Counted(c.sched_ns)) ++counts.conn_errors;
    --busy_;
    CloseConn(c, true);
  }

  void RemoveIdle(Conn& c) {
    int pos = c.idle_pos;
    int last = idle_.back();
    idle_[static_cast<size_t>(pos)] = last;
    conns_[static_cast<size_t>(last)].idle_pos = pos;
    idle_.pop_back();
    c.idle_pos = -1;
  }

  // reset: close with an RST (SO_LINGER 0), leaving no TIME_WAIT behind, so
  // that runs in a row do not run out of loopback ports.
  void CloseConn(Conn& c, bool reset) {
    if (c.state == State::kIdle) RemoveIdle(c);
    if (reset) {
      linger l{1, 0};
      setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
    close(c.fd);
    c.fd = -1;
    c.state = State::kFree;
    c.sched_ns = 0;
    c.want_out = false;
    c.out.clear();
    c.in.clear();
    --open_;
    free_.push_back(static_cast<int>(&c - conns_.data()));
  }

  const Options& o_;
  sockaddr_in addr_;
  const std::string& auth_;
  int index_ = 0;
  int cap_ = 0;
  double gap_ns_ = 0;
  std::mt19937_64 rng_;
  int ep_ = -1;
  // The schedule runs from start_ns_ to end_ns_; the requests scheduled in
  // [measure_ns_, window_end_ns_) are measured.
  int64_t start_ns_ = 0, measure_ns_ = 0, window_end_ns_ = 0, end_ns_ = 0;
  int64_t timeout_ns_ = 0, deadline_ns_ = 0;
  double next_ = 0;
  std::vector<Conn> conns_;
  std::vector<int> free_, idle_;
  uint64_t busy_ = 0, open_ = 0;
};

double Pct(const std::vector<uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t i = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  if (i > 0) --i;
  if (i >= sorted.size()) i = sorted.size() - 1;
  return sorted[i] / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!ParseArgs(argc, argv, &o)) { Usage(stderr); return 2; }
  if (o.seed == 0) o.seed = static_cast<unsigned>(NowNs());
  std::string auth;
  if (!o.auth_env.empty()) {
    if (const char* v = std::getenv(o.auth_env.c_str())) auth = v;
  }
  // As many descriptors as the cap needs.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rlim_t want = static_cast<rlim_t>(o.conns) + 64;
    if (rl.rlim_cur < want) {
      rl.rlim_cur = std::min(want, rl.rlim_max);
      setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < want) {
      std::fprintf(stderr, "loadgen: descriptor limit %llu is below --conns %d + 64\n",
                   static_cast<unsigned long long>(rl.rlim_cur), o.conns);
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(o.port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  std::vector<Worker*> workers;
  for (int i = 0; i < o.threads; ++i) workers.push_back(new Worker(o, i, addr, auth));
  const int64_t start = NowNs() + 20000000;  // 20 ms for the threads to start
  std::vector<std::thread> ts;
  for (auto* w : workers) ts.emplace_back([w, start] { w->Run(start); });
  for (auto& t : ts) t.join();
  const double wall_s = (NowNs() - start) / 1e9;
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const double cpu_s = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;

  Counts c;
  std::vector<uint32_t> all, ok, lag;
  for (auto* w : workers) {
    const Counts& x = w->counts;
    c.scheduled += x.scheduled; c.sent += x.sent; c.not_sent += x.not_sent;
    c.responses += x.responses;
    for (int k = 0; k < 6; ++k) c.cls[k] += x.cls[k];
    c.s200 += x.s200; c.s404 += x.s404; c.s429 += x.s429; c.s503 += x.s503; c.s504 += x.s504;
    c.late += x.late; c.late_2xx += x.late_2xx; c.timeouts += x.timeouts;
    c.conn_errors += x.conn_errors; c.connect_errors += x.connect_errors;
    c.opened += x.opened; c.peak_open += x.peak_open; c.idle_closed += x.idle_closed;
    c.good_in_window += x.good_in_window; c.good_in_deadline += x.good_in_deadline;
    c.resp_in_window += x.resp_in_window;
    all.insert(all.end(), w->lat_all_.begin(), w->lat_all_.end());
    ok.insert(ok.end(), w->lat_ok_.begin(), w->lat_ok_.end());
    lag.insert(lag.end(), w->lag_.begin(), w->lag_.end());
  }
  std::sort(all.begin(), all.end());
  std::sort(ok.begin(), ok.end());
  std::sort(lag.begin(), lag.end());
  const double d = o.duration_s;
  std::printf(
      "{\"offered_rps\":%.1f,\"duration_s\":%.3f,\"warmup_s\":%.3f,\"wall_s\":%.3f,\"arrivals\":\"%s\","
      "\"deadline_ms\":%d,\"timeout_ms\":%d,\"threads\":%d,\"conn_cap\":%d,"
      "\"scheduled\":%llu,\"sent\":%llu,\"not_sent\":%llu,\"responses\":%llu,"
      "\"s1xx\":%llu,\"s2xx\":%llu,\"s3xx\":%llu,\"s4xx\":%llu,\"s5xx\":%llu,\"s_other\":%llu,"
      "\"s200\":%llu,\"s404\":%llu,\"s429\":%llu,\"s503\":%llu,\"s504\":%llu,"
      "\"late\":%llu,\"late_2xx\":%llu,\"timeouts\":%llu,\"conn_errors\":%llu,"
      "\"connect_errors\":%llu,\"conns_opened\":%llu,\"conns_peak\":%llu,\"conns_idle_closed\":%llu,"
      "\"goodput_rps\":%.1f,\"goodput_in_deadline_rps\":%.1f,\"responses_rps\":%.1f,"
      "\"ok_p50_ms\":%.3f,\"ok_p90_ms\":%.3f,\"ok_p99_ms\":%.3f,\"ok_max_ms\":%.3f,"
      "\"all_p50_ms\":%.3f,\"all_p90_ms\":%.3f,\"all_p99_ms\":%.3f,\"all_max_ms\":%.3f,"
      "\"send_lag_p99_ms\":%.3f,\"send_lag_max_ms\":%.3f,\"cpu_s\":%.3f}\n",
      o.rate, d, o.warmup_s, wall_s, o.poisson ? "poisson" : "uniform", o.deadline_ms, o.timeout_ms,
      o.threads, o.conns,
      (unsigned long long)c.scheduled, (unsigned long long)c.sent,
      (unsigned long long)c.not_sent, (unsigned long long)c.responses,
      (unsigned long long)c.cls[1], (unsigned long long)c.cls[2], (unsigned long long)c.cls[3],
      (unsigned long long)c.cls[4], (unsigned long long)c.cls[5], (unsigned long long)c.cls[0],
      (unsigned long long)c.s200, (unsigned long long)c.s404, (unsigned long long)c.s429,
      (unsigned long long)c.s503, (unsigned long long)c.s504,
      (unsigned long long)c.late, (unsigned long long)c.late_2xx,
      (unsigned long long)c.timeouts, (unsigned long long)c.conn_errors,
      (unsigned long long)c.connect_errors, (unsigned long long)c.opened,
      (unsigned long long)c.peak_open, (unsigned long long)c.idle_closed,
      c.good_in_window / d, c.good_in_deadline / d, c.resp_in_window / d,
      Pct(ok, 50), Pct(ok, 90), Pct(ok, 99), ok.empty() ? 0.0 : ok.back() / 1000.0,
      Pct(all, 50), Pct(all, 90), Pct(all, 99), all.empty() ? 0.0 : all.back() / 1000.0,
      Pct(lag, 99), lag.empty() ? 0.0 : lag.back() / 1000.0, cpu_s);
  for (auto* w : workers) delete w;
  return 0;
}
