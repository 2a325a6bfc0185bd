#include "mitos/limits/rate_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace mitos::limits {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const Clock::time_point kT0 = Clock::time_point() + std::chrono::hours(1);

std::string Key(const char* prefix, int i) {
  std::string k = prefix;
  k += std::to_string(i);
  return k;
}

TEST(RateLimiterTest, ABurstPassesThenRequestsAreRefused) {
  RateLimiter rl({.rate = 1, .burst = 3});
  for (int i = 0; i < 3; ++i) {
    Decision d = rl.Take("a", kT0);
    ASSERT_TRUE(d.allowed) << i;
    EXPECT_EQ(d.limit, 3);
    EXPECT_EQ(d.remaining, 2 - i);
    EXPECT_EQ(d.retry_after, seconds(0));
    EXPECT_EQ(d.reset, seconds(i + 1));  // one token back a second
  }
  Decision d = rl.Take("a", kT0);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.limit, 3);
  EXPECT_EQ(d.remaining, 0);
  EXPECT_EQ(d.retry_after, seconds(1));
  EXPECT_EQ(d.reset, seconds(3));
}

TEST(RateLimiterTest, TokensComeBackAtTheRate) {
  RateLimiter rl({.rate = 2, .burst = 4});
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(rl.Take("k", kT0).allowed);
  EXPECT_FALSE(rl.Take("k", kT0).allowed);
  // 0.25 s: half a token; the next one is 0.25 s away, rounded up to 1 s.
  Decision d = rl.Take("k", kT0 + milliseconds(250));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after, seconds(1));
  EXPECT_EQ(d.reset, seconds(2));  // 3.5 tokens at 2/s: 1.75 s
  // 0.5 s: one token.
  d = rl.Take("k", kT0 + milliseconds(500));
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 0);
  EXPECT_FALSE(rl.Take("k", kT0 + milliseconds(500)).allowed);
  // 1.75 s more: 3.5 tokens; one taken leaves 2.5.
  d = rl.Take("k", kT0 + milliseconds(2250));
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 2);
  EXPECT_EQ(d.reset, seconds(1));  // 1.5 tokens at 2/s: 0.75 s
  // Long idle: full again, never beyond the burst.
  d = rl.Take("k", kT0 + seconds(3600));
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 3);
}

TEST(RateLimiterTest, ASlowRateGivesALongRetryAfter) {
  RateLimiter rl({.rate = 0.1, .burst = 1});  // one request every 10 s
  EXPECT_TRUE(rl.Take("k", kT0).allowed);
  Decision d = rl.Take("k", kT0 + seconds(3));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after, seconds(7));
  EXPECT_EQ(d.reset, seconds(7));
  EXPECT_TRUE(rl.Take("k", kT0 + seconds(10)).allowed);
}

TEST(RateLimiterTest, AClockThatGoesBackDoesNotRefill) {
  RateLimiter rl({.rate = 1, .burst = 1});
  EXPECT_TRUE(rl.Take("k", kT0 + seconds(5)).allowed);
  EXPECT_FALSE(rl.Take("k", kT0).allowed);
  EXPECT_FALSE(rl.Take("k", kT0 + milliseconds(5500)).allowed);
  EXPECT_TRUE(rl.Take("k", kT0 + seconds(6)).allowed);
}

TEST(RateLimiterTest, KeysAreIndependent) {
  RateLimiter rl({.rate = 1, .burst = 2});
  EXPECT_TRUE(rl.Take("alice", kT0).allowed);
  EXPECT_TRUE(rl.Take("alice", kT0).allowed);
  EXPECT_FALSE(rl.Take("alice", kT0).allowed);
  Decision d = rl.Take("bob", kT0);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 1);
  EXPECT_FALSE(rl.Take("alice", kT0).allowed);
  EXPECT_EQ(rl.size(), 2u);
}

TEST(RateLimiterTest, UnlimitedAllowsEverythingAndKeepsNothing) {
  RateLimiter rl({.rate = 0, .burst = 5});
  for (int i = 0; i < 1000; ++i) {
    Decision d = rl.Take(Key("k", i % 7), kT0);
    ASSERT_TRUE(d.allowed);
    EXPECT_EQ(d.limit, 0);
    EXPECT_EQ(d.retry_after, seconds(0));
  }
  EXPECT_EQ(rl.size(), 0u);
}

TEST(RateLimiterTest, ABurstBelowOneCountsAsOne) {
  RateLimiter rl({.rate = 5, .burst = 0});
  Decision d = rl.Take("k", kT0);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.limit, 1);
  EXPECT_FALSE(rl.Take("k", kT0).allowed);
}

TEST(RateLimiterTest, TheKeyCountIsBounded) {
  RateLimiter rl({.rate = 1, .burst = 5}, /*max_keys=*/100);
  for (int i = 0; i < 10000; ++i) {
    rl.Take(Key("client-", i), kT0 + milliseconds(i));
    ASSERT_LE(rl.size(), 100u) << i;
  }
  EXPECT_EQ(rl.size(), 100u);
}

TEST(RateLimiterTest, AShardedLimiterIsBoundedToo) {
  RateLimiter rl({.rate = 10, .burst = 10}, /*max_keys=*/5000);
  for (int i = 0; i < 50000; ++i) rl.Take(Key("client-", i), kT0);
  EXPECT_LE(rl.size(), 5000u);
  EXPECT_GT(rl.size(), 4500u);  // the shards fill evenly
}

TEST(RateLimiterTest, AFullLimiterDropsARefilledBucketFirst) {
  RateLimiter rl({.rate = 1, .burst = 2}, /*max_keys=*/3);
  ASSERT_TRUE(rl.Take("a", kT0).allowed);
  ASSERT_TRUE(rl.Take("a", kT0).allowed);  // a: empty, least recently used
  const auto t1 = kT0 + milliseconds(500);
  ASSERT_TRUE(rl.Take("b", t1).allowed);   // b: 1 token
  ASSERT_TRUE(rl.Take("c", t1).allowed);
  ASSERT_TRUE(rl.Take("c", t1).allowed);   // c: empty
  // At t2, b is full again (1 + 1), a holds 1.5 and c 1.
  const auto t2 = kT0 + milliseconds(1500);
  ASSERT_TRUE(rl.Take("d", t2).allowed);
  EXPECT_EQ(rl.size(), 3u);
  // a kept its state: 1.5 tokens, one taken leaves none whole. Dropped, it
  // would have started over with 2.
  Decision a = rl.Take("a", t2);
  EXPECT_TRUE(a.allowed);
  EXPECT_EQ(a.remaining, 0);
  // c kept its state too: 1 token.
  Decision c = rl.Take("c", t2);
  EXPECT_TRUE(c.allowed);
  EXPECT_EQ(c.remaining, 0);
}

TEST(RateLimiterTest, AFullLimiterElseDropsTheLeastRecentlyUsed) {
  RateLimiter rl({.rate = 1, .burst = 1}, /*max_keys=*/3);
  for (const char* k : {"a", "b", "c"}) ASSERT_TRUE(rl.Take(k, kT0).allowed);
  EXPECT_FALSE(rl.Take("a", kT0).allowed);  // a used again: b is the oldest
  EXPECT_TRUE(rl.Take("d", kT0).allowed);   // drops b
  EXPECT_FALSE(rl.Take("a", kT0).allowed);  // kept: still empty
  EXPECT_FALSE(rl.Take("d", kT0).allowed);
  // b starts over (and drops c, now the least recently used).
  EXPECT_TRUE(rl.Take("b", kT0).allowed);
  EXPECT_TRUE(rl.Take("c", kT0).allowed);
  EXPECT_EQ(rl.size(), 3u);
}

TEST(RateLimiterTest, ConcurrentTakesKeepExactCounts) {
  // A frozen clock: exactly the burst of the shared key passes, however
  // the threads interleave; each thread's own key passes exactly its own
  // takes (under its burst).
  constexpr int kThreads = 8;
  constexpr int kTakes = 20000;
  RateLimiter rl({.rate = 1, .burst = 1000});
  std::atomic<int> shared_allowed{0};
  std::atomic<int> own_allowed{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      const std::string own = Key("own-", t);
      for (int i = 0; i < kTakes; ++i) {
        if (rl.Take("shared", kT0).allowed) ++shared_allowed;
        if (i % 40 == 0 && rl.Take(own, kT0).allowed) ++own_allowed;
        rl.Take(Key("spread-", i % 500), kT0);
      }
    });
  }
  go.store(true);
  for (auto& th : threads) th.join();
  EXPECT_EQ(shared_allowed.load(), 1000);
  EXPECT_EQ(own_allowed.load(), kThreads * (kTakes / 40));
  EXPECT_EQ(rl.Take("shared", kT0).remaining, 0);
}

}  // namespace
}  // namespace mitos::limits
