#include "mitos/core/runtime.h"

#include "access.h"

#include <algorithm>
#include <cstring>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <typeindex>
#include <unordered_set>

#include "mitos/base/context.h"
#include "mitos/base/version.h"
#include "mitos/core/bindings.h"
#include "mitos/events/bus.h"
#include "mitos/events/nats.h"
#include "mitos/http/request_id.h"
#include "mitos/observability/log.h"
#include "mitos/observability/metrics.h"
#include "mitos/observability/trace.h"
#include "mitos/remote/balanced_channel.h"
#include "mitos/remote/http_channel.h"
#include "mitos/server/server.h"

namespace mitos {
namespace {

constexpr const char* kLog = "runtime";
// Where a dev-mode instance serves the public half of its development key.
constexpr const char* kJwksPath = "/.well-known/jwks.json";

std::string Join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::optional<std::chrono::milliseconds> ParseDeadline(std::string_view v) {
  if (v.empty() || v.size() > 9 ||
      v.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(std::stoll(std::string(v)));
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
  s->Int("server.io_threads", 0, 0, 256,
         "Event-loop threads that own the connections (accept, read, parse, "
         "write); 0 means one per CPU this process may use (its affinity mask, "
         "lowered to its cgroup's CPU quota, as a container's CPU limit "
         "sets it).");
  s->Int("server.threads_min", 8, 1, 4096,
         "Worker threads started up front, for handlers that may block.");
  s->Int("server.threads_max", 512, 1, 4096,
         "Most worker threads; requests beyond them wait in a queue.");
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
         "Longest time to write one response to a client that stops reading.");
  s->Int("server.max_body_bytes", 1 << 20, 0, 1LL << 30,
         "Largest request body accepted, chunked or not (413 beyond).");
  s->Int("server.max_header_bytes", 64 << 10, 1024, 1 << 20,
         "Largest request line plus headers (and trailer fields) accepted.");
  s->Int("server.linger_timeout_ms", 5000, 0, 600000,
         "After an answer that closes its connection (an error, say, before "
         "the whole request was read), longest time the server reads and "
         "drops what the client still sends, so that the client gets the "
         "answer instead of a reset; 0 closes at once.");
  s->Int("server.linger_max_bytes", 16 << 20, 0, 1LL << 30,
         "Most bytes dropped that way before the connection is closed.");
  s->Bool("shedding.enabled", true,
          "Adaptive load shedding: a request that waited in a queue past "
          "shedding.target_ms while the queue has stood above it for a whole "
          "shedding.interval_ms (CoDel), or past shedding.max_queue_ms at "
          "all, gets 503 with Retry-After at once instead of being served "
          "late; and an event loop whose oldest waiting request has waited "
          "past shedding.target_ms serves the newest first. Health probes "
          "are never shed.");
  s->Int("shedding.target_ms", 5, 1, 60000,
         "Queue time that a standing queue must stay above before requests "
         "are shed.");
  s->Int("shedding.interval_ms", 100, 1, 60000,
         "How long the queue must stand above the target before shedding "
         "starts.");
  s->Int("shedding.max_queue_ms", 500, 0, 600000,
         "Queue time past which a request is always shed; 0: no cap (and "
         "an event loop then always serves in arrival order). Under a "
         "standing queue, served newest first, it is how long the requests "
         "left waiting wait for their 503: shorter tells them sooner, but "
         "sheds about (waiting connections / this) a second, each costing "
         "the loop much of what serving costs on a cheap route.");
  s->Int("shutdown.drain_delay_ms", 2000, 0, 600000,
         "After SIGTERM, time during which readiness fails but requests are "
         "still served, so that load balancers stop sending traffic.");
  s->Int("shutdown.timeout_ms", 15000, 1, 600000,
         "Longest graceful shutdown, drain delay included; beyond it the "
         "process exits with status 1.");
  s->Int("server.request_deadline_ms", 10000, 1, 600000,
         "Deadline of a request that brings none (X-Mitos-Deadline-Ms); a "
         "smaller incoming deadline wins.");
  s->Int("remote.timeout_ms", 1000, 1, 600000,
         "Longest wait for one attempt of a remote call.");
  s->Int("remote.max_attempts", 3, 1, 10,
         "Attempts of an idempotent remote call, the first included.");
  s->Int("remote.backoff_base_ms", 25, 1, 60000,
         "Backoff ceiling before the first retry; it doubles per retry.");
  s->Int("remote.backoff_max_ms", 250, 1, 60000, "Largest backoff ceiling.");
  s->Int("remote.retry_budget_percent", 20, 0, 100,
         "Retries allowed per 100 remote calls (10 s window).");
  s->Int("remote.retry_budget_min_per_second", 10, 0, 100000,
         "Retries always allowed per second.");
  s->Int("remote.breaker_failures", 5, 1, 1000,
         "Consecutive failures that open a remote's circuit breaker.");
  s->Int("remote.breaker_open_ms", 5000, 1, 600000,
         "How long an open breaker fails calls before one probe.");
  s->Int("remote.pool_max_idle", 64, 0, 4096,
         "Idle keep-alive connections kept per remote.");
  s->Int("remote.pipeline_max", 8, 1, 64,
         "Idempotent calls an event loop starts together (the gateway's GETs) "
         "that share one connection, their requests written and their answers "
         "read together; 1 gives each call its own connection.");
  for (const auto& spec : catalog) {
    s->String("remotes." + spec.name + ".url", "",
              "URL of the " + spec.name + " module when it runs elsewhere, "
              "e.g. http://" + spec.name + ":8080; the URLs of its replicas "
              "separated by commas spread the calls over them.");
  }
  s->Bool("metrics.enabled", true,
          "Count requests, module calls and storage operations for /metrics. "
          "Process and build metrics are always served.");
  s->Bool("tracing.enabled", true,
          "Start spans and propagate W3C trace context; false only passes "
          "new trace ids on.");
  s->String("tracing.endpoint", "",
            "OTLP/HTTP JSON traces URL, e.g. http://otel-collector:4318/v1/traces; "
            "empty exports nothing (OTEL_EXPORTER_OTLP_ENDPOINT is used when "
            "this is not set).");
  s->Int("tracing.sample_percent", 100, 0, 100,
         "Share of new traces recorded; requests that bring a traceparent "
         "follow its sampled flag (OTEL_TRACES_SAMPLER_ARG is used when this "
         "is not set).");
  s->String("tracing.service_name", "",
            "service.name of exported spans; default OTEL_SERVICE_NAME, else "
            "mitos (all modules) or mitos-<modules>.");
  s->Int("tracing.queue_size", 2048, 1, 1000000,
         "Spans waiting for export; beyond it new spans are dropped and "
         "counted.");
  s->Int("tracing.batch_size", 512, 1, 100000, "Spans per export request.");
  s->Int("tracing.export_interval_ms", 1000, 1, 600000,
         "Longest time a span waits before its batch is sent.");
  s->Int("tracing.export_timeout_ms", 5000, 1, 600000,
         "Longest wait for the collector to accept one batch.");
  s->String("log.level", "info", "Least severe level logged.",
            {"debug", "info", "warn", "error"});
  s->String("log.format", "json", "json: one object per line; text: readable.",
            {"json", "text"});
  s->Bool("log.access", true,
          "Log one line per request (probes and scrapes at debug level).");
  internal::DeclareAccessConfig(s);
  events::DeclareConfig(*s);
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

std::map<std::string, std::string> RemoteUrls(
    const std::vector<ModuleSpec>& catalog, const config::Config& config,
    const std::map<std::string, std::string>& env) {
  std::map<std::string, std::string> out;
  for (const auto& spec : catalog) {
    const std::string key = "remotes." + spec.name + ".url";
    std::string url = config.String(key);
    std::string where = config.OriginOf(key).where;
    if (url.empty()) {
      // Kubernetes injects <SERVICE>_SERVICE_HOST/_PORT for every Service.
      std::string prefix;
      for (char c : spec.name) {
        prefix += c == '-' ? '_' : static_cast<char>(std::toupper(
                                       static_cast<unsigned char>(c)));
      }
      auto host = env.find(prefix + "_SERVICE_HOST");
      auto port = env.find(prefix + "_SERVICE_PORT");
      if (host != env.end() && port != env.end() && !host->second.empty()) {
        url = "http://" + host->second + ":" + port->second;
        where = "environment variables " + prefix + "_SERVICE_HOST/PORT";
      }
    }
    if (url.empty()) continue;
    if (internal::SplitReplicaUrls(url).empty()) {
      throw config::ConfigError(
          key, where,
          "must be a URL like http://host:8080, or the URLs of the module's "
          "replicas separated by commas (http://users-0:8080,"
          "http://users-1:8080), each once, got \"" + url + "\"");
    }
    out[spec.name] = url;
  }
  return out;
}

Status CheckDependencies(const std::vector<const ModuleSpec*>& selected,
                         const std::map<std::string, std::string>& remotes) {
  std::set<std::string> local;
  for (const auto* s : selected) local.insert(s->name);
  for (const auto* s : selected) {
    for (const auto& need : s->needs) {
      if (local.count(need) || remotes.count(need)) continue;
      std::string env = config::EnvVarName("remotes." + need + ".url");
      return Status::InvalidArgument(
          "module \"" + s->name + "\" needs module \"" + need +
          "\", which this instance neither runs nor knows a URL for. Either "
          "run it here (--modules=" + s->name + "," + need +
          ") or point to it in the config:\n  remotes:\n    " + need +
          ":\n      url: http://" + need + ":8080\nor with " + env + "=http://" +
          need + ":8080");
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
      return OpenModuleDatabase(rt_.config_, spec_.name, migrations);
    }

    StatusOr<std::unique_ptr<storage::Database>> OpenStorage(
        const std::vector<storage::Migration>& migrations) override {
      auto db = OpenModuleStorage(rt_.config_, spec_.name, migrations);
      if (db.ok()) rt_.storage_ready_.emplace_back(&spec_, (*db)->ReadyFlag());
      return db;
    }

    bool IsLocal(std::string_view name) const override {
      return std::any_of(rt_.specs_.begin(), rt_.specs_.end(),
                         [&](const ModuleSpec* s) { return s->name == name; });
    }

    std::shared_ptr<remote::Channel> Channel(std::string_view name) override {
      auto it = rt_.channels_.find(std::string(name));
      if (it != rt_.channels_.end()) return it->second;
      if (!IsLocal(name)) {
        std::lock_guard<std::mutex> lock(rt_.mu_);
        rt_.unconfigured_.insert(std::string(name));
      }
      return nullptr;
    }

    std::shared_ptr<CallSite> CallSiteFor(std::string_view name) override {
      return std::make_shared<CallSite>(spec_.name, std::string(name),
                                        !IsLocal(name));
    }

    events::Bus& Events() override { return *rt_.bus_; }

    std::vector<RoutePrefix> RoutePrefixes() const override {
      std::vector<RoutePrefix> out;
      for (const auto& spec : rt_.catalog_) {
        for (const auto& p : spec.route_prefixes) out.push_back({p, spec.name});
      }
      return out;
    }

   protected:
    std::shared_ptr<void> Lookup(std::string_view name,
                                 std::type_index type) override {
      return rt_.apis_.Lookup(spec_, name, type,
                              [&] { return CallSiteFor(name); });
    }

    void Offer(std::type_index type, std::shared_ptr<void> api) override {
      rt_.apis_.Offer(spec_.name, type, std::move(api));
    }

   private:
    Impl& rt_;
    const ModuleSpec& spec_;
  };

  Impl(const config::Config& config, const std::vector<ModuleSpec>& catalog,
       std::vector<const ModuleSpec*> specs,
       std::map<std::string, std::string> remotes)
      : config_(config),
        catalog_(catalog),
        specs_(std::move(specs)),
        remote_urls_(std::move(remotes)),
        bus_(std::make_unique<events::Bus>(events::BusOptionsFrom(config))) {
    request_deadline_ =
        std::chrono::milliseconds(config.Int("server.request_deadline_ms"));
    access_log_ = config.Bool("log.access");
    metrics::SetEnabled(config.Bool("metrics.enabled"));
    metrics::RegisterProcessMetrics(kVersion, kCommit);
    std::vector<std::string> names;
    for (const auto* spec : specs_) names.push_back(spec->name);
    service_name_ = names.size() == catalog_.size() ? "mitos"
                                                    : "mitos-" + Join(names, "-");
    internal::ServerOptions o;
    o.host = config.String("server.host");
    o.port = static_cast<int>(config.Int("server.port"));
    o.io_threads = static_cast<int>(config.Int("server.io_threads"));
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
    o.linger_timeout_ms =
        static_cast<int>(config.Int("server.linger_timeout_ms"));
    o.linger_max_bytes =
        static_cast<size_t>(config.Int("server.linger_max_bytes"));
    if (o.threads_min > o.threads_max) o.threads_min = o.threads_max;
    o.shedding.enabled = config.Bool("shedding.enabled");
    o.shedding.target = std::chrono::milliseconds(config.Int("shedding.target_ms"));
    o.shedding.interval =
        std::chrono::milliseconds(config.Int("shedding.interval_ms"));
    o.shedding.max_queue_time =
        std::chrono::milliseconds(config.Int("shedding.max_queue_ms"));
    server_ = std::make_unique<internal::HttpServer>(
        o,
        [this](http::Request& req, const internal::HttpServer::Responder& r) {
          Serve(req, r, /*on_loop=*/false);
        },
        [this](http::Request& req, const internal::HttpServer::Responder& r) {
          return Serve(req, r, /*on_loop=*/true);
        });
  }

  Status Start() {
    started_at_ = std::chrono::steady_clock::now();
    // The modules are made before the port opens, so that a key a module
    // reads in its factory without declaring it stops start-up before any
    // client or probe has seen the instance.
    std::vector<std::unique_ptr<Module>> created;
    for (const auto* spec : specs_) {
      Status s = Guarded(*spec, [&] {
        created.push_back(spec->create(config_));
        return Status::Ok();
      });
      if (!s.ok()) {
        StopEverything();
        return s;
      }
    }
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
               {"port", server_->port()},
               {"io_threads", server_->event_loops()}});

    s = StartTracing();
    if (!s.ok()) {
      StopEverything();
      return s;
    }
    s = StartAccess();
    if (!s.ok()) {
      StopEverything();
      return s;
    }
    BindRemotes();
    for (size_t i = 0; i < specs_.size(); ++i) {
      const ModuleSpec* spec = specs_[i];
      std::unique_ptr<Module>& module = created[i];
      Context ctx(*this, *spec);
      bool started = false;
      s = Guarded(*spec, [&] {
        Status st = module->Start(ctx);
        if (!st.ok()) {
          // A module's bad configuration (its storage's, say) stays a
          // configuration error, which ends the process with status 2.
          std::string what =
              "module " + spec->name + " failed to start: " + st.message();
          if (st.code() == StatusCode::kInvalidArgument) {
            return Status::InvalidArgument(std::move(what));
          }
          return Status::Unavailable(std::move(what));
        }
        started = true;
        module->RegisterRoutes(router_);
        return Status::Ok();
      });
      if (started) modules_.emplace_back(spec, std::move(module));
      if (!s.ok()) {
        log::Error(kLog, "module failed to start",
                   {{"failed_module", spec->name}, {"error", s.message()}});
        StopEverything();
        return s;
      }
      log::Info(kLog, "module started", {{"started_module", spec->name}});
    }
    for (const auto* spec : specs_) {
      if (NeverWaitsOnNetwork(*spec, 0)) on_loop_.insert(spec->name);
    }
    s = StartNats();
    if (!s.ok()) {
      StopEverything();
      return s;
    }
    // Every subscriber exists now: no event is dispatched before them.
    bus_->Start();
    AddEventMetrics();
    openapi_ = OpenApiDocument();
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
  // Tracer options: built-in defaults, then the standard OTEL_* variables,
  // then tracing.* keys set in the config (file, MITOS_* or flags).
  Status StartTracing() {
    trace::TracerOptions o;
    o.service_name = service_name_;
    std::string error;
    if (!trace::ApplyOtelEnvironment(config::ProcessEnv(), &o, &error)) {
      return Status::InvalidArgument(error);
    }
    auto set = [this](const char* key) {
      return config_.OriginOf(key).kind != config::Origin::kDefault;
    };
    o.enabled = o.enabled && config_.Bool("tracing.enabled");
    if (set("tracing.endpoint")) o.endpoint = config_.String("tracing.endpoint");
    if (set("tracing.sample_percent")) {
      o.sample_ratio = static_cast<double>(config_.Int("tracing.sample_percent")) / 100.0;
    }
    if (set("tracing.service_name")) {
      o.service_name = config_.String("tracing.service_name");
    }
    o.queue_size = static_cast<size_t>(config_.Int("tracing.queue_size"));
    o.batch_size = static_cast<size_t>(config_.Int("tracing.batch_size"));
    o.export_interval =
        std::chrono::milliseconds(config_.Int("tracing.export_interval_ms"));
    o.export_timeout =
        std::chrono::milliseconds(config_.Int("tracing.export_timeout_ms"));
    if (!o.endpoint.empty() && o.endpoint.rfind("http://", 0) != 0) {
      return Status::InvalidArgument(
          "tracing.endpoint must be an http:// URL of an OTLP/HTTP receiver, "
          "got \"" + o.endpoint + "\"");
    }
    trace::StartTracer(o);
    tracer_started_ = true;
    if (!o.endpoint.empty() && o.enabled) {
      log::Info(kLog, "exporting traces",
                {{"endpoint", o.endpoint}, {"service_name", o.service_name},
                 {"sample_ratio", o.sample_ratio}});
    }
    return Status::Ok();
  }

  // Runs `fn`, a module's own code during start-up, and returns its status,
  // or the status of what it threw: a config key that the module reads but
  // no declare_config declares is a configuration error (InvalidArgument),
  // anything else a failure of the module. Nothing thrown by a module
  // escapes start-up.
  template <typename Fn>
  static Status Guarded(const ModuleSpec& spec, Fn&& fn) {
    try {
      return fn();
    } catch (const config::UndeclaredKeyError& e) {
      return Status::InvalidArgument(
          e.key() + ": read by module " + spec.name +
          " but never declared (declare it in the module's declare_config)");
    } catch (const std::exception& e) {
      return Status::Internal("module " + spec.name +
                              " failed to start: " + e.what());
    } catch (...) {
      return Status::Internal("module " + spec.name +
                              " failed to start: it threw a non-standard "
                              "exception");
    }
  }

  // Registers the metrics of one remote channel, read at scrape time.
  // Registers the metrics of one remote's channels (one per replica), read
  // at scrape time and summed over the replicas.
  using Replicas = std::vector<std::shared_ptr<internal::HttpChannel>>;
  void AddChannelMetrics(const std::string& name, const Replicas& replicas) {
    auto& r = metrics::Registry::Default();
    std::vector<std::weak_ptr<internal::HttpChannel>> weak(replicas.begin(),
                                                           replicas.end());
    auto add = [&](const char* metric, const char* help, metrics::Type type,
                   std::vector<std::string> labels,
                   std::function<void(const Replicas&,
                                      const metrics::CallbackFamily::Emit&)>
                       fn) {
      auto& fam = r.Callbacks(metric, help, type, std::move(labels));
      sources_.emplace_back(
          &fam, fam.AddSource([weak, fn](const metrics::CallbackFamily::Emit& emit) {
            Replicas live;
            for (const auto& w : weak) {
              if (auto c = w.lock()) live.push_back(std::move(c));
            }
            if (!live.empty()) fn(live, emit);
          }));
    };
    auto sum = [](const Replicas& rs, auto of) {
      double total = 0;
      for (const auto& c : rs) total += static_cast<double>(of(*c));
      return total;
    };
    add("mitos_remote_retries_total", "Retried attempts of remote calls.",
        metrics::Type::kCounter, {"remote"},
        [name, sum](const Replicas& rs, const auto& emit) {
          emit({name}, sum(rs, [](auto& c) { return c.retries(); }));
        });
    add("mitos_remote_breaker_state",
        "Circuit breaker state per remote: the number of its replicas in "
        "each state (1 for the current state of a remote with one URL).",
        metrics::Type::kGauge, {"remote", "state"},
        [name, sum](const Replicas& rs, const auto& emit) {
          for (auto st : {remote::BreakerState::kClosed, remote::BreakerState::kOpen,
                          remote::BreakerState::kHalfOpen}) {
            emit({name, remote::BreakerStateName(st)},
                 sum(rs, [st](auto& c) { return c.breaker_state() == st ? 1 : 0; }));
          }
        });
    add("mitos_remote_breaker_transitions_total",
        "Circuit breaker state changes per remote, over its replicas.",
        metrics::Type::kCounter, {"remote"},
        [name, sum](const Replicas& rs, const auto& emit) {
          emit({name}, sum(rs, [](auto& c) { return c.breaker_transitions(); }));
        });
    add("mitos_remote_pool_connections",
        "Connections to a remote: idle in the pool, or carrying a call.",
        metrics::Type::kGauge, {"remote", "state"},
        [name, sum](const Replicas& rs, const auto& emit) {
          emit({name, "idle"}, sum(rs, [](auto& c) { return c.idle_connections(); }));
          emit({name, "in_use"}, sum(rs, [](auto& c) { return c.busy_connections(); }));
        });
  }

  // With events.nats.url set: every local outbox is relayed to JetStream,
  // and every local subscription to events of a module that runs elsewhere
  // consumes them from there.
  Status StartNats() {
    auto is_local = [&](const std::string& type) {
      std::string producer = type.substr(0, type.find('.'));
      return std::any_of(specs_.begin(), specs_.end(),
                         [&](const ModuleSpec* s) { return s->name == producer; });
    };
    const std::string url = config_.String("events.nats.url");
    if (url.empty()) {
      for (const auto& [type, subscriber] : bus_->Subscriptions()) {
        if (!is_local(type)) {
          log::Warn(kLog, "a subscriber's events come from another process, "
                          "but events.nats.url is not set: it receives none",
                    {{"subscriber", subscriber}, {"event_type", type}});
        }
      }
      return Status::Ok();
    }
    auto nats = events::Nats::Create(events::NatsOptionsFrom(config_));
    if (!nats.ok()) return nats.status();
    nats_ = std::move(*nats);
    nats_->Relay(*bus_);
    for (const auto& [type, subscriber] : bus_->Subscriptions()) {
      if (!is_local(type)) nats_->Consume(*bus_, type, subscriber);
    }
    log::Info(kLog, "events through NATS JetStream",
              {{"url", url}, {"stream", config_.String("events.nats.stream")}});
    return Status::Ok();
  }

  // The outboxes' sizes, read at scrape time.
  void AddEventMetrics() {
    auto& r = metrics::Registry::Default();
    auto& size = r.Callbacks("mitos_events_outbox_events",
                             "Events in a module's outbox, by state (pending "
                             "or dead).",
                             metrics::Type::kGauge, {"module", "state"});
    auto& age = r.Callbacks("mitos_events_outbox_oldest_age_seconds",
                            "Age of the oldest pending event of an outbox: "
                            "how far its delivery lags.",
                            metrics::Type::kGauge, {"module"});
    events::Bus* bus = bus_.get();
    sources_.emplace_back(&size, size.AddSource([bus](const auto& emit) {
      for (const auto& st : bus->Stats()) {
        emit({st.module, "pending"}, static_cast<double>(st.pending));
        emit({st.module, "dead"}, static_cast<double>(st.dead));
      }
    }));
    sources_.emplace_back(&age, age.AddSource([bus](const auto& emit) {
      for (const auto& st : bus->Stats()) {
        emit({st.module}, st.oldest_pending_age_seconds);
      }
    }));
  }

  // Creates a channel for every remote module and offers the remote
  // binding of its API under its name, so that Get<Api>() cannot tell it
  // from the local one.
  void BindRemotes() {
    for (const auto& spec : catalog_) {
      auto url = remote_urls_.find(spec.name);
      if (url == remote_urls_.end()) continue;
      bool local = std::any_of(specs_.begin(), specs_.end(),
                               [&](auto* s) { return s->name == spec.name; });
      if (local) continue;  // a local module always wins over a URL
      internal::ChannelOptions o;
      o.name = spec.name;
      o.attempt_timeout = std::chrono::milliseconds(config_.Int("remote.timeout_ms"));
      o.default_deadline = request_deadline_;
      o.retry.max_attempts = static_cast<int>(config_.Int("remote.max_attempts"));
      o.retry.base = std::chrono::milliseconds(config_.Int("remote.backoff_base_ms"));
      o.retry.cap = std::chrono::milliseconds(config_.Int("remote.backoff_max_ms"));
      o.retry.budget_percent =
          static_cast<int>(config_.Int("remote.retry_budget_percent"));
      o.retry.budget_min_per_second =
          static_cast<int>(config_.Int("remote.retry_budget_min_per_second"));
      o.breaker.failure_threshold =
          static_cast<int>(config_.Int("remote.breaker_failures"));
      o.breaker.open_for =
          std::chrono::milliseconds(config_.Int("remote.breaker_open_ms"));
      o.pool_max_idle = static_cast<size_t>(config_.Int("remote.pool_max_idle"));
      o.pipeline_max = static_cast<size_t>(config_.Int("remote.pipeline_max"));
      internal::AccessControl* access = access_.get();
      if (!access->off()) {
        o.service_token = [access](std::string_view method,
                                   std::string_view target) {
          return access->ServiceToken(method, target);
        };
      }
      // A module with several replicas gets a channel per replica, each with
      // its own connections and breaker, and calls spread over them.
      Replicas replicas;
      for (const auto& u : internal::SplitReplicaUrls(url->second)) {
        o.url = u;
        replicas.push_back(std::make_shared<internal::HttpChannel>(
            o, internal::SteadyClock::Get()));
      }
      std::shared_ptr<remote::Channel> channel;
      if (replicas.size() == 1) {
        channel = replicas.front();
      } else {
        channel = std::make_shared<internal::BalancedChannel>(replicas);
      }
      channels_[spec.name] = channel;
      AddChannelMetrics(spec.name, replicas);
      if (spec.remote_api) {
        auto binding = spec.remote_api(channel);
        apis_.Offer(spec.name, binding.type, binding.api);
      }
      log::Info(kLog, "remote module", {{"remote_module", spec.name},
                                        {"url", url->second}});
    }
  }

  // Who may call what: made before any module starts, so that the
  // channels BindRemotes makes sign their calls.
  Status StartAccess() {
    bool calls_remotes = false;
    for (const auto& remote : remote_urls_) {
      // (clang 14 cannot capture a structured binding.)
      const std::string& name = remote.first;
      bool local = std::any_of(specs_.begin(), specs_.end(),
                               [&](auto* sp) { return sp->name == name; });
      if (!local) calls_remotes = true;
    }
    auto a = internal::AccessControl::Create(config_, catalog_, specs_,
                                             calls_remotes);
    if (!a.ok()) return a.status();
    access_ = std::move(*a);
    access_->Start();
    return Status::Ok();
  }

  void StopEverything() {
    server_->Stop();
    bus_->Stop();  // before the databases it reads and writes close
    if (nats_) {
      nats_->Stop();  // after the bus, whose dispatchers publish through it
      nats_.reset();
    }
    for (auto it = modules_.rbegin(); it != modules_.rend(); ++it) {
      it->second->Stop();
    }
    modules_.clear();
    apis_.Clear();  // the last references: databases close here
    if (access_) access_->Stop();
    state_ = State::kStopped;
    if (tracer_started_) {
      trace::StopTracer();  // sends what is queued
      tracer_started_ = false;
    }
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
        for (const auto& [sp, ready] : storage_ready_) {
          if (sp == spec && !ready->load()) s = "not_ready";
        }
      } else if (st == State::kDraining) {
        s = "draining";
      }
      if (s != "ready") *all_ready = false;
      m[spec->name] = s;
    }
    return m;
  }

  // One request from arrival to answer: its context, server span and
  // start time, and where it was served.
  struct Exchange;

  // Serves a request on a server event loop (`on_loop`), or on a worker
  // thread for what the loop declined. The loop answers at once what waits
  // on nothing (the runtime's own paths, routing errors, and reads of
  // modules whose every dependency is local), starts asynchronous routes
  // that may run there, and declines the rest (returns false): handlers
  // that may block on a remote module, and synchronous writes, which wait
  // for their database's writer.
  bool Serve(http::Request& req, const internal::HttpServer::Responder& r, bool on_loop) {
    http::Router::Match m;
    bool resolved = false;
    if (RuntimeRoute(req.path).empty() && state_.load() != State::kStarting) {
      m = router_.Resolve(req.method, req.path);
      resolved = true;
      if (const http::Router::Route* route = m.route; route != nullptr) {
        if (on_loop && !MayRunOnLoop(*route, req.method)) return false;
        if (route->async_handler) {
          DispatchAsync(req, m, r);
          return true;
        }
      }
    }
    http::Response res;
    Dispatch(req, res, resolved ? &m : nullptr);
    r.Send(std::move(res));
    return true;
  }

  bool MayRunOnLoop(const http::Router::Route& route, std::string_view method) const {
    const bool local = on_loop_.count(route.module) > 0;
    if (route.async_handler) return local || route.blocking == http::Blocking::kNever;
    return local && IsSafeMethod(method);
  }

  void Dispatch(http::Request& req, http::Response& res,
                http::Router::Match* resolved = nullptr) {
    Exchange ex;
    Begin(req, ex);
    ContextScope scope(&ex.ctx);
    ex.served = Handle(req, res, resolved, &ex.ctx.caller);
    End(req, ex, res);
  }

  // An asynchronous route: the exchange outlives this call, and ends when
  // the handler hands over its response, on whichever thread that is.
  void DispatchAsync(http::Request& in, http::Router::Match& m,
                     const internal::HttpServer::Responder& r) {
    auto p = std::make_shared<Pending>(std::move(in), r);
    Exchange& ex = p->ex;
    http::Request& req = p->req;
    Begin(req, ex);
    ContextScope scope(&ex.ctx);
    ex.served.module = m.route->module;
    ex.served.route = m.route->pattern;
    if (ex.ctx.Expired()) {
      http::Response res;
      http::WriteStatus(res, Status::DeadlineExceeded(
                                 "The caller's deadline passed on arrival."));
      End(req, ex, res);
      r.Send(std::move(res));
      return;
    }
    {
      http::Response res;
      if (!access_->Admit(req, *m.route, &ex.ctx.caller, res)) {
        End(req, ex, res);
        r.Send(std::move(res));
        return;
      }
    }
    req.route = m.route->pattern;
    req.path_params = std::move(m.params);
    m.route->async_handler(req, [this, p](http::Response&& res) {
      End(p->req, p->ex, res);
      p->responder.Send(std::move(res));
    });
    ex.span->Detach();  // ends with the exchange, after the answer
  }

  struct Served {
    std::string_view module = "runtime";  // owner of the route, for metrics
    std::string_view route;                // template, empty if unmatched
    bool quiet = false;                    // probes and scrapes: debug log
  };

  struct Exchange {
    Exchange() = default;
    const std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
    RequestContext ctx;
    trace::SpanContext parent;
    std::optional<trace::Span> span;  // made by Begin
    bool counted = false;
    Served served;
  };

  // What an asynchronous route's answer needs until it comes, in one
  // allocation.
  struct Pending {
    Pending(http::Request&& in, const internal::HttpServer::Responder& r)
        : req(std::move(in)), responder(r) {}
    Exchange ex;
    http::Request req;
    internal::HttpServer::Responder responder;
  };

  // The request's identity, trace and deadline, for module calls and
  // remote calls made while serving it. A deadline given by the caller is
  // honoured if shorter.
  void Begin(http::Request& req, Exchange& ex) {
    req.request_id = internal::RequestIdFor(req.Header("X-Request-Id"));
    ex.ctx.request_id = req.request_id;
    if (trace::ParseTraceparent(req.Header("traceparent"), &ex.parent)) {
      std::string_view ts = req.Header("tracestate");
      if (ts.size() <= 512) ex.ctx.tracestate = std::string(ts);
    }
    auto budget = request_deadline_;
    if (auto d = ParseDeadline(req.Header(kDeadlineHeader))) {
      budget = std::min(budget, *d);
    }
    ex.ctx.deadline = RequestContext::Clock::now() + budget;
    // Until Admit says who it is, a request is nobody's.
    ex.ctx.caller = Caller::Anonymous();
    ex.span.emplace(req.method, trace::Kind::kServer, ex.parent);
    ex.counted = metrics::Enabled();
    if (ex.counted) server_metrics_.in_flight.Add(1);
  }

  // Records the answer: the response's request id, the span's attributes,
  // the metrics and the access line.
  void End(const http::Request& req, Exchange& ex, http::Response& res) {
    res.SetHeader("X-Request-Id", req.request_id);
    const Served& served = ex.served;
    const int status = res.status;
    const std::chrono::duration<double> took =
        std::chrono::steady_clock::now() - ex.t0;
    trace::Span& span = *ex.span;
    if (span.recording()) {
      if (!served.route.empty()) {
        span.SetName(req.method + " " + std::string(served.route));
        span.SetAttribute("http.route", served.route);
      } else {
        span.SetName(req.method);
      }
      span.SetAttribute("http.request.method", req.method);
      span.SetAttribute("http.response.status_code", status);
      span.SetAttribute("mitos.module", served.module);
      if (status >= 500) span.SetError(std::to_string(status));
    }
    if (ex.counted) {
      server_metrics_.in_flight.Add(-1);
      std::string_view route = served.route.empty() ? "unmatched" : served.route;
      std::string_view method = MethodLabel(req.method);
      server_metrics_.requests
          .With({served.module, route, method, StatusClass(status)})
          .Inc();
      server_metrics_.latency.With({served.module, route, method})
          .Observe(took.count());
    }
    if (access_log_) {
      log::AccessEntry e;
      e.module = served.module;
      e.method = req.method;
      e.route = served.route.empty() ? std::string_view("unmatched") : served.route;
      e.status = status;
      e.duration_ms = took.count() * 1000.0;
      e.bytes = res.body.size();
      e.client = req.remote_addr;
      e.request_id = req.request_id;
      e.quiet = served.quiet;
      log::Access(e);
    }
  }

  // True iff the module's handlers can run on an event loop: the module
  // and, transitively, every module it needs run in this process, so no
  // call it makes waits on the network.
  bool NeverWaitsOnNetwork(const ModuleSpec& spec, int depth) const {
    if (depth > static_cast<int>(catalog_.size())) return false;  // a cycle
    for (const auto& need : spec.needs) {
      auto local = std::find_if(specs_.begin(), specs_.end(),
                                [&](const ModuleSpec* s) { return s->name == need; });
      if (local == specs_.end() || !NeverWaitsOnNetwork(**local, depth + 1)) return false;
    }
    return true;
  }

  Served Handle(http::Request& req, http::Response& res,
                http::Router::Match* resolved, Caller* caller) {
    Served served;
    const RequestContext& ctx = RequestContext::Current();
    if (std::string_view own = RuntimeRoute(req.path); !own.empty()) {
      served.route = own;
      served.quiet = req.path != "/modules" && req.path != "/openapi.json";
      if (req.method != "GET" && req.method != "HEAD") {
        res.SetHeader("Allow", "GET, HEAD");
        http::WriteProblem(res, 405, "about:blank", "",
                           "Use GET on " + req.path + ".");
        return served;
      }
      res.SetHeader("Cache-Control", "no-store");
      if (req.path == "/metrics") {
        res.status = 200;
        res.content_type = metrics::kContentType;
        res.body = metrics::Registry::Default().Expose();
      } else if (req.path == "/modules") {
        res.Json(200, Introspect());
      } else if (req.path == "/openapi.json") {
        res.JsonText(200, openapi_);
      } else if (req.path == kJwksPath) {
        if (!access_ || access_->dev_jwks().empty()) {
          http::WriteProblem(res, 404, "about:blank", "",
                             "No resource at " + req.path + ".");
        } else {
          res.status = 200;
          res.content_type = "application/jwk-set+json";
          res.body = access_->dev_jwks();
        }
      } else {
        Probe(req.path, res);
      }
      return served;
    }

    // Routes are registered while starting; the router is read only once
    // the state says serving (the atomic orders the two).
    if (state_.load() == State::kStarting) {
      NotReady(res);
      return served;
    }
    http::Router::Match m = resolved != nullptr
                                ? std::move(*resolved)
                                : router_.Resolve(req.method, req.path);
    if (m.route == nullptr) {
      if (!m.allowed.empty()) {
        std::string allow = Join(m.allowed);
        res.SetHeader("Allow", allow);
        if (req.method == "OPTIONS") {
          res.status = 204;
          return served;
        }
        http::WriteProblem(res, 405, "about:blank", "",
                           req.method + " is not supported here; use " + allow +
                               ".");
        return served;
      }
      http::WriteProblem(res, 404, "about:blank", "",
                         "No resource at " + req.path + ".");
      return served;
    }
    served.module = m.route->module;
    served.route = m.route->pattern;
    if (ctx.Expired()) {
      http::WriteStatus(res, Status::DeadlineExceeded(
                                 "The caller's deadline passed on arrival."));
      return served;
    }
    if (!m.route->handler) {
      // An asynchronous route, resolved here only when the instance began
      // serving between the dispatcher's look and this one.
      NotReady(res);
      return served;
    }
    if (!access_->Admit(req, *m.route, caller, res)) return served;
    req.route = m.route->pattern;
    req.path_params = std::move(m.params);
    m.route->handler(req, res);
    return served;
  }

  // The OpenAPI 3.1 document of what this instance serves: the runtime's
  // own paths, and the part of every module whose routes the router holds,
  // the modules that run here and those a gateway here routes to. Built
  // once, when the routes are all registered.
  std::string OpenApiDocument() const {
    using nlohmann::json;
    auto plain = [](const char* what, const char* type) {
      return json{{"description", what},
                  {"content", {{type, {{"schema", {{"type", "string"}}}}}}}};
    };
    auto object = [](const char* what) {
      return json{{"description", what},
                  {"content", {{"application/json", {{"schema", {{"type", "object"}}}}}}}};
    };
    auto get = [](const char* summary, json ok) {
      return json{{"get", {{"summary", summary}, {"tags", {"runtime"}},
                           {"responses", {{"200", std::move(ok)}}}}}};
    };
    json paths = {
        {"/livez", get("Liveness", plain("The process serves.", "text/plain"))},
        {"/readyz", get("Readiness: 503 while starting or draining",
                        object("Every local module is ready."))},
        {"/health", get("Modules, remotes, version and uptime",
                        object("The instance's state."))},
        {"/metrics", get("Prometheus metrics",
                         plain("Text exposition format.", "text/plain"))},
        {"/modules", get("What runs where", object("The known modules."))},
        {"/openapi.json", get("This document", object("OpenAPI 3.1."))},
    };
    paths["/readyz"]["get"]["responses"]["503"] = object("Not ready.");
    json schemas = {
        {"Problem",
         {{"type", "object"},
          {"description", "RFC 9457 problem details."},
          {"required", {"type", "title", "status"}},
          {"properties",
           {{"type", {{"type", "string"}}},
            {"title", {{"type", "string"}}},
            {"status", {{"type", "integer"}}},
            {"detail", {{"type", "string"}}},
            {"errors",
             {{"type", "array"},
              {"items",
               {{"type", "object"},
                {"required", {"field", "message"}},
                {"properties",
                 {{"field", {{"type", "string"}}},
                  {"message", {{"type", "string"}}}}}}}}}}}}}};
    for (const auto& spec : catalog_) {
      if (spec.openapi.empty()) continue;
      bool routed = false;
      for (const auto& route : router_.routes()) {
        for (const auto& prefix : spec.route_prefixes) {
          if (route.pattern == prefix ||
              route.pattern.compare(0, prefix.size() + 1, prefix + "/") == 0) {
            routed = true;
          }
        }
      }
      if (!routed) continue;
      json part = json::parse(spec.openapi, nullptr, false);
      if (!part.is_object()) continue;
      for (auto& [path, item] : part["paths"].items()) paths[path] = item;
      for (auto& [name, schema] : part["components"]["schemas"].items()) {
        schemas[name] = schema;
      }
    }
    json doc = {{"openapi", "3.1.0"},
                {"info", {{"title", "Mitos"}, {"version", kVersion}}},
                {"paths", std::move(paths)},
                {"components",
                 {{"schemas", std::move(schemas)},
                  {"securitySchemes",
                   {{"bearerAuth",
                     {{"type", "http"}, {"scheme", "bearer"},
                      {"bearerFormat", "JWT"}}}}}}}};
    return doc.dump();
  }

  // Returns `path` when the runtime itself serves it, else "".
  static std::string_view RuntimeRoute(std::string_view path) {
    for (std::string_view r :
         {"/livez", "/readyz", "/health", "/metrics", "/modules", "/openapi.json",
          kJwksPath}) {
      if (r == path) return r;
    }
    return {};
  }

  // Methods that only read (RFC 9110 9.2.1).
  static bool IsSafeMethod(std::string_view m) {
    return m == "GET" || m == "HEAD" || m == "OPTIONS";
  }

  static std::string_view MethodLabel(std::string_view m) {
    for (std::string_view k : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE",
                               "OPTIONS"}) {
      if (k == m) return k;
    }
    return "other";
  }

  static std::string_view StatusClass(int status) {
    static constexpr std::string_view kClasses[] = {"1xx", "2xx", "3xx", "4xx",
                                                    "5xx"};
    int i = status / 100 - 1;
    return i >= 0 && i < 5 ? kClasses[i] : std::string_view("5xx");
  }

  // What runs where, for operators: safe inside the cluster (no config
  // values beyond remote URLs, no paths, no data).
  nlohmann::json Introspect() const {
    bool ready = false;
    nlohmann::json states = ModuleStates(&ready);
    nlohmann::json modules = nlohmann::json::array();
    for (const auto& spec : catalog_) {
      nlohmann::json m = {{"name", spec.name}};
      if (states.contains(spec.name)) {
        m["location"] = "local";
        m["state"] = states[spec.name];
        m["routes"] = spec.route_prefixes;
      } else if (auto it = channels_.find(spec.name); it != channels_.end()) {
        m["location"] = "remote";
        m["url"] = it->second->url();
        m["breaker"] = remote::BreakerStateName(it->second->breaker_state());
      } else {
        m["location"] = "absent";
      }
      if (!spec.needs.empty()) m["needs"] = spec.needs;
      modules.push_back(std::move(m));
    }
    return {{"version", kVersion},
            {"commit", kCommit},
            {"service", service_name_},
            {"state", StateName(state_.load())},
            {"modules", modules}};
  }

  nlohmann::json EventsHealth(nlohmann::json outboxes) const {
    nlohmann::json out = {{"outboxes", std::move(outboxes)}};
    if (nats_) {
      out["nats"] = {{"url", config_.String("events.nats.url")},
                     {"connected", nats_->connected()}};
    }
    return out;
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
    nlohmann::json remotes = nlohmann::json::object();
    for (const auto& [name, ch] : channels_) {
      remotes[name] = {
          {"url", ch->url()},
          {"state", "configured"},
          {"breaker", remote::BreakerStateName(ch->breaker_state())}};
    }
    {
      // Modules that a local module wanted to reach but has no URL for.
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& name : unconfigured_) {
        remotes[name] = {{"url", nullptr}, {"state", "unconfigured"}};
      }
    }
    nlohmann::json outboxes = nlohmann::json::object();
    for (const auto& box : bus_->Stats()) {
      outboxes[box.module] = {{"pending", box.pending},
                              {"dead", box.dead},
                              {"oldest_pending_age_seconds",
                               box.oldest_pending_age_seconds}};
    }
    res.Json(ready ? 200 : 503,
             {{"status", ready ? "UP" : "DOWN"},
              {"events", EventsHealth(std::move(outboxes))},
              {"auth", access_ ? access_->Describe() : nlohmann::json()},
              {"remotes", remotes},
              {"state", StateName(st)},
              {"version", kVersion},
              {"uptime_seconds", up},
              {"open_connections", server_->open_connections()},
              {"modules", modules}});
  }

  const config::Config& config_;
  const std::vector<ModuleSpec>& catalog_;
  std::vector<const ModuleSpec*> specs_;
  std::map<std::string, std::string> remote_urls_;
  std::map<std::string, std::shared_ptr<remote::Channel>> channels_;
  // Declared before modules_: the notifiers it handed out stay valid
  // until the modules are gone.
  std::unique_ptr<events::Bus> bus_;
  std::unique_ptr<events::Nats> nats_;  // with events.nats.url only
  std::chrono::milliseconds request_deadline_{10000};
  std::unique_ptr<internal::HttpServer> server_;
  // Modules whose handlers run on the event loops (set before serving).
  std::unordered_set<std::string> on_loop_;
  http::Router router_;
  std::string openapi_;  // set before serving, read only afterwards
  // The readiness of the storages modules opened with OpenStorage (set
  // before serving, read only afterwards).
  std::vector<std::pair<const ModuleSpec*, std::shared_ptr<const std::atomic<bool>>>>
      storage_ready_;
  std::vector<std::pair<const ModuleSpec*, std::unique_ptr<Module>>> modules_;
  std::atomic<State> state_{State::kStarting};
  std::chrono::steady_clock::time_point started_at_;
  std::mutex mu_;
  ApiRegistry apis_{catalog_};
  // Guarded by mu_: modules asked for by Channel() that run neither here
  // nor at a known URL.
  std::set<std::string> unconfigured_;
  bool access_log_ = true;
  bool tracer_started_ = false;
  std::unique_ptr<internal::AccessControl> access_;
  std::string service_name_;
  struct ServerMetrics {
    metrics::ChildFamily<metrics::Counter>& requests =
        metrics::Registry::Default().Counters(
            "mitos_http_server_requests_total",
            "HTTP requests served, by owning module, route template, method "
            "and status class.",
            {"module", "route", "method", "status_class"});
    metrics::ChildFamily<metrics::Histogram>& latency =
        metrics::Registry::Default().Histograms(
            "mitos_http_server_request_duration_seconds",
            "Time from a request's arrival to its response, by owning "
            "module, route template and method.",
            {"module", "route", "method"});
    metrics::Gauge& in_flight =
        metrics::Registry::Default()
            .Gauges("mitos_http_server_requests_in_flight",
                    "Requests being served now.", {})
            .With({});
  } server_metrics_;
  // Destroyed first: scrape sources that read the members above.
  std::vector<metrics::SourceHandle> sources_;
};

Runtime::Runtime(const config::Config& config,
                 const std::vector<ModuleSpec>& catalog,
                 std::vector<const ModuleSpec*> selected,
                 std::map<std::string, std::string> remotes)
    : impl_(std::make_unique<Impl>(config, catalog, std::move(selected),
                                   std::move(remotes))) {}

Runtime::~Runtime() = default;

Status Runtime::Start() { return impl_->Start(); }
int Runtime::port() const { return impl_->port(); }
void Runtime::Shutdown() { impl_->Shutdown(); }

}  // namespace mitos
