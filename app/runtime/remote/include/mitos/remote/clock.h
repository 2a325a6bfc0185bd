// A clock that tests can control.
#ifndef MITOS_REMOTE_CLOCK_H_
#define MITOS_REMOTE_CLOCK_H_

#include <chrono>

namespace mitos::internal {

class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

class SteadyClock : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  static const SteadyClock* Get() {
    static const SteadyClock kClock;
    return &kClock;
  }
};

}  // namespace mitos::internal

#endif  // MITOS_REMOTE_CLOCK_H_
