// Fuzzes RequestParser with whole connection byte streams, pipelined
// requests included, the way the server drives it: parse, and on kDone
// check the request, Reset and go on with the bytes that remain; stop at
// kError. Then the same stream is fed again in pieces, and both runs must
// give the same requests and the same end.
//
// The input is 4 parameter bytes followed by the stream. Small limits, so
// that the limit paths are reached too:
//   [0] max_header_bytes = 16 + 8 * b (16..2056)
//   [1] max_body_bytes = 4 * b (0..1020)
//   [2] max_fields = b % 32
//   [3] how the stream is cut: 0 gives one byte at a time, any other value
//       pieces of 1 to 1 + b % 32 bytes, their lengths drawn from a
//       generator seeded with b.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mitos/http/http.h"
#include "mitos/http/request_parser.h"

namespace mitos::internal {
namespace {

using Result = RequestParser::Result;

struct Parsed {
  std::string method;
  std::string target;
  std::string path;
  std::multimap<std::string, std::string> query;
  http::Headers headers;
  std::string body;
  bool keep_alive = false;
  bool http10 = false;

  bool operator==(const Parsed&) const = default;
};

// What one run made of a stream.
struct Outcome {
  std::vector<Parsed> requests;
  int error = 0;         // the status of the kError that ended it, or 0
  bool started = false;  // without an error: a request was under way
  std::string left;      // without an error: bytes kept for the next Parse

  bool operator==(const Outcome&) const = default;
};

[[noreturn]] void Fail(const char* what, const std::string& detail = "") {
  std::fprintf(stderr, "request parser fuzz: %s\n%s\n", what, detail.c_str());
  std::abort();
}

bool IsTchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')) {
    return true;
  }
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) !=
         std::string_view::npos;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (!IsTchar(c)) return false;
  }
  return true;
}

// The rules of request_parser.h, checked on a request it returned.
void CheckRequest(RequestParser& p, const RequestParser::Limits& limits,
                  size_t consumed) {
  const http::Request& r = p.request();
  if (consumed == 0) Fail("kDone without consuming a byte");
  if (!IsToken(r.method)) Fail("method is not a token", r.method);
  if (r.target.empty() || r.target[0] != '/') {
    Fail("target is not an absolute path", r.target);
  }
  for (unsigned char c : r.target) {
    if (c <= 0x20 || c >= 0x7f) {
      Fail("target holds a space or a control", r.target);
    }
  }
  if (r.path.empty() || r.path[0] != '/') {
    Fail("path does not start with /", r.path);
  }
  // An absolute-form target's authority may add the Host field it stands
  // in for, which was not sent.
  if (r.headers.size() > limits.max_fields + 1) {
    Fail("more fields than max_fields");
  }
  // The head as sent was at least the request line and the fields (their
  // values trimmed), each ended by CRLF, and the empty line. Host is left
  // out: an absolute-form target's authority may stand in for it.
  size_t head = r.method.size() + 1 + r.target.size() + 1 + 8 + 2 + 2;
  const std::string* content_length = nullptr;
  bool chunked = false;
  for (const auto& [name, value] : r.headers) {
    if (!http::EqualsIgnoreCase(name, "Host")) {
      head += name.size() + 1 + value.size() + 2;
    }
    if (!IsToken(name)) Fail("field name is not a token", name);
    for (unsigned char c : value) {
      if ((c < 0x20 && c != '\t') || c == 0x7f) {
        Fail("field value holds a control character", value);
      }
    }
    if (!value.empty() && (value.front() == ' ' || value.front() == '\t' ||
                           value.back() == ' ' || value.back() == '\t')) {
      Fail("field value is not trimmed", value);
    }
    if (http::EqualsIgnoreCase(name, "Content-Length")) {
      if (content_length != nullptr && *content_length != value) {
        Fail("two different Content-Length values accepted");
      }
      content_length = &value;
    }
    if (http::EqualsIgnoreCase(name, "Transfer-Encoding")) chunked = true;
  }
  if (head > limits.max_header_bytes) {
    Fail(
        "head longer than max_header_bytes accepted",
        std::to_string(head) + " > " + std::to_string(limits.max_header_bytes));
  }
  if (content_length != nullptr && chunked) {
    Fail("Content-Length and Transfer-Encoding accepted together");
  }
  if (content_length != nullptr) {
    size_t n = 0;
    for (char c : *content_length) {
      if (c < '0' || c > '9') {
        Fail("Content-Length is not a number", *content_length);
      }
      n = n * 10 + static_cast<size_t>(c - '0');
    }
    if (n != r.body.size()) Fail("body length differs from Content-Length");
  }
  if (r.body.size() > limits.max_body_bytes) Fail("body over max_body_bytes");
  if ((r.method == "GET" || r.method == "HEAD" || r.method == "OPTIONS") &&
      (!r.body.empty() || chunked)) {
    Fail("a body accepted on a method that has none", r.method);
  }
}

void CheckError(const RequestParser& p) {
  if (p.status() < 400 || p.status() > 599) {
    Fail("kError without an error status", std::to_string(p.status()));
  }
  if (p.detail().empty()) Fail("kError without a detail");
  if (p.keep_alive()) Fail("kError keeps the connection open");
}

// One connection: bytes arrive in pieces and are parsed as the server's
// read loop parses them.
class Connection {
 public:
  explicit Connection(const RequestParser::Limits& limits)
      : limits_(limits), parser_(limits) {}

  // Appends a piece and parses what it completes. Returns false once the
  // connection has failed and must close.
  bool Receive(std::string_view piece) {
    in_.append(piece);
    for (;;) {
      if (in_.empty() && !parser_.started()) return true;
      size_t before = in_.size();
      Result r = parser_.Parse(in_);
      if (in_.size() > before) Fail("Parse added bytes to its input");
      consumed_ += before - in_.size();
      if (r == Result::kNeedMore) {
        parser_.TakeExpectContinue();
        return true;
      }
      if (r == Result::kError) {
        CheckError(parser_);
        out_.error = parser_.status();
        return false;
      }
      CheckRequest(parser_, limits_, consumed_);
      const http::Request& q = parser_.request();
      out_.requests.push_back({q.method, q.target, q.path, q.query, q.headers,
                               q.body, parser_.keep_alive(), parser_.http10()});
      parser_.Reset();
      consumed_ = 0;
      if (parser_.started()) Fail("started() after Reset");
    }
  }

  Outcome Finish() {
    if (out_.error == 0) {
      out_.started = parser_.started();
      out_.left = in_;
    }
    return out_;
  }

 private:
  RequestParser::Limits limits_;
  RequestParser parser_;
  std::string in_;
  size_t consumed_ = 0;
  Outcome out_;
};

std::string Escape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

std::string Describe(const Outcome& o) {
  std::string s;
  for (const Parsed& p : o.requests) {
    s += "  " + Escape(p.method) + " " + Escape(p.target) +
         " path=" + Escape(p.path) + " body=" + Escape(p.body) +
         " keep_alive=" + std::to_string(p.keep_alive) +
         " http10=" + std::to_string(p.http10) + "\n";
    for (const auto& [k, v] : p.query) {
      s += "    query " + Escape(k) + "=" + Escape(v) + "\n";
    }
    for (const auto& [k, v] : p.headers) {
      s += "    " + Escape(k) + ": " + Escape(v) + "\n";
    }
  }
  s += "  error=" + std::to_string(o.error) +
       " started=" + std::to_string(o.started) + " left=" + Escape(o.left) +
       "\n";
  return s;
}

// Feeds `stream` to a new connection at once, or, given `cut`, in pieces as
// the header comment says.
Outcome Run(const RequestParser::Limits& limits, std::string_view stream,
            std::optional<uint8_t> cut) {
  Connection c(limits);
  uint32_t state = 0x9e3779b9u ^ cut.value_or(0);
  size_t pos = 0;
  while (pos < stream.size()) {
    size_t n = stream.size() - pos;  // all of it, when not cut
    if (cut) {
      size_t longest = *cut == 0 ? 1 : 1 + *cut % 32;
      state ^= state << 13;
      state ^= state >> 17;
      state ^= state << 5;
      n = std::min(n, 1 + state % longest);
    }
    bool open = c.Receive(stream.substr(pos, n));
    pos += n;
    if (!open) break;
  }
  return c.Finish();
}

}  // namespace
}  // namespace mitos::internal

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using mitos::internal::RequestParser;
  if (size < 4) return 0;
  RequestParser::Limits limits;
  limits.max_header_bytes = 16 + 8 * size_t{data[0]};
  limits.max_body_bytes = 4 * size_t{data[1]};
  limits.max_fields = data[2] % 32;
  std::string_view stream(reinterpret_cast<const char*>(data) + 4, size - 4);

  mitos::internal::Outcome whole =
      mitos::internal::Run(limits, stream, std::nullopt);
  mitos::internal::Outcome pieces =
      mitos::internal::Run(limits, stream, data[3]);
  if (!(whole == pieces)) {
    mitos::internal::Fail("the stream parsed differently when cut into pieces",
                          "whole:\n" + mitos::internal::Describe(whole) +
                              "in pieces:\n" +
                              mitos::internal::Describe(pieces));
  }
  return 0;
}
