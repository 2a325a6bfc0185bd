#include "mitos/http/http.h"

#include "mitos/http/validation.h"

#include <stdexcept>

namespace mitos::http {
namespace {

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.emplace_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

bool IsPlaceholder(const std::string& seg) {
  return seg.size() >= 2 && seg.front() == '{' && seg.back() == '}';
}

// Matches the path segments against a route's segments, filling params.
bool MatchSegments(const std::vector<std::string>& pattern,
                   std::string_view path, std::vector<std::string>* params) {
  params->clear();
  size_t pos = 0;
  for (size_t k = 0; k < pattern.size(); ++k) {
    const std::string& seg = pattern[k];
    if (seg == "{*}") {
      params->emplace_back(pos < path.size() ? path.substr(pos) : "");
      return true;
    }
    if (pos >= path.size() || path[pos] != '/') return false;
    ++pos;
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view got = path.substr(pos, end - pos);
    if (got.empty()) return false;
    if (IsPlaceholder(seg)) {
      params->emplace_back(got);
    } else if (got != seg) {
      return false;
    }
    pos = end;
  }
  // The root pattern "/" has no segments and matches only "/".
  return pos == path.size() || (pattern.empty() && path == "/");
}

}  // namespace

const char* ReasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    default: return "Unknown";
  }
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view Request::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) return v;
  }
  return {};
}

const std::string* Request::Query(std::string_view name) const {
  auto it = query.find(std::string(name));
  return it == query.end() ? nullptr : &it->second;
}

void Response::SetHeader(std::string name, std::string value) {
  for (auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) {
      v = std::move(value);
      return;
    }
  }
  headers.emplace_back(std::move(name), std::move(value));
}

std::string_view Response::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) return v;
  }
  return {};
}

std::string_view ClientResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) return v;
  }
  return {};
}

void Response::JsonText(int code, std::string text) {
  status = code;
  content_type = "application/json";
  body = std::move(text);
}

void Response::Json(int code, const nlohmann::json& j) {
  status = code;
  content_type = "application/json";
  body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void WriteProblem(Response& res, int status, std::string_view type,
                  std::string_view title, std::string_view detail,
                  const std::vector<FieldError>& errors) {
  nlohmann::json p = {{"type", type},
                      {"title", title.empty() ? ReasonPhrase(status) : title},
                      {"status", status},
                      {"detail", detail}};
  if (!errors.empty()) {
    auto& arr = p["errors"] = nlohmann::json::array();
    for (const auto& e : errors) {
      arr.push_back({{"field", e.field}, {"message", e.message}});
    }
  }
  res.status = status;
  res.content_type = "application/problem+json";
  res.body = p.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 422;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists: return 409;
    case StatusCode::kFailedPrecondition: return 409;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kDeadlineExceeded: return 504;
    case StatusCode::kInternal: return 500;
    case StatusCode::kInsufficientStorage: return 507;
    case StatusCode::kStorageUnavailable: return 503;
    case StatusCode::kStorageReadOnly: return 503;
    case StatusCode::kStorageCorrupt: return 500;
  }
  return 500;
}

void WriteStatus(Response& res, const Status& s) {
  int code = HttpStatusFor(s.code());
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
      WriteProblem(res, code, "urn:mitos:problem:validation-failed",
                   "Validation failed", s.message(), s.field_errors());
      return;
    case StatusCode::kAlreadyExists:
      WriteProblem(res, code, "urn:mitos:problem:already-exists",
                   "Already exists", s.message(), s.field_errors());
      return;
    case StatusCode::kFailedPrecondition:
      WriteProblem(res, code, "urn:mitos:problem:invalid-state",
                   "Invalid state", s.message());
      return;
    case StatusCode::kUnavailable:
      res.SetHeader("Retry-After", "1");
      WriteProblem(res, code, "urn:mitos:problem:dependency-unavailable",
                   "Dependency unavailable", s.message());
      return;
    case StatusCode::kDeadlineExceeded:
      WriteProblem(res, code, "urn:mitos:problem:deadline-exceeded",
                   "Deadline exceeded", s.message());
      return;
    case StatusCode::kInsufficientStorage:
      // No Retry-After: space comes back when an operator frees it, not
      // after a delay the server could name.
      WriteProblem(res, code, "urn:mitos:problem:insufficient-storage",
                   "Insufficient Storage", s.message());
      return;
    case StatusCode::kStorageUnavailable:
      res.SetHeader("Retry-After", "1");
      WriteProblem(res, code, "urn:mitos:problem:storage-unavailable",
                   "Storage unavailable", s.message());
      return;
    case StatusCode::kStorageReadOnly:
      // Retrying does not help until an operator makes the file writable
      // and restarts the instance: no Retry-After.
      WriteProblem(res, code, "urn:mitos:problem:storage-read-only",
                   "Storage read-only", s.message());
      return;
    case StatusCode::kStorageCorrupt:
      WriteProblem(res, code, "urn:mitos:problem:storage-corrupt",
                   "Storage corrupt", s.message());
      return;
    case StatusCode::kInternal:
      // Never expose internal text to the client.
      WriteProblem(res, code, "about:blank", "",
                   "The server failed to handle the request.");
      return;
    case StatusCode::kPermissionDenied:
      WriteProblem(res, code, "urn:mitos:problem:forbidden", "Forbidden",
                   s.message());
      return;
    case StatusCode::kNotFound:
    case StatusCode::kOk:
      WriteProblem(res, code, "about:blank", "", s.message());
      return;
  }
}

std::optional<nlohmann::json> ReadJsonObject(const Request& req,
                                             Response& res) {
  std::string_view ct = req.Header("Content-Type");
  std::string_view media = ct.substr(0, ct.find(';'));
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  if (!EqualsIgnoreCase(media, "application/json")) {
    WriteProblem(res, 415, "about:blank", "",
                 "The request body must be application/json.");
    res.SetHeader(req.method == "PATCH" ? "Accept-Patch" : "Accept-Post",
                  "application/json");
    return std::nullopt;
  }
  nlohmann::json j = nlohmann::json::parse(req.body, nullptr,
                                           /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    WriteProblem(res, 400, "urn:mitos:problem:malformed-json",
                 "Malformed JSON", "The request body is not valid JSON.");
    return std::nullopt;
  }
  if (!j.is_object()) {
    WriteProblem(res, 400, "urn:mitos:problem:malformed-json",
                 "Malformed JSON", "The request body must be a JSON object.");
    return std::nullopt;
  }
  return j;
}

std::optional<int64_t> QueryNonNegative(const Request& req, const char* name,
                                        int64_t fallback,
                                        std::vector<FieldError>* errors,
                                        const char* message) {
  const std::string* raw = req.Query(name);
  if (raw == nullptr) return fallback;
  auto v = ParseNonNegative(*raw);
  if (!v) errors->push_back({name, message});
  return v;
}

void Router::Add(std::string module, std::string method, std::string pattern,
                 Handler handler, Access access) {
  for (const auto& r : routes_) {
    if (r.method == method && r.pattern == pattern) {
      throw std::logic_error("duplicate route " + method + " " + pattern +
                             " (modules " + r.module + " and " + module + ")");
    }
  }
  Route r{std::move(module), std::move(method), std::move(pattern),
          std::move(handler), nullptr, Blocking::kOnDependencies, {},
          std::move(access)};
  r.segments = SplitPath(r.pattern);
  routes_.push_back(std::move(r));
}

void Router::AddAsync(std::string module, std::string method,
                      std::string pattern, AsyncHandler handler,
                      Blocking blocking, Access access) {
  Add(std::move(module), std::move(method), std::move(pattern), nullptr,
      std::move(access));
  routes_.back().async_handler = std::move(handler);
  routes_.back().blocking = blocking;
}

Router::Match Router::Resolve(std::string_view method,
                              std::string_view path) const {
  Match m;
  std::string_view want = method == "HEAD" ? "GET" : method;
  for (const auto& r : routes_) {
    if (r.method == want && MatchSegments(r.segments, path, &m.params)) {
      m.route = &r;
      return m;
    }
  }
  // No route for this method: list the methods the path does have.
  for (const auto& r : routes_) {
    if (!MatchSegments(r.segments, path, &m.params)) continue;
    m.allowed.push_back(r.method);
    if (r.method == "GET") m.allowed.emplace_back("HEAD");
  }
  m.params.clear();
  return m;
}

}  // namespace mitos::http
