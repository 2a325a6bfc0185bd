#include "mitos/core/runtime.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <map>
#include <thread>

#include "mitos/core/main.h"
#include "mitos/io/event_loop.h"
#include "mitos_testing/instance.h"

namespace mitos {
namespace {

using testing::TestInstance;

// The API that the fake "clock" module offers to others.
class ClockApi {
 public:
  virtual ~ClockApi() = default;
  virtual int64_t Now() = 0;
};

class FixedClock : public ClockApi {
 public:
  int64_t Now() override { return 42; }
};

// The remote binding of ClockApi; it answers 7 without calling anything,
// so a test can tell which binding a module was given.
class RemoteClock : public ClockApi {
 public:
  explicit RemoteClock(std::shared_ptr<remote::Channel> ch) : ch_(std::move(ch)) {}
  int64_t Now() override { return 7; }

 private:
  std::shared_ptr<remote::Channel> ch_;
};

// A module whose start can be held open by the test.
struct Gate {
  std::promise<void> entered;
  std::shared_future<void> open;
};

class ClockModule : public Module {
 public:
  explicit ClockModule(Gate* gate) : gate_(gate) {}
  Status Start(ModuleContext& ctx) override {
    if (gate_ != nullptr) {
      gate_->entered.set_value();
      gate_->open.wait();
    }
    ctx.Provide<ClockApi>(std::make_shared<FixedClock>());
    return Status::Ok();
  }
  void RegisterRoutes(http::Router& r) override {
    r.Add("clock", "GET", "/clock", [](const http::Request&, http::Response& res) {
      res.Json(200, {{"now", 42}});
    }, http::Access::Public());
  }
  void Stop() override {}

 private:
  Gate* gate_;
};

class ReaderModule : public Module {
 public:
  Status Start(ModuleContext& ctx) override {
    clock_ = ctx.Get<ClockApi>("clock");
    if (!clock_) return Status::Internal("no clock");
    return Status::Ok();
  }
  void RegisterRoutes(http::Router& r) override {
    r.Add("reader", "GET", "/read/{what}",
          [this](const http::Request& req, http::Response& res) {
            res.Json(200, {{"what", req.Param(0)}, {"now", clock_->Now()}});
          }, http::Access::Public());
  }
  void Stop() override {}

 private:
  std::shared_ptr<ClockApi> clock_;
};

class FailingModule : public Module {
 public:
  Status Start(ModuleContext&) override {
    return Status::Internal("disk on fire");
  }
  void RegisterRoutes(http::Router&) override {}
  void Stop() override {}
};

// A module whose routes report where the runtime ran them: on an event
// loop or on a worker thread. It needs "clock", so its placement depends on
// whether clock runs in the same instance.
class WhereModule : public Module {
 public:
  Status Start(ModuleContext&) override { return Status::Ok(); }
  void RegisterRoutes(http::Router& r) override {
    auto sync = [](const http::Request&, http::Response& res) {
      res.Json(200, {{"loop", internal::EventLoop::Current() != nullptr}});
    };
    r.Add("where", "GET", "/where/sync", sync, http::Access::Public());
    r.Add("where", "POST", "/where/sync", sync, http::Access::Public());
    auto later = [](const http::Request&, http::Done done) {
      const bool loop = internal::EventLoop::Current() != nullptr;
      // Answered from a thread the server does not own, after the handler
      // returned.
      std::thread([done = std::move(done), loop] {
        http::Response res;
        res.Json(200, {{"loop", loop}});
        done(std::move(res));
      }).detach();
    };
    r.AddAsync("where", "POST", "/where/async", later,
               http::Blocking::kOnDependencies, http::Access::Public());
    r.AddAsync("where", "POST", "/where/never", later, http::Blocking::kNever,
               http::Access::Public());
  }
  void Stop() override {}
};

std::vector<ModuleSpec> WithWhere(std::vector<ModuleSpec> catalog) {
  ModuleSpec where;
  where.name = "where";
  where.needs = {"clock"};
  where.create = [](const config::Config&) { return std::make_unique<WhereModule>(); };
  catalog.push_back(where);
  return catalog;
}

std::vector<ModuleSpec> Catalog(Gate* gate = nullptr) {
  ModuleSpec clock;
  clock.name = "clock";
  clock.remote_api = RemoteBinding<ClockApi, RemoteClock>();
  clock.create = [gate](const config::Config&) {
    return std::make_unique<ClockModule>(gate);
  };
  ModuleSpec reader;
  reader.name = "reader";
  reader.needs = {"clock"};
  reader.create = [](const config::Config&) {
    return std::make_unique<ReaderModule>();
  };
  // Listed first on purpose: start order must follow needs, not the list.
  return {reader, clock};
}

TEST(SelectModules, EmptySelectionRunsEverythingInDependencyOrder) {
  auto catalog = Catalog();
  auto s = SelectModules(catalog, {});
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->size(), 2u);
  EXPECT_EQ((*s)[0]->name, "clock");
  EXPECT_EQ((*s)[1]->name, "reader");
}

TEST(SelectModules, UnknownNameListsTheKnownOnes) {
  auto catalog = Catalog();
  auto s = SelectModules(catalog, {"clock", "nope"});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("\"nope\""), std::string::npos);
  EXPECT_NE(s.status().message().find("reader, clock"), std::string::npos)
      << s.status().message();
}

TEST(CheckDependencies, MissingDependencyNamesModuleAndFix) {
  auto catalog = Catalog();
  auto s = SelectModules(catalog, {"reader"});
  ASSERT_TRUE(s.ok());
  Status d = CheckDependencies(*s, {});
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.message().find("\"reader\" needs module \"clock\""),
            std::string::npos) << d.message();
  EXPECT_NE(d.message().find("--modules=reader,clock"), std::string::npos);
  EXPECT_NE(d.message().find("remotes:\n    clock:\n      url: http://clock:8080"),
            std::string::npos) << d.message();
  EXPECT_NE(d.message().find("MITOS_REMOTES__CLOCK__URL="), std::string::npos);
}

TEST(CheckDependencies, LocalDependencyIsSatisfied) {
  auto catalog = Catalog();
  auto s = SelectModules(catalog, {"reader", "clock"});
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(CheckDependencies(*s, {}).ok());
}

TEST(CheckDependencies, RemoteUrlSatisfiesANeed) {
  auto catalog = Catalog();
  auto s = SelectModules(catalog, {"reader"});
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(CheckDependencies(*s, {{"clock", "http://clock:8080"}}).ok());
}

TEST(Runtime, ModulesReachEachOtherThroughTheContext) {
  TestInstance inst(Catalog());
  auto c = inst.Client();
  auto r = c->Get("/read/time");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  auto j = nlohmann::json::parse(r->body);
  EXPECT_EQ(j["what"], "time");
  EXPECT_EQ(j["now"], 42);
}

// Where handlers run: on the loops when nothing they call can wait on the
// network, except synchronous writes; on workers otherwise, except routes
// that never block.
TEST(Runtime, HandlersRunOnTheLoopsOnlyWhenNothingTheyCallIsRemote) {
  auto where = [](TestInstance& inst, const char* method, const char* path) {
    auto c = inst.Client();
    auto r = std::string(method) == "GET" ? c->Get(path) : c->Post(path, "", "text/plain");
    EXPECT_TRUE(r);
    if (!r) return std::string("no answer");
    EXPECT_EQ(r->status, 200) << path;
    return std::string(nlohmann::json::parse(r->body)["loop"] ? "loop" : "worker");
  };
  auto catalog = WithWhere(Catalog());
  {
    TestInstance local(catalog);  // clock runs here
    EXPECT_EQ(where(local, "GET", "/where/sync"), "loop");
    EXPECT_EQ(where(local, "POST", "/where/sync"), "worker");
    EXPECT_EQ(where(local, "POST", "/where/async"), "loop");
    EXPECT_EQ(where(local, "POST", "/where/never"), "loop");
  }
  {
    TestInstance split(catalog, {{"modules", "where"},
                                 {"remotes.clock.url", "http://127.0.0.1:9"}});
    EXPECT_EQ(where(split, "GET", "/where/sync"), "worker");
    EXPECT_EQ(where(split, "POST", "/where/sync"), "worker");
    EXPECT_EQ(where(split, "POST", "/where/async"), "worker");
    EXPECT_EQ(where(split, "POST", "/where/never"), "loop");
  }
}

TEST(Runtime, BindingIsLocalWhenTheModuleRunsHereEvenWithAUrl) {
  TestInstance inst(Catalog(), {{"remotes.clock.url", "http://127.0.0.1:9"}});
  auto r = inst.Client()->Get("/read/t");
  ASSERT_TRUE(r);
  EXPECT_EQ(nlohmann::json::parse(r->body)["now"], 42);
  auto health = nlohmann::json::parse(inst.Client()->Get("/health")->body);
  EXPECT_TRUE(health["remotes"].empty()) << health.dump();
}

TEST(Runtime, BindingIsRemoteWhenTheModuleRunsElsewhere) {
  TestInstance inst(Catalog(), {{"modules", "reader"},
                                {"remotes.clock.url", "http://127.0.0.1:9"}});
  auto r = inst.Client()->Get("/read/t");
  ASSERT_TRUE(r);
  EXPECT_EQ(nlohmann::json::parse(r->body)["now"], 7);
  auto health = nlohmann::json::parse(inst.Client()->Get("/health")->body);
  EXPECT_EQ(health["remotes"]["clock"]["url"], "http://127.0.0.1:9");
  EXPECT_EQ(health["remotes"]["clock"]["breaker"], "closed");
}

TEST(RemoteUrls, KubernetesServiceVariablesAreTheFallback) {
  auto catalog = Catalog();
  config::Schema schema;
  DeclareConfig(catalog, &schema);
  config::Config none = config::Resolver(schema).Build();
  auto urls = RemoteUrls(catalog, none,
                         {{"CLOCK_SERVICE_HOST", "10.0.0.7"},
                          {"CLOCK_SERVICE_PORT", "8080"}});
  EXPECT_EQ(urls["clock"], "http://10.0.0.7:8080");
  EXPECT_EQ(urls.count("reader"), 0u);
  config::Config set = config::Resolver(schema)
                           .Flag("remotes.clock.url", "http://clock:9000", "t")
                           .Build();
  urls = RemoteUrls(catalog, set, {{"CLOCK_SERVICE_HOST", "10.0.0.7"},
                                   {"CLOCK_SERVICE_PORT", "8080"}});
  EXPECT_EQ(urls["clock"], "http://clock:9000") << "explicit config wins";
  config::Config bad = config::Resolver(schema)
                           .Flag("remotes.clock.url", "ftp://x", "t")
                           .Build();
  EXPECT_THROW(RemoteUrls(catalog, bad, {}), config::ConfigError);
  // The replicas of a module, each once.
  config::Config replicas =
      config::Resolver(schema)
          .Flag("remotes.clock.url", "http://clock-0:9000, http://clock-1:9000", "t")
          .Build();
  urls = RemoteUrls(catalog, replicas, {});
  EXPECT_EQ(urls["clock"], "http://clock-0:9000, http://clock-1:9000");
  for (const char* v : {"http://clock-0:9000,http://clock-0:9000",
                        "http://clock-0:9000,", "http://clock-0:9000,ftp://x"}) {
    config::Config wrong =
        config::Resolver(schema).Flag("remotes.clock.url", v, "t").Build();
    EXPECT_THROW(RemoteUrls(catalog, wrong, {}), config::ConfigError) << v;
  }
}

TEST(Runtime, ProbesReportStartingThenReady) {
  Gate gate;
  std::promise<void> open;
  gate.open = open.get_future().share();
  auto catalog = Catalog(&gate);
  testing::TempDir dir;
  config::Schema schema;
  DeclareConfig(catalog, &schema);
  config::Resolver resolver(schema);
  resolver.Flag("server.host", "127.0.0.1", "test")
      .Flag("server.port", "0", "test")
      .Flag("data_dir", dir.path().string(), "test")
      .Flag("shutdown.drain_delay_ms", "0", "test")
      .Flag("log.level", "error", "test")
      .Flag("auth.mode", "off", "test");
  config::Config cfg = resolver.Build();
  auto selected = SelectModules(catalog, {});
  ASSERT_TRUE(selected.ok());
  Runtime rt(cfg, catalog, *selected, {});
  auto started = std::async(std::launch::async, [&] { return rt.Start(); });
  gate.entered.get_future().wait();  // the port is bound by now

  httplib::Client c("127.0.0.1", rt.port());
  auto starting = c.Get("/readyz");
  ASSERT_TRUE(starting);
  EXPECT_EQ(starting->status, 503);
  EXPECT_EQ(nlohmann::json::parse(starting->body)["status"], "starting");
  auto live = c.Get("/livez");
  ASSERT_TRUE(live);
  EXPECT_EQ(live->status, 200);
  auto early = c.Get("/clock");
  ASSERT_TRUE(early);
  EXPECT_EQ(early->status, 503);
  EXPECT_EQ(early->get_header_value("Content-Type"), "application/problem+json");

  open.set_value();
  ASSERT_EQ(started.wait_for(std::chrono::seconds(10)),
            std::future_status::ready);
  ASSERT_TRUE(started.get().ok());
  auto ready = c.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  auto j = nlohmann::json::parse(ready->body);
  EXPECT_EQ(j["status"], "ready");
  EXPECT_EQ(j["modules"]["clock"], "ready");
  EXPECT_EQ(j["modules"]["reader"], "ready");
  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(nlohmann::json::parse(health->body)["status"], "UP");
  rt.Shutdown();
}

TEST(Runtime, ReadinessFailsAtOnceWhenDrainingWhileRequestsStillWork) {
  auto catalog = Catalog();
  TestInstance inst(catalog, {{"shutdown.drain_delay_ms", "3000"}});
  auto c = inst.Client();
  ASSERT_EQ(c->Get("/readyz")->status, 200);
  auto done = std::async(std::launch::async, [&] { inst.Shutdown(); });
  // Readiness flips before the drain delay ends; poll (bounded) for it.
  int status = 200;
  for (int i = 0; i < 200 && status == 200; ++i) {
    auto r = c->Get("/readyz");
    ASSERT_TRUE(r);
    status = r->status;
    if (status == 200) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(status, 503);
  auto fresh = inst.Client();  // draining instances still serve requests
  auto r = fresh->Get("/read/x");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Connection"), "close");
  ASSERT_EQ(done.wait_for(std::chrono::seconds(10)), std::future_status::ready);
}

TEST(Runtime, UnknownPathIs404Problem) {
  TestInstance inst(Catalog());
  auto r = inst.Client()->Get("/nothing/here");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/problem+json");
  EXPECT_EQ(nlohmann::json::parse(r->body)["status"], 404);
}

TEST(Runtime, WrongMethodIs405WithAllow) {
  TestInstance inst(Catalog());
  auto c = inst.Client();
  auto r = c->Delete("/clock");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "GET, HEAD");
  auto o = c->Options("/clock");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->status, 204);
  EXPECT_EQ(o->get_header_value("Allow"), "GET, HEAD");
  auto p = c->Post("/livez", "", "text/plain");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->status, 405);
}

TEST(Runtime, RequestIdIsKeptWhenSafeAndGeneratedOtherwise) {
  TestInstance inst(Catalog());
  auto c = inst.Client();
  auto kept = c->Get("/clock", {{"X-Request-Id", "abc-123"}});
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->get_header_value("X-Request-Id"), "abc-123");
  auto replaced = c->Get("/clock", {{"X-Request-Id", "bad id <script>"}});
  ASSERT_TRUE(replaced);
  std::string id = replaced->get_header_value("X-Request-Id");
  EXPECT_EQ(id.size(), 32u);
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
  auto fresh = c->Get("/clock");
  EXPECT_NE(fresh->get_header_value("X-Request-Id"), id);
}

TEST(Runtime, FailedModuleStartStopsEverythingAndFreesThePort) {
  ModuleSpec bad;
  bad.name = "bad";
  bad.create = [](const config::Config&) {
    return std::make_unique<FailingModule>();
  };
  EXPECT_THROW(
      {
        try {
          TestInstance inst({bad});
        } catch (const std::runtime_error& e) {
          EXPECT_NE(std::string(e.what()).find("disk on fire"),
                    std::string::npos);
          throw;
        }
      },
      std::runtime_error);
}

// A module that reads a config key that its declare_config (it has none)
// never declared: in its factory, in its Start, or through OpenDatabase,
// which reads "<module>.storage.*" on its behalf.
enum class Reads { kInFactory, kInStart, kStorage };

class UndeclaredReader : public Module {
 public:
  explicit UndeclaredReader(Reads when) : when_(when) {}
  Status Start(ModuleContext& ctx) override {
    if (when_ == Reads::kInStart) ctx.config().Int("leaky.timeout_ms");
    if (when_ == Reads::kStorage) {
      auto db = ctx.OpenDatabase({});
      if (!db.ok()) return db.status();
    }
    return Status::Ok();
  }
  void RegisterRoutes(http::Router&) override {}
  void Stop() override {}

 private:
  Reads when_;
};

std::vector<ModuleSpec> LeakyCatalog(Reads when) {
  ModuleSpec leaky;
  leaky.name = "leaky";
  leaky.create = [when](const config::Config& c) {
    if (when == Reads::kInFactory) c.Int("leaky.timeout_ms");
    return std::make_unique<UndeclaredReader>(when);
  };
  return {leaky};
}

// Starts a Runtime of `catalog` on 127.0.0.1:`port` and returns what
// Start returned, after shutting the runtime down.
Status StartOnce(const std::vector<ModuleSpec>& catalog, int port = 0) {
  testing::TempDir dir;
  config::Schema schema;
  DeclareConfig(catalog, &schema);
  config::Config cfg = config::Resolver(schema)
                           .Flag("server.host", "127.0.0.1", "test")
                           .Flag("server.port", std::to_string(port), "test")
                           .Flag("data_dir", dir.path().string(), "test")
                           .Flag("shutdown.drain_delay_ms", "0", "test")
                           .Flag("log.level", "error", "test")
      .Flag("auth.mode", "off", "test")
                           .Build();
  auto selected = SelectModules(catalog, {});
  if (!selected.ok()) return selected.status();
  Runtime rt(cfg, catalog, *selected, {});
  Status s = rt.Start();
  if (s.ok()) rt.Shutdown();
  return s;
}

constexpr const char* kNeverDeclared =
    "read by module leaky but never declared (declare it in the module's "
    "declare_config)";

TEST(Runtime, UndeclaredKeyReadInStartIsAConfigErrorNamingTheKey) {
  Status s = StartOnce(LeakyCatalog(Reads::kInStart));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_EQ(s.message(), std::string("leaky.timeout_ms: ") + kNeverDeclared);
}

TEST(Runtime, UndeclaredStorageConfigIsAConfigErrorNotAnAbort) {
  Status s = StartOnce(LeakyCatalog(Reads::kStorage));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_THAT(s.message(), ::testing::StartsWith("leaky.storage."));
  EXPECT_THAT(s.message(), ::testing::EndsWith(kNeverDeclared));
}

TEST(Runtime, UndeclaredKeyReadInTheFactoryFailsBeforeThePortIsBound) {
  // The port is taken: a runtime that bound first would fail on it.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof(a);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const int taken = ntohs(a.sin_port);
  ASSERT_FALSE(StartOnce(Catalog(), taken).ok()) << "the port is not taken";

  Status s = StartOnce(LeakyCatalog(Reads::kInFactory), taken);
  ::close(fd);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_EQ(s.message(), std::string("leaky.timeout_ms: ") + kNeverDeclared);
}

// What a module throws while starting is a failed start, not an abort.
class ThrowingModule : public Module {
 public:
  Status Start(ModuleContext&) override { throw std::runtime_error("boom"); }
  void RegisterRoutes(http::Router&) override {}
  void Stop() override {}
};

TEST(Runtime, AnExceptionInAModuleStartIsAFailedStart) {
  ModuleSpec bad;
  bad.name = "bad";
  bad.create = [](const config::Config&) {
    return std::make_unique<ThrowingModule>();
  };
  Status s = StartOnce({bad});
  EXPECT_EQ(s.code(), StatusCode::kInternal) << s.ToString();
  EXPECT_EQ(s.message(), "module bad failed to start: boom");
}

// Main, in-process with a catalog of its own: the exit status and the
// message a user sees.
int RunMain(const std::vector<ModuleSpec>& catalog, std::string* err) {
  testing::TempDir dir;
  std::vector<std::string> args = {"mitos", "--host=127.0.0.1", "--port=0",
                                   "--log-level=error",
                                   "--set=shutdown.drain_delay_ms=0"};
  args.push_back("--data-dir=" + dir.path().string());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::testing::internal::CaptureStderr();
  int rc = Main(static_cast<int>(args.size()), argv.data(), catalog);
  *err = ::testing::internal::GetCapturedStderr();
  return rc;
}

TEST(Main, UndeclaredKeyExitsWithStatus2AndNamesTheKey) {
  for (Reads when : {Reads::kInFactory, Reads::kInStart}) {
    std::string err;
    EXPECT_EQ(RunMain(LeakyCatalog(when), &err), 2) << err;
    EXPECT_THAT(err,
                ::testing::HasSubstr(
                    std::string("mitos: config error: leaky.timeout_ms: ") +
                    kNeverDeclared + "\n"));
  }
  std::string err;
  EXPECT_EQ(RunMain(LeakyCatalog(Reads::kStorage), &err), 2) << err;
  EXPECT_THAT(err, ::testing::HasSubstr("mitos: config error: leaky.storage."));
}

TEST(Main, AModuleThatThrowsExitsWithStatus1) {
  ModuleSpec bad;
  bad.name = "bad";
  bad.create = [](const config::Config&) {
    return std::make_unique<ThrowingModule>();
  };
  std::string err;
  EXPECT_EQ(RunMain({bad}, &err), 1) << err;
  EXPECT_THAT(err,
              ::testing::HasSubstr("mitos: module bad failed to start: boom"));
}

TEST(Main, AProgrammingErrorOutsideTheModulesExitsWithStatus1) {
  // Two modules that declare the same key: the schema refuses it with a
  // std::logic_error, which Main reports instead of aborting.
  ModuleSpec a;
  a.name = "a";
  a.declare_config = [](config::Schema& s) { s.Int("a.n", 1, 0, 9, "n"); };
  a.create = [](const config::Config&) {
    return std::make_unique<FailingModule>();
  };
  ModuleSpec b = a;
  b.name = "b";
  std::string err;
  EXPECT_EQ(RunMain({a, b}, &err), 1) << err;
  EXPECT_THAT(err,
              ::testing::HasSubstr(
                  "mitos: internal error: config key declared twice: a.n"));
}

// A module that keeps its data through OpenStorage (or, `legacy`, through
// OpenDatabase), with the keys of storage::DeclareConfig.
class Vault : public Module {
 public:
  explicit Vault(bool legacy) : legacy_(legacy) {}
  Status Start(ModuleContext& ctx) override {
    if (legacy_) {
      auto db = ctx.OpenDatabase({});
      return db.ok() ? Status::Ok() : db.status();
    }
    auto db = ctx.OpenStorage({{1, "t", "CREATE TABLE t (x INTEGER)"}});
    if (!db.ok()) return db.status();
    db_ = std::move(*db);
    return Status::Ok();
  }
  void RegisterRoutes(http::Router&) override {}
  void Stop() override { db_.reset(); }

 private:
  bool legacy_;
  std::unique_ptr<storage::Database> db_;
};

Status StartVault(std::map<std::string, std::string> flags, bool legacy = false) {
  ModuleSpec vault;
  vault.name = "vault";
  vault.declare_config = [](config::Schema& s) { storage::DeclareConfig(s, "vault"); };
  vault.create = [legacy](const config::Config&) {
    return std::make_unique<Vault>(legacy);
  };
  std::vector<ModuleSpec> catalog = {vault};
  testing::TempDir dir;
  config::Schema schema;
  DeclareConfig(catalog, &schema);
  config::Resolver r(schema);
  r.Flag("server.host", "127.0.0.1", "test")
      .Flag("server.port", "0", "test")
      .Flag("data_dir", dir.path().string(), "test")
      .Flag("shutdown.drain_delay_ms", "0", "test")
      .Flag("log.level", "error", "test")
      .Flag("auth.mode", "off", "test");
  for (const auto& [k, v] : flags) r.Flag(k, v, "test");
  config::Config cfg = r.Build();
  auto selected = SelectModules(catalog, {});
  if (!selected.ok()) return selected.status();
  Runtime rt(cfg, catalog, *selected, {});
  Status s = rt.Start();
  if (s.ok()) {
    if (!std::filesystem::exists(dir.path() / "vault.db")) {
      s = Status::Internal("no vault.db");
    }
    rt.Shutdown();
  }
  return s;
}

TEST(Runtime, OpenStorageOpensSqliteByDefault) {
  Status s = StartVault({});
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(Runtime, AnUnreachablePostgresStopsStartUpWithoutThePassword) {
  Status s = StartVault({{"vault.storage.backend", "postgres"},
                         {"vault.storage.url",
                          "postgresql://vault:hunter2@127.0.0.1:1/vault"}});
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(),
              ::testing::HasSubstr("module vault failed to start: cannot "
                                   "connect to PostgreSQL at "
                                   "postgresql://vault:<redacted>@127.0.0.1:1/vault"));
  EXPECT_THAT(s.ToString(), ::testing::Not(::testing::HasSubstr("hunter2")));
}

TEST(Runtime, OpenDatabaseRefusesAPostgresBackend) {
  Status s = StartVault({{"vault.storage.backend", "postgres"}}, /*legacy=*/true);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), ::testing::HasSubstr("SQLite only"));
}

}  // namespace
}  // namespace mitos
