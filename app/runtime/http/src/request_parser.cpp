#include "mitos/http/request_parser.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace mitos::internal {
namespace {

using http::EqualsIgnoreCase;

constexpr size_t kMaxChunkLine = 1024;

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

int HexValue(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Digits only. A value too large for a size_t saturates, so that it meets
// the body limit rather than wrapping around below it.
bool ParseDecimal(std::string_view s, size_t* out) {
  if (s.empty()) return false;
  size_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    size_t d = static_cast<size_t>(c - '0');
    v = v > (SIZE_MAX - d) / 10 ? SIZE_MAX : v * 10 + d;
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

// Methods whose content has no defined meaning (GET, HEAD, OPTIONS) or
// is forbidden (TRACE): a body on them is how requests have been hidden
// from intermediaries that ignore it.
bool IsBodylessMethod(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE";
}

// RFC 3986 unreserved and sub-delims, without ',': a comma would make a
// Host value look like a list of two.
bool IsHostChar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  switch (c) {
    case '-': case '.': case '_': case '~': case '!': case '$': case '&':
    case '\'': case '(': case ')': case '*': case '+': case ';': case '=':
      return true;
    default:
      return false;
  }
}

// uri-host [ ":" port ] (RFC 9110 7.2, RFC 3986 3.2.2): an IP-literal in
// brackets, or a reg-name (which covers IPv4 addresses), then an optional
// port of at most 65535. An empty value passes only if `allow_empty`.
bool IsHostAndPort(std::string_view s, bool allow_empty, bool need_port) {
  if (s.empty()) return allow_empty && !need_port;
  size_t i = 0;
  if (s[0] == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (i = 1; i < close; ++i) {
      if (!IsHostChar(s[i]) && s[i] != ':') return false;
    }
    i = close + 1;
  } else {
    while (i < s.size() && s[i] != ':') {
      if (IsHostChar(s[i])) {
        ++i;
      } else if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 &&
                 HexValue(s[i + 2]) >= 0) {
        i += 3;
      } else {
        return false;
      }
    }
    if (i == 0) return false;  // a port without a host
  }
  if (i == s.size()) return !need_port;
  if (s[i] != ':') return false;
  std::string_view port = s.substr(i + 1);
  if (port.empty()) return !need_port;
  if (port.size() > 5) return false;
  size_t n = 0;
  return ParseDecimal(port, &n) && n <= 65535;
}

// qdtext of RFC 9110 5.6.4: HTAB, SP, VCHAR but '"' and '\', obs-text.
bool IsQdtext(unsigned char c) {
  return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
         (c >= 0x5d && c <= 0x7e) || c >= 0x80;
}

// What may follow '\' in a quoted-pair: HTAB, SP, VCHAR, obs-text.
bool IsQuotedPairChar(unsigned char c) {
  return c == '\t' || c == ' ' || (c >= 0x21 && c <= 0x7e) || c >= 0x80;
}

// chunk-ext (RFC 9112 7.1.1):
//   *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
// with a token name and a token or quoted-string value. Anything else,
// stray whitespace at the end included, is refused: parsers that skip
// over what they do not understand disagree on where the line ends.
bool IsChunkExt(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  auto bws = [&] {
    while (i < n && (s[i] == ' ' || s[i] == '\t')) ++i;
  };
  auto token = [&] {
    size_t from = i;
    while (i < n && IsTchar(s[i])) ++i;
    return i > from;
  };
  while (i < n) {
    bws();
    if (i == n || s[i] != ';') return false;
    ++i;
    bws();
    if (!token()) return false;
    const size_t after_name = i;
    bws();
    if (i == n || s[i] != '=') {
      i = after_name;
      continue;
    }
    ++i;
    bws();
    if (i < n && s[i] == '"') {
      for (++i;; ++i) {
        if (i == n) return false;
        unsigned char c = s[i];
        if (c == '"') break;
        if (c == '\\') {
          if (i + 1 == n || !IsQuotedPairChar(s[i + 1])) return false;
          ++i;
        } else if (!IsQdtext(c)) {
          return false;
        }
      }
      ++i;
    } else if (!token()) {
      return false;
    }
  }
  return true;
}

}  // namespace

void RequestParser::Reset() {
  phase_ = Phase::kHead;
  scanned_ = 0;
  line_start_ = 0;
  have_request_line_ = false;
  head_bytes_ = 0;
  remaining_ = 0;
  trailer_bytes_ = 0;
  fields_ = 0;
  keep_alive_ = true;
  http10_ = false;
  expect_continue_ = false;
  authority_.clear();
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
  return Fail(431, "The request's header and trailer fields exceed " +
                       std::to_string(limits_.max_header_bytes) + " bytes.");
}

bool RequestParser::FindLineEnd(const std::string& in, size_t limit,
                                size_t* eol, Result* r) {
  // Resumes where the last call stopped, so that a line arriving a byte at
  // a time is still read once; a CR is looked at again once its next byte
  // is here. Bytes past a limit are not looked at, so that a line that
  // crosses it is too long however the reads cut it, rather than refused
  // for what a larger read brought beyond it.
  const size_t from = scanned_;
  const size_t end = std::min(in.size(), limit);
  const char* begin = in.data() + from;
  const size_t n = end > from ? end - from : 0;
  const void* cr = std::memchr(begin, '\r', n);
  const size_t upto = cr == nullptr ? n : static_cast<const char*>(cr) - begin;
  if (std::memchr(begin, '\n', upto) != nullptr) {
    *r = Fail(400, "A line of the request ends in a bare LF.");
    return false;
  }
  const size_t at = from + upto;
  if (cr == nullptr || at + 1 == end) {
    scanned_ = at;
    *r = Result::kNeedMore;
    return false;
  }
  if (in[at + 1] != '\n') {
    *r = Fail(400, "The request contains a bare CR.");
    return false;
  }
  *eol = at;
  scanned_ = at + 2;
  return true;
}

RequestParser::Result RequestParser::Parse(std::string& in) {
  if (phase_ == Phase::kHead) {
    Result r = ParseHeadLines(in);
    if (r != Result::kDone) return r;
  }
  return ParseBody(in);
}

RequestParser::Result RequestParser::ParseHeadLines(std::string& in) {
  // Clients may send empty lines between requests (RFC 9112 2.2).
  if (scanned_ == 0) {
    size_t skip = 0;
    while (skip + 1 < in.size() && in[skip] == '\r' && in[skip + 1] == '\n')
      skip += 2;
    if (skip > 0) in.erase(0, skip);
  }
  // Each line is checked as soon as it is complete, so that a bad one is
  // answered at once; the head leaves `in` only when all of it is here.
  for (;;) {
    // A field line starting with whitespace is refused whatever follows,
    // even what would make the head too large: that is how it goes when
    // the line's first byte comes alone.
    if (have_request_line_ && line_start_ < in.size() &&
        (in[line_start_] == ' ' || in[line_start_] == '\t')) {
      return Fail(400, "Folded header lines are not accepted.");
    }
    size_t eol = 0;
    Result r = Result::kNeedMore;
    if (!FindLineEnd(in, limits_.max_header_bytes + 1, &eol, &r)) {
      if (r != Result::kNeedMore) return r;
      if (in.size() > limits_.max_header_bytes) return HeadTooLarge();
      return r;
    }
    if (scanned_ > limits_.max_header_bytes) return HeadTooLarge();
    std::string_view line(in.data() + line_start_, eol - line_start_);
    line_start_ = scanned_;
    if (!have_request_line_) {
      have_request_line_ = true;
      if (ParseRequestLine(line) == Result::kError) return Result::kError;
    } else if (line.empty()) {
      head_bytes_ = scanned_;
      in.erase(0, head_bytes_);
      scanned_ = 0;
      line_start_ = 0;
      return FinishHead();
    } else if (!TakeFieldLine(line, "header", &req_.headers)) {
      return Result::kError;
    }
  }
}

RequestParser::Result RequestParser::ParseRequestLine(std::string_view line) {
  // method SP request-target SP HTTP-version.
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
  if (version.size() != 8 || version.compare(0, 5, "HTTP/") != 0 ||
      !isdigit(static_cast<unsigned char>(version[5])) || version[6] != '.' ||
      !isdigit(static_cast<unsigned char>(version[7]))) {
    return Fail(400, "The HTTP version is malformed.");
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    return Fail(505, "Only HTTP/1.0 and HTTP/1.1 are supported.");
  }
  http10_ = version == "HTTP/1.0";
  keep_alive_ = !http10_;
  return ParseTarget(target);
}

RequestParser::Result RequestParser::ParseTarget(std::string_view target) {
  // No fragment: it is never part of a request target (RFC 9112 3.2), and
  // servers that cut the path at '#' and those that do not see different
  // resources.
  for (unsigned char c : target) {
    if (c <= 0x20 || c >= 0x7f || c == '#') {
      return Fail(400, "The request target is malformed.");
    }
  }
  if (req_.method == "CONNECT") {
    // authority-form (RFC 9112 3.2.3): well-formed, but this server opens
    // no tunnels.
    if (!IsHostAndPort(target, false, /*need_port=*/true)) {
      return Fail(400, "A CONNECT request target must be host:port.");
    }
    return Fail(501, "CONNECT is not supported.");
  }
  if (target == "*") {
    // asterisk-form (RFC 9112 3.2.4): this server answers for resources
    // only, never for itself as a whole.
    return Fail(400, "The asterisk-form request target is not supported.");
  }
  std::string_view origin = target;
  std::string absolute_path;
  if (target.empty() || target.front() != '/') {
    // absolute-form (RFC 9112 3.2.2): its authority stands in for Host.
    size_t sep = target.find("://");
    std::string_view scheme =
        sep == std::string_view::npos ? target : target.substr(0, sep);
    if (sep == std::string_view::npos || !(EqualsIgnoreCase(scheme, "http") ||
                                           EqualsIgnoreCase(scheme, "https"))) {
      return Fail(400, "The request target must be a path or an http(s) URI.");
    }
    std::string_view rest = target.substr(sep + 3);
    size_t end = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, end);
    if (authority.find('@') != std::string_view::npos) {
      return Fail(400, "The request target must not contain user information.");
    }
    if (!IsHostAndPort(authority, /*allow_empty=*/false, false)) {
      return Fail(400, "The host of the request target is malformed.");
    }
    authority_ = std::string(authority);
    origin =
        end == std::string_view::npos ? std::string_view() : rest.substr(end);
    if (origin.empty() || origin.front() == '?') {
      absolute_path.assign(1, '/').append(origin);
      origin = absolute_path;
    }
  }
  req_.target = std::string(origin);
  size_t q = origin.find('?');
  req_.path =
      httplib::detail::decode_url(std::string(origin.substr(0, q)), false);
  if (q != std::string_view::npos) {
    httplib::detail::parse_query_text(std::string(origin.substr(q + 1)),
                                      req_.query);
  }
  return Result::kDone;
}

bool RequestParser::TakeFieldLine(std::string_view line, const char* where,
                                  http::Headers* out) {
  if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
    Fail(400, std::string("Folded ") + where + " lines are not accepted.");
    return false;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || !IsToken(line.substr(0, colon))) {
    Fail(400, std::string("A ") + where + " line is malformed.");
    return false;
  }
  std::string_view value = TrimOws(line.substr(colon + 1));
  if (!IsFieldValue(value)) {
    Fail(400, std::string("A ") + where +
                  " value contains a line break or a control character.");
    return false;
  }
  if (fields_ >= limits_.max_fields) {
    Fail(431, "The request has more than " +
                  std::to_string(limits_.max_fields) +
                  (out == &req_.headers ? " header" : " header and trailer") +
                  " fields.");
    return false;
  }
  ++fields_;
  if (out != nullptr) {
    out->emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  return true;
}

RequestParser::Result RequestParser::FinishHead() {
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
  if (has_te && http10_) {
    // RFC 9112 6.1: its framing is to be treated as faulty.
    return Fail(400, "Transfer-Encoding is not accepted in HTTP/1.0.");
  }
  if (has_te) {
    // Only a final chunked gives the body an end (RFC 9112 6.3); empty
    // list elements are ignored (RFC 9110 5.6.1).
    std::string_view last;
    bool chunked_before = false;
    bool other_before = false;
    size_t i = 0;
    while (i <= te.size()) {
      size_t j = te.find(',', i);
      if (j == std::string_view::npos) j = te.size();
      std::string_view coding = TrimOws(te.substr(i, j - i));
      i = j + 1;
      if (coding.empty()) continue;
      if (EqualsIgnoreCase(last, "chunked")) {
        chunked_before = true;
      } else if (!last.empty()) {
        other_before = true;
      }
      last = coding;
    }
    if (!EqualsIgnoreCase(last, "chunked") || chunked_before) {
      return Fail(400, "Transfer-Encoding must end in chunked, given once.");
    }
    if (other_before) {
      return Fail(501, "Only the chunked transfer coding is supported.");
    }
  }
  size_t length = 0;
  if (has_cl && !ParseDecimal(cl, &length)) {
    return Fail(400, "Content-Length is not a number.");
  }
  if (length > limits_.max_body_bytes) {
    return BodyTooLarge();
  }
  if (IsBodylessMethod(req_.method) && (length > 0 || has_te)) {
    return Fail(400, "A " + req_.method + " request cannot have a body.");
  }
  if (CheckHost() == Result::kError) return Result::kError;
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

RequestParser::Result RequestParser::CheckHost() {
  std::string* host = nullptr;
  for (auto& [k, v] : req_.headers) {
    if (!EqualsIgnoreCase(k, "Host")) continue;
    if (host != nullptr) return Fail(400, "Host is given more than once.");
    host = &v;
  }
  if (host == nullptr && !http10_) {
    return Fail(400, "An HTTP/1.1 request must have a Host header.");
  }
  if (host != nullptr && !IsHostAndPort(*host, /*allow_empty=*/true, false)) {
    return Fail(400, "The Host header is malformed.");
  }
  // RFC 9112 3.2.2: the target's authority wins over the Host field, so
  // that routing and proxying see the host the client addressed.
  if (!authority_.empty()) {
    if (host != nullptr) {
      *host = authority_;
    } else {
      req_.headers.emplace_back("Host", authority_);
    }
  }
  return Result::kDone;
}

RequestParser::Result RequestParser::ParseChunkLine(std::string_view line) {
  size_t i = 0;
  size_t size = 0;
  bool overflow = false;
  for (int d; i < line.size() && (d = HexValue(line[i])) >= 0; ++i) {
    if (size > (SIZE_MAX - static_cast<size_t>(d)) / 16) overflow = true;
    if (!overflow) size = size * 16 + static_cast<size_t>(d);
  }
  if (i == 0) return Fail(400, "A chunk size is malformed.");
  if (!IsChunkExt(line.substr(i))) {
    return Fail(400, "A chunk extension is malformed.");
  }
  if (size == 0 && !overflow) {
    phase_ = Phase::kTrailers;
  } else if (overflow || size > limits_.max_body_bytes - req_.body.size()) {
    return BodyTooLarge();
  } else {
    remaining_ = size;
    phase_ = Phase::kChunkData;
  }
  return Result::kDone;
}

bool RequestParser::TakeBody(std::string& in) {
  size_t n = std::min(remaining_, in.size());
  req_.body.append(in, 0, n);
  in.erase(0, n);
  remaining_ -= n;
  return remaining_ == 0;
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
        size_t eol = 0;
        Result r = Result::kNeedMore;
        if (!FindLineEnd(in, in.size(), &eol, &r)) {
          // scanned_ leaves out a CR at the end, which may begin the line's
          // CRLF: a line of the longest length passes however reads cut it.
          if (r == Result::kNeedMore && scanned_ > kMaxChunkLine) {
            return Fail(400, "A chunk size line is too long.");
          }
          return r;
        }
        if (eol > kMaxChunkLine) {
          return Fail(400, "A chunk size line is too long.");
        }
        if (ParseChunkLine(std::string_view(in.data(), eol)) ==
            Result::kError) {
          return Result::kError;
        }
        in.erase(0, eol + 2);
        scanned_ = 0;
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
        // Checked like the head's fields, counted with the head, then
        // dropped (see the header); an empty line ends them.
        size_t eol = 0;
        Result r = Result::kNeedMore;
        // Both counts stay within the limit (checked below).
        const size_t left =
            limits_.max_header_bytes - head_bytes_ - trailer_bytes_;
        if (!FindLineEnd(in, left + 1, &eol, &r)) {
          if (r == Result::kNeedMore &&
              head_bytes_ + trailer_bytes_ + in.size() >
                  limits_.max_header_bytes) {
            return TrailersTooLarge();
          }
          return r;
        }
        trailer_bytes_ += eol + 2;
        if (head_bytes_ + trailer_bytes_ > limits_.max_header_bytes) {
          return TrailersTooLarge();
        }
        if (eol > 0 && !TakeFieldLine(std::string_view(in.data(), eol),
                                      "trailer", nullptr)) {
          return Result::kError;
        }
        in.erase(0, eol + 2);
        scanned_ = 0;
        if (eol == 0) phase_ = Phase::kDone;
        break;
      }
    }
  }
}

}  // namespace mitos::internal
