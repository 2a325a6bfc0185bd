// An incremental HTTP/1.1 request parser (RFC 9112) for the server's event
// loop: bytes go in as they arrive, complete requests come out.
//
// It is strict where leniency has caused request smuggling and header
// injection. Any of these is a kError with status 400 (unless said
// otherwise), found as soon as the line that holds it is complete (a bare
// LF, or a CR not followed by LF, as soon as it is seen):
//
//  - Lines end in CRLF only: a bare CR or a bare LF anywhere in the head,
//    in a chunk line or in the trailer section is an error.
//  - Field lines (of the head and of the trailer section alike): no
//    obs-fold, a token name directly followed by ':', a value without CR,
//    LF, NUL or other control characters (HTAB allowed).
//  - Content-Length is digits only, given once (or repeated with the same
//    value), never with Transfer-Encoding. Transfer-Encoding must end in
//    chunked, once (400 otherwise; 501 for any other coding before it) and
//    is refused in HTTP/1.0. GET, HEAD, OPTIONS and TRACE have no body.
//  - Chunked bodies (RFC 9112 7.1): chunk-size is 1*HEXDIG with nothing
//    around it (leading zeros allowed); a size beyond max_body_bytes, or one
//    that does not fit a size_t, is a 413. Chunk extensions must follow
//    *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] ) and
//    are ignored once checked. Chunk data is followed by exactly CRLF.
//  - Trailer fields are checked like header fields and then discarded:
//    they never reach the request's headers, since a field that the head
//    did not declare must not change how the request is handled. Head and
//    trailer section together count toward max_header_bytes (431 beyond)
//    and max_fields.
//  - Host (RFC 9112 3.2): an HTTP/1.1 request needs exactly one Host field;
//    HTTP/1.0 may omit it. Its value must be a uri-host with an optional
//    port (RFC 3986): no whitespace, '/', '@', ',' or other delimiters.
//  - The request target is origin-form ("/path?query"), or absolute-form
//    with scheme http or https ("http://authority/path?query"; RFC 9112
//    3.2.2): then the authority (no userinfo, a non-empty host) replaces
//    the Host field's value, and request().target holds the origin-form
//    ("/" if the path is empty). Fragments ('#') are refused. CONNECT with
//    an authority-form target is a 501 (not supported); the asterisk-form
//    ("OPTIONS *") and every other form are refused.
//
// Header values are taken verbatim (never percent-decoded); the path and
// query are decoded.
#ifndef MITOS_HTTP_REQUEST_PARSER_H_
#define MITOS_HTTP_REQUEST_PARSER_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "mitos/http/http.h"

namespace mitos::internal {

class RequestParser {
 public:
  struct Limits {
    size_t max_header_bytes = 64 << 10;  // request line, fields, trailers
    size_t max_body_bytes = 1 << 20;     // after chunked decoding
    size_t max_fields = 100;             // header and trailer fields
  };

  enum class Result {
    kNeedMore,  // wait for more bytes: body bytes given were consumed, an
                // incomplete head stays at the front of `in`
    kDone,      // request() is complete; bytes after it remain in `in`
    kError,     // status()/detail() say why; the connection must close
  };

  explicit RequestParser(Limits limits) : limits_(limits) {}

  // Consumes bytes from the front of `in`. Between calls the caller may
  // only append to `in`: the bytes of a head that is not complete yet stay
  // at its front until it is.
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
  Result ParseHeadLines(std::string& in);
  Result ParseRequestLine(std::string_view line);
  Result ParseTarget(std::string_view target);
  // Checks one field line of the head or the trailer section (`where`
  // names which, for the problem's detail) and, if `out` is set, appends
  // it. False after Fail.
  bool TakeFieldLine(std::string_view line, const char* where,
                     http::Headers* out);
  Result FinishHead();
  Result CheckHost();
  Result ParseChunkLine(std::string_view line);
  // Finds the CRLF that ends the line being read (which starts at or
  // before scanned_), looking at no byte at or past offset `limit`: true
  // with its offset in *eol, scanned_ moved past it; false with *r
  // kNeedMore (not all here yet, or not before `limit`) or kError (a bare
  // CR or LF).
  bool FindLineEnd(const std::string& in, size_t limit, size_t* eol,
                   Result* r);
  // Moves up to remaining_ bytes of body from `in`; true once none remain.
  bool TakeBody(std::string& in);
  Result ParseBody(std::string& in);

  Limits limits_;
  Phase phase_ = Phase::kHead;
  size_t scanned_ = 0;     // bytes at the front of `in` already searched
  size_t line_start_ = 0;  // where the head's next unparsed line starts
  bool have_request_line_ = false;
  size_t head_bytes_ = 0;  // the whole head, once complete
  size_t remaining_ = 0;   // body bytes (or chunk bytes) still expected
  size_t trailer_bytes_ = 0;
  size_t fields_ = 0;  // header and trailer fields so far
  bool keep_alive_ = true;
  bool http10_ = false;
  bool expect_continue_ = false;
  std::string authority_;  // of an absolute-form target
  http::Request req_;
  int status_ = 0;
  std::string detail_;
};

}  // namespace mitos::internal

#endif  // MITOS_HTTP_REQUEST_PARSER_H_
