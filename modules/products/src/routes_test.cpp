// The products routes over HTTP, against a real instance: what the contract
// generates, answered as every Mitos module answers.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "mitos_testing/instance.h"
#include "mitos_testing/problem.h"
#include "products/module.h"

namespace products {
namespace {

using nlohmann::json;

class ProductsHttpTest : public ::testing::Test {
 protected:
  ProductsHttpTest() : instance_({Spec()}), client_(instance_.Client()) {}
  httplib::Result Post(const std::string& body,
                       const std::string& type = "application/json") {
    return client_->Post("/products", body, type);
  }
  mitos::testing::TestInstance instance_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(ProductsHttpTest, CreateAnswers201WithLocationAndTheProduct) {
  auto r = Post(R"({"sku":"BOOK-1","name":"A book","price_cents":1250})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->get_header_value("Location"), "/products/1");
  auto body = json::parse(r->body);
  EXPECT_EQ(body["id"], 1);
  EXPECT_EQ(body["sku"], "BOOK-1");
  auto got = client_->Get("/products/1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(json::parse(got->body), body);
}

TEST_F(ProductsHttpTest, BadBodiesGetTheirProblems) {
  auto not_json = Post("{", "application/json");
  ASSERT_TRUE(not_json);
  mitos::testing::ExpectProblem(not_json, 400);
  auto wrong_type = Post("{}", "text/plain");
  ASSERT_TRUE(wrong_type);
  mitos::testing::ExpectProblem(wrong_type, 415);
  auto invalid = Post(R"({"sku":7,"name":"","extra":1})");
  ASSERT_TRUE(invalid);
  mitos::testing::ExpectProblem(invalid, 422);
  // Structural errors first (unknown, mistyped, missing), then the rules
  // of the fields that could be read.
  EXPECT_EQ(mitos::testing::ProblemFields(json::parse(invalid->body)),
            (std::vector<std::string>{"extra", "sku", "price_cents", "name"}));
  auto dup1 = Post(R"({"sku":"A","name":"a","price_cents":1})");
  auto dup2 = Post(R"({"sku":"A","name":"b","price_cents":1})");
  ASSERT_TRUE(dup1 && dup2);
  EXPECT_EQ(dup1->status, 201);
  mitos::testing::ExpectProblem(dup2, 409);
}

TEST_F(ProductsHttpTest, BadIdsAndUnknownIdsAre404) {
  for (const char* path : {"/products/0", "/products/abc", "/products/99"}) {
    auto r = client_->Get(path);
    ASSERT_TRUE(r) << path;
    mitos::testing::ExpectProblem(r, 404);
  }
  auto r = client_->Get("/products/abc");
  EXPECT_EQ(json::parse(r->body)["detail"], "Product abc does not exist.");
}

TEST_F(ProductsHttpTest, ListsInPagesAndRefusesBadPaging) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Post(json{{"sku", "S" + std::to_string(i)}, {"name", "n"},
                        {"price_cents", i}}.dump())->status, 201);
  }
  auto r = client_->Get("/products?limit=2");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  auto page = json::parse(r->body);
  EXPECT_EQ(page["items"].size(), 2u);
  EXPECT_EQ(page["next_after"], 2);
  auto rest = client_->Get("/products?limit=2&after=2");
  EXPECT_EQ(json::parse(rest->body)["next_after"], nullptr);
  auto bad = client_->Get("/products?limit=0&after=x");
  ASSERT_TRUE(bad);
  mitos::testing::ExpectProblem(bad, 422);
  EXPECT_EQ(mitos::testing::ProblemFields(json::parse(bad->body)),
            (std::vector<std::string>{"after", "limit"}));
}

TEST_F(ProductsHttpTest, OpenApiDocumentsTheRuntimeAndTheModule) {
  auto r = client_->Get("/openapi.json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  auto doc = json::parse(r->body);
  EXPECT_EQ(doc["openapi"], "3.1.0");
  for (const char* path : {"/products", "/products/{id}", "/livez", "/readyz",
                           "/health", "/metrics", "/modules", "/openapi.json"}) {
    EXPECT_TRUE(doc["paths"].contains(path)) << path;
  }
  EXPECT_TRUE(doc["paths"]["/products"].contains("post"));
  EXPECT_TRUE(doc["components"]["schemas"].contains("products.Product"));
  EXPECT_TRUE(doc["components"]["schemas"].contains("Problem"));
}

}  // namespace
}  // namespace products
