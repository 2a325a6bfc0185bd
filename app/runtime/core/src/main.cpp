#include "mitos/core/main.h"

#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "mitos/auth/dev_keys.h"
#include "mitos/auth/service_token.h"
#include "mitos/base/version.h"
#include "mitos/core/runtime.h"
#include "mitos/events/admin.h"
#include "mitos/observability/log.h"
#include "mitos/observability/trace.h"
#include "mitos/storage/sqlite.h"
#include "mitos/storage/storage.h"
#include "access.h"
#include "scaffold.h"

namespace mitos {
namespace {

constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

int Fail(int code, const std::string& msg) {
  std::cerr << "mitos: " << msg << "\n";
  return code;
}

struct Flags {
  std::string config_file;
  std::string modules;
  std::string host;
  int port = -1;
  std::string data_dir;
  std::string log_level;
  std::string log_format;
  std::vector<std::string> sets;
};

config::Config Resolve(const config::Schema& schema, const Flags& f,
                       bool with_env) {
  config::Resolver r(schema);
  if (!f.config_file.empty()) r.File(f.config_file);
  if (with_env) r.Env(config::ProcessEnv());
  for (const auto& kv : f.sets) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw config::ConfigError("", "--set " + kv, "expected KEY=VALUE");
    }
    r.Flag(kv.substr(0, eq), kv.substr(eq + 1), "--set " + kv.substr(0, eq));
  }
  if (!f.modules.empty()) r.Flag("modules", f.modules, "--modules");
  if (!f.host.empty()) r.Flag("server.host", f.host, "--host");
  if (f.port >= 0) r.Flag("server.port", std::to_string(f.port), "--port");
  if (!f.data_dir.empty()) r.Flag("data_dir", f.data_dir, "--data-dir");
  if (!f.log_level.empty()) r.Flag("log.level", f.log_level, "--log-level");
  if (!f.log_format.empty()) r.Flag("log.format", f.log_format, "--log-format");
  return r.Build();
}

// Cross-key rules that a single key's range cannot express.
void CheckConsistency(const config::Config& c) {
  if (c.Int("server.threads_min") > c.Int("server.threads_max")) {
    throw config::ConfigError("server.threads_min",
                              c.OriginOf("server.threads_min").where,
                              "must not exceed server.threads_max");
  }
  const std::string& endpoint = c.String("tracing.endpoint");
  if (!endpoint.empty() && endpoint.rfind("http://", 0) != 0) {
    throw config::ConfigError("tracing.endpoint",
                              c.OriginOf("tracing.endpoint").where,
                              "must be an http:// URL of an OTLP/HTTP receiver, "
                              "e.g. http://otel-collector:4318/v1/traces, got \"" +
                                  endpoint + "\"");
  }
  if (c.Int("shutdown.drain_delay_ms") >= c.Int("shutdown.timeout_ms")) {
    throw config::ConfigError("shutdown.drain_delay_ms",
                              c.OriginOf("shutdown.drain_delay_ms").where,
                              "must be shorter than shutdown.timeout_ms");
  }
}

int Serve(const std::vector<ModuleSpec>& catalog, const config::Config& cfg) {
  log::Level level = log::Level::kInfo;
  log::ParseLevel(cfg.String("log.level"), &level);
  log::Configure(level, cfg.String("log.format") == "text" ? log::Format::kText
                                                           : log::Format::kJson);

  auto selected = SelectModules(catalog, cfg.List("modules"));
  if (!selected.ok()) return Fail(kExitUsage, selected.status().message());
  {
    // The standard OpenTelemetry variables are configuration too.
    trace::TracerOptions probe;
    std::string error;
    if (!trace::ApplyOtelEnvironment(config::ProcessEnv(), &probe, &error)) {
      return Fail(kExitUsage, "config error: " + error);
    }
  }
  auto remotes = RemoteUrls(catalog, cfg, config::ProcessEnv());
  Status deps = CheckDependencies(*selected, remotes);
  if (!deps.ok()) return Fail(kExitUsage, deps.message());

  // Signals are handled by one thread; every other thread blocks them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  // Worker threads would otherwise each get a malloc arena.
  mallopt(M_ARENA_MAX, 2);

  Runtime runtime(cfg, catalog, *selected, std::move(remotes));
  Status s = runtime.Start();
  if (!s.ok()) {
    log::Error("runtime", "start-up failed", {{"error", s.message()}});
    if (s.code() == StatusCode::kInvalidArgument) {
      return Fail(kExitUsage, "config error: " + s.message());
    }
    return Fail(kExitRuntime, s.message());
  }

  const auto timeout =
      std::chrono::milliseconds(cfg.Int("shutdown.timeout_ms"));
  int sig = 0;
  sigwait(&set, &sig);
  log::Info("runtime", "signal received", {{"signal", strsignal(sig)}});
  // A second signal, or a shutdown that overruns its timeout, ends the
  // process at once.
  std::thread([set, timeout]() mutable {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    timespec ts{0, 50 * 1000 * 1000};
    while (std::chrono::steady_clock::now() < deadline) {
      int s2 = sigtimedwait(&set, nullptr, &ts);
      if (s2 > 0) {
        log::Warn("runtime", "second signal, exiting now");
        log::Flush();
        std::_Exit(128 + s2);
      }
    }
    log::Error("runtime", "graceful shutdown timed out, exiting",
               {{"timeout_ms", timeout.count()}});
    log::Flush();
    std::_Exit(kExitRuntime);
  }).detach();
  runtime.Shutdown();
  log::Flush();
  return 0;
}

int ConfigCheck(const config::Schema& schema, const Flags& f) {
  if (f.config_file.empty()) {
    return Fail(kExitUsage, "config check: give the file with --config FILE");
  }
  config::Config c = Resolve(schema, f, /*with_env=*/false);
  CheckConsistency(c);
  std::cout << f.config_file << ": ok\n";
  return 0;
}

// `mitos events list|retry|drop`: the dead-lettered events in the outboxes
// of the modules' storages, each where its configuration says: a file
// under data_dir, or a PostgreSQL database.
struct EventsCommand {
  std::string action;  // list, retry or drop
  std::string id;
  std::string module;  // only this module's database, when set
  bool json = false;
};

int Events(const std::vector<ModuleSpec>& catalog, const config::Schema& schema,
           const config::Config& cfg, const EventsCommand& cmd) {
  const std::string dir = cfg.String("data_dir");
  std::vector<std::string> modules;
  for (const auto& s : catalog) {
    if (cmd.module.empty() || s.name == cmd.module) modules.push_back(s.name);
  }
  if (modules.empty()) {
    std::string names;
    for (const auto& s : catalog) names += (names.empty() ? "" : ", ") + s.name;
    return Fail(kExitUsage, "events: unknown module \"" + cmd.module +
                                "\" (known: " + names + ")");
  }
  // The module's storage as its configuration says, opened as found (no
  // migration runs): NotFound for a SQLite file that does not exist.
  auto open = [&](const std::string& m) -> StatusOr<std::unique_ptr<storage::Database>> {
    if (schema.Find(m + ".storage.backend") != nullptr) {
      return storage::Open(cfg, m, dir, {}, /*migrate=*/false);
    }
    // A module that opens its SQLite file itself (OpenDatabase).
    const std::string path = (std::filesystem::path(dir) / (m + ".db")).string();
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return Status::NotFound("no database file " + path);
    sqlite::Options o;
    o.name = m;
    o.migrate = false;
    return storage::OpenSqlite(path, o, {});
  };
  if (cmd.action == "list") {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    bool any_file = false;
    for (const auto& m : modules) {
      auto db = open(m);
      if (!db.ok() && db.status().code() == StatusCode::kNotFound) continue;
      if (!db.ok()) return Fail(kExitRuntime, "events: " + db.status().message());
      auto dead = events::ListDead(**db);
      if (!dead.ok()) return Fail(kExitRuntime, "events: " + dead.status().message());
      any_file = true;
      for (const auto& e : *dead) {
        out.push_back({{"module", m}, {"id", e.id}, {"type", e.type},
                       {"key", e.key}, {"attempts", e.attempts},
                       {"created_ms", e.created_ms}, {"last_error", e.last_error},
                       {"payload", e.payload}});
      }
    }
    if (!any_file) {
      return Fail(kExitRuntime, "events: no module database under " + dir +
                                    " (give the instance's --data-dir or --config)");
    }
    if (cmd.json) {
      std::cout << out.dump(2) << "\n";
      return 0;
    }
    if (out.empty()) {
      std::cout << "no dead-lettered events under " << dir << "\n";
      return 0;
    }
    std::printf("%-8s %-32s %-22s %-10s %-8s %s\n", "MODULE", "ID", "TYPE", "KEY",
                "ATTEMPTS", "LAST ERROR");
    for (const auto& e : out) {
      std::printf("%-8s %-32s %-22s %-10s %-8lld %s\n",
                  e["module"].get<std::string>().c_str(),
                  e["id"].get<std::string>().c_str(),
                  e["type"].get<std::string>().c_str(),
                  e["key"].get<std::string>().c_str(),
                  static_cast<long long>(e["attempts"].get<int64_t>()),
                  e["last_error"].get<std::string>().c_str());
    }
    return 0;
  }
  for (const auto& m : modules) {
    auto db = open(m);
    if (!db.ok() && db.status().code() == StatusCode::kNotFound) continue;
    if (!db.ok()) return Fail(kExitRuntime, "events: " + db.status().message());
    Status s = cmd.action == "retry" ? events::RetryDead(**db, cmd.id)
                                     : events::DropDead(**db, cmd.id);
    if (s.ok()) {
      std::cout << (cmd.action == "retry" ? "retrying" : "dropped") << " event "
                << cmd.id << " of module " << m << "\n";
      return 0;
    }
    if (s.code() != StatusCode::kNotFound) {
      return Fail(kExitRuntime, "events: " + s.message());
    }
  }
  return Fail(kExitRuntime, "events: no dead-lettered event " + cmd.id +
                                " under " + dir +
                                " (mitos events list shows them)");
}

// `mitos auth dev-token`: a token signed by the development key of the
// instance that --config and --data-dir name (made there if it has not
// started yet), for trying the API in dev mode.
struct DevTokenCommand {
  std::string subject;
  std::string scope;
  std::string ttl = "1h";
};

// Parses "90s", "15m", "1h", "7d" (at most 30 days). Returns 0 for anything
// else.
int64_t TtlSeconds(const std::string& s) {
  if (s.size() < 2 || s.size() > 8) return 0;
  int64_t n = 0;
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return 0;
    n = n * 10 + (s[i] - '0');
  }
  int64_t unit = 0;
  switch (s.back()) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    default: return 0;
  }
  n *= unit;
  return n > 0 && n <= 30 * 86400 ? n : 0;
}

int DevToken(const config::Config& cfg, const DevTokenCommand& cmd) {
  if (cfg.String("auth.mode") != "dev") {
    return Fail(kExitUsage, "auth dev-token: auth.mode is " +
                                cfg.String("auth.mode") +
                                "; development tokens exist only in dev mode");
  }
  if (cmd.subject.empty() || cmd.subject.size() > 256) {
    return Fail(kExitUsage, "auth dev-token: --sub must be 1 to 256 characters");
  }
  const int64_t ttl = TtlSeconds(cmd.ttl);
  if (ttl == 0) {
    return Fail(kExitUsage, "auth dev-token: --ttl must be like 90s, 15m, 1h "
                            "or 7d, at most 30d; got \"" + cmd.ttl + "\"");
  }
  const std::string path = internal::DevKeyPath(cfg);
  if (cfg.String("auth.dev_key_file").empty()) {
    const std::string dir = cfg.String("data_dir");
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      return Fail(kExitRuntime, "auth dev-token: cannot create " + dir + ": " +
                                    ec.message());
    }
  }
  bool created = false;
  std::string error;
  auto key = auth::SigningKey::LoadOrCreate(path, &created, &error);
  if (!key) return Fail(kExitRuntime, "auth dev-token: " + error);
  const std::string issuer = internal::DevIssuer(cfg);
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  nlohmann::json claims = {{"iss", issuer},
                           {"aud", cfg.String("auth.audience")},
                           {"sub", cmd.subject},
                           {"iat", now},
                           {"exp", now + ttl}};
  if (!cmd.scope.empty()) claims["scope"] = cmd.scope;
  std::cout << key->Sign(claims) << "\n";
  return 0;
}

int Run(int argc, char** argv, const std::vector<ModuleSpec>& catalog) {
  config::Schema schema;
  DeclareConfig(catalog, &schema);

  std::string names;
  for (const auto& s : catalog) names += (names.empty() ? "" : ", ") + s.name;

  CLI::App app{
      "Mitos: a modular monolith that runs as one process or as many "
      "services.\nWith no command, runs the server.",
      "mitos"};
  app.set_version_flag("--version",
                       std::string("mitos ") + kVersion + " (" + kCommit + ")");
  app.fallthrough();
  Flags f;
  app.add_option("-c,--config", f.config_file, "YAML config file");
  app.add_option("--modules", f.modules,
                 "Comma-separated modules to run (default: all). Known: " + names);
  app.add_option("--host", f.host, "Listen address (server.host)");
  app.add_option("-p,--port", f.port, "Listen port (server.port)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--data-dir", f.data_dir, "Data directory (data_dir)");
  app.add_option("--log-level", f.log_level, "debug, info, warn or error");
  app.add_option("--log-format", f.log_format, "json or text");
  app.add_option("--set", f.sets, "Set any config key: --set server.port=9090")
      ->type_name("KEY=VALUE");

  auto* serve = app.add_subcommand("serve", "Run the server (the default)");
  auto* cfg_cmd = app.add_subcommand("config", "Inspect configuration");
  cfg_cmd->require_subcommand(1);
  auto* check = cfg_cmd->add_subcommand("check", "Validate a config file");
  auto* print = cfg_cmd->add_subcommand(
      "print", "Print the resolved config (flags > env > file > defaults)");
  auto* modules = app.add_subcommand("modules", "List the known modules");
  bool modules_json = false;
  modules->add_flag("--json", modules_json,
                    "Print them as a JSON array of {name, summary, needs, "
                    "route_prefixes}");
  auto* new_cmd = app.add_subcommand("new", "Create something new in a repository");
  new_cmd->require_subcommand(1);
  auto* new_module = new_cmd->add_subcommand(
      "module",
      "Create modules/NAME/, a working module with its own database and a "
      "starter resource, and register it in app/main.cpp. Run it at the "
      "repository root.");
  internal::NewModuleOptions new_opts;
  new_module
      ->add_option("NAME", new_opts.name,
                   "The module's name, in lower snake case (stock_levels)")
      ->required();
  bool no_register = false;
  new_module->add_flag("--no-register", no_register,
                       "Leave app/main.cpp alone (print what to add instead)");
  auto* events_cmd = app.add_subcommand(
      "events", "Dead-lettered events in the modules' outboxes (under data_dir)");
  events_cmd->require_subcommand(1);
  EventsCommand ev;
  auto* ev_list = events_cmd->add_subcommand("list", "List the dead-lettered events");
  ev_list->add_flag("--json", ev.json, "Print them as a JSON array");
  auto* ev_retry = events_cmd->add_subcommand(
      "retry", "Send a dead-lettered event back to delivery, its attempts reset");
  ev_retry->add_option("ID", ev.id, "The event's id (from mitos events list)")->required();
  auto* ev_drop = events_cmd->add_subcommand("drop", "Delete a dead-lettered event");
  ev_drop->add_option("ID", ev.id, "The event's id (from mitos events list)")->required();
  for (auto* sub : {ev_list, ev_retry, ev_drop}) {
    sub->add_option("--module", ev.module, "Only this module's database");
  }
  auto* auth_cmd = app.add_subcommand("auth", "Tokens and keys");
  auth_cmd->require_subcommand(1);
  DevTokenCommand dt;
  auto* dev_token = auth_cmd->add_subcommand(
      "dev-token",
      "Print a bearer token signed by the development key (auth.mode: dev) "
      "of the instance that --config and --data-dir name");
  dev_token->add_option("--sub", dt.subject,
                        "The token's subject: a user's id")->required();
  dev_token->add_option("--scope", dt.scope,
                        "Space-separated scopes, e.g. \"users:admin orders:admin\"");
  dev_token->add_option("--ttl", dt.ttl, "Lifetime: 90s, 15m, 1h (default), 7d");
  std::string keys_file;
  auto* service_keys = auth_cmd->add_subcommand(
      "service-keys",
      "Write a new key file for auth.service_keys_file (one random key, "
      "mode 0600); refuses to overwrite one");
  service_keys->add_option("FILE", keys_file, "Where to write it")->required();
  app.require_subcommand(0, 1);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "mitos: " << e.what() << "\nRun 'mitos --help' for usage.\n";
    return kExitUsage;
  }

  try {
    if (*new_module) {
      new_opts.register_module = !no_register;
      new_opts.root = std::filesystem::current_path();
      return internal::NewModule(new_opts, std::cout, std::cerr);
    }
    if (*modules && modules_json) {
      nlohmann::ordered_json out = nlohmann::ordered_json::array();
      for (const auto& s : catalog) {
        out.push_back({{"name", s.name},
                       {"summary", s.summary},
                       {"needs", s.needs},
                       {"route_prefixes", s.route_prefixes}});
      }
      std::cout << out.dump(2) << "\n";
      return 0;
    }
    if (*modules) {
      std::printf("%-10s %-16s %s\n", "MODULE", "NEEDS", "WHAT IT DOES");
      for (const auto& s : catalog) {
        std::string needs;
        for (const auto& n : s.needs) needs += (needs.empty() ? "" : ",") + n;
        std::printf("%-10s %-16s %s\n", s.name.c_str(),
                    needs.empty() ? "-" : needs.c_str(), s.summary.c_str());
      }
      return 0;
    }
    if (*check) return ConfigCheck(schema, f);
    if (*service_keys) {
      if (std::filesystem::exists(keys_file)) {
        return Fail(kExitUsage, "auth service-keys: " + keys_file +
                                    " exists; add a key to it by hand to rotate");
      }
      std::string error;
      if (!auth::ServiceKeys::WriteNew(keys_file, &error)) {
        return Fail(kExitRuntime, "auth service-keys: " + error);
      }
      std::cout << "wrote " << keys_file << "\n";
      return 0;
    }
    config::Config cfg = Resolve(schema, f, /*with_env=*/true);
    CheckConsistency(cfg);
    if (*dev_token) return DevToken(cfg, dt);
    if (*events_cmd) {
      ev.action = *ev_list ? "list" : *ev_retry ? "retry" : "drop";
      return Events(catalog, schema, cfg, ev);
    }
    if (*print) {
      std::cout << cfg.ToYaml();
      return 0;
    }
    (void)serve;
    return Serve(catalog, cfg);
  } catch (const config::ConfigError& e) {
    return Fail(kExitUsage, std::string("config error: ") + e.what());
  }
}

}  // namespace

int Main(int argc, char** argv, std::vector<ModuleSpec> catalog) {
  // The last resort: what reaches here is a bug (the runtime already turns
  // what modules throw while starting into a status), reported with a
  // message and an exit status rather than by abort().
  try {
    return Run(argc, argv, catalog);
  } catch (const config::UndeclaredKeyError& e) {
    return Fail(kExitUsage, "config error: " + e.key() +
                                ": read but never declared (declare it in "
                                "the schema)");
  } catch (const std::exception& e) {
    return Fail(kExitRuntime, std::string("internal error: ") + e.what());
  } catch (...) {
    return Fail(kExitRuntime, "internal error: an unknown exception");
  }
}

}  // namespace mitos
