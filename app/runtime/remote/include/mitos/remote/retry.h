// Retry policy: capped exponential backoff with full jitter, and a budget
// that keeps retries a small fraction of traffic, so that retries cannot
// multiply the load on a remote that is already struggling.
#ifndef MITOS_REMOTE_RETRY_H_
#define MITOS_REMOTE_RETRY_H_

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>

#include "mitos/remote/clock.h"

namespace mitos::internal {

struct RetryOptions {
  int max_attempts = 3;                        // first try included
  std::chrono::milliseconds base{25};          // backoff before retry 1
  std::chrono::milliseconds cap{250};          // largest backoff
  int budget_percent = 20;                     // retries per 100 requests
  int budget_min_per_second = 10;              // always allowed
};

// Returns the wait before retry number `retry` (1-based): a uniformly random
// duration in [0, min(cap, base * 2^(retry-1))].
std::chrono::milliseconds Backoff(int retry, const RetryOptions& options,
                                  std::mt19937_64& rng);

// Counts requests and retries over the last 10 seconds. A retry is allowed
// while retries stay below budget_percent of requests plus
// budget_min_per_second * 10.
class RetryBudget {
 public:
  RetryBudget(const RetryOptions& options, const Clock* clock);

  void OnRequest();
  // Returns true and counts the retry if the budget allows one.
  bool TryRetry();

 private:
  static constexpr int kWindowSeconds = 10;
  struct Bucket {
    int64_t second = -1;
    int64_t requests = 0;
    int64_t retries = 0;
  };
  Bucket& Current();  // REQUIRES: mu_ held

  const RetryOptions options_;
  const Clock* clock_;
  std::mutex mu_;
  std::array<Bucket, kWindowSeconds> buckets_{};
};

}  // namespace mitos::internal

#endif  // MITOS_REMOTE_RETRY_H_
