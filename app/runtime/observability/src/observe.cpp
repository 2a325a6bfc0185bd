#include "mitos/observability/observe.h"

#include "mitos/observability/metrics.h"

namespace mitos {
namespace {

struct CallMetrics {
  metrics::ChildFamily<metrics::Counter>& calls;
  metrics::ChildFamily<metrics::Counter>& errors;
  metrics::ChildFamily<metrics::Histogram>& latency;
};

const CallMetrics& Metrics() {
  static const CallMetrics m{
      metrics::Registry::Default().Counters(
          "mitos_module_calls_total",
          "Calls from one module to another's API, local or remote.",
          {"caller", "callee", "method", "binding"}),
      metrics::Registry::Default().Counters(
          "mitos_module_call_errors_total",
          "Module calls that returned an error, by status code.",
          {"caller", "callee", "method", "binding", "code"}),
      metrics::Registry::Default().Histograms(
          "mitos_module_call_duration_seconds",
          "Duration of module calls, retries and backoff included.",
          {"caller", "callee", "method", "binding"}),
  };
  return m;
}

std::string SpanName(const CallSite& site, std::string_view method) {
  std::string n = site.callee();
  n += '.';
  n += method;
  return n;
}

}  // namespace

const char* StatusCodeLabel(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidArgument: return "invalid_argument";
    case StatusCode::kNotFound: return "not_found";
    case StatusCode::kAlreadyExists: return "already_exists";
    case StatusCode::kFailedPrecondition: return "failed_precondition";
    case StatusCode::kPermissionDenied: return "permission_denied";
    case StatusCode::kUnavailable: return "unavailable";
    case StatusCode::kDeadlineExceeded: return "deadline_exceeded";
    case StatusCode::kInternal: return "internal";
    case StatusCode::kInsufficientStorage: return "insufficient_storage";
    case StatusCode::kStorageUnavailable: return "storage_unavailable";
    case StatusCode::kStorageReadOnly: return "storage_read_only";
    case StatusCode::kStorageCorrupt: return "storage_corrupt";
  }
  return "unknown";
}

CallSite::CallSite(std::string caller, std::string callee, bool remote)
    : caller_(std::move(caller)), callee_(std::move(callee)), remote_(remote) {
  Metrics();  // register the families before the first scrape
}

CallSite::Call::Call(const CallSite& site, std::string_view method)
    : site_(site),
      method_(method),
      start_(std::chrono::steady_clock::now()),
      span_(SpanName(site, method),
            site.remote() ? trace::Kind::kClient : trace::Kind::kInternal) {
  if (span_.recording()) {
    span_.SetAttribute("mitos.caller", site.caller());
    span_.SetAttribute("mitos.callee", site.callee());
    span_.SetAttribute("mitos.binding", site.remote() ? "remote" : "local");
    span_.SetAttribute("rpc.method", method);
  }
}

CallSite::Call::~Call() {
  if (!finished_) Finish(Status::Internal("call ended without a result"));
}

void CallSite::Call::Finish(const Status& status) {
  if (finished_) return;
  finished_ = true;
  if (!status.ok()) {
    span_.SetError(StatusCodeLabel(status.code()));
  }
  if (!metrics::Enabled()) return;
  const char* binding = site_.remote() ? "remote" : "local";
  const CallMetrics& m = Metrics();
  m.calls.With({site_.caller(), site_.callee(), method_, binding}).Inc();
  if (!status.ok()) {
    m.errors
        .With({site_.caller(), site_.callee(), method_, binding,
               StatusCodeLabel(status.code())})
        .Inc();
  }
  std::chrono::duration<double> d = std::chrono::steady_clock::now() - start_;
  m.latency.With({site_.caller(), site_.callee(), method_, binding})
      .Observe(d.count());
}

}  // namespace mitos
