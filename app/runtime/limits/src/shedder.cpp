#include "mitos/limits/shedder.h"

#include <algorithm>
#include <limits>

namespace mitos::limits {
namespace {

int64_t Nanos(std::chrono::nanoseconds d) { return d.count(); }

}  // namespace

Shedder::Shedder(ShedderOptions options)
    : options_(options),
      target_ns_(Nanos(options.target)),
      interval_ns_(std::max<int64_t>(Nanos(options.interval), 1000000)),
      max_queue_ns_(Nanos(options.max_queue_time)),
      interval_end_ns_(std::numeric_limits<int64_t>::min()) {}

bool Shedder::ShouldShed(std::chrono::nanoseconds waited, Clock::time_point now) {
  if (!options_.enabled) return false;
  const int64_t w = std::max<int64_t>(0, Nanos(waited));
  const int64_t t = Nanos(now.time_since_epoch());
  // Relaxed throughout: this is a heuristic over many requests, and a
  // request judged on a state a moment old is judged well enough. Only one
  // caller ends an interval (the compare-exchange); a sample that lands in
  // the old interval's minimum while it ends is as good as one in the new.
  int64_t end = interval_end_ns_.load(std::memory_order_relaxed);
  if (t >= end && interval_end_ns_.compare_exchange_strong(end, t + interval_ns_,
                                                           std::memory_order_relaxed)) {
    // The minimum of the interval that ended decides the next; this
    // request starts the new one's.
    const int64_t min = min_wait_ns_.exchange(w, std::memory_order_relaxed);
    overloaded_.store(min > target_ns_, std::memory_order_relaxed);
  } else {
    int64_t cur = min_wait_ns_.load(std::memory_order_relaxed);
    while (w < cur && !min_wait_ns_.compare_exchange_weak(cur, w, std::memory_order_relaxed)) {
    }
  }
  const bool shed = (max_queue_ns_ > 0 && w > max_queue_ns_) ||
                    (w > target_ns_ && overloaded_.load(std::memory_order_relaxed));
  if (shed) shed_.fetch_add(1, std::memory_order_relaxed);
  return shed;
}

}  // namespace mitos::limits
