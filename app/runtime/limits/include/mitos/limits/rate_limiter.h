// Token-bucket rate limits keyed by a string: a subject, a client address.
//
// Each key has a bucket of `burst` tokens that refills at `rate` tokens a
// second; a request takes one token, or is refused while none is left. A
// key seen for the first time starts with a full bucket. The answer carries
// what the RateLimit-* and Retry-After headers need.
//
// The limiter is thread-safe and sharded by key (up to 16 shards, each of
// at least 64 buckets; one below 128 keys), and holds at most `max_keys`
// buckets, split evenly among the shards. A shard that is full makes room
// for a new key by dropping a bucket that has refilled completely (it holds
// no state: a new bucket would start the same), looked for among its 16
// least recently used buckets, or else its least recently used bucket
// (whose key then starts over with a full bucket).
#ifndef MITOS_LIMITS_RATE_LIMITER_H_
#define MITOS_LIMITS_RATE_LIMITER_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace mitos::limits {

using Clock = std::chrono::steady_clock;

// `rate` tokens a second, `burst` tokens at most. rate <= 0: unlimited.
// With a rate, a burst below 1 counts as 1 (else nothing could pass).
struct BucketPolicy {
  double rate = 0;
  double burst = 0;
};

struct Decision {
  bool allowed = true;
  int64_t limit = 0;      // the burst (RateLimit-Limit / policy quota)
  int64_t remaining = 0;  // whole tokens left after this request
  // Seconds until the bucket is full again (RateLimit-Reset), rounded up.
  std::chrono::seconds reset{0};
  // When refused: seconds until one token is there, rounded up, >= 1.
  // 0 when allowed.
  std::chrono::seconds retry_after{0};
};

class RateLimiter {
 public:
  // A max_keys of 0 counts as 1.
  explicit RateLimiter(BucketPolicy policy, size_t max_keys = 100000);
  ~RateLimiter();
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Takes one token from `key`'s bucket at `now`. Unlimited policies allow
  // everything and keep no buckets (limit, remaining and reset are 0). A
  // `now` earlier than the bucket's last use counts as that time (clocks of
  // different callers may disagree slightly).
  Decision Take(std::string_view key, Clock::time_point now = Clock::now());

  const BucketPolicy& policy() const { return policy_; }

  // Number of buckets held now (for tests and metrics).
  size_t size() const;

 private:
  struct Shard;

  const BucketPolicy policy_;
  const double burst_;  // the policy's burst, at least 1
  size_t shard_count_ = 1;  // a power of two
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace mitos::limits

#endif  // MITOS_LIMITS_RATE_LIMITER_H_
