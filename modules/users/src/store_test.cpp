// The store on a real temporary SQLite file.
#include "store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "mitos/storage/sqlite.h"
#include "mitos_testing/instance.h"

namespace users {
namespace {

// Inserts on the test's thread, waiting for the commit.
mitos::StatusOr<User> Insert(UserStore& s, NewUser u, std::string now) {
  return mitos::Wait(s.Insert(std::move(u), std::move(now)));
}

class UserStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<UserStore> Open(int busy_timeout_ms = 5000) {
    mitos::sqlite::Options o;
    o.busy_timeout_ms = busy_timeout_ms;
    auto db = mitos::storage::OpenSqlite(path(), o, UserStore::Migrations());
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    return std::make_unique<UserStore>(std::move(*db));
  }
  std::string path() const { return (dir_.path() / "users.db").string(); }
  mitos::testing::TempDir dir_;
};

TEST_F(UserStoreTest, DataSurvivesReopening) {
  {
    auto s = Open();
    ASSERT_TRUE(Insert(*s, {"Ada", "ada@x.io"}, "t1").ok());
  }
  auto s = Open();
  auto u = mitos::Wait(s->Find(1));
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->email, "ada@x.io");
  EXPECT_EQ(u->created_at, "t1");
}

TEST_F(UserStoreTest, SchemaIsVersioned) {
  auto s = Open();
  SQLite::Database raw(path());
  EXPECT_EQ(raw.execAndGet("PRAGMA user_version").getInt(),
            UserStore::Migrations().back().version);
  EXPECT_EQ(raw.execAndGet("PRAGMA journal_mode").getString(), "wal");
}

TEST_F(UserStoreTest, UniqueEmailIgnoresCase) {
  auto s = Open();
  ASSERT_TRUE(Insert(*s, {"A", "Mixed@Case.io"}, "t").ok());
  auto dup = Insert(*s, {"B", "mixed@case.IO"}, "t");
  EXPECT_EQ(dup.status().code(), mitos::StatusCode::kAlreadyExists);
}

TEST_F(UserStoreTest, LockedFileIsUnavailableNotInternal) {
  auto s = Open(/*busy_timeout_ms=*/50);
  // Another process (here: another connection) holds the write lock.
  SQLite::Database other(path(), SQLite::OPEN_READWRITE);
  other.exec("BEGIN IMMEDIATE");
  auto r = Insert(*s, {"A", "a@x.io"}, "t");
  EXPECT_EQ(r.status().code(), mitos::StatusCode::kStorageUnavailable);
  other.exec("ROLLBACK");
  EXPECT_TRUE(Insert(*s, {"A", "a@x.io"}, "t").ok());
}

TEST_F(UserStoreTest, ReadsProceedWhileAWriteTransactionIsOpen) {
  auto s = Open();
  ASSERT_TRUE(Insert(*s, {"A", "a@x.io"}, "t").ok());
  SQLite::Database other(path(), SQLite::OPEN_READWRITE);
  other.exec("BEGIN IMMEDIATE");
  other.exec("UPDATE users SET name = 'changed'");
  auto u = mitos::Wait(s->Find(1));  // must not wait for the writer
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->name, "A");
  other.exec("COMMIT");
  EXPECT_EQ(mitos::Wait(s->Find(1))->name, "changed");
}

}  // namespace
}  // namespace users
