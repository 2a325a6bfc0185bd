// The users service as plain C++: validation rules and behaviour on a real
// SQLite file, without HTTP.
#include "service.h"

#include <gtest/gtest.h>

#include "mitos/storage/sqlite.h"
#include "mitos_testing/instance.h"
#include "mitos_testing/as_caller.h"
#include "rules.h"
#include "users/contract.h"
#include "users/events.h"

namespace users {
namespace {

TEST(CheckEmail, AcceptsPlausibleAddresses) {
  for (const char* ok : {"a@b.co", "first.last+tag@example.com",
                         "UPPER@Example.ORG", "x_y-z@sub.domain.io",
                         "üñî@例え.jp"}) {
    EXPECT_EQ(CheckEmail(ok), "") << ok;
  }
}

TEST(CheckEmail, RejectsImplausibleAddresses) {
  for (const char* bad : {"", "plain", "@example.com", "a@", "a@b", "a@@b.co",
                          "a@b@c.co", "a b@c.co", ".a@b.co", "a.@b.co",
                          "a..b@c.co", "a@-b.co", "a@b-.co", "a@b..co",
                          "a@b.co.", "a\"b@c.co", "a@b_c.co", "a\t@b.co"}) {
    EXPECT_NE(CheckEmail(bad), "") << bad;
  }
}

TEST(CheckEmail, EnforcesLengthLimits) {
  std::string local64(64, 'a');
  EXPECT_EQ(CheckEmail(local64 + "@b.co"), "");
  EXPECT_NE(CheckEmail(local64 + "a@b.co"), "");
  std::string domain = std::string(63, 'd') + "." + std::string(63, 'd') +
                       "." + std::string(63, 'd') + ".com";  // 195
  std::string at254 = std::string(58, 'l') + "@" + domain;
  ASSERT_EQ(at254.size(), 254u);
  EXPECT_EQ(CheckEmail(at254), "");
  EXPECT_NE(CheckEmail("l" + at254), "");
}

TEST(CheckName, LengthIsCountedInCharacters) {
  EXPECT_EQ(CheckName("A"), "");
  EXPECT_EQ(CheckName(std::string(100, 'a')), "");
  EXPECT_NE(CheckName(std::string(101, 'a')), "");
  EXPECT_NE(CheckName(""), "");
  std::string hundred_e_acute;
  for (int i = 0; i < 100; ++i) hundred_e_acute += "é";  // 200 bytes
  EXPECT_EQ(CheckName(hundred_e_acute), "");
  EXPECT_NE(CheckName("tab\there"), "");
}

class UsersServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = mitos::storage::OpenSqlite(
        (dir_.path() / "users.db").string(), {}, UserStore::Migrations());
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = db->get();
    service_ = std::make_unique<UsersService>(
        std::make_unique<UserStore>(std::move(*db)),
        [this] { return "2026-01-01T00:00:0" + std::to_string(tick_++) + ".000Z"; },
        [this] { ++notified_; });
  }
  // The operations, run to completion on the test's thread.
  mitos::StatusOr<User> Create(NewUser u) { return mitos::Wait(service_->Create(std::move(u))); }
  mitos::StatusOr<User> Get(int64_t id) { return mitos::Wait(service_->Get(id)); }
  mitos::StatusOr<mitos::Page<User>> List(int limit, int64_t after) {
    return mitos::Wait(service_->List(mitos::PageRequest{limit, after}));
  }
  mitos::StatusOr<User> Update(int64_t id, UserPatch p) {
    return mitos::Wait(service_->Update(id, std::move(p)));
  }
  mitos::Status Remove(int64_t id) { return mitos::Wait(service_->Remove(id)); }

  // The outbox's rows: type, key, payload.
  std::vector<std::vector<std::string>> Outbox() {
    using Rows = std::vector<std::vector<std::string>>;
    auto read = [](mitos::storage::Tx& tx) -> mitos::StatusOr<Rows> {
      return tx.All<std::vector<std::string>>(
          "SELECT type, key, payload FROM mitos_outbox ORDER BY seq", {},
          [](const mitos::storage::Row& r) {
            return std::vector<std::string>{r.String(0), r.String(1), r.String(2)};
          });
    };
    auto rows = mitos::Wait(mitos::storage::Read<mitos::StatusOr<Rows>>(*db_, read));
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    return rows.ok() ? *rows : Rows{};
  }

  mitos::testing::TempDir dir_;
  int tick_ = 0;
  int notified_ = 0;
  mitos::storage::Database* db_ = nullptr;
  std::unique_ptr<UsersService> service_;
};

TEST_F(UsersServiceTest, CreateTrimsNameAndKeepsEmailAsGiven) {
  auto u = Create({"  Ada Lovelace \t", "Ada@Example.com"});
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->id, 1);
  EXPECT_EQ(u->name, "Ada Lovelace");
  EXPECT_EQ(u->email, "Ada@Example.com");
  EXPECT_EQ(u->created_at, "2026-01-01T00:00:00.000Z");
  EXPECT_EQ(u->updated_at, u->created_at);
  auto got = Get(1);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->name, "Ada Lovelace");
}

TEST_F(UsersServiceTest, CreateReportsEveryInvalidField) {
  auto u = Create({"   ", "nope"});
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.status().code(), mitos::StatusCode::kInvalidArgument);
  ASSERT_EQ(u.status().field_errors().size(), 2u);
  EXPECT_EQ(u.status().field_errors()[0].field, "name");
  EXPECT_EQ(u.status().field_errors()[1].field, "email");
}

TEST_F(UsersServiceTest, EmailIsUniqueIgnoringCase) {
  ASSERT_TRUE(Create({"A", "a@example.com"}).ok());
  auto dup = Create({"B", "A@EXAMPLE.COM"});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().code(), mitos::StatusCode::kAlreadyExists);
  EXPECT_EQ(dup.status().field_errors().at(0).field, "email");
}

TEST_F(UsersServiceTest, GetMissingIsNotFound) {
  EXPECT_EQ(Get(99).status().code(), mitos::StatusCode::kNotFound);
  EXPECT_EQ(Get(0).status().code(), mitos::StatusCode::kNotFound);
}

TEST_F(UsersServiceTest, ListPagesInIdOrder) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(Create({"U" + std::to_string(i),
                                  "u" + std::to_string(i) + "@x.io"}).ok());
  }
  auto p1 = List(2, 0);
  ASSERT_TRUE(p1.ok());
  ASSERT_EQ(p1->items.size(), 2u);
  EXPECT_EQ(p1->items[0].id, 1);
  EXPECT_EQ(p1->next_after, 2);
  auto p3 = List(2, 4);
  ASSERT_TRUE(p3.ok());
  ASSERT_EQ(p3->items.size(), 1u);
  EXPECT_EQ(p3->items[0].id, 5);
  EXPECT_FALSE(p3->next_after.has_value());
  auto exact = List(5, 0);
  EXPECT_FALSE(exact->next_after.has_value());
  EXPECT_EQ(List(0, 0).status().code(),
            mitos::StatusCode::kInvalidArgument);
  EXPECT_EQ(List(101, 0).status().code(),
            mitos::StatusCode::kInvalidArgument);
  EXPECT_EQ(List(10, -1).status().code(),
            mitos::StatusCode::kInvalidArgument);
}

TEST_F(UsersServiceTest, UpdateChangesOnlyGivenFields) {
  auto u = Create({"Ada", "ada@x.io"});
  ASSERT_TRUE(u.ok());
  UserPatch p;
  p.name = " Grace ";
  auto v = Update(u->id, p);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->name, "Grace");
  EXPECT_EQ(v->email, "ada@x.io");
  EXPECT_EQ(v->created_at, u->created_at);
  EXPECT_NE(v->updated_at, u->updated_at);
}

TEST_F(UsersServiceTest, UpdateErrors) {
  auto a = Create({"A", "a@x.io"});
  auto b = Create({"B", "b@x.io"});
  ASSERT_TRUE(a.ok() && b.ok());
  UserPatch taken;
  taken.email = "B@X.IO";
  EXPECT_EQ(Update(a->id, taken).status().code(),
            mitos::StatusCode::kAlreadyExists);
  UserPatch own_case;
  own_case.email = "A@X.IO";  // changing the case of one's own email is fine
  EXPECT_TRUE(Update(a->id, own_case).ok());
  UserPatch bad;
  bad.email = "broken";
  EXPECT_EQ(Update(a->id, bad).status().code(),
            mitos::StatusCode::kInvalidArgument);
  UserPatch fine;
  fine.name = "Z";
  EXPECT_EQ(Update(999, fine).status().code(),
            mitos::StatusCode::kNotFound);
}

TEST_F(UsersServiceTest, RemoveDeletesAndIdsAreNotReused) {
  auto a = Create({"A", "a@x.io"});
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(Remove(a->id).ok());
  EXPECT_EQ(Remove(a->id).code(), mitos::StatusCode::kNotFound);
  EXPECT_EQ(Get(a->id).status().code(), mitos::StatusCode::kNotFound);
  auto b = Create({"A", "a@x.io"});  // email is free again
  ASSERT_TRUE(b.ok());
  EXPECT_GT(b->id, a->id);
}

TEST_F(UsersServiceTest, RemovePublishesUserDeletedInItsTransactionOnly) {
  auto a = Create({"A", "a@x.io"});
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(Remove(a->id).ok());
  EXPECT_EQ(Remove(a->id).code(), mitos::StatusCode::kNotFound);
  EXPECT_EQ(Remove(12345).code(), mitos::StatusCode::kNotFound);
  auto rows = Outbox();
  ASSERT_EQ(rows.size(), 1u);  // nothing for the deletions that failed
  EXPECT_EQ(rows[0][0], "users.UserDeleted");
  EXPECT_EQ(rows[0][1], std::to_string(a->id));
  UserDeleted e;
  ASSERT_TRUE(events::Decode(rows[0][2], &e).ok());
  EXPECT_EQ(e.id, a->id);
  EXPECT_EQ(e.deleted_at.substr(0, 4), "2026");
  EXPECT_EQ(notified_, 1);
}

TEST(UserDeletedCodec, ReadsWhatItWritesAndNamesBadFields) {
  UserDeleted e{42, "2026-01-01T00:00:00.000Z"};
  std::string json;
  events::AppendJson(e, json);
  EXPECT_EQ(json, R"({"id":42,"deleted_at":"2026-01-01T00:00:00.000Z"})");
  UserDeleted back;
  ASSERT_TRUE(events::Decode(json, &back).ok());
  EXPECT_EQ(back.id, 42);
  EXPECT_EQ(back.deleted_at, e.deleted_at);
  auto bad = events::Decode(R"({"id":"x"})", &back);
  EXPECT_EQ(bad.code(), mitos::StatusCode::kInvalidArgument);
  EXPECT_EQ(events::Decode("[]", &back).code(), mitos::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace users

namespace users {
namespace {

TEST(WireForm, FastWriterAgreesWithJsonTree) {
  User u{42, "Zoë \"Q\" \\ O'Neil\t\x01", "z@x.io", "2026-01-01T00:00:00.000Z",
         "2026-01-02T00:00:00.000Z"};
  std::string fast;
  AppendJson(u, fast);
  nlohmann::json tree = {{"id", u.id},
                         {"name", u.name},
                         {"email", u.email},
                         {"created_at", u.created_at},
                         {"updated_at", u.updated_at}};
  EXPECT_EQ(nlohmann::json::parse(fast), tree);
  // A page writes its users as the tree writes them: keys sorted.
  std::string sorted;
  AppendSortedJson(u, sorted);
  EXPECT_EQ(sorted, tree.dump());
  EXPECT_EQ(fast.rfind("{\"id\":42,\"name\":", 0), 0u) << fast;
}


// Who may do what: the checks live here, so they hold in-process and
// behind any remote binding alike.
using mitos::testing::AsCaller;

TEST_F(UsersServiceTest, AUserSeesChangesAndDeletesOnlyItsOwnAccount) {
  auto ada = Create({"Ada", "ada@example.com"});
  auto bob = Create({"Bob", "bob@example.com"});
  ASSERT_TRUE(ada.ok() && bob.ok());
  AsCaller as(mitos::Caller::User(std::to_string(ada->id), {}));
  EXPECT_TRUE(Get(ada->id).ok());
  // Another's account answers exactly as a missing one.
  auto other = Get(bob->id);
  EXPECT_EQ(other.status().code(), mitos::StatusCode::kNotFound);
  EXPECT_EQ(other.status().message(), "User " + std::to_string(bob->id) + " does not exist.");
  UserPatch p;
  p.name = "Mallory";
  EXPECT_EQ(Update(bob->id, p).status().code(), mitos::StatusCode::kNotFound);
  EXPECT_EQ(Remove(bob->id).code(), mitos::StatusCode::kNotFound);
  auto page = List(100, 0);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(page->items[0].id, ada->id);
  EXPECT_TRUE(List(100, ada->id)->items.empty());
  EXPECT_TRUE(Remove(ada->id).ok());
}

TEST_F(UsersServiceTest, OnlyAnAdminCreatesAndSeesEveryone) {
  {
    AsCaller as(mitos::Caller::User("1", {"orders:admin"}));
    EXPECT_EQ(Create({"Eve", "eve@example.com"}).status().code(),
              mitos::StatusCode::kPermissionDenied);
  }
  AsCaller as(mitos::Caller::User("admin", {"users:admin"}));
  auto eve = Create({"Eve", "eve@example.com"});
  ASSERT_TRUE(eve.ok());
  EXPECT_TRUE(Get(eve->id).ok());
  EXPECT_EQ(List(100, 0)->items.size(), 1u);
}

TEST_F(UsersServiceTest, AnAnonymousCallerSeesNobody) {
  auto ada = Create({"Ada", "ada@example.com"});
  ASSERT_TRUE(ada.ok());
  AsCaller as(mitos::Caller::Anonymous());
  EXPECT_EQ(Get(ada->id).status().code(), mitos::StatusCode::kNotFound);
  EXPECT_TRUE(List(100, 0)->items.empty());
  EXPECT_EQ(Remove(ada->id).code(), mitos::StatusCode::kNotFound);
}

}  // namespace
}  // namespace users
