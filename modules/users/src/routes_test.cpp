// HTTP-level tests: a real instance of the users module on a free port,
// covering every row of the API table, errors included.
#include <gtest/gtest.h>

#include "mitos_testing/instance.h"
#include "mitos_testing/problem.h"
#include "users/module.h"

namespace users {
namespace {

using nlohmann::json;
using mitos::testing::ExpectProblem;
using mitos::testing::ProblemFields;

class UsersHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    instance_ = std::make_unique<mitos::testing::TestInstance>(
        std::vector<mitos::ModuleSpec>{Spec()},
        std::map<std::string, std::string>{{"server.max_body_bytes", "4096"}});
    client_ = instance_->Client();
  }

  httplib::Result Post(const std::string& body,
                       const std::string& type = "application/json") {
    return client_->Post("/users", body, type.c_str());
  }
  json CreateUser(const std::string& name, const std::string& email) {
    auto r = Post(json{{"name", name}, {"email", email}}.dump());
    EXPECT_TRUE(r);
    EXPECT_EQ(r->status, 201) << r->body;
    return json::parse(r->body);
  }

  std::unique_ptr<mitos::testing::TestInstance> instance_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(UsersHttpTest, CreateReturns201LocationAndTheUser) {
  auto r = Post(R"({"name":"  Ada  ","email":"Ada@Example.com"})");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201);
  json u = json::parse(r->body);
  EXPECT_EQ(r->get_header_value("Location"), "/users/" + std::to_string(u["id"].get<int>()));
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(u["name"], "Ada");
  EXPECT_EQ(u["email"], "Ada@Example.com");
  std::string ts = u["created_at"];
  EXPECT_EQ(ts.size(), 24u);
  EXPECT_EQ(ts.back(), 'Z');
  EXPECT_EQ(u["updated_at"], u["created_at"]);
}

TEST_F(UsersHttpTest, CreateMalformedJsonIs400) {
  ExpectProblem(Post("{\"name\": "), 400);
  ExpectProblem(Post("[1,2]"), 400);
  ExpectProblem(Post("\"just a string\""), 400);
  ExpectProblem(Post(""), 400);
  ExpectProblem(Post(std::string("{\"name\":\"\xff\xfe\",\"email\":\"a@b.co\"}")), 400);
}

TEST_F(UsersHttpTest, CreateWrongMediaTypeIs415) {
  ExpectProblem(Post(R"({"name":"A","email":"a@b.co"})", "text/plain"), 415);
  ExpectProblem(Post(R"({"name":"A","email":"a@b.co"})", "application/x-www-form-urlencoded"), 415);
  auto ok = Post(R"({"name":"A","email":"a@b.co"})", "Application/JSON; charset=utf-8");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 201);
}

TEST_F(UsersHttpTest, CreateInvalidFieldsAre422WithEveryError) {
  json p = ExpectProblem(Post(R"({"name":"","email":"nope","age":3})"), 422);
  auto f = ProblemFields(p);
  EXPECT_NE(std::find(f.begin(), f.end(), "age"), f.end());
  EXPECT_NE(std::find(f.begin(), f.end(), "name"), f.end());
  EXPECT_NE(std::find(f.begin(), f.end(), "email"), f.end());

  EXPECT_EQ(ProblemFields(ExpectProblem(Post(R"({"name":"A"})"), 422)),
            std::vector<std::string>{"email"});
  EXPECT_EQ(ProblemFields(ExpectProblem(Post(R"({})"), 422)),
            (std::vector<std::string>{"name", "email"}));
  EXPECT_EQ(ProblemFields(ExpectProblem(Post(R"({"name":5,"email":"a@b.co"})"), 422)),
            std::vector<std::string>{"name"});
  EXPECT_EQ(ProblemFields(ExpectProblem(Post(R"({"name":null,"email":"a@b.co"})"), 422)),
            std::vector<std::string>{"name"});
  std::string long_name(101, 'n');
  EXPECT_EQ(ProblemFields(ExpectProblem(Post(json{{"name", long_name}, {"email", "a@b.co"}}.dump()), 422)),
            std::vector<std::string>{"name"});
  std::string long_email = std::string(250, 'e') + "@b.co";
  EXPECT_EQ(ProblemFields(ExpectProblem(Post(json{{"name", "A"}, {"email", long_email}}.dump()), 422)),
            std::vector<std::string>{"email"});
}

TEST_F(UsersHttpTest, DuplicateEmailIs409IgnoringCase) {
  CreateUser("A", "dup@example.com");
  json p = ExpectProblem(Post(R"({"name":"B","email":"DUP@example.COM"})"), 409);
  EXPECT_EQ(ProblemFields(p), std::vector<std::string>{"email"});
}

TEST_F(UsersHttpTest, BodyOverLimitIs413) {
  std::string big = json{{"name", std::string(5000, 'x')}, {"email", "a@b.co"}}.dump();
  ExpectProblem(Post(big), 413);
  // The instance still serves afterwards.
  auto c = instance_->Client();
  auto r = c->Get("/users");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(UsersHttpTest, GetReturnsTheUserOr404) {
  json u = CreateUser("Ada", "ada@x.io");
  auto r = client_->Get(("/users/" + std::to_string(u["id"].get<int>())).c_str());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body), u);
  ExpectProblem(client_->Get("/users/999999"), 404);
  for (const char* bad : {"/users/0", "/users/-1", "/users/abc", "/users/1.5",
                          "/users/01", "/users/99999999999999999999"}) {
    ExpectProblem(client_->Get(bad), 404);
  }
}

TEST_F(UsersHttpTest, ListPagesWithLimitAndAfter) {
  for (int i = 0; i < 5; ++i) CreateUser("U", "u" + std::to_string(i) + "@x.io");
  auto r = client_->Get("/users?limit=2");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  json page = json::parse(r->body);
  ASSERT_EQ(page["items"].size(), 2u);
  EXPECT_EQ(page["items"][0]["id"], 1);
  EXPECT_EQ(page["next_after"], 2);
  json last = json::parse(client_->Get("/users?limit=2&after=4")->body);
  ASSERT_EQ(last["items"].size(), 1u);
  EXPECT_TRUE(last["next_after"].is_null());
  json all = json::parse(client_->Get("/users")->body);
  EXPECT_EQ(all["items"].size(), 5u);  // default limit 20
  EXPECT_TRUE(all["next_after"].is_null());
}

TEST_F(UsersHttpTest, ListBadParametersAre422) {
  EXPECT_EQ(ProblemFields(ExpectProblem(client_->Get("/users?limit=0"), 422)),
            std::vector<std::string>{"limit"});
  EXPECT_EQ(ProblemFields(ExpectProblem(client_->Get("/users?limit=101"), 422)),
            std::vector<std::string>{"limit"});
  EXPECT_EQ(ProblemFields(ExpectProblem(client_->Get("/users?limit=abc"), 422)),
            std::vector<std::string>{"limit"});
  EXPECT_EQ(ProblemFields(ExpectProblem(client_->Get("/users?after=-3"), 422)),
            std::vector<std::string>{"after"});
  EXPECT_EQ(ProblemFields(ExpectProblem(client_->Get("/users?limit=-1&after=x"), 422)),
            (std::vector<std::string>{"limit", "after"}));
}

TEST_F(UsersHttpTest, PatchUpdatesGivenFields) {
  json u = CreateUser("Ada", "ada@x.io");
  std::string path = "/users/" + std::to_string(u["id"].get<int>());
  auto r = client_->Patch(path.c_str(), R"({"name":" Grace "})", "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json v = json::parse(r->body);
  EXPECT_EQ(v["name"], "Grace");
  EXPECT_EQ(v["email"], "ada@x.io");
  EXPECT_EQ(json::parse(client_->Get(path.c_str())->body)["name"], "Grace");
  auto same = client_->Patch(path.c_str(), "{}", "application/json");
  ASSERT_TRUE(same);
  EXPECT_EQ(same->status, 200);
}

TEST_F(UsersHttpTest, PatchErrors) {
  json a = CreateUser("A", "a@x.io");
  CreateUser("B", "b@x.io");
  std::string path = "/users/" + std::to_string(a["id"].get<int>());
  ExpectProblem(client_->Patch("/users/4242", R"({"name":"Z"})", "application/json"), 404);
  ExpectProblem(client_->Patch("/users/abc", R"({"name":"Z"})", "application/json"), 404);
  ExpectProblem(client_->Patch(path.c_str(), R"({"email":"B@X.io"})", "application/json"), 409);
  ExpectProblem(client_->Patch(path.c_str(), R"({"name":"Z"})", "text/plain"), 415);
  ExpectProblem(client_->Patch(path.c_str(), R"({"name":)", "application/json"), 400);
  EXPECT_EQ(ProblemFields(ExpectProblem(client_->Patch(path.c_str(), R"({"id":7})", "application/json"), 422)),
            std::vector<std::string>{"id"});
  EXPECT_EQ(ProblemFields(ExpectProblem(client_->Patch(path.c_str(), R"({"email":"x"})", "application/json"), 422)),
            std::vector<std::string>{"email"});
  EXPECT_EQ(ProblemFields(ExpectProblem(client_->Patch(path.c_str(), R"({"name":null})", "application/json"), 422)),
            std::vector<std::string>{"name"});
}

TEST_F(UsersHttpTest, DeleteIs204Then404) {
  json u = CreateUser("A", "a@x.io");
  std::string path = "/users/" + std::to_string(u["id"].get<int>());
  auto r = client_->Delete(path.c_str());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204);
  EXPECT_TRUE(r->body.empty());
  ExpectProblem(client_->Delete(path.c_str()), 404);
  ExpectProblem(client_->Get(path.c_str()), 404);
  ExpectProblem(client_->Delete("/users/zero"), 404);
}

TEST_F(UsersHttpTest, UnsupportedMethodsAre405WithAllow) {
  auto put = client_->Put("/users/1", "{}", "application/json");
  ExpectProblem(put, 405);
  EXPECT_EQ(put->get_header_value("Allow"), "GET, HEAD, PATCH, DELETE");
  auto del = client_->Delete("/users");
  ExpectProblem(del, 405);
  EXPECT_EQ(del->get_header_value("Allow"), "POST, GET, HEAD");
}

}  // namespace
}  // namespace users
