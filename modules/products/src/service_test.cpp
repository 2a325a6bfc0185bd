// The products service as plain C++: rules, storage and paging, on a real
// SQLite file, without HTTP.
#include "service.h"

#include <gtest/gtest.h>

#include "mitos/storage/sqlite.h"
#include "mitos_testing/instance.h"
#include "rules.h"

namespace products {
namespace {

class ProductsServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = mitos::storage::OpenSqlite(
        (dir_.path() / "products.db").string(), mitos::sqlite::Options{},
        ProductsService::Migrations());
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    service_ = std::make_unique<ProductsService>(
        std::move(*db), [] { return std::string("2026-12-01T00:00:00.000Z"); });
  }
  mitos::StatusOr<Product> Create(std::string sku, std::string name, int64_t price) {
    NewProduct p{std::move(sku), std::move(name), price};
    return mitos::Wait(service_->Create(p));
  }
  mitos::testing::TempDir dir_;
  std::unique_ptr<ProductsService> service_;
};

TEST_F(ProductsServiceTest, CreatesAndGetsAProduct) {
  auto p = Create("BOOK-1", "  A book  ", 1250);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->id, 1);
  EXPECT_EQ(p->name, "A book");  // trimmed
  auto got = mitos::Wait(service_->Get(p->id));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->sku, "BOOK-1");
  EXPECT_EQ(got->price_cents, 1250);
  EXPECT_EQ(got->created_at, "2026-12-01T00:00:00.000Z");
}

TEST_F(ProductsServiceTest, RefusesEveryBadFieldAtOnce) {
  auto p = Create("no spaces", "", -1);
  ASSERT_EQ(p.status().code(), mitos::StatusCode::kInvalidArgument);
  const auto& e = p.status().field_errors();
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].field, "sku");
  EXPECT_EQ(e[1].field, "name");
  EXPECT_EQ(e[2].field, "price_cents");
}

TEST_F(ProductsServiceTest, ASkuIsUnique) {
  ASSERT_TRUE(Create("A", "a", 1).ok());
  auto dup = Create("A", "b", 2);
  EXPECT_EQ(dup.status().code(), mitos::StatusCode::kAlreadyExists);
  ASSERT_EQ(dup.status().field_errors().size(), 1u);
  EXPECT_EQ(dup.status().field_errors()[0].field, "sku");
  auto next = Create("B", "b", 2);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->id, 2);
}

TEST_F(ProductsServiceTest, UnknownIdsAreNotFound) {
  EXPECT_EQ(mitos::Wait(service_->Get(42)).status().code(), mitos::StatusCode::kNotFound);
  EXPECT_EQ(mitos::Wait(service_->Get(0)).status().code(), mitos::StatusCode::kNotFound);
}

TEST_F(ProductsServiceTest, ListsInPagesById) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Create("S" + std::to_string(i), "n", i).ok());
  mitos::PageRequest first{2, 0};
  auto page = mitos::Wait(service_->List(first));
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(page->items[0].id, 1);
  ASSERT_TRUE(page->next_after.has_value());
  mitos::PageRequest last{10, 4};
  auto rest = mitos::Wait(service_->List(last));
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->items.size(), 1u);
  EXPECT_FALSE(rest->next_after.has_value());
  mitos::PageRequest bad{0, -1};
  EXPECT_EQ(mitos::Wait(service_->List(bad)).status().code(),
            mitos::StatusCode::kInvalidArgument);
}

TEST(ProductRulesTest, AcceptAndRefuse) {
  EXPECT_EQ(CheckSku("BOOK-1.a_b"), "");
  EXPECT_NE(CheckSku(""), "");
  EXPECT_NE(CheckSku(std::string(65, 'a')), "");
  EXPECT_EQ(CheckName(" x "), "");
  EXPECT_NE(CheckName("   "), "");
  EXPECT_NE(CheckName("a\x01"), "");
  EXPECT_EQ(CheckPrice(0), "");
  EXPECT_NE(CheckPrice(kMaxPriceCents + 1), "");
}

}  // namespace
}  // namespace products
