#include "mitos/events/bus.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "mitos/events/admin.h"
#include "mitos/events/event.h"
#include "mitos_testing/instance.h"

namespace mitos::events {
namespace {

using sqlite::Connection;
using sqlite::Database;

// A producer's and a consumer's database, real files. The consumer's
// effect is one row per handled event in `effects` (so that a second
// effect of one event would show as a second row).
class BusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sqlite::Options o;
    o.name = "producer";
    auto producer = Database::Open((dir_.path() / "producer.db").string(), o,
                                   {OutboxMigration(1)});
    ASSERT_TRUE(producer.ok()) << producer.status().ToString();
    producer_ = std::move(*producer);
    o.name = "consumer";
    auto consumer = Database::Open(
        (dir_.path() / "consumer.db").string(), o,
        {InboxMigration(1),
         {2, "effects",
          "CREATE TABLE effects (n INTEGER PRIMARY KEY AUTOINCREMENT, "
          "event_id TEXT NOT NULL, key TEXT NOT NULL, payload TEXT NOT NULL)"}});
    ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
    consumer_ = std::move(*consumer);
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
    return [this, fail](const Event& e, Connection& c) {
      ++calls_;
      auto& st = c.Prepare(
          "INSERT INTO effects (event_id, key, payload) VALUES (?, ?, ?)");
      st.bind(1, e.id);
      st.bind(2, e.key);
      st.bind(3, e.payload);
      st.exec();
      if (fail && fail(e)) return Status::Unavailable("not now");
      return Status::Ok();
    };
  }

  void Publish(const Event& e) {
    producer_->WriteTx([&](Connection& c) {
      SqliteOutbox(c).Append(e);
      return 0;
    });
  }

  int64_t Count(Database& db, const char* sql) {
    return db.Read([&](Connection& c) {
      auto& q = c.Prepare(sql);
      q.executeStep();
      return q.getColumn(0).getInt64();
    });
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
  std::unique_ptr<Database> producer_;
  std::unique_ptr<Database> consumer_;
  std::atomic<int> calls_{0};
};

TEST_F(BusTest, EveryEventHasItsEffectOnceInOrderPerKey) {
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
  auto in_order = consumer_->Read([](Connection& c) {
    auto& q = c.Prepare("SELECT key, payload FROM effects ORDER BY n");
    std::map<std::string, int> last;
    bool ok = true;
    while (q.executeStep()) {
      int v = std::stoi(q.getColumn(1).getString());
      std::string k = q.getColumn(0).getString();
      if (last.count(k) && last[k] > v) ok = false;
      last[k] = v;
    }
    return ok;
  });
  EXPECT_TRUE(in_order);
}

TEST_F(BusTest, AnInjectedDuplicateHasNoSecondEffect) {
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

TEST_F(BusTest, AFailedDeliveryIsRetriedRolledBackAndHoldsItsKey) {
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
  auto payloads = consumer_->Read([](Connection& c) {
    auto& q = c.Prepare("SELECT payload FROM effects ORDER BY n");
    std::vector<std::string> out;
    while (q.executeStep()) out.push_back(q.getColumn(0).getString());
    return out;
  });
  EXPECT_EQ(payloads, (std::vector<std::string>{"first", "second"}));
}

TEST_F(BusTest, AfterMaxAttemptsAnEventIsDeadAndCanBeRetriedOrDropped) {
  std::atomic<bool> broken{true};
  Bus bus(Fast());
  bus.AddOutbox("producer", producer_.get());
  bus.Subscribe("producer.Thing", "consumer", consumer_.get(),
                Effect([&](const Event& e) { return e.key == "bad" && broken; }));
  Event bad = Make("producer.Thing", "bad", "poison");
  Publish(bad);
  Publish(Make("producer.Thing", "bad", "behind"));
  Publish(Make("producer.Thing", "good", "fine"));
  bus.Start();
  // The dead event no longer holds its key: the one behind it fails on its
  // own (same handler), and the other key is delivered.
  ASSERT_TRUE(Eventually([&] {
    return Count(*producer_, "SELECT count(*) FROM mitos_outbox WHERE state = 'dead'") == 2;
  }));
  auto stats = bus.Stats();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].dead, 2);
  EXPECT_EQ(stats[0].pending, 0);
  const std::string path = (dir_.path() / "producer.db").string();
  auto dead = ListDead(path);
  ASSERT_TRUE(dead.ok());
  ASSERT_EQ(dead->size(), 2u);
  EXPECT_EQ((*dead)[0].id, bad.id);
  EXPECT_EQ((*dead)[0].attempts, 3);
  EXPECT_NE((*dead)[0].last_error.find("consumer: not now"), std::string::npos);

  broken = false;
  ASSERT_TRUE(RetryDead(path, bad.id).ok());
  ASSERT_TRUE(DropDead(path, (*dead)[1].id).ok());
  ASSERT_TRUE(Eventually([&] { return OutboxEmpty(); }));
  bus.Stop();
  EXPECT_EQ(Count(*consumer_, "SELECT count(*) FROM effects"), 2);  // fine, poison
  EXPECT_EQ(RetryDead(path, bad.id).code(), StatusCode::kNotFound);
  EXPECT_EQ(DropDead(path, "nope").code(), StatusCode::kNotFound);
  EXPECT_EQ(ListDead((dir_.path() / "absent.db").string()).status().code(),
            StatusCode::kNotFound);
}

TEST_F(BusTest, EventsWaitForTheDispatchDelayAndSurviveARestart) {
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
  }
  Bus bus(Fast());
  bus.AddOutbox("producer", producer_.get());
  bus.Subscribe("producer.Thing", "consumer", consumer_.get(), Effect());
  bus.Start();
  ASSERT_TRUE(Eventually([&] { return OutboxEmpty(); }));
  bus.Stop();
  EXPECT_EQ(Count(*consumer_, "SELECT count(*) FROM effects"), 1);
}

TEST_F(BusTest, AnEventWithTheSameIdIsWrittenOnceInTheOutbox) {
  Event e = Make("producer.Thing", "k", "{}");
  Publish(e);
  Publish(e);
  EXPECT_EQ(Count(*producer_, "SELECT count(*) FROM mitos_outbox"), 1);
  EXPECT_EQ(e.id.size(), 32u);
  EXPECT_NE(NewId(), NewId());
}

}  // namespace
}  // namespace mitos::events
