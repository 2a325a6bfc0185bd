#include "mitos/remote/balanced_channel.h"

#include <algorithm>
#include <utility>

namespace mitos::internal {
namespace {

std::string Trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::string Joined(const std::vector<std::shared_ptr<HttpChannel>>& replicas) {
  std::string out;
  for (const auto& r : replicas) {
    if (!out.empty()) out += ",";
    out += r->url();
  }
  return out;
}

// Whether a failed call may be made again elsewhere: it never reached a
// replica that could act on it, or acting twice changes nothing.
bool WorthAnother(const remote::Request& request,
                  const StatusOr<remote::Response>& r) {
  return request.idempotent && !r.ok() &&
         r.status().code() == StatusCode::kUnavailable;
}

}  // namespace

std::vector<std::string> SplitReplicaUrls(const std::string& setting) {
  std::vector<std::string> urls;
  size_t from = 0;
  while (true) {
    const size_t comma = setting.find(',', from);
    std::string part = Trim(setting.substr(
        from, comma == std::string::npos ? std::string::npos : comma - from));
    std::string host;
    int port = 0;
    if (!ParseHttpUrl(part, &host, &port)) return {};
    if (std::find(urls.begin(), urls.end(), part) != urls.end()) return {};
    urls.push_back(std::move(part));
    if (comma == std::string::npos) break;
    from = comma + 1;
  }
  return urls;
}

BalancedChannel::BalancedChannel(
    std::vector<std::shared_ptr<HttpChannel>> replicas)
    : replicas_(std::move(replicas)), url_(Joined(replicas_)) {}

size_t BalancedChannel::Pick() {
  const size_t n = replicas_.size();
  const size_t first = next_.fetch_add(1, std::memory_order_relaxed) % n;
  for (size_t i = 0; i < n; ++i) {
    const size_t at = (first + i) % n;
    if (replicas_[at]->Accepting()) return at;
  }
  return first;
}

size_t BalancedChannel::Other(size_t tried) const {
  const size_t n = replicas_.size();
  for (size_t i = 1; i < n; ++i) {
    const size_t at = (tried + i) % n;
    if (replicas_[at]->Accepting()) return at;
  }
  return tried;
}

StatusOr<remote::Response> BalancedChannel::Call(
    const remote::Request& request) {
  const size_t at = Pick();
  StatusOr<remote::Response> r = replicas_[at]->Call(request);
  if (!WorthAnother(request, r)) return r;
  const size_t other = Other(at);
  if (other == at) return r;
  return replicas_[other]->Call(request);
}

void BalancedChannel::CallAsync(remote::Request request, Callback done) {
  const size_t at = Pick();
  if (!request.idempotent || replicas_.size() < 2) {
    return replicas_[at]->CallAsync(std::move(request), std::move(done));
  }
  // Idempotent requests carry no body worth the copy (GETs): the copy is
  // what a second replica is sent.
  auto again = std::make_shared<remote::Request>(request);
  replicas_[at]->CallAsync(
      std::move(request),
      [this, at, again, done = std::move(done)](
          StatusOr<remote::Response> r) mutable {
        if (!WorthAnother(*again, r)) return done(std::move(r));
        const size_t other = Other(at);
        if (other == at) return done(std::move(r));
        replicas_[other]->CallAsync(std::move(*again), std::move(done));
      });
}

remote::BreakerState BalancedChannel::breaker_state() const {
  bool half_open = false;
  for (const auto& r : replicas_) {
    const auto s = r->breaker_state();
    if (s == remote::BreakerState::kClosed) return s;
    if (s == remote::BreakerState::kHalfOpen) half_open = true;
  }
  return half_open ? remote::BreakerState::kHalfOpen
                   : remote::BreakerState::kOpen;
}

}  // namespace mitos::internal
