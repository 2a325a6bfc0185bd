#include "mitos/http/validation.h"

#include <algorithm>

namespace mitos {

ObjectValidator::ObjectValidator(const nlohmann::json& obj, std::string prefix)
    : obj_(obj), prefix_(std::move(prefix)) {}

void ObjectValidator::RejectUnknown(
    std::initializer_list<std::string_view> known) {
  for (const auto& [key, _] : obj_.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      AddError(key, "unknown field");
    }
  }
}

const nlohmann::json* ObjectValidator::Find(std::string_view name,
                                            bool required) {
  auto it = obj_.find(name);
  if (it == obj_.end()) {
    if (required) AddError(name, "is required");
    return nullptr;
  }
  return &*it;
}

std::optional<std::string> ObjectValidator::String(std::string_view name,
                                                   bool required) {
  const nlohmann::json* v = Find(name, required);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) {
    AddError(name, "must be a string");
    return std::nullopt;
  }
  return v->get<std::string>();
}

std::optional<int64_t> ObjectValidator::Int(std::string_view name,
                                            bool required) {
  const nlohmann::json* v = Find(name, required);
  if (v == nullptr) return std::nullopt;
  if (v->is_number_integer()) {
    if (v->is_number_unsigned() &&
        v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      AddError(name, "is out of range");
      return std::nullopt;
    }
    return v->get<int64_t>();
  }
  AddError(name, "must be an integer");
  return std::nullopt;
}

const nlohmann::json* ObjectValidator::Array(std::string_view name,
                                             bool required) {
  const nlohmann::json* v = Find(name, required);
  if (v == nullptr) return nullptr;
  if (!v->is_array()) {
    AddError(name, "must be an array");
    return nullptr;
  }
  return v;
}

void ObjectValidator::AddError(std::string_view field, std::string message) {
  errors_.push_back({prefix_ + std::string(field), std::move(message)});
}

Status ObjectValidator::ToStatus() const {
  return Status::InvalidArgument("The request has invalid fields.", errors_);
}

size_t Utf8Length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

std::string_view TrimAscii(std::string_view s) {
  auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
           c == '\v';
  };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::optional<int64_t> ParsePositiveId(std::string_view s) {
  if (s.empty() || s.size() > 19 || s[0] == '0') return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    int d = c - '0';
    if (v > (INT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

std::optional<int64_t> ParseNonNegative(std::string_view s) {
  if (s == "0") return 0;
  return ParsePositiveId(s);
}

void CheckPaging(int64_t limit, int64_t after, int max_limit,
                 std::vector<FieldError>* errors) {
  if (limit < 1 || limit > max_limit) {
    errors->push_back({"limit", "must be an integer from 1 to " +
                                    std::to_string(max_limit)});
  }
  if (after < 0) errors->push_back({"after", "must be a non-negative integer"});
}

}  // namespace mitos
