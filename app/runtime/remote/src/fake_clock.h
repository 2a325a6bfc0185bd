// A clock that moves only when a test says so.
#ifndef MITOS_REMOTE_FAKE_CLOCK_H_
#define MITOS_REMOTE_FAKE_CLOCK_H_

#include "mitos/remote/clock.h"

namespace mitos::internal {

class FakeClock : public Clock {
 public:
  TimePoint Now() const override { return now_; }
  void Advance(std::chrono::milliseconds d) { now_ += d; }

 private:
  TimePoint now_ = TimePoint(std::chrono::hours(1000));
};

}  // namespace mitos::internal

#endif  // MITOS_REMOTE_FAKE_CLOCK_H_
