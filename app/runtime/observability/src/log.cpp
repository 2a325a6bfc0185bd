#include "mitos/observability/log.h"

#include <sys/time.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <thread>

#include "mitos/base/context.h"
#include "mitos/base/json.h"
#include "mitos/observability/trace.h"

namespace mitos::log {
namespace {

std::atomic<Level> g_level{Level::kInfo};
std::atomic<Format> g_format{Format::kJson};

// Lines waiting to be written, in order. Access lines wait up to 100 ms (or
// 64 KiB) so that a busy server writes them in few syscalls; any other line
// is written at once, together with what waits before it.
class Output {
 public:
  void Append(std::string_view line, bool now) {
    std::unique_lock<std::mutex> lock(mu_);
    buf_ += line;
    if (now || buf_.size() >= kMaxBuffered) {
      WriteLocked();
      return;
    }
    if (!flusher_started_) {
      flusher_started_ = true;
      std::thread([this] { FlushLoop(); }).detach();
    }
  }

  void Flush() {
    std::lock_guard<std::mutex> lock(mu_);
    WriteLocked();
  }

 private:
  static constexpr size_t kMaxBuffered = 64 << 10;

  void WriteLocked() {
    if (buf_.empty()) return;
    std::fwrite(buf_.data(), 1, buf_.size(), stdout);
    std::fflush(stdout);
    buf_.clear();
  }

  void FlushLoop() {
    while (true) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      Flush();
    }
  }

  std::mutex mu_;
  std::string buf_;
  bool flusher_started_ = false;
};

Output& Out() {
  static Output* o = new Output();  // lives until exit; the flusher uses it
  return *o;
}

// The correlation fields of the current request and span.
void AppendContextJson(std::string& line) {
  const trace::SpanContext& span = trace::Current();
  if (span.valid()) {
    line += ",\"trace_id\":\"";
    line += span.TraceIdHex();
    line += "\",\"span_id\":\"";
    line += span.SpanIdHex();
    line += '"';
  }
  const std::string& rid = RequestContext::Current().request_id;
  if (!rid.empty()) {
    line += ",\"request_id\":";
    AppendJsonString(line, rid);
  }
}

const char* LevelName(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

}  // namespace

bool ParseLevel(std::string_view name, Level* out) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (name == LevelName(l)) {
      *out = l;
      return true;
    }
  }
  return false;
}

void Configure(Level level, Format format) {
  g_level = level;
  g_format = format;
}

bool Enabled(Level level) { return level >= g_level.load(); }

std::string NowRfc3339() {
  timeval tv{};
  gettimeofday(&tv, nullptr);
  std::tm tm{};
  gmtime_r(&tv.tv_sec, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(tv.tv_usec / 1000));
  return buf;
}

void Write(Level level, std::string_view module, std::string_view msg,
           const nlohmann::json& fields) {
  if (!Enabled(level)) return;
  std::string line;
  const trace::SpanContext& span = trace::Current();
  const std::string& rid = RequestContext::Current().request_id;
  if (g_format.load() == Format::kJson) {
    nlohmann::ordered_json j;
    j["ts"] = NowRfc3339();
    j["level"] = LevelName(level);
    j["module"] = module;
    j["msg"] = msg;
    if (span.valid()) {
      j["trace_id"] = span.TraceIdHex();
      j["span_id"] = span.SpanIdHex();
    }
    if (!rid.empty()) j["request_id"] = rid;
    if (fields.is_object()) {
      for (const auto& [k, v] : fields.items()) j[k] = v;
    }
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = NowRfc3339() + " " + LevelName(level) + " [" + std::string(module) +
           "] " + std::string(msg);
    if (fields.is_object()) {
      for (const auto& [k, v] : fields.items()) {
        line += " " + k + "=" +
                (v.is_string() ? v.get<std::string>()
                               : v.dump(-1, ' ', false,
                                        nlohmann::json::error_handler_t::replace));
      }
    }
    if (!rid.empty()) line += " request_id=" + rid;
    if (span.valid()) line += " trace_id=" + span.TraceIdHex();
  }
  line += '\n';
  Out().Append(line, /*now=*/true);
}

void Access(const AccessEntry& e) {
  const Level level = e.quiet ? Level::kDebug : Level::kInfo;
  if (!Enabled(level)) return;
  char ms[32];
  std::snprintf(ms, sizeof(ms), "%.3f", e.duration_ms);
  std::string line;
  line.reserve(320);
  if (g_format.load() == Format::kJson) {
    line += "{\"ts\":\"";
    line += NowRfc3339();
    line += "\",\"level\":\"";
    line += LevelName(level);
    line += "\",\"module\":";
    AppendJsonString(line, e.module);
    line += ",\"msg\":\"request\"";
    AppendContextJson(line);
    line += ",\"method\":";
    AppendJsonString(line, e.method);
    line += ",\"route\":";
    AppendJsonString(line, e.route);
    line += ",\"status\":";
    line += std::to_string(e.status);
    line += ",\"duration_ms\":";
    line += ms;
    line += ",\"bytes\":";
    line += std::to_string(e.bytes);
    line += ",\"client\":";
    AppendJsonString(line, e.client);
    line += "}\n";
  } else {
    line += NowRfc3339();
    line += ' ';
    line += LevelName(level);
    line += " [";
    line += e.module;
    line += "] ";
    line += e.method;
    line += ' ';
    line += e.route;
    line += ' ';
    line += std::to_string(e.status);
    line += ' ';
    line += ms;
    line += "ms ";
    line += std::to_string(e.bytes);
    line += "B client=";
    line += e.client;
    if (!e.request_id.empty()) {
      line += " request_id=";
      line += e.request_id;
    }
    line += '\n';
  }
  Out().Append(line, /*now=*/false);
}

void Flush() { Out().Flush(); }

}  // namespace mitos::log
