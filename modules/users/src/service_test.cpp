// The users service as plain C++: validation rules and behaviour on a real
// SQLite file, without HTTP.
#include "service.h"

#include <gtest/gtest.h>

#include <future>

#include "mitos_testing/instance.h"

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
    auto db = mitos::sqlite::Database::Open(
        (dir_.path() / "users.db").string(), {}, UserStore::Migrations());
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    service_ = std::make_unique<UsersService>(
        std::make_unique<UserStore>(std::move(*db)),
        [this] { return "2026-01-01T00:00:0" + std::to_string(tick_++) + ".000Z"; });
  }
  mitos::testing::TempDir dir_;
  int tick_ = 0;
  std::unique_ptr<UsersService> service_;
};

TEST_F(UsersServiceTest, CreateTrimsNameAndKeepsEmailAsGiven) {
  auto u = service_->Create({"  Ada Lovelace \t", "Ada@Example.com"});
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->id, 1);
  EXPECT_EQ(u->name, "Ada Lovelace");
  EXPECT_EQ(u->email, "Ada@Example.com");
  EXPECT_EQ(u->created_at, "2026-01-01T00:00:00.000Z");
  EXPECT_EQ(u->updated_at, u->created_at);
  auto got = service_->Get(1);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->name, "Ada Lovelace");
}

TEST_F(UsersServiceTest, CreateReportsEveryInvalidField) {
  auto u = service_->Create({"   ", "nope"});
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.status().code(), mitos::StatusCode::kInvalidArgument);
  ASSERT_EQ(u.status().field_errors().size(), 2u);
  EXPECT_EQ(u.status().field_errors()[0].field, "name");
  EXPECT_EQ(u.status().field_errors()[1].field, "email");
}

TEST_F(UsersServiceTest, EmailIsUniqueIgnoringCase) {
  ASSERT_TRUE(service_->Create({"A", "a@example.com"}).ok());
  auto dup = service_->Create({"B", "A@EXAMPLE.COM"});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().code(), mitos::StatusCode::kAlreadyExists);
  EXPECT_EQ(dup.status().field_errors().at(0).field, "email");
}

// The asynchronous forms give the synchronous results, through `done`.
template <typename T>
T Await(const std::function<void(std::function<void(T)>)>& start) {
  std::promise<T> p;
  start([&p](T v) { p.set_value(std::move(v)); });
  return p.get_future().get();
}

TEST_F(UsersServiceTest, AsyncWritesGiveTheSameResults) {
  using R = mitos::StatusOr<User>;
  auto created = Await<R>([&](auto done) { service_->CreateAsync({" Ada ", "ada@x.io"}, done); });
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->name, "Ada");
  auto dup = Await<R>([&](auto done) { service_->CreateAsync({"B", "ADA@x.io"}, done); });
  EXPECT_EQ(dup.status().code(), mitos::StatusCode::kAlreadyExists);
  auto invalid = Await<R>([&](auto done) { service_->CreateAsync({"", "nope"}, done); });
  EXPECT_EQ(invalid.status().field_errors().size(), 2u);

  UserPatch rename;
  rename.name = "  Ada L. ";
  auto updated = Await<R>([&](auto done) { service_->UpdateAsync(created->id, rename, done); });
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ(updated->name, "Ada L.");
  EXPECT_EQ(service_->Get(created->id)->name, "Ada L.");
  auto missing = Await<R>([&](auto done) { service_->UpdateAsync(99, rename, done); });
  EXPECT_EQ(missing.status().code(), mitos::StatusCode::kNotFound);

  using S = mitos::Status;
  EXPECT_TRUE(Await<S>([&](auto done) { service_->RemoveAsync(created->id, done); }).ok());
  EXPECT_EQ(Await<S>([&](auto done) { service_->RemoveAsync(created->id, done); }).code(),
            mitos::StatusCode::kNotFound);
  EXPECT_EQ(service_->Get(created->id).status().code(), mitos::StatusCode::kNotFound);
}

TEST_F(UsersServiceTest, GetMissingIsNotFound) {
  EXPECT_EQ(service_->Get(99).status().code(), mitos::StatusCode::kNotFound);
  EXPECT_EQ(service_->Get(0).status().code(), mitos::StatusCode::kNotFound);
}

TEST_F(UsersServiceTest, ListPagesInIdOrder) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(service_->Create({"U" + std::to_string(i),
                                  "u" + std::to_string(i) + "@x.io"}).ok());
  }
  auto p1 = service_->List(2, 0);
  ASSERT_TRUE(p1.ok());
  ASSERT_EQ(p1->items.size(), 2u);
  EXPECT_EQ(p1->items[0].id, 1);
  EXPECT_EQ(p1->next_after, 2);
  auto p3 = service_->List(2, 4);
  ASSERT_TRUE(p3.ok());
  ASSERT_EQ(p3->items.size(), 1u);
  EXPECT_EQ(p3->items[0].id, 5);
  EXPECT_FALSE(p3->next_after.has_value());
  auto exact = service_->List(5, 0);
  EXPECT_FALSE(exact->next_after.has_value());
  EXPECT_EQ(service_->List(0, 0).status().code(),
            mitos::StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->List(101, 0).status().code(),
            mitos::StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->List(10, -1).status().code(),
            mitos::StatusCode::kInvalidArgument);
}

TEST_F(UsersServiceTest, UpdateChangesOnlyGivenFields) {
  auto u = service_->Create({"Ada", "ada@x.io"});
  ASSERT_TRUE(u.ok());
  UserPatch p;
  p.name = " Grace ";
  auto v = service_->Update(u->id, p);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->name, "Grace");
  EXPECT_EQ(v->email, "ada@x.io");
  EXPECT_EQ(v->created_at, u->created_at);
  EXPECT_NE(v->updated_at, u->updated_at);
}

TEST_F(UsersServiceTest, UpdateErrors) {
  auto a = service_->Create({"A", "a@x.io"});
  auto b = service_->Create({"B", "b@x.io"});
  ASSERT_TRUE(a.ok() && b.ok());
  UserPatch taken;
  taken.email = "B@X.IO";
  EXPECT_EQ(service_->Update(a->id, taken).status().code(),
            mitos::StatusCode::kAlreadyExists);
  UserPatch own_case;
  own_case.email = "A@X.IO";  // changing the case of one's own email is fine
  EXPECT_TRUE(service_->Update(a->id, own_case).ok());
  UserPatch bad;
  bad.email = "broken";
  EXPECT_EQ(service_->Update(a->id, bad).status().code(),
            mitos::StatusCode::kInvalidArgument);
  UserPatch fine;
  fine.name = "Z";
  EXPECT_EQ(service_->Update(999, fine).status().code(),
            mitos::StatusCode::kNotFound);
}

TEST_F(UsersServiceTest, RemoveDeletesAndIdsAreNotReused) {
  auto a = service_->Create({"A", "a@x.io"});
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(service_->Remove(a->id).ok());
  EXPECT_EQ(service_->Remove(a->id).code(), mitos::StatusCode::kNotFound);
  EXPECT_EQ(service_->Get(a->id).status().code(), mitos::StatusCode::kNotFound);
  auto b = service_->Create({"A", "a@x.io"});  // email is free again
  ASSERT_TRUE(b.ok());
  EXPECT_GT(b->id, a->id);
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
  EXPECT_EQ(nlohmann::json::parse(fast), ToJson(u));
}

}  // namespace
}  // namespace users
