// Fuzzes the chunked decoding of RequestParser: the input is the body of
//   POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n
// sent on its own, after another request on the same connection, and one
// byte at a time. Every way must end the same; the decoded body never
// exceeds max_body_bytes; and a complete request's body, and the bytes it
// left for the next request, are what a plain decoder of RFC 9112 7.1
// makes of the input.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "mitos/http/request_parser.h"

namespace mitos::internal {
namespace {

using Result = RequestParser::Result;

constexpr std::string_view kHead =
    "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
constexpr std::string_view kFirst = "GET /first HTTP/1.1\r\nHost: x\r\n\r\n";

[[noreturn]] void Fail(const char* what, const std::string& detail = "") {
  std::fprintf(stderr, "chunked fuzz: %s\n%s\n", what, detail.c_str());
  std::abort();
}

struct Outcome {
  Result result = Result::kNeedMore;
  int status = 0;
  std::string body;  // on kDone
  std::string left;  // on kDone: the bytes after the request

  bool operator==(const Outcome&) const = default;
};

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// A plain chunked decoder, with none of the parser's limits: chunk-size
// [chunk-ext] CRLF chunk-data CRLF ..., "0" [chunk-ext] CRLF, trailer lines,
// CRLF; white space around the size allowed, as the parser allows it.
// Returns the body and the number of bytes it took from the front of `s`,
// or nullopt when `s` does not start with a complete chunked body.
std::optional<std::pair<std::string, size_t>> Dechunk(std::string_view s) {
  std::string body;
  size_t pos = 0;
  for (;;) {
    size_t eol = s.find("\r\n", pos);
    if (eol == std::string_view::npos) return std::nullopt;
    std::string_view digits = s.substr(pos, eol - pos);
    digits = TrimOws(digits.substr(0, digits.find(';')));
    if (digits.empty()) return std::nullopt;
    while (digits.size() > 1 && digits[0] == '0') digits.remove_prefix(1);
    if (digits.size() > 15) return std::nullopt;  // beyond any body limit
    size_t size = 0;
    for (char c : digits) {
      int d;
      if (c >= '0' && c <= '9')
        d = c - '0';
      else if (c >= 'a' && c <= 'f')
        d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        d = c - 'A' + 10;
      else
        return std::nullopt;
      size = size * 16 + static_cast<size_t>(d);
    }
    pos = eol + 2;
    if (size == 0) break;
    if (s.size() - pos < size + 2) return std::nullopt;
    body.append(s.substr(pos, size));
    pos += size;
    if (s.substr(pos, 2) != "\r\n") return std::nullopt;
    pos += 2;
  }
  for (;;) {  // trailer fields, up to the empty line
    size_t eol = s.find("\r\n", pos);
    if (eol == std::string_view::npos) return std::nullopt;
    bool last = eol == pos;
    pos = eol + 2;
    if (last) return std::make_pair(std::move(body), pos);
  }
}

// Parses the POST that `in` starts with, fed in pieces of `step` bytes (all
// at once when 0). `parser` may have served requests before.
Outcome Parse(RequestParser& parser, std::string& in, std::string_view rest,
              size_t step, const RequestParser::Limits& limits) {
  Outcome out;
  size_t pos = 0;
  for (;;) {
    size_t n =
        step == 0 ? rest.size() - pos : std::min(step, rest.size() - pos);
    in.append(rest.substr(pos, n));
    pos += n;
    out.result = parser.Parse(in);
    if (parser.request().body.size() > limits.max_body_bytes) {
      Fail("the decoded body exceeds max_body_bytes");
    }
    if (out.result != Result::kNeedMore || pos == rest.size()) break;
  }
  if (out.result == Result::kError) {
    out.status = parser.status();
    if (out.status < 400 || out.status > 599)
      Fail("kError without an error status");
  } else if (out.result == Result::kDone) {
    if (parser.request().method != "POST") Fail("not the POST");
    out.body = parser.request().body;
    // What the decoder has not used stays for the next request.
    out.left = in + std::string(rest.substr(pos));
  }
  return out;
}

std::string Show(const Outcome& o) {
  return "result=" + std::to_string(static_cast<int>(o.result)) +
         " status=" + std::to_string(o.status) +
         " body=" + std::to_string(o.body.size()) +
         " bytes, left=" + std::to_string(o.left.size()) + " bytes";
}

void Check(std::string_view chunked, size_t max_body_bytes) {
  RequestParser::Limits limits;
  limits.max_body_bytes = max_body_bytes;
  std::string wire = std::string(kHead) + std::string(chunked);

  RequestParser alone(limits);
  std::string in;
  Outcome once = Parse(alone, in, wire, 0, limits);

  if (once.result == Result::kDone) {
    auto expected = Dechunk(chunked);
    if (!expected) Fail("a chunked body accepted that a plain decoder refuses");
    if (expected->first != once.body) Fail("the decoded body differs");
    if (chunked.substr(expected->second) != once.left) {
      Fail("the bytes left after the body differ");
    }
  }

  RequestParser second(limits);
  std::string in2 = std::string(kFirst);
  if (second.Parse(in2) != Result::kDone || second.request().path != "/first") {
    Fail("the first request of the pipeline failed");
  }
  second.Reset();
  Outcome after = Parse(second, in2, wire, 0, limits);
  if (!(after == once)) {
    Fail("the POST parsed differently after another request",
         Show(once) + "\n" + Show(after));
  }

  RequestParser bytes(limits);
  std::string in3;
  Outcome byte_by_byte = Parse(bytes, in3, wire, 1, limits);
  if (!(byte_by_byte == once)) {
    Fail("the POST parsed differently when sent one byte at a time",
         Show(once) + "\n" + Show(byte_by_byte));
  }
}

}  // namespace
}  // namespace mitos::internal

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view chunked(reinterpret_cast<const char*>(data), size);
  mitos::internal::Check(chunked, 64);
  mitos::internal::Check(chunked, 1 << 20);
  return 0;
}
