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

#include "mitos/base/version.h"
#include "mitos/core/runtime.h"
#include "mitos/observability/log.h"
#include "mitos/observability/trace.h"
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
    config::Config cfg = Resolve(schema, f, /*with_env=*/true);
    CheckConsistency(cfg);
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
