// Writing JSON by hand on hot paths (log lines, span batches, the API types'
// encoders), where building a nlohmann::json value first would cost more
// than the rest of the work.
#ifndef MITOS_BASE_JSON_H_
#define MITOS_BASE_JSON_H_

#include <string>
#include <string_view>

namespace mitos {

// Appends `s` to `out` as a JSON string literal (quotes included), escaped
// as nlohmann::json escapes it. REQUIRES: s is valid UTF-8.
void AppendJsonString(std::string& out, std::string_view s);

}  // namespace mitos

#endif  // MITOS_BASE_JSON_H_
