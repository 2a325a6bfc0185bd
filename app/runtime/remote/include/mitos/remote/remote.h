// Calls to a module that runs in another process.
//
// A Channel is a resilient HTTP connection to one remote module: pooled
// keep-alive connections, a deadline taken from the current request and
// propagated downstream, retries of idempotent calls with capped
// exponential backoff and full jitter within a retry budget, and a circuit
// breaker. A module's HTTP client implements the module's API on top of a
// Channel, so callers never see any of this.
#ifndef MITOS_REMOTE_REMOTE_H_
#define MITOS_REMOTE_REMOTE_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "mitos/base/status.h"
#include "mitos/http/http.h"
#include "mitos/http/rest.h"
#include "mitos/io/task.h"

namespace mitos::remote {

struct Request {
  std::string method;        // "GET", "POST", ...
  std::string target;        // path and query, e.g. "/users/7"
  std::string body;
  std::string content_type;  // for a body
  http::Headers headers;     // extra headers; identity headers are added
  // True iff repeating the request cannot change the outcome. Only such
  // requests are retried after they may have reached the remote; a
  // request that could not even connect is retried either way.
  bool idempotent = false;
};

// The remote's answer, whatever its status.
using Response = http::ClientResponse;

enum class BreakerState { kClosed, kOpen, kHalfOpen };
const char* BreakerStateName(BreakerState s);

class Channel {
 public:
  virtual ~Channel() = default;

  // Sends the request with the current request's identity (X-Request-Id,
  // traceparent, tracestate) and remaining deadline. Returns the remote's
  // response, whatever its status (when retries of a 502/503/504 run out,
  // the last such answer), or:
  //   Unavailable       the remote cannot be reached or the breaker is open;
  //   DeadlineExceeded  the deadline (or the attempt timeout) passed.
  // Never blocks past the deadline.
  virtual StatusOr<Response> Call(const Request& request) = 0;

  using Callback = std::function<void(StatusOr<Response>)>;
  // Calls without holding the thread when the caller runs on one of the
  // server's event loops (and not inside mitos::Wait): `done` runs later,
  // on that loop, with the caller's request context. Elsewhere (and by
  // default) it is Call, and `done` runs before CallAsync returns.
  virtual void CallAsync(Request request, Callback done) { done(Call(request)); }

  virtual const std::string& url() const = 0;
  virtual BreakerState breaker_state() const = 0;
};

// A call for operations written as coroutines (mitos/io/task.h):
//   StatusOr<Response> r = co_await remote::Call(channel, request);
// is Channel::CallAsync: on a server event loop the coroutine resumes on
// that loop when the answer is there; elsewhere the thread waits for it.
inline Completion<StatusOr<Response>> Call(Channel& channel, Request request) {
  return Completion<StatusOr<Response>>(
      [&channel, request = std::move(request)](
          std::function<void(StatusOr<Response>)> done) mutable {
        channel.CallAsync(std::move(request), std::move(done));
      });
}

// Returns a channel to `url` ("http://host:port") with the default
// resilience settings, for tools and tests; the runtime builds the channels
// of an instance from its config. REQUIRES: a valid URL.
std::shared_ptr<Channel> NewHttpChannel(const std::string& url);

// Maps an error response of a Mitos service back to a Status: 404 ->
// NotFound, 409 -> AlreadyExists (or FailedPrecondition when the problem
// type says invalid-state), 422 -> InvalidArgument with the field errors,
// 503 -> Unavailable (StorageUnavailable or StorageReadOnly when the type
// says so), 504 -> DeadlineExceeded, 507 -> InsufficientStorage, 500 with
// the storage-corrupt type -> StorageCorrupt, anything else -> Internal. So
// a module's HTTP client returns the Status its in-process implementation
// would.
Status StatusFromResponse(const Response& response);

// The remote side of mitos/http/rest.h, for the clients generated from
// contracts: the value of an answer with status `expected`, the Status its
// problem maps to, or Internal(`malformed`) when its body does not decode.
template <typename T>
StatusOr<T> Decoded(const Response& r, int expected, http::Decoder<T> decode,
                    const std::string& malformed) {
  if (r.status != expected) return StatusFromResponse(r);
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_object()) return Status::Internal(malformed);
  T out;
  std::vector<FieldError> errors;
  decode(j, "", &out, &errors, nullptr);
  if (!errors.empty()) return Status::Internal(malformed);
  return out;
}

// As Decoded, for a page of T.
template <typename T>
StatusOr<Page<T>> DecodedPage(const Response& r, http::Decoder<T> decode,
                              const std::string& malformed) {
  if (r.status != 200) return StatusFromResponse(r);
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("items") || !j["items"].is_array()) {
    return Status::Internal(malformed);
  }
  Page<T> page;
  for (const auto& item : j["items"]) {
    if (!item.is_object()) return Status::Internal(malformed);
    T v;
    std::vector<FieldError> errors;
    decode(item, "", &v, &errors, nullptr);
    if (!errors.empty()) return Status::Internal(malformed);
    page.items.push_back(std::move(v));
  }
  if (j.contains("next_after") && j["next_after"].is_number_integer()) {
    page.next_after = j["next_after"].get<int64_t>();
  }
  return page;
}

// As Decoded, for an answer without a body (204).
Status DecodedEmpty(const Response& r);

}  // namespace mitos::remote

#endif  // MITOS_REMOTE_REMOTE_H_
