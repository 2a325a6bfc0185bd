// The bus and the outbox and inbox, the same tests on each backend: SQLite
// on temporary files, PostgreSQL 15 on the server that the ctest fixture
// starts (tests/support/postgres.sh), reached through
// MITOS_TEST_POSTGRES_URL, with a database and a role of its own for the
// producer and for the consumer of each test. The PostgreSQL tests fail,
// not skip, when the server is missing.
#include "mitos/events/bus.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "mitos/events/admin.h"
#include "mitos/events/event.h"
#include "mitos/io/task.h"
#include "mitos/storage/postgres.h"
#include "mitos/storage/sqlite.h"
#include "mitos/storage/storage.h"
#include "mitos_testing/instance.h"

namespace mitos::events {
namespace {

using storage::Backend;
using storage::Database;
using storage::Tx;

// ---- PostgreSQL administration, for the tests' own databases ----

constexpr const char* kPassword = "mitos-test-pw";

// Runs `sql` as the fixture's superuser.
void Admin(const std::string& url, const std::string& sql) {
  PGconn* c = PQconnectdb(url.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    ADD_FAILURE() << "cannot connect as the superuser: " << PQerrorMessage(c);
    PQfinish(c);
    return;
  }
  PGresult* r = PQexec(c, sql.c_str());
  if (PQresultStatus(r) != PGRES_COMMAND_OK) {
    ADD_FAILURE() << sql << ": " << PQresultErrorMessage(r);
  }
  PQclear(r);
  PQfinish(c);
}

// A database owned by a role of its own, dropped with the object.
class PgDatabase {
 public:
  PgDatabase() {
    const char* url = std::getenv("MITOS_TEST_POSTGRES_URL");
    if (url == nullptr || *url == '\0') {
      ADD_FAILURE() << "MITOS_TEST_POSTGRES_URL is not set: run these tests "
                       "through ctest, whose fixture starts PostgreSQL "
                       "(tests/support/postgres.sh)";
      return;
    }
    admin_ = url;
    static std::atomic<int> n{0};
    std::random_device rd;
    name_ = "ev" + std::to_string(getpid()) + "_" + std::to_string(n++) + "_" +
            std::to_string(rd() % 100000);
    Admin(admin_, "CREATE ROLE " + name_ + " LOGIN PASSWORD '" + kPassword + "'");
    Admin(admin_, "CREATE DATABASE " + name_ + " OWNER " + name_);
    size_t host = admin_.rfind('@') + 1;
    size_t slash = admin_.find('/', host);
    url_ = "postgresql://" + name_ + ":" + kPassword + "@" +
           admin_.substr(host, slash - host) + "/" + name_;
  }
  ~PgDatabase() {
    if (name_.empty()) return;
    Admin(admin_, "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    Admin(admin_, "DROP ROLE IF EXISTS " + name_);
  }
  const std::string& url() const { return url_; }

 private:
  std::string admin_;
  std::string name_;
  std::string url_;
};

// ---- the tests ----

const std::vector<storage::Migration>& ProducerMigrations() {
  static const std::vector<storage::Migration> kMigrations = {
      OutboxMigration(1),
      // A table of the producer's own, to fail a write after its Append.
      {2, "things", "CREATE TABLE things (name TEXT PRIMARY KEY)"},
  };
  return kMigrations;
}

const std::vector<storage::Migration>& ConsumerMigrations() {
  static const std::vector<storage::Migration> kMigrations = {
      InboxMigration(1),
      {2, "effects", "",
       "CREATE TABLE effects (n INTEGER PRIMARY KEY AUTOINCREMENT, "
       "event_id TEXT NOT NULL, key TEXT NOT NULL, payload TEXT NOT NULL)",
       "CREATE TABLE effects (n BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY "
       "KEY, event_id TEXT NOT NULL, key TEXT NOT NULL, payload TEXT NOT NULL)"},
  };
  return kMigrations;
}

// A producer's and a consumer's storage. The consumer's effect is one row
// per handled event in `effects` (so that a second effect of one event
// would show as a second row).
class BusTest : public ::testing::TestWithParam<Backend> {
 protected:
  bool pg() const { return GetParam() == Backend::kPostgres; }

  void SetUp() override {
    producer_ = Open("producer", ProducerMigrations());
    ASSERT_NE(producer_, nullptr);
    consumer_ = Open("consumer", ConsumerMigrations());
    ASSERT_NE(consumer_, nullptr);
  }

  std::unique_ptr<Database> Open(const std::string& name,
                                 const std::vector<storage::Migration>& m) {
    StatusOr<std::unique_ptr<Database>> db = Status::Internal("unopened");
    if (pg()) {
      servers_.push_back(std::make_unique<PgDatabase>());
      if (servers_.back()->url().empty()) return nullptr;
      postgres::Options o;
      o.name = name;
      o.url = servers_.back()->url();
      db = postgres::Open(o, m);
    } else {
      sqlite::Options o;
      o.name = name;
      db = storage::OpenSqlite(Path(name), o, m);
    }
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    return db.ok() ? std::move(*db) : nullptr;
  }

  // Opens the storage `name` opened earlier again, as a tool does: no
  // migrations, the schema as found.
  std::unique_ptr<Database> OpenAsFound(const std::string& name) {
    StatusOr<std::unique_ptr<Database>> db = Status::Internal("unopened");
    if (pg()) {
      postgres::Options o;
      o.name = name + "-tool";
      o.url = servers_[name == "producer" ? 0 : 1]->url();
      o.migrate = false;
      db = postgres::Open(o, {});
    } else {
      sqlite::Options o;
      o.name = name + "-tool";
      o.migrate = false;
      db = storage::OpenSqlite(Path(name), o, {});
    }
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    if (db.ok()) EXPECT_GT((*db)->schema_version(), 0);
    return db.ok() ? std::move(*db) : nullptr;
  }

  std::string Path(const std::string& name) const {
    return (dir_.path() / (name + ".db")).string();
  }

  static BusOptions Fast() {
    BusOptions o;
    o.max_attempts = 3;
    o.backoff_base = std::chrono::milliseconds(5);
    o.backoff_max = std::chrono::milliseconds(20);
    o.poll_interval = std::chrono::milliseconds(10);
    return o;
  }

  // The handler: writes the effect row, unless `fail` says otherwise.
  Handler Effect(std::function<bool(const Event&)> fail = nullptr) {
    return [this, fail](const Event& e, Tx& tx) {
      ++calls_;
      tx.Exec(
          "INSERT INTO effects (event_id, key, payload) VALUES ($1, $2, $3)",
          {e.id, e.key, e.payload});
      if (fail && fail(e)) return Status::Unavailable("not now");
      return Status::Ok();
    };
  }

  Status Write(Database& db, std::function<Status(Tx&)> fn) {
    return Wait(storage::Write<Status>(db, std::move(fn)));
  }

  void Publish(const Event& e) {
    ASSERT_TRUE(Write(*producer_, [&e](Tx& tx) {
                  Outbox(tx).Append(e);
                  return Status::Ok();
                }).ok());
  }

  int64_t Count(Database& db, const char* sql) {
    auto n = Wait(storage::Read<StatusOr<int64_t>>(
        db, [sql](Tx& tx) -> StatusOr<int64_t> { return tx.Int(sql).value_or(-1); }));
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return n.ok() ? *n : -1;
  }

  template <typename T>
  std::vector<T> Column(Database& db, const char* sql) {
    auto rows = Wait(storage::Read<StatusOr<std::vector<T>>>(
        db, [sql](Tx& tx) -> StatusOr<std::vector<T>> {
          return tx.All<T>(sql, {}, [](const storage::Row& r) {
            if constexpr (std::is_same_v<T, std::string>) {
              return r.String(0);
            } else {
              return std::make_pair(r.String(0), r.String(1));
            }
          });
        }));
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    return rows.ok() ? *rows : std::vector<T>{};
  }

  // Waits (at most 20 s) until `done`; returns whether it became true.
  static bool Eventually(const std::function<bool()>& done) {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < until) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return done();
  }

  bool OutboxEmpty() {
    return Count(*producer_, "SELECT count(*) FROM mitos_outbox") == 0;
  }

  testing::TempDir dir_;
  std::vector<std::unique_ptr<PgDatabase>> servers_;  // outlive the storages
  std::unique_ptr<Database> producer_;
  std::unique_ptr<Database> consumer_;
  std::atomic<int> calls_{0};

  void TearDown() override {
    producer_.reset();
    consumer_.reset();
  }
};

// Test names end in /Sqlite or /Postgres; ctest runs the second set with
// the PostgreSQL fixture.
INSTANTIATE_TEST_SUITE_P(Backends, BusTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const ::testing::TestParamInfo<Backend>& p) {
                           return std::string(p.param == Backend::kPostgres
                                                  ? "Postgres"
                                                  : "Sqlite");
                         });

TEST_P(BusTest, EveryEventHasItsEffectOnceInOrderPerKey) {
  Bus bus(Fast());
  Notifier notify = bus.AddOutbox("producer", producer_.get());
  bus.Subscribe("producer.Thing", "consumer", consumer_.get(), Effect());
  bus.Start();
  for (int i = 0; i < 200; ++i) {
    Publish(Make("producer.Thing", "k" + std::to_string(i % 7), std::to_string(i)));
    if (i % 50 == 0) notify();
  }
  notify();
  ASSERT_TRUE(Eventually([&] { return OutboxEmpty(); }));
  bus.Stop();
  EXPECT_EQ(Count(*consumer_, "SELECT count(*) FROM effects"), 200);
  EXPECT_EQ(Count(*consumer_, "SELECT count(DISTINCT event_id) FROM effects"), 200);
  EXPECT_EQ(Count(*consumer_, "SELECT count(*) FROM mitos_inbox"), 200);
  // Within a key, effects follow publication order.
  std::map<std::string, int> last;
  bool in_order = true;
  for (const auto& [k, payload] : Column<std::pair<std::string, std::string>>(
           *consumer_, "SELECT key, payload FROM effects ORDER BY n")) {
    int v = std::stoi(payload);
    if (last.count(k) && last[k] > v) in_order = false;
    last[k] = v;
  }
  EXPECT_TRUE(in_order);
  EXPECT_EQ(last.size(), 7u);
}

TEST_P(BusTest, AnInjectedDuplicateHasNoSecondEffect) {
  Bus bus(Fast());
  bus.AddOutbox("producer", producer_.get());
  bus.Subscribe("producer.Thing", "consumer", consumer_.get(), Effect());
  bus.Start();
  Event e = Make("producer.Thing", "k", "{}");
  Publish(e);
  ASSERT_TRUE(Eventually([&] { return OutboxEmpty(); }));
  // The same event again, as after a crash between the consumer's commit
  // and the outbox's, or from a second relay.
  Publish(e);
  Publish(e);
  ASSERT_TRUE(Eventually([&] { return OutboxEmpty(); }));
  EXPECT_EQ(bus.Deliver(e, "consumer").code(), StatusCode::kOk);
  bus.Stop();
  EXPECT_EQ(Count(*consumer_, "SELECT count(*) FROM effects"), 1);
  EXPECT_EQ(calls_.load(), 1);
}

TEST_P(BusTest, AFailedDeliveryIsRetriedRolledBackAndHoldsItsKey) {
  std::atomic<int> failures_left{2};
  Bus bus(Fast());
  bus.AddOutbox("producer", producer_.get());
  bus.Subscribe("producer.Thing", "consumer", consumer_.get(),
                Effect([&](const Event& e) {
                  return e.payload == "first" && failures_left.fetch_sub(1) > 0;
                }));
  Publish(Make("producer.Thing", "k", "first"));
  Publish(Make("producer.Thing", "k", "second"));
  bus.Start();
  ASSERT_TRUE(Eventually([&] { return OutboxEmpty(); }));
  bus.Stop();
  // Two failed attempts wrote nothing that stayed; then one effect each, in
  // order.
  EXPECT_EQ(calls_.load(), 4);
  EXPECT_EQ(Column<std::string>(*consumer_, "SELECT payload FROM effects ORDER BY n"),
            (std::vector<std::string>{"first", "second"}));
}

// Events are delivered many to a transaction; one that fails takes the
// others of its batch with it only until they are delivered one by one.
TEST_P(BusTest, AFailureInABatchHoldsOnlyItsOwnKey) {
  std::atomic<bool> b_fails{true};
  BusOptions o = Fast();
  o.max_attempts = 100000;  // b1 stays pending however long this takes
  Bus bus(o);
  bus.AddOutbox("producer", producer_.get());
  bus.Subscribe("producer.Thing", "consumer", consumer_.get(),
                Effect([&](const Event& e) { return e.payload == "b1" && b_fails.load(); }));
  for (const char* p : {"a1", "b1", "c1", "a2", "b2", "c2"}) {
    Publish(Make("producer.Thing", std::string(1, p[0]), p));
  }
  bus.Start();
  auto effects = [&] {
    return Column<std::string>(*consumer_, "SELECT payload FROM effects ORDER BY n");
  };
  ASSERT_TRUE(Eventually([&] { return effects().size() == 4; }));
  EXPECT_EQ(effects(), (std::vector<std::string>{"a1", "c1", "a2", "c2"}));
  // b1 failed (an attempt each time); b2 waits behind it untouched.
  ASSERT_TRUE(Eventually([&] {
    return Count(*producer_,
                 "SELECT count(*) FROM mitos_outbox WHERE payload = 'b1' AND "
                 "attempts >= 1") == 1;
  }));
  EXPECT_EQ(Count(*producer_,
                  "SELECT count(*) FROM mitos_outbox WHERE payload = 'b2' AND "
                  "attempts = 0"),
            1);
  b_fails = false;
  ASSERT_TRUE(Eventually([&] { return OutboxEmpty(); }));
  bus.Stop();
  EXPECT_EQ(effects(), (std::vector<std::string>{"a1", "c1", "a2", "c2", "b1", "b2"}));
  EXPECT_EQ(Count(*consumer_, "SELECT count(*) FROM mitos_inbox"), 6);
}

TEST_P(BusTest, TheRelayTakesAPassAtOnceAndAnEventGoesOnOnlyOnceItTookIt) {
  BusOptions o = Fast();
  o.delivery_batch = 16;
  Bus bus(o);
  bus.AddOutbox("producer", producer_.get());
  std::mutex mu;
  std::vector<std::vector<std::string>> calls;  // the ids of each call
  std::set<std::string> taken;
  bus.SetRelay([&](const std::vector<const Event*>& events, size_t* published) {
    std::lock_guard<std::mutex> lock(mu);
    calls.emplace_back();
    for (const Event* e : events) calls.back().push_back(e->id);
    // The first call: the broker takes 30, then goes away.
    *published = calls.size() == 1 ? std::min<size_t>(30, events.size()) : events.size();
    for (size_t i = 0; i < *published; ++i) taken.insert(events[i]->id);
    return *published == events.size() ? Status::Ok() : Status::Unavailable("broker gone");
  });
  std::atomic<int> untaken{0};  // local effects of events the relay did not take
  Handler effect = Effect();
  bus.Subscribe("producer.Thing", "consumer", consumer_.get(), [&](const Event& e, Tx& tx) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!taken.count(e.id)) ++untaken;
    }
    return effect(e, tx);
  });
  std::vector<std::string> ids;
  for (int i = 0; i < 100; ++i) {
    Event e = Make("producer.Thing", "k" + std::to_string(i % 5), std::to_string(i));
    ids.push_back(e.id);
    Publish(e);
  }
  bus.Start();
  ASSERT_TRUE(Eventually([&] { return OutboxEmpty(); }));
  bus.Stop();
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_GE(calls.size(), 2u);
  // One call for the whole pass, in outbox order; after the refusal the
  // outbox offers again from the first event the broker did not take.
  EXPECT_EQ(calls[0], ids);
  ASSERT_FALSE(calls[1].empty());
  EXPECT_EQ(calls[1].front(), ids[30]);
  EXPECT_EQ(untaken.load(), 0);
  EXPECT_EQ(taken.size(), 100u);
  EXPECT_EQ(Count(*consumer_, "SELECT count(*) FROM effects"), 100);
  EXPECT_EQ(Count(*consumer_, "SELECT count(DISTINCT event_id) FROM effects"), 100);
  // Within a key (i % 5), effects follow publication order.
  std::map<std::string, int> last;
  for (const auto& [k, payload] : Column<std::pair<std::string, std::string>>(
           *consumer_, "SELECT key, payload FROM effects ORDER BY n")) {
    int v = std::stoi(payload);
    if (last.count(k)) EXPECT_LT(last[k], v) << "key " << k;
    last[k] = v;
  }
  EXPECT_EQ(last.size(), 5u);
}

TEST_P(BusTest, ADeliveredBatchHasEachEffectOnce) {
  Bus bus(Fast());
  bus.Subscribe("producer.Thing", "consumer", consumer_.get(), Effect());
  std::vector<Event> batch;
  for (int i = 0; i < 5; ++i) {
    batch.push_back(Make("producer.Thing", "k", std::to_string(i)));
  }
  ASSERT_TRUE(bus.DeliverBatch({batch[0], batch[1]}, "consumer").ok());
  // Again, overlapping: the two it had are skipped.
  ASSERT_TRUE(bus.DeliverBatch(batch, "consumer").ok());
  EXPECT_EQ(Column<std::string>(*consumer_, "SELECT payload FROM effects ORDER BY n"),
            (std::vector<std::string>{"0", "1", "2", "3", "4"}));
  EXPECT_EQ(calls_.load(), 5);
  batch.push_back(Make("producer.Other", "k", "x"));
  EXPECT_EQ(bus.DeliverBatch(batch, "consumer").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bus.DeliverBatch({}, "consumer").code(), StatusCode::kOk);
}

TEST_P(BusTest, AHandlerThatThrowsIsAFailedDeliveryAndWritesNothing) {
  Bus bus(Fast());
  bus.Subscribe("producer.Thing", "consumer", consumer_.get(),
                [](const Event& e, Tx& tx) -> Status {
                  tx.Exec("INSERT INTO effects (event_id, key, payload) "
                          "VALUES ($1, $2, $3)",
                          {e.id, e.key, e.payload});
                  throw std::runtime_error("boom");
                });
  Event e = Make("producer.Thing", "k", "{}");
  Status s = bus.Deliver(e, "consumer");
  EXPECT_EQ(s.code(), StatusCode::kInternal) << s.ToString();
  EXPECT_EQ(Count(*consumer_, "SELECT count(*) FROM effects"), 0);
  EXPECT_EQ(Count(*consumer_, "SELECT count(*) FROM mitos_inbox"), 0);
  EXPECT_EQ(bus.Deliver(e, "nobody").code(), StatusCode::kNotFound);
}

TEST_P(BusTest, AfterMaxAttemptsAnEventIsDeadAndCanBeRetriedOrDropped) {
  std::atomic<bool> broken{true};
  Bus bus(Fast());
  bus.AddOutbox("producer", producer_.get());
  bus.Subscribe("producer.Thing", "consumer", consumer_.get(),
                Effect([&](const Event& e) { return e.key == "bad" && broken; }));
  Event bad = Make("producer.Thing", "bad", "poison");
  Event behind = Make("producer.Thing", "bad", "behind");
  Publish(bad);
  Publish(behind);
  Publish(Make("producer.Thing", "good", "fine"));
  bus.Start();
  // The dead event no longer holds its key: the one behind it fails on its
  // own (same handler), and the other key is delivered.
  ASSERT_TRUE(Eventually([&] {
    return Count(*producer_, "SELECT count(*) FROM mitos_outbox WHERE state = 'dead'") == 2;
  }));
  auto stats = bus.Stats();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].module, "producer");
  EXPECT_EQ(stats[0].dead, 2);
  EXPECT_EQ(stats[0].pending, 0);
  EXPECT_EQ(Count(*producer_,
                  "SELECT count(*) FROM mitos_outbox WHERE attempts = 3 AND "
                  "last_error LIKE '%consumer: not now%'"),
            2);

  broken = false;
  {
    // As `mitos events` does it: the module's storage opened by a tool,
    // with connections of its own, as found.
    std::unique_ptr<Database> tool = OpenAsFound("producer");
    ASSERT_NE(tool, nullptr);
    auto dead = ListDead(*tool);
    ASSERT_TRUE(dead.ok()) << dead.status().ToString();
    ASSERT_EQ(dead->size(), 2u);
    EXPECT_EQ((*dead)[0].id, bad.id);
    EXPECT_EQ((*dead)[0].attempts, 3);
    EXPECT_NE((*dead)[0].last_error.find("consumer: not now"), std::string::npos);
    ASSERT_TRUE(RetryDead(*tool, bad.id).ok());
    ASSERT_TRUE(DropDead(*tool, (*dead)[1].id).ok());
    EXPECT_EQ(DropDead(*tool, "nope").code(), StatusCode::kNotFound);
  }
  ASSERT_TRUE(Eventually([&] { return OutboxEmpty(); }));
  bus.Stop();
  EXPECT_EQ(Count(*consumer_, "SELECT count(*) FROM effects"), 2);  // fine, poison
  EXPECT_EQ(RetryDead(*producer_, bad.id).code(), StatusCode::kNotFound);
  // A database with no outbox has no dead events.
  auto none = ListDead(*consumer_);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());
}

TEST_P(BusTest, EventsWaitForTheDispatchDelayAndSurviveARestart) {
  Event e = Make("producer.Thing", "k", "{}");
  {
    BusOptions o = Fast();
    o.dispatch_delay = std::chrono::hours(1);
    Bus bus(o);
    bus.AddOutbox("producer", producer_.get());
    bus.Subscribe("producer.Thing", "consumer", consumer_.get(), Effect());
    bus.Start();
    Publish(e);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(calls_.load(), 0);
    auto stats = bus.Stats();
    ASSERT_EQ(stats.size(), 1u);
    EXPECT_EQ(stats[0].pending, 1);
  }
  Bus bus(Fast());
  bus.AddOutbox("producer", producer_.get());
  bus.Subscribe("producer.Thing", "consumer", consumer_.get(), Effect());
  bus.Start();
  ASSERT_TRUE(Eventually([&] { return OutboxEmpty(); }));
  bus.Stop();
  EXPECT_EQ(Count(*consumer_, "SELECT count(*) FROM effects"), 1);
}

TEST_P(BusTest, AnEventWithTheSameIdIsWrittenOnceInTheOutbox) {
  Event e = Make("producer.Thing", "k", "{}");
  Publish(e);
  Publish(e);
  EXPECT_EQ(Count(*producer_, "SELECT count(*) FROM mitos_outbox"), 1);
  EXPECT_EQ(e.id.size(), 32u);
  EXPECT_NE(NewId(), NewId());
}

TEST(EventIds, AreHexOrderedByTheMillisecondAndOtherwiseRandom) {
  const std::string first = NewId();
  std::this_thread::sleep_for(std::chrono::milliseconds(3));
  std::set<std::string> later;
  for (int i = 0; i < 1000; ++i) later.insert(NewId());
  EXPECT_EQ(later.size(), 1000u);
  for (const std::string& id : later) {
    ASSERT_EQ(id.size(), 32u);
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
    EXPECT_LT(first, id);
  }
  // The first 12 digits are the Unix time in milliseconds.
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const long long stamped = std::stoll(first.substr(0, 12), nullptr, 16);
  EXPECT_LE(stamped, now_ms);
  EXPECT_GT(stamped, now_ms - 60000);
}

// The outbox is part of the producer's write: a write that fails after its
// Append, by its own non-OK result or by a failed statement, leaves no
// event, and the change of a write that commits comes with its event.
TEST_P(BusTest, AnEventOfAWriteThatFailsIsNotInTheOutbox) {
  Event refused = Make("producer.Thing", "k", "refused");
  Status s = Write(*producer_, [&refused](Tx& tx) {
    tx.Exec("INSERT INTO things (name) VALUES ($1)", {"a"});
    Outbox(tx).Append(refused);
    return Status::FailedPrecondition("changed its mind");
  });
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);

  Event committed = Make("producer.Thing", "k", "committed");
  ASSERT_TRUE(Write(*producer_, [&committed](Tx& tx) {
                tx.Exec("INSERT INTO things (name) VALUES ($1)", {"b"});
                Outbox(tx).Append(committed);
                return Status::Ok();
              }).ok());

  Event conflicting = Make("producer.Thing", "k", "conflicting");
  s = Write(*producer_, [&conflicting](Tx& tx) {
    Outbox(tx).Append(conflicting);
    tx.Exec("INSERT INTO things (name) VALUES ($1)", {"b"});  // taken
    return Status::Ok();
  });
  EXPECT_FALSE(s.ok());

  EXPECT_EQ(Column<std::string>(*producer_, "SELECT id FROM mitos_outbox"),
            (std::vector<std::string>{committed.id}));
  EXPECT_EQ(Column<std::string>(*producer_, "SELECT name FROM things"),
            (std::vector<std::string>{"b"}));

  // And the bus delivers exactly that one.
  Bus bus(Fast());
  bus.AddOutbox("producer", producer_.get());
  bus.Subscribe("producer.Thing", "consumer", consumer_.get(), Effect());
  bus.Start();
  ASSERT_TRUE(Eventually([&] { return OutboxEmpty(); }));
  bus.Stop();
  EXPECT_EQ(Column<std::string>(*consumer_, "SELECT payload FROM effects"),
            (std::vector<std::string>{"committed"}));
}

}  // namespace
}  // namespace mitos::events
