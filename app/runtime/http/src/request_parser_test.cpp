#include "mitos/http/request_parser.h"

#include <gtest/gtest.h>

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
  std::string in = "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\n";
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
      "PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
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
  std::string in = "POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
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
        Bad{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
        Bad{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX", 400},
        Bad{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n", 413},
        Bad{"GET / HTTP/1.1\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\nF: 1\r\n"
            "G: 1\r\nH: 1\r\nI: 1\r\n\r\n",
            431}));

TEST(RequestParserTest, AnOverlongHeadFailsBeforeItEnds) {
  RequestParser p(SmallLimits());
  std::string in = "GET / HTTP/1.1\r\nX: " + std::string(2000, 'a');
  ASSERT_EQ(p.Parse(in), Result::kError);
  EXPECT_EQ(p.status(), 431);
}

}  // namespace
}  // namespace mitos::internal
