#include "mitos/remote/retry.h"

#include <gtest/gtest.h>

#include "fake_clock.h"

namespace mitos::internal {
namespace {

using std::chrono::milliseconds;

TEST(Backoff, StaysWithinTheCappedExponentialCeiling) {
  RetryOptions o;
  o.base = milliseconds(10);
  o.cap = milliseconds(70);
  std::mt19937_64 rng(7);
  const int64_t ceilings[] = {10, 20, 40, 70, 70, 70};
  for (int retry = 1; retry <= 6; ++retry) {
    int64_t seen_max = 0, seen_min = 1 << 30;
    for (int i = 0; i < 2000; ++i) {
      int64_t b = Backoff(retry, o, rng).count();
      ASSERT_GE(b, 0);
      ASSERT_LE(b, ceilings[retry - 1]) << "retry " << retry;
      seen_max = std::max(seen_max, b);
      seen_min = std::min(seen_min, b);
    }
    // Full jitter spreads over the whole range.
    EXPECT_GE(seen_max, ceilings[retry - 1] * 9 / 10) << "retry " << retry;
    EXPECT_LE(seen_min, ceilings[retry - 1] / 10) << "retry " << retry;
  }
}

TEST(Backoff, LargeRetryNumbersDoNotOverflow) {
  RetryOptions o;
  std::mt19937_64 rng(1);
  EXPECT_LE(Backoff(1000, o, rng), o.cap);
}

TEST(RetryBudget, AllowsTheMinimumWithNoTraffic) {
  FakeClock clock;
  RetryOptions o;
  o.budget_percent = 20;
  o.budget_min_per_second = 1;  // 10 over the 10 s window
  RetryBudget budget(o, &clock);
  int allowed = 0;
  for (int i = 0; i < 100; ++i) allowed += budget.TryRetry();
  EXPECT_EQ(allowed, 10);
}

TEST(RetryBudget, GrowsWithTrafficAtTheConfiguredRatio) {
  FakeClock clock;
  RetryOptions o;
  o.budget_percent = 20;
  o.budget_min_per_second = 0;
  RetryBudget budget(o, &clock);
  for (int i = 0; i < 500; ++i) budget.OnRequest();
  int allowed = 0;
  for (int i = 0; i < 1000; ++i) allowed += budget.TryRetry();
  EXPECT_EQ(allowed, 100);
}

TEST(RetryBudget, ForgetsTrafficOlderThanTheWindow) {
  FakeClock clock;
  RetryOptions o;
  o.budget_percent = 50;
  o.budget_min_per_second = 0;
  RetryBudget budget(o, &clock);
  for (int i = 0; i < 100; ++i) budget.OnRequest();
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(budget.TryRetry());
  EXPECT_FALSE(budget.TryRetry());
  clock.Advance(milliseconds(11000));
  EXPECT_FALSE(budget.TryRetry()) << "old requests no longer fund retries";
  budget.OnRequest();
  budget.OnRequest();
  EXPECT_TRUE(budget.TryRetry());
  EXPECT_FALSE(budget.TryRetry());
}

}  // namespace
}  // namespace mitos::internal
