#include "mitos/storage/sqlite.h"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "mitos/base/context.h"
#include "mitos/base/status.h"
#include "mitos/config/config.h"
#include "mitos/io/event_loop.h"
#include "mitos/io/task.h"
#include "mitos/observability/log.h"
#include "mitos/observability/metrics.h"
#include "mitos/observability/observe.h"
#include "mitos_testing/faults.h"
#include "mitos_testing/instance.h"

#include <atomic>
#include <thread>

namespace mitos {

// Failed expectations on a StatusCode print its name.
inline void PrintTo(StatusCode code, std::ostream* os) {
  *os << StatusCodeLabel(code);
}

}  // namespace mitos

namespace mitos::sqlite {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Bounds every wait on another thread, so that a regression fails the test
// instead of hanging it. It is a guard, not a timing assertion.
constexpr std::chrono::seconds kGuard(10);

const std::vector<Migration>& KvMigrations() {
  static const std::vector<Migration> kMigrations = {
      {1, "kv table", "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)"},
      {2, "unique emails",
       "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL "
       "UNIQUE, age INTEGER CHECK (age >= 0))"},
  };
  return kMigrations;
}

class DatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("mitos_sqlite_test_" + std::to_string(::getpid()) + "_" +
            std::to_string(std::random_device{}()));
    ASSERT_TRUE(std::filesystem::create_directories(dir_));
    path_ = (dir_ / "test.db").string();
  }

  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Opens the test file and fails the test on error.
  std::unique_ptr<Database> OpenOk(const std::vector<Migration>& migrations,
                                   Options options = {}) {
    StatusOr<std::unique_ptr<Database>> db =
        Database::Open(path_, options, migrations);
    if (!db.ok()) {
      ADD_FAILURE() << "Open failed: " << db.status().ToString();
      return nullptr;
    }
    return std::move(db).value();
  }

  // Reads PRAGMA user_version straight from the file.
  int FileUserVersion() {
    SQLite::Database raw(path_, SQLite::OPEN_READONLY);
    return raw.execAndGet("PRAGMA user_version").getInt();
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(DatabaseTest, OpenAppliesMigrationsInOrderAndSetsUserVersion) {
  std::vector<Migration> migrations = {
      {1, "log", "CREATE TABLE log (n INTEGER)"},
      // Needs the table of step 1: only works when applied in order.
      {2, "first", "INSERT INTO log VALUES (2)"},
      {3, "second", "INSERT INTO log VALUES (3)"},
  };
  std::unique_ptr<Database> db = OpenOk(migrations);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->schema_version(), 3);
  EXPECT_EQ(db->path(), path_);

  std::vector<int> rows = db->Read([](Connection& c) {
    std::vector<int> out;
    SQLite::Statement q(c.db(), "SELECT n FROM log ORDER BY rowid");
    while (q.executeStep()) out.push_back(q.getColumn(0).getInt());
    return out;
  });
  EXPECT_THAT(rows, ElementsAre(2, 3));
  int version = db->Read([](Connection& c) {
    return c.db().execAndGet("PRAGMA user_version").getInt();
  });
  EXPECT_EQ(version, 3);
  db.reset();
  EXPECT_EQ(FileUserVersion(), 3);
}

TEST_F(DatabaseTest, ReopenAppliesOnlyNewMigrations) {
  std::vector<Migration> migrations = {
      {1, "log", "CREATE TABLE log (n INTEGER)"},
      {2, "two", "INSERT INTO log VALUES (2)"},
  };
  ASSERT_NE(OpenOk(migrations), nullptr);
  EXPECT_EQ(FileUserVersion(), 2);

  // Re-running step 1 would fail (table exists) and step 2 would add a row.
  migrations.push_back({3, "three", "INSERT INTO log VALUES (3)"});
  std::unique_ptr<Database> db = OpenOk(migrations);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->schema_version(), 3);
  std::vector<int> rows = db->Read([](Connection& c) {
    std::vector<int> out;
    SQLite::Statement q(c.db(), "SELECT n FROM log ORDER BY rowid");
    while (q.executeStep()) out.push_back(q.getColumn(0).getInt());
    return out;
  });
  EXPECT_THAT(rows, ElementsAre(2, 3));

  // Reopening with nothing new changes nothing.
  db.reset();
  db = OpenOk(migrations);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->schema_version(), 3);
  int count = db->Read([](Connection& c) {
    return c.db().execAndGet("SELECT count(*) FROM log").getInt();
  });
  EXPECT_EQ(count, 2);
}

TEST_F(DatabaseTest, NoMigrationsOnNewFileIsVersionZero) {
  std::unique_ptr<Database> db = OpenOk({});
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->schema_version(), 0);
  EXPECT_TRUE(std::filesystem::exists(path_));
}

TEST_F(DatabaseTest, NewerSchemaThanKnownIsAnError) {
  ASSERT_NE(OpenOk(KvMigrations()), nullptr);
  ASSERT_EQ(FileUserVersion(), 2);

  std::vector<Migration> older = {KvMigrations()[0]};
  StatusOr<std::unique_ptr<Database>> db =
      Database::Open(path_, Options{}, older);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), StatusCode::kInternal);
  EXPECT_THAT(db.status().message(), HasSubstr("newer"));
  EXPECT_THAT(db.status().message(), HasSubstr("2"));
  EXPECT_EQ(FileUserVersion(), 2);  // left alone
}

TEST_F(DatabaseTest, FailingMigrationIsRolledBack) {
  std::vector<Migration> migrations = {
      {1, "ok", "CREATE TABLE a (x INTEGER)"},
      {2, "broken", "CREATE TABLE b (x INTEGER); THIS IS NOT SQL"},
  };
  StatusOr<std::unique_ptr<Database>> db =
      Database::Open(path_, Options{}, migrations);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), StatusCode::kInternal);

  EXPECT_EQ(FileUserVersion(), 1);
  SQLite::Database raw(path_, SQLite::OPEN_READONLY);
  EXPECT_TRUE(raw.tableExists("a"));
  EXPECT_FALSE(raw.tableExists("b"));  // step 2 ran in one transaction
}

TEST_F(DatabaseTest, MisnumberedMigrationsAreAnError) {
  std::vector<Migration> migrations = {
      {1, "a", "CREATE TABLE a (x INTEGER)"},
      {3, "gap", "CREATE TABLE c (x INTEGER)"},
  };
  StatusOr<std::unique_ptr<Database>> db =
      Database::Open(path_, Options{}, migrations);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), StatusCode::kInternal);
}

TEST_F(DatabaseTest, UnopenablePathIsAnError) {
  std::string bad = (dir_ / "no" / "such" / "dir" / "x.db").string();
  StatusOr<std::unique_ptr<Database>> db =
      Database::Open(bad, Options{}, KvMigrations());
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), StatusCode::kInternal);
  EXPECT_THAT(db.status().message(), HasSubstr(bad));
}

TEST_F(DatabaseTest, JournalModeIsWal) {
  std::unique_ptr<Database> db = OpenOk(KvMigrations());
  ASSERT_NE(db, nullptr);
  std::string writer_mode = db->Write([](Connection& c) {
    return c.db().execAndGet("PRAGMA journal_mode").getString();
  });
  std::string reader_mode = db->Read([](Connection& c) {
    return c.db().execAndGet("PRAGMA journal_mode").getString();
  });
  EXPECT_EQ(writer_mode, "wal");
  EXPECT_EQ(reader_mode, "wal");
  db.reset();
  SQLite::Database raw(path_, SQLite::OPEN_READONLY);
  EXPECT_EQ(raw.execAndGet("PRAGMA journal_mode").getString(), "wal");
}

TEST_F(DatabaseTest, PrepareCachesStatementPerLiteral) {
  static constexpr const char* kSelect = "SELECT v FROM kv WHERE k = ?";
  static constexpr const char* kCount = "SELECT count(*) FROM kv";
  std::unique_ptr<Database> db = OpenOk(KvMigrations());
  ASSERT_NE(db, nullptr);
  db->Write([&](Connection& c) {
    c.db().exec("INSERT INTO kv VALUES ('a', 'apple')");

    SQLite::Statement& first = c.Prepare(kSelect);
    first.bind(1, "a");
    ASSERT_TRUE(first.executeStep());
    EXPECT_EQ(first.getColumn(0).getString(), "apple");

    SQLite::Statement& second = c.Prepare(kSelect);
    EXPECT_EQ(&first, &second);
    // Reset and without bindings: k = NULL matches nothing.
    EXPECT_FALSE(second.executeStep());

    SQLite::Statement& other = c.Prepare(kCount);
    EXPECT_NE(&other, &second);
    ASSERT_TRUE(other.executeStep());
    EXPECT_EQ(other.getColumn(0).getInt(), 1);
  });
}

TEST_F(DatabaseTest, ReaderSeesCommittedData) {
  std::unique_ptr<Database> db = OpenOk(KvMigrations());
  ASSERT_NE(db, nullptr);
  static constexpr const char* kGet = "SELECT v FROM kv WHERE k = ?";
  auto read = [&](const std::string& key) {
    return db->Read([&](Connection& c) -> std::optional<std::string> {
      SQLite::Statement& q = c.Prepare(kGet);
      q.bind(1, key);
      if (!q.executeStep()) return std::nullopt;
      return q.getColumn(0).getString();
    });
  };
  EXPECT_EQ(read("k"), std::nullopt);
  db->Write(
      [](Connection& c) { c.db().exec("INSERT INTO kv VALUES ('k', 'one')"); });
  EXPECT_EQ(read("k"), "one");
  db->Write([](Connection& c) {
    c.db().exec("UPDATE kv SET v = 'two' WHERE k = 'k'");
  });
  EXPECT_EQ(read("k"), "two");
}

TEST_F(DatabaseTest, ReaderIsNotBlockedByOpenWriteTransaction) {
  Options options;
  options.busy_timeout_ms = 2000;  // a blocked reader errors out, not hangs
  std::unique_ptr<Database> db = OpenOk(KvMigrations(), options);
  ASSERT_NE(db, nullptr);
  db->Write(
      [](Connection& c) { c.db().exec("INSERT INTO kv VALUES ('k', 'old')"); });

  // Declared outside the Write call so that, should the reader block, the
  // writer still commits before the future is destroyed.
  std::future<std::string> reader;
  std::future_status wait = std::future_status::deferred;
  db->Write([&](Connection& c) {
    c.db().exec("BEGIN IMMEDIATE");
    c.db().exec("UPDATE kv SET v = 'new' WHERE k = 'k'");
    reader = std::async(std::launch::async, [&db] {
      return db->Read([](Connection& r) {
        return r.db().execAndGet("SELECT v FROM kv WHERE k = 'k'").getString();
      });
    });
    wait = reader.wait_for(kGuard);
    c.db().exec("COMMIT");
  });
  ASSERT_EQ(wait, std::future_status::ready)
      << "the reader did not finish while the writer held a transaction";
  std::string seen;
  try {
    seen = reader.get();
  } catch (const SQLite::Exception& e) {
    FAIL() << "reader failed while the writer held a transaction: " << e.what();
  }
  EXPECT_EQ(seen, "old");

  // After the commit, readers see the new value.
  std::string after = db->Read([](Connection& r) {
    return r.db().execAndGet("SELECT v FROM kv WHERE k = 'k'").getString();
  });
  EXPECT_EQ(after, "new");
}

TEST_F(DatabaseTest, ReaderConnectionsAreReadOnly) {
  std::unique_ptr<Database> db = OpenOk(KvMigrations());
  ASSERT_NE(db, nullptr);
  EXPECT_THROW(db->Read([](Connection& c) {
    c.db().exec("INSERT INTO kv VALUES ('x', 'y')");
  }),
               SQLite::Exception);
}

TEST_F(DatabaseTest, IsUniqueViolationDetectsUniqueConstraint) {
  std::unique_ptr<Database> db = OpenOk(KvMigrations());
  ASSERT_NE(db, nullptr);
  db->Write([](Connection& c) {
    c.db().exec("INSERT INTO users (email, age) VALUES ('a@x.org', 1)");
    try {
      c.db().exec("INSERT INTO users (email, age) VALUES ('a@x.org', 2)");
      ADD_FAILURE() << "expected a UNIQUE violation";
    } catch (const SQLite::Exception& e) {
      EXPECT_TRUE(IsUniqueViolation(e)) << e.what();
      EXPECT_FALSE(IsBusy(e)) << e.what();
    }
  });
}

TEST_F(DatabaseTest, IsUniqueViolationDetectsPrimaryKeyConflict) {
  std::unique_ptr<Database> db = OpenOk(KvMigrations());
  ASSERT_NE(db, nullptr);
  db->Write([](Connection& c) {
    c.db().exec("INSERT INTO kv VALUES ('k', 'v')");
    try {
      c.db().exec("INSERT INTO kv VALUES ('k', 'w')");
      ADD_FAILURE() << "expected a PRIMARY KEY violation";
    } catch (const SQLite::Exception& e) {
      EXPECT_TRUE(IsUniqueViolation(e)) << e.what();
    }
  });
}

TEST_F(DatabaseTest, OtherConstraintsAreNotUniqueViolations) {
  std::unique_ptr<Database> db = OpenOk(KvMigrations());
  ASSERT_NE(db, nullptr);
  db->Write([](Connection& c) {
    for (const char* sql :
         {"INSERT INTO users (email, age) VALUES (NULL, 1)",    // NOT NULL
          "INSERT INTO users (email, age) VALUES ('b@x', -1)",  // CHECK
          "INSERT INTO nope VALUES (1)"}) {                     // no table
      try {
        c.db().exec(sql);
        ADD_FAILURE() << "expected an error for " << sql;
      } catch (const SQLite::Exception& e) {
        EXPECT_FALSE(IsUniqueViolation(e)) << sql << ": " << e.what();
      }
    }
  });
}

TEST_F(DatabaseTest, IsBusyWhenAnotherWriterHoldsTheLock) {
  Options options;
  options.busy_timeout_ms = 0;  // fail at once instead of waiting
  std::unique_ptr<Database> db = OpenOk(KvMigrations(), options);
  ASSERT_NE(db, nullptr);

  SQLite::Database other(path_, SQLite::OPEN_READWRITE);
  other.exec("BEGIN IMMEDIATE");
  bool threw = false;
  db->Write([&](Connection& c) {
    try {
      c.db().exec("INSERT INTO kv VALUES ('k', 'v')");
    } catch (const SQLite::Exception& e) {
      threw = true;
      EXPECT_TRUE(IsBusy(e)) << e.what();
      EXPECT_FALSE(IsUniqueViolation(e)) << e.what();
    }
  });
  other.exec("ROLLBACK");
  EXPECT_TRUE(threw);
}

TEST(DeclareStorageConfigTest, DeclaresTheFourKeys) {
  config::Schema schema;
  DeclareStorageConfig(schema, "users");
  ASSERT_EQ(schema.keys().size(), 4u);

  const config::Key* readers = schema.Find("users.storage.readers");
  const config::Key* busy = schema.Find("users.storage.busy_timeout_ms");
  const config::Key* cache = schema.Find("users.storage.cache_kib");
  const config::Key* pages = schema.Find("users.storage.max_page_count");
  ASSERT_NE(readers, nullptr);
  ASSERT_NE(busy, nullptr);
  ASSERT_NE(cache, nullptr);
  ASSERT_NE(pages, nullptr);
  for (const config::Key* k : {readers, busy, cache, pages}) {
    EXPECT_EQ(k->type, config::Type::kInt) << k->path;
    EXPECT_FALSE(k->doc.empty()) << k->path;
  }
  // The defaults agree with Options.
  Options defaults;
  EXPECT_EQ(std::get<int64_t>(readers->default_value), defaults.readers);
  EXPECT_EQ(std::get<int64_t>(busy->default_value), defaults.busy_timeout_ms);
  EXPECT_EQ(std::get<int64_t>(cache->default_value), defaults.cache_kib);
  EXPECT_EQ(std::get<int64_t>(pages->default_value), defaults.max_page_count);
  EXPECT_EQ(defaults.max_page_count, 0);  // no limit unless asked for
  EXPECT_GE(readers->min, 1);  // a pool needs at least one reader
  EXPECT_TRUE(schema.IsSection("users.storage"));
}

TEST(DeclareStorageConfigTest, KeysResolveFromEnvironment) {
  config::Schema schema;
  DeclareStorageConfig(schema, "orders");
  config::Config c =
      config::Resolver(schema)
          .Env({{"MITOS_ORDERS__STORAGE__READERS", "8"},
                {"MITOS_ORDERS__STORAGE__MAX_PAGE_COUNT", "262144"}})
          .Build();
  EXPECT_EQ(c.Int("orders.storage.readers"), 8);
  EXPECT_EQ(c.Int("orders.storage.busy_timeout_ms"), 5000);
  EXPECT_EQ(c.Int("orders.storage.max_page_count"), 262144);
  EXPECT_THROW(config::Resolver(schema).Flag("orders.storage.max_page_count",
                                             "-1", "--set"),
               config::ConfigError);
  EXPECT_THROW(
      config::Resolver(schema).Flag("orders.storage.readers", "0", "--set"),
      config::ConfigError);
}

TEST(DeclareStorageConfigTest, TwoModulesDoNotCollide) {
  config::Schema schema;
  DeclareStorageConfig(schema, "users");
  EXPECT_NO_THROW(DeclareStorageConfig(schema, "orders"));
  EXPECT_EQ(schema.keys().size(), 8u);
  EXPECT_THROW(DeclareStorageConfig(schema, "users"), std::logic_error);
}

}  // namespace
}  // namespace mitos::sqlite

namespace mitos::sqlite {
namespace {

class GroupCommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::Open(
        (dir_.path() / "g.db").string(), Options{},
        {{1, "t", "CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)"}});
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(*db);
  }
  int64_t Count() {
    return db_->Read([](Connection& c) {
      return c.db().execAndGet("SELECT count(*) FROM t").getInt64();
    });
  }
  testing::TempDir dir_;
  std::unique_ptr<Database> db_;
};

TEST_F(GroupCommitTest, ConcurrentWritersAllCommitAndFailuresStayIsolated) {
  constexpr int kThreads = 16;
  constexpr int kPerThread = 50;
  std::atomic<int> ok{0}, dup{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // Every thread also tries one key that thread 0 owns: exactly one
        // insert of it may succeed, the others fail alone.
        std::string key = (i == 0) ? "shared" : std::to_string(t) + "-" + std::to_string(i);
        try {
          db_->WriteTx([&](Connection& c) {
            auto& st = c.Prepare("INSERT INTO t (k, v) VALUES (?, ?)");
            st.bind(1, key);
            st.bind(2, i);
            return st.exec();
          });
          ++ok;
        } catch (const SQLite::Exception& e) {
          EXPECT_TRUE(IsUniqueViolation(e)) << e.what();
          ++dup;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(dup.load(), kThreads - 1);
  EXPECT_EQ(ok.load(), kThreads * kPerThread - (kThreads - 1));
  EXPECT_EQ(Count(), ok.load());
}

TEST_F(GroupCommitTest, ExceptionUndoesOnlyTheFailingOperation) {
  EXPECT_THROW(db_->WriteTx([](Connection& c) -> int {
                 c.db().exec("INSERT INTO t VALUES ('a', 1)");
                 throw std::runtime_error("abort after a write");
               }),
               std::runtime_error);
  EXPECT_EQ(Count(), 0);
  db_->WriteTx([](Connection& c) { return c.db().exec("INSERT INTO t VALUES ('b', 2)"); });
  EXPECT_EQ(Count(), 1);
}

// An asynchronous insert of (k, v), its result mapped as a store would.
void InsertAsync(Database& db, std::string k, int v,
                 std::function<void(Status)> done) {
  db.WriteTxAsync<Status>(
      [k = std::move(k), v](Connection& c) {
        auto& st = c.Prepare("INSERT INTO t (k, v) VALUES (?, ?)");
        st.bind(1, k);
        st.bind(2, v);
        st.exec();
        return Status::Ok();
      },
      [](const SQLite::Exception& e) {
        return IsUniqueViolation(e) ? Status::AlreadyExists("taken")
                                    : Status::Internal(e.what());
      },
      std::move(done));
}

TEST_F(GroupCommitTest, AnAsynchronousWriteAnswersAfterItsCommit) {
  std::promise<std::pair<Status, int64_t>> answer;
  InsertAsync(*db_, "a", 1, [&](Status s) {
    // A reader sees the row by the time `done` runs: it was committed.
    answer.set_value({s, Count()});
  });
  auto [status, seen] = answer.get_future().get();
  EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(seen, 1);
}

TEST_F(GroupCommitTest, AsynchronousFailuresGoThroughOnErrorAndStayIsolated) {
  std::promise<Status> dup, other, good;
  InsertAsync(*db_, "k", 1, [](Status) {});
  InsertAsync(*db_, "k", 2, [&](Status s) { dup.set_value(s); });
  db_->WriteTxAsync<Status>(
      [](Connection& c) -> Status {
        c.db().exec("INSERT INTO t VALUES ('lost', 3)");
        throw std::runtime_error("not a storage error");
      },
      [](const SQLite::Exception&) { return Status::Unavailable("unexpected"); },
      [&](Status s) { other.set_value(s); });
  InsertAsync(*db_, "m", 4, [&](Status s) { good.set_value(s); });
  EXPECT_EQ(dup.get_future().get().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(other.get_future().get().code(), StatusCode::kInternal);
  EXPECT_TRUE(good.get_future().get().ok());
  EXPECT_EQ(Count(), 2);  // "k" and "m"; the failed writes left nothing
}

TEST_F(GroupCommitTest, DoneRunsOnTheSubmittingLoopWithItsRequestContext) {
  internal::EventLoop loop;
  std::thread t([&] { loop.Run(); });
  std::promise<std::pair<bool, std::string>> seen;
  loop.Post([&] {
    RequestContext ctx;
    ctx.request_id = "req-7";
    ContextScope scope(&ctx);
    InsertAsync(*db_, "x", 1, [&](Status) {
      seen.set_value({internal::EventLoop::Current() == &loop,
                      RequestContext::Current().request_id});
    });
  });
  auto [on_loop, request_id] = seen.get_future().get();
  loop.Quit();
  t.join();
  EXPECT_TRUE(on_loop);
  EXPECT_EQ(request_id, "req-7");
}

// An operation written once, as a coroutine: an insert and a read back.
Task<StatusOr<int64_t>> InsertAndCount(Database& db, std::string k, int v) {
  auto insert = [k, v](Connection& c) {
    auto& st = c.Prepare("INSERT INTO t (k, v) VALUES (?, ?)");
    st.bind(1, k);
    st.bind(2, v);
    st.exec();
    return Status::Ok();
  };
  auto on_error = [](const SQLite::Exception& e) {
    return IsUniqueViolation(e) ? Status::AlreadyExists("taken")
                                : Status::Internal(e.what());
  };
  Status s = co_await Write<Status>(db, insert, on_error);
  if (!s.ok()) co_return s;
  co_return db.Read([](Connection& c) {
    return c.db().execAndGet("SELECT count(*) FROM t").getInt64();
  });
}

TEST_F(GroupCommitTest, ACoroutineWriteOffTheLoopWaitsForItsCommit) {
  auto first = Wait(InsertAndCount(*db_, "a", 1));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(*first, 1);
  auto dup = Wait(InsertAndCount(*db_, "a", 2));
  EXPECT_EQ(dup.status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(Count(), 1);
}

TEST_F(GroupCommitTest, ACoroutineWriteOnTheLoopSuspendsAndResumesThere) {
  internal::EventLoop loop;
  std::thread t([&] { loop.Run(); });
  std::promise<std::tuple<bool, bool, int64_t>> seen;
  std::atomic<bool> answered{false};
  loop.Post([&] {
    Start<StatusOr<int64_t>>(InsertAndCount(*db_, "x", 1),
                             [&](StatusOr<int64_t> r) {
                               answered = true;
                               seen.set_value({internal::EventLoop::Current() == &loop,
                                               r.ok(), r.ok() ? *r : -1});
                             });
    // The loop was not held while the writer committed.
    EXPECT_FALSE(answered.load());
  });
  auto [on_loop, ok, count] = seen.get_future().get();
  loop.Quit();
  t.join();
  EXPECT_TRUE(on_loop);
  EXPECT_TRUE(ok);
  EXPECT_EQ(count, 1);
}

TEST_F(GroupCommitTest, AWriteFromTheWritersOwnCompletionIsRefused) {
  std::promise<std::string> error;
  InsertAsync(*db_, "a", 1, [&](Status) {
    // Off a loop, `done` runs on the writer thread, which must not wait
    // for itself.
    try {
      db_->WriteTx([](Connection& c) { return c.db().exec("INSERT INTO t VALUES ('b', 2)"); });
      error.set_value("");
    } catch (const std::logic_error& e) {
      error.set_value(e.what());
    }
  });
  EXPECT_THAT(error.get_future().get(), HasSubstr("writer thread"));
}

TEST_F(GroupCommitTest, ClosingCommitsTheQueuedAsynchronousWrites) {
  constexpr int kWrites = 300;
  std::atomic<int> answered{0};
  for (int i = 0; i < kWrites; ++i) {
    InsertAsync(*db_, std::to_string(i), i, [&](Status s) {
      if (s.ok()) ++answered;
    });
  }
  db_.reset();
  EXPECT_EQ(answered.load(), kWrites);
  SQLite::Database raw((dir_.path() / "g.db").string());
  EXPECT_EQ(raw.execAndGet("SELECT count(*) FROM t").getInt(), kWrites);
}

TEST_F(GroupCommitTest, TheWalStaysBoundedUnderWritesThatNeverPause) {
  // Back-to-back batches leave a checkpoint beside them no moment at which
  // the log is complete; the writer then restarts the log itself. 6,000
  // rows of 4 KiB are about 12,000 log pages; the bound is 4,000 pages
  // plus one batch.
  constexpr int kWrites = 6000;
  const std::string blob(4096, 'b');
  std::atomic<int> left{kWrites};
  std::promise<void> all;
  for (int i = 0; i < kWrites; ++i) {
    db_->WriteTxAsync<Status>(
        [&blob, i](Connection& c) {
          auto& st = c.Prepare("INSERT INTO t (k, v) VALUES (?, ?)");
          st.bind(1, std::to_string(i) + blob);
          st.bind(2, i);
          st.exec();
          return Status::Ok();
        },
        [](const SQLite::Exception& e) { return Status::Internal(e.what()); },
        [&](Status s) {
          EXPECT_TRUE(s.ok()) << s.ToString();
          if (--left == 0) all.set_value();
        });
  }
  all.get_future().get();
  const auto wal = std::filesystem::file_size(dir_.path() / "g.db-wal");
  const auto page = static_cast<uintmax_t>(
      db_->Read([](Connection& c) { return c.db().execAndGet("PRAGMA page_size").getInt(); }));
  const uintmax_t batch_pages = 64 * 3;  // a row spans two pages, plus the tree
  EXPECT_LE(wal, (4000 + batch_pages) * (page + 24) + 32) << "WAL of " << wal << " bytes";
  EXPECT_EQ(Count(), kWrites);
}

TEST_F(GroupCommitTest, CommittedWritesAreVisibleToReadersAndDurable) {
  db_->WriteTx([](Connection& c) { return c.db().exec("INSERT INTO t VALUES ('x', 7)"); });
  EXPECT_EQ(Count(), 1);
  db_.reset();
  SQLite::Database raw((dir_.path() / "g.db").string());
  EXPECT_EQ(raw.execAndGet("SELECT v FROM t WHERE k = 'x'").getInt(), 7);
}

}  // namespace
}  // namespace mitos::sqlite

// --- Storage failures ------------------------------------------------------

namespace mitos::sqlite {
namespace {

using ::testing::Not;

// Returns mitos_db_errors_total{module, op, reason}.
uint64_t Errors(const std::string& module, const char* op,
                const char* reason) {
  return metrics::Registry::Default()
      .Counters("mitos_db_errors_total", "", {"module", "op", "reason"})
      .With({module, op, reason})
      .value();
}

// Returns the Status of the failure of `fn`, or nullopt if it succeeded.
template <typename F>
std::optional<Status> FailureOf(F&& fn) {
  try {
    fn();
  } catch (const SQLite::Exception& e) {
    return StatusFor(e);
  }
  return std::nullopt;
}

int64_t InsertKv(Connection& c, const std::string& k) {
  auto& st = c.Prepare("INSERT INTO kv (k, v) VALUES (?, 'v')");
  st.bind(1, k);
  st.exec();
  return c.db().getLastInsertRowid();
}

TEST(StatusForTest, ClassifiesEachKindOfFailure) {
  const std::vector<std::pair<int, StatusCode>> cases = {
      {SQLITE_FULL, StatusCode::kInsufficientStorage},
      {SQLITE_BUSY, StatusCode::kStorageUnavailable},
      {SQLITE_LOCKED, StatusCode::kStorageUnavailable},
      {SQLITE_IOERR, StatusCode::kStorageUnavailable},
      {SQLITE_IOERR_WRITE, StatusCode::kStorageUnavailable},
      {SQLITE_IOERR_FSYNC, StatusCode::kStorageUnavailable},
      {SQLITE_CANTOPEN, StatusCode::kStorageUnavailable},
      {SQLITE_READONLY, StatusCode::kStorageReadOnly},
      {SQLITE_READONLY_DBMOVED, StatusCode::kStorageReadOnly},
      {SQLITE_PERM, StatusCode::kStorageReadOnly},
      {SQLITE_CORRUPT, StatusCode::kStorageCorrupt},
      {SQLITE_NOTADB, StatusCode::kStorageCorrupt},
      {SQLITE_ERROR, StatusCode::kInternal},
      {SQLITE_CONSTRAINT_CHECK, StatusCode::kInternal},
      {SQLITE_MISUSE, StatusCode::kInternal},
      {-1, StatusCode::kInternal},  // SQLiteCpp's own errors
  };
  for (const auto& [code, want] : cases) {
    Status s =
        StatusFor(SQLite::Exception("/data/users.db: disk I/O error", code));
    EXPECT_EQ(s.code(), want) << code << ": " << s.ToString();
    // The message is for clients: neither the file nor SQLite's words.
    EXPECT_FALSE(s.message().empty()) << code;
    EXPECT_THAT(s.message(), Not(HasSubstr("/data"))) << code;
    EXPECT_THAT(s.message(), Not(HasSubstr("users.db"))) << code;
    EXPECT_THAT(s.message(), Not(HasSubstr("I/O error"))) << code;
    EXPECT_THAT(s.message(), Not(HasSubstr("SQLITE"))) << code;
  }
}

TEST_F(DatabaseTest, ALockHeldPastTheBusyTimeoutIsStorageUnavailable) {
  Options options;
  options.name = "busy_test";
  options.busy_timeout_ms = 0;  // fail at once instead of waiting
  std::unique_ptr<Database> db = OpenOk(KvMigrations(), options);
  ASSERT_NE(db, nullptr);
  const uint64_t before = Errors("busy_test", "write", "busy");

  SQLite::Database other(path_, SQLite::OPEN_READWRITE);
  other.exec("BEGIN IMMEDIATE");
  auto failure = FailureOf(
      [&] { db->WriteTx([](Connection& c) { return InsertKv(c, "k"); }); });
  other.exec("ROLLBACK");
  ASSERT_TRUE(failure) << "the write did not fail";
  EXPECT_EQ(failure->code(), StatusCode::kStorageUnavailable);
  EXPECT_EQ(Errors("busy_test", "write", "busy"), before + 1);

  // The lock gone, the same writer writes again.
  EXPECT_FALSE(FailureOf(
      [&] { db->WriteTx([](Connection& c) { return InsertKv(c, "k"); }); }));
}

TEST_F(DatabaseTest, AUniquenessConflictIsNoStorageFailure) {
  Options options;
  options.name = "unique_test";
  std::unique_ptr<Database> db = OpenOk(KvMigrations(), options);
  ASSERT_NE(db, nullptr);
  auto total = [] {
    uint64_t n = 0;
    for (const char* op : {"read", "write", "checkpoint"}) {
      for (const char* r : {"full", "busy", "io", "read_only", "cant_open",
                            "corrupt", "other"}) {
        n += Errors("unique_test", op, r);
      }
    }
    return n;
  };
  const uint64_t before = total();
  db->WriteTx([](Connection& c) { return InsertKv(c, "k"); });
  EXPECT_THROW(db->WriteTx([](Connection& c) { return InsertKv(c, "k"); }),
               SQLite::Exception);
  EXPECT_EQ(total(), before);
  // A statement that cannot compile is a bug, counted as "other".
  const uint64_t other = Errors("unique_test", "write", "other");
  EXPECT_THROW(db->WriteTx([](Connection& c) {
                 return c.db().exec("INSERT INTO nope VALUES (1)");
               }),
               SQLite::Exception);
  EXPECT_EQ(Errors("unique_test", "write", "other"), other + 1);
}

TEST_F(DatabaseTest, AReadOnlyFileServesReadsAndFailsWritesAsReadOnly) {
  Options options;
  options.name = "read_only_test";
  {
    std::unique_ptr<Database> db = OpenOk(KvMigrations(), options);
    ASSERT_NE(db, nullptr);
    db->WriteTx([](Connection& c) { return InsertKv(c, "k"); });
  }
  testing::ReadOnlyFile read_only(path_);
  if (!read_only.error().empty()) {
    GTEST_SKIP() << "cannot make the file read-only: " << read_only.error();
  }
  std::unique_ptr<Database> db = OpenOk(KvMigrations(), options);
  ASSERT_NE(db, nullptr);
  const uint64_t before = Errors("read_only_test", "write", "read_only");

  auto failure = FailureOf(
      [&] { db->WriteTx([](Connection& c) { return InsertKv(c, "j"); }); });
  ASSERT_TRUE(failure) << "a write to a read-only file succeeded";
  EXPECT_EQ(failure->code(), StatusCode::kStorageReadOnly);
  EXPECT_EQ(Errors("read_only_test", "write", "read_only"), before + 1);
  EXPECT_EQ(db->Read([](Connection& c) {
    return c.db().execAndGet("SELECT count(*) FROM kv").getInt();
  }),
            1);
}

TEST_F(DatabaseTest, ADamagedFileIsStorageCorrupt) {
  Options options;
  options.name = "corrupt_test";
  {
    std::unique_ptr<Database> db = OpenOk(KvMigrations(), options);
    ASSERT_NE(db, nullptr);
    for (int i = 0; i < 100; ++i) {
      db->WriteTx(
          [i](Connection& c) { return InsertKv(c, std::to_string(i)); });
    }
  }
  // Closing copied the log into the file: overwrite the table's root page.
  int root = 0, page_size = 0;
  {
    // Read-write: the last connection to close, it removes the log again.
    SQLite::Database raw(path_, SQLite::OPEN_READWRITE);
    root = raw.execAndGet("SELECT rootpage FROM sqlite_master WHERE name='kv'")
               .getInt();
    page_size = raw.execAndGet("PRAGMA page_size").getInt();
  }
  ASSERT_FALSE(std::filesystem::exists(path_ + "-wal"));
  {
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(root - 1) * page_size);
    const std::string garbage(static_cast<size_t>(page_size), '\xff');
    f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  std::unique_ptr<Database> db = OpenOk(KvMigrations(), options);
  ASSERT_NE(db, nullptr);
  const uint64_t before = Errors("corrupt_test", "read", "corrupt");
  auto failure = FailureOf([&] {
    db->Read([](Connection& c) {
      // Reads the table itself (a count would read the smaller index).
      return c.db().execAndGet("SELECT group_concat(v) FROM kv").getString();
    });
  });
  ASSERT_TRUE(failure) << "a damaged table was read";
  EXPECT_EQ(failure->code(), StatusCode::kStorageCorrupt);
  EXPECT_EQ(Errors("corrupt_test", "read", "corrupt"), before + 1);
}

// Returns the "storage error" lines of `module` in captured JSON log output.
std::vector<nlohmann::json> StorageErrorLines(const std::string& out,
                                              const std::string& module) {
  std::vector<nlohmann::json> lines;
  size_t start = 0;
  while (start < out.size()) {
    size_t end = out.find('\n', start);
    if (end == std::string::npos) end = out.size();
    auto j = nlohmann::json::parse(out.substr(start, end - start), nullptr,
                                   /*allow_exceptions=*/false);
    if (j.is_object() && j.value("msg", "") == "storage error" &&
        j.value("module", "") == module) {
      lines.push_back(std::move(j));
    }
    start = end + 1;
  }
  return lines;
}

TEST_F(DatabaseTest, AFailureIsLoggedWithTheFileAndSqlitesCodeAndMessage) {
  Options options;
  options.name = "log_test";
  options.busy_timeout_ms = 0;
  std::unique_ptr<Database> db = OpenOk(KvMigrations(), options);
  ASSERT_NE(db, nullptr);
  const uint64_t before = Errors("log_test", "write", "busy");
  SQLite::Database other(path_, SQLite::OPEN_READWRITE);
  other.exec("BEGIN IMMEDIATE");
  auto fail = [&] {
    EXPECT_TRUE(FailureOf([&] {
      db->WriteTx([](Connection& c) { return InsertKv(c, "k"); });
    }));
  };
  log::Configure(log::Level::kInfo, log::Format::kJson);
  ::testing::internal::CaptureStdout();
  for (int i = 0; i < 3; ++i) fail();
  // Past the rate limit, the next line says how many it left out.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  fail();
  log::Flush();
  const std::string out = ::testing::internal::GetCapturedStdout();
  other.exec("ROLLBACK");

  std::vector<nlohmann::json> lines = StorageErrorLines(out, "log_test");
  ASSERT_EQ(lines.size(), 2u) << out;
  const nlohmann::json& l = lines[0];
  EXPECT_EQ(l["level"], "warn");
  EXPECT_EQ(l["file"], path_);
  EXPECT_EQ(l["op"], "write");
  EXPECT_EQ(l["reason"], "busy");
  EXPECT_EQ(l["stage"], "begin");
  EXPECT_EQ(l["sqlite_code"], SQLITE_BUSY);
  EXPECT_THAT(l["error"].get<std::string>(), HasSubstr("locked"));
  EXPECT_FALSE(l.contains("suppressed"));
  EXPECT_EQ(lines[1]["suppressed"], 2);
  // Every failure is counted, logged or not.
  EXPECT_EQ(Errors("log_test", "write", "busy"), before + 4);
}

}  // namespace
}  // namespace mitos::sqlite

// --- Failures inside a batch ----------------------------------------------

namespace mitos::sqlite {
namespace {

// A VFS over the default one whose writes fail on demand, for failures a
// test cannot provoke on a real disk at the moment it wants them: a full
// disk or an I/O error at COMMIT (the writes of the log), or during a
// checkpoint (the writes of the database file). It is the default VFS
// while it lives, so the Database opened meanwhile uses it.
class FaultyVfs {
 public:
  enum class Target { kNone, kLog, kFile };

  FaultyVfs() {
    base_ = sqlite3_vfs_find(nullptr);
    vfs_ = *base_;
    vfs_.zName = "mitos-faulty";
    vfs_.szOsFile = static_cast<int>(sizeof(File)) + base_->szOsFile;
    vfs_.xOpen = &OpenFile;
    vfs_.pNext = nullptr;
    current_ = this;
    sqlite3_vfs_register(&vfs_, /*makeDflt=*/1);
  }
  ~FaultyVfs() {
    sqlite3_vfs_unregister(&vfs_);
    sqlite3_vfs_register(base_, /*makeDflt=*/1);
    current_ = nullptr;
  }
  FaultyVfs(const FaultyVfs&) = delete;
  FaultyVfs& operator=(const FaultyVfs&) = delete;

  // From now on, every write to `target` fails with `rc`.
  void FailWrites(Target target, int rc) {
    rc_ = rc;
    target_ = target;
  }
  void Heal() { target_ = Target::kNone; }

 private:
  struct File {
    sqlite3_file base;  // first: SQLite sees a File as an sqlite3_file
    sqlite3_file* real;
    Target target;
  };

  static sqlite3_file* Real(sqlite3_file* f) {
    return reinterpret_cast<File*>(f)->real;
  }

  static int OpenFile(sqlite3_vfs*, const char* name, sqlite3_file* file,
                      int flags, int* out_flags) {
    auto* f = reinterpret_cast<File*>(file);
    f->real = reinterpret_cast<sqlite3_file*>(f + 1);
    f->target = (flags & SQLITE_OPEN_WAL)       ? Target::kLog
                : (flags & SQLITE_OPEN_MAIN_DB) ? Target::kFile
                                                : Target::kNone;
    sqlite3_vfs* base = current_->base_;
    int rc = base->xOpen(base, name, f->real, flags, out_flags);
    f->base.pMethods = rc == SQLITE_OK ? &kMethods : nullptr;
    return rc;
  }

  static int Write(sqlite3_file* file, const void* p, int n,
                   sqlite3_int64 off) {
    auto* f = reinterpret_cast<File*>(file);
    if (f->target != Target::kNone && f->target == current_->target_.load()) {
      return current_->rc_.load();
    }
    return f->real->pMethods->xWrite(f->real, p, n, off);
  }

  // The other methods forward to the real file.
  static int Close(sqlite3_file* f) {
    return Real(f)->pMethods->xClose(Real(f));
  }
  static int Read(sqlite3_file* f, void* p, int n, sqlite3_int64 off) {
    return Real(f)->pMethods->xRead(Real(f), p, n, off);
  }
  static int Truncate(sqlite3_file* f, sqlite3_int64 size) {
    return Real(f)->pMethods->xTruncate(Real(f), size);
  }
  static int Sync(sqlite3_file* f, int flags) {
    return Real(f)->pMethods->xSync(Real(f), flags);
  }
  static int FileSize(sqlite3_file* f, sqlite3_int64* size) {
    return Real(f)->pMethods->xFileSize(Real(f), size);
  }
  static int Lock(sqlite3_file* f, int level) {
    return Real(f)->pMethods->xLock(Real(f), level);
  }
  static int Unlock(sqlite3_file* f, int level) {
    return Real(f)->pMethods->xUnlock(Real(f), level);
  }
  static int CheckReservedLock(sqlite3_file* f, int* out) {
    return Real(f)->pMethods->xCheckReservedLock(Real(f), out);
  }
  static int FileControl(sqlite3_file* f, int op, void* arg) {
    return Real(f)->pMethods->xFileControl(Real(f), op, arg);
  }
  static int SectorSize(sqlite3_file* f) {
    return Real(f)->pMethods->xSectorSize(Real(f));
  }
  static int DeviceCharacteristics(sqlite3_file* f) {
    return Real(f)->pMethods->xDeviceCharacteristics(Real(f));
  }
  static int ShmMap(sqlite3_file* f, int region, int size, int extend,
                    void volatile** p) {
    return Real(f)->pMethods->xShmMap(Real(f), region, size, extend, p);
  }
  static int ShmLock(sqlite3_file* f, int offset, int n, int flags) {
    return Real(f)->pMethods->xShmLock(Real(f), offset, n, flags);
  }
  static void ShmBarrier(sqlite3_file* f) {
    Real(f)->pMethods->xShmBarrier(Real(f));
  }
  static int ShmUnmap(sqlite3_file* f, int remove) {
    return Real(f)->pMethods->xShmUnmap(Real(f), remove);
  }
  static int Fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** p) {
    return Real(f)->pMethods->xFetch(Real(f), off, n, p);
  }
  static int Unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
    return Real(f)->pMethods->xUnfetch(Real(f), off, p);
  }

  static constexpr sqlite3_io_methods kMethods = {
      3,         &Close,   &Read,   &Write,           &Truncate,
      &Sync,     &FileSize, &Lock,  &Unlock,          &CheckReservedLock,
      &FileControl, &SectorSize, &DeviceCharacteristics, &ShmMap,
      &ShmLock,  &ShmBarrier, &ShmUnmap, &Fetch,       &Unfetch};

  static inline FaultyVfs* current_ = nullptr;
  sqlite3_vfs* base_;
  sqlite3_vfs vfs_;
  std::atomic<Target> target_{Target::kNone};
  std::atomic<int> rc_{SQLITE_OK};
};

class BatchFaultTest : public ::testing::Test {
 protected:
  void TearDown() override {
    vfs_.Heal();
    db_.reset();
  }

  // Opens b.db (table t) as module `name`.
  void Open(const std::string& name, int64_t max_page_count = 0) {
    Options options;
    options.name = name;
    options.max_page_count = max_page_count;
    auto db = Database::Open(
        (dir_.path() / "b.db").string(), options,
        {{1, "t", "CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB NOT NULL)"}});
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(*db);
  }

  // Queues an insert of (k, `bytes` bytes) and returns its answer to come,
  // mapped as a store maps it.
  std::future<Status> Insert(std::string k, size_t bytes = 8) {
    auto answer = std::make_shared<std::promise<Status>>();
    std::future<Status> f = answer->get_future();
    db_->WriteTxAsync<Status>(
        [k = std::move(k), bytes](Connection& c) {
          auto& st = c.Prepare("INSERT INTO t (k, v) VALUES (?, ?)");
          st.bind(1, k);
          st.bind(2, std::string(bytes, 'v'));
          st.exec();
          return Status::Ok();
        },
        [](const SQLite::Exception& e) {
          return IsUniqueViolation(e) ? Status::AlreadyExists("taken")
                                      : StatusFor(e);
        },
        [answer](Status s) { answer->set_value(std::move(s)); });
    return f;
  }

  static Status Answer(std::future<Status>& f) {
    if (f.wait_for(kGuard) != std::future_status::ready) {
      return Status::Internal("no answer");
    }
    return f.get();
  }

  // Holds the writer thread inside a write of its own until the returned
  // function is called, so that the writes queued meanwhile make one batch.
  std::function<void()> HoldTheWriter() {
    auto entered = std::make_shared<std::promise<void>>();
    auto release = std::make_shared<std::promise<void>>();
    db_->WriteTxAsync<Status>(
        [entered, go = release->get_future().share()](Connection&) {
          entered->set_value();
          go.wait_for(kGuard);
          return Status::Ok();
        },
        StatusFor, [](Status) {});
    entered->get_future().wait_for(kGuard);
    return [release] { release->set_value(); };
  }

  std::vector<std::string> Keys() {
    return db_->Read([](Connection& c) {
      std::vector<std::string> out;
      SQLite::Statement q(c.db(), "SELECT k FROM t ORDER BY k");
      while (q.executeStep()) out.push_back(q.getColumn(0).getString());
      return out;
    });
  }

  std::string IntegrityCheck() {
    return db_->Read([](Connection& c) {
      return c.db().execAndGet("PRAGMA integrity_check").getString();
    });
  }

  FaultyVfs vfs_;  // first: it must outlive every connection
  testing::TempDir dir_;
  std::unique_ptr<Database> db_;
};

TEST_F(BatchFaultTest, AFullDiskAtCommitFailsEveryWriteOfTheBatch) {
  Open("commit_full_test");
  auto first = Insert("dup");
  ASSERT_TRUE(Answer(first).ok());
  const uint64_t before = Errors("commit_full_test", "write", "full");

  auto release = HoldTheWriter();
  auto a = Insert("a");
  auto dup = Insert("dup");  // fails on its own, before the commit
  auto b = Insert("b");
  vfs_.FailWrites(FaultyVfs::Target::kLog, SQLITE_FULL);
  release();

  EXPECT_EQ(Answer(a).code(), StatusCode::kInsufficientStorage);
  EXPECT_EQ(Answer(b).code(), StatusCode::kInsufficientStorage);
  EXPECT_EQ(Answer(dup).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(Errors("commit_full_test", "write", "full"), before + 2);
  EXPECT_THAT(Keys(), ElementsAre("dup"));  // reads go on

  // Space back, the same writer commits again.
  vfs_.Heal();
  auto c = Insert("c");
  EXPECT_TRUE(Answer(c).ok());
  EXPECT_THAT(Keys(), ElementsAre("c", "dup"));
  EXPECT_EQ(IntegrityCheck(), "ok");
}

TEST_F(BatchFaultTest, AnIoErrorAtCommitIsStorageUnavailableForTheBatch) {
  Open("commit_io_test");
  const uint64_t before = Errors("commit_io_test", "write", "io");
  auto release = HoldTheWriter();
  std::vector<std::future<Status>> answers;
  for (int i = 0; i < 10; ++i) answers.push_back(Insert(std::to_string(i)));
  vfs_.FailWrites(FaultyVfs::Target::kLog, SQLITE_IOERR_WRITE);
  release();
  for (auto& a : answers) {
    EXPECT_EQ(Answer(a).code(), StatusCode::kStorageUnavailable);
  }
  EXPECT_EQ(Errors("commit_io_test", "write", "io"), before + 10);
  EXPECT_TRUE(Keys().empty());

  vfs_.Heal();
  auto ok = Insert("x");
  EXPECT_TRUE(Answer(ok).ok());
  EXPECT_THAT(Keys(), ElementsAre("x"));
  EXPECT_EQ(IntegrityCheck(), "ok");
}

TEST_F(BatchFaultTest, AWriteThatFillsTheFileFailsAloneAndItsBatchCommits) {
  Open("savepoint_full_test");
  db_.reset();
  // A limit below the file's size keeps the file at its size: small rows
  // still fit in the table's page, a big one needs pages of its own.
  Open("savepoint_full_test", /*max_page_count=*/1);
  const uint64_t before = Errors("savepoint_full_test", "write", "full");

  auto release = HoldTheWriter();
  auto a = Insert("a");
  auto big = Insert("big", 64 << 10);
  auto c = Insert("c");
  release();
  // SQLite undoes the whole transaction on SQLITE_FULL; "a" ran again.
  EXPECT_TRUE(Answer(a).ok());
  EXPECT_EQ(Answer(big).code(), StatusCode::kInsufficientStorage);
  EXPECT_TRUE(Answer(c).ok());
  EXPECT_THAT(Keys(), ElementsAre("a", "c"));
  EXPECT_EQ(Errors("savepoint_full_test", "write", "full"), before + 1);

  // Room made, the same writer takes the big row too.
  db_->Write([](Connection& w) { w.db().exec("PRAGMA max_page_count=100000"); });
  auto again = Insert("big", 64 << 10);
  EXPECT_TRUE(Answer(again).ok());
  EXPECT_THAT(Keys(), ElementsAre("a", "big", "c"));
  EXPECT_EQ(IntegrityCheck(), "ok");
}

TEST_F(BatchFaultTest, AFailedCheckpointIsCountedAndWritesGoOn) {
  Open("checkpoint_io_test");
  const uint64_t before = Errors("checkpoint_io_test", "checkpoint", "io");
  vfs_.FailWrites(FaultyVfs::Target::kFile, SQLITE_IOERR_WRITE);
  // 1,500 rows of 4 KiB are about 3,000 log pages; past 1,000 the
  // checkpointer copies the log into the file, whose writes fail.
  std::vector<std::future<Status>> answers;
  for (int i = 0; i < 1500; ++i) {
    answers.push_back(Insert(std::to_string(i), 4096));
  }
  for (auto& a : answers) ASSERT_TRUE(Answer(a).ok());
  const auto deadline = std::chrono::steady_clock::now() + kGuard;
  while (Errors("checkpoint_io_test", "checkpoint", "io") == before &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GT(Errors("checkpoint_io_test", "checkpoint", "io"), before);
  vfs_.Heal();
  auto more = Insert("more");
  EXPECT_TRUE(Answer(more).ok());
  EXPECT_EQ(Keys().size(), 1501u);
  EXPECT_EQ(IntegrityCheck(), "ok");
}

}  // namespace
}  // namespace mitos::sqlite
