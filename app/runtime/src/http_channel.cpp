#include "http_channel.h"

#include <httplib.h>

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

void SetTimeouts(httplib::Client& c, milliseconds t) {
  auto sec = static_cast<time_t>(t.count() / 1000);
  auto usec = static_cast<time_t>((t.count() % 1000) * 1000);
  c.set_connection_timeout(sec, usec);
  c.set_read_timeout(sec, usec);
  c.set_write_timeout(sec, usec);
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
}

HttpChannel::~HttpChannel() = default;

std::unique_ptr<httplib::Client> HttpChannel::Acquire() {
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
  }
  auto c = std::make_unique<httplib::Client>(host_, port_);
  c->set_keep_alive(true);
  c->set_tcp_nodelay(true);
  return c;
}

void HttpChannel::Release(std::unique_ptr<httplib::Client> c) {
  std::lock_guard<std::mutex> lock(pool_mu_);
  if (idle_.size() < options_.pool_max_idle) idle_.push_back(std::move(c));
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
  std::optional<remote::Response> last_retryable;
  for (int attempt = 1;; ++attempt) {
    auto now = clock_->Now();
    if (now >= deadline) {
      return Status::DeadlineExceeded("The deadline passed before " +
                                      options_.url + " answered.");
    }
    if (!breaker_.Allow()) {
      return Status::Unavailable("The circuit to " + options_.url +
                                 " is open.");
    }
    auto left = std::chrono::duration_cast<milliseconds>(deadline - now);
    milliseconds timeout = std::min(options_.attempt_timeout, left);

    httplib::Request req;
    req.method = in.method;
    req.path = in.target;
    req.headers = httplib::Headers(in.headers.begin(), in.headers.end());
    if (!ctx.request_id.empty()) req.set_header("X-Request-Id", ctx.request_id);
    if (!ctx.traceparent.empty()) req.set_header("traceparent", ctx.traceparent);
    if (!ctx.tracestate.empty()) req.set_header("tracestate", ctx.tracestate);
    req.set_header(kDeadlineHeader,
                   std::to_string(PropagatedDeadline(timeout).count()));
    if (!in.body.empty() || in.method == "POST" || in.method == "PUT" ||
        in.method == "PATCH") {
      req.body = in.body;
      req.set_header("Content-Type",
                     in.content_type.empty() ? "application/json"
                                             : in.content_type);
    }

    auto client = Acquire();
    SetTimeouts(*client, timeout);
    auto started = clock_->Now();
    httplib::Result r = client->send(req);
    bool sent_maybe = true;
    if (r) {
      remote::Response res;
      res.status = r->status;
      res.body = std::move(r->body);
      for (auto& [k, v] : r->headers) {
        // The client library has already decoded a compressed body.
        if (http::EqualsIgnoreCase(k, "Content-Encoding")) continue;
        res.headers.emplace_back(k, v);
      }
      Release(std::move(client));
      if (!RemoteFailed(res.status, std::string(res.Header("Content-Type")),
                        res.body)) {
        breaker_.OnSuccess();
        return res;
      }
      breaker_.OnFailure();
      timed_out = false;
      last_retryable = std::move(res);
    } else {
      breaker_.OnFailure();
      sent_maybe = r.error() != httplib::Error::Connection;
      timed_out = clock_->Now() - started >= timeout - milliseconds(5);
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
    return Status::DeadlineExceeded(options_.url + " did not answer in time.");
  }
  return Status::Unavailable(options_.url + " cannot be reached.");
}

}  // namespace mitos::internal

namespace mitos::remote {

std::shared_ptr<Channel> NewHttpChannel(const std::string& url) {
  internal::ChannelOptions o;
  o.url = url;
  return std::make_shared<internal::HttpChannel>(
      o, internal::SteadyClock::Get());
}

}  // namespace mitos::remote
