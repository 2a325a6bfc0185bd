// What a request carries through module calls and across processes: its
// id, its caller, its W3C tracestate, and its deadline (the current span is
// kept by mitos/trace.h). The runtime installs
// the context of the request a thread is serving; remote bindings read it
// to propagate headers, and any code may check the deadline before doing
// work that would be wasted.
#ifndef MITOS_BASE_CONTEXT_H_
#define MITOS_BASE_CONTEXT_H_

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mitos {

// Who a request acts for, as the runtime established it where the request
// entered (a verified bearer token, or the identity a calling service
// vouched for). Modules' services decide on it what a caller may see and
// change; HTTP code never does.
struct Caller {
  enum class Kind {
    // The instance itself: event handlers, start-up, and every request when
    // auth is off. May do anything.
    kInternal,
    // A request that presented no credentials.
    kAnonymous,
    // An end user: `subject` is the token's sub, `scopes` its scopes.
    kUser,
  };
  Kind kind = Kind::kInternal;
  std::string subject;
  std::vector<std::string> scopes;

  static Caller Anonymous() { return Caller{Kind::kAnonymous, {}, {}}; }
  static Caller User(std::string sub, std::vector<std::string> scopes) {
    return Caller{Kind::kUser, std::move(sub), std::move(scopes)};
  }

  bool internal() const { return kind == Kind::kInternal; }
  // Returns true iff the caller holds `scope` (an internal caller holds
  // every scope).
  bool Has(std::string_view scope) const {
    return internal() ||
           std::find(scopes.begin(), scopes.end(), scope) != scopes.end();
  }
  // Returns the user id the caller's subject names (a positive decimal
  // integer, as the users module assigns them), or 0 for any other caller.
  int64_t UserId() const {
    if (kind != Kind::kUser || subject.empty() || subject.size() > 18 ||
        subject[0] == '0') {
      return 0;
    }
    int64_t id = 0;
    for (char c : subject) {
      if (c < '0' || c > '9') return 0;
      id = id * 10 + (c - '0');
    }
    return id;
  }
  // Returns true iff the caller may act on the object owned by the user
  // with id `owner`: the instance itself, that user (sub == the id in
  // decimal), or a holder of `admin_scope`.
  bool MayActFor(int64_t owner, std::string_view admin_scope) const {
    return Has(admin_scope) || (owner > 0 && UserId() == owner);
  }
};

struct RequestContext {
  using Clock = std::chrono::steady_clock;

  std::string request_id;   // X-Request-Id
  // Outside a request (event handlers, start-up) the caller is the
  // instance itself; the runtime sets it for every request it serves.
  Caller caller;
  std::string tracestate;   // W3C tracestate, passed on untouched
  Clock::time_point deadline = Clock::time_point::max();

  bool has_deadline() const { return deadline != Clock::time_point::max(); }
  // Returns true iff the deadline has passed.
  bool Expired() const { return has_deadline() && Clock::now() >= deadline; }
  // Returns the time left before the deadline (zero once it passed), or
  // `fallback` when there is no deadline.
  std::chrono::milliseconds Remaining(std::chrono::milliseconds fallback) const;

  // Returns the context of the request this thread is serving, or an empty
  // context (no id, no deadline) outside of a request.
  static const RequestContext& Current();
};

// Makes `ctx` the current context of this thread for the scope's lifetime.
class ContextScope {
 public:
  explicit ContextScope(const RequestContext* ctx);
  ~ContextScope();
  ContextScope(const ContextScope&) = delete;
  ContextScope& operator=(const ContextScope&) = delete;

 private:
  const RequestContext* previous_;
};

// The header that carries the remaining deadline between processes, in
// milliseconds relative to the moment the request is sent (relative, so
// that clock skew between hosts does not matter).
inline constexpr const char* kDeadlineHeader = "X-Mitos-Deadline-Ms";

// The header that carries a calling instance's service token (see
// mitos/auth/service_token.h): who calls, and for which end user. Edges
// drop it from what comes from outside.
inline constexpr const char* kServiceTokenHeader = "Mitos-Service-Token";

}  // namespace mitos

#endif  // MITOS_BASE_CONTEXT_H_
