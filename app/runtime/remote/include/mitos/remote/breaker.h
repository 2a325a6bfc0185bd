// A circuit breaker per remote.
//
//   closed     calls go through; `failure_threshold` consecutive failures
//              open the breaker.
//   open       calls fail at once, for `open_for`.
//   half-open  after `open_for`, one probe call at a time goes through; its
//              success closes the breaker, its failure opens it again.
#ifndef MITOS_REMOTE_BREAKER_H_
#define MITOS_REMOTE_BREAKER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>

#include "mitos/remote/clock.h"
#include "mitos/remote/remote.h"

namespace mitos::internal {

class CircuitBreaker {
 public:
  struct Options {
    int failure_threshold = 5;
    std::chrono::milliseconds open_for{5000};
  };

  CircuitBreaker(Options options, const Clock* clock);

  // Returns true iff a call may be made now. In half-open state only one
  // call is let through until it reports back.
  bool Allow();
  void OnSuccess();
  void OnFailure();

  // Returns true iff Allow() would let a call through now; changes nothing.
  bool WouldAllow() const;
  remote::BreakerState state() const;
  // Number of state changes so far.
  uint64_t transitions() const { return transitions_.load(); }

 private:
  void MoveTo(remote::BreakerState s);  // REQUIRES: mu_ held

  const Options options_;
  const Clock* clock_;
  mutable std::mutex mu_;
  remote::BreakerState state_ = remote::BreakerState::kClosed;
  int consecutive_failures_ = 0;
  Clock::TimePoint opened_at_{};
  bool probe_in_flight_ = false;
  std::atomic<uint64_t> transitions_{0};
};

}  // namespace mitos::internal

#endif  // MITOS_REMOTE_BREAKER_H_
