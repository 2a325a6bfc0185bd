// One contract, two bindings: the same cases against the orders module in
// process and over HTTP. Both run with a real users module next to them.
#include "client.h"

#include <gtest/gtest.h>

#include "mitos_testing/instance.h"
#include "orders/module.h"
#include "users/module.h"

namespace orders {
namespace {

enum class Binding { kLocal, kRemote };

// An instance of users + orders; the "local" binding reaches OrdersApi
// through a tiny probe module that runs in the same instance, the "remote"
// one through OrdersClient over HTTP.
class OrdersContractTest : public ::testing::TestWithParam<Binding> {
 protected:
  void SetUp() override {
    std::vector<mitos::ModuleSpec> catalog = {users::Spec(), Spec(), Probe()};
    instance_ = std::make_unique<mitos::testing::TestInstance>(catalog);
    auto c = instance_->Client();
    auto u = c->Post("/users", R"({"name":"Ada","email":"ada@x.io"})",
                     "application/json");
    ASSERT_TRUE(u && u->status == 201);
    user_id_ = nlohmann::json::parse(u->body)["id"];
    if (GetParam() == Binding::kLocal) {
      api_ = *local_;
    } else {
      api_ = std::make_shared<OrdersClient>(mitos::remote::NewHttpChannel(
          "http://127.0.0.1:" + std::to_string(instance_->port())));
    }
  }

  // A module that needs orders and hands the test the binding it got.
  mitos::ModuleSpec Probe() {
    mitos::ModuleSpec s;
    s.name = "probe";
    s.needs = {"orders"};
    auto slot = local_;
    s.create = [slot](const mitos::config::Config&) {
      struct M : mitos::Module {
        std::shared_ptr<std::shared_ptr<OrdersApi>> slot;
        mitos::Status Start(mitos::ModuleContext& ctx) override {
          *slot = ctx.Get<OrdersApi>("orders");
          return mitos::Status::Ok();
        }
        void RegisterRoutes(mitos::http::Router&) override {}
        void Stop() override {}
      };
      auto m = std::make_unique<M>();
      m->slot = slot;
      return m;
    };
    return s;
  }

  std::shared_ptr<std::shared_ptr<OrdersApi>> local_ =
      std::make_shared<std::shared_ptr<OrdersApi>>();
  std::unique_ptr<mitos::testing::TestInstance> instance_;
  std::shared_ptr<OrdersApi> api_;
  int64_t user_id_ = 0;
};

TEST_P(OrdersContractTest, PlaceGetListCancel) {
  auto o = api_->Place({user_id_, {{"A", 2, 150}, {"B", 1, 99}}});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->total_cents, 399);
  EXPECT_EQ(o->status, "placed");
  ASSERT_EQ(o->items.size(), 2u);
  EXPECT_EQ(o->items[1].sku, "B");
  auto got = api_->Get(o->id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->created_at, o->created_at);
  auto page = api_->List(user_id_, 10, 0);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_FALSE(page->next_after.has_value());
  auto c = api_->Cancel(o->id);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->status, "cancelled");
  auto again = api_->Cancel(o->id);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->updated_at, c->updated_at);
}

TEST_P(OrdersContractTest, ErrorsAreTheSameStatuses) {
  auto no_user = api_->Place({user_id_ + 1000, {{"A", 1, 1}}});
  ASSERT_EQ(no_user.status().code(), mitos::StatusCode::kInvalidArgument);
  EXPECT_EQ(no_user.status().field_errors().at(0).field, "user_id");
  auto bad = api_->Place({user_id_, {{"", 0, -1}}});
  ASSERT_EQ(bad.status().code(), mitos::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().field_errors().size(), 3u);
  EXPECT_EQ(api_->Get(424242).status().code(), mitos::StatusCode::kNotFound);
  EXPECT_EQ(api_->Cancel(424242).status().code(), mitos::StatusCode::kNotFound);
  EXPECT_EQ(api_->List(std::nullopt, 0, 0).status().code(),
            mitos::StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Bindings, OrdersContractTest,
                         ::testing::Values(Binding::kLocal, Binding::kRemote),
                         [](const ::testing::TestParamInfo<Binding>& p) {
                           return p.param == Binding::kLocal ? "InProcess"
                                                             : "OverHttp";
                         });

}  // namespace
}  // namespace orders
