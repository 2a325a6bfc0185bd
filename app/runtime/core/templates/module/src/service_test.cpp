// The @module@ service as plain C++: rules, storage and paging, on a real
// SQLite file, without HTTP. (The build's contract test covers the routes,
// the codec and the remote client.)
#include "service.h"

#include <gtest/gtest.h>

#include "mitos/storage/sqlite.h"
#include "mitos_testing/instance.h"
#include "rules.h"

namespace @module@ {
namespace {

class @Module@ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = mitos::storage::OpenSqlite(
        (dir_.path() / "@module@.db").string(), mitos::sqlite::Options{},
        @Module@Service::Migrations());
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    service_ = std::make_unique<@Module@Service>(
        std::move(*db), [] { return std::string("2026-12-01T00:00:00.000Z"); });
  }
  mitos::StatusOr<Item> Create(std::string name) {
    NewItem item{std::move(name)};
    return mitos::Wait(service_->Create(item));
  }
  mitos::testing::TempDir dir_;
  std::unique_ptr<@Module@Service> service_;
};

TEST_F(@Module@ServiceTest, CreatesAndGetsAnItem) {
  auto item = Create("  first  ");
  ASSERT_TRUE(item.ok()) << item.status().ToString();
  EXPECT_EQ(item->id, 1);
  EXPECT_EQ(item->name, "first");  // trimmed
  auto got = mitos::Wait(service_->Get(item->id));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->name, "first");
  EXPECT_EQ(got->created_at, "2026-12-01T00:00:00.000Z");
}

TEST_F(@Module@ServiceTest, RefusesABadName) {
  auto item = Create("   ");
  ASSERT_EQ(item.status().code(), mitos::StatusCode::kInvalidArgument);
  ASSERT_EQ(item.status().field_errors().size(), 1u);
  EXPECT_EQ(item.status().field_errors()[0].field, "name");
}

TEST_F(@Module@ServiceTest, ANameIsUnique) {
  ASSERT_TRUE(Create("a").ok());
  auto dup = Create("a");
  EXPECT_EQ(dup.status().code(), mitos::StatusCode::kAlreadyExists);
  ASSERT_EQ(dup.status().field_errors().size(), 1u);
  EXPECT_EQ(dup.status().field_errors()[0].field, "name");
  auto next = Create("b");
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->id, 2);
}

TEST_F(@Module@ServiceTest, UnknownIdsAreNotFound) {
  EXPECT_EQ(mitos::Wait(service_->Get(42)).status().code(),
            mitos::StatusCode::kNotFound);
  EXPECT_EQ(mitos::Wait(service_->Get(0)).status().code(),
            mitos::StatusCode::kNotFound);
}

TEST_F(@Module@ServiceTest, ListsInPagesById) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Create("n" + std::to_string(i)).ok());
  mitos::PageRequest first{2, 0};
  auto page = mitos::Wait(service_->List(first));
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(page->items[0].id, 1);
  ASSERT_TRUE(page->next_after.has_value());
  EXPECT_EQ(*page->next_after, 2);
  mitos::PageRequest last{10, 4};
  auto rest = mitos::Wait(service_->List(last));
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->items.size(), 1u);
  EXPECT_FALSE(rest->next_after.has_value());
  mitos::PageRequest bad{0, -1};
  EXPECT_EQ(mitos::Wait(service_->List(bad)).status().code(),
            mitos::StatusCode::kInvalidArgument);
}

TEST(@Module@RulesTest, AcceptAndRefuse) {
  EXPECT_EQ(CheckName(" x "), "");
  EXPECT_NE(CheckName(""), "");
  EXPECT_NE(CheckName(std::string(kMaxNameLength + 1, 'a')), "");
  EXPECT_NE(CheckName("a\x01"), "");
}

}  // namespace
}  // namespace @module@
