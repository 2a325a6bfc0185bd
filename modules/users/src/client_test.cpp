// One contract, two bindings: the same cases run against the in-process
// service and against the HTTP client talking to a real users instance.
// A caller must not be able to tell them apart.
#include "client.h"

#include <gtest/gtest.h>

#include "mitos/observability/log.h"
#include "mitos_testing/instance.h"
#include "service.h"
#include "users/module.h"

namespace users {
namespace {

enum class Binding { kLocal, kRemote };

class UsersContractTest : public ::testing::TestWithParam<Binding> {
 protected:
  void SetUp() override {
    if (GetParam() == Binding::kLocal) {
      auto db = mitos::sqlite::Database::Open(
          (dir_.path() / "users.db").string(), {}, UserStore::Migrations());
      ASSERT_TRUE(db.ok());
      api_ = std::make_shared<UsersService>(
          std::make_unique<UserStore>(std::move(*db)), mitos::log::NowRfc3339);
    } else {
      instance_ = std::make_unique<mitos::testing::TestInstance>(
          std::vector<mitos::ModuleSpec>{Spec()});
      api_ = std::make_shared<UsersClient>(mitos::remote::NewHttpChannel(
          "http://127.0.0.1:" + std::to_string(instance_->port())));
    }
  }
  mitos::testing::TempDir dir_;
  std::unique_ptr<mitos::testing::TestInstance> instance_;
  std::shared_ptr<UsersApi> api_;
};

TEST_P(UsersContractTest, CreateGetUpdateRemove) {
  auto u = api_->Create({" Ada ", "ada@x.io"});
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->name, "Ada");
  auto got = api_->Get(u->id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->email, "ada@x.io");
  EXPECT_EQ(got->created_at, u->created_at);
  UserPatch p;
  p.email = "ada@y.io";
  auto v = api_->Update(u->id, p);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->email, "ada@y.io");
  EXPECT_TRUE(api_->Remove(u->id).ok());
  EXPECT_EQ(api_->Get(u->id).status().code(), mitos::StatusCode::kNotFound);
  EXPECT_EQ(api_->Remove(u->id).code(), mitos::StatusCode::kNotFound);
}

TEST_P(UsersContractTest, ErrorsAreTheSameStatuses) {
  auto bad = api_->Create({"", "nope"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), mitos::StatusCode::kInvalidArgument);
  ASSERT_EQ(bad.status().field_errors().size(), 2u);
  EXPECT_EQ(bad.status().field_errors()[0].field, "name");
  EXPECT_EQ(bad.status().field_errors()[1].field, "email");
  ASSERT_TRUE(api_->Create({"A", "a@x.io"}).ok());
  auto dup = api_->Create({"B", "A@X.IO"});
  EXPECT_EQ(dup.status().code(), mitos::StatusCode::kAlreadyExists);
  EXPECT_EQ(dup.status().field_errors().at(0).field, "email");
  EXPECT_EQ(api_->Get(999).status().code(), mitos::StatusCode::kNotFound);
  EXPECT_EQ(api_->Get(0).status().code(), mitos::StatusCode::kNotFound);
  EXPECT_EQ(api_->List(0, 0).status().code(), mitos::StatusCode::kInvalidArgument);
  UserPatch p;
  p.name = "Z";
  EXPECT_EQ(api_->Update(999, p).status().code(), mitos::StatusCode::kNotFound);
}

TEST_P(UsersContractTest, ListPages) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(api_->Create({"U", "u" + std::to_string(i) + "@x.io"}).ok());
  }
  auto p = api_->List(2, 0);
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->items.size(), 2u);
  EXPECT_EQ(p->next_after, p->items[1].id);
  auto q = api_->List(2, *p->next_after);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->items.size(), 1u);
  EXPECT_FALSE(q->next_after.has_value());
}

TEST(UsersClient, AnUnreachableServiceIsUnavailable) {
  UsersClient c(mitos::remote::NewHttpChannel("http://127.0.0.1:9"));
  EXPECT_EQ(c.Get(1).status().code(), mitos::StatusCode::kUnavailable);
  EXPECT_EQ(c.Create({"A", "a@x.io"}).status().code(),
            mitos::StatusCode::kUnavailable);
}

INSTANTIATE_TEST_SUITE_P(Bindings, UsersContractTest,
                         ::testing::Values(Binding::kLocal, Binding::kRemote),
                         [](const ::testing::TestParamInfo<Binding>& p) {
                           return p.param == Binding::kLocal ? "InProcess"
                                                             : "OverHttp";
                         });

}  // namespace
}  // namespace users
