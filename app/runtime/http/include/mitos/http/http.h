// The HTTP surface that modules see: requests, responses, routes, and the one
// mapping from Status to an RFC 9457 problem response.
//
// Modules never see the HTTP library. Handlers are thin: they decode the
// request, call a plain C++ API, and encode the result.
#ifndef MITOS_HTTP_HTTP_H_
#define MITOS_HTTP_HTTP_H_

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mitos/base/status.h"

namespace mitos::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

// The reason phrase of an HTTP status code ("Not Found"), also the title
// of its problem responses.
const char* ReasonPhrase(int status);

// Returns true iff a and b are equal ignoring ASCII case.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

struct Request {
  std::string method;       // "GET", "POST", ...
  std::string path;         // percent-decoded path, without the query
  std::string target;       // the request target as sent (path and query)
  std::multimap<std::string, std::string> query;  // decoded query parameters
  Headers headers;
  std::string body;
  std::string remote_addr;  // peer address of the socket, never a header

  // Filled in by the router.
  std::string route;                     // matched template, "/users/{id}"
  std::vector<std::string> path_params;  // values of the {placeholders}

  // Identity of the request across hops (X-Request-Id, generated if absent).
  std::string request_id;

  // Returns the first value of header `name` (case-insensitive), or "".
  std::string_view Header(std::string_view name) const;
  // Returns the first value of query parameter `name`, or nullptr.
  const std::string* Query(std::string_view name) const;
  // REQUIRES: i < path_params.size()
  const std::string& Param(size_t i) const { return path_params[i]; }
};

struct Response {
  int status = 200;
  Headers headers;
  std::string body;
  std::string content_type;

  // Replaces any header of the same name.
  void SetHeader(std::string name, std::string value);
  // Returns the first value of header `name` (case-insensitive), or "".
  std::string_view Header(std::string_view name) const;
  // Sets status, an application/json content type and the serialized body.
  void Json(int status, const nlohmann::json& body);
  // As Json, for a body already serialized. REQUIRES: `text` is JSON.
  void JsonText(int status, std::string text);
};

// A response received from another server: by a remote module's channel,
// or by the span exporter from its collector.
struct ClientResponse {
  int status = 0;
  Headers headers;
  std::string body;

  // Returns the first value of header `name` (case-insensitive), or "".
  std::string_view Header(std::string_view name) const;
};

using Handler = std::function<void(const Request&, Response&)>;

// Hands over a response that was produced later. Call it exactly once,
// from any thread.
using Done = std::function<void(Response&&)>;
// A handler that answers later, without holding a thread while it waits
// (for a database commit, or a remote module). `done` may be called before
// it returns.
using AsyncHandler = std::function<void(const Request&, Done)>;

// What a handler may wait for, which decides where the runtime runs it.
enum class Blocking {
  // Only on other modules' APIs (the default). It runs on an event loop
  // when every module its module needs is in this process, else on a
  // worker thread, where remote calls may block.
  kOnDependencies,
  // Never: it runs on an event loop whatever the topology, and starts its
  // remote calls asynchronously (the gateway's proxying).
  kNever,
};

// Who may call a route, declared where the route is registered. The runtime
// enforces it before the handler runs, on the caller it established (see
// mitos::Caller): anonymous callers of an authenticated or scoped route get
// 401, callers without the scope 403. A route that declares nothing is
// denied to every caller but the instance itself. With auth off every
// request is the instance's, so every route is open.
struct Access {
  enum class Kind { kDenied, kPublic, kAuthenticated, kScope };
  Kind kind = Kind::kDenied;
  std::string scope;  // kScope only

  static Access Public() { return {Kind::kPublic, {}}; }
  static Access Authenticated() { return {Kind::kAuthenticated, {}}; }
  static Access Scope(std::string scope) {
    return {Kind::kScope, std::move(scope)};
  }
};

// How a module's generated routes answer its reads (contract
// RegisterRoutes): in place, for reads that never wait (SQLite's), or
// later, without holding the thread, for reads that may (PostgreSQL's).
enum class Reads { kInPlace, kLater };

// Writes an RFC 9457 problem+json body. `type` is a URI reference naming the
// problem kind; "about:blank" means "nothing beyond the status code".
void WriteProblem(Response& res, int status, std::string_view type,
                  std::string_view title, std::string_view detail,
                  const std::vector<FieldError>& errors = {});

// The single mapping from a module Status to HTTP. REQUIRES: !status.ok()
//   InvalidArgument -> 422, NotFound -> 404, AlreadyExists -> 409,
//   FailedPrecondition -> 409, PermissionDenied -> 403
//     urn:mitos:problem:forbidden, Unavailable -> 503 (Retry-After: 1),
//   DeadlineExceeded -> 504,
//   Internal -> 500 (the message is replaced by a generic one),
//   InsufficientStorage -> 507 urn:mitos:problem:insufficient-storage,
//   StorageUnavailable -> 503 urn:mitos:problem:storage-unavailable
//     (Retry-After: 1),
//   StorageReadOnly -> 503 urn:mitos:problem:storage-read-only,
//   StorageCorrupt -> 500 urn:mitos:problem:storage-corrupt.
void WriteStatus(Response& res, const Status& status);

// Returns the HTTP status code that WriteStatus would use.
int HttpStatusFor(StatusCode code);

// Decodes a JSON object body. On failure writes the problem response and
// returns nullopt:
//   415 when Content-Type is not application/json (parameters allowed),
//   400 when the body is not valid UTF-8 JSON or not a JSON object.
std::optional<nlohmann::json> ReadJsonObject(const Request& req,
                                             Response& res);

// Returns the query parameter `name` as a non-negative integer, `fallback`
// when it is absent, or nullopt after appending {name, message} to
// `errors` when it is not a non-negative integer.
std::optional<int64_t> QueryNonNegative(const Request& req, const char* name,
                                        int64_t fallback,
                                        std::vector<FieldError>* errors,
                                        const char* message);

// Route table of one server instance. Patterns are literal segments and
// "{name}" placeholders, e.g. "/users/{id}". A trailing "{*}" segment matches
// the rest of the path (one or more segments, or none).
class Router {
 public:
  struct Route {
    std::string module;   // owner, for logs and metrics
    std::string method;
    std::string pattern;
    Handler handler;                    // set for a route added by Add
    AsyncHandler async_handler;         // set for a route added by AddAsync
    Blocking blocking = Blocking::kOnDependencies;
    std::vector<std::string> segments;  // pattern split on '/'
    Access access;                      // denied unless declared
  };

  // Adds a route. A later route with the same method and pattern is a
  // programming error and aborts start-up (throws std::logic_error).
  void Add(std::string module, std::string method, std::string pattern,
           Handler handler, Access access = {});
  // As Add, for a handler that answers later. Writes should be added this
  // way: a handler added by Add that is not GET, HEAD or OPTIONS always
  // runs on a worker thread, since it may wait for its database's writer.
  void AddAsync(std::string module, std::string method, std::string pattern,
                AsyncHandler handler,
                Blocking blocking = Blocking::kOnDependencies,
                Access access = {});

  struct Match {
    const Route* route = nullptr;          // set when method and path match
    std::vector<std::string> params;       // placeholder values
    std::vector<std::string> allowed;      // methods for the path, if any
  };
  // Finds the route for method and path. When the path matches but the
  // method does not, route is null and `allowed` lists the path's methods
  // (HEAD is implied by GET).
  Match Resolve(std::string_view method, std::string_view path) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

}  // namespace mitos::http

#endif  // MITOS_HTTP_HTTP_H_
