// The HTTP implementation of remote::Channel.
#ifndef MITOS_REMOTE_HTTP_CHANNEL_H_
#define MITOS_REMOTE_HTTP_CHANNEL_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include <optional>
#include <unordered_map>

#include "mitos/base/context.h"
#include "mitos/http/client_connection.h"
#include "mitos/io/event_loop.h"
#include "mitos/remote/breaker.h"
#include "mitos/remote/clock.h"
#include "mitos/remote/remote.h"
#include "mitos/remote/retry.h"

namespace mitos::internal {

struct ChannelOptions {
  std::string name;  // the remote module, for messages ("users")
  std::string url;   // "http://host:port"
  std::chrono::milliseconds attempt_timeout{1000};
  std::chrono::milliseconds default_deadline{10000};  // when none is set
  RetryOptions retry;
  CircuitBreaker::Options breaker;
  size_t pool_max_idle = 64;
  // Idempotent calls that one event loop starts in the same round share a
  // connection, this many at most, their requests written together and
  // their answers read together (HTTP/1.1 pipelining); 1 gives every call
  // a connection of its own.
  size_t pipeline_max = 8;
  // Pooled connections idle longer than this are not reused: servers close
  // idle keep-alive connections (Mitos after 5 s by default).
  std::chrono::milliseconds pool_idle_timeout{2000};
  // When set, makes the service token of each attempt (method and target
  // as sent), sent as kServiceTokenHeader. Called on the thread that
  // serializes the attempt, with the context of the call installed.
  std::function<std::string(std::string_view method, std::string_view target)>
      service_token;
};

// Parses "http://host:port" (a trailing "/" is allowed; the port defaults
// to 80). Returns false for anything else, https included.
bool ParseHttpUrl(const std::string& url, std::string* host, int* port);

class HttpChannel : public remote::Channel {
 public:
  // REQUIRES: ParseHttpUrl(options.url) succeeds.
  HttpChannel(ChannelOptions options, const Clock* clock);
  ~HttpChannel() override;

  StatusOr<remote::Response> Call(const remote::Request& request) override;
  // On a server event loop the call never blocks: connections come from a
  // pool per loop, and timers bound each attempt and the backoff.
  void CallAsync(remote::Request request, Callback done) override;
  const std::string& url() const override { return options_.url; }
  remote::BreakerState breaker_state() const override {
    return breaker_.state();
  }
  // True iff the breaker would let a call through now.
  bool Accepting() const { return breaker_.WouldAllow(); }

  uint64_t retries() const { return retries_.load(); }
  uint64_t breaker_transitions() const { return breaker_.transitions(); }
  size_t idle_connections() const;
  // Connections carrying calls right now.
  int64_t busy_connections() const { return busy_.load(); }

 private:
  struct LoopConnection;
  class AsyncCall;
  // The connections of one event loop: idle ones, and the one taking
  // idempotent calls in the current round.
  struct LoopPool {
    std::vector<std::shared_ptr<LoopConnection>> idle;
    std::shared_ptr<LoopConnection> open;
  };

  // Where one call stands across its attempts.
  struct Attempts {
    int attempt = 1;
    bool timed_out = false;
    bool stale_retried = false;
    std::optional<remote::Response> last_retryable;
  };
  // What follows an attempt.
  struct Decision {
    // kStale: again at once, on a fresh connection, dropping the idle
    // ones; kAgain: again at once, not counted as an attempt.
    enum Kind { kDone, kStale, kAgain, kRetry, kStop } kind;
    std::chrono::milliseconds wait;  // for kRetry
  };

  // The policy, shared by Call and CallAsync: whether an attempt may start
  // (deadline, breaker), its timeout, and what its outcome leads to.
  Status Admit(Clock::TimePoint deadline);
  std::chrono::milliseconds AttemptTimeout(Clock::TimePoint deadline) const;
  Decision AfterAttempt(HttpConnection::Outcome outcome, bool reused,
                        const remote::Request& in, Clock::TimePoint deadline,
                        remote::Response& res, Attempts& st);
  StatusOr<remote::Response> Final(Attempts& st) const;
  Clock::TimePoint DeadlineOf(const RequestContext& ctx) const;

  // The connection an attempt on `loop` queues its request on: the round's
  // shared one, an idle one, or a new one; nullptr if none can be opened.
  std::shared_ptr<LoopConnection> ConnectionFor(EventLoop* loop, bool idempotent);
  // Back to the idle connections of its loop, or closed.
  void Release(const std::shared_ptr<LoopConnection>& c);
  void DropIdle(EventLoop* loop);

  // Returns a pooled connection, or nullptr. With `probe`, the connection
  // is first checked for a close that arrived while it sat idle.
  std::unique_ptr<HttpConnection> TakeIdle(bool probe);
  void DropIdle();
  void Release(std::unique_ptr<HttpConnection> c);
  std::string Serialize(const remote::Request& in,
                        std::chrono::milliseconds propagated) const;

  const ChannelOptions options_;
  const Clock* clock_;
  std::string host_;
  int port_ = 80;
  CircuitBreaker breaker_;
  RetryBudget budget_;
  std::atomic<uint64_t> retries_{0};
  std::atomic<int64_t> busy_{0};
  mutable std::mutex pool_mu_;
  std::vector<std::unique_ptr<HttpConnection>> idle_;
  std::unordered_map<EventLoop*, LoopPool> loop_pools_;
  std::string host_header_;
};

}  // namespace mitos::internal

#endif  // MITOS_REMOTE_HTTP_CHANNEL_H_
