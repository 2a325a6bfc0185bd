// The balanced channel over real local replicas: the spread of calls, a
// dead replica, and what is and is not sent twice.
#include "mitos/remote/balanced_channel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "mitos/base/context.h"
#include "mitos/io/event_loop.h"
#include "upstream_test.h"

namespace mitos::internal {
namespace {

using std::chrono::milliseconds;

remote::Request Get(std::string target) {
  return remote::Request{"GET", std::move(target), "", "", {}, true};
}
remote::Request Post(std::string target) {
  return remote::Request{"POST", std::move(target), "{}", "application/json",
                         {}, false};
}

// A replica that answers 200 with its name and counts what it served.
class Replica {
 public:
  explicit Replica(std::string name)
      : name_(std::move(name)),
        up_([this](http::Request& req, http::Response& res) {
          (req.method == "GET" ? gets_ : posts_).fetch_add(1);
          res.status = 200;
          res.body = name_;
        }) {}
  std::string url() const { return up_.url(); }
  int gets() const { return gets_.load(); }
  int posts() const { return posts_.load(); }

 private:
  std::string name_;
  std::atomic<int> gets_{0};
  std::atomic<int> posts_{0};
  Upstream up_;
};

enum class Mode { kBlocking, kEventLoop };

class BalancedChannelTest : public ::testing::TestWithParam<Mode> {
 protected:
  void SetUp() override {
    if (GetParam() == Mode::kEventLoop) {
      loop_ = std::make_unique<EventLoop>();
      thread_ = std::thread([this] { loop_->Run(); });
    }
  }
  void TearDown() override {
    if (loop_) {
      loop_->Quit();
      thread_.join();
    }
    channel_.reset();
    loop_.reset();
  }

  // A channel over `urls`, each replica's breaker opening after
  // `failures` consecutive failures, one attempt per call.
  BalancedChannel& Make(const std::vector<std::string>& urls, int failures) {
    std::vector<std::shared_ptr<HttpChannel>> replicas;
    for (const auto& url : urls) {
      ChannelOptions o;
      o.name = "users";
      o.url = url;
      o.attempt_timeout = milliseconds(2000);
      o.retry.max_attempts = 1;
      o.breaker.failure_threshold = failures;
      o.breaker.open_for = milliseconds(60000);
      replicas.push_back(
          std::make_shared<HttpChannel>(o, SteadyClock::Get()));
    }
    channel_ = std::make_unique<BalancedChannel>(std::move(replicas));
    return *channel_;
  }

  StatusOr<remote::Response> Call(remote::Request req) {
    if (!loop_) return channel_->Call(req);
    std::promise<StatusOr<remote::Response>> answer;
    auto got = answer.get_future();
    loop_->Post([&] {
      channel_->CallAsync(std::move(req),
                          [&answer](StatusOr<remote::Response> r) {
                            answer.set_value(std::move(r));
                          });
    });
    return got.get();
  }

 private:
  std::unique_ptr<EventLoop> loop_;
  std::thread thread_;
  std::unique_ptr<BalancedChannel> channel_;
};

INSTANTIATE_TEST_SUITE_P(
    Modes, BalancedChannelTest,
    ::testing::Values(Mode::kBlocking, Mode::kEventLoop),
    [](const ::testing::TestParamInfo<Mode>& p) {
      return p.param == Mode::kBlocking ? "Blocking" : "EventLoop";
    });

TEST(SplitReplicaUrls, OneOrSeveralUrlsSeparatedByCommas) {
  EXPECT_EQ(SplitReplicaUrls("http://users:8080"),
            (std::vector<std::string>{"http://users:8080"}));
  EXPECT_EQ(SplitReplicaUrls("http://users-0:8080, http://users-1:8080 "),
            (std::vector<std::string>{"http://users-0:8080",
                                      "http://users-1:8080"}));
}

TEST(SplitReplicaUrls, AnyBadPartOrARepeatedUrlRefusesAll) {
  EXPECT_TRUE(SplitReplicaUrls("").empty());
  EXPECT_TRUE(SplitReplicaUrls("http://a:1,").empty());
  EXPECT_TRUE(SplitReplicaUrls("http://a:1,,http://b:2").empty());
  EXPECT_TRUE(SplitReplicaUrls("http://a:1,https://b:2").empty());
  EXPECT_TRUE(SplitReplicaUrls("http://a:1,http://a:1").empty());
}

TEST_P(BalancedChannelTest, SpreadsCallsOverTheReplicasInTurn) {
  Replica a("a"), b("b"), c("c");
  auto& ch = Make({a.url(), b.url(), c.url()}, 5);
  EXPECT_EQ(ch.url(), a.url() + "," + b.url() + "," + c.url());
  for (int i = 0; i < 30; ++i) {
    auto r = Call(i % 2 ? Get("/users/1") : Post("/users"));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_EQ(a.gets() + a.posts(), 10);
  EXPECT_EQ(b.gets() + b.posts(), 10);
  EXPECT_EQ(c.gets() + c.posts(), 10);
}

TEST_P(BalancedChannelTest, AnIdempotentCallToADeadReplicaIsAnsweredByAnother) {
  Replica alive("alive");
  auto& ch = Make({"http://127.0.0.1:" + std::to_string(ClosedPort()),
                   alive.url()},
                  /*failures=*/3);
  for (int i = 0; i < 20; ++i) {
    auto r = Call(Get("/users/1"));
    ASSERT_TRUE(r.ok()) << "call " << i << ": " << r.status().ToString();
    EXPECT_EQ(r->body, "alive");
  }
  EXPECT_EQ(alive.gets(), 20);
  // The dead replica's breaker opened; the channel as a whole still serves.
  EXPECT_EQ(ch.replicas()[0]->breaker_state(), remote::BreakerState::kOpen);
  EXPECT_EQ(ch.breaker_state(), remote::BreakerState::kClosed);
}

TEST_P(BalancedChannelTest, ACallThatIsNotIdempotentIsNeverSentToASecondReplica) {
  Replica alive("alive");
  auto& ch = Make({"http://127.0.0.1:" + std::to_string(ClosedPort()),
                   alive.url()},
                  /*failures=*/2);
  int unavailable = 0;
  for (int i = 0; i < 20; ++i) {
    auto r = Call(Post("/users"));
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
      ++unavailable;
    }
  }
  // The dead replica's turns fail until its breaker opens after 2 failures;
  // then every call goes to the live one, once each.
  EXPECT_EQ(unavailable, 2);
  EXPECT_EQ(alive.posts(), 18);
  EXPECT_EQ(ch.replicas()[0]->breaker_state(), remote::BreakerState::kOpen);
}

TEST_P(BalancedChannelTest, WithEveryReplicaDeadCallsFailFastAsUnavailable) {
  auto& ch = Make({"http://127.0.0.1:" + std::to_string(ClosedPort()),
                   "http://127.0.0.1:" + std::to_string(ClosedPort())},
                  /*failures=*/1);
  for (int i = 0; i < 6; ++i) {
    auto r = Call(Get("/users/1"));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  }
  EXPECT_EQ(ch.breaker_state(), remote::BreakerState::kOpen);
}

}  // namespace
}  // namespace mitos::internal
