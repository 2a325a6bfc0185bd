#include "mitos/remote/breaker.h"

namespace mitos::internal {

CircuitBreaker::CircuitBreaker(Options options, const Clock* clock)
    : options_(options), clock_(clock) {}

bool CircuitBreaker::Allow() {
  std::lock_guard<std::mutex> lock(mu_);
  switch (state_) {
    case remote::BreakerState::kClosed:
      return true;
    case remote::BreakerState::kOpen:
      if (clock_->Now() - opened_at_ < options_.open_for) return false;
      MoveTo(remote::BreakerState::kHalfOpen);
      probe_in_flight_ = true;
      return true;
    case remote::BreakerState::kHalfOpen:
      if (probe_in_flight_) return false;
      probe_in_flight_ = true;
      return true;
  }
  return false;
}

void CircuitBreaker::OnSuccess() {
  std::lock_guard<std::mutex> lock(mu_);
  consecutive_failures_ = 0;
  probe_in_flight_ = false;
  if (state_ != remote::BreakerState::kClosed) {
    MoveTo(remote::BreakerState::kClosed);
  }
}

void CircuitBreaker::OnFailure() {
  std::lock_guard<std::mutex> lock(mu_);
  probe_in_flight_ = false;
  ++consecutive_failures_;
  if (state_ == remote::BreakerState::kHalfOpen ||
      (state_ == remote::BreakerState::kClosed &&
       consecutive_failures_ >= options_.failure_threshold)) {
    opened_at_ = clock_->Now();
    MoveTo(remote::BreakerState::kOpen);
  }
}

bool CircuitBreaker::WouldAllow() const {
  std::lock_guard<std::mutex> lock(mu_);
  switch (state_) {
    case remote::BreakerState::kClosed:
      return true;
    case remote::BreakerState::kOpen:
      return clock_->Now() - opened_at_ >= options_.open_for;
    case remote::BreakerState::kHalfOpen:
      return !probe_in_flight_;
  }
  return false;
}

remote::BreakerState CircuitBreaker::state() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

void CircuitBreaker::MoveTo(remote::BreakerState s) {
  state_ = s;
  transitions_.fetch_add(1);
}

}  // namespace mitos::internal
