// What every module's HTTP surface repeats, for the routes and clients that
// cmake/contract/generate.py derives from a contract (and for hand-written
// routes alike): paging, id path parameters, typed JSON bodies, and the
// answer to a Status.
#ifndef MITOS_HTTP_REST_H_
#define MITOS_HTTP_REST_H_

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mitos/base/status.h"
#include "mitos/http/http.h"

namespace mitos {

// The arguments of a list call: up to `limit` items with id > `after`.
struct PageRequest {
  int limit = 20;
  int64_t after = 0;
};

// One page of a list, ordered by id.
template <typename T>
struct Page {
  std::vector<T> items;
  std::optional<int64_t> next_after;  // pass as `after` for the next page
};

// Returns the status of a result, OK for a value.
inline const Status& StatusOf(const Status& s) { return s; }
template <typename T>
Status StatusOf(const StatusOr<T>& r) {
  return r.ok() ? Status::Ok() : r.status();
}

}  // namespace mitos

namespace mitos::http {

// Appends {field, message} to `errors` unless `message` is empty (a check
// function's "no problem").
void Check(std::vector<FieldError>* errors, std::string field,
           std::string message);

// Returns `not_found` with its "{id}" replaced by `raw`.
std::string FormatNotFound(std::string_view not_found, std::string_view raw);

// Returns path parameter `i` as a positive id, or nullopt after writing
// 404 with the detail `not_found` (its "{id}" replaced by the raw value):
// an id that is not a positive integer names no object.
std::optional<int64_t> PathId(const Request& req, size_t i, Response& res,
                              std::string_view not_found);

// Reads query parameter `name` as a positive id into `out` (unchanged when
// absent), or appends {name, "must be a positive integer"} to `errors`.
void QueryId(const Request& req, const char* name, std::optional<int64_t>* out,
             std::vector<FieldError>* errors);

// Reads `limit` (default `default_limit`, 1..max_limit) and `after`
// (default 0, >= 0) from the query. Appends a field error for each bad one,
// in the order: a limit that is not an integer, an after that is not, a
// limit out of range. Returns nullopt if any.
std::optional<PageRequest> ReadPaging(const Request& req, int default_limit,
                                      int max_limit,
                                      std::vector<FieldError>* errors);

// A decoder of one contract type: structural errors to `errors`, the
// contract's checks to `rules` (see the generated Decode functions).
template <typename T>
using Decoder = void (*)(const nlohmann::json&, const std::string&, T*,
                         std::vector<FieldError>*, std::vector<FieldError>*);

// Reads the request's JSON object body into `out`. On failure writes the
// problem and returns false: 415 (not application/json), 400 (not a JSON
// object), or 422 with `invalid` as detail and every field error, the
// structural ones first, then the checks of the fields that could be read.
template <typename T>
bool ReadBody(const Request& req, Response& res, std::string_view invalid,
              T* out, Decoder<T> decode) {
  auto body = ReadJsonObject(req, res);
  if (!body) return false;
  std::vector<FieldError> errors, rules;
  decode(*body, "", out, &errors, &rules);
  if (errors.empty() && rules.empty()) return true;
  for (auto& e : rules) errors.push_back(std::move(e));
  WriteStatus(res, Status::InvalidArgument(std::string(invalid), std::move(errors)));
  return false;
}

// Answers `r`: its status's problem, or `status` with the JSON that
// `encode` appends (and Location: `location_prefix` + id for a 201).
template <typename T, typename Encode>
void Reply(Response& res, int status, const StatusOr<T>& r, Encode encode) {
  if (!r.ok()) return WriteStatus(res, r.status());
  std::string body;
  body.reserve(256);
  encode(*r, body);
  res.JsonText(status, std::move(body));
}

// Answers a Status: 204 when OK, else its problem.
void ReplyEmpty(Response& res, const Status& s);

// Appends the page `{"items":[...],"next_after":N|null}`.
template <typename T, typename Encode>
void AppendPage(const Page<T>& page, std::string& out, Encode encode) {
  out += "{\"items\":[";
  for (size_t i = 0; i < page.items.size(); ++i) {
    if (i) out += ',';
    encode(page.items[i], out);
  }
  out += "],\"next_after\":";
  out += page.next_after ? std::to_string(*page.next_after) : "null";
  out += '}';
}

}  // namespace mitos::http

#endif  // MITOS_HTTP_REST_H_
