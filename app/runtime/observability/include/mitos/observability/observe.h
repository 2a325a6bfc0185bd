// Observing calls between modules, the same way whether the callee runs in
// this process or elsewhere (only the `binding` label and the span kind
// differ).
//
// A module that offers an API to others ships a decorator of that API whose
// methods wrap the real ones in CallSite::Observe. The runtime wraps the API
// it hands to a caller in that decorator, built for the caller, the callee
// and the binding; the caller sees the plain interface. Each call then
// records:
//   - a span "<callee>.<Method>": kind client when remote (it is the parent
//     of the callee's server span), internal when local;
//   - mitos_module_calls_total, mitos_module_call_errors_total (by status
//     code) and mitos_module_call_duration_seconds, labelled caller, callee,
//     method and binding (local|remote).
#ifndef MITOS_OBSERVABILITY_OBSERVE_H_
#define MITOS_OBSERVABILITY_OBSERVE_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include "mitos/base/status.h"
#include "mitos/observability/trace.h"

namespace mitos {

class CallSite {
 public:
  CallSite(std::string caller, std::string callee, bool remote);

  const std::string& caller() const { return caller_; }
  const std::string& callee() const { return callee_; }
  bool remote() const { return remote_; }

  // One call in progress: started by the constructor, recorded by Finish
  // (or as an internal error if it is never called).
  class Call {
   public:
    Call(const CallSite& site, std::string_view method);
    ~Call();
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;
    void Finish(const Status& status);
    // For a call that ends later (see trace::Span::Detach).
    void Detach() { span_.Detach(); }

   private:
    const CallSite& site_;
    std::string_view method_;
    std::chrono::steady_clock::time_point start_;
    trace::Span span_;
    bool finished_ = false;
  };

  // Runs fn() as one call of `method` and returns its result, a Status or
  // a StatusOr<T>. `method` must be a string literal (it is kept).
  template <typename F>
  auto Observe(std::string_view method, F&& fn) -> decltype(fn()) {
    Call call(*this, method);
    auto result = fn();
    if constexpr (std::is_same_v<decltype(result), Status>) {
      call.Finish(result);
    } else {
      call.Finish(result.ok() ? Status::Ok() : result.status());
    }
    return result;
  }

 private:
  const std::string caller_;
  const std::string callee_;
  const bool remote_;
};

// Returns the name of a status code as used in metric labels ("ok",
// "not_found", "unavailable", ...).
const char* StatusCodeLabel(StatusCode code);

}  // namespace mitos

#endif  // MITOS_OBSERVABILITY_OBSERVE_H_
