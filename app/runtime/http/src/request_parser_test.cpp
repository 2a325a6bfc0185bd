#include "mitos/http/request_parser.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <ostream>
#include <string>

namespace mitos::internal {
namespace {

using Result = RequestParser::Result;

RequestParser::Limits SmallLimits() {
  RequestParser::Limits l;
  l.max_header_bytes = 1024;
  l.max_body_bytes = 64;
  l.max_fields = 8;
  return l;
}

// Parses `wire` fed in pieces of `step` bytes; returns the final result.
Result Feed(RequestParser& p, const std::string& wire, size_t step, std::string& in) {
  Result r = Result::kNeedMore;
  for (size_t i = 0; i < wire.size(); i += step) {
    in.append(wire, i, step);
    r = p.Parse(in);
    if (r != Result::kNeedMore) return r;
  }
  return r;
}

TEST(RequestParserTest, ParsesARequestDeliveredOneByteAtATime) {
  RequestParser p(SmallLimits());
  std::string in;
  std::string wire =
      "POST /users/a%20b?x=1&y=two%21 HTTP/1.1\r\nHost: h\r\nX-Thing:  v v \r\n"
      "Content-Length: 5\r\n\r\nhello";
  ASSERT_EQ(Feed(p, wire, 1, in), Result::kDone);
  const http::Request& r = p.request();
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/users/a%20b?x=1&y=two%21");
  EXPECT_EQ(r.path, "/users/a b");
  EXPECT_EQ(*r.Query("y"), "two!");
  EXPECT_EQ(r.Header("x-thing"), "v v");
  EXPECT_EQ(r.body, "hello");
  EXPECT_TRUE(p.keep_alive());
  EXPECT_TRUE(in.empty());
}

TEST(RequestParserTest, PipelinedRequestsComeOutOneByOne) {
  RequestParser p(SmallLimits());
  std::string in =
      "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
      "GET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(p.Parse(in), Result::kDone);
  EXPECT_EQ(p.request().path, "/a");
  p.Reset();
  ASSERT_EQ(p.Parse(in), Result::kDone);
  EXPECT_EQ(p.request().path, "/b");
  EXPECT_FALSE(p.keep_alive());
  p.Reset();
  EXPECT_EQ(p.Parse(in), Result::kNeedMore);
  EXPECT_FALSE(p.started());
}

TEST(RequestParserTest, ChunkedBodyWithExtensionsAndTrailers) {
  RequestParser p(SmallLimits());
  std::string in;
  std::string wire =
      "PUT /x HTTP/1.1\r\nHost: hhhhhh\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\nGET /next HTTP/1.1\r\n\r\n";
  ASSERT_EQ(Feed(p, wire, 7, in), Result::kDone);
  EXPECT_EQ(p.request().body, "abcde");
  EXPECT_EQ(in.substr(0, 4), "GET ");  // the next request, fed in part
}

TEST(RequestParserTest, Http10ClosesUnlessAskedToKeepAlive) {
  RequestParser p(SmallLimits());
  std::string in = "GET / HTTP/1.0\r\n\r\n";
  ASSERT_EQ(p.Parse(in), Result::kDone);
  EXPECT_TRUE(p.http10());
  EXPECT_FALSE(p.keep_alive());
  p.Reset();
  in = "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
  ASSERT_EQ(p.Parse(in), Result::kDone);
  EXPECT_TRUE(p.keep_alive());
}

TEST(RequestParserTest, ExpectContinueIsReportedOnceBeforeTheBody) {
  RequestParser p(SmallLimits());
  std::string in =
      "POST /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
      "Content-Length: 2\r\n\r\n";
  ASSERT_EQ(p.Parse(in), Result::kNeedMore);
  EXPECT_TRUE(p.TakeExpectContinue());
  EXPECT_FALSE(p.TakeExpectContinue());
  in += "ok";
  ASSERT_EQ(p.Parse(in), Result::kDone);
  EXPECT_EQ(p.request().body, "ok");
}

struct Bad {
  const char* wire;
  int status;
};

class RequestParserRejectTest : public ::testing::TestWithParam<Bad> {};

TEST_P(RequestParserRejectTest, RejectsWithStatus) {
  RequestParser p(SmallLimits());
  std::string in = GetParam().wire;
  ASSERT_EQ(p.Parse(in), Result::kError) << GetParam().wire;
  EXPECT_EQ(p.status(), GetParam().status) << GetParam().wire;
  EXPECT_FALSE(p.detail().empty());
  EXPECT_FALSE(p.keep_alive());
}

INSTANTIATE_TEST_SUITE_P(
    Framing, RequestParserRejectTest,
    ::testing::Values(
        Bad{"NOT HTTP\r\n\r\n", 400},
        Bad{"GET  / HTTP/1.1\r\n\r\n", 400},
        Bad{"GET / HTTP/2.0\r\n\r\n", 505},
        Bad{"GET / HTTX/1.1\r\n\r\n", 400},
        Bad{"GET http://x/ HTTP/1.1\r\n\r\n", 400},
        Bad{"G(T / HTTP/1.1\r\n\r\n", 400},
        Bad{"GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", 400},
        Bad{"GET / HTTP/1.1\r\nX: a\rInjected: 1\r\n\r\n", 400},
        Bad{"GET / HTTP/1.1\r\nX : a\r\n\r\n", 400},
        Bad{"GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400},
        Bad{"GET / HTTP/1.1\r\nX: a\x01\r\n\r\n", 400},
        Bad{"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
        Bad{"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        Bad{"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
        Bad{"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
        Bad{"POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n", 413},
        Bad{"POST / HTTP/1.1\r\nContent-Encoding: gzip\r\n\r\n", 415},
        Bad{"POST / HTTP/1.1\r\nExpect: magic\r\n\r\n", 417},
        Bad{"GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 400},
        Bad{"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
        Bad{"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX", 400},
        Bad{"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n", 413},
        Bad{"GET / HTTP/1.1\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\nF: 1\r\n"
            "G: 1\r\nH: 1\r\nI: 1\r\n\r\n",
            431}));

// --- RFC 9112 framing rules, one table each ------------------------------
//
// Every case is followed by a pipelined request. After a bad case it must
// never be parsed: the result is kError (never kDone first), whether the
// bytes come all at once or one at a time. After a good case the body is
// exactly the decoded one and the pipelined request comes out next.

constexpr char kNext[] = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
constexpr char kChunked[] =
    "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";

struct Case {
  std::string name;
  std::string wire;                   // one request
  int status = 0;                     // 0: it parses
  std::string body;                   // the decoded body, when it parses
  std::optional<std::string> host;    // the Host the handlers see
  std::optional<std::string> target;  // request().target
  std::optional<std::string> path;    // request().path
};

Case Parses(std::string name, std::string wire, std::string body = "") {
  Case c;
  c.name = std::move(name);
  c.wire = std::move(wire);
  c.body = std::move(body);
  return c;
}

Case Refused(std::string name, std::string wire, int status = 400) {
  Case c;
  c.name = std::move(name);
  c.wire = std::move(wire);
  c.status = status;
  return c;
}

Case Chunked(std::string name, std::string body_wire, std::string body) {
  return Parses(std::move(name), kChunked + std::move(body_wire),
                std::move(body));
}

Case BadChunked(std::string name, std::string body_wire, int status = 400) {
  return Refused(std::move(name), kChunked + std::move(body_wire), status);
}

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

// A request that parses, with the Host, target and path handlers see.
Case Addressed(std::string name, std::string wire, std::string host,
               std::string target = "/", std::string path = "/") {
  Case c = Parses(std::move(name), std::move(wire));
  c.host = std::move(host);
  c.target = std::move(target);
  c.path = std::move(path);
  return c;
}

// Hands `wire` to the parser `step` bytes at a time, as reads would.
class Feeder {
 public:
  Feeder(std::string wire, size_t step) : wire_(std::move(wire)), step_(step) {}

  Result Next(RequestParser& p) {
    for (;;) {
      Result r = p.Parse(in_);
      if (r != Result::kNeedMore || fed_ == wire_.size()) return r;
      size_t n = std::min(step_, wire_.size() - fed_);
      in_.append(wire_, fed_, n);
      fed_ += n;
    }
  }
  bool AllConsumed() const { return fed_ == wire_.size() && in_.empty(); }

 private:
  const std::string wire_;
  const size_t step_;
  size_t fed_ = 0;
  std::string in_;
};

class RequestParserRuleTest : public ::testing::TestWithParam<Case> {};

TEST_P(RequestParserRuleTest, FramesExactly) {
  const Case& c = GetParam();
  for (size_t step : {c.wire.size() + sizeof(kNext), size_t{1}}) {
    SCOPED_TRACE("fed " + std::to_string(step) + " bytes at a time");
    RequestParser p(SmallLimits());
    Feeder feed(c.wire + kNext, step);
    Result r = feed.Next(p);
    if (c.status != 0) {
      ASSERT_EQ(r, Result::kError) << "parsed: " << p.request().path;
      EXPECT_EQ(p.status(), c.status) << p.detail();
      EXPECT_FALSE(p.detail().empty());
      EXPECT_FALSE(p.keep_alive());
      EXPECT_NE(p.request().path, "/smuggled");
      continue;
    }
    ASSERT_EQ(r, Result::kDone) << p.status() << " " << p.detail();
    EXPECT_EQ(p.request().body, c.body);
    if (c.host) {
      EXPECT_EQ(p.request().Header("Host"), *c.host);
    }
    if (c.target) {
      EXPECT_EQ(p.request().target, *c.target);
    }
    if (c.path) {
      EXPECT_EQ(p.request().path, *c.path);
    }
    // Trailer fields never join the headers.
    EXPECT_EQ(p.request().Header("X-Trailer"), "");
    p.Reset();
    ASSERT_EQ(feed.Next(p), Result::kDone) << p.status() << " " << p.detail();
    EXPECT_EQ(p.request().path, "/smuggled");
    EXPECT_TRUE(feed.AllConsumed());
  }
}

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  return info.param.name;
}

// RFC 9112 7.1: chunk-size = 1*HEXDIG, nothing around it; sizes past the
// body limit (or past any size_t) are 413.
INSTANTIATE_TEST_SUITE_P(
    ChunkSize, RequestParserRuleTest,
    ::testing::Values(
        Chunked("one_chunk", "5\r\nhello\r\n0\r\n\r\n", "hello"),
        Chunked("two_chunks", "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", "abcde"),
        Chunked("upper_hex", "A\r\n0123456789\r\n0\r\n\r\n", "0123456789"),
        Chunked("lower_hex", "a\r\n0123456789\r\n0\r\n\r\n", "0123456789"),
        Chunked("leading_zeros", "0005\r\nhello\r\n000\r\n\r\n", "hello"),
        Chunked("many_leading_zeros",
                "00000000000000000000000000000003\r\nabc\r\n0\r\n\r\n", "abc"),
        Chunked("exactly_the_limit",
                "40\r\n" + std::string(64, 'x') + "\r\n0\r\n\r\n",
                std::string(64, 'x')),
        Chunked("data_holding_crlf", "2\r\n\r\n\r\n0\r\n\r\n", "\r\n"),
        Chunked("no_chunk_at_all", "0\r\n\r\n", ""),
        BadChunked("space_before", " 5\r\nhello\r\n0\r\n\r\n"),
        BadChunked("space_after", "5 \r\nhello\r\n0\r\n\r\n"),
        BadChunked("tab_before", "\t5\r\nhello\r\n0\r\n\r\n"),
        BadChunked("tab_after", "5\t\r\nhello\r\n0\r\n\r\n"),
        BadChunked("hex_prefix", "0x5\r\nhello\r\n0\r\n\r\n"),
        BadChunked("plus_sign", "+5\r\nhello\r\n0\r\n\r\n"),
        BadChunked("minus_sign", "-1\r\nh\r\n0\r\n\r\n"),
        BadChunked("empty", "\r\nhello\r\n0\r\n\r\n"),
        BadChunked("not_hex", "5g\r\nhello\r\n0\r\n\r\n"),
        BadChunked("nul_after", std::string("5\0\r\nhello\r\n0\r\n\r\n", 16)),
        BadChunked("over_the_limit",
                   "41\r\n" + std::string(65, 'x') + "\r\n0\r\n\r\n", 413),
        BadChunked("sum_over_the_limit",
                   "20\r\n" + std::string(32, 'x') + "\r\n21\r\n" +
                       std::string(33, 'x') + "\r\n0\r\n\r\n",
                   413),
        BadChunked("overflows_64_bits",
                   "10000000000000000\r\nhello\r\n0\r\n\r\n", 413),
        BadChunked("overflows_by_far",
                   "ffffffffffffffffffffffff\r\nhello\r\n0\r\n\r\n", 413),
        BadChunked("line_too_long",
                   std::string(1100, '0') + "5\r\nhello\r\n0\r\n\r\n")),
    CaseName);

// RFC 9112 7.1.1: *( BWS ";" BWS token [ BWS "=" BWS ( token /
// quoted-string ) ] ), checked and ignored.
INSTANTIATE_TEST_SUITE_P(
    ChunkExtension, RequestParserRuleTest,
    ::testing::Values(
        Chunked("name_only", "5;a\r\nhello\r\n0\r\n\r\n", "hello"),
        Chunked("name_and_token", "5;a=b\r\nhello\r\n0\r\n\r\n", "hello"),
        Chunked("space_before_semicolon", "5 ;a=b\r\nhello\r\n0\r\n\r\n",
                "hello"),
        Chunked("spaces_around_everything", "5 ; a = b\r\nhello\r\n0\r\n\r\n",
                "hello"),
        Chunked("tabs_around_everything", "5\t;\ta\t=\tb\r\nhello\r\n0\r\n\r\n",
                "hello"),
        Chunked("several", "5;a=b;c;d=e\r\nhello\r\n0\r\n\r\n", "hello"),
        Chunked("quoted", "5;a=\"x \\\" ; y\"\r\nhello\r\n0\r\n\r\n", "hello"),
        Chunked("quoted_empty", "5;a=\"\"\r\nhello\r\n0\r\n\r\n", "hello"),
        Chunked("quoted_every_qdtext_class",
                "5;a=\"\t !#[]~\x80\xff\"\r\nhello\r\n0\r\n\r\n", "hello"),
        Chunked("quoted_pairs",
                "5;a=\"\\\t\\ \\\\\\\x80\"\r\nhello\r\n0\r\n\r\n", "hello"),
        Chunked("on_the_last_chunk", "5\r\nhello\r\n0;last=1\r\n\r\n", "hello"),
        BadChunked("semicolon_only", "5;\r\nhello\r\n0\r\n\r\n"),
        BadChunked("no_name", "5;=b\r\nhello\r\n0\r\n\r\n"),
        BadChunked("no_value", "5;a=\r\nhello\r\n0\r\n\r\n"),
        BadChunked("no_semicolon", "5a=b\r\nhello\r\n0\r\n\r\n"),
        BadChunked("space_inside_name", "5;a b\r\nhello\r\n0\r\n\r\n"),
        BadChunked("space_at_the_end", "5;a=b \r\nhello\r\n0\r\n\r\n"),
        BadChunked("comma", "5;a=b,c\r\nhello\r\n0\r\n\r\n"),
        BadChunked("not_a_token", "5;a@b\r\nhello\r\n0\r\n\r\n"),
        BadChunked("unterminated_quote", "5;a=\"b\r\nhello\r\n0\r\n\r\n"),
        BadChunked("text_after_quote", "5;a=\"b\"c\r\nhello\r\n0\r\n\r\n"),
        BadChunked("nul", std::string("5;a=b\0\r\nhello\r\n0\r\n\r\n", 20)),
        BadChunked("control", "5;a\x01\r\nhello\r\n0\r\n\r\n"),
        BadChunked("del_in_quotes", "5;a=\"\x7f\"\r\nhello\r\n0\r\n\r\n"),
        BadChunked("nul_in_quotes",
                   std::string("5;a=\"\0\"\r\nhello\r\n0\r\n\r\n", 21)),
        BadChunked("control_after_backslash",
                   "5;a=\"\\\x01\"\r\nhello\r\n0\r\n\r\n"),
        BadChunked("backslash_at_the_end", "5;a=\"\\\r\nhello\r\n0\r\n\r\n"),
        BadChunked("bad_on_the_last_chunk", "5\r\nhello\r\n0;\r\n\r\n")),
    CaseName);

// RFC 9112 7.1: every line ends in CRLF, and chunk data in exactly CRLF.
INSTANTIATE_TEST_SUITE_P(
    ChunkLineEnding, RequestParserRuleTest,
    ::testing::Values(
        Chunked("crlf_everywhere", "5\r\nhello\r\n0\r\n\r\n", "hello"),
        BadChunked("bare_lf_after_size", "5\nhello\r\n0\r\n\r\n"),
        BadChunked("bare_cr_after_size", "5\rhello\r\n0\r\n\r\n"),
        BadChunked("bare_cr_in_extension", "5;a=b\rc\r\nhello\r\n0\r\n\r\n"),
        BadChunked("bare_cr_after_semicolon", "5;\r\rhello\r\n0\r\n\r\n"),
        BadChunked("bare_lf_after_data", "5\r\nhello\n0\r\n\r\n"),
        BadChunked("bare_cr_after_data", "5\r\nhello\r0\r\n\r\n"),
        BadChunked("nothing_after_data", "5\r\nhello0\r\n\r\n"),
        BadChunked("data_longer_than_size", "4\r\nhello\r\n0\r\n\r\n"),
        BadChunked("empty_line_between_chunks", "5\r\nhello\r\n\r\n0\r\n\r\n"),
        BadChunked("bare_lf_after_last_chunk", "5\r\nhello\r\n0\n\r\n"),
        BadChunked("bare_lf_as_the_final_line", "5\r\nhello\r\n0\r\n\n"),
        BadChunked("bare_cr_as_the_final_line", "5\r\nhello\r\n0\r\n\r")),
    CaseName);

// RFC 9112 7.1.2: trailer fields are field lines like the head's, count
// toward its limits, and are dropped.
INSTANTIATE_TEST_SUITE_P(
    Trailers, RequestParserRuleTest,
    ::testing::Values(
        Chunked("one_field", "5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n",
                "hello"),
        Chunked("several_fields", "0\r\nX-Trailer: 1\r\nB:\t2\t\r\n\r\n", ""),
        Chunked("empty_value", "0\r\nX-Trailer:\r\n\r\n", ""),
        Chunked("obs_text_value", "0\r\nX-Trailer: \x80\xff\r\n\r\n", ""),
        Chunked("up_to_the_field_limit",  // the head has 2 of the 8
                "0\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\nF: 1\r\n\r\n",
                ""),
        BadChunked("no_final_empty_line", "0\r\nX-Trailer: t\r\n"),
        BadChunked("folded_first_line", "0\r\n folded: x\r\n\r\n"),
        BadChunked("folded_continuation", "0\r\nX-Trailer: a\r\n b\r\n\r\n"),
        BadChunked("space_before_colon", "0\r\nX-Trailer : v\r\n\r\n"),
        BadChunked("no_colon", "0\r\nNoColon\r\n\r\n"),
        BadChunked("empty_name", "0\r\n: v\r\n\r\n"),
        BadChunked("name_not_a_token", "0\r\nX(: v\r\n\r\n"),
        BadChunked("control_in_value", "0\r\nX-Trailer: a\x01b\r\n\r\n"),
        BadChunked("nul_in_value",
                   std::string("0\r\nX-Trailer: a\0b\r\n\r\n", 21)),
        BadChunked("bare_cr_in_value", "0\r\nX-Trailer: a\rb\r\n\r\n"),
        BadChunked("bare_lf_in_value", "0\r\nX-Trailer: a\nb\r\n\r\n"),
        BadChunked("bare_lf_ending", "0\r\nX-Trailer: v\n\r\n"),
        BadChunked(
            "over_the_field_limit",
            "0\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\nF: 1\r\nG: 1\r\n\r\n",
            431),
        BadChunked("head_and_trailers_over_the_byte_limit",
                   "0\r\nX-Trailer: " + std::string(1000, 'a') + "\r\n\r\n",
                   431)),
    CaseName);

// RFC 9112 3.2: exactly one Host in HTTP/1.1, a uri-host [":" port].
INSTANTIATE_TEST_SUITE_P(
    Host, RequestParserRuleTest,
    ::testing::Values(
        Addressed("name", "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
                  "example.com"),
        Addressed("name_and_port",
                  "GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
                  "example.com:8080"),
        Addressed("ipv4", "GET / HTTP/1.1\r\nHost: 127.0.0.1:80\r\n\r\n",
                  "127.0.0.1:80"),
        Addressed("ipv6", "GET / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n",
                  "[2001:db8::1]:80"),
        Addressed("underscore", "GET / HTTP/1.1\r\nHost: a_b.example\r\n\r\n",
                  "a_b.example"),
        Addressed("percent_encoded",
                  "GET / HTTP/1.1\r\nHost: ex%41mple\r\n\r\n", "ex%41mple"),
        Addressed("surrounding_spaces",
                  "GET / HTTP/1.1\r\nHost:  example.com \t\r\n\r\n",
                  "example.com"),
        Addressed("any_case_name",
                  "GET / HTTP/1.1\r\nhOST: example.com\r\n\r\n", "example.com"),
        Addressed("empty_value", "GET / HTTP/1.1\r\nHost:\r\n\r\n", ""),
        Addressed("absent_in_http10", "GET / HTTP/1.0\r\n\r\n", ""),
        Refused("absent", "GET / HTTP/1.1\r\n\r\n"),
        Refused("absent_with_a_body",
                "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nab"),
        Refused("twice_the_same",
                "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
        Refused("twice_different",
                "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"),
        Refused("twice_in_http10",
                "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"),
        Refused("space_inside", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
        Refused("tab_inside", "GET / HTTP/1.1\r\nHost: a\tb\r\n\r\n"),
        Refused("slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"),
        Refused("backslash", "GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n"),
        Refused("userinfo", "GET / HTTP/1.1\r\nHost: user@example.com\r\n\r\n"),
        Refused("comma", "GET / HTTP/1.1\r\nHost: a,b\r\n\r\n"),
        Refused("question_mark", "GET / HTTP/1.1\r\nHost: a?b\r\n\r\n"),
        Refused("hash", "GET / HTTP/1.1\r\nHost: a#b\r\n\r\n"),
        Refused("port_not_digits", "GET / HTTP/1.1\r\nHost: a:http\r\n\r\n"),
        Refused("port_too_large", "GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n"),
        Refused("port_too_long", "GET / HTTP/1.1\r\nHost: a:000080\r\n\r\n"),
        Refused("port_without_host", "GET / HTTP/1.1\r\nHost: :80\r\n\r\n"),
        Refused("two_ports", "GET / HTTP/1.1\r\nHost: a:80:81\r\n\r\n"),
        Refused("unclosed_bracket", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"),
        Refused("empty_brackets", "GET / HTTP/1.1\r\nHost: []\r\n\r\n"),
        Refused("text_after_bracket", "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n"),
        Refused("bad_percent", "GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n"),
        Refused("obs_text", "GET / HTTP/1.1\r\nHost: \xe9xample\r\n\r\n"),
        Refused("bad_in_http10", "GET / HTTP/1.0\r\nHost: a b\r\n\r\n")),
    CaseName);

// RFC 9112 3.2.2: an absolute-form target's authority is the Host the
// handlers see; its path and query are the target.
INSTANTIATE_TEST_SUITE_P(
    AbsoluteForm, RequestParserRuleTest,
    ::testing::Values(
        Addressed("http",
                  "GET http://example.com/a/b?x=1 HTTP/1.1\r\nHost: "
                  "example.com\r\n\r\n",
                  "example.com", "/a/b?x=1", "/a/b"),
        Addressed("https_with_port",
                  "GET https://example.com:8443/p HTTP/1.1\r\nHost: "
                  "example.com:8443\r\n\r\n",
                  "example.com:8443", "/p", "/p"),
        Addressed("scheme_in_any_case",
                  "GET HtTp://Example.COM/p HTTP/1.1\r\nHost: x\r\n\r\n",
                  "Example.COM", "/p", "/p"),
        Addressed(
            "replaces_another_host",
            "GET http://api.example/p HTTP/1.1\r\nHost: other.example\r\n\r\n",
            "api.example", "/p", "/p"),
        Addressed(
            "empty_path",
            "GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n",
            "example.com", "/", "/"),
        Addressed(
            "query_without_path",
            "GET http://example.com?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
            "example.com", "/?q=1", "/"),
        Addressed(
            "ipv6",
            "GET http://[::1]:8080/p HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
            "[::1]:8080", "/p", "/p"),
        Addressed("decoded_path",
                  "GET http://example.com/a%20b HTTP/1.1\r\nHost: x\r\n\r\n",
                  "example.com", "/a%20b", "/a b"),
        Addressed("http10_without_host",
                  "GET http://example.com/p HTTP/1.0\r\n\r\n", "example.com",
                  "/p", "/p"),
        Refused("no_host_field", "GET http://example.com/ HTTP/1.1\r\n\r\n"),
        Refused("host_field_malformed",
                "GET http://example.com/ HTTP/1.1\r\nHost: bad/host\r\n\r\n"),
        Refused(
            "host_field_twice",
            "GET http://example.com/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        Refused("other_scheme",
                "GET ftp://example.com/ HTTP/1.1\r\nHost: x\r\n\r\n"),
        Refused("no_scheme", "GET example.com/ HTTP/1.1\r\nHost: x\r\n\r\n"),
        Refused("one_slash",
                "GET http:/example.com/ HTTP/1.1\r\nHost: x\r\n\r\n"),
        Refused("empty_host", "GET http:///p HTTP/1.1\r\nHost: x\r\n\r\n"),
        Refused("userinfo",
                "GET http://user:pw@example.com/ HTTP/1.1\r\nHost: "
                "example.com\r\n\r\n"),
        Refused("comma_in_host", "GET http://a,b/ HTTP/1.1\r\nHost: x\r\n\r\n"),
        Refused("bad_port",
                "GET http://example.com:x/ HTTP/1.1\r\nHost: x\r\n\r\n"),
        Refused("fragment",
                "GET http://example.com/#f HTTP/1.1\r\nHost: x\r\n\r\n")),
    CaseName);

// RFC 9112 3.2.3-3.2.4: the other target forms.
INSTANTIATE_TEST_SUITE_P(
    TargetForm, RequestParserRuleTest,
    ::testing::Values(
        Addressed("origin", "GET /a?b=c HTTP/1.1\r\nHost: h\r\n\r\n", "h",
                  "/a?b=c", "/a"),
        Refused("fragment_in_path", "GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n"),
        Refused("asterisk_with_options",
                "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"),
        Refused("asterisk_with_get", "GET * HTTP/1.1\r\nHost: h\r\n\r\n"),
        Refused(
            "connect",
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            501),
        Refused("connect_without_port",
                "CONNECT example.com HTTP/1.1\r\nHost: h\r\n\r\n"),
        Refused("connect_to_a_path", "CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n"),
        Refused("authority_with_get",
                "GET example.com:80 HTTP/1.1\r\nHost: h\r\n\r\n")),
    CaseName);

// RFC 9112 6.1 and 6.3: a body ends where a final chunked says, or after
// Content-Length bytes.
INSTANTIATE_TEST_SUITE_P(
    TransferEncoding, RequestParserRuleTest,
    ::testing::Values(
        Parses("chunked_in_any_case",
               "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
               "ChUnKeD\r\n\r\n1\r\na\r\n0\r\n\r\n",
               "a"),
        Parses("empty_list_elements",
               "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: , chunked "
               ",\r\n\r\n"
               "1\r\na\r\n0\r\n\r\n",
               "a"),
        Parses("content_length",
               "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
               "abc"),
        Parses("content_length_leading_zeros",
               "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0003\r\n\r\nabc",
               "abc"),
        Refused("chunked_not_last",
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, "
                "gzip\r\n\r\n"),
        Refused(
            "no_chunked",
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"),
        Refused("chunked_twice",
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, "
                "chunked\r\n\r\n"),
        Refused("chunked_with_a_parameter",
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
                "chunked;a=b\r\n\r\n"),
        Refused("almost_chunked",
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
                "xchunked\r\n\r\n"),
        Refused("empty",
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n"),
        Refused("two_fields",
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        Refused(
            "in_http10",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        Refused("another_coding_first",
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, "
                "chunked\r\n\r\n",
                501),
        Refused("with_content_length",
                "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        Refused(
            "content_length_list",
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc"),
        Refused("content_length_sign",
                "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc"),
        Refused("content_length_overflows",
                "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: "
                "99999999999999999999999\r\n\r\n",
                413)),
    CaseName);

// RFC 9112 2.2: CRLF ends every line of the head; no bare CR or LF.
INSTANTIATE_TEST_SUITE_P(
    HeadLineEnding, RequestParserRuleTest,
    ::testing::Values(
        Parses("crlf", "GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
        Parses("empty_lines_before",
               "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"),
        Refused("bare_lf_after_request_line",
                "GET / HTTP/1.1\nHost: h\r\n\r\n"),
        Refused("bare_lf_after_field", "GET / HTTP/1.1\r\nHost: h\n\r\n"),
        Refused("bare_lf_as_the_end", "GET / HTTP/1.1\r\nHost: h\r\n\n"),
        Refused("only_lf", "GET / HTTP/1.1\nHost: h\n\n"),
        Refused("bare_lf_before_request",
                "\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"),
        Refused("bare_cr_in_request_line",
                "GET /\r HTTP/1.1\r\nHost: h\r\n\r\n"),
        Refused("bare_cr_in_field", "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n"),
        Refused("bare_cr_as_the_end", "GET / HTTP/1.1\r\nHost: h\r\n\rX"),
        Refused("space_starting_the_first_field",
                "GET / HTTP/1.1\r\n Host: h\r\n\r\n")),
    CaseName);

// RFC 9110 9.3: content on GET, HEAD, OPTIONS and TRACE has no meaning
// (TRACE must have none); other methods may carry a body.
INSTANTIATE_TEST_SUITE_P(
    BodyMethod, RequestParserRuleTest,
    ::testing::Values(
        Parses("post",
               "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab",
               "ab"),
        Parses("extension_method",
               "QUERY / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab",
               "ab"),
        Parses("get_with_zero_length",
               "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"),
        Refused("get",
                "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab"),
        Refused("head",
                "HEAD / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab"),
        Refused("options",
                "OPTIONS / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab"),
        Refused("trace",
                "TRACE / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab"),
        Refused("chunked_get",
                "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
                "chunked\r\n\r\n0\r\n\r\n")),
    CaseName);

// Found by fuzz_request_parser on the parser before its line-by-line head:
// a read that ended between the CR and the LF of an empty line before a
// request made the parser take the line as the end of an empty head (400).
TEST(RequestParserTest, AnEmptyLineCutBetweenItsCrAndLfIsSkipped) {
  RequestParser p(SmallLimits());
  std::string in = "\r";
  ASSERT_EQ(p.Parse(in), Result::kNeedMore);
  EXPECT_FALSE(p.started());
  in += "\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n";
  ASSERT_EQ(p.Parse(in), Result::kDone);
  EXPECT_EQ(p.request().path, "/a");
  p.Reset();
  in = "\r\n\r";
  ASSERT_EQ(p.Parse(in), Result::kNeedMore);
  in += "\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
  ASSERT_EQ(p.Parse(in), Result::kDone);
  EXPECT_EQ(p.request().path, "/b");
  EXPECT_TRUE(in.empty());
}

TEST(RequestParserTest, AnOverlongHeadFailsBeforeItEnds) {
  RequestParser p(SmallLimits());
  std::string in = "GET / HTTP/1.1\r\nX: " + std::string(2000, 'a');
  ASSERT_EQ(p.Parse(in), Result::kError);
  EXPECT_EQ(p.status(), 431);
}

// Seen while writing fuzz_chunked, which shows it when it sends the body a
// byte at a time: a chunk size line of the longest accepted length (1024
// bytes) was refused as too long when a read ended between its CR and LF.
TEST(RequestParserTest, AChunkSizeLineOfTheLongestLengthPassesWhenCut) {
  const std::string head =
      "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  RequestParser p(SmallLimits());
  std::string in = head + "1;" + std::string(1022, 'e') + "\r";
  ASSERT_EQ(p.Parse(in), Result::kNeedMore);
  in += "\nx\r\n0\r\n\r\n";
  ASSERT_EQ(p.Parse(in), Result::kDone);
  EXPECT_EQ(p.request().body, "x");

  // One byte longer is too long, whether or not its CR has come.
  for (const char* end : {"", "\r", "\r\n"}) {
    RequestParser q(SmallLimits());
    in = head + "1;" + std::string(1023, 'e') + end;
    ASSERT_EQ(q.Parse(in), Result::kError) << end;
    EXPECT_EQ(q.status(), 400);
  }
}

// Found by fuzz_request_parser: the head's and the trailers' limit was met
// or not depending on how reads cut the bytes. A read that brought the
// whole line at once had it refused for a bare CR or LF beyond the limit
// (400); one that ended before had it refused as too large (431).
TEST(RequestParserTest, ALineOverTheLimitIsTooLargeHoweverReadsCutIt) {
  const std::string big(2000, 'a');
  const std::string to_limit(1024 - 19, 'a');  // after "GET / HTTP/1.1\r\nX: "
  for (const std::string& wire : {
           "GET / HTTP/1.1\r\nX: " + big + "\nY: 1\r\n\r\n",
           "GET / HTTP/1.1\r\nX: " + to_limit + "\rY: 1\r\n\r\n",
           "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
           "0\r\nT: " +
               big + "\nU: 1\r\n\r\n",
       }) {
    for (size_t step : {size_t{1}, size_t{7}, wire.size()}) {
      RequestParser p(SmallLimits());
      Feeder feed(wire, step);
      ASSERT_EQ(feed.Next(p), Result::kError) << step;
      EXPECT_EQ(p.status(), 431) << "step " << step << ": " << p.detail();
    }
  }
}

// Found by fuzz_request_parser: a folded line was refused for its fold
// (400) when its first byte came in a read of its own, and as too large
// (431) when one read also brought more than the head's limit.
TEST(RequestParserTest, AFoldedLineIsRefusedAsSuchHoweverReadsCutIt) {
  // Folds that run past the limit (1024 bytes), and one that starts just
  // before it and ends after it.
  const std::string head = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
  for (const std::string& wire : {
           head + "a\r\n " + std::string(2000, 'b'),
           head + std::string(1022 - head.size() - 2, 'a') + "\r\n\t\r\n\r\n",
       }) {
    for (size_t step : {size_t{1}, size_t{7}, wire.size()}) {
      RequestParser p(SmallLimits());
      Feeder feed(wire, step);
      ASSERT_EQ(feed.Next(p), Result::kError) << step;
      EXPECT_EQ(p.status(), 400) << "step " << step << ": " << p.detail();
    }
  }
}

}  // namespace
}  // namespace mitos::internal
