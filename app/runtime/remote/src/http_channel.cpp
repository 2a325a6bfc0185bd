#include "mitos/remote/http_channel.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>

#include <algorithm>
#include <deque>

#include "mitos/observability/trace.h"

#include <thread>

#include "mitos/base/context.h"
#include "mitos/io/task.h"

namespace mitos::internal {
namespace {

using std::chrono::milliseconds;

// True iff the remote itself failed: a 502/503/504 that is not a Mitos
// service reporting that one of *its* dependencies failed. A healthy
// service saying "my dependency is down" must not open the breaker in front
// of it, nor be retried (its own calls already were). Its storage counts as
// such a dependency: a service whose writes fail on a read-only or failing
// disk still serves reads, which an open breaker would refuse too.
bool RemoteFailed(int status, const std::string& content_type,
                  const std::string& body) {
  if (status != 502 && status != 503 && status != 504) return false;
  if (content_type.rfind("application/problem+json", 0) != 0) return true;
  auto p = nlohmann::json::parse(body, nullptr, false);
  if (!p.is_object() || !p.contains("type") || !p["type"].is_string()) {
    return true;
  }
  const std::string type = p["type"];
  return type != "urn:mitos:problem:dependency-unavailable" &&
         type != "urn:mitos:problem:deadline-exceeded" &&
         type != "urn:mitos:problem:storage-unavailable" &&
         type != "urn:mitos:problem:storage-read-only";
}

// The deadline the remote is given for one attempt: a little less than the
// caller will wait, so that the remote gives up (and writes nothing) before
// the caller has answered its own client.
milliseconds PropagatedDeadline(milliseconds attempt_timeout) {
  milliseconds margin = std::min(milliseconds(50), attempt_timeout / 10);
  return std::max(milliseconds(1), attempt_timeout - margin);
}

bool HasCrLf(std::string_view s) {
  return s.find_first_of("\r\n") != std::string_view::npos;
}

}  // namespace

bool ParseHttpUrl(const std::string& url, std::string* host, int* port) {
  const std::string scheme = "http://";
  if (url.compare(0, scheme.size(), scheme) != 0) return false;
  std::string rest = url.substr(scheme.size());
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.empty() || rest.find('/') != std::string::npos) return false;
  auto colon = rest.rfind(':');
  *port = 80;
  if (colon != std::string::npos && rest.find(']') == std::string::npos) {
    std::string p = rest.substr(colon + 1);
    if (p.empty() || p.size() > 5 ||
        p.find_first_not_of("0123456789") != std::string::npos) {
      return false;
    }
    *port = std::stoi(p);
    if (*port < 1 || *port > 65535) return false;
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) return false;
  *host = rest;
  return true;
}

HttpChannel::HttpChannel(ChannelOptions options, const Clock* clock)
    : options_(std::move(options)),
      clock_(clock),
      breaker_(options_.breaker, clock),
      budget_(options_.retry, clock) {
  ParseHttpUrl(options_.url, &host_, &port_);
  host_header_ = host_ + ":" + std::to_string(port_);
}

HttpChannel::~HttpChannel() = default;

std::unique_ptr<HttpConnection> HttpChannel::TakeIdle(bool probe) {
  std::lock_guard<std::mutex> lock(pool_mu_);
  while (!idle_.empty()) {
    auto c = std::move(idle_.back());  // the most recently used first
    idle_.pop_back();
    auto idle_for = clock_->Now() - c->last_used();
    if (idle_for >= options_.pool_idle_timeout) continue;
    // Servers that drain or reach their keep-alive limit say "Connection:
    // close", and such connections never come back to the pool; a peer that
    // died leaves stale ones, which the probe (one syscall) finds.
    if (!probe || c->Reusable()) return c;
  }
  return nullptr;
}

void HttpChannel::DropIdle() {
  std::lock_guard<std::mutex> lock(pool_mu_);
  idle_.clear();
}

void HttpChannel::Release(std::unique_ptr<HttpConnection> c) {
  std::lock_guard<std::mutex> lock(pool_mu_);
  if (idle_.size() < options_.pool_max_idle) idle_.push_back(std::move(c));
}

std::string HttpChannel::Serialize(const remote::Request& in,
                                   milliseconds propagated) const {
  const RequestContext& ctx = RequestContext::Current();
  std::string out;
  out.reserve(256 + in.body.size());
  out += in.method;
  out += ' ';
  out += in.target;
  out += " HTTP/1.1\r\nHost: ";
  out += host_header_;
  out += "\r\n";
  auto header = [&out](std::string_view k, std::string_view v) {
    if (HasCrLf(k) || HasCrLf(v)) return;  // never let a value split lines
    out += k;
    out += ": ";
    out += v;
    out += "\r\n";
  };
  for (const auto& [k, v] : in.headers) header(k, v);
  if (!ctx.request_id.empty()) header("X-Request-Id", ctx.request_id);
  if (const trace::SpanContext& span = trace::Current(); span.valid()) {
    header("traceparent", span.Traceparent());
  }
  if (!ctx.tracestate.empty()) header("tracestate", ctx.tracestate);
  header(kDeadlineHeader, std::to_string(propagated.count()));
  // Minted per attempt: a token is bound to its time and used once.
  if (options_.service_token) {
    header(kServiceTokenHeader, options_.service_token(in.method, in.target));
  }
  bool with_body = !in.body.empty() || in.method == "POST" ||
                   in.method == "PUT" || in.method == "PATCH";
  if (with_body) {
    header("Content-Type",
           in.content_type.empty() ? "application/json" : in.content_type);
    header("Content-Length", std::to_string(in.body.size()));
  }
  out += "\r\n";
  out += in.body;
  return out;
}

size_t HttpChannel::idle_connections() const {
  std::lock_guard<std::mutex> lock(pool_mu_);
  size_t n = idle_.size();
  for (const auto& [loop, pool] : loop_pools_) n += pool.idle.size();
  return n;
}

// --- The policy shared by blocking and event-loop calls ---------------------

Status HttpChannel::Admit(Clock::TimePoint deadline) {
  if (clock_->Now() >= deadline) {
    return Status::DeadlineExceeded("The deadline passed before the " +
                                    options_.name + " service answered.");
  }
  if (!breaker_.Allow()) {
    return Status::Unavailable("The " + options_.name +
                               " service is unavailable (circuit open).");
  }
  return Status::Ok();
}

milliseconds HttpChannel::AttemptTimeout(Clock::TimePoint deadline) const {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - clock_->Now());
  return std::max(milliseconds(1), std::min(options_.attempt_timeout, left));
}

HttpChannel::Decision HttpChannel::AfterAttempt(HttpConnection::Outcome outcome,
                                                bool reused,
                                                const remote::Request& in,
                                                Clock::TimePoint deadline,
                                                remote::Response& res,
                                                Attempts& st) {
  using Outcome = HttpConnection::Outcome;
  bool sent_maybe = true;
  if (outcome == Outcome::kAborted && !st.stale_retried) {
    // Another call's failure closed the connection this one shared: not
    // this remote's failure, and not an attempt. Once only: a second time,
    // it counts as the connection breaking.
    st.stale_retried = true;
    return {Decision::kAgain, {}};
  }
  if (outcome == Outcome::kAborted) outcome = Outcome::kBroken;
  if (outcome == Outcome::kOk) {
    // Compression is per hop and this client never asks for it; drop a
    // stray Content-Encoding so that nobody decodes the body twice.
    std::erase_if(res.headers, [](const auto& h) {
      return http::EqualsIgnoreCase(h.first, "Content-Encoding");
    });
    if (!RemoteFailed(res.status, std::string(res.Header("Content-Type")), res.body)) {
      breaker_.OnSuccess();
      return {Decision::kDone, {}};
    }
    breaker_.OnFailure();
    st.timed_out = false;
    st.last_retryable = std::move(res);
  } else if (reused && !st.stale_retried && outcome != Outcome::kTimeout &&
             (in.idempotent || outcome == Outcome::kSendFailed)) {
    // A pooled connection the peer had closed (it restarted, say): the
    // others in the pool are likely dead too. Not the remote's failure,
    // and not an attempt: send again on a fresh connection.
    st.stale_retried = true;
    return {Decision::kStale, {}};
  } else {
    breaker_.OnFailure();
    sent_maybe = outcome != Outcome::kConnectFailed && outcome != Outcome::kSendFailed;
    st.timed_out = outcome == Outcome::kTimeout ||
                   (outcome == Outcome::kConnectFailed && clock_->Now() >= deadline);
  }
  bool may_retry = in.idempotent || !sent_maybe;
  if (!may_retry || st.attempt >= options_.retry.max_attempts || !budget_.TryRetry()) {
    return {Decision::kStop, {}};
  }
  thread_local std::mt19937_64 rng(std::random_device{}());
  auto wait = Backoff(st.attempt, options_.retry, rng);
  auto remaining = std::chrono::duration_cast<milliseconds>(deadline - clock_->Now());
  if (wait >= remaining) return {Decision::kStop, {}};
  retries_.fetch_add(1);
  return {Decision::kRetry, wait};
}

StatusOr<remote::Response> HttpChannel::Final(Attempts& st) const {
  if (st.last_retryable) return std::move(*st.last_retryable);
  if (st.timed_out) {
    return Status::DeadlineExceeded("The " + options_.name +
                                    " service did not answer in time.");
  }
  return Status::Unavailable("The " + options_.name + " service cannot be reached.");
}

Clock::TimePoint HttpChannel::DeadlineOf(const RequestContext& ctx) const {
  return ctx.has_deadline() ? ctx.deadline : clock_->Now() + options_.default_deadline;
}

// --- Blocking calls -----------------------------------------------------------

StatusOr<remote::Response> HttpChannel::Call(const remote::Request& in) {
  const auto deadline = DeadlineOf(RequestContext::Current());
  budget_.OnRequest();
  Attempts st;
  for (st.attempt = 1;; ++st.attempt) {
    if (Status s = Admit(deadline); !s.ok()) return s;
    milliseconds timeout = AttemptTimeout(deadline);
    const std::string wire = Serialize(in, PropagatedDeadline(timeout));
    // Idempotent calls skip the probe of a pooled connection: if it turns
    // out dead they are simply sent again on a fresh one. Others cannot be
    // sent twice, so their connection is probed first.
    auto conn = TakeIdle(/*probe=*/!in.idempotent);
    const bool reused = conn != nullptr;
    HttpConnection::Outcome outcome = HttpConnection::Outcome::kConnectFailed;
    remote::Response res;
    if (conn == nullptr) conn = HttpConnection::Connect(host_, port_, timeout);
    if (conn != nullptr) {
      busy_.fetch_add(1);
      outcome = conn->RoundTrip(wire, in.method == "HEAD", AttemptTimeout(deadline), &res);
      busy_.fetch_sub(1);
    }
    if (outcome == HttpConnection::Outcome::kOk && conn->keep_alive()) {
      Release(std::move(conn));
    }
    Decision d = AfterAttempt(outcome, reused, in, deadline, res, st);
    switch (d.kind) {
      case Decision::kDone:
        return res;
      case Decision::kStale:
        DropIdle();
        --st.attempt;
        continue;
      case Decision::kAgain:
        --st.attempt;
        continue;
      case Decision::kRetry:
        std::this_thread::sleep_for(d.wait);
        continue;
      case Decision::kStop:
        return Final(st);
    }
  }
}

// --- Calls driven by the server's event loop ----------------------------------

// One connection of one event loop. Calls queue their requests on it; what
// is queued during one round of the loop is written at the round's end, in
// one send, and the answers come back in the same order (HTTP/1.1
// pipelining), usually in one read. Only idempotent calls share a
// connection, at most options.pipeline_max of them, and only calls of the
// same round: once written to, a connection takes no more calls until every
// answer is in, so that a call never waits behind an earlier, slower one.
// Idle, it stays registered with the loop, so that taking it costs no
// system call; an event while idle means the peer closed it.
struct HttpChannel::LoopConnection final : EventLoop::Handler,
                                           std::enable_shared_from_this<LoopConnection> {
  LoopConnection(HttpChannel* c, EventLoop* l, std::unique_ptr<HttpConnection> h)
      : ch(c), loop(l), conn(std::move(h)) {}
  void OnEvents(uint32_t events) override;

  // Queues a call's request; it is written at the end of the round.
  void Queue(AsyncCall* call, const std::string& wire);
  // Takes a call off the connection before its answer came (it timed
  // out). The connection cannot be used on: the others fail as aborted.
  void Abandon(AsyncCall* call);

  // Takes no more calls of this round.
  void StopSharing();
  void Flush();
  void Write();
  void Receive();
  // Fails every call it carries and closes: `first` for the one whose
  // answer was due, kAborted for those behind it (or `first` for all when
  // nothing was sent, or nothing could have been).
  void Fail(HttpConnection::Outcome first, bool all_alike);
  // Every answer is in: back to the pool, or closed.
  void Done(bool reusable);

  HttpChannel* const ch;
  EventLoop* const loop;
  std::unique_ptr<HttpConnection> conn;
  std::deque<AsyncCall*> calls;  // awaiting their answers, in the order sent
  std::string out;               // requests not yet written
  size_t out_off = 0;
  bool connecting = false;  // a non-blocking connect is in progress
  bool flush_due = false;   // Flush is deferred to the end of the round
  bool written = false;     // written to: takes no more calls
  bool reused = false;      // came from the idle pool
  bool dead = false;        // saw an event while idle
  // Keeps the connection alive while it carries calls.
  std::shared_ptr<LoopConnection> self;
};

// One call in progress on an event loop: attempts, each with its own
// timer, on shared, pooled or new connections, under the same policy as
// Call.
class HttpChannel::AsyncCall final : public std::enable_shared_from_this<AsyncCall> {
 public:
  AsyncCall(HttpChannel* ch, EventLoop* loop, remote::Request in, Callback done)
      : ch_(ch), loop_(loop), in_(std::move(in)), done_(std::move(done)),
        ctx_(RequestContext::Current()), span_(trace::Current()),
        deadline_(ch->DeadlineOf(ctx_)) {}

  void Start() {
    self_ = shared_from_this();
    ch_->budget_.OnRequest();
    st_.attempt = 1;
    Attempt();
  }

  bool head() const { return in_.method == "HEAD"; }

  // From the connection: the answer, or the attempt's failure. The
  // connection has let go of the call already.
  void Answered(remote::Response res) {
    lc_.reset();
    res_ = std::move(res);
    Finish(HttpConnection::Outcome::kOk);
  }
  void Failed(HttpConnection::Outcome outcome) {
    lc_.reset();
    Finish(outcome);
  }

 private:
  void Attempt() {
    if (Status s = ch_->Admit(deadline_); !s.ok()) return Complete(std::move(s));
    const milliseconds timeout = ch_->AttemptTimeout(deadline_);
    std::string wire;
    {
      // The identity and trace of the request that started the call.
      ContextScope scope(&ctx_);
      trace::CurrentScope span(span_);
      wire = ch_->Serialize(in_, PropagatedDeadline(timeout));
    }
    lc_ = ch_->ConnectionFor(loop_, in_.idempotent);
    if (lc_ == nullptr) return Finish(HttpConnection::Outcome::kConnectFailed);
    reused_ = lc_->reused;
    timer_ = loop_->AddTimer(std::chrono::steady_clock::now() + timeout, [this] {
      timer_armed_ = false;
      if (auto lc = std::move(lc_)) lc->Abandon(this);
      Finish(HttpConnection::Outcome::kTimeout);
    });
    timer_armed_ = true;
    lc_->Queue(this, wire);
  }

  // Ends one attempt, then decides what follows.
  void Finish(HttpConnection::Outcome outcome) {
    if (timer_armed_) {
      loop_->CancelTimer(timer_);
      timer_armed_ = false;
    }
    remote::Response res = std::move(res_);
    res_ = remote::Response();
    Decision d = ch_->AfterAttempt(outcome, reused_, in_, deadline_, res, st_);
    switch (d.kind) {
      case Decision::kDone:
        return Complete(std::move(res));
      case Decision::kStale:
        ch_->DropIdle(loop_);
        return Attempt();  // the same attempt, on a fresh connection
      case Decision::kAgain:
        return Attempt();
      case Decision::kRetry:
        ++st_.attempt;
        loop_->AddTimer(std::chrono::steady_clock::now() + d.wait, [this] { Attempt(); });
        return;
      case Decision::kStop:
        return Complete(ch_->Final(st_));
    }
  }

  void Complete(StatusOr<remote::Response> result) {
    auto self = std::move(self_);  // alive until this returns
    Callback done = std::move(done_);
    {
      ContextScope scope(&ctx_);
      trace::CurrentScope span(span_);
      done(std::move(result));
    }
  }

  HttpChannel* const ch_;
  EventLoop* const loop_;
  const remote::Request in_;
  Callback done_;
  const RequestContext ctx_;
  const trace::SpanContext span_;
  const Clock::TimePoint deadline_;
  std::shared_ptr<AsyncCall> self_;  // while the call runs
  Attempts st_;
  std::shared_ptr<LoopConnection> lc_;  // while an attempt waits on it
  bool reused_ = false;
  remote::Response res_;
  EventLoop::TimerId timer_{};
  bool timer_armed_ = false;
};

void HttpChannel::LoopConnection::Queue(AsyncCall* call, const std::string& wire) {
  calls.push_back(call);
  out += wire;
  if (flush_due) return;
  flush_due = true;
  loop->Defer([lc = shared_from_this()] { lc->Flush(); });
}

void HttpChannel::LoopConnection::StopSharing() {
  std::lock_guard<std::mutex> lock(ch->pool_mu_);
  auto& open = ch->loop_pools_[loop].open;
  if (open.get() == this) open.reset();
}

void HttpChannel::LoopConnection::Flush() {
  flush_due = false;
  written = true;
  StopSharing();
  if (calls.empty()) return;  // every call left before the write
  if (!connecting) Write();
}

void HttpChannel::LoopConnection::Write() {
  const int fd = conn->fd();
  while (out_off < out.size()) {
    ssize_t n = ::send(fd, out.data() + out_off, out.size() - out_off, MSG_NOSIGNAL);
    if (n > 0) {
      out_off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // wait for room
    // Nothing of it sent: as good as unsent, for every call.
    return out_off == 0 ? Fail(HttpConnection::Outcome::kSendFailed, true)
                        : Fail(HttpConnection::Outcome::kBroken, false);
  }
  out.clear();
  out_off = 0;
}

void HttpChannel::LoopConnection::Receive() {
  const int fd = conn->fd();
  std::string& buf = conn->buffer();
  bool eof = false;
  char tmp[16384];
  for (;;) {
    ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
    if (n > 0) {
      buf.append(tmp, static_cast<size_t>(n));
      if (static_cast<size_t>(n) < sizeof(tmp)) break;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    eof = true;
    break;
  }
  while (!calls.empty() && (!buf.empty() || eof)) {
    AsyncCall* front = calls.front();
    remote::Response res;
    switch (ParseResponse(buf, front->head(), eof, &res, conn->mutable_keep_alive())) {
      case ResponseParse::kNeedMore:
        return;
      case ResponseParse::kBroken:
        // Closed before a byte of the answer: as good as unsent, for a
        // pooled connection the peer had already closed.
        return Fail(buf.empty() && eof ? HttpConnection::Outcome::kSendFailed
                                       : HttpConnection::Outcome::kBroken,
                    false);
      case ResponseParse::kOk:
        calls.pop_front();
        if (calls.empty()) {
          Done(!eof && conn->keep_alive() && buf.empty() && out_off == out.size());
        } else if (!conn->keep_alive()) {
          // It closes after this answer: the calls behind it go elsewhere.
          front->Answered(std::move(res));
          return Fail(HttpConnection::Outcome::kAborted, true);
        }
        front->Answered(std::move(res));
        if (self == nullptr) return;  // released or closed
        break;
    }
  }
}

void HttpChannel::LoopConnection::Abandon(AsyncCall* call) {
  auto it = std::find(calls.begin(), calls.end(), call);
  if (it == calls.end()) return;
  calls.erase(it);
  Fail(HttpConnection::Outcome::kAborted, true);
}

void HttpChannel::LoopConnection::Fail(HttpConnection::Outcome first, bool all_alike) {
  auto keep = shared_from_this();
  std::deque<AsyncCall*> failed;
  failed.swap(calls);
  Done(/*reusable=*/false);
  for (AsyncCall* c : failed) {
    c->Failed(first);
    if (!all_alike) first = HttpConnection::Outcome::kAborted;
  }
}

void HttpChannel::LoopConnection::Done(bool reusable) {
  if (self == nullptr) return;
  ch->busy_.fetch_sub(1);
  auto keep = std::move(self);
  StopSharing();
  if (!reusable) {
    // Closing takes it out of the loop; an event of this round may still
    // name it.
    loop->KeepUntilIdle(std::move(keep));
    return;
  }
  out.clear();
  out_off = 0;
  written = false;
  reused = true;
  conn->Touch();
  ch->Release(keep);
}

void HttpChannel::LoopConnection::OnEvents(uint32_t events) {
  if (self == nullptr) {  // idle
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) dead = true;
    return;
  }
  auto keep = self;  // alive through what the answers set off
  if (connecting) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof(err);
    if (::getsockopt(conn->fd(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      return Fail(HttpConnection::Outcome::kConnectFailed, true);
    }
    connecting = false;
    if (written) Write();  // else the round's end writes
  } else if (!written) {
    // Taken from the pool this round, nothing sent yet: anything it reports
    // now is the peer closing it (or talking out of turn).
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
      Fail(HttpConnection::Outcome::kSendFailed, true);
    }
    return;
  } else if ((events & EPOLLOUT) && out_off < out.size()) {
    Write();
  }
  if (self != nullptr && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
    Receive();
  }
}

void HttpChannel::CallAsync(remote::Request request, Callback done) {
  EventLoop* loop = EventLoop::Current();
  // Not on a loop, or on one that waits for this call (mitos::Wait): block.
  if (loop == nullptr || !internal::OnEventLoop()) return done(Call(request));
  std::make_shared<AsyncCall>(this, loop, std::move(request), std::move(done))->Start();
}

std::shared_ptr<HttpChannel::LoopConnection> HttpChannel::ConnectionFor(
    EventLoop* loop, bool idempotent) {
  std::shared_ptr<LoopConnection> c;
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    LoopPool& pool = loop_pools_[loop];
    if (idempotent && pool.open != nullptr &&
        pool.open->calls.size() < options_.pipeline_max) {
      return pool.open;
    }
    const auto now = clock_->Now();
    while (c == nullptr && !pool.idle.empty()) {
      c = std::move(pool.idle.back());  // the most recently used first
      pool.idle.pop_back();
      if (c->dead || now - c->conn->last_used() >= options_.pool_idle_timeout) {
        // Closing the socket takes it out of the loop; an event already
        // fetched may still name it.
        loop->KeepUntilIdle(std::move(c));
        c = nullptr;
      }
    }
  }
  if (c == nullptr) {
    auto h = HttpConnection::ConnectNonBlocking(host_, port_);
    if (h == nullptr) return nullptr;
    c = std::make_shared<LoopConnection>(this, loop, std::move(h));
    c->connecting = true;  // the events say when (and whether) it is made
    if (!loop->Add(c->conn->fd(), EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, c.get())) {
      return nullptr;
    }
  }
  c->self = c;
  busy_.fetch_add(1);
  if (idempotent && options_.pipeline_max > 1) {
    std::lock_guard<std::mutex> lock(pool_mu_);
    loop_pools_[loop].open = c;
  }
  return c;
}

void HttpChannel::Release(const std::shared_ptr<LoopConnection>& c) {
  std::lock_guard<std::mutex> lock(pool_mu_);
  auto& idle = loop_pools_[c->loop].idle;
  if (idle.size() < options_.pool_max_idle) {
    idle.push_back(c);
  } else {
    c->loop->KeepUntilIdle(c);
  }
}

void HttpChannel::DropIdle(EventLoop* loop) {
  std::lock_guard<std::mutex> lock(pool_mu_);
  auto it = loop_pools_.find(loop);
  if (it == loop_pools_.end()) return;
  for (auto& c : it->second.idle) loop->KeepUntilIdle(std::move(c));
  it->second.idle.clear();
}

}  // namespace mitos::internal

namespace mitos::remote {

std::shared_ptr<Channel> NewHttpChannel(const std::string& url) {
  internal::ChannelOptions o;
  o.name = "remote";
  o.url = url;
  return std::make_shared<internal::HttpChannel>(
      o, internal::SteadyClock::Get());
}

}  // namespace mitos::remote
