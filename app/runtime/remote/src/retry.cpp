#include "mitos/remote/retry.h"

#include <algorithm>

namespace mitos::internal {

std::chrono::milliseconds Backoff(int retry, const RetryOptions& o,
                                  std::mt19937_64& rng) {
  int64_t ceiling = o.base.count();
  for (int i = 1; i < retry && ceiling < o.cap.count(); ++i) ceiling *= 2;
  ceiling = std::min<int64_t>(ceiling, o.cap.count());
  std::uniform_int_distribution<int64_t> dist(0, std::max<int64_t>(ceiling, 0));
  return std::chrono::milliseconds(dist(rng));
}

RetryBudget::RetryBudget(const RetryOptions& options, const Clock* clock)
    : options_(options), clock_(clock) {}

RetryBudget::Bucket& RetryBudget::Current() {
  int64_t second = std::chrono::duration_cast<std::chrono::seconds>(
                       clock_->Now().time_since_epoch())
                       .count();
  Bucket& b = buckets_[static_cast<size_t>(second % kWindowSeconds)];
  if (b.second != second) b = Bucket{second, 0, 0};
  return b;
}

void RetryBudget::OnRequest() {
  std::lock_guard<std::mutex> lock(mu_);
  ++Current().requests;
}

bool RetryBudget::TryRetry() {
  std::lock_guard<std::mutex> lock(mu_);
  Bucket& now = Current();
  int64_t requests = 0, retries = 0;
  for (const Bucket& b : buckets_) {
    if (b.second > now.second - kWindowSeconds) {
      requests += b.requests;
      retries += b.retries;
    }
  }
  int64_t allowed = options_.budget_min_per_second * kWindowSeconds +
                    requests * options_.budget_percent / 100;
  if (retries >= allowed) return false;
  ++now.retries;
  return true;
}

}  // namespace mitos::internal
