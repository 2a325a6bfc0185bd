// Helpers for fuzz targets that drive a module's routes in-process: the
// modules started as the runtime starts them, on a temporary data
// directory, and requests handed straight to their handlers, with no
// socket and no event loop in between.
#ifndef MITOS_FUZZING_MODULES_H_
#define MITOS_FUZZING_MODULES_H_

#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "mitos/core/module.h"
#include "mitos/http/http.h"

namespace mitos::fuzzing {

// Modules running in this process, for as long as the object lives.
class Modules {
 public:
  // Starts every module of `catalog`, in the order given (a module after
  // the modules it needs), as the runtime does: with the schema's defaults,
  // each module's database in a new temporary directory, and each API it
  // needs bound to the in-process implementation, observed. Registers
  // every module's routes on one router. Aborts the process on failure.
  explicit Modules(std::vector<ModuleSpec> catalog);
  // Stops the modules (closing their databases) and removes the directory.
  ~Modules();
  Modules(const Modules&) = delete;
  Modules& operator=(const Modules&) = delete;

  // Runs the handler of the route that `req` matches, as the runtime would
  // (the route, path parameters and request id set in `req`, the request's
  // context current), and returns its answer, waiting for an asynchronous
  // handler's. Returns nullopt when no route matches. Aborts when the
  // handler throws, answers twice, or has not answered within 10 seconds.
  std::optional<http::Response> Serve(http::Request& req);

 private:
  class Context;
  struct State;
  std::unique_ptr<State> state_;
};

// Returns the request that the server hands to a handler for a fuzz input
// of the form
//   METHOD SP TARGET LF
//   CONTENT-TYPE LF         (an empty line: no Content-Type)
//   BODY                    (the rest of the input)
// that is, what the request parser makes of
//   METHOD SP TARGET " HTTP/1.1" CRLF "Host: fuzz" CRLF
//   ["Content-Type: " CONTENT-TYPE CRLF] ["Content-Length: " n CRLF] CRLF BODY
// (Content-Length when BODY is not empty). Returns nullopt when the parser
// refuses that request.
std::optional<http::Request> ParseInput(std::string_view input);

// Aborts the process, naming the request, unless `res` is an answer that
// the API may give to a client's request: a 2xx or a 4xx (nothing a client
// sends may make a module fail); no body for 204; otherwise a JSON object,
// as application/json for a 2xx (with a Location for a 201) and as an RFC
// 9457 application/problem+json whose "status" is the response's for a 4xx.
// Returns the parsed body (null for 204).
nlohmann::json CheckResponse(const http::Request& req,
                             const http::Response& res);

// Aborts the process with `what` and a description of the exchange.
[[noreturn]] void Fail(std::string_view what, const http::Request& req,
                       const http::Response* res = nullptr);

}  // namespace mitos::fuzzing

#endif  // MITOS_FUZZING_MODULES_H_
