#include "mitos/limits/shedder.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace mitos::limits {
namespace {

using std::chrono::milliseconds;

const Clock::time_point kT0 = Clock::time_point() + std::chrono::hours(1);

// CoDel alone, without the hard cap.
ShedderOptions CodelOnly() {
  ShedderOptions o;
  o.max_queue_time = milliseconds(0);
  return o;
}

TEST(ShedderTest, NothingIsShedBelowTheTarget) {
  Shedder s(ShedderOptions{});
  for (int i = 0; i < 2000; ++i) {
    ASSERT_FALSE(s.ShouldShed(milliseconds(4), kT0 + milliseconds(i))) << i;
  }
  EXPECT_EQ(s.shed(), 0u);
  EXPECT_FALSE(s.overloaded());
}

TEST(ShedderTest, ABurstShorterThanAnIntervalIsAbsorbed) {
  Shedder s(CodelOnly());
  // Waits above the target, but the interval also saw a short one: the
  // queue drained meanwhile, nothing stands.
  for (int round = 0; round < 10; ++round) {
    const auto start = kT0 + milliseconds(100 * round);
    ASSERT_FALSE(s.ShouldShed(milliseconds(1), start));
    for (int i = 1; i < 100; ++i) {
      ASSERT_FALSE(s.ShouldShed(milliseconds(30), start + milliseconds(i)))
          << round << " " << i;
    }
  }
  EXPECT_EQ(s.shed(), 0u);
}

TEST(ShedderTest, ShedsOnceTheQueueStoodAboveTheTargetForAWholeInterval) {
  Shedder s(CodelOnly());
  // The first interval: every request waits 20 ms, none is shed yet.
  for (int i = 0; i < 100; ++i) {
    ASSERT_FALSE(s.ShouldShed(milliseconds(20), kT0 + milliseconds(i))) << i;
  }
  // Its minimum was above the target: from now on, waits above it shed.
  EXPECT_TRUE(s.ShouldShed(milliseconds(20), kT0 + milliseconds(100)));
  EXPECT_TRUE(s.overloaded());
  EXPECT_TRUE(s.ShouldShed(milliseconds(6), kT0 + milliseconds(101)));
  // A request that hardly waited is served even now.
  EXPECT_FALSE(s.ShouldShed(milliseconds(2), kT0 + milliseconds(102)));
  EXPECT_EQ(s.shed(), 2u);
}

TEST(ShedderTest, SheddingStopsWhenQueueTimesFall) {
  Shedder s(CodelOnly());
  int t = 0;
  for (; t <= 150; ++t) s.ShouldShed(milliseconds(20), kT0 + milliseconds(t));
  ASSERT_TRUE(s.overloaded());
  ASSERT_GT(s.shed(), 0u);
  // From 151 ms on the queue is short: the interval [100, 200) then has a
  // minimum of 1 ms, and its end at 200 ms ends the shedding.
  for (; t < 200; ++t) {
    EXPECT_FALSE(s.ShouldShed(milliseconds(1), kT0 + milliseconds(t))) << t;
  }
  EXPECT_FALSE(s.ShouldShed(milliseconds(1), kT0 + milliseconds(200)));
  EXPECT_FALSE(s.overloaded());
  const uint64_t shed = s.shed();
  // A long wait alone (no standing queue for an interval) is served.
  EXPECT_FALSE(s.ShouldShed(milliseconds(40), kT0 + milliseconds(201)));
  EXPECT_EQ(s.shed(), shed);
}

TEST(ShedderTest, AnIntervalOfShortWaitsAfterOverloadEndsShedding) {
  Shedder s(CodelOnly());
  for (int t = 0; t < 200; ++t) s.ShouldShed(milliseconds(20), kT0 + milliseconds(t));
  // The interval [100, 200) stood above the target; the one ending at
  // 300 ms (short waits only) does not.
  for (int t = 200; t < 300; ++t) s.ShouldShed(milliseconds(1), kT0 + milliseconds(t));
  EXPECT_TRUE(s.overloaded());
  EXPECT_FALSE(s.ShouldShed(milliseconds(1), kT0 + milliseconds(300)));
  EXPECT_FALSE(s.overloaded());
  EXPECT_FALSE(s.ShouldShed(milliseconds(20), kT0 + milliseconds(301)));
}

TEST(ShedderTest, AWaitBeyondMaxQueueTimeIsAlwaysShed) {
  ShedderOptions o;
  o.max_queue_time = milliseconds(100);
  Shedder s(o);
  EXPECT_TRUE(s.ShouldShed(milliseconds(150), kT0));  // the very first one
  EXPECT_FALSE(s.overloaded());
  EXPECT_FALSE(s.ShouldShed(milliseconds(100), kT0 + milliseconds(1)));
  EXPECT_FALSE(s.ShouldShed(milliseconds(1), kT0 + milliseconds(2)));
  EXPECT_TRUE(s.ShouldShed(milliseconds(101), kT0 + milliseconds(3)));
  EXPECT_EQ(s.shed(), 2u);
}

TEST(ShedderTest, DisabledNeverSheds) {
  ShedderOptions o;
  o.enabled = false;
  Shedder s(o);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_FALSE(s.ShouldShed(std::chrono::seconds(1), kT0 + milliseconds(i)));
  }
  EXPECT_EQ(s.shed(), 0u);
}

TEST(ShedderTest, ConcurrentCallersCountEveryShed) {
  ShedderOptions o;
  o.max_queue_time = milliseconds(100);
  Shedder s(o);
  constexpr int kThreads = 8;
  std::atomic<uint64_t> shed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i) {
        auto waited = milliseconds((i + t) % 3 == 0 ? 150 : 2);
        if (s.ShouldShed(waited)) ++shed;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(s.shed(), shed.load());
  EXPECT_GE(shed.load(), kThreads * 20000u / 3);  // every one past the cap
}

}  // namespace
}  // namespace mitos::limits
