#include "mitos/observability/trace.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "mitos/base/json.h"
#include "mitos/base/version.h"
#include "mitos/http/client_connection.h"
#include "mitos/http/http.h"
#include "mitos/observability/metrics.h"

namespace mitos::trace {
namespace {

constexpr char kHex[] = "0123456789abcdef";

template <size_t N>
void AppendHex(std::string& out, const std::array<uint8_t, N>& b) {
  for (uint8_t c : b) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
}

template <size_t N>
bool ParseHex(std::string_view s, std::array<uint8_t, N>* out) {
  if (s.size() != 2 * N) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < N; ++i) {
    int hi = nibble(s[2 * i]), lo = nibble(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

template <size_t N>
bool AllZero(const std::array<uint8_t, N>& b) {
  return std::all_of(b.begin(), b.end(), [](uint8_t c) { return c == 0; });
}

std::mt19937_64& Rng() {
  thread_local std::mt19937_64 rng([] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd() ^
           std::hash<std::thread::id>()(std::this_thread::get_id());
  }());
  return rng;
}

template <size_t N>
void RandomId(std::array<uint8_t, N>* out) {
  do {
    for (size_t i = 0; i < N; i += 8) {
      uint64_t r = Rng()();
      std::memcpy(out->data() + i, &r, std::min<size_t>(8, N - i));
    }
  } while (AllZero(*out));
}

uint64_t NowUnixNanos() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
}

thread_local SpanContext tl_current;

// The process's exporter: one background thread sending batches.
class Exporter {
 public:
  void Start(const TracerOptions& o) {
    Stop();
    std::lock_guard<std::mutex> lock(mu_);
    options_ = o;
    enabled_.store(o.enabled);
    ratio_.store(o.sample_ratio);
    host_.clear();
    if (o.enabled && !o.endpoint.empty() && ParseEndpoint(o.endpoint)) {
      resource_json_ = ResourceJson();
      stop_ = false;
      running_.store(true);
      thread_ = std::thread([this] { Run(); });
    }
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!thread_.joinable()) return;
      stop_ = true;
      running_.store(false);
    }
    cv_.notify_all();
    thread_.join();
  }

  bool enabled() const { return enabled_.load(std::memory_order_relaxed); }
  bool running() const { return running_.load(std::memory_order_relaxed); }
  double ratio() const { return ratio_.load(std::memory_order_relaxed); }

  void Enqueue(std::unique_ptr<Span::Data> d) {
    bool wake = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!running_.load()) return;
      if (queue_.size() >= options_.queue_size) {
        dropped_full_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      queue_.push_back(std::move(d));
      wake = queue_.size() == options_.batch_size;
    }
    if (wake) cv_.notify_one();
  }

  ExporterStats stats() const {
    return {exported_.load(), dropped_full_.load(), dropped_failed_.load()};
  }

 private:
  bool ParseEndpoint(const std::string& url) {
    constexpr std::string_view kScheme = "http://";
    if (url.rfind(kScheme, 0) != 0) return false;
    std::string rest = url.substr(kScheme.size());
    auto slash = rest.find('/');
    std::string hostport = rest.substr(0, slash);
    path_ = slash == std::string::npos ? "/" : rest.substr(slash);
    auto colon = hostport.rfind(':');
    host_ = hostport.substr(0, colon);
    port_ = 80;
    if (colon != std::string::npos) {
      try {
        port_ = std::stoi(hostport.substr(colon + 1));
      } catch (...) {
        return false;
      }
    }
    host_header_ = hostport;
    return !host_.empty() && port_ > 0 && port_ < 65536;
  }

  std::string ResourceJson() const {
    std::string out = "{\"attributes\":[";
    auto attr = [&out](std::string_view k, std::string_view v, bool first) {
      if (!first) out += ',';
      out += "{\"key\":";
      AppendJsonString(out, k);
      out += ",\"value\":{\"stringValue\":";
      AppendJsonString(out, v);
      out += "}}";
    };
    attr("service.name", options_.service_name, true);
    attr("service.version", kVersion, false);
    attr("telemetry.sdk.name", "mitos", false);
    attr("telemetry.sdk.language", "cpp", false);
    for (const auto& [k, v] : options_.resource) {
      if (k != "service.name" && k != "service.version") attr(k, v, false);
    }
    out += "]}";
    return out;
  }

  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      cv_.wait_for(lock, options_.export_interval, [this] {
        return stop_ || queue_.size() >= options_.batch_size;
      });
      while (!queue_.empty()) {
        size_t n = std::min(queue_.size(), options_.batch_size);
        std::vector<std::unique_ptr<Span::Data>> batch;
        batch.reserve(n);
        for (size_t i = 0; i < n; ++i) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        lock.unlock();
        bool ok = Send(batch);
        (ok ? exported_ : dropped_failed_).fetch_add(batch.size());
        lock.lock();
        if (!ok && stop_) {
          // Shutting down and the collector is not answering: do not make
          // the drain wait for it once per batch.
          dropped_failed_.fetch_add(queue_.size());
          queue_.clear();
        }
        if (!stop_ && queue_.size() < options_.batch_size) break;
      }
      if (stop_) {
        conn_.reset();  // the collector need not wait for it to idle out
        return;
      }
    }
  }

  std::string Encode(const std::vector<std::unique_ptr<Span::Data>>& batch) const {
    std::string out;
    out.reserve(256 + batch.size() * 400);
    out += "{\"resourceSpans\":[{\"resource\":";
    out += resource_json_;
    out += ",\"scopeSpans\":[{\"scope\":{\"name\":\"mitos\",\"version\":";
    AppendJsonString(out, kVersion);
    out += "},\"spans\":[";
    bool first = true;
    for (const auto& d : batch) {
      if (!first) out += ',';
      first = false;
      out += "{\"traceId\":\"";
      AppendHex(out, d->ctx.trace_id);
      out += "\",\"spanId\":\"";
      AppendHex(out, d->ctx.span_id);
      out += '"';
      if (!AllZero(d->parent_span_id)) {
        out += ",\"parentSpanId\":\"";
        AppendHex(out, d->parent_span_id);
        out += '"';
      }
      out += ",\"name\":";
      AppendJsonString(out, d->name);
      out += ",\"kind\":";
      out += std::to_string(static_cast<int>(d->kind));
      out += ",\"startTimeUnixNano\":\"";
      out += std::to_string(d->start_unix_nanos);
      out += "\",\"endTimeUnixNano\":\"";
      out += std::to_string(d->end_unix_nanos);
      out += "\",\"attributes\":[";
      bool afirst = true;
      for (const auto& [k, v] : d->string_attributes) {
        if (!afirst) out += ',';
        afirst = false;
        out += "{\"key\":";
        AppendJsonString(out, k);
        out += ",\"value\":{\"stringValue\":";
        AppendJsonString(out, v);
        out += "}}";
      }
      for (const auto& [k, v] : d->int_attributes) {
        if (!afirst) out += ',';
        afirst = false;
        out += "{\"key\":";
        AppendJsonString(out, k);
        out += ",\"value\":{\"intValue\":\"";
        out += std::to_string(v);
        out += "\"}}";
      }
      out += "],\"status\":{";
      if (d->error) {
        out += "\"code\":2";
        if (!d->status_message.empty()) {
          out += ",\"message\":";
          AppendJsonString(out, d->status_message);
        }
      }
      out += "}}";
    }
    out += "]}]}]}";
    return out;
  }

  bool Send(const std::vector<std::unique_ptr<Span::Data>>& batch) {
    std::string body = Encode(batch);
    std::string req = "POST " + path_ + " HTTP/1.1\r\nHost: " + host_header_ +
                      "\r\nContent-Type: application/json\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body;
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (conn_ == nullptr) {
        conn_ = internal::HttpConnection::Connect(host_, port_,
                                                  options_.export_timeout);
        if (conn_ == nullptr) return false;
      }
      http::ClientResponse res;
      auto outcome =
          conn_->RoundTrip(req, false, options_.export_timeout, &res);
      if (outcome == internal::HttpConnection::Outcome::kOk) {
        if (!conn_->keep_alive()) conn_.reset();
        return res.status >= 200 && res.status < 300;
      }
      bool stale = outcome == internal::HttpConnection::Outcome::kSendFailed ||
                   outcome == internal::HttpConnection::Outcome::kBroken;
      conn_.reset();
      if (!stale) return false;  // a timeout: do not wait twice
    }
    return false;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  TracerOptions options_;
  std::atomic<bool> enabled_{true};
  std::atomic<bool> running_{false};
  std::atomic<double> ratio_{1.0};
  bool stop_ = false;
  std::deque<std::unique_ptr<Span::Data>> queue_;
  std::thread thread_;
  std::string host_, host_header_, path_, resource_json_;
  int port_ = 0;
  std::unique_ptr<internal::HttpConnection> conn_;  // exporter thread only
  std::atomic<uint64_t> exported_{0}, dropped_full_{0}, dropped_failed_{0};
};

Exporter& TheExporter() {
  static Exporter* e = new Exporter();  // lives until exit
  return *e;
}

bool SampleNewTrace(const SpanContext& ctx, double ratio) {
  if (ratio >= 1.0) return true;
  if (ratio <= 0.0) return false;
  uint64_t r = 0;
  for (int i = 8; i < 16; ++i) r = r << 8 | ctx.trace_id[i];
  return static_cast<double>(r) < ratio * 18446744073709551616.0;
}

}  // namespace

bool SpanContext::valid() const { return !AllZero(trace_id) && !AllZero(span_id); }

std::string SpanContext::TraceIdHex() const {
  std::string s;
  AppendHex(s, trace_id);
  return s;
}

std::string SpanContext::SpanIdHex() const {
  std::string s;
  AppendHex(s, span_id);
  return s;
}

std::string SpanContext::Traceparent() const {
  std::string s = "00-";
  s.reserve(55);
  AppendHex(s, trace_id);
  s += '-';
  AppendHex(s, span_id);
  s += sampled ? "-01" : "-00";
  return s;
}

bool ParseTraceparent(std::string_view tp, SpanContext* out) {
  if (tp.size() < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-') {
    return false;
  }
  std::array<uint8_t, 1> version{}, flags{};
  if (!ParseHex(tp.substr(0, 2), &version) || version[0] == 0xff) return false;
  // Version 00 is exactly 55 characters; a later version may append fields.
  if (version[0] == 0 ? tp.size() != 55 : (tp.size() > 55 && tp[55] != '-')) {
    return false;
  }
  SpanContext c;
  if (!ParseHex(tp.substr(3, 32), &c.trace_id) ||
      !ParseHex(tp.substr(36, 16), &c.span_id) ||
      !ParseHex(tp.substr(53, 2), &flags) || !c.valid()) {
    return false;
  }
  c.sampled = (flags[0] & 1) != 0;
  *out = c;
  return true;
}

const SpanContext& Current() { return tl_current; }

Span::Span(std::string_view name, Kind kind) {
  const SpanContext parent = tl_current;  // a copy: Begin replaces it
  Begin(name, kind, parent.valid() ? &parent : nullptr);
}

Span::Span(std::string_view name, Kind kind, const SpanContext& remote_parent) {
  Begin(name, kind, remote_parent.valid() ? &remote_parent : nullptr);
}

void Span::Begin(std::string_view name, Kind kind, const SpanContext* parent) {
  Exporter& ex = TheExporter();
  previous_ = tl_current;
  if (parent != nullptr) {
    ctx_.trace_id = parent->trace_id;
    ctx_.sampled = parent->sampled;
  } else {
    RandomId(&ctx_.trace_id);
    ctx_.sampled = ex.enabled() && SampleNewTrace(ctx_, ex.ratio());
  }
  RandomId(&ctx_.span_id);
  tl_current = ctx_;
  if (ctx_.sampled && ex.running()) {
    data_ = std::make_unique<Data>();
    data_->string_attributes.reserve(4);
    data_->name = name;
    data_->kind = kind;
    data_->ctx = ctx_;
    if (parent != nullptr) data_->parent_span_id = parent->span_id;
    data_->start_unix_nanos = NowUnixNanos();
  }
}

void Span::Detach() {
  if (detached_) return;
  detached_ = true;
  tl_current = previous_;
}

CurrentScope::CurrentScope(const SpanContext& ctx) : previous_(tl_current) {
  tl_current = ctx;
}

CurrentScope::~CurrentScope() { tl_current = previous_; }

Span::~Span() {
  if (!detached_) tl_current = previous_;
  if (data_ != nullptr) {
    data_->end_unix_nanos = NowUnixNanos();
    TheExporter().Enqueue(std::move(data_));
  }
}

void Span::SetName(std::string_view name) {
  if (data_ != nullptr) data_->name = name;
}

void Span::SetAttribute(std::string_view key, std::string_view value) {
  if (data_ != nullptr) data_->string_attributes.emplace_back(key, value);
}

void Span::SetAttribute(std::string_view key, int64_t value) {
  if (data_ != nullptr) data_->int_attributes.emplace_back(key, value);
}

void Span::SetError(std::string_view description) {
  if (data_ != nullptr) {
    data_->error = true;
    data_->status_message = description;
  }
}

void StartTracer(const TracerOptions& options) {
  static std::once_flag once;
  std::call_once(once, [] {
    auto& r = metrics::Registry::Default();
    r.Callbacks("mitos_trace_spans_exported_total",
                "Spans accepted by the OTLP collector.", metrics::Type::kCounter,
                {})
        .AddSource([](const metrics::CallbackFamily::Emit& emit) {
          emit({}, static_cast<double>(Stats().exported));
        });
    r.Callbacks("mitos_trace_spans_dropped_total",
                "Spans not exported: the queue was full, or the collector "
                "failed or did not answer in time.",
                metrics::Type::kCounter, {"reason"})
        .AddSource([](const metrics::CallbackFamily::Emit& emit) {
          ExporterStats st = Stats();
          emit({"queue_full"}, static_cast<double>(st.dropped_queue_full));
          emit({"export_failed"}, static_cast<double>(st.dropped_export_failed));
        });
  });
  TheExporter().Start(options);
}
void StopTracer() { TheExporter().Stop(); }
ExporterStats Stats() { return TheExporter().stats(); }

namespace {

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      std::array<uint8_t, 1> b{};
      std::string lower{s.substr(i + 1, 2)};
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (ParseHex(lower, &b)) {
        out += static_cast<char>(b[0]);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

bool ApplyOtelEnvironment(const std::map<std::string, std::string>& env,
                          TracerOptions* o, std::string* error) {
  auto get = [&env](const char* k) -> const std::string* {
    auto it = env.find(k);
    return it == env.end() || it->second.empty() ? nullptr : &it->second;
  };
  if (auto* v = get("OTEL_SDK_DISABLED"); v && *v == "true") o->enabled = false;
  if (auto* v = get("OTEL_RESOURCE_ATTRIBUTES")) {
    std::string_view rest = *v;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      std::string_view item = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? "" : rest.substr(comma + 1);
      auto eq = item.find('=');
      if (eq == std::string_view::npos || Trim(item.substr(0, eq)).empty()) {
        *error = "OTEL_RESOURCE_ATTRIBUTES: expected key=value pairs separated "
                 "by commas, got \"" + std::string(item) + "\"";
        return false;
      }
      std::string key = Trim(item.substr(0, eq));
      std::string value = PercentDecode(Trim(item.substr(eq + 1)));
      if (key == "service.name") {
        o->service_name = value;
      } else {
        o->resource.emplace_back(key, value);
      }
    }
  }
  if (auto* v = get("OTEL_SERVICE_NAME")) o->service_name = *v;
  if (auto* v = get("OTEL_EXPORTER_OTLP_PROTOCOL"); v && *v != "http/json") {
    *error = "OTEL_EXPORTER_OTLP_PROTOCOL: only http/json is supported, got \"" +
             *v + "\"";
    return false;
  }
  if (auto* v = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) {
    o->endpoint = *v;
  } else if (auto* b = get("OTEL_EXPORTER_OTLP_ENDPOINT")) {
    std::string base = *b;
    while (!base.empty() && base.back() == '/') base.pop_back();
    o->endpoint = base + "/v1/traces";
  }
  std::string sampler = "parentbased_always_on";
  if (auto* v = get("OTEL_TRACES_SAMPLER")) sampler = *v;
  if (sampler == "always_on" || sampler == "parentbased_always_on") {
    o->sample_ratio = 1.0;
  } else if (sampler == "always_off" || sampler == "parentbased_always_off") {
    o->sample_ratio = 0.0;
  } else if (sampler == "traceidratio" || sampler == "parentbased_traceidratio") {
    double r = 1.0;
    if (auto* a = get("OTEL_TRACES_SAMPLER_ARG")) {
      try {
        size_t used = 0;
        r = std::stod(*a, &used);
        if (used != a->size() || r < 0 || r > 1) throw std::invalid_argument("");
      } catch (...) {
        *error = "OTEL_TRACES_SAMPLER_ARG: expected a ratio from 0 to 1, got \"" +
                 *a + "\"";
        return false;
      }
    }
    o->sample_ratio = r;
  } else {
    *error = "OTEL_TRACES_SAMPLER: unsupported sampler \"" + sampler +
             "\" (use parentbased_traceidratio, parentbased_always_on or "
             "parentbased_always_off)";
    return false;
  }
  return true;
}

}  // namespace mitos::trace
