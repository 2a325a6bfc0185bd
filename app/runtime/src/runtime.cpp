#include "mitos/runtime.h"

#include <algorithm>
#include <cstring>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <typeindex>

#include "mitos/log.h"
#include "server.h"
#include "version.h"

namespace mitos {
namespace {

constexpr const char* kLog = "runtime";

std::string Join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// Accepts an incoming X-Request-Id only if it is short and plain, so that it
// can be logged and passed on safely.
bool IsValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z') || c == '-' || c == '_' || c == '.' ||
              c == ':';
    if (!ok) return false;
  }
  return true;
}

std::string NewRequestId() {
  thread_local std::mt19937_64 rng(std::random_device{}() ^
                                   std::hash<std::thread::id>{}(
                                       std::this_thread::get_id()));
  static const char* kHex = "0123456789abcdef";
  std::string out(32, '0');
  uint64_t a = rng(), b = rng();
  for (int i = 0; i < 16; ++i) {
    out[i] = kHex[(a >> (i * 4)) & 0xF];
    out[16 + i] = kHex[(b >> (i * 4)) & 0xF];
  }
  return out;
}

}  // namespace

void DeclareConfig(const std::vector<ModuleSpec>& catalog,
                   config::Schema* s) {
  s->List("modules", {},
          "Modules this instance runs; empty runs every known module.");
  s->String("data_dir", "./data",
            "Directory of the modules' SQLite files (<module>.db).");
  s->String("server.host", "0.0.0.0", "Address to listen on.");
  s->Int("server.port", 8080, 0, 65535,
         "TCP port to listen on; 0 picks a free port.");
  s->Int("server.threads_min", 8, 1, 4096,
         "Worker threads started up front.");
  s->Int("server.threads_max", 512, 1, 4096,
         "Most worker threads; one serves one open connection. When all are "
         "busy, keep-alive connections close after each response so that "
         "waiting clients are served.");
  s->Int("server.listen_backlog", 1024, 1, 65535,
         "Pending connections the kernel queues before accept.");
  s->Int("server.keep_alive_max_requests", 10000, 1, 1000000,
         "Requests served on one connection before it closes.");
  s->Int("server.keep_alive_timeout_ms", 5000, 1, 600000,
         "Idle time after which a keep-alive connection closes.");
  s->Int("server.read_timeout_ms", 5000, 1, 600000,
         "Longest wait for one read of a request.");
  s->Int("server.request_timeout_ms", 30000, 1, 600000,
         "Longest time to receive one whole request (slow clients).");
  s->Int("server.write_timeout_ms", 5000, 1, 600000,
         "Longest wait for one write of a response.");
  s->Int("server.max_body_bytes", 1 << 20, 0, 1LL << 30,
         "Largest request body accepted, chunked or not (413 beyond).");
  s->Int("server.max_header_bytes", 64 << 10, 1024, 1 << 20,
         "Largest request line plus headers accepted.");
  s->Int("shutdown.drain_delay_ms", 2000, 0, 600000,
         "After SIGTERM, time during which readiness fails but requests are "
         "still served, so that load balancers stop sending traffic.");
  s->Int("shutdown.timeout_ms", 15000, 1, 600000,
         "Longest graceful shutdown, drain delay included; beyond it the "
         "process exits with status 1.");
  s->String("log.level", "info", "Least severe level logged.",
            {"debug", "info", "warn", "error"});
  s->String("log.format", "json", "json: one object per line; text: readable.",
            {"json", "text"});
  for (const auto& spec : catalog) {
    if (spec.declare_config) spec.declare_config(*s);
  }
}

StatusOr<std::vector<const ModuleSpec*>> SelectModules(
    const std::vector<ModuleSpec>& catalog,
    const std::vector<std::string>& names) {
  std::vector<std::string> known;
  for (const auto& spec : catalog) known.push_back(spec.name);
  std::set<std::string> wanted;
  for (const auto& n : names) {
    if (std::find(known.begin(), known.end(), n) == known.end()) {
      return Status::InvalidArgument("unknown module \"" + n +
                                     "\"; known modules: " + Join(known));
    }
    wanted.insert(n);
  }
  std::vector<const ModuleSpec*> picked;
  for (const auto& spec : catalog) {
    if (names.empty() || wanted.count(spec.name)) picked.push_back(&spec);
  }
  // Dependency order among the selected modules (Kahn's algorithm, stable).
  std::vector<const ModuleSpec*> ordered;
  std::set<std::string> placed;
  while (ordered.size() < picked.size()) {
    bool progress = false;
    for (const auto* spec : picked) {
      if (placed.count(spec->name)) continue;
      bool ready = std::all_of(
          spec->needs.begin(), spec->needs.end(), [&](const std::string& d) {
            bool local = std::any_of(picked.begin(), picked.end(),
                                     [&](auto* p) { return p->name == d; });
            return !local || placed.count(d) > 0;
          });
      if (ready) {
        ordered.push_back(spec);
        placed.insert(spec->name);
        progress = true;
      }
    }
    if (!progress) {
      return Status::InvalidArgument("modules depend on each other in a cycle");
    }
  }
  return ordered;
}

Status CheckDependencies(const std::vector<const ModuleSpec*>& selected) {
  std::set<std::string> local;
  for (const auto* s : selected) local.insert(s->name);
  for (const auto* s : selected) {
    for (const auto& need : s->needs) {
      if (local.count(need)) continue;
      return Status::InvalidArgument(
          "module \"" + s->name + "\" needs module \"" + need +
          "\", which this instance does not run; add it: --modules=" +
          s->name + "," + need);
    }
  }
  return Status::Ok();
}

class Runtime::Impl {
 public:
  enum class State { kStarting, kServing, kDraining, kStopped };

  class Context : public ModuleContext {
   public:
    Context(Impl& rt, const ModuleSpec& spec) : rt_(rt), spec_(spec) {}

    const config::Config& config() const override { return rt_.config_; }

    StatusOr<std::unique_ptr<sqlite::Database>> OpenDatabase(
        const std::vector<sqlite::Migration>& migrations) override {
      const std::string p = spec_.name + ".storage.";
      sqlite::Options o;
      o.busy_timeout_ms = static_cast<int>(rt_.config_.Int(p + "busy_timeout_ms"));
      o.readers = static_cast<int>(rt_.config_.Int(p + "readers"));
      o.cache_kib = static_cast<int>(rt_.config_.Int(p + "cache_kib"));
      auto path = std::filesystem::path(rt_.config_.String("data_dir")) /
                  (spec_.name + ".db");
      return sqlite::Database::Open(path.string(), o, migrations);
    }

   protected:
    std::shared_ptr<void> Lookup(std::string_view name,
                                 std::type_index type) override {
      if (std::find(spec_.needs.begin(), spec_.needs.end(), name) ==
          spec_.needs.end()) {
        throw std::logic_error("module " + spec_.name + " asked for " +
                               std::string(name) + " without declaring it");
      }
      std::lock_guard<std::mutex> lock(rt_.mu_);
      auto it = rt_.apis_.find(std::string(name));
      if (it == rt_.apis_.end()) return nullptr;
      if (it->second.first != type) {
        throw std::logic_error("module " + std::string(name) +
                               " offers another API type than requested");
      }
      return it->second.second;
    }

    void Offer(std::type_index type, std::shared_ptr<void> api) override {
      std::lock_guard<std::mutex> lock(rt_.mu_);
      rt_.apis_.insert_or_assign(spec_.name, std::make_pair(type, std::move(api)));
    }

   private:
    Impl& rt_;
    const ModuleSpec& spec_;
  };

  Impl(const config::Config& config, std::vector<const ModuleSpec*> specs)
      : config_(config), specs_(std::move(specs)) {
    internal::ServerOptions o;
    o.host = config.String("server.host");
    o.port = static_cast<int>(config.Int("server.port"));
    o.threads_min = static_cast<int>(config.Int("server.threads_min"));
    o.threads_max = static_cast<int>(config.Int("server.threads_max"));
    o.listen_backlog = static_cast<int>(config.Int("server.listen_backlog"));
    o.keep_alive_max_requests =
        static_cast<int>(config.Int("server.keep_alive_max_requests"));
    o.keep_alive_timeout_ms =
        static_cast<int>(config.Int("server.keep_alive_timeout_ms"));
    o.read_timeout_ms = static_cast<int>(config.Int("server.read_timeout_ms"));
    o.request_timeout_ms =
        static_cast<int>(config.Int("server.request_timeout_ms"));
    o.write_timeout_ms = static_cast<int>(config.Int("server.write_timeout_ms"));
    o.max_body_bytes = static_cast<size_t>(config.Int("server.max_body_bytes"));
    o.max_header_bytes =
        static_cast<size_t>(config.Int("server.max_header_bytes"));
    if (o.threads_min > o.threads_max) o.threads_min = o.threads_max;
    server_ = std::make_unique<internal::HttpServer>(
        o, [this](http::Request& req, http::Response& res) {
          Dispatch(req, res);
        });
  }

  Status Start() {
    started_at_ = std::chrono::steady_clock::now();
    std::error_code ec;
    const std::string dir = config_.String("data_dir");
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      return Status::Unavailable("cannot create data directory " + dir + ": " +
                                 ec.message());
    }
    Status s = server_->Bind();
    if (!s.ok()) return s;
    server_->Start();
    log::Info(kLog, "listening",
              {{"address", config_.String("server.host")},
               {"port", server_->port()}});

    for (const auto* spec : specs_) {
      auto module = spec->create(config_);
      Context ctx(*this, *spec);
      s = module->Start(ctx);
      if (!s.ok()) {
        log::Error(kLog, "module failed to start",
                   {{"failed_module", spec->name}, {"error", s.message()}});
        StopEverything();
        return Status::Unavailable("module " + spec->name +
                                   " failed to start: " + s.message());
      }
      module->RegisterRoutes(router_);
      modules_.emplace_back(spec, std::move(module));
      log::Info(kLog, "module started", {{"started_module", spec->name}});
    }
    state_ = State::kServing;
    auto ms = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::steady_clock::now() - started_at_)
                  .count() / 1000.0;
    log::Info(kLog, "ready", {{"startup_ms", ms}});
    return Status::Ok();
  }

  void Shutdown() {
    State expected = State::kServing;
    if (!state_.compare_exchange_strong(expected, State::kDraining)) {
      expected = State::kStarting;
      if (!state_.compare_exchange_strong(expected, State::kDraining)) return;
    }
    const auto drain = std::chrono::milliseconds(config_.Int("shutdown.drain_delay_ms"));
    log::Info(kLog, "draining", {{"drain_delay_ms", drain.count()}});
    server_->BeginDrain();
    std::this_thread::sleep_for(drain);
    StopEverything();
    log::Info(kLog, "stopped");
  }

  int port() const { return server_->port(); }

 private:
  void StopEverything() {
    server_->Stop();
    for (auto it = modules_.rbegin(); it != modules_.rend(); ++it) {
      it->second->Stop();
    }
    modules_.clear();
    {
      std::lock_guard<std::mutex> lock(mu_);
      apis_.clear();  // the last references: databases close here
    }
    state_ = State::kStopped;
  }

  const char* StateName(State s) const {
    switch (s) {
      case State::kStarting: return "starting";
      case State::kServing: return "ready";
      case State::kDraining: return "draining";
      case State::kStopped: return "stopped";
    }
    return "unknown";
  }

  // REQUIRES: called from a request thread; modules_ is stable while the
  // server runs (it only changes before serving and after stopping).
  nlohmann::json ModuleStates(bool* all_ready) const {
    nlohmann::json m = nlohmann::json::object();
    State st = state_.load();
    *all_ready = st == State::kServing;
    for (const auto* spec : specs_) {
      std::string s = "starting";
      if (st == State::kServing) {
        s = "ready";
        for (const auto& [sp, mod] : modules_) {
          if (sp == spec && !mod->Ready()) s = "not_ready";
        }
      } else if (st == State::kDraining) {
        s = "draining";
      }
      if (s != "ready") *all_ready = false;
      m[spec->name] = s;
    }
    return m;
  }

  void Dispatch(http::Request& req, http::Response& res) {
    std::string_view incoming = req.Header("X-Request-Id");
    req.request_id = IsValidRequestId(incoming) ? std::string(incoming)
                                                : NewRequestId();
    res.SetHeader("X-Request-Id", req.request_id);

    if (req.path == "/livez" || req.path == "/readyz" || req.path == "/health") {
      if (req.method != "GET" && req.method != "HEAD") {
        res.SetHeader("Allow", "GET, HEAD");
        http::WriteProblem(res, 405, "about:blank", "",
                           "Use GET on " + req.path + ".");
        return;
      }
      res.SetHeader("Cache-Control", "no-store");
      Probe(req.path, res);
      return;
    }

    // Routes are registered while starting; the router is read only once
    // the state says serving (the atomic orders the two).
    if (state_.load() == State::kStarting) {
      NotReady(res);
      return;
    }
    http::Router::Match m = router_.Resolve(req.method, req.path);
    if (m.route == nullptr) {
      if (!m.allowed.empty()) {
        std::string allow = Join(m.allowed);
        res.SetHeader("Allow", allow);
        if (req.method == "OPTIONS") {
          res.status = 204;
          return;
        }
        http::WriteProblem(res, 405, "about:blank", "",
                           req.method + " is not supported here; use " + allow +
                               ".");
        return;
      }
      http::WriteProblem(res, 404, "about:blank", "",
                         "No resource at " + req.path + ".");
      return;
    }
    req.route = m.route->pattern;
    req.path_params = std::move(m.params);
    m.route->handler(req, res);
  }

  void NotReady(http::Response& res) {
    res.SetHeader("Retry-After", "1");
    http::WriteProblem(res, 503, "about:blank", "",
                       "The service is starting.");
  }

  void Probe(const std::string& path, http::Response& res) {
    if (path == "/livez") {
      res.Json(200, {{"status", "alive"}});
      return;
    }
    bool ready = false;
    nlohmann::json modules = ModuleStates(&ready);
    State st = state_.load();
    if (path == "/readyz") {
      res.Json(ready ? 200 : 503,
               {{"status", ready ? "ready" : StateName(st)}, {"modules", modules}});
      return;
    }
    auto up = std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::steady_clock::now() - started_at_)
                  .count();
    res.Json(ready ? 200 : 503,
             {{"status", ready ? "UP" : "DOWN"},
              {"state", StateName(st)},
              {"version", kVersion},
              {"uptime_seconds", up},
              {"open_connections", server_->open_connections()},
              {"modules", modules}});
  }

  const config::Config& config_;
  std::vector<const ModuleSpec*> specs_;
  std::unique_ptr<internal::HttpServer> server_;
  http::Router router_;
  std::vector<std::pair<const ModuleSpec*, std::unique_ptr<Module>>> modules_;
  std::atomic<State> state_{State::kStarting};
  std::chrono::steady_clock::time_point started_at_;
  std::mutex mu_;
  std::map<std::string, std::pair<std::type_index, std::shared_ptr<void>>> apis_;
};

Runtime::Runtime(const config::Config& config,
                 std::vector<const ModuleSpec*> modules)
    : impl_(std::make_unique<Impl>(config, std::move(modules))) {}

Runtime::~Runtime() = default;

Status Runtime::Start() { return impl_->Start(); }
int Runtime::port() const { return impl_->port(); }
void Runtime::Shutdown() { impl_->Shutdown(); }

}  // namespace mitos
