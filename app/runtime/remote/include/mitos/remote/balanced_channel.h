// A remote module that runs as several replicas: one channel per replica,
// and the calls spread over them.
#ifndef MITOS_REMOTE_BALANCED_CHANNEL_H_
#define MITOS_REMOTE_BALANCED_CHANNEL_H_

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "mitos/remote/http_channel.h"
#include "mitos/remote/remote.h"

namespace mitos::internal {

// Splits a remote's URL setting into its replicas' URLs: one URL, or
// several separated by commas ("http://users-0:8080,http://users-1:8080"),
// spaces around each ignored. Returns an empty list when any part is not a
// URL ParseHttpUrl accepts, or a URL appears twice.
std::vector<std::string> SplitReplicaUrls(const std::string& setting);

// Round-robin over the replicas' channels, each with its own connections,
// retries and circuit breaker. A call goes to the next replica whose
// breaker lets calls through; when none does, to the next one anyway, and
// it fails fast there (Unavailable). An idempotent call that a replica
// answers with Unavailable (it could not be reached, or its breaker opened)
// is made once more on another replica that lets calls through, within the
// same deadline; a call that is not idempotent is not, since it may have
// reached the first one. So a replica that dies costs the calls in flight
// to it and those it gets before its breaker opens.
//
// url() is the replicas' URLs joined by ","; breaker_state() is kClosed
// while any replica's breaker is closed, else kHalfOpen while any is half
// open, else kOpen.
class BalancedChannel : public remote::Channel {
 public:
  // REQUIRES: replicas is not empty.
  explicit BalancedChannel(std::vector<std::shared_ptr<HttpChannel>> replicas);

  StatusOr<remote::Response> Call(const remote::Request& request) override;
  void CallAsync(remote::Request request, Callback done) override;
  const std::string& url() const override { return url_; }
  remote::BreakerState breaker_state() const override;

  const std::vector<std::shared_ptr<HttpChannel>>& replicas() const {
    return replicas_;
  }

 private:
  // The replica for the next call: the next in turn whose breaker lets
  // calls through, else the next in turn.
  size_t Pick();
  // Another replica than `tried` whose breaker lets calls through, or
  // `tried` when there is none.
  size_t Other(size_t tried) const;

  const std::vector<std::shared_ptr<HttpChannel>> replicas_;
  const std::string url_;
  std::atomic<size_t> next_{0};
};

}  // namespace mitos::internal

#endif  // MITOS_REMOTE_BALANCED_CHANNEL_H_
