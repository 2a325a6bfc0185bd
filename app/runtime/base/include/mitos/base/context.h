// What a request carries through module calls and across processes: its
// identity, its W3C tracestate, and its deadline (the current span is kept
// by mitos/trace.h). The runtime installs
// the context of the request a thread is serving; remote bindings read it
// to propagate headers, and any code may check the deadline before doing
// work that would be wasted.
#ifndef MITOS_BASE_CONTEXT_H_
#define MITOS_BASE_CONTEXT_H_

#include <chrono>
#include <string>

namespace mitos {

struct RequestContext {
  using Clock = std::chrono::steady_clock;

  std::string request_id;   // X-Request-Id
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

}  // namespace mitos

#endif  // MITOS_BASE_CONTEXT_H_
