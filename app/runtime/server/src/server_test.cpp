// Tests of the transport hardening: each one pins down a weakness of the
// HTTP library's defaults that the server must not inherit.
#include "mitos/server/server.h"

#include <sched.h>

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "mitos_testing/instance.h"

namespace mitos::internal {
namespace {

using mitos::testing::BodyOf;
using mitos::testing::HeaderOf;
using mitos::testing::RawConnection;
using mitos::testing::StatusOf;

ServerOptions TestOptions() {
  ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.threads_min = 2;
  o.max_body_bytes = 1024;
  return o;
}

// Echoes what the handler saw, as JSON.
void Echo(http::Request& req, http::Response& res) {
  nlohmann::json headers = nlohmann::json::object();
  for (const auto& [k, v] : req.headers) headers[k] = v;
  res.Json(200, {{"method", req.method},
                 {"path", req.path},
                 {"body_size", req.body.size()},
                 {"remote_addr", req.remote_addr},
                 {"headers", headers}});
}

// Answers with Echo from a thread of its own, 20 ms after the handler
// returned.
std::thread EchoLater(const HttpServer::Responder& r, http::Request q) {
  return std::thread([r, q = std::move(q)]() mutable {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    http::Response s;
    Echo(q, s);
    r.Send(std::move(s));
  });
}

class ServerTest : public ::testing::Test {
 protected:
  void Start(ServerOptions o = TestOptions(),
             std::function<void(http::Request&, http::Response&)> d = Echo) {
    server_ = std::make_unique<HttpServer>(o, Synchronous(std::move(d)));
    ASSERT_TRUE(server_->Bind().ok());
    server_->Start();
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }
  std::string Get(const std::string& path, const std::string& extra = "") {
    return "GET " + path + " HTTP/1.1\r\nHost: t\r\n" + extra + "\r\n";
  }
  std::unique_ptr<HttpServer> server_;
};

TEST_F(ServerTest, SecondListenerOnSamePortIsRefused) {
  Start();
  ServerOptions o = TestOptions();
  o.port = server_->port();
  HttpServer second(o, Synchronous(Echo));
  Status s = second.Bind();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("in use"), std::string::npos) << s.message();
}

TEST_F(ServerTest, ByDefaultRunsALoopPerCpuTheProcessMayUse) {
  // Started from a thread allowed one CPU, as taskset or a cpuset would
  // allow the process: one loop, however many the machine has.
  cpu_set_t before;
  ASSERT_EQ(sched_getaffinity(0, sizeof before, &before), 0);
  cpu_set_t one;
  CPU_ZERO(&one);
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &before)) {
      CPU_SET(cpu, &one);
      break;
    }
  }
  ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
  ServerOptions o = TestOptions();
  o.io_threads = 0;
  Start(o);
  ASSERT_EQ(sched_setaffinity(0, sizeof before, &before), 0);
  EXPECT_EQ(server_->event_loops(), 1);
  RawConnection c(server_->port());
  ASSERT_TRUE(c.Send(Get("/one")));
  EXPECT_EQ(StatusOf(c.ReadResponse()), 200);
  // And io_threads, when set, is what runs.
  server_->Stop();
  o.io_threads = 3;
  Start(o);
  EXPECT_EQ(server_->event_loops(), 3);
}

TEST_F(ServerTest, ListenBacklogComesFromOptions) {
  ServerOptions o = TestOptions();
  o.listen_backlog = 777;
  Start(o);
  // For a listening socket, ss reports the backlog as Send-Q.
  std::string cmd = "ss -Hltn 'sport = :" + std::to_string(server_->port()) + "'";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char line[512] = {0};
  ASSERT_NE(fgets(line, sizeof(line), p), nullptr) << "ss printed nothing";
  pclose(p);
  EXPECT_NE(std::string(line).find(" 777 "), std::string::npos) << line;
}

TEST_F(ServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  Start();
  RawConnection c(server_->port());
  ASSERT_TRUE(c.ok());
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(c.Send(Get("/n" + std::to_string(i))));
    std::string r = c.ReadResponse();
    ASSERT_EQ(StatusOf(r), 200) << "request " << i;
    EXPECT_NE(HeaderOf(r, "Connection"), "close") << "request " << i;
  }
}

TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  Start();
  RawConnection c(server_->port());
  ASSERT_TRUE(c.Send(Get("/a") + Get("/b") +
                     "POST /c HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi" +
                     Get("/d")));
  for (const char* path : {"/a", "/b", "/c", "/d"}) {
    std::string r = c.ReadResponse();
    ASSERT_EQ(StatusOf(r), 200) << path;
    EXPECT_EQ(nlohmann::json::parse(BodyOf(r))["path"], path);
  }
}

TEST_F(ServerTest, ARequestFollowedByEndOfStreamIsStillAnswered) {
  Start();
  RawConnection c(server_->port());
  ASSERT_TRUE(c.Send(Get("/last")));
  c.FinishSending();
  std::string r = c.ReadResponse();
  ASSERT_EQ(StatusOf(r), 200) << r;
  EXPECT_EQ(nlohmann::json::parse(BodyOf(r))["path"], "/last");
  EXPECT_TRUE(c.ClosedByPeer());
}

TEST_F(ServerTest, TheLoopHookAnswersAtOnceLaterOrPassesOn) {
  // "/now" is answered inside the hook, "/later" by another thread after
  // the hook returned, and the rest by the worker pool.
  std::vector<std::thread> later;
  std::mutex mu;
  std::atomic<int> on_workers{0};
  server_ = std::make_unique<HttpServer>(
      TestOptions(),
      Synchronous([&](http::Request& q, http::Response& s) {
        ++on_workers;
        Echo(q, s);
      }),
      [&](http::Request& q, const HttpServer::Responder& r) {
        if (q.path == "/now") {
          http::Response s;
          Echo(q, s);
          r.Send(std::move(s));
          return true;
        }
        if (q.path == "/later") {
          std::lock_guard<std::mutex> lock(mu);
          later.push_back(EchoLater(r, q));
          return true;
        }
        return false;
      });
  ASSERT_TRUE(server_->Bind().ok());
  server_->Start();
  RawConnection c(server_->port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.Send(Get("/now") + Get("/later") + Get("/pool")));
    for (const char* path : {"/now", "/later", "/pool"}) {
      std::string r = c.ReadResponse();
      ASSERT_EQ(StatusOf(r), 200) << path << " " << i;
      EXPECT_EQ(nlohmann::json::parse(BodyOf(r))["path"], path);
    }
  }
  EXPECT_EQ(on_workers.load(), 3);
  server_->Stop();
  for (auto& t : later) t.join();
}

TEST_F(ServerTest, PipelinedAnswersKeepTheirOrderWhateverWritesThem) {
  // Answers the loop gives at once are written together; a worker writes
  // its own only when nothing is left unsent before it. Answers larger
  // than a small receive window, to a client that reads late, leave output
  // pending at every point.
  server_ = std::make_unique<HttpServer>(
      TestOptions(),
      Synchronous([](http::Request& q, http::Response& s) {
        s.status = 200;
        s.content_type = "text/plain";
        s.body = "pool " + q.target;
      }),
      [](http::Request& q, const HttpServer::Responder& r) {
        if (q.path == "/pool") return false;
        http::Response s;
        s.status = 200;
        s.content_type = "text/plain";
        s.body = q.path == "/big"   ? std::string(128 * 1024, 'b')
                 : q.path == "/mid" ? std::string(30 * 1024, 'm') + q.target
                                    : "now " + q.target;
        r.Send(std::move(s));
        return true;
      });
  ASSERT_TRUE(server_->Bind().ok());
  server_->Start();
  RawConnection c(server_->port(), /*receive_buffer=*/4096);
  std::vector<std::string> sent;
  std::string wire;
  for (int i = 0; i < 200; ++i) {
    for (const char* p : {"/big", "/mid", "/mid", "/pool", "/now", "/pool"}) {
      std::string target = std::string(p) + "?i=" + std::to_string(i);
      sent.push_back(target);
      wire += Get(target);
    }
  }
  std::atomic<bool> all_sent{false};
  std::thread writer([&] { all_sent = c.Send(wire); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  for (const auto& target : sent) {
    std::string r = c.ReadResponse(10000);
    EXPECT_EQ(StatusOf(r), 200) << target;
    if (StatusOf(r) != 200) break;
    std::string body = BodyOf(r);
    if (target.rfind("/big", 0) == 0) {
      EXPECT_EQ(body.size(), 128u * 1024) << target;
    } else if (target.rfind("/mid", 0) == 0) {
      EXPECT_EQ(body, std::string(30 * 1024, 'm') + target);
    } else if (target.rfind("/pool", 0) == 0) {
      EXPECT_EQ(body, "pool " + target);
    } else {
      EXPECT_EQ(body, "now " + target);
    }
  }
  c.FinishSending();
  writer.join();
  EXPECT_TRUE(all_sent.load());
}

TEST_F(ServerTest, AnUnansweredResponderBecomesA500) {
  server_ = std::make_unique<HttpServer>(
      TestOptions(), Synchronous(Echo),
      [](http::Request&, const HttpServer::Responder&) { return true; });
  ASSERT_TRUE(server_->Bind().ok());
  server_->Start();
  RawConnection c(server_->port());
  c.Send(Get("/"));
  std::string r = c.ReadResponse();
  EXPECT_EQ(StatusOf(r), 500) << r;
  EXPECT_EQ(HeaderOf(r, "Content-Type"), "application/problem+json");
}

TEST_F(ServerTest, AWorkerMayAnswerAfterItReturns) {
  // The dispatcher hands its Responder to another thread and returns; the
  // answer keeps its place in the connection's order.
  std::vector<std::thread> later;
  std::mutex mu;
  server_ = std::make_unique<HttpServer>(
      TestOptions(), [&](http::Request& q, const HttpServer::Responder& r) {
        if (q.path != "/later") {
          http::Response s;
          Echo(q, s);
          return r.Send(std::move(s));
        }
        std::lock_guard<std::mutex> lock(mu);
        later.push_back(EchoLater(r, q));
      });
  ASSERT_TRUE(server_->Bind().ok());
  server_->Start();
  RawConnection c(server_->port());
  ASSERT_TRUE(c.Send(Get("/later") + Get("/next")));
  for (const char* path : {"/later", "/next"}) {
    std::string r = c.ReadResponse();
    ASSERT_EQ(StatusOf(r), 200) << path;
    EXPECT_EQ(nlohmann::json::parse(BodyOf(r))["path"], path);
  }
  server_->Stop();
  for (auto& t : later) t.join();
}

TEST_F(ServerTest, StopWaitsForARequestWhoseClientHasGone) {
  // Its answer may be on its way to the connection's loop, so the loops
  // must outlive it even though the connection is closed.
  std::promise<HttpServer::Responder> held;
  server_ = std::make_unique<HttpServer>(
      TestOptions(), [&](http::Request&, const HttpServer::Responder& r) {
        held.set_value(r);
      });
  ASSERT_TRUE(server_->Bind().ok());
  server_->Start();
  HttpServer::Responder r;
  {
    RawConnection c(server_->port());
    ASSERT_TRUE(c.Send(Get("/")));
    r = held.get_future().get();
  }  // the client closes without an answer
  std::promise<void> stopped;
  std::thread stopper([&] {
    server_->Stop();
    stopped.set_value();
  });
  auto done = stopped.get_future();
  EXPECT_EQ(done.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  http::Response res;
  res.status = 204;
  r.Send(std::move(res));
  r = HttpServer::Responder();
  EXPECT_EQ(done.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  stopper.join();
}

TEST_F(ServerTest, ConnectionClosesAfterKeepAliveMaxRequests) {
  ServerOptions o = TestOptions();
  o.keep_alive_max_requests = 3;
  Start(o);
  RawConnection c(server_->port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.Send(Get("/")));
    std::string r = c.ReadResponse();
    ASSERT_EQ(StatusOf(r), 200);
    EXPECT_EQ(HeaderOf(r, "Connection") == "close", i == 2) << i;
  }
  EXPECT_TRUE(c.ClosedByPeer());
}

TEST_F(ServerTest, ServesMoreConcurrentConnectionsThanStartingThreads) {
  // Every handler waits until all N requests are inside handlers at once:
  // only possible if every connection got its own worker.
  constexpr int kClients = 256;
  std::mutex mu;
  std::condition_variable cv;
  int inside = 0;
  ServerOptions o = TestOptions();
  o.threads_min = 4;
  o.threads_max = 512;
  Start(o, [&](http::Request&, http::Response& res) {
    std::unique_lock<std::mutex> lock(mu);
    ++inside;
    cv.notify_all();
    bool all = cv.wait_for(lock, std::chrono::seconds(20),
                           [&] { return inside >= kClients; });
    res.Json(all ? 200 : 503, {{"inside", inside}});
  });
  std::vector<std::unique_ptr<RawConnection>> conns;
  for (int i = 0; i < kClients; ++i) {
    conns.push_back(std::make_unique<RawConnection>(server_->port()));
    ASSERT_TRUE(conns.back()->ok());
    ASSERT_TRUE(conns.back()->Send(Get("/")));
  }
  for (int i = 0; i < kClients; ++i) {
    EXPECT_EQ(StatusOf(conns[i]->ReadResponse(30000)), 200) << "client " << i;
  }
}

TEST_F(ServerTest, WaitingClientsAreServedWhenThreadsAreExhausted) {
  // Two workers, eight keep-alive clients that stay connected: the busy
  // connections must close after a response so that no client starves.
  ServerOptions o = TestOptions();
  o.threads_min = 2;
  o.threads_max = 2;
  o.keep_alive_timeout_ms = 60000;
  Start(o);
  std::vector<std::unique_ptr<RawConnection>> conns;
  for (int i = 0; i < 8; ++i) {
    conns.push_back(std::make_unique<RawConnection>(server_->port()));
    ASSERT_TRUE(conns.back()->Send(Get("/")));
  }
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(StatusOf(conns[i]->ReadResponse(10000)), 200) << "client " << i;
  }
}

// The answer to a shed request, exactly.
constexpr char kOverloadedBody[] =
    "{\"type\":\"urn:mitos:problem:overloaded\",\"title\":\"Service Unavailable\","
    "\"status\":503,\"detail\":\"The server is overloaded; retry later.\"}";

void ExpectShed(const std::string& r, const std::string& what) {
  EXPECT_EQ(StatusOf(r), 503) << what << "\n" << r;
  EXPECT_EQ(HeaderOf(r, "Content-Type"), "application/problem+json") << what;
  EXPECT_EQ(HeaderOf(r, "Retry-After"), "1") << what;
  EXPECT_FALSE(HeaderOf(r, "X-Request-Id").empty()) << what;
  EXPECT_EQ(BodyOf(r), kOverloadedBody) << what;
}

// Sleeps `slow` for /slow, answers anything else at once.
std::function<void(http::Request&, http::Response&)> SlowHandler(
    std::chrono::milliseconds slow, std::atomic<int>* handled) {
  return [slow, handled](http::Request& q, http::Response& s) {
    if (q.path == "/slow") {
      ++*handled;
      std::this_thread::sleep_for(slow);
    }
    Echo(q, s);
  };
}

struct FloodResult {
  int ok = 0;
  int shed = 0;
  int other = 0;
  int livez = 0;  // the probe's status
};

// Sends `n` concurrent /slow requests, each on its own connection, then a
// /livez while they queue; reads every answer.
FloodResult Flood(int port, int n) {
  std::vector<std::unique_ptr<RawConnection>> conns;
  for (int i = 0; i < n; ++i) {
    conns.push_back(std::make_unique<RawConnection>(port));
    EXPECT_TRUE(conns.back()->Send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  RawConnection probe(port);
  EXPECT_TRUE(probe.Send("GET /livez HTTP/1.1\r\nHost: t\r\n\r\n"));
  FloodResult f;
  for (int i = 0; i < n; ++i) {
    std::string r = conns[i]->ReadResponse(20000);
    if (StatusOf(r) == 200) {
      ++f.ok;
    } else if (StatusOf(r) == 503) {
      ++f.shed;
      ExpectShed(r, "request " + std::to_string(i));
    } else {
      ++f.other;
    }
  }
  f.livez = StatusOf(probe.ReadResponse(20000));
  return f;
}

TEST_F(ServerTest, AFloodThatOutrunsTheWorkersIsShed) {
  // Two workers, 50 ms a request, 40 at once: the queue stands, and past
  // the shedder's 100 ms cap every one still waiting is answered 503 at
  // once, without its handler. The probe queued behind them is served.
  ServerOptions o = TestOptions();
  o.threads_min = 2;
  o.threads_max = 2;
  o.shedding.max_queue_time = std::chrono::milliseconds(100);
  std::atomic<int> handled{0};
  Start(o, SlowHandler(std::chrono::milliseconds(50), &handled));
  FloodResult f = Flood(server_->port(), 40);
  EXPECT_EQ(f.livez, 200);
  EXPECT_EQ(f.other, 0);
  EXPECT_GE(f.ok, 2);
  EXPECT_GT(f.shed, 10);
  EXPECT_EQ(f.ok + f.shed, 40);
  EXPECT_EQ(handled.load(), f.ok);  // no shed request reached the handler
  EXPECT_EQ(server_->requests_shed(), static_cast<uint64_t>(f.shed));
}

TEST_F(ServerTest, AStandingQueueIsShedWithoutTheHardCap) {
  // CoDel's rule alone: the second interval of 100 ms in which every
  // request waited over 5 ms starts shedding those that waited over 5 ms.
  ServerOptions o = TestOptions();
  o.threads_min = 2;
  o.threads_max = 2;
  o.shedding.max_queue_time = std::chrono::milliseconds(0);
  std::atomic<int> handled{0};
  Start(o, SlowHandler(std::chrono::milliseconds(10), &handled));
  FloodResult f = Flood(server_->port(), 80);
  EXPECT_EQ(f.livez, 200);
  EXPECT_EQ(f.other, 0);
  EXPECT_GT(f.ok, 10);
  EXPECT_GT(f.shed, 0);
  EXPECT_EQ(handled.load(), f.ok);
}

TEST_F(ServerTest, WithSheddingDisabledAFloodIsServedLate) {
  ServerOptions o = TestOptions();
  o.threads_min = 2;
  o.threads_max = 2;
  o.shedding.enabled = false;
  std::atomic<int> handled{0};
  Start(o, SlowHandler(std::chrono::milliseconds(25), &handled));
  FloodResult f = Flood(server_->port(), 24);  // 300 ms of work
  EXPECT_EQ(f.livez, 200);
  EXPECT_EQ(f.ok, 24);
  EXPECT_EQ(f.shed, 0);
  EXPECT_EQ(server_->requests_shed(), 0u);
}

TEST_F(ServerTest, AProbeIsNeverShed) {
  // One worker, held for 300 ms: a request and the probes queued behind
  // it wait well past the cap. The request is shed; the probes are
  // served.
  ServerOptions o = TestOptions();
  o.threads_min = 1;
  o.threads_max = 1;
  o.shedding.max_queue_time = std::chrono::milliseconds(100);
  std::atomic<int> handled{0};
  Start(o, SlowHandler(std::chrono::milliseconds(300), &handled));
  RawConnection slow(server_->port());
  ASSERT_TRUE(slow.Send(Get("/slow")));
  while (handled.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  RawConnection other(server_->port());
  RawConnection livez(server_->port());
  RawConnection readyz(server_->port());
  ASSERT_TRUE(other.Send(Get("/other")));
  ASSERT_TRUE(livez.Send(Get("/livez")));
  ASSERT_TRUE(readyz.Send(Get("/readyz?verbose=1")));
  EXPECT_EQ(StatusOf(slow.ReadResponse()), 200);
  ExpectShed(other.ReadResponse(), "/other");
  std::string r = livez.ReadResponse();
  EXPECT_EQ(StatusOf(r), 200) << r;
  EXPECT_EQ(nlohmann::json::parse(BodyOf(r))["path"], "/livez");
  EXPECT_EQ(StatusOf(readyz.ReadResponse()), 200);
  EXPECT_EQ(server_->requests_shed(), 1u);
  // The connection of a shed request stays open and serves the next one.
  ASSERT_TRUE(other.Send(Get("/after")));
  EXPECT_EQ(StatusOf(other.ReadResponse()), 200);
}

TEST_F(ServerTest, ALoopShedsPipelinedRequestsThatWaitedBehindSlowOnes) {
  // A loop hook that blocks for 60 ms (as a handler on the loop never
  // should): of six requests read together, those reached after more
  // than 100 ms are shed, in their place in the order; a probe never is.
  std::atomic<int> on_loop{0};
  ServerOptions o = TestOptions();
  o.shedding.max_queue_time = std::chrono::milliseconds(100);
  server_ = std::make_unique<HttpServer>(
      o, Synchronous(Echo),
      [&](http::Request& q, const HttpServer::Responder& r) {
        if (q.path == "/block") {
          ++on_loop;
          std::this_thread::sleep_for(std::chrono::milliseconds(60));
        }
        http::Response s;
        Echo(q, s);
        r.Send(std::move(s));
        return true;
      });
  ASSERT_TRUE(server_->Bind().ok());
  server_->Start();
  RawConnection c(server_->port());
  std::string batch;
  for (int i = 0; i < 6; ++i) batch += Get("/block");
  batch += Get("/livez");
  ASSERT_TRUE(c.Send(batch));
  // Waits of 0, 60, then 120 ms and more: the first two are served.
  for (int i = 0; i < 6; ++i) {
    std::string r = c.ReadResponse();
    if (i < 2) {
      EXPECT_EQ(StatusOf(r), 200) << i << "\n" << r;
    } else {
      ExpectShed(r, "pipelined " + std::to_string(i));
    }
  }
  std::string probe = c.ReadResponse();
  EXPECT_EQ(StatusOf(probe), 200) << probe;
  EXPECT_EQ(nlohmann::json::parse(BodyOf(probe))["path"], "/livez");
  EXPECT_EQ(on_loop.load(), 2);
  EXPECT_EQ(server_->requests_shed(), 4u);
}

// Serves every request on the loop, spending `cost` of the loop's time on
// each /work (a loop-bound route), and records the order in which the loop
// took the requests by their `n` query (".../work?n=3").
class LoopQueueTest : public ServerTest {
 protected:
  void StartLoop(ServerOptions o, std::chrono::microseconds cost) {
    o.io_threads = 1;
    server_ = std::make_unique<HttpServer>(
        o, Synchronous(Echo), [this, cost](http::Request& q, const HttpServer::Responder& r) {
          if (q.path == "/work") {
            const auto until = std::chrono::steady_clock::now() + cost;
            while (std::chrono::steady_clock::now() < until) {
            }
            std::lock_guard<std::mutex> lock(mu_);
            order_.push_back(q.target);
          }
          http::Response s;
          Echo(q, s);
          r.Send(std::move(s));
          return true;
        });
    ASSERT_TRUE(server_->Bind().ok());
    server_->Start();
  }
  // The /work requests the loop has served so far.
  int Served() {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(order_.size());
  }
  // Where the loop took `target` among the /work requests; -1 if never.
  int PositionOf(const std::string& target) {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < order_.size(); ++i) {
      if (order_[i] == target) return static_cast<int>(i);
    }
    return -1;
  }
  // `n` connections, each sending /work?n=<first + i>, one after another.
  std::vector<std::unique_ptr<RawConnection>> Send(int first, int n) {
    std::vector<std::unique_ptr<RawConnection>> conns;
    for (int i = 0; i < n; ++i) {
      conns.push_back(std::make_unique<RawConnection>(server_->port()));
      EXPECT_TRUE(conns.back()->Send(Get("/work?n=" + std::to_string(first + i))));
    }
    return conns;
  }
  std::mutex mu_;
  std::vector<std::string> order_;
};

// Newest first past a 5 ms wait; CoDel's interval and the cap too long to
// shed anything, unless a test shortens one.
ServerOptions QueueOptions() {
  ServerOptions o = TestOptions();
  o.shedding.target = std::chrono::milliseconds(5);
  o.shedding.interval = std::chrono::milliseconds(10000);
  o.shedding.max_queue_time = std::chrono::milliseconds(10000);
  return o;
}

TEST_F(LoopQueueTest, AStandingQueueIsServedNewestFirst) {
  // 400 requests of 1 ms each hold the loop for 400 ms. One sent once the
  // loop is serving them finds a queue whose oldest entry has waited far
  // past the 5 ms target, and is served in the next slice, ahead of the
  // hundreds of older ones still waiting. Nothing is shed.
  StartLoop(QueueOptions(), std::chrono::microseconds(1000));
  auto old = Send(0, 400);
  while (Served() < 20) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const int before = Served();
  auto fresh = Send(1000, 1);
  for (auto& c : old) EXPECT_EQ(StatusOf(c->ReadResponse(10000)), 200);
  EXPECT_EQ(StatusOf(fresh[0]->ReadResponse(10000)), 200);
  const int pos = PositionOf("/work?n=1000");
  ASSERT_GE(pos, 0);
  // After the slice under way (64), or the next one if the loop moved on
  // between counting and sending, and some slack: not after the 380 left
  // in order.
  EXPECT_LE(pos, before + 2 * 64 + 40) << "served in arrival order";
  EXPECT_EQ(server_->requests_shed(), 0u);
}

TEST_F(LoopQueueTest, WithSheddingDisabledTheQueueIsServedInArrivalOrder) {
  ServerOptions o = QueueOptions();
  o.shedding.enabled = false;
  StartLoop(o, std::chrono::microseconds(1000));
  auto old = Send(0, 400);
  while (Served() < 20) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  auto fresh = Send(1000, 1);
  for (auto& c : old) EXPECT_EQ(StatusOf(c->ReadResponse(10000)), 200);
  EXPECT_EQ(StatusOf(fresh[0]->ReadResponse(10000)), 200);
  EXPECT_EQ(PositionOf("/work?n=1000"), 400);
  EXPECT_EQ(server_->requests_shed(), 0u);
}

TEST_F(LoopQueueTest, TheOldestAreShedAtTheCapWhileTheNewestAreServed) {
  // 200 requests of 2 ms: 400 ms of work against a 100 ms cap. Served
  // newest first, the ones left waiting past 100 ms are answered 503,
  // unserved, without waiting for the loop to reach them in order; a probe
  // sent among them is served.
  ServerOptions o = QueueOptions();
  o.shedding.max_queue_time = std::chrono::milliseconds(100);
  StartLoop(o, std::chrono::microseconds(2000));
  const auto t0 = std::chrono::steady_clock::now();
  auto conns = Send(0, 200);
  RawConnection probe(server_->port());
  ASSERT_TRUE(probe.Send(Get("/livez")));
  int ok = 0;
  int shed = 0;
  for (size_t i = 0; i < conns.size(); ++i) {
    std::string r = conns[i]->ReadResponse(10000);
    if (StatusOf(r) == 200) {
      ++ok;
    } else {
      ++shed;
      ExpectShed(r, "request " + std::to_string(i));
    }
  }
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(StatusOf(probe.ReadResponse(10000)), 200);
  EXPECT_GT(ok, 30);
  EXPECT_GT(shed, 30);
  EXPECT_EQ(ok + shed, 200);
  EXPECT_EQ(server_->requests_shed(), static_cast<uint64_t>(shed));
  {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_EQ(static_cast<int>(order_.size()), ok);  // no shed one was served
  }
  // Served in order, all 200 would have taken 400 ms.
  EXPECT_LT(took, std::chrono::milliseconds(350));
}

TEST_F(ServerTest, PipelinedRequestsBehindASlowWorkerAreNotShed) {
  // Requests that wait for the one before them on their connection wait
  // for their client's choice (HTTP/1.1 answers in order), not for the
  // server: that wait does not count.
  ServerOptions o = TestOptions();
  std::atomic<int> handled{0};
  Start(o, SlowHandler(std::chrono::milliseconds(60), &handled));
  RawConnection c(server_->port());
  ASSERT_TRUE(c.Send(Get("/slow") + Get("/slow") + Get("/slow") + Get("/fast")));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(StatusOf(c.ReadResponse()), 200) << i;
  EXPECT_EQ(server_->requests_shed(), 0u);
}

TEST_F(ServerTest, ChunkedBodyWithinLimitIsDelivered) {
  Start();
  RawConnection c(server_->port());
  std::string body(1000, 'x');
  ASSERT_TRUE(c.Send("POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
                     "chunked\r\n\r\n3e8\r\n" + body + "\r\n0\r\n\r\n"));
  std::string r = c.ReadResponse();
  ASSERT_EQ(StatusOf(r), 200) << r;
  EXPECT_EQ(nlohmann::json::parse(BodyOf(r))["body_size"], 1000);
}

TEST_F(ServerTest, ChunkedBodyOverLimitIs413AndCloses) {
  std::atomic<int> calls{0};
  Start(TestOptions(), [&](http::Request& q, http::Response& s) {
    ++calls;
    Echo(q, s);
  });
  RawConnection c(server_->port());
  std::string chunk(1000, 'x');
  std::string req = "POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 5; ++i) req += "3e8\r\n" + chunk + "\r\n";
  req += "0\r\n\r\n";
  c.Send(req);
  std::string r = c.ReadResponse();
  EXPECT_EQ(StatusOf(r), 413) << r;
  EXPECT_EQ(HeaderOf(r, "Content-Type"), "application/problem+json");
  EXPECT_TRUE(c.ClosedByPeer());
  EXPECT_EQ(calls.load(), 0);
}

TEST_F(ServerTest, ContentLengthOverLimitIs413WithoutReadingTheBody) {
  Start();
  RawConnection c(server_->port());
  c.Send("POST /p HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
         "Content-Length: 5000000\r\n\r\n");
  std::string r = c.ReadResponse();
  EXPECT_EQ(StatusOf(r), 413);
  EXPECT_NE(BodyOf(r).find("\"status\":413"), std::string::npos);
  EXPECT_TRUE(c.ClosedByPeer());
}

TEST_F(ServerTest, CompressedBodiesAreRejected) {
  Start();
  RawConnection c(server_->port());
  c.Send("POST /p HTTP/1.1\r\nHost: t\r\nContent-Encoding: gzip\r\n"
         "Content-Length: 4\r\n\r\nabcd");
  std::string r = c.ReadResponse();
  EXPECT_EQ(StatusOf(r), 415);
  EXPECT_TRUE(c.ClosedByPeer());
}

TEST_F(ServerTest, ContentLengthWithTransferEncodingIsRejected) {
  Start();
  RawConnection c(server_->port());
  c.Send("POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  EXPECT_EQ(StatusOf(c.ReadResponse()), 400);
  EXPECT_TRUE(c.ClosedByPeer());
}

TEST_F(ServerTest, BodyOnGetIsRejectedAndNotParsedAsNextRequest) {
  Start();
  RawConnection c(server_->port());
  c.Send("GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 18\r\n\r\n"
         "GET /smuggled HTTP/1.1\r\n\r\n");
  std::string r = c.ReadResponse();
  EXPECT_EQ(StatusOf(r), 400);
  EXPECT_TRUE(c.ClosedByPeer());
}

// A request the parser refuses gets one problem response, and nothing
// after it on the connection is ever served: the response stream holds
// exactly one response.
struct Refused {
  const char* name;
  std::string wire;
};

std::string RefusedName(const ::testing::TestParamInfo<Refused>& info) {
  return info.param.name;
}

class ServerRefusalTest : public ServerTest,
                          public ::testing::WithParamInterface<Refused> {};

TEST_P(ServerRefusalTest, AnswersOnceAndServesNothingAfter) {
  std::mutex mu;
  std::vector<std::string> served;
  Start(TestOptions(), [&](http::Request& q, http::Response& s) {
    std::lock_guard<std::mutex> lock(mu);
    served.push_back(q.path);
    Echo(q, s);
  });
  RawConnection c(server_->port());
  ASSERT_TRUE(
      c.Send(GetParam().wire + "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string r = c.ReadResponse();
  EXPECT_EQ(StatusOf(r), 400) << r;
  EXPECT_EQ(HeaderOf(r, "Content-Type"), "application/problem+json");
  EXPECT_EQ(HeaderOf(r, "Connection"), "close");
  EXPECT_EQ(c.ReadResponse(2000), "") << "a second response";
  EXPECT_TRUE(c.ClosedByPeer());
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_TRUE(served.empty()) << served.front();
}

INSTANTIATE_TEST_SUITE_P(
    Framing, ServerRefusalTest,
    ::testing::Values(
        Refused{
            "chunk_size_with_space",
            "POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            "5 \r\nhello\r\n0\r\n\r\n"},
        Refused{
            "chunk_extension_empty",
            "POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            "5;\r\nhello\r\n0\r\n\r\n"},
        Refused{
            "chunk_extension_bare_cr",
            "POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            "5;a\rb\r\nhello\r\n0\r\n\r\n"},
        Refused{
            "chunk_data_bare_lf",
            "POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            "5\r\nhello\n0\r\n\r\n"},
        Refused{
            "trailer_folded",
            "POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            "0\r\nX-T: a\r\n b\r\n\r\n"},
        Refused{
            "trailer_control",
            "POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            "0\r\nX-T: a\x01\r\n\r\n"},
        Refused{"host_missing", "GET /p HTTP/1.1\r\n\r\n"},
        Refused{"host_twice", "GET /p HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
        Refused{"host_malformed", "GET /p HTTP/1.1\r\nHost: a@b\r\n\r\n"},
        Refused{"absolute_form_userinfo",
                "GET http://u@a/p HTTP/1.1\r\nHost: a\r\n\r\n"},
        Refused{"head_bare_lf", "GET /p HTTP/1.1\nHost: t\r\n\r\n"}),
    RefusedName);

TEST_F(ServerTest, AnAbsoluteFormTargetIsRoutedByItsPathAndAuthority) {
  Start();
  RawConnection c(server_->port());
  ASSERT_TRUE(c.Send(
      "GET http://api.example:81/p/q?x=1 HTTP/1.1\r\nHost: other\r\n\r\n"));
  std::string r = c.ReadResponse();
  ASSERT_EQ(StatusOf(r), 200) << r;
  auto j = nlohmann::json::parse(BodyOf(r));
  EXPECT_EQ(j["path"], "/p/q");
  EXPECT_EQ(j["headers"]["Host"], "api.example:81");
}

TEST_F(ServerTest, TrailerFieldsAreCheckedButNeverReachHandlers) {
  Start();
  RawConnection c(server_->port());
  ASSERT_TRUE(
      c.Send("POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
             "3;a=\"b\"\r\nabc\r\n0\r\nX-Trailer: t\r\nHost: evil\r\n\r\n" +
             Get("/next")));
  std::string r = c.ReadResponse();
  ASSERT_EQ(StatusOf(r), 200) << r;
  auto j = nlohmann::json::parse(BodyOf(r));
  EXPECT_EQ(j["body_size"], 3);
  EXPECT_FALSE(j["headers"].contains("X-Trailer")) << j;
  EXPECT_EQ(j["headers"]["Host"], "t");
  r = c.ReadResponse();
  ASSERT_EQ(StatusOf(r), 200) << r;
  EXPECT_EQ(nlohmann::json::parse(BodyOf(r))["path"], "/next");
}

// --- answers given before the whole request was read
// ---------------------------

constexpr size_t kEightMiB = 8 << 20;

TEST_F(ServerTest, A413ReachesAClientThatIsStillSendingItsBody) {
  // The answer comes after the head; the client sends all 8 MiB before it
  // reads. A close with unread bytes would reset the connection under it.
  Start();
  RawConnection c(server_->port());
  ASSERT_TRUE(c.Send(
      "POST /p HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(kEightMiB) + "\r\n\r\n" + std::string(kEightMiB, 'x')))
      << "the server reset the connection";
  std::string r = c.ReadResponse();
  EXPECT_EQ(StatusOf(r), 413) << r;
  EXPECT_EQ(HeaderOf(r, "Content-Type"), "application/problem+json");
  EXPECT_TRUE(c.ClosedByPeer());
}

TEST_F(ServerTest, AnErrorInTheMiddleOfABodyReachesAClientStillSending) {
  Start();
  RawConnection c(server_->port());
  std::string chunk(64 << 10, 'x');
  std::string wire =
      "POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "10\r\n0123456789abcdef\r\n5 \r\nhello\r\n";  // bad size line
  while (wire.size() < kEightMiB) wire += "10000\r\n" + chunk + "\r\n";
  ASSERT_TRUE(c.Send(wire)) << "the server reset the connection";
  std::string r = c.ReadResponse();
  EXPECT_EQ(StatusOf(r), 400) << r;
  EXPECT_EQ(c.ReadResponse(1000), "");
  EXPECT_TRUE(c.ClosedByPeer());
}

TEST_F(ServerTest, LingeringEndsAfterItsTimeout) {
  ServerOptions o = TestOptions();
  o.linger_timeout_ms = 300;
  Start(o);
  RawConnection c(server_->port());
  ASSERT_TRUE(
      c.Send("POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\nabc"));
  EXPECT_EQ(StatusOf(c.ReadResponse()), 413);
  // The client neither sends the rest nor closes.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (server_->open_connections() > 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(server_->open_connections(), 0);
}

TEST_F(ServerTest, LingeringEndsAfterItsByteLimit) {
  ServerOptions o = TestOptions();
  o.linger_timeout_ms = 60000;
  o.linger_max_bytes = 64 << 10;
  Start(o);
  RawConnection c(server_->port());
  std::thread sender([&] {
    // Fails once the server gives up and resets the connection.
    c.Send("POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: " +
           std::to_string(kEightMiB) + "\r\n\r\n" +
           std::string(kEightMiB, 'x'));
  });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (server_->open_connections() == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  while (server_->open_connections() > 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(server_->open_connections(), 0);
  c.FinishSending();
  sender.join();
}

TEST_F(ServerTest, StopEndsLingeringConnections) {
  ServerOptions o = TestOptions();
  o.linger_timeout_ms = 60000;
  Start(o);
  RawConnection c(server_->port());
  ASSERT_TRUE(
      c.Send("POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n"));
  EXPECT_EQ(StatusOf(c.ReadResponse()), 413);
  EXPECT_EQ(server_->open_connections(), 1)
      << "lingering, the client has not closed";
  auto stopped = std::async(std::launch::async, [&] { server_->Stop(); });
  EXPECT_EQ(stopped.wait_for(std::chrono::seconds(5)),
            std::future_status::ready);
}

TEST_F(ServerTest, PostWithoutLengthHasEmptyBodyAndDoesNotHang) {
  Start();
  RawConnection c(server_->port());
  c.Send("POST /p HTTP/1.1\r\nHost: t\r\n\r\n");
  std::string r = c.ReadResponse(3000);
  ASSERT_EQ(StatusOf(r), 200);
  EXPECT_EQ(nlohmann::json::parse(BodyOf(r))["body_size"], 0);
}

TEST_F(ServerTest, ExceptionTextNeverReachesTheClient) {
  Start(TestOptions(), [](http::Request&, http::Response&) {
    throw std::runtime_error("secret internal detail");
  });
  RawConnection c(server_->port());
  c.Send(Get("/"));
  std::string r = c.ReadResponse();
  EXPECT_EQ(StatusOf(r), 500);
  EXPECT_EQ(r.find("secret"), std::string::npos) << r;
  EXPECT_EQ(HeaderOf(r, "EXCEPTION_WHAT"), "");
  EXPECT_EQ(HeaderOf(r, "Content-Type"), "application/problem+json");
}

TEST_F(ServerTest, ClientAddressComesFromTheSocketNotHeaders) {
  Start();
  RawConnection c(server_->port());
  c.Send(Get("/", "REMOTE_ADDR: 6.6.6.6\r\nREMOTE_PORT: 1\r\n"));
  auto j = nlohmann::json::parse(BodyOf(c.ReadResponse()));
  EXPECT_EQ(j["remote_addr"], "127.0.0.1");
}

TEST_F(ServerTest, MalformedRequestGetsProblemAndClose) {
  Start();
  RawConnection c(server_->port());
  c.Send("THIS IS NOT HTTP\r\n\r\n");
  std::string r = c.ReadResponse();
  EXPECT_EQ(StatusOf(r), 400) << r;
  EXPECT_EQ(HeaderOf(r, "Content-Type"), "application/problem+json");
  EXPECT_TRUE(c.ClosedByPeer());
}

TEST_F(ServerTest, OversizedHeadersAreRefused) {
  ServerOptions o = TestOptions();
  o.max_header_bytes = 4096;
  Start(o);
  RawConnection c(server_->port());
  std::string big;
  for (int i = 0; i < 100; ++i) big += "X-Pad-" + std::to_string(i) + ": " + std::string(100, 'a') + "\r\n";
  c.Send(Get("/", big));
  std::string r = c.ReadResponse();
  EXPECT_EQ(StatusOf(r), 431) << r;
  EXPECT_EQ(HeaderOf(r, "Content-Type"), "application/problem+json");
  EXPECT_TRUE(c.ClosedByPeer());
}

TEST_F(ServerTest, SlowRequestIsCutOffAtRequestTimeout) {
  ServerOptions o = TestOptions();
  o.request_timeout_ms = 300;
  Start(o);
  RawConnection c(server_->port());
  c.Send("GET / HTTP/1.1\r\nHost: t\r\n");  // never finishes the head
  EXPECT_TRUE(c.ClosedByPeer(10000));
}

TEST_F(ServerTest, HeadHasNoBody) {
  Start();
  RawConnection c(server_->port());
  c.Send("HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
  std::string r = c.ReadResponse(5000, /*head=*/true);
  EXPECT_EQ(StatusOf(r), 200);
  EXPECT_NE(HeaderOf(r, "Content-Length"), "0");
  EXPECT_EQ(BodyOf(r), "");
  // The next response on the same connection parses cleanly.
  c.Send(Get("/next"));
  std::string r2 = c.ReadResponse();
  EXPECT_EQ(StatusOf(r2), 200) << r2;
}

TEST_F(ServerTest, DrainingClosesConnectionsAfterEachResponse) {
  Start();
  RawConnection c(server_->port());
  c.Send(Get("/"));
  EXPECT_NE(HeaderOf(c.ReadResponse(), "Connection"), "close");
  server_->BeginDrain();
  c.Send(Get("/"));
  std::string r = c.ReadResponse();
  EXPECT_EQ(StatusOf(r), 200);
  EXPECT_EQ(HeaderOf(r, "Connection"), "close");
  EXPECT_TRUE(c.ClosedByPeer());
}

TEST_F(ServerTest, StopFinishesInFlightRequestsAndClosesIdleOnes) {
  std::promise<void> entered;
  std::promise<void> release;
  auto release_f = release.get_future().share();
  std::atomic<bool> first{true};
  ServerOptions o = TestOptions();
  o.keep_alive_timeout_ms = 60000;
  Start(o, [&](http::Request& q, http::Response& s) {
    if (q.path == "/slow" && first.exchange(false)) {
      entered.set_value();
      release_f.wait();
    }
    Echo(q, s);
  });
  RawConnection idle(server_->port());
  idle.Send(Get("/"));
  ASSERT_EQ(StatusOf(idle.ReadResponse()), 200);

  RawConnection busy(server_->port());
  busy.Send(Get("/slow"));
  entered.get_future().wait();
  auto stopped = std::async(std::launch::async, [&] { server_->Stop(); });
  EXPECT_TRUE(idle.ClosedByPeer(5000));
  release.set_value();
  std::string r = busy.ReadResponse();
  EXPECT_EQ(StatusOf(r), 200) << "in-flight request must complete";
  ASSERT_EQ(stopped.wait_for(std::chrono::seconds(10)),
            std::future_status::ready);
  // A new connection is refused once stopped.
  RawConnection late(server_->port());
  EXPECT_FALSE(late.ok());
}

TEST_F(ServerTest, StopRefusesNewConnectionsAtOnceAndServesOneJustAccepted) {
  std::promise<void> entered;
  std::promise<void> release;
  auto release_f = release.get_future().share();
  Start(TestOptions(), [&](http::Request& q, http::Response& s) {
    if (q.path == "/slow") {
      entered.set_value();
      release_f.wait();
    }
    Echo(q, s);
  });
  RawConnection busy(server_->port());
  busy.Send(Get("/slow"));
  entered.get_future().wait();
  // Connected, its request not sent yet when the server begins to stop.
  RawConnection fresh(server_->port());
  ASSERT_TRUE(fresh.ok());
  auto stopped = std::async(std::launch::async, [&] { server_->Stop(); });
  // While the slow request still runs, a new connection is refused (not
  // left in the backlog, to be reset once the server is done).
  bool refused = false;
  for (int i = 0; i < 200 && !refused; ++i) {
    RawConnection probe(server_->port());
    refused = !probe.ok();
    if (!refused) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(refused);
  // The request of the connection accepted before is served, and the
  // connection closed after it.
  fresh.Send(Get("/late"));
  std::string r = fresh.ReadResponse();
  EXPECT_EQ(StatusOf(r), 200) << r;
  EXPECT_EQ(HeaderOf(r, "Connection"), "close");
  EXPECT_TRUE(fresh.ClosedByPeer());
  release.set_value();
  EXPECT_EQ(StatusOf(busy.ReadResponse()), 200);
  ASSERT_EQ(stopped.wait_for(std::chrono::seconds(10)),
            std::future_status::ready);
}

}  // namespace
}  // namespace mitos::internal
