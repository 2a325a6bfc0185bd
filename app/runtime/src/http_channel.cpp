#include "http_channel.h"

#include "mitos/trace.h"

#include <thread>

#include "mitos/context.h"

namespace mitos::internal {
namespace {

using std::chrono::milliseconds;

// True iff the remote itself failed: a 502/503/504 that is not a Mitos
// service reporting that one of *its* dependencies failed. A healthy
// service saying "my dependency is down" must not open the breaker in front
// of it, nor be retried (its own calls already were).
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
         type != "urn:mitos:problem:deadline-exceeded";
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
  return idle_.size();
}

StatusOr<remote::Response> HttpChannel::Call(const remote::Request& in) {
  const RequestContext& ctx = RequestContext::Current();
  const auto deadline = ctx.has_deadline()
                            ? ctx.deadline
                            : clock_->Now() + options_.default_deadline;
  thread_local std::mt19937_64 rng(std::random_device{}());
  budget_.OnRequest();

  bool timed_out = false;
  bool stale_retried = false;
  std::optional<remote::Response> last_retryable;
  for (int attempt = 1;; ++attempt) {
    auto now = clock_->Now();
    if (now >= deadline) {
      return Status::DeadlineExceeded("The deadline passed before the " +
                                      options_.name + " service answered.");
    }
    if (!breaker_.Allow()) {
      return Status::Unavailable("The " + options_.name +
                                 " service is unavailable (circuit open).");
    }
    auto left = std::chrono::duration_cast<milliseconds>(deadline - now);
    milliseconds timeout = std::min(options_.attempt_timeout, left);

    const std::string wire = Serialize(in, PropagatedDeadline(timeout));
    // Idempotent calls skip the probe of a pooled connection: if it turns
    // out dead they are simply sent again on a fresh one (below). Others
    // cannot be sent twice, so their connection is probed first.
    auto conn = TakeIdle(/*probe=*/!in.idempotent);
    const bool reused = conn != nullptr;
    bool sent_maybe = true;
    HttpConnection::Outcome outcome = HttpConnection::Outcome::kConnectFailed;
    remote::Response res;
    if (conn == nullptr) conn = HttpConnection::Connect(host_, port_, timeout);
    if (conn != nullptr) {
      struct Busy {
        std::atomic<int64_t>& n;
        explicit Busy(std::atomic<int64_t>& c) : n(c) { n.fetch_add(1); }
        ~Busy() { n.fetch_sub(1); }
      } busy(busy_);
      auto left_now = std::chrono::duration_cast<milliseconds>(deadline - clock_->Now());
      outcome = conn->RoundTrip(wire, in.method == "HEAD",
                                std::max(milliseconds(1), std::min(timeout, left_now)),
                                &res);
    }
    if (outcome == HttpConnection::Outcome::kOk) {
      if (conn->keep_alive()) Release(std::move(conn));
      // Compression is per hop and this client never asks for it; drop a
      // stray Content-Encoding so that nobody decodes the body twice.
      std::erase_if(res.headers, [](const auto& h) {
        return http::EqualsIgnoreCase(h.first, "Content-Encoding");
      });
      if (!RemoteFailed(res.status, std::string(res.Header("Content-Type")),
                        res.body)) {
        breaker_.OnSuccess();
        return res;
      }
      breaker_.OnFailure();
      timed_out = false;
      last_retryable = std::move(res);
    } else if (reused && !stale_retried &&
               outcome != HttpConnection::Outcome::kTimeout &&
               (in.idempotent || outcome == HttpConnection::Outcome::kSendFailed)) {
      // A pooled connection the peer had closed (it restarted, say): the
      // others in the pool are likely dead too. Not the remote's failure,
      // and not an attempt: send again on a fresh connection.
      DropIdle();
      stale_retried = true;
      --attempt;
      continue;
    } else {
      breaker_.OnFailure();
      sent_maybe = outcome != HttpConnection::Outcome::kConnectFailed &&
                   outcome != HttpConnection::Outcome::kSendFailed;
      timed_out = outcome == HttpConnection::Outcome::kTimeout ||
                  (outcome == HttpConnection::Outcome::kConnectFailed &&
                   clock_->Now() >= deadline);
    }

    bool may_retry = in.idempotent || !sent_maybe;
    if (!may_retry || attempt >= options_.retry.max_attempts ||
        !budget_.TryRetry()) {
      break;
    }
    retries_.fetch_add(1);
    auto wait = Backoff(attempt, options_.retry, rng);
    auto remaining = std::chrono::duration_cast<milliseconds>(deadline -
                                                              clock_->Now());
    if (wait >= remaining) break;
    std::this_thread::sleep_for(wait);
  }
  if (last_retryable) return std::move(*last_retryable);
  if (timed_out) {
    return Status::DeadlineExceeded("The " + options_.name +
                                    " service did not answer in time.");
  }
  return Status::Unavailable("The " + options_.name +
                             " service cannot be reached.");
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
