// Structured logging: one JSON object per line on stdout, or a readable text
// form for local runs. Never pass request bodies or secrets as fields.
#ifndef MITOS_LOG_H_
#define MITOS_LOG_H_

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

// Writes one line: ts, level, module, msg, then the fields of `fields`.
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

// Returns the current UTC time as RFC 3339 with milliseconds.
std::string NowRfc3339();

}  // namespace mitos::log

#endif  // MITOS_LOG_H_
