#include "mitos/limits/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

namespace mitos::limits {
namespace {

// Enough shards that a few cores rarely meet on one lock. A small bound
// gets fewer (down to one), so that every shard holds enough buckets for
// its choice of which to drop to mean something.
constexpr size_t kMaxShards = 16;
constexpr size_t kMinBucketsPerShard = 64;
// How many of a full shard's least recently used buckets are looked at for
// one that has refilled completely. Bounded, so that a flood of new keys
// (spoofed addresses, say) costs the same per request however many buckets
// are held; the least recently used are the ones most likely to be full.
constexpr int kEvictScan = 16;
// Refill is computed in double seconds; without slack, 0.1 s at 10/s could
// come out a hair under one token.
constexpr double kEpsilon = 1e-9;
// Far beyond any useful reset, and far from overflowing the int64 count.
constexpr double kMaxSeconds = 1e9;

std::chrono::seconds CeilSeconds(double s) {
  if (!(s > kEpsilon)) return std::chrono::seconds(0);
  s = std::min(s, kMaxSeconds);
  return std::chrono::seconds(static_cast<int64_t>(std::ceil(s - kEpsilon)));
}

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

struct Bucket {
  std::string key;
  double tokens;
  Clock::time_point last;  // of the last refill; never moves back
};

}  // namespace

struct alignas(64) RateLimiter::Shard {
  std::mutex mu;
  size_t capacity = 1;
  std::list<Bucket> lru;  // most recently used first
  // Keys view the strings of `lru`, whose nodes never move.
  std::unordered_map<std::string_view, std::list<Bucket>::iterator> index;
};

RateLimiter::RateLimiter(BucketPolicy policy, size_t max_keys)
    : policy_(policy), burst_(std::max(1.0, policy.burst)) {
  max_keys = std::max<size_t>(1, max_keys);
  while (shard_count_ * 2 <= kMaxShards &&
         max_keys / (shard_count_ * 2) >= kMinBucketsPerShard) {
    shard_count_ *= 2;
  }
  shards_ = std::make_unique<Shard[]>(shard_count_);
  // The bound is split exactly, so that all shards together hold at most
  // max_keys.
  for (size_t i = 0; i < shard_count_; ++i) {
    shards_[i].capacity = max_keys / shard_count_ + (i < max_keys % shard_count_ ? 1 : 0);
  }
}

RateLimiter::~RateLimiter() = default;

Decision RateLimiter::Take(std::string_view key, Clock::time_point now) {
  Decision d;
  if (!(policy_.rate > 0)) return d;
  const double rate = policy_.rate;
  // The map hashes the same value: shard on other bits than it buckets on.
  const uint64_t h = std::hash<std::string_view>{}(key) * 0x9E3779B97F4A7C15ull;
  Shard& s = shards_[(h >> 40) & (shard_count_ - 1)];

  // Brings a bucket's tokens up to `now`.
  auto refill = [&](Bucket& b) {
    if (now <= b.last) return;
    b.tokens = std::min(burst_, b.tokens + Seconds(now - b.last) * rate);
    b.last = now;
  };
  auto full = [&](const Bucket& b) {
    double t = b.tokens;
    if (now > b.last) t += Seconds(now - b.last) * rate;
    return t >= burst_ - kEpsilon;
  };

  std::lock_guard<std::mutex> lock(s.mu);
  Bucket* b = nullptr;
  if (auto it = s.index.find(key); it != s.index.end()) {
    s.lru.splice(s.lru.begin(), s.lru, it->second);
    b = &*it->second;
    refill(*b);
  } else {
    if (s.index.size() >= s.capacity && !s.lru.empty()) {
      auto victim = std::prev(s.lru.end());
      auto candidate = victim;
      for (int i = 0; i < kEvictScan; ++i) {
        if (full(*candidate)) {
          victim = candidate;
          break;
        }
        if (candidate == s.lru.begin()) break;
        --candidate;
      }
      s.index.erase(std::string_view(victim->key));
      s.lru.erase(victim);
    }
    s.lru.push_front(Bucket{std::string(key), burst_, now});
    s.index.emplace(std::string_view(s.lru.front().key), s.lru.begin());
    b = &s.lru.front();
  }

  d.limit = static_cast<int64_t>(std::floor(burst_));
  if (b->tokens >= 1 - kEpsilon) {
    b->tokens = std::max(0.0, b->tokens - 1);
    d.allowed = true;
  } else {
    d.allowed = false;
    d.retry_after = std::max(std::chrono::seconds(1), CeilSeconds((1 - b->tokens) / rate));
  }
  d.remaining = static_cast<int64_t>(std::floor(b->tokens + kEpsilon));
  d.reset = CeilSeconds((burst_ - b->tokens) / rate);
  return d;
}

size_t RateLimiter::size() const {
  size_t n = 0;
  for (size_t i = 0; i < shard_count_; ++i) {
    std::lock_guard<std::mutex> lock(shards_[i].mu);
    n += shards_[i].index.size();
  }
  return n;
}

}  // namespace mitos::limits
