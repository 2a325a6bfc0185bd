// HTTP-level tests: a real instance of the users and orders modules on a
// free port, covering every row of the API table, errors included. The
// rows that need the users module to fail (503, 504) run orders alone, with
// users where nothing listens or where nothing answers.
#include <gtest/gtest.h>

#include "mitos_testing/faults.h"
#include "mitos_testing/instance.h"
#include "mitos_testing/problem.h"
#include "orders/module.h"
#include "users/module.h"

namespace orders {
namespace {

using nlohmann::json;
using mitos::testing::ExpectProblem;
using mitos::testing::ProblemFields;

class OrdersHttpTest : public ::testing::Test {
 protected:
  void SetUp() override { Start({users::Spec(), Spec()}); }

  void Start(std::vector<mitos::ModuleSpec> catalog,
             std::map<std::string, std::string> overrides = {}) {
    client_.reset();
    instance_.reset();
    overrides.emplace("server.max_body_bytes", "65536");
    instance_ = std::make_unique<mitos::testing::TestInstance>(
        std::move(catalog), std::move(overrides));
    client_ = instance_->Client();
  }

  httplib::Result Post(const std::string& path, const std::string& body,
                       const std::string& type = "application/json") {
    return client_->Post(path.c_str(), body, type.c_str());
  }
  httplib::Result PostOrder(const std::string& body,
                            const std::string& type = "application/json") {
    return Post("/orders", body, type);
  }
  int64_t CreateUser(const std::string& email) {
    auto r = Post("/users", json{{"name", "U"}, {"email", email}}.dump());
    EXPECT_TRUE(r);
    if (!r) return 0;
    EXPECT_EQ(r->status, 201) << r->body;
    return json::parse(r->body)["id"].get<int64_t>();
  }
  static json Items(int n, int64_t quantity = 1, int64_t price = 100) {
    json items = json::array();
    for (int i = 0; i < n; ++i) {
      items.push_back({{"sku", "SKU-" + std::to_string(i)},
                       {"quantity", quantity},
                       {"unit_price_cents", price}});
    }
    return items;
  }
  json PlaceOrder(int64_t user_id, const json& items) {
    auto r = PostOrder(json{{"user_id", user_id}, {"items", items}}.dump());
    EXPECT_TRUE(r);
    if (!r) return {};
    EXPECT_EQ(r->status, 201) << r->body;
    return json::parse(r->body);
  }
  static std::string PathOf(const json& order) {
    return "/orders/" + std::to_string(order["id"].get<int64_t>());
  }
  static bool Has(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  }

  std::unique_ptr<mitos::testing::TestInstance> instance_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(OrdersHttpTest, PlaceReturns201LocationAndTheOrder) {
  int64_t user = CreateUser("ada@x.io");
  auto r = PostOrder(json{{"user_id", user},
                          {"items", {{{"sku", "A-1"}, {"quantity", 3},
                                      {"unit_price_cents", 250}},
                                     {{"sku", "Zoë"}, {"quantity", 1},
                                      {"unit_price_cents", 0}}}}}
                         .dump());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  json o = json::parse(r->body);
  EXPECT_EQ(r->get_header_value("Location"), PathOf(o));
  EXPECT_EQ(o["user_id"], user);
  EXPECT_EQ(o["status"], "placed");
  EXPECT_EQ(o["total_cents"], 750);
  ASSERT_EQ(o["items"].size(), 2u);
  EXPECT_EQ(o["items"][0],
            (json{{"sku", "A-1"}, {"quantity", 3}, {"unit_price_cents", 250}}));
  EXPECT_EQ(o["items"][1]["sku"], "Zoë");
  std::string ts = o["created_at"];
  EXPECT_EQ(ts.size(), 24u);
  EXPECT_EQ(ts.back(), 'Z');
  EXPECT_EQ(o["updated_at"], o["created_at"]);

  auto got = client_->Get(PathOf(o).c_str());
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(json::parse(got->body), o);
}

TEST_F(OrdersHttpTest, PlaceMalformedJsonIs400) {
  ExpectProblem(PostOrder("{\"user_id\": "), 400);
  ExpectProblem(PostOrder("[1,2]"), 400);
  ExpectProblem(PostOrder("42"), 400);
  ExpectProblem(PostOrder(""), 400);
  ExpectProblem(PostOrder("{\"user_id\":1,\"items\":[{\"sku\":\"\xff\"}]}"), 400);
}

TEST_F(OrdersHttpTest, PlaceWrongMediaTypeIs415) {
  int64_t user = CreateUser("a@x.io");
  std::string body = json{{"user_id", user}, {"items", Items(1)}}.dump();
  ExpectProblem(PostOrder(body, "text/plain"), 415);
  ExpectProblem(PostOrder(body, "application/x-www-form-urlencoded"), 415);
  auto ok = PostOrder(body, "application/json; charset=utf-8");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 201) << ok->body;
}

TEST_F(OrdersHttpTest, PlaceInvalidFieldsAre422WithEveryError) {
  int64_t user = CreateUser("a@x.io");
  // Unknown fields, at the top and in an item, and rule errors together.
  json p = ExpectProblem(PostOrder(json{{"user_id", 0},
                                  {"coupon", "X"},
                                  {"items", {{{"sku", ""},
                                              {"quantity", 1001},
                                              {"unit_price_cents", -1},
                                              {"color", "red"}}}}}
                                 .dump()),
                   422);
  auto f = ProblemFields(p);
  EXPECT_TRUE(Has(f, "coupon"));
  EXPECT_TRUE(Has(f, "items[0].color"));
  EXPECT_TRUE(Has(f, "user_id"));
  EXPECT_TRUE(Has(f, "items[0].sku"));
  EXPECT_TRUE(Has(f, "items[0].quantity"));
  EXPECT_TRUE(Has(f, "items[0].unit_price_cents"));
  EXPECT_EQ(f.size(), 6u);

  // Missing and mistyped fields.
  EXPECT_EQ(ProblemFields(ExpectProblem(PostOrder("{}"), 422)),
            (std::vector<std::string>{"user_id", "items"}));
  EXPECT_EQ(ProblemFields(ExpectProblem(PostOrder(json{{"user_id", "1"}, {"items", Items(1)}}.dump()), 422)),
            std::vector<std::string>{"user_id"});
  EXPECT_EQ(ProblemFields(ExpectProblem(PostOrder(json{{"user_id", 1.5}, {"items", Items(1)}}.dump()), 422)),
            std::vector<std::string>{"user_id"});
  EXPECT_EQ(ProblemFields(ExpectProblem(PostOrder(json{{"user_id", nullptr}, {"items", Items(1)}}.dump()), 422)),
            std::vector<std::string>{"user_id"});
  EXPECT_EQ(ProblemFields(ExpectProblem(PostOrder(json{{"user_id", user}, {"items", json::object()}}.dump()), 422)),
            std::vector<std::string>{"items"});
  EXPECT_EQ(ProblemFields(ExpectProblem(PostOrder(json{{"user_id", user}, {"items", {1, "x"}}}.dump()), 422)),
            (std::vector<std::string>{"items[0]", "items[1]"}));
  EXPECT_EQ(ProblemFields(ExpectProblem(PostOrder(json{{"user_id", user},
                                          {"items", {{{"sku", 7},
                                                      {"quantity", "2"},
                                                      {"unit_price_cents", 1.0}}}}}
                                         .dump()),
                           422)),
            (std::vector<std::string>{"items[0].sku", "items[0].quantity",
                                      "items[0].unit_price_cents"}));
  EXPECT_EQ(ProblemFields(ExpectProblem(PostOrder(json{{"user_id", user}, {"items", {{{"sku", "A"}}}}}.dump()), 422)),
            (std::vector<std::string>{"items[0].quantity",
                                      "items[0].unit_price_cents"}));
  EXPECT_EQ(ProblemFields(ExpectProblem(PostOrder(R"({"user_id":1,"items":[{"sku":"A","quantity":99999999999999999999,"unit_price_cents":0}]})"), 422)),
            std::vector<std::string>{"items[0].quantity"});

  // Item count and value boundaries.
  EXPECT_EQ(ProblemFields(ExpectProblem(PostOrder(json{{"user_id", user}, {"items", Items(0)}}.dump()), 422)),
            std::vector<std::string>{"items"});
  EXPECT_EQ(ProblemFields(ExpectProblem(PostOrder(json{{"user_id", user}, {"items", Items(51)}}.dump()), 422)),
            std::vector<std::string>{"items"});
  PlaceOrder(user, Items(50, 1000, 1'000'000'000));
  EXPECT_EQ(ProblemFields(ExpectProblem(PostOrder(json{{"user_id", user}, {"items", Items(2, 1, 1'000'000'001)}}.dump()), 422)),
            (std::vector<std::string>{"items[0].unit_price_cents",
                                      "items[1].unit_price_cents"}));
  json items = Items(4);
  items[3]["sku"] = std::string(65, 's');
  EXPECT_EQ(ProblemFields(ExpectProblem(PostOrder(json{{"user_id", user}, {"items", items}}.dump()), 422)),
            std::vector<std::string>{"items[3].sku"});
  // A wrong type elsewhere still reports the rule errors of readable fields.
  EXPECT_EQ(ProblemFields(ExpectProblem(PostOrder(json{{"user_id", "x"}, {"items", items}}.dump()), 422)),
            (std::vector<std::string>{"user_id", "items[3].sku"}));
}

TEST_F(OrdersHttpTest, UnknownUserIs422OnUserId) {
  json p = ExpectProblem(PostOrder(json{{"user_id", 4242}, {"items", Items(1)}}.dump()), 422);
  ASSERT_EQ(p["errors"].size(), 1u);
  EXPECT_EQ(p["errors"][0]["field"], "user_id");
  EXPECT_EQ(p["errors"][0]["message"], "no user with this id");
  // A removed user is no longer a valid customer.
  int64_t user = CreateUser("gone@x.io");
  auto del = client_->Delete(("/users/" + std::to_string(user)).c_str());
  ASSERT_TRUE(del);
  ASSERT_EQ(del->status, 204);
  EXPECT_EQ(ProblemFields(ExpectProblem(PostOrder(json{{"user_id", user}, {"items", Items(1)}}.dump()), 422)),
            std::vector<std::string>{"user_id"});
  EXPECT_TRUE(json::parse(client_->Get("/orders")->body)["items"].empty());
}

// The calls orders made to users::UsersApi::Get, as `instance` shows them
// (metrics are the process's: compare before and after).
double UserChecks(const mitos::testing::TestInstance& instance) {
  return mitos::testing::MetricValue(
      instance,
      "mitos_module_calls_total{caller=\"orders\",callee=\"users\","
      "method=\"Get\",binding=\"remote\"}");
}

TEST_F(OrdersHttpTest, UsersUnavailableIs503AndDeadlineIs504) {
  // Orders alone, with users where nothing listens yet.
  const int users_port = mitos::testing::ClosedPort();
  const std::string users_url = "http://127.0.0.1:" + std::to_string(users_port);
  Start({users::Spec(), Spec()},
        {{"modules", "orders"}, {"remotes.users.url", users_url}});
  std::string body = json{{"user_id", 1}, {"items", Items(1)}}.dump();

  double checks = UserChecks(*instance_);
  auto r = PostOrder(body);
  json p = ExpectProblem(r, 503);
  EXPECT_EQ(p["detail"], "The users service is unavailable.");
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  EXPECT_EQ(r->get_header_value("Location"), "");
  EXPECT_EQ(UserChecks(*instance_), checks + 1);
  EXPECT_TRUE(json::parse(client_->Get("/orders")->body)["items"].empty());

  // Another orders, with a users that never answers within the deadline.
  mitos::testing::SilentServer hung;
  mitos::testing::TestInstance slow(
      {users::Spec(), Spec()},
      {{"modules", "orders"}, {"remotes.users.url", hung.url()}});
  checks = UserChecks(slow);
  auto late = slow.Client()->Post("/orders", httplib::Headers{{"X-Mitos-Deadline-Ms", "300"}},
                                  body, "application/json");
  ExpectProblem(late, 504);
  EXPECT_EQ(late->get_header_value("Location"), "");
  EXPECT_EQ(UserChecks(slow), checks + 1);
  EXPECT_TRUE(json::parse(slow.Client()->Get("/orders")->body)["items"].empty());

  // Users comes up where the first orders looks for it: orders are placed.
  mitos::testing::TestInstance users_instance(
      {users::Spec()}, {{"server.port", std::to_string(users_port)}});
  auto user = users_instance.Client()->Post(
      "/users", R"({"name":"Ada","email":"ada@x.io"})", "application/json");
  ASSERT_TRUE(user);
  ASSERT_EQ(user->status, 201) << user->body;
  checks = UserChecks(*instance_);
  PlaceOrder(json::parse(user->body)["id"].get<int64_t>(), Items(1));
  EXPECT_EQ(json::parse(client_->Get("/orders")->body)["items"].size(), 1u);
  EXPECT_EQ(UserChecks(*instance_), checks + 1);
}

TEST_F(OrdersHttpTest, AFullDatabaseAnswers507AndWritesNoPartOfAnOrder) {
  Start({users::Spec(), Spec()}, {{"orders.storage.max_page_count", "12"}});
  int64_t user = CreateUser("a@x.io");
  // Orders of 50 items with long SKUs: a few pages each.
  json items = json::array();
  for (int i = 0; i < 50; ++i) {
    std::string sku = "SKU-" + std::to_string(i) + "-";
    sku.resize(64, 'x');
    items.push_back({{"sku", sku}, {"quantity", 1}, {"unit_price_cents", 1}});
  }
  std::string body = json{{"user_id", user}, {"items", items}}.dump();
  size_t placed = 0;
  std::optional<httplib::Result> full;
  for (int n = 0; n < 100 && !full; ++n) {
    auto r = PostOrder(body);
    ASSERT_TRUE(r);
    if (r->status == 201) {
      ++placed;
    } else {
      full.emplace(std::move(r));
    }
  }
  ASSERT_GT(placed, 0u) << "the file was full from the start";
  ASSERT_TRUE(full) << "12 pages held 100 orders";
  json p = ExpectProblem(*full, 507);
  EXPECT_EQ(p["type"], "urn:mitos:problem:insufficient-storage");
  EXPECT_EQ((*full)->get_header_value("Location"), "");
  ExpectProblem(PostOrder(body), 507);
  // Every order listed is whole; the refused ones left nothing behind.
  json page = json::parse(client_->Get("/orders?limit=100")->body);
  ASSERT_EQ(page["items"].size(), placed);
  for (const auto& o : page["items"]) EXPECT_EQ(o["items"].size(), 50u);
}

TEST_F(OrdersHttpTest, GetReturnsTheOrderOr404) {
  json o = PlaceOrder(CreateUser("a@x.io"), Items(2));
  auto r = client_->Get(PathOf(o).c_str());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body), o);
  ExpectProblem(client_->Get("/orders/999999"), 404);
  for (const char* bad : {"/orders/0", "/orders/-1", "/orders/abc",
                          "/orders/1.5", "/orders/01",
                          "/orders/99999999999999999999"}) {
    ExpectProblem(client_->Get(bad), 404);
  }
}

TEST_F(OrdersHttpTest, ListPagesByUserWithLimitAndAfter) {
  int64_t ada = CreateUser("ada@x.io");
  int64_t bob = CreateUser("bob@x.io");
  for (int i = 0; i < 5; ++i) PlaceOrder(i % 2 == 0 ? ada : bob, Items(i + 1));
  // ada: 1, 3, 5; bob: 2, 4.
  auto r = client_->Get(("/orders?user_id=" + std::to_string(ada) + "&limit=2").c_str());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  json page = json::parse(r->body);
  ASSERT_EQ(page["items"].size(), 2u);
  EXPECT_EQ(page["items"][0]["id"], 1);
  EXPECT_EQ(page["items"][1]["id"], 3);
  EXPECT_EQ(page["items"][1]["items"].size(), 3u);
  EXPECT_EQ(page["next_after"], 3);
  json last = json::parse(
      client_->Get(("/orders?user_id=" + std::to_string(ada) + "&limit=2&after=3").c_str())->body);
  ASSERT_EQ(last["items"].size(), 1u);
  EXPECT_EQ(last["items"][0]["id"], 5);
  EXPECT_EQ(last["items"][0]["items"].size(), 5u);
  EXPECT_TRUE(last["next_after"].is_null());

  json bobs = json::parse(client_->Get(("/orders?user_id=" + std::to_string(bob)).c_str())->body);
  ASSERT_EQ(bobs["items"].size(), 2u);
  EXPECT_EQ(bobs["items"][1]["id"], 4);
  json all = json::parse(client_->Get("/orders")->body);
  EXPECT_EQ(all["items"].size(), 5u);  // default limit 20
  EXPECT_TRUE(all["next_after"].is_null());
  json none = json::parse(client_->Get("/orders?user_id=777")->body);
  EXPECT_TRUE(none["items"].empty());
  EXPECT_TRUE(none["next_after"].is_null());
  json from0 = json::parse(client_->Get("/orders?after=0&limit=100")->body);
  EXPECT_EQ(from0["items"].size(), 5u);
}

TEST_F(OrdersHttpTest, ListDefaultLimitIs20) {
  int64_t user = CreateUser("a@x.io");
  for (int i = 0; i < 21; ++i) PlaceOrder(user, Items(1));
  json page = json::parse(client_->Get("/orders")->body);
  EXPECT_EQ(page["items"].size(), 20u);
  EXPECT_EQ(page["next_after"], 20);
}

TEST_F(OrdersHttpTest, ListBadParametersAre422) {
  EXPECT_EQ(ProblemFields(ExpectProblem(client_->Get("/orders?limit=0"), 422)),
            std::vector<std::string>{"limit"});
  EXPECT_EQ(ProblemFields(ExpectProblem(client_->Get("/orders?limit=101"), 422)),
            std::vector<std::string>{"limit"});
  EXPECT_EQ(ProblemFields(ExpectProblem(client_->Get("/orders?limit=abc"), 422)),
            std::vector<std::string>{"limit"});
  EXPECT_EQ(ProblemFields(ExpectProblem(client_->Get("/orders?after=-3"), 422)),
            std::vector<std::string>{"after"});
  EXPECT_EQ(ProblemFields(ExpectProblem(client_->Get("/orders?user_id=0"), 422)),
            std::vector<std::string>{"user_id"});
  EXPECT_EQ(ProblemFields(ExpectProblem(client_->Get("/orders?user_id=abc"), 422)),
            std::vector<std::string>{"user_id"});
  EXPECT_EQ(ProblemFields(ExpectProblem(client_->Get("/orders?user_id=&limit=-1&after=x"), 422)),
            (std::vector<std::string>{"user_id", "limit", "after"}));
}

TEST_F(OrdersHttpTest, CancelThenCancelAgainThen404) {
  json o = PlaceOrder(CreateUser("a@x.io"), Items(2));
  std::string cancel = PathOf(o) + "/cancel";
  auto r = client_->Post(cancel.c_str(), "", "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json c = json::parse(r->body);
  EXPECT_EQ(c["status"], "cancelled");
  EXPECT_EQ(c["id"], o["id"]);
  EXPECT_EQ(c["items"], o["items"]);
  EXPECT_EQ(c["created_at"], o["created_at"]);
  EXPECT_EQ(json::parse(client_->Get(PathOf(o).c_str())->body), c);

  auto again = client_->Post(cancel.c_str(), "", "application/json");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
  EXPECT_EQ(json::parse(again->body), c);  // unchanged, updated_at included

  ExpectProblem(client_->Post("/orders/999999/cancel", "", "application/json"), 404);
  ExpectProblem(client_->Post("/orders/abc/cancel", "", "application/json"), 404);
  ExpectProblem(client_->Post("/orders/0/cancel", "", "application/json"), 404);
}

TEST_F(OrdersHttpTest, UnsupportedMethodsAre405WithAllow) {
  auto put = client_->Put("/orders/1", "{}", "application/json");
  ExpectProblem(put, 405);
  EXPECT_EQ(put->get_header_value("Allow"), "GET, HEAD");
  auto get_cancel = client_->Get("/orders/1/cancel");
  ExpectProblem(get_cancel, 405);
  EXPECT_EQ(get_cancel->get_header_value("Allow"), "POST");
  auto del = client_->Delete("/orders");
  ExpectProblem(del, 405);
  EXPECT_EQ(del->get_header_value("Allow"), "POST, GET, HEAD");
}

}  // namespace
}  // namespace orders
