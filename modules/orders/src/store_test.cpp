// The store on a real temporary SQLite file.
#include "store.h"

#include <gtest/gtest.h>

#include "mitos/storage/sqlite.h"
#include "mitos_testing/instance.h"

namespace orders {
namespace {

// The writes, run on the test's thread, waiting for the commit.
mitos::StatusOr<Order> Insert(OrderStore& s, NewOrder o, int64_t total_cents,
                              std::string now) {
  return mitos::Wait(s.Insert(std::move(o), total_cents, std::move(now)));
}
mitos::StatusOr<Order> Cancel(OrderStore& s, int64_t id, std::string now) {
  return mitos::Wait(s.Cancel(id, std::move(now)));
}
mitos::PageRequest Paging(int limit, int64_t after) {
  return mitos::PageRequest{limit, after};
}

class OrderStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<OrderStore> Open(int busy_timeout_ms = 5000,
                                   int64_t max_page_count = 0) {
    mitos::sqlite::Options o;
    o.busy_timeout_ms = busy_timeout_ms;
    o.max_page_count = max_page_count;
    auto db = mitos::storage::OpenSqlite(path(), o, OrderStore::Migrations());
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    return std::make_unique<OrderStore>(std::move(*db));
  }
  std::string path() const { return (dir_.path() / "orders.db").string(); }
  mitos::testing::TempDir dir_;
};

// An order of `n` items whose skus are "<tag>-<i>", quantities i + 1.
NewOrder OrderOf(int64_t user_id, const std::string& tag, int n) {
  NewOrder o{user_id, {}};
  for (int i = 0; i < n; ++i) {
    o.items.push_back(Item{tag + "-" + std::to_string(i), i + 1, 100 * i});
  }
  return o;
}

void ExpectItems(const Order& o, const std::string& tag, int n) {
  ASSERT_EQ(o.items.size(), static_cast<size_t>(n)) << "order " << o.id;
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(o.items[i].sku, tag + "-" + std::to_string(i)) << "order " << o.id;
    EXPECT_EQ(o.items[i].quantity, i + 1);
    EXPECT_EQ(o.items[i].unit_price_cents, 100 * i);
  }
}

TEST_F(OrderStoreTest, ItemsRoundTripInTheOrderGiven) {
  auto s = Open();
  // Skus deliberately not in sorted order: the order given is what counts.
  NewOrder in{5, {{"zeta", 1, 10}, {"alpha", 2, 20}, {"mid", 3, 30},
                  {"Ünïcode 品", 4, 40}, {"alpha", 5, 50}}};
  auto placed = Insert(*s, in, 123, "t1");
  ASSERT_TRUE(placed.ok()) << placed.status().ToString();
  auto got = mitos::Wait(s->Find(placed->id));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->user_id, 5);
  EXPECT_EQ(got->total_cents, 123);
  EXPECT_EQ(got->status, "placed");
  EXPECT_EQ(got->created_at, "t1");
  ASSERT_EQ(got->items.size(), in.items.size());
  for (size_t i = 0; i < in.items.size(); ++i) {
    EXPECT_EQ(got->items[i].sku, in.items[i].sku);
    EXPECT_EQ(got->items[i].quantity, in.items[i].quantity);
    EXPECT_EQ(got->items[i].unit_price_cents, in.items[i].unit_price_cents);
  }
}

TEST_F(OrderStoreTest, DataSurvivesReopening) {
  int64_t id;
  {
    auto s = Open();
    auto o = Insert(*s, OrderOf(1, "a", 3), 300, "t1");
    ASSERT_TRUE(o.ok());
    id = o->id;
    ASSERT_TRUE(Cancel(*s, id, "t2").ok());
  }
  auto s = Open();
  auto o = mitos::Wait(s->Find(id));
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->status, "cancelled");
  EXPECT_EQ(o->created_at, "t1");
  EXPECT_EQ(o->updated_at, "t2");
  ExpectItems(*o, "a", 3);
  auto next = Insert(*s, OrderOf(1, "b", 1), 0, "t3");
  ASSERT_TRUE(next.ok());
  EXPECT_GT(next->id, id);
}

TEST_F(OrderStoreTest, PageLoadsTheItemsOfEachOrder) {
  auto s = Open();
  // Users 1 and 2 interleaved, with different item counts per order.
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(Insert(*s, OrderOf(1 + i % 2, "o" + std::to_string(i + 1), i + 1),
                          0, "t").ok());
  }
  auto all = mitos::Wait(s->List(std::nullopt, Paging(4, 0)));
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->items.size(), 4u);
  for (const auto& o : all->items) {
    ExpectItems(o, "o" + std::to_string(o.id), static_cast<int>(o.id));
  }
  EXPECT_EQ(all->next_after, 4);
  auto rest = mitos::Wait(s->List(std::nullopt, Paging(4, 4)));
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->items.size(), 2u);
  ExpectItems(rest->items[1], "o6", 6);
  EXPECT_FALSE(rest->next_after.has_value());

  auto user2 = mitos::Wait(s->List(2, Paging(10, 0)));  // orders 2, 4, 6
  ASSERT_TRUE(user2.ok());
  ASSERT_EQ(user2->items.size(), 3u);
  for (const auto& o : user2->items) {
    EXPECT_EQ(o.user_id, 2);
    EXPECT_EQ(o.id % 2, 0);
    ExpectItems(o, "o" + std::to_string(o.id), static_cast<int>(o.id));
  }
  EXPECT_TRUE(mitos::Wait(s->List(3, Paging(10, 0)))->items.empty());
}

TEST_F(OrderStoreTest, FindAndCancelOfMissingOrderAreNotFound) {
  auto s = Open();
  EXPECT_EQ(mitos::Wait(s->Find(1)).status().code(), mitos::StatusCode::kNotFound);
  EXPECT_EQ(Cancel(*s, 1, "t").status().code(), mitos::StatusCode::kNotFound);
}

TEST_F(OrderStoreTest, SchemaIsVersionedAndStatusIsChecked) {
  auto s = Open();
  SQLite::Database raw(path(), SQLite::OPEN_READWRITE);
  EXPECT_EQ(raw.execAndGet("PRAGMA user_version").getInt(),
            OrderStore::Migrations().back().version);
  EXPECT_EQ(raw.execAndGet("PRAGMA journal_mode").getString(), "wal");
  EXPECT_THROW(raw.exec("INSERT INTO orders (user_id, status, total_cents, "
                        "created_at, updated_at) VALUES (1, 'shipped', 0, "
                        "'t', 't')"),
               SQLite::Exception);
}

TEST_F(OrderStoreTest, AFullFileIsInsufficientStorageAndWritesNothing) {
  Open().reset();
  // The file may not grow: the order's row fits, its 200 items do not.
  auto s = Open(5000, /*max_page_count=*/1);
  NewOrder big{1, {}};
  for (int i = 0; i < 200; ++i) {
    big.items.push_back(Item{std::string(60, 'a') + std::to_string(i), 1, 1});
  }
  auto r = Insert(*s, big, 200, "t");
  EXPECT_EQ(r.status().code(), mitos::StatusCode::kInsufficientStorage);
  // Full stays full.
  EXPECT_EQ(Insert(*s, big, 200, "t").status().code(),
            mitos::StatusCode::kInsufficientStorage);
  // Neither an order without its items, nor items without their order.
  EXPECT_TRUE(mitos::Wait(s->List(std::nullopt, Paging(10, 0)))->items.empty());
  EXPECT_EQ(SQLite::Database(path()).execAndGet(
                "SELECT count(*) FROM order_items").getInt(), 0);
  // What fits is still written.
  EXPECT_TRUE(Insert(*s, OrderOf(1, "a", 2), 0, "t").ok());
}

TEST_F(OrderStoreTest, LockedFileIsUnavailableAndWritesNothing) {
  auto s = Open(/*busy_timeout_ms=*/50);
  SQLite::Database other(path(), SQLite::OPEN_READWRITE);
  other.exec("BEGIN IMMEDIATE");
  auto r = Insert(*s, OrderOf(1, "a", 2), 0, "t");
  EXPECT_EQ(r.status().code(), mitos::StatusCode::kStorageUnavailable);
  other.exec("ROLLBACK");
  EXPECT_TRUE(mitos::Wait(s->List(std::nullopt, Paging(10, 0)))->items.empty());
  EXPECT_TRUE(Insert(*s, OrderOf(1, "a", 2), 0, "t").ok());
  EXPECT_EQ(SQLite::Database(path()).execAndGet(
                "SELECT count(*) FROM order_items").getInt(), 2);
}

TEST_F(OrderStoreTest, ADeletedUsersPlacedOrdersAreCancelledAndNoneIsPlacedAfter) {
  auto store = Open();
  auto a1 = Insert(*store, OrderOf(1, "a", 1), 0, "t1");
  auto a2 = Insert(*store, OrderOf(1, "b", 1), 0, "t1");
  auto other = Insert(*store, OrderOf(2, "c", 1), 0, "t1");
  ASSERT_TRUE(a1.ok() && a2.ok() && other.ok());
  ASSERT_TRUE(Cancel(*store, a2->id, "t2").ok());
  auto cancel = [](mitos::storage::Tx& tx) -> mitos::StatusOr<int64_t> {
    return OrderStore::CancelOrdersOfDeletedUser(tx, 1, "t3");
  };
  auto cancelled = mitos::Wait(
      mitos::storage::Write<mitos::StatusOr<int64_t>>(*store->database(), cancel));
  ASSERT_TRUE(cancelled.ok()) << cancelled.status().ToString();
  EXPECT_EQ(*cancelled, 1);  // a2 was cancelled already
  auto find = [&](int64_t id) { return *mitos::Wait(store->Find(id)); };
  EXPECT_EQ(find(a1->id).status, kCancelled);
  EXPECT_EQ(find(a1->id).updated_at, "t3");
  EXPECT_EQ(find(a2->id).updated_at, "t2");
  EXPECT_EQ(find(other->id).status, kPlaced);
  // An order whose check of the user raced the deletion is refused.
  auto late = Insert(*store, OrderOf(1, "d", 1), 0, "t4");
  ASSERT_EQ(late.status().code(), mitos::StatusCode::kInvalidArgument);
  EXPECT_EQ(late.status().field_errors()[0].field, "user_id");
  EXPECT_TRUE(Insert(*store, OrderOf(2, "e", 1), 0, "t4").ok());
}

}  // namespace
}  // namespace orders
