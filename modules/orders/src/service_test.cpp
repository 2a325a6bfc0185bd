// The orders service as plain C++: validation rules, the user check
// through users::UsersApi as the runtime binds it (the real users module on
// a temporary SQLite file, or its remote client at a users that is down,
// hangs or fails), and behaviour on a real SQLite file, without HTTP.
#include "service.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

#include "mitos/base/context.h"
#include "mitos_testing/faults.h"
#include "mitos/storage/sqlite.h"
#include "mitos_testing/instance.h"
#include "mitos_testing/as_caller.h"
#include "orders/contract.h"
#include "rules.h"
#include "users/module.h"

namespace orders {
namespace {

using mitos::StatusCode;
using Users = mitos::testing::BoundApi<users::UsersApi>;

Item AnItem(std::string sku = "SKU-1", int64_t quantity = 1,
            int64_t price = 100) {
  return Item{std::move(sku), quantity, price};
}

std::vector<std::string> Fields(const mitos::Status& s) {
  std::vector<std::string> out;
  for (const auto& e : s.field_errors()) out.push_back(e.field);
  return out;
}

std::vector<std::string> Fields(const std::vector<mitos::FieldError>& errors) {
  std::vector<std::string> out;
  for (const auto& e : errors) out.push_back(e.field);
  return out;
}

std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

// The real users module, in process, its database in `data_dir` (a
// temporary one when empty).
std::unique_ptr<Users> LocalUsers(const std::string& data_dir = "") {
  return std::make_unique<Users>(std::vector<mitos::ModuleSpec>{users::Spec()},
                                 "users",
                                 std::map<std::string, std::string>{}, data_dir);
}

// The users module's remote client, for a users module at `url`.
std::unique_ptr<Users> RemoteUsers(const std::string& url) {
  return std::make_unique<Users>(
      std::vector<mitos::ModuleSpec>{users::Spec()}, "users",
      std::map<std::string, std::string>{{"modules", "probe"},
                                         {"remotes.users.url", url}});
}

// UsersApi::Get calls made through `users`, as its instance counts them.
double GetCalls(Users& users, const char* binding) {
  return mitos::testing::MetricValue(
      users.instance(),
      std::string("mitos_module_calls_total{caller=\"probe\",callee=\"users\","
                  "method=\"Get\",binding=\"") + binding + "\"}");
}

TEST(ValidateNewOrder, AcceptsAValidOrder) {
  EXPECT_TRUE(ValidateNewOrder({1, {AnItem()}}).empty());
}

TEST(ValidateNewOrder, UserIdMustBePositive) {
  EXPECT_EQ(Fields(ValidateNewOrder({0, {AnItem()}})),
            std::vector<std::string>{"user_id"});
  EXPECT_EQ(Fields(ValidateNewOrder({-5, {AnItem()}})),
            std::vector<std::string>{"user_id"});
  EXPECT_TRUE(ValidateNewOrder({1, {AnItem()}}).empty());
}

TEST(ValidateNewOrder, ItemCountBoundaries) {
  auto order_of = [](int n) {
    return NewOrder{1, std::vector<Item>(static_cast<size_t>(n), AnItem())};
  };
  EXPECT_EQ(Fields(ValidateNewOrder(order_of(0))),
            std::vector<std::string>{"items"});
  EXPECT_TRUE(ValidateNewOrder(order_of(1)).empty());
  EXPECT_TRUE(ValidateNewOrder(order_of(50)).empty());
  EXPECT_EQ(Fields(ValidateNewOrder(order_of(51))),
            std::vector<std::string>{"items"});
}

TEST(ValidateNewOrder, QuantityBoundaries) {
  for (int64_t ok : {1, 2, 999, 1000}) {
    EXPECT_TRUE(ValidateNewOrder({1, {AnItem("A", ok)}}).empty()) << ok;
  }
  for (int64_t bad : {int64_t{0}, int64_t{-1}, int64_t{1001}, INT64_MAX}) {
    EXPECT_EQ(Fields(ValidateNewOrder({1, {AnItem("A", bad)}})),
              std::vector<std::string>{"items[0].quantity"})
        << bad;
  }
}

TEST(ValidateNewOrder, UnitPriceBoundaries) {
  for (int64_t ok : {int64_t{0}, int64_t{1}, int64_t{1'000'000'000}}) {
    EXPECT_TRUE(ValidateNewOrder({1, {AnItem("A", 1, ok)}}).empty()) << ok;
  }
  for (int64_t bad : {int64_t{-1}, int64_t{1'000'000'001}, INT64_MIN}) {
    EXPECT_EQ(Fields(ValidateNewOrder({1, {AnItem("A", 1, bad)}})),
              std::vector<std::string>{"items[0].unit_price_cents"})
        << bad;
  }
}

TEST(ValidateNewOrder, SkuLengthIsCountedInCodePoints) {
  EXPECT_EQ(CheckSku("A"), "");
  EXPECT_EQ(CheckSku(std::string(64, 'a')), "");
  EXPECT_NE(CheckSku(std::string(65, 'a')), "");
  EXPECT_NE(CheckSku(""), "");
  std::string e64 = Repeat("é", 64);  // 128 bytes, 64 code points
  EXPECT_EQ(CheckSku(e64), "");
  EXPECT_NE(CheckSku(e64 + "é"), "");
  std::string cjk64 = Repeat("品", 64);  // 3 bytes each
  EXPECT_EQ(CheckSku(cjk64), "");
  EXPECT_NE(CheckSku(cjk64 + "a"), "");
  std::string emoji64 = Repeat("\xF0\x9F\x93\xA6", 64);  // U+1F4E6, 4 bytes
  EXPECT_EQ(CheckSku(emoji64), "");
  EXPECT_NE(CheckSku(emoji64 + "x"), "");
}

TEST(ValidateNewOrder, SkuRejectsControlCharactersAndBadUtf8) {
  for (const std::string& bad :
       {std::string("tab\there"), std::string("nl\n"), std::string("nul\0x", 5),
        std::string("del\x7F"), std::string("c1\xC2\x85"),
        std::string("\xFF\xFE"), std::string("cut\xC3"),
        std::string("over\xC0\xAF"), std::string("surr\xED\xA0\x80")}) {
    EXPECT_NE(CheckSku(bad), "") << bad;
  }
  EXPECT_EQ(CheckSku("A-1 b_2/ü"), "");
  EXPECT_EQ(CheckSku("\xC2\xA0nbsp"), "");  // U+00A0 is not a control
}

TEST(ValidateNewOrder, ReportsEveryErrorWithJsonPaths) {
  NewOrder o{0, {AnItem(), AnItem("", 0, -1), AnItem(), AnItem("x\ty", 1001, 1'000'000'001)}};
  EXPECT_EQ(Fields(ValidateNewOrder(o)),
            (std::vector<std::string>{
                "user_id", "items[1].sku", "items[1].quantity",
                "items[1].unit_price_cents", "items[3].sku",
                "items[3].quantity", "items[3].unit_price_cents"}));
  // Too many items and bad items are reported together.
  NewOrder many{1, std::vector<Item>(51, AnItem())};
  many.items[50].sku = "";
  EXPECT_EQ(Fields(ValidateNewOrder(many)),
            (std::vector<std::string>{"items", "items[50].sku"}));
}

class OrdersServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    users_ = LocalUsers();
    Restart(users_->api());
    ada_ = AddUser("Ada", "ada@x.io");
    bob_ = AddUser("Bob", "bob@x.io");
  }

  // A new service on the same orders database, reaching users through
  // `users`.
  void Restart(std::shared_ptr<users::UsersApi> users) {
    service_.reset();
    auto db = mitos::storage::OpenSqlite(
        (dir_.path() / "orders.db").string(), {}, OrderStore::Migrations());
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    service_ = std::make_unique<OrdersService>(
        std::make_unique<OrderStore>(std::move(*db)), std::move(users),
        [this] { return "2026-01-01T00:00:0" + std::to_string(tick_++) + ".000Z"; });
  }

  int64_t AddUser(std::string name, std::string email) {
    auto u = mitos::Wait(users_->api()->Create(
        users::NewUser{std::move(name), std::move(email)}));
    EXPECT_TRUE(u.ok()) << u.status().ToString();
    return u.ok() ? u->id : 0;
  }

  // The operations, run to completion on the test's thread.
  mitos::StatusOr<Order> Place(NewOrder o) { return mitos::Wait(service_->Place(std::move(o))); }
  mitos::StatusOr<Order> Get(int64_t id) { return mitos::Wait(service_->Get(id)); }
  mitos::StatusOr<mitos::Page<Order>> List(std::optional<int64_t> user_id,
                                           int limit, int64_t after) {
    return mitos::Wait(service_->List(user_id, mitos::PageRequest{limit, after}));
  }
  mitos::StatusOr<Order> Cancel(int64_t id) { return mitos::Wait(service_->Cancel(id)); }

  // Number of orders stored, all users.
  size_t Count() {
    auto page = List(std::nullopt, kMaxPageSize, 0);
    EXPECT_TRUE(page.ok());
    return page.ok() ? page->items.size() : 0;
  }

  mitos::testing::TempDir dir_;
  int tick_ = 0;
  std::unique_ptr<Users> users_;
  std::unique_ptr<OrdersService> service_;
  int64_t ada_ = 0;
  int64_t bob_ = 0;
};

TEST_F(OrdersServiceTest, PlaceStoresTheOrderWithItsTotal) {
  auto o = Place(
      {ada_, {AnItem("A", 3, 250), AnItem("B", 1, 0), AnItem("C", 2, 1999)}});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->id, 1);
  EXPECT_EQ(o->user_id, ada_);
  EXPECT_EQ(o->total_cents, 3 * 250 + 0 + 2 * 1999);
  EXPECT_EQ(o->status, "placed");
  EXPECT_EQ(o->created_at, "2026-01-01T00:00:00.000Z");
  EXPECT_EQ(o->updated_at, o->created_at);
  ASSERT_EQ(o->items.size(), 3u);
  EXPECT_EQ(o->items[2].sku, "C");

  auto got = Get(o->id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->total_cents, o->total_cents);
  EXPECT_EQ(got->status, "placed");
  ASSERT_EQ(got->items.size(), 3u);
  EXPECT_EQ(got->items[0].sku, "A");
  EXPECT_EQ(got->items[0].quantity, 3);
  EXPECT_EQ(got->items[0].unit_price_cents, 250);
  EXPECT_EQ(got->items[2].unit_price_cents, 1999);
}

TEST_F(OrdersServiceTest, TotalAtTheLargestValuesDoesNotOverflow) {
  auto o = Place(
      {ada_, std::vector<Item>(50, AnItem("MAX", 1000, 1'000'000'000))});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->total_cents, int64_t{50} * 1000 * 1'000'000'000);
  EXPECT_EQ(Get(o->id)->total_cents, o->total_cents);
}

TEST_F(OrdersServiceTest, InvalidOrderIsRejectedBeforeAskingUsers) {
  const double before = GetCalls(*users_, "local");
  auto o = Place({-1, {AnItem("", 0, 5)}});
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Fields(o.status()),
            (std::vector<std::string>{"user_id", "items[0].sku",
                                      "items[0].quantity"}));
  EXPECT_EQ(GetCalls(*users_, "local"), before);
  EXPECT_EQ(Count(), 0u);
}

TEST_F(OrdersServiceTest, UnknownUserIsAUserIdFieldError) {
  const double before = GetCalls(*users_, "local");
  auto o = Place({999, {AnItem()}});
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().code(), StatusCode::kInvalidArgument);
  ASSERT_EQ(o.status().field_errors().size(), 1u);
  EXPECT_EQ(o.status().field_errors()[0].field, "user_id");
  EXPECT_EQ(o.status().field_errors()[0].message, "no user with this id");
  EXPECT_EQ(GetCalls(*users_, "local"), before + 1);
  EXPECT_EQ(Count(), 0u);
}

TEST_F(OrdersServiceTest, ARemovedUserIsAnUnknownUser) {
  ASSERT_TRUE(mitos::Wait(users_->api()->Remove(bob_)).ok());
  auto o = Place({bob_, {AnItem()}});
  EXPECT_EQ(o.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Fields(o.status()), std::vector<std::string>{"user_id"});
  EXPECT_EQ(Count(), 0u);
}

TEST_F(OrdersServiceTest, UsersUnavailableIsUnavailableAndWritesNothing) {
  auto down = RemoteUsers("http://127.0.0.1:" +
                          std::to_string(mitos::testing::ClosedPort()));
  Restart(down->api());
  const double before = GetCalls(*down, "remote");
  auto o = Place({ada_, {AnItem()}});
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(o.status().message(), "The users service is unavailable.");
  EXPECT_EQ(GetCalls(*down, "remote"), before + 1);
  EXPECT_EQ(Count(), 0u);
}

TEST_F(OrdersServiceTest, OtherUsersErrorsAreUnavailable) {
  // The users module itself fails: its storage is damaged, so reading a
  // user is StorageCorrupt, which no caller can act upon.
  mitos::testing::TempDir users_dir;
  {
    auto before = LocalUsers(users_dir.path().string());
    ASSERT_TRUE(mitos::Wait(before->api()->Create(
        users::NewUser{"Ada", "ada@x.io"})).ok());
  }
  ASSERT_EQ(mitos::testing::DamageDatabase(users_dir.path(), "users"), "");
  auto damaged = LocalUsers(users_dir.path().string());
  ASSERT_EQ(mitos::Wait(damaged->api()->Get(1)).status().code(),
            StatusCode::kStorageCorrupt);
  Restart(damaged->api());
  auto o = Place({1, {AnItem()}});
  EXPECT_EQ(o.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(o.status().message(), "The users service is unavailable.");
  EXPECT_EQ(Count(), 0u);
}

TEST_F(OrdersServiceTest, UsersDeadlineExceededIsDeadlineExceededAndWritesNothing) {
  mitos::testing::SilentServer hung;
  auto slow = RemoteUsers(hung.url());
  Restart(slow->api());
  mitos::RequestContext ctx;
  ctx.deadline = mitos::RequestContext::Clock::now() + std::chrono::milliseconds(300);
  {
    mitos::ContextScope scope(&ctx);
    auto o = Place({ada_, {AnItem()}});
    ASSERT_FALSE(o.ok());
    EXPECT_EQ(o.status().code(), StatusCode::kDeadlineExceeded);
    EXPECT_EQ(o.status().message(), "The deadline passed while checking the user.");
  }
  EXPECT_EQ(Count(), 0u);
  Restart(users_->api());
  EXPECT_TRUE(Place({ada_, {AnItem()}}).ok());
  EXPECT_EQ(Count(), 1u);
}

TEST_F(OrdersServiceTest, ExpiredDeadlineWritesNothing) {
  mitos::RequestContext ctx;
  ctx.deadline = mitos::RequestContext::Clock::now() - std::chrono::seconds(1);
  {
    mitos::ContextScope scope(&ctx);
    auto o = Place({ada_, {AnItem()}});
    ASSERT_FALSE(o.ok());
    EXPECT_EQ(o.status().code(), StatusCode::kDeadlineExceeded);
  }
  EXPECT_EQ(Count(), 0u);
  // A deadline in the future does not stop the write.
  ctx.deadline = mitos::RequestContext::Clock::now() + std::chrono::hours(1);
  {
    mitos::ContextScope scope(&ctx);
    EXPECT_TRUE(Place({ada_, {AnItem()}}).ok());
  }
  EXPECT_EQ(Count(), 1u);
}

TEST_F(OrdersServiceTest, GetMissingIsNotFound) {
  EXPECT_EQ(Get(99).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Get(0).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Get(-1).status().code(), StatusCode::kNotFound);
}

TEST_F(OrdersServiceTest, ListPagesByUserInIdOrder) {
  // ada: orders 1, 3, 5, 7; bob: 2, 4, 6.
  for (int i = 0; i < 7; ++i) {
    auto o = Place(
        {i % 2 == 0 ? ada_ : bob_, {AnItem("S" + std::to_string(i), i + 1)}});
    ASSERT_TRUE(o.ok()) << o.status().ToString();
  }
  auto p1 = List(ada_, 2, 0);
  ASSERT_TRUE(p1.ok());
  ASSERT_EQ(p1->items.size(), 2u);
  EXPECT_EQ(p1->items[0].id, 1);
  EXPECT_EQ(p1->items[1].id, 3);
  EXPECT_EQ(p1->items[1].items.at(0).sku, "S2");
  ASSERT_TRUE(p1->next_after.has_value());
  EXPECT_EQ(*p1->next_after, 3);
  auto p2 = List(ada_, 2, *p1->next_after);
  ASSERT_TRUE(p2.ok());
  ASSERT_EQ(p2->items.size(), 2u);
  EXPECT_EQ(p2->items[0].id, 5);
  EXPECT_EQ(p2->items[1].id, 7);
  EXPECT_FALSE(p2->next_after.has_value());
  for (const auto& o : p1->items) EXPECT_EQ(o.user_id, ada_);
  for (const auto& o : p2->items) EXPECT_EQ(o.user_id, ada_);

  auto bobs = List(bob_, 10, 0);
  ASSERT_TRUE(bobs.ok());
  ASSERT_EQ(bobs->items.size(), 3u);
  EXPECT_EQ(bobs->items[2].id, 6);
  EXPECT_EQ(bobs->items[2].items.at(0).quantity, 6);

  auto all = List(std::nullopt, 7, 0);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->items.size(), 7u);
  EXPECT_FALSE(all->next_after.has_value());
  EXPECT_TRUE(List(12345, 10, 0)->items.empty());
}

TEST_F(OrdersServiceTest, ListRejectsBadParameters) {
  auto bad = List(0, 0, -1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Fields(bad.status()),
            (std::vector<std::string>{"user_id", "limit", "after"}));
  EXPECT_EQ(List(std::nullopt, 101, 0).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(List(std::nullopt, 1, 0).ok());
  EXPECT_TRUE(List(std::nullopt, 100, 0).ok());
}

TEST_F(OrdersServiceTest, CancelStateMachine) {
  auto o = Place({ada_, {AnItem()}});
  ASSERT_TRUE(o.ok());
  auto c = Cancel(o->id);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->status, "cancelled");
  EXPECT_NE(c->updated_at, o->updated_at);
  EXPECT_EQ(c->created_at, o->created_at);
  EXPECT_EQ(c->items.size(), 1u);
  EXPECT_EQ(Get(o->id)->status, "cancelled");

  // Cancelling again is harmless and changes nothing.
  auto again = Cancel(o->id);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->status, "cancelled");
  EXPECT_EQ(again->updated_at, c->updated_at);
  EXPECT_EQ(Get(o->id)->updated_at, c->updated_at);

  EXPECT_EQ(Cancel(999).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Cancel(0).status().code(), StatusCode::kNotFound);
}

TEST(CancelActionFor, OnlyPlacedOrdersCanBeCancelled) {
  EXPECT_EQ(CancelActionFor("placed"), CancelAction::kCancel);
  EXPECT_EQ(CancelActionFor("cancelled"), CancelAction::kUnchanged);
  EXPECT_EQ(CancelActionFor("shipped"), CancelAction::kForbidden);
  EXPECT_EQ(CancelActionFor(""), CancelAction::kForbidden);
}

TEST(WireForm, AppendJsonIsValidJsonWithEveryField) {
  Order o{7, 3, {{"Zoë \"Q\"\t\\", 2, 150}, {"B", 1, 0}}, 300, "placed",
          "2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z"};
  std::string out;
  AppendJson(o, out);
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["id"], 7);
  EXPECT_EQ(j["user_id"], 3);
  ASSERT_EQ(j["items"].size(), 2u);
  EXPECT_EQ(j["items"][0]["sku"], "Zoë \"Q\"\t\\");
  EXPECT_EQ(j["items"][0]["quantity"], 2);
  EXPECT_EQ(j["items"][0]["unit_price_cents"], 150);
  EXPECT_EQ(j["total_cents"], 300);
  EXPECT_EQ(j["status"], "placed");
  EXPECT_EQ(j["updated_at"], "2026-01-02T00:00:00.000Z");
}


using mitos::testing::AsCaller;

TEST_F(OrdersServiceTest, OrdersBelongToTheirUser) {
  auto bobs = Place({bob_, {AnItem("A", 1, 100)}});
  ASSERT_TRUE(bobs.ok());
  AsCaller as(mitos::Caller::User(std::to_string(ada_), {}));
  // Placing for Bob answers as if Bob did not exist.
  auto forged = Place({bob_, {AnItem("A", 1, 100)}});
  ASSERT_EQ(forged.status().code(), mitos::StatusCode::kInvalidArgument);
  ASSERT_EQ(forged.status().field_errors().size(), 1u);
  EXPECT_EQ(forged.status().field_errors()[0].field, "user_id");
  auto own = Place({ada_, {AnItem("A", 1, 100)}});
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  // Bob's order is missing to Ada, for reading and for cancelling.
  EXPECT_EQ(Get(bobs->id).status().code(), mitos::StatusCode::kNotFound);
  EXPECT_EQ(Cancel(bobs->id).status().code(), mitos::StatusCode::kNotFound);
  // Her lists hold hers only.
  auto mine = List(std::nullopt, 100, 0);
  ASSERT_TRUE(mine.ok());
  ASSERT_EQ(mine->items.size(), 1u);
  EXPECT_EQ(mine->items[0].id, own->id);
  EXPECT_TRUE(List(bob_, 100, 0)->items.empty());
  EXPECT_TRUE(Cancel(own->id).ok());
}

TEST_F(OrdersServiceTest, AnOrdersAdminSeesAndCancelsAnyOrder) {
  auto bobs = Place({bob_, {AnItem("A", 1, 100)}});
  ASSERT_TRUE(bobs.ok());
  AsCaller as(mitos::Caller::User("ops", {"orders:admin"}));
  EXPECT_TRUE(Get(bobs->id).ok());
  EXPECT_EQ(List(bob_, 100, 0)->items.size(), 1u);
  EXPECT_TRUE(Cancel(bobs->id).ok());
}

TEST_F(OrdersServiceTest, AnAnonymousCallerSeesNoOrder) {
  auto bobs = Place({bob_, {AnItem("A", 1, 100)}});
  ASSERT_TRUE(bobs.ok());
  AsCaller as(mitos::Caller::Anonymous());
  EXPECT_EQ(Get(bobs->id).status().code(), mitos::StatusCode::kNotFound);
  EXPECT_TRUE(List(std::nullopt, 100, 0)->items.empty());
  EXPECT_EQ(Place({bob_, {AnItem("A", 1, 100)}}).status().code(),
            mitos::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace orders
