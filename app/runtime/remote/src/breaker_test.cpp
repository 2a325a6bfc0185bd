#include "mitos/remote/breaker.h"

#include <gtest/gtest.h>

#include "fake_clock.h"

namespace mitos::internal {
namespace {

using remote::BreakerState;
using std::chrono::milliseconds;

class BreakerTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  CircuitBreaker breaker_{{3, milliseconds(1000)}, &clock_};
};

TEST_F(BreakerTest, StartsClosedAndToleratesFewerFailuresThanTheThreshold) {
  EXPECT_EQ(breaker_.state(), BreakerState::kClosed);
  breaker_.OnFailure();
  breaker_.OnFailure();
  EXPECT_EQ(breaker_.state(), BreakerState::kClosed);
  EXPECT_TRUE(breaker_.Allow());
}

TEST_F(BreakerTest, SuccessResetsTheFailureCount) {
  breaker_.OnFailure();
  breaker_.OnFailure();
  breaker_.OnSuccess();
  breaker_.OnFailure();
  breaker_.OnFailure();
  EXPECT_EQ(breaker_.state(), BreakerState::kClosed);
}

TEST_F(BreakerTest, OpensAtTheThresholdAndRefusesCalls) {
  for (int i = 0; i < 3; ++i) breaker_.OnFailure();
  EXPECT_EQ(breaker_.state(), BreakerState::kOpen);
  EXPECT_FALSE(breaker_.Allow());
  clock_.Advance(milliseconds(999));
  EXPECT_FALSE(breaker_.Allow());
  EXPECT_EQ(breaker_.transitions(), 1u);
}

TEST_F(BreakerTest, HalfOpenLetsOneProbeThrough) {
  for (int i = 0; i < 3; ++i) breaker_.OnFailure();
  clock_.Advance(milliseconds(1000));
  EXPECT_TRUE(breaker_.Allow());
  EXPECT_EQ(breaker_.state(), BreakerState::kHalfOpen);
  EXPECT_FALSE(breaker_.Allow()) << "a second probe while one is in flight";
}

TEST_F(BreakerTest, ProbeSuccessCloses) {
  for (int i = 0; i < 3; ++i) breaker_.OnFailure();
  clock_.Advance(milliseconds(1000));
  ASSERT_TRUE(breaker_.Allow());
  breaker_.OnSuccess();
  EXPECT_EQ(breaker_.state(), BreakerState::kClosed);
  EXPECT_TRUE(breaker_.Allow());
  EXPECT_TRUE(breaker_.Allow());
  EXPECT_EQ(breaker_.transitions(), 3u);  // open, half-open, closed
}

TEST_F(BreakerTest, ProbeFailureReopensForAnotherFullPeriod) {
  for (int i = 0; i < 3; ++i) breaker_.OnFailure();
  clock_.Advance(milliseconds(1000));
  ASSERT_TRUE(breaker_.Allow());
  clock_.Advance(milliseconds(300));
  breaker_.OnFailure();
  EXPECT_EQ(breaker_.state(), BreakerState::kOpen);
  clock_.Advance(milliseconds(999));
  EXPECT_FALSE(breaker_.Allow());
  clock_.Advance(milliseconds(1));
  EXPECT_TRUE(breaker_.Allow());
}

}  // namespace
}  // namespace mitos::internal
