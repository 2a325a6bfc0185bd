#include "mitos/http/request_parser.h"

#include <httplib.h>

#include <string_view>

namespace mitos::internal {
namespace {

using http::EqualsIgnoreCase;

constexpr size_t kMaxChunkLine = 1024;
constexpr size_t kMaxTrailerBytes = 8 << 10;

// RFC 9110 token characters.
bool IsTchar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*':
    case '+': case '-': case '.': case '^': case '_': case '`': case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (!IsTchar(c)) return false;
  }
  return true;
}

// A field value may hold visible characters, spaces, tabs and obs-text,
// never CR, LF, NUL or other controls.
bool IsFieldValue(std::string_view s) {
  for (unsigned char c : s) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool ParseDecimal(std::string_view s, size_t* out) {
  if (s.empty() || s.size() > 18) return false;
  size_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<size_t>(c - '0');
  }
  *out = v;
  return true;
}

bool ParseHex(std::string_view s, size_t* out) {
  if (s.empty() || s.size() > 15) return false;
  size_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return false;
    v = v * 16 + static_cast<size_t>(d);
  }
  *out = v;
  return true;
}

bool HasToken(std::string_view list, std::string_view token) {
  size_t i = 0;
  while (i <= list.size()) {
    size_t j = list.find(',', i);
    if (j == std::string_view::npos) j = list.size();
    if (EqualsIgnoreCase(TrimOws(list.substr(i, j - i)), token)) return true;
    i = j + 1;
  }
  return false;
}

bool IsBodyMethod(std::string_view m) {
  return m == "POST" || m == "PUT" || m == "PATCH" || m == "DELETE";
}

}  // namespace

void RequestParser::Reset() {
  phase_ = Phase::kHead;
  scanned_ = 0;
  remaining_ = 0;
  trailer_bytes_ = 0;
  keep_alive_ = true;
  http10_ = false;
  expect_continue_ = false;
  req_ = http::Request();
  status_ = 0;
  detail_.clear();
}

bool RequestParser::TakeExpectContinue() {
  bool e = expect_continue_;
  expect_continue_ = false;
  return e;
}

RequestParser::Result RequestParser::Fail(int status, std::string detail) {
  status_ = status;
  detail_ = std::move(detail);
  keep_alive_ = false;
  return Result::kError;
}

RequestParser::Result RequestParser::HeadTooLarge() {
  return Fail(431, "The request head exceeds " +
                       std::to_string(limits_.max_header_bytes) + " bytes.");
}

RequestParser::Result RequestParser::BodyTooLarge() {
  return Fail(413, "The request body exceeds " +
                       std::to_string(limits_.max_body_bytes) + " bytes.");
}

RequestParser::Result RequestParser::TrailersTooLarge() {
  return Fail(431, "The trailer fields are too large.");
}

bool RequestParser::TakeBody(std::string& in) {
  size_t n = std::min(remaining_, in.size());
  req_.body.append(in, 0, n);
  in.erase(0, n);
  remaining_ -= n;
  return remaining_ == 0;
}

RequestParser::Result RequestParser::Parse(std::string& in) {
  if (phase_ == Phase::kHead) {
    // Clients may send empty lines between requests (RFC 9112 2.2).
    if (scanned_ == 0) {
      size_t skip = 0;
      while (skip + 1 < in.size() && in[skip] == '\r' && in[skip + 1] == '\n') skip += 2;
      if (skip > 0) in.erase(0, skip);
    }
    size_t from = scanned_ >= 3 ? scanned_ - 3 : 0;
    size_t end = in.find("\r\n\r\n", from);
    if (end == std::string::npos) {
      scanned_ = in.size();
      if (in.size() > limits_.max_header_bytes) {
        return HeadTooLarge();
      }
      return Result::kNeedMore;
    }
    if (end + 4 > limits_.max_header_bytes) {
      return HeadTooLarge();
    }
    Result r = ParseHead(std::string_view(in.data(), end));
    in.erase(0, end + 4);
    if (r != Result::kDone) return r;
  }
  return ParseBody(in);
}

RequestParser::Result RequestParser::ParseHead(std::string_view head) {
  // Request line: method SP request-target SP HTTP-version.
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return Fail(400, "The request line is malformed.");
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!IsToken(method)) return Fail(400, "The request method is malformed.");
  req_.method = std::string(method);
  if (version.size() != 8 || version.compare(0, 5, "HTTP/") != 0) {
    return Fail(400, "The HTTP version is malformed.");
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    return Fail(505, "Only HTTP/1.0 and HTTP/1.1 are supported.");
  }
  http10_ = version == "HTTP/1.0";
  keep_alive_ = !http10_;
  if (target.empty() || target.front() != '/') {
    return Fail(400, "The request target must be an absolute path.");
  }
  for (unsigned char c : target) {
    if (c <= 0x20 || c >= 0x7f) return Fail(400, "The request target is malformed.");
  }
  req_.target = std::string(target);
  size_t q = target.find('?');
  req_.path = httplib::detail::decode_url(std::string(target.substr(0, q)), false);
  if (q != std::string_view::npos) {
    httplib::detail::parse_query_text(std::string(target.substr(q + 1)), req_.query);
  }

  // Fields.
  size_t pos = eol == std::string_view::npos ? head.size() : eol + 2;
  while (pos < head.size()) {
    size_t next = head.find("\r\n", pos);
    if (next == std::string_view::npos) next = head.size();
    std::string_view field = head.substr(pos, next - pos);
    pos = next + 2;
    if (!field.empty() && (field.front() == ' ' || field.front() == '\t')) {
      return Fail(400, "Folded header lines are not accepted.");
    }
    size_t colon = field.find(':');
    if (colon == std::string_view::npos || !IsToken(field.substr(0, colon))) {
      return Fail(400, "A header line is malformed.");
    }
    std::string_view value = TrimOws(field.substr(colon + 1));
    if (!IsFieldValue(value)) {
      return Fail(400, "A header value contains a line break or a control character.");
    }
    if (req_.headers.size() >= limits_.max_fields) {
      return Fail(431, "The request has more than " +
                           std::to_string(limits_.max_fields) + " header fields.");
    }
    req_.headers.emplace_back(std::string(field.substr(0, colon)), std::string(value));
  }

  // Framing (RFC 9112 6): the checks that keep one request from being read
  // as two.
  std::string_view te;
  std::string_view cl;
  bool has_te = false;
  bool has_cl = false;
  for (const auto& [k, v] : req_.headers) {
    if (EqualsIgnoreCase(k, "Transfer-Encoding")) {
      if (has_te) return Fail(400, "Transfer-Encoding is given twice.");
      has_te = true;
      te = v;
    } else if (EqualsIgnoreCase(k, "Content-Length")) {
      if (has_cl && v != cl) return Fail(400, "Content-Length is given twice.");
      has_cl = true;
      cl = v;
    } else if (EqualsIgnoreCase(k, "Connection")) {
      if (HasToken(v, "close")) keep_alive_ = false;
      else if (HasToken(v, "keep-alive")) keep_alive_ = true;
    } else if (EqualsIgnoreCase(k, "Expect")) {
      if (!EqualsIgnoreCase(v, "100-continue")) {
        return Fail(417, "Only Expect: 100-continue is supported.");
      }
      expect_continue_ = true;
    } else if (EqualsIgnoreCase(k, "Content-Encoding")) {
      if (!v.empty() && !EqualsIgnoreCase(v, "identity")) {
        return Fail(415, "Compressed request bodies are not accepted.");
      }
    }
  }
  if (has_te && has_cl) {
    return Fail(400, "Content-Length and Transfer-Encoding together are not accepted.");
  }
  if (has_te && !EqualsIgnoreCase(te, "chunked")) {
    return Fail(501, "Only the chunked transfer coding is supported.");
  }
  size_t length = 0;
  if (has_cl && !ParseDecimal(cl, &length)) {
    return Fail(400, "Content-Length is not a number.");
  }
  if (length > limits_.max_body_bytes) {
    return BodyTooLarge();
  }
  if (!IsBodyMethod(req_.method) && (length > 0 || has_te)) {
    return Fail(400, "A " + req_.method + " request cannot have a body.");
  }
  // A request with neither field has no body (RFC 9112 6.3).
  if (has_te) {
    phase_ = Phase::kChunkSize;
  } else if (length > 0) {
    phase_ = Phase::kLengthBody;
    remaining_ = length;
  } else {
    phase_ = Phase::kDone;
  }
  if (phase_ == Phase::kDone) expect_continue_ = false;
  return Result::kDone;
}

RequestParser::Result RequestParser::ParseBody(std::string& in) {
  for (;;) {
    switch (phase_) {
      case Phase::kHead:
        return Result::kNeedMore;  // unreachable: the head comes first
      case Phase::kDone:
        return Result::kDone;
      case Phase::kLengthBody:
        if (!TakeBody(in)) return Result::kNeedMore;
        phase_ = Phase::kDone;
        break;
      case Phase::kChunkSize: {
        size_t eol = in.find("\r\n");
        if (eol == std::string::npos) {
          if (in.size() > kMaxChunkLine) return Fail(400, "A chunk size line is too long.");
          return Result::kNeedMore;
        }
        std::string_view line(in.data(), eol);
        line = TrimOws(line.substr(0, line.find(';')));
        size_t size = 0;
        if (eol > kMaxChunkLine || !ParseHex(line, &size)) {
          return Fail(400, "A chunk size is malformed.");
        }
        in.erase(0, eol + 2);
        if (size == 0) {
          phase_ = Phase::kTrailers;
        } else if (req_.body.size() + size > limits_.max_body_bytes) {
          return BodyTooLarge();
        } else {
          remaining_ = size;
          phase_ = Phase::kChunkData;
        }
        break;
      }
      case Phase::kChunkData: {
        if (!TakeBody(in)) return Result::kNeedMore;
        if ((!in.empty() && in[0] != '\r') || (in.size() >= 2 && in[1] != '\n')) {
          return Fail(400, "A chunk is not followed by CRLF.");
        }
        if (in.size() < 2) return Result::kNeedMore;
        in.erase(0, 2);
        phase_ = Phase::kChunkSize;
        break;
      }
      case Phase::kTrailers: {
        // Trailer fields are read and dropped; an empty line ends them.
        size_t eol = in.find("\r\n");
        if (eol == std::string::npos) {
          if (trailer_bytes_ + in.size() > kMaxTrailerBytes) {
            return TrailersTooLarge();
          }
          return Result::kNeedMore;
        }
        trailer_bytes_ += eol + 2;
        if (trailer_bytes_ > kMaxTrailerBytes) return TrailersTooLarge();
        in.erase(0, eol + 2);
        if (eol == 0) phase_ = Phase::kDone;
        break;
      }
    }
  }
}

}  // namespace mitos::internal
