// Distributed tracing: W3C trace context and spans exported to an
// OpenTelemetry collector (OTLP/HTTP, JSON encoding).
//
// Each thread has a current span. A Span started on a thread becomes its
// current span until it ends, and a span started while another is current is
// its child. The runtime starts a server span for every request (continuing
// the caller's `traceparent`), module calls start client or internal spans,
// and remote calls send the current span as the callee's parent. So a
// request through the gateway, orders and users is one trace.
//
// Spans are recorded only when the trace is sampled and an exporter runs;
// otherwise a Span costs two random ids and a clock read. Export happens on
// a background thread: a request never waits for the collector.
#ifndef MITOS_OBSERVABILITY_TRACE_H_
#define MITOS_OBSERVABILITY_TRACE_H_

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mitos::trace {

struct SpanContext {
  std::array<uint8_t, 16> trace_id{};
  std::array<uint8_t, 8> span_id{};
  bool sampled = false;

  // True iff both ids are non-zero.
  bool valid() const;
  std::string TraceIdHex() const;
  std::string SpanIdHex() const;
  // "00-<trace id>-<span id>-<flags>".
  std::string Traceparent() const;
};

// Parses a W3C traceparent header (version 00, or a later version's first
// four fields). Returns false for anything malformed or with zero ids.
bool ParseTraceparent(std::string_view header, SpanContext* out);

// Returns the current span of this thread, or an invalid context.
const SpanContext& Current();

enum class Kind { kInternal = 1, kServer = 2, kClient = 3 };

class Span {
 public:
  // Starts a child of the current span; with no current span, a new trace
  // whose sampling the configured ratio decides.
  Span(std::string_view name, Kind kind);
  // Starts a server span continuing `remote_parent` when it is valid (its
  // sampled flag is honoured), else a new trace.
  Span(std::string_view name, Kind kind, const SpanContext& remote_parent);
  ~Span();  // ends the span and restores the previous current span
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;

  const SpanContext& context() const { return ctx_; }

  // Gives the thread back its previous current span while this span stays
  // open: for work that ends later, on an event loop. Spans made current
  // after this one must be detached (or ended) first.
  void Detach();
  // True iff this span will be exported; attributes are kept only then.
  bool recording() const { return data_ != nullptr; }

  void SetName(std::string_view name);
  void SetAttribute(std::string_view key, std::string_view value);
  void SetAttribute(std::string_view key, int64_t value);
  // Marks the span failed (OTLP status ERROR) with a short description.
  void SetError(std::string_view description);

  // The recorded form of a span, as handed to the exporter.
  struct Data {
    std::string name;
    Kind kind = Kind::kInternal;
    SpanContext ctx;
    std::array<uint8_t, 8> parent_span_id{};  // zero for a root span
    uint64_t start_unix_nanos = 0;
    uint64_t end_unix_nanos = 0;
    std::vector<std::pair<std::string, std::string>> string_attributes;
    std::vector<std::pair<std::string, int64_t>> int_attributes;
    bool error = false;
    std::string status_message;
  };

 private:
  void Begin(std::string_view name, Kind kind, const SpanContext* parent);

  SpanContext ctx_;
  SpanContext previous_;
  bool detached_ = false;
  std::unique_ptr<Data> data_;
};

// Makes `ctx` the current span context of this thread for the scope's
// lifetime: for continuing a request's work later on an event loop.
class CurrentScope {
 public:
  explicit CurrentScope(const SpanContext& ctx);
  ~CurrentScope();
  CurrentScope(const CurrentScope&) = delete;
  CurrentScope& operator=(const CurrentScope&) = delete;

 private:
  SpanContext previous_;
};

struct TracerOptions {
  bool enabled = true;           // false: no spans recorded, ids still made
  double sample_ratio = 1.0;     // for new traces; children follow parents
  std::string endpoint;          // OTLP/HTTP traces URL; empty: no export
  std::string service_name = "mitos";
  // Resource attributes (service.name is added from service_name).
  std::vector<std::pair<std::string, std::string>> resource;
  size_t queue_size = 2048;      // spans waiting for export; more are dropped
  size_t batch_size = 512;       // spans per export request
  std::chrono::milliseconds export_interval{1000};
  std::chrono::milliseconds export_timeout{5000};
};

// Starts the exporter thread when options.endpoint is set. Replaces any
// earlier tracer (tests start several).
void StartTracer(const TracerOptions& options);
// Exports what is queued (within the export timeout) and stops the thread.
void StopTracer();

// Counters of the exporter since start.
struct ExporterStats {
  uint64_t exported = 0;
  uint64_t dropped_queue_full = 0;
  uint64_t dropped_export_failed = 0;
};
ExporterStats Stats();

// Returns a tracer option set from the standard OpenTelemetry environment
// (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_ENDPOINT,
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_TRACES_SAMPLER,
// OTEL_TRACES_SAMPLER_ARG), applied over `base`. Returns false and sets
// `error` when a value cannot be used.
bool ApplyOtelEnvironment(const std::map<std::string, std::string>& env,
                          TracerOptions* base, std::string* error);

}  // namespace mitos::trace

#endif  // MITOS_OBSERVABILITY_TRACE_H_
