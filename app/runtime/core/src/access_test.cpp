// The runtime's gate, on a real instance: what each declared Access lets
// through, the caller a handler sees, service tokens between instances,
// and rate limits. Tokens are signed here with the instance's own
// development key, or forged.
#include <httplib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "mitos/auth/dev_keys.h"
#include "mitos/auth/service_token.h"
#include "mitos/base/context.h"
#include "mitos/core/runtime.h"
#include "mitos_testing/instance.h"

namespace mitos {
namespace {

using ::testing::HasSubstr;

// Answers who is calling, on one route per kind of Access.
class DoorsModule : public Module {
 public:
  Status Start(ModuleContext&) override { return Status::Ok(); }
  void RegisterRoutes(http::Router& r) override {
    auto who = [](const http::Request&, http::Response& res) {
      const Caller& c = RequestContext::Current().caller;
      const char* kind = c.kind == Caller::Kind::kInternal    ? "internal"
                         : c.kind == Caller::Kind::kAnonymous ? "anonymous"
                                                              : "user";
      res.Json(200, {{"kind", kind}, {"sub", c.subject}, {"scopes", c.scopes}});
    };
    r.Add("doors", "GET", "/doors/open", who, http::Access::Public());
    r.Add("doors", "GET", "/doors/me", who, http::Access::Authenticated());
    r.Add("doors", "GET", "/doors/admin", who, http::Access::Scope("doors:admin"));
    r.Add("doors", "GET", "/doors/undeclared", who);
  }
  void Stop() override {}
};

class NothingModule : public Module {
 public:
  Status Start(ModuleContext&) override { return Status::Ok(); }
  void RegisterRoutes(http::Router&) override {}
  void Stop() override {}
};

// doors, and "keeper", which needs doors: the one service that may call it.
std::vector<ModuleSpec> Catalog() {
  ModuleSpec doors;
  doors.name = "doors";
  doors.route_prefixes = {"/doors"};
  doors.create = [](const config::Config&) { return std::make_unique<DoorsModule>(); };
  ModuleSpec keeper;
  keeper.name = "keeper";
  keeper.needs = {"doors"};
  keeper.create = [](const config::Config&) { return std::make_unique<NothingModule>(); };
  return {doors, keeper};
}

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class DevModeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    instance_ = std::make_unique<testing::TestInstance>(
        Catalog(), std::map<std::string, std::string>{{"auth.mode", "dev"},
                                                      {"limits.subject.rate", "0"},
                                                      {"limits.address.rate", "0"}},
        dir_.path().string());
    std::string error;
    bool created = true;
    key_ = auth::SigningKey::LoadOrCreate(
        (dir_.path() / "auth-dev-key.pem").string(), &created, &error);
    ASSERT_TRUE(key_) << error;
    EXPECT_FALSE(created) << "the instance made the development key";
  }

  std::string Token(const std::string& sub, const std::string& scope = "",
                    nlohmann::json extra = nlohmann::json::object()) {
    nlohmann::json c = {{"iss", "mitos-dev"}, {"aud", "mitos"}, {"sub", sub},
                        {"iat", Now()}, {"exp", Now() + 600}};
    if (!scope.empty()) c["scope"] = scope;
    for (auto& [k, v] : extra.items()) c[k] = v;
    return key_->Sign(c);
  }

  httplib::Result Get(const std::string& path, const std::string& token = "") {
    auto c = instance_->Client();
    httplib::Headers h;
    if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
    return c->Get(path, h);
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::TestInstance> instance_;
  std::unique_ptr<auth::SigningKey> key_;
};

TEST_F(DevModeTest, APublicRouteTakesAnyoneAsAnonymous) {
  auto r = Get("/doors/open");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(nlohmann::json::parse(r->body)["kind"], "anonymous");
}

TEST_F(DevModeTest, AnAuthenticatedRouteWantsAToken) {
  auto r = Get("/doors/me");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer");
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/problem+json");

  r = Get("/doors/me", Token("42", "a b"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto who = nlohmann::json::parse(r->body);
  EXPECT_EQ(who["kind"], "user");
  EXPECT_EQ(who["sub"], "42");
  EXPECT_EQ(who["scopes"], nlohmann::json({"a", "b"}));
}

TEST_F(DevModeTest, ABadTokenIsInvalidWhateverTheRoute) {
  for (const char* path : {"/doors/open", "/doors/me", "/doors/admin"}) {
    for (const std::string& bad :
         {Token("42") + "x", Token("42", "", {{"iss", "someone"}}),
          Token("42", "", {{"exp", Now() - 3600}}), std::string("a.b.c")}) {
      auto r = Get(path, bad);
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 401) << path;
      EXPECT_EQ(r->get_header_value("WWW-Authenticate"),
                "Bearer error=\"invalid_token\"");
      EXPECT_THAT(r->body, HasSubstr("The access token is invalid."));
    }
  }
}

TEST_F(DevModeTest, AScopedRouteWantsTheScope) {
  auto r = Get("/doors/admin", Token("42", "doors:reader"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(r->get_header_value("WWW-Authenticate"),
            "Bearer error=\"insufficient_scope\", scope=\"doors:admin\"");
  r = Get("/doors/admin", Token("42", "doors:admin"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(DevModeTest, ARouteThatDeclaresNothingIsDenied) {
  auto r = Get("/doors/undeclared", Token("42", "doors:admin"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
}

TEST_F(DevModeTest, TheProbesAndTheDevelopmentJwksNeedNoToken) {
  for (const char* p : {"/livez", "/readyz", "/metrics"}) {
    auto r = Get(p);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << p;
  }
  auto r = Get("/.well-known/jwks.json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, key_->Jwks());
}

TEST(AuthOff, EveryRouteIsTheInstances) {
  testing::TestInstance instance(Catalog());  // auth.mode off
  auto c = instance.Client();
  auto r = c->Get("/doors/undeclared");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(nlohmann::json::parse(r->body)["kind"], "internal");
}

// An instance of doors alone: not the edge, called only by other instances.
class InternalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_path_ = dir_.path() / "service-keys";
    std::string error;
    ASSERT_TRUE(auth::ServiceKeys::WriteNew(keys_path_.string(), &error)) << error;
    keys_ = auth::ServiceKeys::FromFile(keys_path_.string(), &error);
    ASSERT_TRUE(keys_) << error;
    instance_ = std::make_unique<testing::TestInstance>(
        Catalog(), std::map<std::string, std::string>{
                       {"auth.mode", "dev"},
                       {"modules", "doors"},
                       {"auth.service_keys_file", keys_path_.string()}});
  }

  std::string Mint(std::vector<std::string> services, const std::string& path,
                   auth::ServiceIdentity::Caller caller =
                       auth::ServiceIdentity::Caller::kUser) {
    auth::ServiceIdentity who;
    who.services = std::move(services);
    who.caller = caller;
    if (caller == auth::ServiceIdentity::Caller::kUser) {
      who.subject = "7";
      who.scopes = {"doors:admin"};
    }
    return auth::MintServiceToken(*keys_, who, "GET", path,
                                  std::chrono::system_clock::now());
  }

  httplib::Result Get(const std::string& path, httplib::Headers h = {}) {
    return instance_->Client()->Get(path, h);
  }

  testing::TempDir dir_;
  std::filesystem::path keys_path_;
  std::shared_ptr<auth::ServiceKeys> keys_;
  std::unique_ptr<testing::TestInstance> instance_;
};

TEST_F(InternalTest, NoServiceTokenIsRefusedEvenForAPublicRoute) {
  auto r = Get("/doors/open");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_THAT(r->body, HasSubstr("only other Mitos services"));
}

TEST_F(InternalTest, ACallerTheModuleDoesNotListIsForbidden) {
  auto r = Get("/doors/me", {{kServiceTokenHeader, Mint({"stranger"}, "/doors/me")}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
}

TEST_F(InternalTest, AListedCallerActsForItsUserOnce) {
  const std::string token = Mint({"keeper"}, "/doors/admin");
  auto r = Get("/doors/admin", {{kServiceTokenHeader, token}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto who = nlohmann::json::parse(r->body);
  EXPECT_EQ(who["kind"], "user");
  EXPECT_EQ(who["sub"], "7");
  // The same token again is a replay.
  r = Get("/doors/admin", {{kServiceTokenHeader, token}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
}

TEST_F(InternalTest, TheGatewayMayCallAModuleWithRoutes) {
  auto r = Get("/doors/me", {{kServiceTokenHeader, Mint({"gateway"}, "/doors/me")}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST_F(InternalTest, AnAnonymousEndUserMeetsTheRoutesPolicyHere) {
  auto anonymous = auth::ServiceIdentity::Caller::kAnonymous;
  auto r = Get("/doors/me", {{kServiceTokenHeader,
                              Mint({"gateway"}, "/doors/me", anonymous)}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  r = Get("/doors/open", {{kServiceTokenHeader,
                           Mint({"gateway"}, "/doors/open", anonymous)}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(InternalTest, AnEndUsersBearerTokenIsNoServiceToken) {
  auto r = Get("/doors/open", {{"Authorization", "Bearer a.b.c"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
}

TEST_F(InternalTest, ATokenForAnotherTargetOrForgedIsRefused) {
  auto r = Get("/doors/me", {{kServiceTokenHeader, Mint({"keeper"}, "/doors/admin")}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  std::string token = Mint({"keeper"}, "/doors/me");
  token.back() = token.back() == 'A' ? 'B' : 'A';
  r = Get("/doors/me", {{kServiceTokenHeader, token}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
}

TEST(RateLimits, ASubjectOverItsBucketGets429WithTheHeaders) {
  testing::TempDir dir;
  testing::TestInstance instance(
      Catalog(),
      {{"auth.mode", "dev"}, {"limits.subject.rate", "1"}, {"limits.subject.burst", "2"}},
      dir.path().string());
  std::string error;
  bool created = false;
  auto key = auth::SigningKey::LoadOrCreate(
      (dir.path() / "auth-dev-key.pem").string(), &created, &error);
  ASSERT_TRUE(key) << error;
  const std::string token = key->Sign({{"iss", "mitos-dev"}, {"aud", "mitos"},
                                       {"sub", "9"}, {"exp", Now() + 600}});
  auto c = instance.Client();
  httplib::Headers h = {{"Authorization", "Bearer " + token}};
  EXPECT_EQ(c->Get("/doors/me", h)->status, 200);
  EXPECT_EQ(c->Get("/doors/me", h)->status, 200);
  auto r = c->Get("/doors/me", h);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  EXPECT_EQ(r->get_header_value("RateLimit-Policy"), "\"subject\";q=2;w=2");
  EXPECT_THAT(r->get_header_value("RateLimit"), HasSubstr("\"subject\";r=0;t="));
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/problem+json");
  // The probes are never limited.
  EXPECT_EQ(c->Get("/readyz", h)->status, 200);
}

// Anonymous callers behind a proxy: their buckets are the proxy's
// X-Forwarded-For entries, when the proxy is trusted, and the socket's
// peer otherwise (a client cannot pick its bucket by writing the header).
int Anonymous(testing::TestInstance& instance, const std::string& xff) {
  auto r = instance.Client()->Get("/doors/open", {{"X-Forwarded-For", xff}});
  return r ? r->status : -1;
}

TEST(RateLimits, BehindATrustedProxyTheClientIsTheForwardedAddress) {
  testing::TestInstance instance(
      Catalog(), {{"auth.mode", "dev"}, {"limits.address.rate", "1"},
                  {"limits.address.burst", "1"},
                  {"limits.trusted_proxies", "10.0.0.0/8, 127.0.0.1"}});
  EXPECT_EQ(Anonymous(instance, "203.0.113.7"), 200);
  EXPECT_EQ(Anonymous(instance, "203.0.113.7"), 429);
  // Another client, and one that wrote its own entry before the proxies'.
  EXPECT_EQ(Anonymous(instance, "198.51.100.1, 10.1.2.3"), 200);
  EXPECT_EQ(Anonymous(instance, "203.0.113.99, 198.51.100.1"), 429);
}

TEST(RateLimits, AnUntrustedPeerCannotChooseItsBucket) {
  testing::TestInstance instance(
      Catalog(), {{"auth.mode", "dev"}, {"limits.address.rate", "1"},
                  {"limits.address.burst", "1"},
                  {"limits.trusted_proxies", "10.0.0.0/8"}});
  EXPECT_EQ(Anonymous(instance, "203.0.113.7"), 200);
  EXPECT_EQ(Anonymous(instance, "203.0.113.8"), 429);
}

TEST(RateLimits, ATrustedProxyThatIsNoAddressStopsStartUp) {
  EXPECT_THROW(testing::TestInstance(Catalog(),
                                     {{"auth.mode", "dev"},
                                      {"limits.trusted_proxies", "ingress"}}),
               std::runtime_error);
}

}  // namespace
}  // namespace mitos
