// Adaptive load shedding on queue time, with CoDel's control law as
// Facebook's "adaptive LIFO + CoDel" queues apply it to requests.
//
// Time is cut into intervals. An interval ends at the first request seen
// after it is over; if every request of that interval waited longer than
// `target` (its minimum queue time was above the target), the queue is
// standing rather than absorbing a burst, and during the next interval
// every request that waited longer than `target` is shed. An interval
// whose minimum is at or below the target ends the shedding. A request that
// waited longer than `max_queue_time` is always shed: its client has
// likely given up, and serving it only delays the ones behind it.
//
// Shedding answers a request at once (a 503 with Retry-After) instead of
// serving it, so that the queue drains and the requests that are served
// are served in time, rather than every request being served late.
//
// The order in which a queue is served is its owner's: the server's event
// loops serve newest first while their queue stands, so that the requests
// they serve wait little and the cap sheds the ones left behind.
#ifndef MITOS_LIMITS_SHEDDER_H_
#define MITOS_LIMITS_SHEDDER_H_

#include <atomic>
#include <chrono>
#include <cstdint>

namespace mitos::limits {

using Clock = std::chrono::steady_clock;

struct ShedderOptions {
  bool enabled = true;                    // false: ShouldShed is always false
  std::chrono::milliseconds target{5};    // acceptable standing queue time
  std::chrono::milliseconds interval{100};  // how long above target counts
  std::chrono::milliseconds max_queue_time{500};  // 0: no hard cap
};

class Shedder {
 public:
  // An interval below 1 ms counts as 1 ms.
  explicit Shedder(ShedderOptions options);
  Shedder(const Shedder&) = delete;
  Shedder& operator=(const Shedder&) = delete;

  // Called as a queued request is about to run, with the time it waited.
  // Returns true iff it should be answered 503 at once instead of being
  // served. Thread-safe and lock-free: a few relaxed atomic operations.
  bool ShouldShed(std::chrono::nanoseconds waited, Clock::time_point now = Clock::now());

  // Requests shed so far.
  uint64_t shed() const { return shed_.load(std::memory_order_relaxed); }
  // True iff the last interval that ended had a standing queue.
  bool overloaded() const { return overloaded_.load(std::memory_order_relaxed); }
  const ShedderOptions& options() const { return options_; }

 private:
  const ShedderOptions options_;
  const int64_t target_ns_;
  const int64_t interval_ns_;
  const int64_t max_queue_ns_;
  // Clock ticks in nanoseconds. The first call ends the (empty) first
  // interval.
  std::atomic<int64_t> interval_end_ns_;
  std::atomic<int64_t> min_wait_ns_{0};  // of the current interval
  std::atomic<bool> overloaded_{false};
  std::atomic<uint64_t> shed_{0};
};

}  // namespace mitos::limits

#endif  // MITOS_LIMITS_SHEDDER_H_
