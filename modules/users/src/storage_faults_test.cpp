// HTTP-level tests of storage failures: a real instance of the users module
// whose file fills up, whose disk fills up, whose file is read-only or
// locked. Writes get their problem, reads go on, and writes come back.
#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "mitos_testing/faults.h"
#include "mitos_testing/instance.h"
#include "mitos_testing/problem.h"
#include "users/module.h"

namespace users {
namespace {

using mitos::testing::ExpectProblem;
using nlohmann::json;

class UsersStorageTest : public ::testing::Test {
 protected:
  // Starts users on `data_dir` with `overrides`.
  void Start(const std::string& data_dir,
             std::map<std::string, std::string> overrides = {}) {
    client_.reset();
    instance_.reset();
    instance_ = std::make_unique<mitos::testing::TestInstance>(
        std::vector<mitos::ModuleSpec>{Spec()}, std::move(overrides),
        data_dir);
    client_ = instance_->Client();
    client_->set_tcp_nodelay(true);  // hundreds of requests, none waiting
  }
  void Stop() {
    client_.reset();
    instance_.reset();
  }

  httplib::Result Create(int n) {
    return client_->Post(
        "/users",
        json{{"name", "User " + std::to_string(n)},
             {"email", "user" + std::to_string(n) + "@example.com"}}
            .dump(),
        "application/json");
  }

  // Returns mitos_db_errors_total{module="users",op="write",reason} as
  // /metrics shows it (0 before the first such error).
  double WriteErrors(const std::string& reason) {
    return mitos::testing::MetricValue(
        *instance_,
        "mitos_db_errors_total{module=\"users\",op=\"write\",reason=\"" +
            reason + "\"}");
  }

  static std::string IntegrityCheck(const std::filesystem::path& db) {
    SQLite::Database raw(db.string(), SQLite::OPEN_READONLY);
    return raw.execAndGet("PRAGMA integrity_check").getString();
  }

  // The problem's text is for clients: no file, no SQLite.
  static void ExpectNoInternals(const json& problem,
                                const std::filesystem::path& dir) {
    const std::string text = problem.dump();
    EXPECT_EQ(text.find(dir.string()), std::string::npos) << text;
    EXPECT_EQ(text.find("users.db"), std::string::npos) << text;
    EXPECT_EQ(text.find("sqlite"), std::string::npos) << text;
    EXPECT_EQ(text.find("SQLITE"), std::string::npos) << text;
    EXPECT_EQ(text.find("disk is full"), std::string::npos) << text;
  }

  std::unique_ptr<mitos::testing::TestInstance> instance_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(UsersStorageTest, AFullDatabaseAnswers507AndStillServesReads) {
  mitos::testing::TempDir dir;
  Start(dir.path().string(), {{"users.storage.max_page_count", "8"}});
  const double before = WriteErrors("full");
  ASSERT_GE(before, 0) << "no mitos_db_errors_total series for users";

  std::vector<int64_t> ids;
  std::optional<httplib::Result> full;
  for (int n = 0; n < 5000; ++n) {
    auto r = Create(n);
    ASSERT_TRUE(r);
    if (r->status != 201) {
      full.emplace(std::move(r));
      break;
    }
    ids.push_back(json::parse(r->body)["id"].get<int64_t>());
  }
  ASSERT_FALSE(ids.empty()) << "the file was full from the start";
  ASSERT_TRUE(full) << "8 pages held 5000 users";
  json p = ExpectProblem(*full, 507);
  EXPECT_EQ(p["type"], "urn:mitos:problem:insufficient-storage");
  EXPECT_EQ(p["title"], "Insufficient Storage");
  EXPECT_FALSE((*full)->has_header("Retry-After"));
  ExpectNoInternals(p, dir.path());
  // Full stays full: a second write fails the same way, and is counted.
  ExpectProblem(Create(-1), 507);
  EXPECT_EQ(WriteErrors("full"), before + 2);

  // Reads go on.
  auto one = client_->Get(("/users/" + std::to_string(ids.front())).c_str());
  ASSERT_TRUE(one);
  EXPECT_EQ(one->status, 200);
  auto page = client_->Get("/users?limit=100");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);

  // Deleting frees pages within the limit, and writes take them. Each
  // deletion also writes its users.UserDeleted into the outbox, so on a
  // file this small one may find no free page until the dispatcher has
  // drained the outbox: it is then refused whole (the user is still there)
  // and goes through later.
  for (int64_t id : ids) {
    const std::string path = "/users/" + std::to_string(id);
    int status = 0;
    for (int attempt = 0; attempt < 1000; ++attempt) {
      auto r = client_->Delete(path.c_str());
      ASSERT_TRUE(r);
      status = r->status;
      if (status != 507) break;
      auto still = client_->Get(path.c_str());
      ASSERT_TRUE(still);
      ASSERT_EQ(still->status, 200) << "a refused deletion deleted the user";
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(status, 204) << path;
  }
  auto again = Create(-2);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 201) << again->body;

  Stop();
  EXPECT_EQ(IntegrityCheck(dir.path() / "users.db"), "ok");

  // A higher limit, and the same file takes many more.
  Start(dir.path().string(), {{"users.storage.max_page_count", "1000"}});
  for (int n = 0; n < static_cast<int>(ids.size()) + 50; ++n) {
    auto r = Create(10000 + n);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 201) << r->body;
  }
  Stop();
  EXPECT_EQ(IntegrityCheck(dir.path() / "users.db"), "ok");
}

TEST_F(UsersStorageTest, ADiskThatFillsUpAnswers507AndRecoversWhenSpaceReturns) {
  mitos::testing::SmallFilesystem fs(1 << 20);
  if (!fs.error().empty()) {
    GTEST_SKIP() << "needs a small tmpfs to fill: " << fs.error();
  }
  const std::filesystem::path data = fs.path() / "data";
  std::filesystem::create_directories(data);
  Start(data.string());
  auto first = Create(1);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 201) << first->body;
  const std::string url =
      "/users/" + std::to_string(json::parse(first->body)["id"].get<int>());

  ASSERT_GT(fs.Fill(), 0u);
  // The log's last page may have room for part of a commit, not a whole.
  std::optional<httplib::Result> full;
  for (int n = 2; n < 20 && !full; ++n) {
    auto r = Create(n);
    ASSERT_TRUE(r);
    if (r->status != 201) full.emplace(std::move(r));
  }
  ASSERT_TRUE(full) << "writes succeeded on a full disk";
  json p = ExpectProblem(*full, 507);
  EXPECT_EQ(p["type"], "urn:mitos:problem:insufficient-storage");
  ExpectNoInternals(p, fs.path());
  auto read = client_->Get(url.c_str());
  ASSERT_TRUE(read);
  EXPECT_EQ(read->status, 200);

  fs.Free();
  auto back = Create(100);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->status, 201) << back->body;
  auto list = client_->Get("/users?limit=100");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 200);
  Stop();
  EXPECT_EQ(IntegrityCheck(data / "users.db"), "ok");
}

TEST_F(UsersStorageTest, AReadOnlyDatabaseAnswers503AndStillServesReads) {
  mitos::testing::TempDir dir;
  Start(dir.path().string());
  auto created = Create(1);
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201);
  const std::string url =
      "/users/" + std::to_string(json::parse(created->body)["id"].get<int>());
  Stop();

  mitos::testing::ReadOnlyFile read_only(dir.path() / "users.db");
  if (!read_only.error().empty()) {
    GTEST_SKIP() << "cannot make the file read-only: " << read_only.error();
  }
  Start(dir.path().string());
  const double before = WriteErrors("read_only");
  auto r = Create(2);
  json p = ExpectProblem(r, 503);
  EXPECT_EQ(p["type"], "urn:mitos:problem:storage-read-only");
  // Retrying does not help until an operator acts.
  EXPECT_FALSE(r->has_header("Retry-After"));
  ExpectNoInternals(p, dir.path());
  ExpectProblem(client_->Delete(url.c_str()), 503);
  EXPECT_EQ(WriteErrors("read_only"), before + 2);

  auto read = client_->Get(url.c_str());
  ASSERT_TRUE(read);
  EXPECT_EQ(read->status, 200);
  EXPECT_EQ(json::parse(read->body)["email"], "user1@example.com");
  Stop();
}

TEST_F(UsersStorageTest, ALockedDatabaseAnswers503WithRetryAfter) {
  mitos::testing::TempDir dir;
  Start(dir.path().string(), {{"users.storage.busy_timeout_ms", "0"}});
  const double before = WriteErrors("busy");
  // Another process (here: another connection) holds the write lock.
  auto other = std::make_unique<SQLite::Database>(
      (dir.path() / "users.db").string(), SQLite::OPEN_READWRITE);
  other->exec("BEGIN IMMEDIATE");
  auto r = Create(1);
  json p = ExpectProblem(r, 503);
  EXPECT_EQ(p["type"], "urn:mitos:problem:storage-unavailable");
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  ExpectNoInternals(p, dir.path());
  EXPECT_EQ(WriteErrors("busy"), before + 1);

  other->exec("ROLLBACK");
  other.reset();
  auto retried = Create(1);
  ASSERT_TRUE(retried);
  EXPECT_EQ(retried->status, 201) << retried->body;
}

}  // namespace
}  // namespace users
