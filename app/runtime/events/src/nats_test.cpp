// The relay and a durable consumer against a real nats-server with
// JetStream: the ctest fixture "nats" (tests/events/nats_fixture.sh), whose
// URL is in the file MITOS_TEST_NATS_URL_FILE names. Producer and consumer
// each have a SQLite file of their own, as two processes would. The tests
// fail, not skip, when the server is missing.
#include "mitos/events/nats.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "mitos/events/bus.h"
#include "mitos/events/event.h"
#include "mitos/io/task.h"
#include "mitos/storage/sqlite.h"
#include "mitos/storage/storage.h"
#include "mitos_testing/instance.h"

namespace mitos::events {
namespace {

using storage::Database;
using storage::Tx;

constexpr const char* kType = "producer.Thing";

std::string FixtureUrl() {
  const char* file = std::getenv("MITOS_TEST_NATS_URL_FILE");
  if (file == nullptr || *file == '\0') return "";
  std::ifstream in(file);
  std::string url;
  std::getline(in, url);
  return url;
}

class NatsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string url = FixtureUrl();
    ASSERT_FALSE(url.empty())
        << "no nats-server: run these tests through ctest, whose fixture "
           "starts one (MITOS_TEST_NATS_URL_FILE)";
    // A stream and subjects of this test's own.
    std::random_device rd;
    std::string tag = std::to_string(rd() % 1000000000);
    options_.url = url;
    options_.stream = "T" + tag;
    options_.subject_prefix = "t" + tag + ".events";
    options_.ack_wait_ms = 1000;
    options_.fetch_batch = 20;
    producer_ = Open("producer", {OutboxMigration(1)});
    ASSERT_NE(producer_, nullptr);
    consumer_ = Open("consumer",
                     {InboxMigration(1),
                      {2, "effects",
                       "CREATE TABLE effects (n INTEGER PRIMARY KEY AUTOINCREMENT, "
                       "event_id TEXT NOT NULL, key TEXT NOT NULL, payload TEXT NOT NULL, "
                       "by_process TEXT NOT NULL DEFAULT '')"}});
    ASSERT_NE(consumer_, nullptr);
  }

  std::unique_ptr<Database> Open(const std::string& name,
                                 const std::vector<storage::Migration>& m) {
    sqlite::Options o;
    o.name = name;
    auto db = storage::OpenSqlite((dir_.path() / (name + ".db")).string(), o, m);
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    return db.ok() ? std::move(*db) : nullptr;
  }

  static BusOptions Fast() {
    BusOptions o;
    o.backoff_base = std::chrono::milliseconds(5);
    o.backoff_max = std::chrono::milliseconds(20);
    o.poll_interval = std::chrono::milliseconds(10);
    return o;
  }

  std::unique_ptr<Nats> Connect() {
    auto n = Nats::Create(options_);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return n.ok() ? std::move(*n) : nullptr;
  }

  int64_t Count(Database& db, const char* sql) {
    auto n = Wait(storage::Read<StatusOr<int64_t>>(
        db, [sql](Tx& tx) -> StatusOr<int64_t> { return tx.Int(sql).value_or(-1); }));
    return n.ok() ? *n : -1;
  }

  static bool Eventually(const std::function<bool()>& done,
                         std::chrono::seconds limit = std::chrono::seconds(20)) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return done();
  }

  // Writes the effect row of `e`, made by `by`; fails (writing nothing)
  // when `fail` says.
  Handler Effect(std::function<bool(const Event&)> fail = nullptr, std::string by = "",
                 std::chrono::microseconds pause = {}) {
    return [fail, by, pause](const Event& e, Tx& tx) {
      if (fail && fail(e)) return Status::Unavailable("not now");
      if (pause.count() > 0) std::this_thread::sleep_for(pause);
      tx.Exec("INSERT INTO effects (event_id, key, payload, by_process) VALUES ($1, $2, $3, $4)",
              {e.id, e.key, e.payload, by});
      return Status::Ok();
    };
  }

  // Publishes events first..first+n-1 over `keys` keys (payload: the
  // index) into the stream, through an outbox and the relay.
  void PublishAll(int n, int keys, int first = 0) {
    Bus bus(Fast());
    bus.AddOutbox("producer", producer_.get());
    auto nats = Connect();
    ASSERT_NE(nats, nullptr);
    nats->Relay(bus);
    for (int i = first; i < first + n; ++i) {
      Event e = Make(kType, "k" + std::to_string(i % keys), std::to_string(i));
      ASSERT_TRUE(Wait(storage::Write<Status>(*producer_, [&e](Tx& tx) {
                    Outbox(tx).Append(e);
                    return Status::Ok();
                  })).ok());
    }
    bus.Start();
    ASSERT_TRUE(Eventually(
        [&] { return Count(*producer_, "SELECT count(*) FROM mitos_outbox") == 0; }));
    bus.Stop();
    nats->Stop();
  }

  // (key, index, by) of every effect, in commit order.
  std::vector<std::tuple<std::string, int, std::string>> Effects() {
    using Rows = std::vector<std::tuple<std::string, int, std::string>>;
    auto rows = Wait(storage::Read<StatusOr<Rows>>(*consumer_, [](Tx& tx) -> StatusOr<Rows> {
      return tx.All<std::tuple<std::string, int, std::string>>(
          "SELECT key, payload, by_process FROM effects ORDER BY n", {},
          [](const storage::Row& r) {
            return std::make_tuple(r.String(0), std::stoi(r.String(1)), r.String(2));
          });
    }));
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    return rows.ok() ? *rows : Rows{};
  }

  // Effects of a key that came after a later event's of the same key.
  static int OutOfOrder(const std::vector<std::tuple<std::string, int, std::string>>& rows) {
    std::map<std::string, int> last;
    int out = 0;
    for (const auto& [key, v, by] : rows) {
      if (last.count(key) && last[key] > v) {
        ++out;
        ADD_FAILURE() << "key " << key << ": event " << v << " after " << last[key];
      }
      last[key] = v;
    }
    return out;
  }

  testing::TempDir dir_;
  NatsOptions options_;
  std::unique_ptr<Database> producer_;
  std::unique_ptr<Database> consumer_;
};

// A consumer dies holding a fetch it could not finish; the one after it
// on the same durable delivers those messages before any later one, so
// that each key's effects keep publication order, each exactly once.
TEST_F(NatsTest, AConsumerThatDiesHoldingAFetchIsNotOvertakenByItsSuccessor) {
  constexpr int kEvents = 200;
  constexpr int kKeys = 5;
  PublishAll(kEvents, kKeys);
  if (HasFatalFailure()) return;
  // The first consumer has effects up to event 29, then fails on 30 and
  // holds its fetch (30..39) until it is stopped.
  {
    Bus bus(Fast());
    bus.Subscribe(kType, "consumer", consumer_.get(),
                  Effect([](const Event& e) { return std::stoi(e.payload) >= 30; }));
    auto nats = Connect();
    ASSERT_NE(nats, nullptr);
    nats->Consume(bus, kType, "consumer");
    ASSERT_TRUE(Eventually(
        [&] { return Count(*consumer_, "SELECT count(*) FROM effects") == 30; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    nats->Stop();
    bus.Stop();
  }
  ASSERT_EQ(Count(*consumer_, "SELECT count(*) FROM effects"), 30);
  // Its successor.
  Bus bus(Fast());
  bus.Subscribe(kType, "consumer", consumer_.get(), Effect());
  auto nats = Connect();
  ASSERT_NE(nats, nullptr);
  nats->Consume(bus, kType, "consumer");
  ASSERT_TRUE(Eventually(
      [&] { return Count(*consumer_, "SELECT count(*) FROM effects") == kEvents; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // > ack_wait
  nats->Stop();
  bus.Stop();
  EXPECT_EQ(Count(*consumer_, "SELECT count(*) FROM effects"), kEvents);
  EXPECT_EQ(Count(*consumer_, "SELECT count(DISTINCT event_id) FROM effects"), kEvents);
  EXPECT_EQ(OutOfOrder(Effects()), 0) << "effects of a key out of publication order";
}

// Two processes of one subscriber share its durable: one consumes at a
// time (the lease), so each key's effects keep their order; when it stops,
// the other takes over, and nothing is lost or done twice.
TEST_F(NatsTest, ReplicasOfASubscriberConsumeOneAtATimeAndTakeOver) {
  constexpr int kEvents = 600;
  constexpr int kKeys = 6;
  PublishAll(kEvents, kKeys);
  if (HasFatalFailure()) return;
  Bus a(Fast()), b(Fast());
  // A pause per effect, so that two consumers fetching at once would
  // interleave their commits.
  a.Subscribe(kType, "consumer", consumer_.get(),
              Effect(nullptr, "a", std::chrono::microseconds(300)));
  b.Subscribe(kType, "consumer", consumer_.get(),
              Effect(nullptr, "b", std::chrono::microseconds(300)));
  auto na = Connect();
  auto nb = Connect();
  ASSERT_NE(na, nullptr);
  ASSERT_NE(nb, nullptr);
  na->Consume(a, kType, "consumer");
  nb->Consume(b, kType, "consumer");
  ASSERT_TRUE(Eventually(
      [&] { return Count(*consumer_, "SELECT count(*) FROM effects") >= kEvents / 3; }));
  // Stop whichever consumes.
  const bool a_first = std::get<2>(Effects().front()) == "a";
  (a_first ? na : nb)->Stop();
  ASSERT_TRUE(Eventually(
      [&] { return Count(*consumer_, "SELECT count(*) FROM effects") == kEvents; },
      std::chrono::seconds(40)));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // > ack_wait
  na->Stop();
  nb->Stop();
  a.Stop();
  b.Stop();
  auto rows = Effects();
  EXPECT_EQ(rows.size(), static_cast<size_t>(kEvents));
  EXPECT_EQ(Count(*consumer_, "SELECT count(DISTINCT event_id) FROM effects"), kEvents);
  EXPECT_EQ(OutOfOrder(rows), 0);
  // One hand-over, from the one stopped to the other.
  int switches = 0;
  for (size_t i = 1; i < rows.size(); ++i) {
    if (std::get<2>(rows[i]) != std::get<2>(rows[i - 1])) ++switches;
  }
  EXPECT_EQ(switches, 1);
  EXPECT_EQ(std::get<2>(rows.back()), a_first ? "b" : "a");
}

// A durable made under other settings (events.nats.fetch_batch,
// ack_wait_ms) takes the new ones: a consumer started with them consumes.
TEST_F(NatsTest, AConsumerWithChangedSettingsTakesOverTheDurable) {
  PublishAll(10, 2);
  if (HasFatalFailure()) return;
  for (int round = 0; round < 2; ++round) {
    if (round == 1) {
      options_.fetch_batch = 7;
      options_.ack_wait_ms = 2000;
      PublishAll(10, 2, 10);
      if (HasFatalFailure()) return;
    }
    Bus bus(Fast());
    bus.Subscribe(kType, "consumer", consumer_.get(), Effect());
    auto nats = Connect();
    ASSERT_NE(nats, nullptr);
    nats->Consume(bus, kType, "consumer");
    const int64_t want = 10 * (round + 1);
    EXPECT_TRUE(Eventually(
        [&] { return Count(*consumer_, "SELECT count(*) FROM effects") == want; }))
        << "round " << round;
    nats->Stop();
    bus.Stop();
  }
  EXPECT_EQ(Count(*consumer_, "SELECT count(DISTINCT event_id) FROM effects"), 20);
  EXPECT_EQ(OutOfOrder(Effects()), 0);
}

}  // namespace
}  // namespace mitos::events
