#include "mitos/http/http.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "mitos/base/status.h"

namespace mitos::http {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;
using json = nlohmann::json;

// A handler that records which route ran, so tests can tell routes apart.
Handler Tag(std::string tag) {
  return
      [tag = std::move(tag)](const Request&, Response& res) { res.body = tag; };
}

// Runs the matched route's handler and returns the body it wrote.
std::string RunHandler(const Router::Match& m) {
  if (m.route == nullptr) return "<no route>";
  Request req;
  Response res;
  m.route->handler(req, res);
  return res.body;
}

// ---------------------------------------------------------------- Router

TEST(RouterTest, MatchesLiteralRoute) {
  Router r;
  r.Add("health", "GET", "/healthz", Tag("health"));
  Router::Match m = r.Resolve("GET", "/healthz");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->pattern, "/healthz");
  EXPECT_EQ(m.route->module, "health");
  EXPECT_EQ(RunHandler(m), "health");
  EXPECT_THAT(m.params, IsEmpty());
}

TEST(RouterTest, LiteralMustMatchExactly) {
  Router r;
  r.Add("m", "GET", "/users", Tag("users"));
  EXPECT_EQ(r.Resolve("GET", "/user").route, nullptr);
  EXPECT_EQ(r.Resolve("GET", "/users2").route, nullptr);
  EXPECT_EQ(r.Resolve("GET", "/Users").route, nullptr);
  EXPECT_EQ(r.Resolve("GET", "/users/1").route, nullptr);
  EXPECT_EQ(r.Resolve("GET", "/").route, nullptr);
  EXPECT_THAT(r.Resolve("GET", "/nope").allowed, IsEmpty());
}

TEST(RouterTest, PlaceholderCapturesSegments) {
  Router r;
  r.Add("users", "GET", "/users/{id}", Tag("one"));
  r.Add("orders", "GET", "/users/{uid}/orders/{oid}", Tag("order"));

  Router::Match m = r.Resolve("GET", "/users/42");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(RunHandler(m), "one");
  EXPECT_THAT(m.params, ElementsAre("42"));

  m = r.Resolve("GET", "/users/7/orders/abc");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(RunHandler(m), "order");
  EXPECT_EQ(m.route->pattern, "/users/{uid}/orders/{oid}");
  EXPECT_THAT(m.params, ElementsAre("7", "abc"));
}

TEST(RouterTest, PlaceholderNeedsExactlyOneSegment) {
  Router r;
  r.Add("users", "GET", "/users/{id}", Tag("one"));
  EXPECT_EQ(r.Resolve("GET", "/users").route, nullptr);
  EXPECT_EQ(r.Resolve("GET", "/users/").route, nullptr);
  EXPECT_EQ(r.Resolve("GET", "/users/1/2").route, nullptr);
  EXPECT_EQ(r.Resolve("GET", "/users/1/").route, nullptr);
}

TEST(RouterTest, EmptySegmentDoesNotMatch) {
  Router r;
  r.Add("users", "GET", "/users/{id}", Tag("one"));
  r.Add("users", "GET", "/users/{id}/name", Tag("name"));
  EXPECT_EQ(r.Resolve("GET", "/users//1").route, nullptr);
  EXPECT_EQ(r.Resolve("GET", "//users/1").route, nullptr);
  EXPECT_EQ(r.Resolve("GET", "/users//name").route, nullptr);
  EXPECT_THAT(r.Resolve("GET", "/users//1").allowed, IsEmpty());
}

TEST(RouterTest, TrailingWildcardMatchesRestOfPath) {
  Router r;
  r.Add("static", "GET", "/static/{*}", Tag("static"));

  Router::Match m = r.Resolve("GET", "/static/css/site.css");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(RunHandler(m), "static");
  ASSERT_EQ(m.params.size(), 1u);
  EXPECT_THAT(m.params[0], HasSubstr("css/site.css"));

  m = r.Resolve("GET", "/static/a");
  ASSERT_NE(m.route, nullptr);
  ASSERT_EQ(m.params.size(), 1u);
  EXPECT_THAT(m.params[0], HasSubstr("a"));

  // "or none": the bare prefix matches too.
  m = r.Resolve("GET", "/static");
  ASSERT_NE(m.route, nullptr);
  ASSERT_EQ(m.params.size(), 1u);
  EXPECT_EQ(m.params[0], "");

  // The literal prefix must still match as a whole segment.
  EXPECT_EQ(r.Resolve("GET", "/staticx/a").route, nullptr);
  EXPECT_EQ(r.Resolve("GET", "/other/a").route, nullptr);
}

TEST(RouterTest, WildcardAfterPlaceholder) {
  Router r;
  r.Add("files", "GET", "/buckets/{b}/{*}", Tag("files"));
  Router::Match m = r.Resolve("GET", "/buckets/photos/2024/01/x.jpg");
  ASSERT_NE(m.route, nullptr);
  ASSERT_EQ(m.params.size(), 2u);
  EXPECT_EQ(m.params[0], "photos");
  EXPECT_THAT(m.params[1], HasSubstr("2024/01/x.jpg"));
}

TEST(RouterTest, RootPatternMatchesRoot) {
  Router r;
  r.Add("root", "GET", "/", Tag("root"));
  Router::Match m = r.Resolve("GET", "/");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(RunHandler(m), "root");
}

TEST(RouterTest, MethodSelectsRoute) {
  Router r;
  r.Add("users", "GET", "/users", Tag("list"));
  r.Add("users", "POST", "/users", Tag("create"));
  EXPECT_EQ(RunHandler(r.Resolve("GET", "/users")), "list");
  EXPECT_EQ(RunHandler(r.Resolve("POST", "/users")), "create");
}

TEST(RouterTest, MethodMismatchReportsAllowedMethods) {
  Router r;
  r.Add("users", "GET", "/users/{id}", Tag("get"));
  r.Add("users", "DELETE", "/users/{id}", Tag("delete"));
  r.Add("users", "POST", "/users", Tag("create"));

  Router::Match m = r.Resolve("PUT", "/users/3");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_THAT(m.allowed, UnorderedElementsAre("GET", "HEAD", "DELETE"));

  m = r.Resolve("GET", "/users");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_THAT(m.allowed, ElementsAre("POST"));
}

TEST(RouterTest, UnknownPathHasNoAllowedMethods) {
  Router r;
  r.Add("users", "GET", "/users/{id}", Tag("get"));
  Router::Match m = r.Resolve("PUT", "/orders/3");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_THAT(m.allowed, IsEmpty());
}

TEST(RouterTest, HeadResolvesToGetRoute) {
  Router r;
  r.Add("users", "GET", "/users/{id}", Tag("get"));
  Router::Match m = r.Resolve("HEAD", "/users/9");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->method, "GET");
  EXPECT_EQ(RunHandler(m), "get");
  EXPECT_THAT(m.params, ElementsAre("9"));
}

TEST(RouterTest, HeadWithoutGetIsNotAllowed) {
  Router r;
  r.Add("users", "POST", "/users", Tag("create"));
  Router::Match m = r.Resolve("HEAD", "/users");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_THAT(m.allowed, ElementsAre("POST"));
}

TEST(RouterTest, FirstAddedMatchingRouteWins) {
  Router r;
  r.Add("users", "GET", "/users/me", Tag("me"));
  r.Add("users", "GET", "/users/{id}", Tag("by-id"));
  EXPECT_EQ(RunHandler(r.Resolve("GET", "/users/me")), "me");
  Router::Match m = r.Resolve("GET", "/users/5");
  EXPECT_EQ(RunHandler(m), "by-id");
  EXPECT_THAT(m.params, ElementsAre("5"));
}

TEST(RouterTest, DuplicateRouteThrows) {
  Router r;
  r.Add("a", "GET", "/users/{id}", Tag("a"));
  EXPECT_THROW(r.Add("b", "GET", "/users/{id}", Tag("b")), std::logic_error);
  // The same pattern with another method, or another pattern, is fine.
  EXPECT_NO_THROW(r.Add("b", "PUT", "/users/{id}", Tag("b")));
  EXPECT_NO_THROW(r.Add("b", "GET", "/users/{uid}/x", Tag("b")));
  EXPECT_EQ(r.routes().size(), 3u);
}

TEST(RouterTest, DuplicateRouteMessageNamesBothModules) {
  Router r;
  r.Add("users", "GET", "/users", Tag("a"));
  try {
    r.Add("admin", "GET", "/users", Tag("b"));
    FAIL() << "expected std::logic_error";
  } catch (const std::logic_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("GET /users"));
    EXPECT_THAT(e.what(), HasSubstr("users"));
    EXPECT_THAT(e.what(), HasSubstr("admin"));
  }
}

TEST(RouterTest, RouteKeepsSegments) {
  Router r;
  r.Add("m", "GET", "/a/{b}/c", Tag("x"));
  ASSERT_EQ(r.routes().size(), 1u);
  EXPECT_THAT(r.routes()[0].segments, ElementsAre("a", "{b}", "c"));
}

// ---------------------------------------------------------- WriteProblem

TEST(WriteProblemTest, WritesRfc9457Body) {
  Response res;
  WriteProblem(res, 422, "urn:mitos:problem:x", "Bad thing", "It is bad.",
               {{"email", "is required"}, {"items[0].sku", "too long"}});
  EXPECT_EQ(res.status, 422);
  EXPECT_EQ(res.content_type, "application/problem+json");
  json body = json::parse(res.body);
  EXPECT_EQ(body["type"], "urn:mitos:problem:x");
  EXPECT_EQ(body["title"], "Bad thing");
  EXPECT_EQ(body["status"], 422);
  EXPECT_EQ(body["detail"], "It is bad.");
  ASSERT_TRUE(body["errors"].is_array());
  ASSERT_EQ(body["errors"].size(), 2u);
  EXPECT_EQ(body["errors"][0],
            (json{{"field", "email"}, {"message", "is required"}}));
  EXPECT_EQ(body["errors"][1],
            (json{{"field", "items[0].sku"}, {"message", "too long"}}));
}

TEST(WriteProblemTest, OmitsErrorsWhenNone) {
  Response res;
  WriteProblem(res, 404, "about:blank", "Not Found", "No such user.");
  json body = json::parse(res.body);
  EXPECT_FALSE(body.contains("errors"));
  EXPECT_EQ(body["status"], 404);
}

TEST(WriteProblemTest, EmptyTitleUsesReasonPhrase) {
  Response res;
  WriteProblem(res, 404, "about:blank", "", "x");
  EXPECT_EQ(json::parse(res.body)["title"], "Not Found");
  WriteProblem(res, 415, "about:blank", "", "x");
  EXPECT_EQ(json::parse(res.body)["title"], "Unsupported Media Type");
  EXPECT_EQ(res.status, 415);
}

TEST(WriteProblemTest, InvalidUtf8InDetailStillYieldsValidJson) {
  Response res;
  WriteProblem(res, 400, "about:blank", "", "bad \xFF byte");
  json body = json::parse(res.body);  // throws if not valid JSON/UTF-8
  EXPECT_THAT(body["detail"].get<std::string>(), HasSubstr("bad"));
}

// ----------------------------------------------------------- WriteStatus

struct StatusCase {
  Status status;
  int http;
  std::string type;
};

class WriteStatusTest : public ::testing::TestWithParam<StatusCase> {};

TEST_P(WriteStatusTest, MapsToProblem) {
  const StatusCase& c = GetParam();
  Response res;
  WriteStatus(res, c.status);
  EXPECT_EQ(res.status, c.http);
  EXPECT_EQ(HttpStatusFor(c.status.code()), c.http);
  EXPECT_EQ(res.content_type, "application/problem+json");
  json body = json::parse(res.body);
  EXPECT_EQ(body["status"], c.http);
  EXPECT_EQ(body["type"], c.type);
  EXPECT_TRUE(body["title"].is_string());
  EXPECT_FALSE(body["title"].get<std::string>().empty());
  EXPECT_EQ(body["detail"], c.status.message());
}

INSTANTIATE_TEST_SUITE_P(
    AllCodes, WriteStatusTest,
    ::testing::Values(StatusCase{Status::InvalidArgument("bad input"), 422,
                                 "urn:mitos:problem:validation-failed"},
                      StatusCase{Status::NotFound("user 7 does not exist"), 404,
                                 "about:blank"},
                      StatusCase{Status::AlreadyExists("email taken"), 409,
                                 "urn:mitos:problem:already-exists"},
                      StatusCase{Status::FailedPrecondition("user is locked"),
                                 409, "urn:mitos:problem:invalid-state"},
                      StatusCase{Status::Unavailable("billing is down"), 503,
                                 "urn:mitos:problem:dependency-unavailable"},
                      StatusCase{Status::DeadlineExceeded("too slow"), 504,
                                 "urn:mitos:problem:deadline-exceeded"},
                      StatusCase{Status::InsufficientStorage("disk full"), 507,
                                 "urn:mitos:problem:insufficient-storage"},
                      StatusCase{Status::StorageUnavailable("I/O error"), 503,
                                 "urn:mitos:problem:storage-unavailable"},
                      StatusCase{Status::StorageReadOnly("read-only"), 503,
                                 "urn:mitos:problem:storage-read-only"},
                      StatusCase{Status::StorageCorrupt("damaged"), 500,
                                 "urn:mitos:problem:storage-corrupt"}));

TEST(WriteStatusTest, InsufficientStorageIsTheRfc4918Problem) {
  Response res;
  WriteStatus(res, Status::InsufficientStorage("full"));
  json body = json::parse(res.body);
  EXPECT_EQ(body["title"], "Insufficient Storage");
  EXPECT_STREQ(ReasonPhrase(507), "Insufficient Storage");
  EXPECT_EQ(res.Header("Retry-After"), "");
}

TEST(WriteStatusTest, RetryAfterOnlyWhereARetryMayHelp) {
  for (const Status& s : {Status::Unavailable("down"),
                          Status::StorageUnavailable("busy")}) {
    Response res;
    WriteStatus(res, s);
    EXPECT_EQ(res.Header("Retry-After"), "1") << s.ToString();
  }
  for (const Status& s : {Status::InsufficientStorage("full"),
                          Status::StorageReadOnly("read-only"),
                          Status::StorageCorrupt("damaged"),
                          Status::Internal("bug")}) {
    Response res;
    WriteStatus(res, s);
    EXPECT_EQ(res.Header("Retry-After"), "") << s.ToString();
  }
}

TEST(WriteStatusTest, InvalidArgumentCarriesFieldErrors) {
  Response res;
  WriteStatus(res, Status::InvalidArgument("invalid", {{"email", "bad"}}));
  json body = json::parse(res.body);
  ASSERT_EQ(body["errors"].size(), 1u);
  EXPECT_EQ(body["errors"][0]["field"], "email");
  EXPECT_EQ(body["errors"][0]["message"], "bad");
}

TEST(WriteStatusTest, AlreadyExistsCarriesFieldErrors) {
  Response res;
  WriteStatus(res, Status::AlreadyExists("dup", {{"email", "is taken"}}));
  json body = json::parse(res.body);
  ASSERT_EQ(body["errors"].size(), 1u);
  EXPECT_EQ(body["errors"][0]["field"], "email");
}

TEST(WriteStatusTest, UnavailableSetsRetryAfter) {
  Response res;
  WriteStatus(res, Status::Unavailable("down"));
  EXPECT_EQ(res.Header("Retry-After"), "1");
}

TEST(WriteStatusTest, InternalNeverLeaksTheMessage) {
  Response res;
  WriteStatus(res, Status::Internal("sqlite: disk I/O error at /var/db/x"));
  EXPECT_EQ(res.status, 500);
  EXPECT_EQ(res.content_type, "application/problem+json");
  EXPECT_THAT(res.body, Not(HasSubstr("sqlite")));
  EXPECT_THAT(res.body, Not(HasSubstr("/var/db")));
  json body = json::parse(res.body);
  EXPECT_EQ(body["status"], 500);
  EXPECT_EQ(body["type"], "about:blank");
  EXPECT_EQ(body["title"], "Internal Server Error");
  EXPECT_TRUE(body["detail"].is_string());
  EXPECT_FALSE(body["detail"].get<std::string>().empty());
  EXPECT_FALSE(body.contains("errors"));
}

TEST(HttpStatusForTest, MapsEveryCode) {
  EXPECT_EQ(HttpStatusFor(StatusCode::kOk), 200);
  EXPECT_EQ(HttpStatusFor(StatusCode::kInvalidArgument), 422);
  EXPECT_EQ(HttpStatusFor(StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(StatusCode::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatusFor(StatusCode::kFailedPrecondition), 409);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(StatusCode::kDeadlineExceeded), 504);
  EXPECT_EQ(HttpStatusFor(StatusCode::kInternal), 500);
  EXPECT_EQ(HttpStatusFor(StatusCode::kInsufficientStorage), 507);
  EXPECT_EQ(HttpStatusFor(StatusCode::kStorageUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(StatusCode::kStorageReadOnly), 503);
  EXPECT_EQ(HttpStatusFor(StatusCode::kStorageCorrupt), 500);
}

// -------------------------------------------------------- ReadJsonObject

Request JsonRequest(std::string content_type, std::string body,
                    std::string method = "POST") {
  Request req;
  req.method = std::move(method);
  if (!content_type.empty()) {
    req.headers.emplace_back("Content-Type", std::move(content_type));
  }
  req.body = std::move(body);
  return req;
}

TEST(ReadJsonObjectTest, AcceptsJsonObject) {
  Request req = JsonRequest("application/json", R"({"name":"Ada","n":1})");
  Response res;
  std::optional<json> j = ReadJsonObject(req, res);
  ASSERT_TRUE(j.has_value());
  EXPECT_EQ((*j)["name"], "Ada");
  EXPECT_EQ((*j)["n"], 1);
  EXPECT_EQ(res.status, 200);  // untouched
  EXPECT_TRUE(res.body.empty());
}

TEST(ReadJsonObjectTest, AcceptsParametersAndMixedCase) {
  for (const char* ct :
       {"application/json; charset=utf-8", "Application/JSON",
        "APPLICATION/JSON;charset=UTF-8", "application/json ; charset=utf-8"}) {
    Request req = JsonRequest(ct, "{}");
    Response res;
    EXPECT_TRUE(ReadJsonObject(req, res).has_value()) << ct;
  }
}

TEST(ReadJsonObjectTest, ContentTypeHeaderNameIsCaseInsensitive) {
  Request req;
  req.method = "POST";
  req.headers.emplace_back("content-type", "application/json");
  req.body = "{}";
  Response res;
  EXPECT_TRUE(ReadJsonObject(req, res).has_value());
}

TEST(ReadJsonObjectTest, WrongContentTypeIs415) {
  for (const char* ct : {"text/plain", "application/xml", "application/jsonx",
                         "application/json-patch+json", "json"}) {
    Request req = JsonRequest(ct, "{}");
    Response res;
    EXPECT_FALSE(ReadJsonObject(req, res).has_value()) << ct;
    EXPECT_EQ(res.status, 415) << ct;
    EXPECT_EQ(res.content_type, "application/problem+json");
    EXPECT_EQ(json::parse(res.body)["status"], 415);
    EXPECT_EQ(res.Header("Accept-Post"), "application/json");
  }
}

TEST(ReadJsonObjectTest, MissingContentTypeIs415) {
  Request req = JsonRequest("", "{}");
  Response res;
  EXPECT_FALSE(ReadJsonObject(req, res).has_value());
  EXPECT_EQ(res.status, 415);
}

TEST(ReadJsonObjectTest, PatchGetsAcceptPatchHeader) {
  Request req = JsonRequest("text/plain", "{}", "PATCH");
  Response res;
  EXPECT_FALSE(ReadJsonObject(req, res).has_value());
  EXPECT_EQ(res.status, 415);
  EXPECT_EQ(res.Header("Accept-Patch"), "application/json");
  EXPECT_EQ(res.Header("Accept-Post"), "");
}

TEST(ReadJsonObjectTest, MalformedJsonIs400) {
  for (const char* body :
       {"", "{", "{\"a\":}", "{'a':1}", "{\"a\":1}x", "nul", "{\"a\":1,}"}) {
    Request req = JsonRequest("application/json", body);
    Response res;
    EXPECT_FALSE(ReadJsonObject(req, res).has_value()) << body;
    EXPECT_EQ(res.status, 400) << body;
    EXPECT_EQ(res.content_type, "application/problem+json");
    EXPECT_EQ(json::parse(res.body)["status"], 400);
  }
}

TEST(ReadJsonObjectTest, NonObjectJsonIs400) {
  for (const char* body : {"[]", "[1,2]", "42", "\"str\"", "null", "true"}) {
    Request req = JsonRequest("application/json", body);
    Response res;
    EXPECT_FALSE(ReadJsonObject(req, res).has_value()) << body;
    EXPECT_EQ(res.status, 400) << body;
    EXPECT_THAT(json::parse(res.body)["detail"].get<std::string>(),
                HasSubstr("object"))
        << body;
  }
}

TEST(ReadJsonObjectTest, InvalidUtf8Is400) {
  for (const char* body :
       {"{\"name\":\"\xFF\"}", "{\"name\":\"\xC3\"}",
        "{\"name\":\"\xED\xA0\x80\"}",  // UTF-16 surrogate encoded in UTF-8
        "{\"name\":\"\xC0\xAF\"}"}) {   // overlong encoding of '/'
    Request req = JsonRequest("application/json", body);
    Response res;
    EXPECT_FALSE(ReadJsonObject(req, res).has_value());
    EXPECT_EQ(res.status, 400);
    // The problem body itself must be valid JSON.
    EXPECT_NO_THROW(json::parse(res.body));
  }
}

TEST(ReadJsonObjectTest, ValidMultibyteUtf8IsAccepted) {
  Request req = JsonRequest("application/json",
                            "{\"name\":\"J\xC3\xBCrgen \xF0\x9F\x98\x80\"}");
  Response res;
  std::optional<json> j = ReadJsonObject(req, res);
  ASSERT_TRUE(j.has_value());
  EXPECT_EQ((*j)["name"], "J\xC3\xBCrgen \xF0\x9F\x98\x80");
}

// ------------------------------------------------- headers and helpers

TEST(EqualsIgnoreCaseTest, ComparesAsciiCaseInsensitively) {
  EXPECT_TRUE(EqualsIgnoreCase("", ""));
  EXPECT_TRUE(EqualsIgnoreCase("Content-Type", "content-type"));
  EXPECT_TRUE(EqualsIgnoreCase("ABC", "abc"));
  EXPECT_TRUE(EqualsIgnoreCase("a1-_Z", "A1-_z"));
  EXPECT_FALSE(EqualsIgnoreCase("abc", "abd"));
  EXPECT_FALSE(EqualsIgnoreCase("abc", "abcd"));
  EXPECT_FALSE(EqualsIgnoreCase("abc", ""));
  // Only ASCII letters fold: '@' (0x40) and '`' (0x60) are not a pair.
  EXPECT_FALSE(EqualsIgnoreCase("@", "`"));
  EXPECT_FALSE(EqualsIgnoreCase("[", "{"));
}

TEST(RequestTest, HeaderIsCaseInsensitiveAndReturnsFirst) {
  Request req;
  req.headers = {{"X-Request-Id", "abc"},
                 {"Accept", "text/html"},
                 {"accept", "application/json"}};
  EXPECT_EQ(req.Header("x-request-id"), "abc");
  EXPECT_EQ(req.Header("X-REQUEST-ID"), "abc");
  EXPECT_EQ(req.Header("ACCEPT"), "text/html");
  EXPECT_EQ(req.Header("Missing"), "");
}

TEST(RequestTest, QueryReturnsFirstValueOrNull) {
  Request req;
  req.query = {{"limit", "10"}, {"tag", "a"}};
  ASSERT_NE(req.Query("limit"), nullptr);
  EXPECT_EQ(*req.Query("limit"), "10");
  EXPECT_EQ(req.Query("offset"), nullptr);
}

TEST(ResponseTest, SetHeaderReplacesCaseInsensitively) {
  Response res;
  res.SetHeader("Cache-Control", "no-store");
  res.SetHeader("ETag", "\"1\"");
  res.SetHeader("cache-control", "max-age=60");
  EXPECT_EQ(res.headers.size(), 2u);
  EXPECT_EQ(res.Header("Cache-Control"), "max-age=60");
  EXPECT_EQ(res.Header("etag"), "\"1\"");
  EXPECT_EQ(res.Header("Missing"), "");
}

TEST(ResponseTest, JsonSetsStatusTypeAndBody) {
  Response res;
  res.Json(201, json{{"id", 5}});
  EXPECT_EQ(res.status, 201);
  EXPECT_EQ(res.content_type, "application/json");
  EXPECT_EQ(json::parse(res.body), (json{{"id", 5}}));
}

}  // namespace
}  // namespace mitos::http
