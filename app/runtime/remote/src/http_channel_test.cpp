// The remote channel against real local servers: propagation, retries,
// timeouts, the breaker and connection reuse.
#include "mitos/observability/trace.h"
#include "mitos/remote/http_channel.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <future>
#include <thread>

#include "mitos/base/context.h"
#include "mitos/io/event_loop.h"
#include "mitos/io/task.h"
#include "mitos/server/server.h"
#include "upstream_test.h"

namespace mitos::internal {
namespace {

using std::chrono::milliseconds;

ChannelOptions Options(const std::string& url) {
  ChannelOptions o;
  o.url = url;
  o.attempt_timeout = milliseconds(2000);
  o.retry.base = milliseconds(1);
  o.retry.cap = milliseconds(5);
  o.breaker.failure_threshold = 100;
  return o;
}

remote::Request Get(std::string target) {
  return remote::Request{"GET", std::move(target), "", "", {}, true};
}

// Every channel test runs twice: blocking calls (Call, as module clients
// make them on worker threads) and calls driven by an event loop
// (CallAsync, as the gateway makes them).
enum class Mode { kBlocking, kEventLoop };

class HttpChannelTest : public ::testing::TestWithParam<Mode> {
 protected:
  void SetUp() override {
    if (GetParam() == Mode::kEventLoop) {
      loop_ = std::make_unique<EventLoop>();
      thread_ = std::thread([this] { loop_->Run(); });
    }
  }
  void TearDown() override {
    // The loop stops before the channels that pool connections on it.
    if (loop_) {
      loop_->Quit();
      thread_.join();
    }
    channels_.clear();
    loop_.reset();
  }

  HttpChannel& Make(const ChannelOptions& o) {
    channels_.push_back(std::make_unique<HttpChannel>(o, SteadyClock::Get()));
    return *channels_.back();
  }

  // Calls with this thread's request context and current span.
  StatusOr<remote::Response> Call(HttpChannel& ch, remote::Request req) {
    if (!loop_) return ch.Call(req);
    RequestContext ctx = RequestContext::Current();
    trace::SpanContext span = trace::Current();
    std::promise<StatusOr<remote::Response>> answer;
    auto got = answer.get_future();
    loop_->Post([&] {
      ContextScope scope(&ctx);
      trace::CurrentScope current(span);
      ch.CallAsync(std::move(req), [&answer](StatusOr<remote::Response> r) {
        answer.set_value(std::move(r));
      });
    });
    return got.get();
  }

 private:
  std::unique_ptr<EventLoop> loop_;
  std::thread thread_;
  std::vector<std::unique_ptr<HttpChannel>> channels_;
};

std::string ModeName(const ::testing::TestParamInfo<Mode>& p) {
  return p.param == Mode::kBlocking ? "Blocking" : "EventLoop";
}

INSTANTIATE_TEST_SUITE_P(Modes, HttpChannelTest,
                         ::testing::Values(Mode::kBlocking, Mode::kEventLoop), ModeName);

TEST(ParseHttpUrl, AcceptsHostAndPortOnly) {
  std::string host;
  int port = 0;
  EXPECT_TRUE(ParseHttpUrl("http://users:8080", &host, &port));
  EXPECT_EQ(host, "users");
  EXPECT_EQ(port, 8080);
  EXPECT_TRUE(ParseHttpUrl("http://10.0.0.1/", &host, &port));
  EXPECT_EQ(port, 80);
  for (const char* bad : {"https://users:8080", "users:8080", "http://",
                          "http://users:0", "http://users:99999",
                          "http://users:80/path", "http://users:x"}) {
    EXPECT_FALSE(ParseHttpUrl(bad, &host, &port)) << bad;
  }
}

TEST_P(HttpChannelTest, PropagatesIdentityAndTheRemainingDeadline) {
  http::Request seen;
  Upstream up([&](http::Request& req, http::Response& res) {
    seen = req;
    res.Json(200, {{"ok", true}});
  });
  HttpChannel& ch = Make(Options(up.url()));
  RequestContext ctx;
  ctx.request_id = "rid-1";
  ctx.tracestate = "k=v";
  ctx.deadline = RequestContext::Clock::now() + milliseconds(1500);
  ContextScope scope(&ctx);
  trace::SpanContext parent;
  ASSERT_TRUE(trace::ParseTraceparent(
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &parent));
  trace::Span span("call", trace::Kind::kClient, parent);
  auto r = Call(ch, Get("/x?y=1"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(seen.target, "/x?y=1");
  EXPECT_EQ(seen.Header("X-Request-Id"), "rid-1");
  // The current span is the callee's parent, in the caller's trace.
  EXPECT_EQ(seen.Header("traceparent"), span.context().Traceparent());
  EXPECT_EQ(seen.Header("traceparent").substr(0, 36),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-");
  EXPECT_EQ(seen.Header("tracestate"), "k=v");
  int left = std::stoi(std::string(seen.Header(kDeadlineHeader)));
  EXPECT_GT(left, 0);
  EXPECT_LE(left, 1500);
}

TEST_P(HttpChannelTest, TheRemoteGetsLessTimeThanTheCallerWaits) {
  http::Request seen;
  Upstream up([&](http::Request& req, http::Response& res) {
    seen = req;
    res.Json(200, {});
  });
  auto o = Options(up.url());
  o.attempt_timeout = milliseconds(500);
  HttpChannel& ch = Make(o);
  RequestContext ctx;
  ctx.deadline = RequestContext::Clock::now() + milliseconds(3000);
  ContextScope scope(&ctx);
  ASSERT_TRUE(Call(ch, Get("/")).ok());
  int given = std::stoi(std::string(seen.Header(kDeadlineHeader)));
  EXPECT_LT(given, 500) << "the caller waits one attempt, 500 ms, at most";
  EXPECT_GE(given, 400);
}

TEST_P(HttpChannelTest, ADependencyFailureReportedByAHealthyRemoteIsNotItsFailure) {
  std::atomic<int> calls{0};
  Upstream up([&](http::Request&, http::Response& res) {
    ++calls;
    http::WriteStatus(res, Status::Unavailable("users is down"));
  });
  auto o = Options(up.url());
  o.breaker.failure_threshold = 1;
  HttpChannel& ch = Make(o);
  for (int i = 0; i < 3; ++i) {
    auto r = Call(ch, Get("/"));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 503);
  }
  EXPECT_EQ(ch.breaker_state(), remote::BreakerState::kClosed);
  EXPECT_EQ(calls.load(), 3) << "not retried: the remote already tried";
}

TEST_P(HttpChannelTest, AStorageFailureReportedByAHealthyRemoteIsNotItsFailure) {
  // A remote whose writes fail on its disk still serves reads: an open
  // breaker would refuse those too.
  std::atomic<int> calls{0};
  Upstream up([&](http::Request&, http::Response& res) {
    ++calls;
    http::WriteStatus(res, calls % 2 == 0
                               ? Status::StorageReadOnly("read-only")
                               : Status::StorageUnavailable("I/O error"));
  });
  auto o = Options(up.url());
  o.breaker.failure_threshold = 1;
  HttpChannel& ch = Make(o);
  for (int i = 0; i < 4; ++i) {
    auto r = Call(ch, Get("/"));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 503);
  }
  EXPECT_EQ(ch.breaker_state(), remote::BreakerState::kClosed);
  EXPECT_EQ(calls.load(), 4);
}

TEST_P(HttpChannelTest, ABare503IsTheRemotesOwnFailure) {
  Upstream up([&](http::Request&, http::Response& res) {
    res.status = 503;
    res.body = "overloaded";
    res.content_type = "text/plain";
  });
  auto o = Options(up.url());
  o.breaker.failure_threshold = 1;
  o.retry.max_attempts = 1;
  HttpChannel& ch = Make(o);
  auto r = Call(ch, Get("/"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(ch.breaker_state(), remote::BreakerState::kOpen);
}

TEST_P(HttpChannelTest, RetriesIdempotentCallsOn503) {
  std::atomic<int> calls{0};
  Upstream up([&](http::Request&, http::Response& res) {
    if (++calls < 3) return http::WriteProblem(res, 503, "about:blank", "", "busy");
    res.Json(200, {{"ok", true}});
  });
  HttpChannel& ch = Make(Options(up.url()));
  auto r = Call(ch, Get("/"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(calls.load(), 3);
  EXPECT_EQ(ch.retries(), 2u);
}

TEST_P(HttpChannelTest, NeverRetriesANonIdempotentCallThatWasSent) {
  std::atomic<int> calls{0};
  Upstream up([&](http::Request&, http::Response& res) {
    ++calls;
    http::WriteProblem(res, 503, "about:blank", "", "busy");
  });
  HttpChannel& ch = Make(Options(up.url()));
  auto r = Call(ch, remote::Request{"POST", "/", "{}", "application/json", {}, false});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(calls.load(), 1);
}

TEST_P(HttpChannelTest, UnreachableIsUnavailable) {
  HttpChannel& ch = Make(Options("http://127.0.0.1:" + std::to_string(ClosedPort())));
  auto r = Call(ch, remote::Request{"POST", "/", "{}", "application/json", {}, false});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_GE(ch.retries(), 1u) << "a call that never connected is safe to retry";
}

TEST_P(HttpChannelTest, SlowRemoteEndsAtTheDeadline) {
  std::atomic<bool> release{false};
  Upstream up([&](http::Request&, http::Response& res) {
    for (int i = 0; i < 300 && !release; ++i) std::this_thread::sleep_for(milliseconds(10));
    res.Json(200, {});
  });
  auto o = Options(up.url());
  o.attempt_timeout = milliseconds(150);
  HttpChannel& ch = Make(o);
  RequestContext ctx;
  ctx.deadline = RequestContext::Clock::now() + milliseconds(400);
  ContextScope scope(&ctx);
  auto started = std::chrono::steady_clock::now();
  auto r = Call(ch, Get("/slow"));
  auto took = std::chrono::steady_clock::now() - started;
  release = true;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded) << r.status().ToString();
  EXPECT_LT(took, milliseconds(2000)) << "must not wait past the deadline";
}

TEST_P(HttpChannelTest, ExpiredDeadlineFailsWithoutCalling) {
  std::atomic<int> calls{0};
  Upstream up([&](http::Request&, http::Response& res) {
    ++calls;
    res.Json(200, {});
  });
  HttpChannel& ch = Make(Options(up.url()));
  RequestContext ctx;
  ctx.deadline = RequestContext::Clock::now() - milliseconds(1);
  ContextScope scope(&ctx);
  auto r = Call(ch, Get("/"));
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(calls.load(), 0);
}

TEST_P(HttpChannelTest, BreakerOpensAndFailsFast) {
  auto o = Options("http://127.0.0.1:" + std::to_string(ClosedPort()));
  o.breaker.failure_threshold = 2;
  o.breaker.open_for = milliseconds(60000);
  o.retry.max_attempts = 1;
  HttpChannel& ch = Make(o);
  EXPECT_EQ(Call(ch, Get("/")).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(ch.breaker_state(), remote::BreakerState::kClosed);
  EXPECT_EQ(Call(ch, Get("/")).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(ch.breaker_state(), remote::BreakerState::kOpen);
  auto r = Call(ch, Get("/"));
  EXPECT_NE(r.status().message().find("circuit"), std::string::npos)
      << r.status().message();
}

TEST_P(HttpChannelTest, ReusesKeepAliveConnections) {
  Upstream up([](http::Request&, http::Response& res) { res.Json(200, {}); });
  HttpChannel& ch = Make(Options(up.url()));
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(Call(ch, Get("/")).ok());
  EXPECT_EQ(ch.idle_connections(), 1u);
  EXPECT_EQ(up.open_connections(), 1);
}

TEST_P(HttpChannelTest, ARestartedRemoteIsReachedAgainWithoutErrors) {
  auto answer = [](http::Request&, http::Response& res) { res.Json(200, {}); };
  auto first = std::make_unique<Upstream>(answer);
  int port = first->port();
  auto o = Options(first->url());
  o.retry.max_attempts = 1;  // stale connections must not need retries
  HttpChannel& ch = Make(o);
  // Several pooled connections to the first process.
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 5; ++j) EXPECT_TRUE(Call(ch, Get("/")).ok());
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_GE(ch.idle_connections(), 1u);
  first.reset();  // the remote goes away; its connections close
  Upstream second(answer, port);
  auto get = Call(ch, Get("/"));
  ASSERT_TRUE(get.ok()) << get.status().ToString();
  EXPECT_EQ(get->status, 200);
  auto post = Call(ch, remote::Request{"POST", "/", "{}", "application/json", {}, false});
  ASSERT_TRUE(post.ok()) << post.status().ToString();
  EXPECT_EQ(post->status, 200);
  EXPECT_EQ(ch.breaker_state(), remote::BreakerState::kClosed);
}

// An operation written once: two calls in a row, the second depending on
// the first's answer.
Task<StatusOr<std::string>> TwoCalls(HttpChannel& ch) {
  auto first = co_await remote::Call(ch, Get("/first"));
  if (!first.ok()) co_return first.status();
  std::string next = "/after";
  next += first->body;
  auto second = co_await remote::Call(ch, Get(next));
  if (!second.ok()) co_return second.status();
  co_return first->body + second->body;
}

TEST(CoroutineCalls, RunTheSameCodeBlockingAndOnALoop) {
  Upstream up([](http::Request& req, http::Response& res) {
    res.status = 200;
    res.body = req.target;
  });
  HttpChannel ch(Options(up.url()), SteadyClock::Get());

  auto blocking = Wait(TwoCalls(ch));
  ASSERT_TRUE(blocking.ok()) << blocking.status().ToString();
  EXPECT_EQ(*blocking, "/first/after/first");

  EventLoop loop;
  std::thread t([&] { loop.Run(); });
  std::promise<std::pair<bool, std::string>> seen;
  std::atomic<bool> answered{false};
  loop.Post([&] {
    Start<StatusOr<std::string>>(TwoCalls(ch), [&](StatusOr<std::string> r) {
      answered = true;
      seen.set_value({loop.InLoop(), r.ok() ? *r : r.status().ToString()});
    });
    EXPECT_FALSE(answered.load());  // the loop was free while the calls were out
  });
  auto [on_loop, body] = seen.get_future().get();
  EXPECT_TRUE(on_loop);
  EXPECT_EQ(body, "/first/after/first");
  loop.Quit();
  t.join();
}

TEST(HttpChannelOnALoop, CallsInFlightDoNotHoldTheLoop) {
  // Every upstream handler waits until all calls are inside handlers at
  // once: only possible if one loop thread started them all without
  // waiting for any answer.
  constexpr int kCalls = 8;
  std::mutex mu;
  std::condition_variable cv;
  int inside = 0;
  ServerOptions so;
  so.host = "127.0.0.1";
  so.port = 0;
  so.threads_min = kCalls;
  HttpServer up(so, Synchronous([&](http::Request&, http::Response& res) {
    std::unique_lock<std::mutex> lock(mu);
    ++inside;
    cv.notify_all();
    bool all = cv.wait_for(lock, std::chrono::seconds(10), [&] { return inside >= kCalls; });
    res.Json(all ? 200 : 500, {});
  }));
  ASSERT_TRUE(up.Bind().ok());
  up.Start();
  auto o = Options("http://127.0.0.1:" + std::to_string(up.port()));
  o.attempt_timeout = milliseconds(20000);
  o.pipeline_max = 1;  // a connection each, so the remote serves them at once
  auto ch = std::make_unique<HttpChannel>(o, SteadyClock::Get());
  EventLoop loop;
  std::thread t([&] { loop.Run(); });
  std::vector<std::promise<int>> answers(kCalls);
  loop.Post([&] {
    for (auto& a : answers) {
      ch->CallAsync(Get("/"), [&a](StatusOr<remote::Response> r) {
        a.set_value(r.ok() ? r->status : -1);
      });
    }
  });
  for (auto& a : answers) EXPECT_EQ(a.get_future().get(), 200);
  EXPECT_EQ(ch->busy_connections(), 0);
  EXPECT_EQ(ch->idle_connections(), static_cast<size_t>(kCalls));
  loop.Quit();
  t.join();
  ch.reset();
}

// Calls that one loop starts in the same round (as the gateway does for
// requests read together) and their answers, in the order started.
class LoopRound {
 public:
  LoopRound() : thread_([this] { loop_.Run(); }) {}
  ~LoopRound() {
    loop_.Quit();
    thread_.join();
  }
  std::vector<StatusOr<remote::Response>> Start(HttpChannel& ch,
                                                std::vector<remote::Request> reqs) {
    std::vector<std::promise<StatusOr<remote::Response>>> answers(reqs.size());
    loop_.Post([&] {
      for (size_t i = 0; i < reqs.size(); ++i) {
        ch.CallAsync(std::move(reqs[i]), [&answers, i](StatusOr<remote::Response> r) {
          answers[i].set_value(std::move(r));
        });
      }
    });
    std::vector<StatusOr<remote::Response>> out;
    for (auto& a : answers) out.push_back(a.get_future().get());
    return out;
  }

 private:
  EventLoop loop_;
  std::thread thread_;
};

remote::Request Head(std::string target) {
  return remote::Request{"HEAD", std::move(target), "", "", {}, true};
}
remote::Request Post(std::string target) {
  return remote::Request{"POST", std::move(target), "{}", "application/json", {}, false};
}

// Answers with the request's target, so that each call can check it got
// its own answer.
void EchoTarget(http::Request& req, http::Response& res) {
  res.Json(200, {{"target", req.target}});
}
std::string TargetOf(const StatusOr<remote::Response>& r) {
  if (!r.ok()) return "error: " + r.status().message();
  return nlohmann::json::parse(r->body)["target"];
}

TEST(HttpChannelOnALoop, IdempotentCallsOfOneRoundShareAConnection) {
  Upstream up(EchoTarget);
  auto o = Options(up.url());
  o.pipeline_max = 4;
  auto ch = std::make_unique<HttpChannel>(o, SteadyClock::Get());
  {
    LoopRound round;
    std::vector<remote::Request> reqs;
    for (int i = 0; i < 10; ++i) reqs.push_back(Get("/n?i=" + std::to_string(i)));
    reqs.insert(reqs.begin() + 3, Head("/head"));
    auto answers = round.Start(*ch, reqs);
    ASSERT_EQ(answers.size(), 11u);
    for (size_t i = 0; i < answers.size(); ++i) {
      ASSERT_TRUE(answers[i].ok()) << i << " " << answers[i].status().ToString();
      EXPECT_EQ(answers[i]->status, 200);
      if (i == 3) {
        EXPECT_EQ(answers[i]->body, "");  // a HEAD answer has no body
      } else {
        EXPECT_EQ(TargetOf(answers[i]), reqs[i].target);
      }
    }
    // 11 calls, 4 to a connection.
    EXPECT_EQ(ch->idle_connections(), 3u);
    EXPECT_EQ(ch->busy_connections(), 0);
    // Writes never share one.
    auto posts = round.Start(*ch, {Post("/p1"), Post("/p2"), Post("/p3")});
    for (size_t i = 0; i < posts.size(); ++i) EXPECT_EQ(TargetOf(posts[i]), "/p" + std::to_string(i + 1));
    EXPECT_EQ(ch->idle_connections(), 3u);
    EXPECT_EQ(up.open_connections(), 3);
  }
  ch.reset();
}

TEST(HttpChannelOnALoop, ATimeoutOnASharedConnectionSendsTheOthersElsewhere) {
  // The remote serves a connection's requests in order, so "/b" and "/c"
  // wait behind "/slow". When "/slow" times out, its connection closes; the
  // others go again on a fresh one, without counting as failures.
  Upstream up([](http::Request& req, http::Response& res) {
    if (req.path == "/slow") std::this_thread::sleep_for(milliseconds(1500));
    EchoTarget(req, res);
  });
  auto o = Options(up.url());
  o.attempt_timeout = milliseconds(300);
  o.retry.max_attempts = 1;
  o.breaker.failure_threshold = 2;
  auto ch = std::make_unique<HttpChannel>(o, SteadyClock::Get());
  {
    LoopRound round;
    auto answers = round.Start(*ch, {Get("/a"), Get("/slow"), Get("/b"), Get("/c")});
    EXPECT_EQ(TargetOf(answers[0]), "/a");
    EXPECT_EQ(answers[1].status().code(), StatusCode::kDeadlineExceeded);
    EXPECT_EQ(TargetOf(answers[2]), "/b");
    EXPECT_EQ(TargetOf(answers[3]), "/c");
    EXPECT_EQ(ch->breaker_state(), remote::BreakerState::kClosed);
    EXPECT_EQ(ch->retries(), 0u);
  }
  ch.reset();
}

TEST(HttpChannelOnALoop, AnAnswerThatClosesTheConnectionSendsTheRestElsewhere) {
  Upstream up([](http::Request& req, http::Response& res) {
    EchoTarget(req, res);
    if (req.path == "/close") res.SetHeader("Connection", "close");
  });
  auto o = Options(up.url());
  o.retry.max_attempts = 1;
  auto ch = std::make_unique<HttpChannel>(o, SteadyClock::Get());
  {
    LoopRound round;
    auto answers = round.Start(*ch, {Get("/x"), Get("/close"), Get("/y"), Get("/z")});
    EXPECT_EQ(TargetOf(answers[0]), "/x");
    EXPECT_EQ(TargetOf(answers[1]), "/close");
    EXPECT_EQ(TargetOf(answers[2]), "/y");
    EXPECT_EQ(TargetOf(answers[3]), "/z");
    EXPECT_EQ(ch->breaker_state(), remote::BreakerState::kClosed);
  }
  ch.reset();
}

TEST(StatusFromResponse, MapsProblemsBackToStatuses) {
  remote::Response r;
  r.status = 422;
  r.body = R"({"type":"urn:mitos:problem:validation-failed","title":"t","status":422,
             "detail":"bad","errors":[{"field":"email","message":"taken"}]})";
  Status s = remote::StatusFromResponse(r);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "bad");
  ASSERT_EQ(s.field_errors().size(), 1u);
  EXPECT_EQ(s.field_errors()[0].field, "email");
  r.status = 409;
  r.body = R"({"type":"urn:mitos:problem:invalid-state","detail":"no"})";
  EXPECT_EQ(remote::StatusFromResponse(r).code(), StatusCode::kFailedPrecondition);
  for (auto [code, want] : {std::pair{404, StatusCode::kNotFound},
                            {409, StatusCode::kAlreadyExists},
                            {503, StatusCode::kUnavailable},
                            {504, StatusCode::kDeadlineExceeded},
                            {507, StatusCode::kInsufficientStorage},
                            {500, StatusCode::kInternal},
                            {418, StatusCode::kInternal}}) {
    r.status = code;
    r.body = "not json";
    EXPECT_EQ(remote::StatusFromResponse(r).code(), want) << code;
  }
}

TEST(StatusFromResponse, StorageProblemsRoundTrip) {
  // What WriteStatus writes for a storage failure comes back as the same
  // Status, so a module's HTTP client answers as its in-process form does.
  for (const Status& s : {Status::InsufficientStorage("full"),
                          Status::StorageUnavailable("I/O error"),
                          Status::StorageReadOnly("read-only"),
                          Status::StorageCorrupt("damaged")}) {
    http::Response written;
    http::WriteStatus(written, s);
    remote::Response r;
    r.status = written.status;
    r.body = written.body;
    Status back = remote::StatusFromResponse(r);
    EXPECT_EQ(back.code(), s.code()) << s.ToString() << " -> " << back.ToString();
    EXPECT_EQ(back.message(), s.message());
  }
}

}  // namespace
}  // namespace mitos::internal
