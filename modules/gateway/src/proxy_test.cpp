#include "proxy.h"

#include <gtest/gtest.h>

namespace gateway {
namespace {

mitos::http::Request Incoming() {
  mitos::http::Request r;
  r.method = "POST";
  r.path = "/users";
  r.target = "/users?x=1";
  r.body = "{}";
  r.remote_addr = "10.1.2.3";
  r.headers = {{"Host", "api.example"},
               {"Content-Type", "application/json"},
               {"Content-Length", "2"},
               {"Connection", "keep-alive, X-Secret-Hop"},
               {"X-Secret-Hop", "1"},
               {"Keep-Alive", "timeout=5"},
               {"Transfer-Encoding", "chunked"},
               {"Upgrade", "h2c"},
               {"X-Forwarded-For", "6.6.6.6"},
               {"X-Request-Id", "abc"},
               {"Accept", "application/json"},
               {"Accept-Encoding", "gzip, deflate"},
               {"Authorization", "Bearer t"},
               {"Mitos-Service-Token", "forged.claim"}};
  return r;
}

std::string HeaderOf(const mitos::remote::Request& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (mitos::http::EqualsIgnoreCase(k, name)) return v;
  }
  return "<absent>";
}

TEST(UpstreamRequest, KeepsEndToEndHeadersOnly) {
  mitos::http::Response res;
  auto up = UpstreamRequest(Incoming(), res);
  ASSERT_TRUE(up.has_value());
  EXPECT_EQ(up->method, "POST");
  EXPECT_EQ(up->target, "/users?x=1");
  EXPECT_EQ(up->body, "{}");
  EXPECT_EQ(up->content_type, "application/json");
  EXPECT_FALSE(up->idempotent);
  for (const char* gone : {"Connection", "Keep-Alive", "Transfer-Encoding",
                           "Upgrade", "X-Secret-Hop", "Content-Length", "Host",
                           "X-Request-Id", "Accept-Encoding",
                           // Identity goes on in the channel's service token.
                           "Authorization", "Mitos-Service-Token"}) {
    EXPECT_EQ(HeaderOf(*up, gone), "<absent>") << gone;
  }
  EXPECT_EQ(HeaderOf(*up, "Accept"), "application/json");
}

TEST(UpstreamRequest, ForwardedForComesFromTheSocket) {
  mitos::http::Response res;
  auto up = UpstreamRequest(Incoming(), res);
  ASSERT_TRUE(up.has_value());
  EXPECT_EQ(HeaderOf(*up, "X-Forwarded-For"), "10.1.2.3");
  EXPECT_EQ(HeaderOf(*up, "X-Forwarded-Host"), "api.example");
  EXPECT_EQ(HeaderOf(*up, "X-Forwarded-Proto"), "http");
}

TEST(UpstreamRequest, RefusesLineBreaksInHeaderValues) {
  auto in = Incoming();
  in.headers.emplace_back("X-Evil", "a\r\nInjected: yes");
  mitos::http::Response res;
  EXPECT_FALSE(UpstreamRequest(in, res).has_value());
  EXPECT_EQ(res.status, 400);
  EXPECT_EQ(res.content_type, "application/problem+json");
}

TEST(UpstreamRequest, OnlyGetAndHeadAreRetryable) {
  for (auto [m, idem] : {std::pair{"GET", true}, {"HEAD", true},
                         {"POST", false}, {"PATCH", false}, {"DELETE", false}}) {
    auto in = Incoming();
    in.method = m;
    mitos::http::Response res;
    EXPECT_EQ(UpstreamRequest(in, res)->idempotent, idem) << m;
  }
}

TEST(CopyResponse, DropsHopByHopHeaders) {
  mitos::remote::Response up;
  up.status = 201;
  up.body = "{\"id\":1}";
  up.headers = {{"Content-Type", "application/json"}, {"Location", "/users/1"},
                {"Connection", "close"}, {"Keep-Alive", "timeout=5"},
                {"Content-Length", "8"}, {"X-Request-Id", "upstream"},
                {"Content-Encoding", "gzip"}};
  mitos::http::Response res;
  CopyResponse(up, res);
  EXPECT_EQ(res.status, 201);
  EXPECT_EQ(res.body, "{\"id\":1}");
  EXPECT_EQ(res.content_type, "application/json");
  EXPECT_EQ(res.Header("Location"), "/users/1");
  EXPECT_EQ(res.Header("Connection"), "");
  EXPECT_EQ(res.Header("Keep-Alive"), "");
  EXPECT_EQ(res.Header("Content-Length"), "");
  EXPECT_EQ(res.Header("X-Request-Id"), "");
  EXPECT_EQ(res.Header("Content-Encoding"), "");
}

}  // namespace
}  // namespace gateway
