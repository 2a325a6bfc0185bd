// The gateway in a real split: a backend instance (users, orders and an echo
// module) and a gateway instance that knows the backend only by URL.
#include <gtest/gtest.h>

#include <chrono>

#include "gateway/module.h"
#include "mitos_testing/instance.h"
#include "orders/module.h"
#include "users/module.h"

namespace gateway {
namespace {

using mitos::testing::RawConnection;
using mitos::testing::TestInstance;
using nlohmann::json;

// Answers with what it received, so tests can see what crossed the hop.
class EchoModule : public mitos::Module {
 public:
  mitos::Status Start(mitos::ModuleContext&) override { return mitos::Status::Ok(); }
  void RegisterRoutes(mitos::http::Router& r) override {
    auto echo = [](const mitos::http::Request& req, mitos::http::Response& res) {
      json h = json::object();
      for (const auto& [k, v] : req.headers) h[k] = v;
      res.Json(200, {{"method", req.method}, {"target", req.target},
                     {"body", req.body}, {"headers", h}});
    };
    r.Add("echo", "GET", "/echo/{*}", echo);
    r.Add("echo", "POST", "/echo/{*}", echo);
  }
  void Stop() override {}
};

mitos::ModuleSpec EchoSpec() {
  mitos::ModuleSpec s;
  s.name = "echo";
  s.route_prefixes = {"/echo"};
  s.create = [](const mitos::config::Config&) { return std::make_unique<EchoModule>(); };
  return s;
}

std::vector<mitos::ModuleSpec> Catalog() {
  return {users::Spec(), orders::Spec(), EchoSpec(), Spec()};
}

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_ = std::make_unique<TestInstance>(
        Catalog(), std::map<std::string, std::string>{{"modules", "users,orders,echo"}});
    std::string url = "http://127.0.0.1:" + std::to_string(backend_->port());
    gateway_ = std::make_unique<TestInstance>(
        Catalog(), std::map<std::string, std::string>{
                       {"modules", "gateway"},
                       {"remotes.users.url", url},
                       {"remotes.orders.url", url},
                       {"remotes.echo.url", url},
                       {"remote.timeout_ms", "300"},
                       {"remote.breaker_failures", "2"},
                       {"remote.breaker_open_ms", "60000"}});
  }
  std::unique_ptr<TestInstance> backend_;
  std::unique_ptr<TestInstance> gateway_;
};

TEST_F(GatewayTest, SameAnswersThroughTheGatewayAsDirect) {
  auto gw = gateway_->Client();
  auto created = gw->Post("/users", R"({"name":"Ada","email":"ada@x.io"})",
                          "application/json");
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->body;
  EXPECT_EQ(created->get_header_value("Location"), "/users/1");
  auto via = gw->Get("/users/1");
  auto direct = backend_->Client()->Get("/users/1");
  ASSERT_TRUE(via && direct);
  EXPECT_EQ(via->status, 200);
  EXPECT_EQ(via->body, direct->body);
  EXPECT_EQ(via->get_header_value("Content-Type"), "application/json");

  auto order = gw->Post("/orders",
                        R"({"user_id":1,"items":[{"sku":"A","quantity":2,"unit_price_cents":150}]})",
                        "application/json");
  ASSERT_TRUE(order);
  EXPECT_EQ(order->status, 201) << order->body;
  EXPECT_EQ(json::parse(order->body)["total_cents"], 300);

  auto bad = gw->Post("/users", "{", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(bad->get_header_value("Content-Type"), "application/problem+json");

  auto list = gw->Get("/users?limit=1");
  ASSERT_TRUE(list);
  EXPECT_EQ(json::parse(list->body)["items"].size(), 1u);
}

TEST_F(GatewayTest, CompressionIsPerHopAndNeverDoubled) {
  auto gw = gateway_->Client();
  gw->Post("/users", R"({"name":"Ada","email":"ada@x.io"})", "application/json");
  RawConnection c(gateway_->port());
  c.Send("GET /users/1 HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n");
  std::string r = c.ReadResponse();
  EXPECT_EQ(mitos::testing::StatusOf(r), 200) << r;
  EXPECT_EQ(mitos::testing::HeaderOf(r, "Content-Encoding"), "gzip") << r;
  c.Send("GET /users/1 HTTP/1.1\r\nHost: t\r\n\r\n");
  std::string plain = c.ReadResponse();
  EXPECT_EQ(mitos::testing::HeaderOf(plain, "Content-Encoding"), "");
  EXPECT_EQ(json::parse(mitos::testing::BodyOf(plain))["name"], "Ada");
}

TEST_F(GatewayTest, UnknownPathIs404ProblemAtTheEdge) {
  auto r = gateway_->Client()->Get("/nope");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/problem+json");
}

TEST_F(GatewayTest, IdentityCrossesTheHopAndHopHeadersDoNot) {
  httplib::Headers h = {
      {"X-Request-Id", "req-42"},
      {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
      {"tracestate", "vendor=1"},
      {"X-Forwarded-For", "6.6.6.6"},
      {"Upgrade", "h2c"},
      {"X-Custom", "kept"}};
  auto r = gateway_->Client()->Get("/echo/a?b=c", h);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("X-Request-Id"), "req-42");
  json seen = json::parse(r->body);
  EXPECT_EQ(seen["target"], "/echo/a?b=c");
  const json& hs = seen["headers"];
  EXPECT_EQ(hs["X-Request-Id"], "req-42");
  // Same trace, and the gateway's own span as the parent.
  std::string tp = hs["traceparent"];
  ASSERT_EQ(tp.size(), 55u) << tp;
  EXPECT_EQ(tp.substr(0, 36), "00-4bf92f3577b34da6a3ce929d0e0e4736-");
  EXPECT_NE(tp.substr(36, 16), "00f067aa0ba902b7");
  EXPECT_EQ(tp.substr(52), "-01");
  EXPECT_EQ(hs["tracestate"], "vendor=1");
  EXPECT_EQ(hs["X-Forwarded-For"], "127.0.0.1");
  EXPECT_EQ(hs["X-Custom"], "kept");
  EXPECT_FALSE(hs.contains("Upgrade"));
  ASSERT_TRUE(hs.contains("X-Mitos-Deadline-Ms"));
  int left = std::stoi(hs["X-Mitos-Deadline-Ms"].get<std::string>());
  EXPECT_GT(left, 0);
  EXPECT_LE(left, 10000);
}

TEST_F(GatewayTest, PercentEncodedLineBreakInAHeaderStaysText) {
  // Header values are never percent-decoded: this is text, passed on as
  // sent, and no header is injected upstream.
  RawConnection c(gateway_->port());
  c.Send("GET /echo/x HTTP/1.1\r\nHost: t\r\nX-Evil: a%0D%0AInjected:%20yes\r\n\r\n");
  std::string r = c.ReadResponse();
  ASSERT_EQ(mitos::testing::StatusOf(r), 200) << r;
  json seen = json::parse(mitos::testing::BodyOf(r));
  EXPECT_EQ(seen["headers"]["X-Evil"], "a%0D%0AInjected:%20yes");
  EXPECT_FALSE(seen["headers"].contains("Injected"));
}

TEST_F(GatewayTest, BareCarriageReturnInAHeaderIsRefused) {
  RawConnection c(gateway_->port());
  c.Send("GET /echo/x HTTP/1.1\r\nHost: t\r\nX-Evil: a\rInjected: yes\r\n\r\n");
  std::string r = c.ReadResponse();
  EXPECT_EQ(mitos::testing::StatusOf(r), 400) << r;
  EXPECT_TRUE(c.ClosedByPeer());
}

TEST_F(GatewayTest, DeadBackendGives503QuicklyAndOpensTheBreaker) {
  backend_.reset();  // stopped: connections are refused
  auto gw = gateway_->Client();
  for (int i = 0; i < 3; ++i) {
    auto started = std::chrono::steady_clock::now();
    auto r = gw->Get("/users/1");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503) << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/problem+json");
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  }
  auto health = json::parse(gw->Get("/health")->body);
  EXPECT_EQ(health["remotes"]["users"]["breaker"], "open");
}

// A gateway that knows a URL for some modules only: it starts, proxies to
// those, serves its local ones, and answers 503 for the rest.
TEST(GatewayWithoutSomeUrls, StartsAndAnswers503ForTheModulesItCannotReach) {
  TestInstance backend(Catalog(), {{"modules", "users"}});
  std::string url = "http://127.0.0.1:" + std::to_string(backend.port());
  ::testing::internal::CaptureStdout();
  std::unique_ptr<TestInstance> gateway;
  try {
    gateway = std::make_unique<TestInstance>(
        Catalog(),
        std::map<std::string, std::string>{{"modules", "gateway,echo"},
                                           {"remotes.users.url", url}});
  } catch (...) {
    std::string out = ::testing::internal::GetCapturedStdout();
    ADD_FAILURE() << "the gateway did not start; its log:\n" << out;
    throw;
  }
  std::string log = ::testing::internal::GetCapturedStdout();
  // One warning, naming exactly the modules without a URL.
  bool warned = false;
  for (size_t at = 0, end; at < log.size(); at = end + 1) {
    end = log.find('\n', at);
    if (end == std::string::npos) end = log.size();
    json line = json::parse(log.substr(at, end - at), nullptr, false);
    if (line.is_object() && line.value("level", "") == "warn" &&
        line.value("module", "") == "gateway") {
      EXPECT_FALSE(warned) << log;
      warned = true;
      EXPECT_EQ(line["unrouted_modules"], "orders") << log;
    }
  }
  EXPECT_TRUE(warned) << log;

  auto gw = gateway->Client();
  auto created = gw->Post("/users", R"({"name":"Ada","email":"ada@x.io"})",
                          "application/json");
  ASSERT_TRUE(created);
  EXPECT_EQ(created->status, 201) << created->body;
  auto local = gw->Get("/echo/x");
  ASSERT_TRUE(local);
  EXPECT_EQ(local->status, 200) << local->body;

  for (auto [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/orders"},
           {"GET", "/orders/7"},
           {"POST", "/orders"},
           {"DELETE", "/orders/7"}}) {
    httplib::Request req;
    req.method = method;
    req.path = path;
    if (method == "POST") {
      req.body = "{}";
      req.set_header("Content-Type", "application/json");
    }
    auto r = gw->send(req);
    ASSERT_TRUE(r) << method << " " << path;
    EXPECT_EQ(r->status, 503) << method << " " << path << ": " << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/problem+json");
    EXPECT_EQ(r->get_header_value("Retry-After"), "30");
    json p = json::parse(r->body);
    EXPECT_EQ(p["type"], "urn:mitos:problem:module-unavailable");
    EXPECT_EQ(p["title"], "Module unavailable");
    EXPECT_EQ(p["status"], 503);
    EXPECT_EQ(p["detail"],
              "The orders module is not reachable from this instance.");
  }

  auto health = gw->Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200) << health->body;
  json h = json::parse(health->body);
  EXPECT_EQ(h["status"], "UP");
  EXPECT_EQ(h["remotes"]["orders"],
            json({{"url", nullptr}, {"state", "unconfigured"}}))
      << h.dump();
  EXPECT_EQ(h["remotes"]["users"]["url"], url);
  EXPECT_EQ(h["remotes"]["users"]["state"], "configured");
  EXPECT_FALSE(h["remotes"].contains("echo")) << "echo runs here";
  EXPECT_EQ(gw->Get("/readyz")->status, 200);
}

// A module that needs one without a URL still refuses to start.
TEST(GatewayWithoutSomeUrls, AModuleThatNeedsAnUnconfiguredOneStillFails) {
  try {
    TestInstance inst(Catalog(), {{"modules", "gateway,orders"}});
    ADD_FAILURE() << "orders started without users";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(
        std::string(e.what()).find("module \"orders\" needs module \"users\""),
        std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace gateway
