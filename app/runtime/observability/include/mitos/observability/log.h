// Structured logging: one JSON object per line on stdout, or a readable text
// form for local runs. Never pass request bodies or secrets as fields.
#ifndef MITOS_OBSERVABILITY_LOG_H_
#define MITOS_OBSERVABILITY_LOG_H_

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace mitos::log {

enum class Level { kDebug = 0, kInfo, kWarn, kError };
enum class Format { kJson, kText };

// Returns false for an unknown level name.
bool ParseLevel(std::string_view name, Level* out);

void Configure(Level level, Format format);
bool Enabled(Level level);

// Writes one line: ts, level, module, msg, trace_id and span_id when a span
// is current, request_id when serving a request, then `fields`.
void Write(Level level, std::string_view module, std::string_view msg,
           const nlohmann::json& fields = nlohmann::json::object());

inline void Info(std::string_view module, std::string_view msg,
                 const nlohmann::json& f = nlohmann::json::object()) {
  Write(Level::kInfo, module, msg, f);
}
inline void Warn(std::string_view module, std::string_view msg,
                 const nlohmann::json& f = nlohmann::json::object()) {
  Write(Level::kWarn, module, msg, f);
}
inline void Error(std::string_view module, std::string_view msg,
                  const nlohmann::json& f = nlohmann::json::object()) {
  Write(Level::kError, module, msg, f);
}
inline void Debug(std::string_view module, std::string_view msg,
                  const nlohmann::json& f = nlohmann::json::object()) {
  Write(Level::kDebug, module, msg, f);
}

// One served request, for the access log.
struct AccessEntry {
  std::string_view module;      // owner of the route, "runtime" for probes
  std::string_view method;
  std::string_view route;       // the template, never the raw path
  int status = 0;
  double duration_ms = 0;
  size_t bytes = 0;             // response body bytes before compression
  std::string_view client;      // the peer address of the socket
  std::string_view request_id;
  bool quiet = false;           // probes and scrapes: logged at debug level
};

// Writes the access log line of a request ("msg":"request"), with the
// current trace and span ids. Lines are buffered and written at least every
// 100 ms; other lines are written at once, after any buffered ones.
void Access(const AccessEntry& e);

// Writes what is buffered. Called on shutdown; safe to call any time.
void Flush();

// Returns the current UTC time as RFC 3339 with milliseconds.
std::string NowRfc3339();

}  // namespace mitos::log

#endif  // MITOS_OBSERVABILITY_LOG_H_
