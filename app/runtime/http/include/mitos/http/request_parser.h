// An incremental HTTP/1.1 request parser (RFC 9112) for the server's event
// loop: bytes go in as they arrive, complete requests come out.
//
// It is strict where leniency has caused request smuggling and header
// injection: CRLF line endings only, no obs-fold, no bare CR or control
// characters in a field, Content-Length and Transfer-Encoding never
// together, one Content-Length value. Header values are taken verbatim
// (never percent-decoded); the path and query are decoded.
#ifndef MITOS_HTTP_REQUEST_PARSER_H_
#define MITOS_HTTP_REQUEST_PARSER_H_

#include <cstddef>
#include <string>

#include "mitos/http/http.h"

namespace mitos::internal {

class RequestParser {
 public:
  struct Limits {
    size_t max_header_bytes = 64 << 10;  // request line and fields
    size_t max_body_bytes = 1 << 20;     // after chunked decoding
    size_t max_fields = 100;
  };

  enum class Result {
    kNeedMore,  // everything given was consumed; wait for more bytes
    kDone,      // request() is complete; bytes after it remain in `in`
    kError,     // status()/detail() say why; the connection must close
  };

  explicit RequestParser(Limits limits) : limits_(limits) {}

  // Consumes bytes from the front of `in`.
  Result Parse(std::string& in);

  // The request (on kDone), or what was parsed of it (on kError).
  http::Request& request() { return req_; }
  // The client asked to keep the connection open (HTTP/1.1 default).
  bool keep_alive() const { return keep_alive_; }
  // The request line said HTTP/1.0.
  bool http10() const { return http10_; }
  // The head is complete, the body is not, and the client waits for a
  // 100 Continue before sending it. Cleared by TakeExpectContinue.
  bool TakeExpectContinue();
  // True once any byte of the current request has been consumed.
  bool started() const { return phase_ != Phase::kHead || scanned_ > 0; }
  int status() const { return status_; }
  const std::string& detail() const { return detail_; }

  // Forgets the finished request; the next Parse starts a new one.
  void Reset();

 private:
  enum class Phase { kHead, kLengthBody, kChunkSize, kChunkData, kTrailers, kDone };

  Result Fail(int status, std::string detail);
  Result HeadTooLarge();
  Result BodyTooLarge();
  Result TrailersTooLarge();
  // Moves up to remaining_ bytes of body from `in`; true once none remain.
  bool TakeBody(std::string& in);
  Result ParseHead(std::string_view head);
  Result ParseBody(std::string& in);

  Limits limits_;
  Phase phase_ = Phase::kHead;
  size_t scanned_ = 0;       // bytes of `in` searched for the head's end
  size_t remaining_ = 0;     // body bytes (or chunk bytes) still expected
  size_t trailer_bytes_ = 0;
  bool keep_alive_ = true;
  bool http10_ = false;
  bool expect_continue_ = false;
  http::Request req_;
  int status_ = 0;
  std::string detail_;
};

}  // namespace mitos::internal

#endif  // MITOS_HTTP_REQUEST_PARSER_H_
