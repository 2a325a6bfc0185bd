#include "mitos/http/rest.h"

#include "mitos/http/validation.h"

namespace mitos::http {

void Check(std::vector<FieldError>* errors, std::string field,
           std::string message) {
  if (!message.empty()) errors->push_back({std::move(field), std::move(message)});
}

std::string FormatNotFound(std::string_view not_found, std::string_view raw) {
  std::string out(not_found);
  if (auto at = out.find("{id}"); at != std::string::npos) {
    out.replace(at, 4, raw);
  }
  return out;
}

std::optional<int64_t> PathId(const Request& req, size_t i, Response& res,
                              std::string_view not_found) {
  auto id = ParsePositiveId(req.Param(i));
  if (!id) {
    WriteProblem(res, 404, "about:blank", "", FormatNotFound(not_found, req.Param(i)));
  }
  return id;
}

void QueryId(const Request& req, const char* name, std::optional<int64_t>* out,
             std::vector<FieldError>* errors) {
  const std::string* raw = req.Query(name);
  if (raw == nullptr) return;
  *out = ParsePositiveId(*raw);
  if (!*out) errors->push_back({name, "must be a positive integer"});
}

std::optional<PageRequest> ReadPaging(const Request& req, int default_limit,
                                      int max_limit,
                                      std::vector<FieldError>* errors) {
  const std::string limit_message =
      "must be an integer from 1 to " + std::to_string(max_limit);
  size_t before = errors->size();
  auto limit = QueryNonNegative(req, "limit", default_limit, errors,
                                limit_message.c_str());
  auto after = QueryNonNegative(req, "after", 0, errors,
                                "must be a non-negative integer");
  if (limit && (*limit < 1 || *limit > max_limit)) {
    errors->push_back({"limit", limit_message});
  }
  if (errors->size() != before) return std::nullopt;
  return PageRequest{static_cast<int>(*limit), *after};
}

void ReplyEmpty(Response& res, const Status& s) {
  if (s.ok()) {
    res.status = 204;
  } else {
    WriteStatus(res, s);
  }
}

}  // namespace mitos::http
