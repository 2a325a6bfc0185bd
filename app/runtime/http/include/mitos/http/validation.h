// Helpers to validate a decoded JSON object field by field, collecting every
// problem rather than stopping at the first one.
#ifndef MITOS_HTTP_VALIDATION_H_
#define MITOS_HTTP_VALIDATION_H_

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mitos/base/status.h"

namespace mitos {

class ObjectValidator {
 public:
  // `prefix` is prepended to field names in errors, e.g. "items[0].".
  // REQUIRES: obj.is_object()
  explicit ObjectValidator(const nlohmann::json& obj, std::string prefix = "");

  // Records an error for every key of the object not in `known`.
  void RejectUnknown(std::initializer_list<std::string_view> known);

  // Returns the string field, or nullopt. A missing field is an error only
  // when `required`; a present field of another type (including null) is
  // always an error.
  std::optional<std::string> String(std::string_view name, bool required);
  // As String, for an integer field; floats and strings are rejected.
  std::optional<int64_t> Int(std::string_view name, bool required);
  // As String, for an array field.
  const nlohmann::json* Array(std::string_view name, bool required);

  void AddError(std::string_view field, std::string message);
  bool ok() const { return errors_.empty(); }
  std::vector<FieldError>& errors() { return errors_; }

  // Returns InvalidArgument listing the errors. REQUIRES: !ok()
  Status ToStatus() const;

 private:
  const nlohmann::json* Find(std::string_view name, bool required);

  const nlohmann::json& obj_;
  std::string prefix_;
  std::vector<FieldError> errors_;
};

// Returns the number of Unicode code points of valid UTF-8 text.
size_t Utf8Length(std::string_view s);

// Returns s without leading and trailing ASCII white space.
std::string_view TrimAscii(std::string_view s);

// Parses a strictly positive decimal int64 with no sign, spaces or leading
// zeros. Returns nullopt otherwise.
std::optional<int64_t> ParsePositiveId(std::string_view s);

// Parses a non-negative decimal int64 ("0" or as ParsePositiveId).
std::optional<int64_t> ParseNonNegative(std::string_view s);

// Checks the paging arguments shared by every list call: 1 <= limit <=
// max_limit and after >= 0. Appends a field error ("limit", "after") for
// each one that is out of range.
void CheckPaging(int64_t limit, int64_t after, int max_limit,
                 std::vector<FieldError>* errors);

}  // namespace mitos

#endif  // MITOS_HTTP_VALIDATION_H_
