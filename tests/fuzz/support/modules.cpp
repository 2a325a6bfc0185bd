#include "mitos_fuzzing/modules.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>

#include "mitos/base/context.h"
#include "mitos/config/config.h"
#include "mitos/core/bindings.h"
#include "mitos/core/runtime.h"
#include "mitos/http/request_parser.h"
#include "mitos/observability/log.h"
#include "mitos/observability/observe.h"

namespace mitos::fuzzing {
namespace {

[[noreturn]] void Abort(const std::string& what) {
  std::fprintf(stderr, "module fuzz: %s\n", what.c_str());
  std::abort();
}

std::string Escape(std::string_view s, size_t max = 2000) {
  std::string out;
  for (unsigned char c : s.substr(0, max)) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > max) out += "...";
  return out;
}

}  // namespace

struct Modules::State {
  std::filesystem::path dir;
  std::vector<ModuleSpec> catalog;
  config::Schema schema;
  config::Config config;
  std::vector<std::unique_ptr<Module>> modules;  // in start order
  ApiRegistry apis{catalog};
  http::Router router;
  events::Bus bus{events::BusOptions{}};
};

// What the runtime's module context gives a module, without the runtime:
// the module's own database, and the APIs of the modules started before it.
class Modules::Context : public ModuleContext {
 public:
  Context(State& state, const ModuleSpec& spec) : state_(state), spec_(spec) {}

  const config::Config& config() const override { return state_.config; }

  StatusOr<std::unique_ptr<sqlite::Database>> OpenDatabase(
      const std::vector<sqlite::Migration>& migrations) override {
    return OpenModuleDatabase(state_.config, spec_.name, migrations);
  }

  StatusOr<std::unique_ptr<storage::Database>> OpenStorage(
      const std::vector<storage::Migration>& migrations) override {
    return OpenModuleStorage(state_.config, spec_.name, migrations);
  }

  bool IsLocal(std::string_view name) const override {
    return std::any_of(state_.catalog.begin(), state_.catalog.end(),
                       [&](const ModuleSpec& s) { return s.name == name; });
  }

  std::shared_ptr<remote::Channel> Channel(std::string_view) override {
    return nullptr;
  }

  std::shared_ptr<CallSite> CallSiteFor(std::string_view name) override {
    return std::make_shared<CallSite>(spec_.name, std::string(name),
                                      /*remote=*/false);
  }

  events::Bus& Events() override { return state_.bus; }

  std::vector<RoutePrefix> RoutePrefixes() const override {
    std::vector<RoutePrefix> out;
    for (const auto& spec : state_.catalog) {
      for (const auto& p : spec.route_prefixes) out.push_back({p, spec.name});
    }
    return out;
  }

 protected:
  std::shared_ptr<void> Lookup(std::string_view name,
                               std::type_index type) override {
    return state_.apis.Lookup(spec_, name, type,
                              [&] { return CallSiteFor(name); });
  }

  void Offer(std::type_index type, std::shared_ptr<void> api) override {
    state_.apis.Offer(spec_.name, type, std::move(api));
  }

 private:
  State& state_;
  const ModuleSpec& spec_;
};

Modules::Modules(std::vector<ModuleSpec> catalog)
    : state_(std::make_unique<State>()) {
  log::Configure(log::Level::kWarn, log::Format::kJson);
  std::random_device rd;
  state_->dir =
      std::filesystem::temp_directory_path() /
      ("mitos-fuzz-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(state_->dir);
  state_->catalog = std::move(catalog);
  DeclareConfig(state_->catalog, &state_->schema);
  config::Resolver r(state_->schema);
  r.Flag("data_dir", state_->dir.string(), "fuzz");
  r.Flag("log.level", "warn", "fuzz");
  state_->config = r.Build();
  for (const auto& spec : state_->catalog) {
    std::unique_ptr<Module> m = spec.create(state_->config);
    Context ctx(*state_, spec);
    Status s = m->Start(ctx);
    if (!s.ok())
      Abort("module " + spec.name + " failed to start: " + s.message());
    state_->modules.push_back(std::move(m));
  }
  for (auto& m : state_->modules) m->RegisterRoutes(state_->router);
  state_->bus.Start();
}

Modules::~Modules() {
  state_->bus.Stop();
  for (auto it = state_->modules.rbegin(); it != state_->modules.rend(); ++it) {
    (*it)->Stop();
  }
  state_->apis.Clear();
  state_->modules.clear();
  std::error_code ec;
  std::filesystem::remove_all(state_->dir, ec);
}

std::optional<http::Response> Modules::Serve(http::Request& req) {
  http::Router::Match match = state_->router.Resolve(req.method, req.path);
  if (match.route == nullptr) return std::nullopt;
  req.route = match.route->pattern;
  req.path_params = std::move(match.params);
  if (req.request_id.empty()) req.request_id = "fuzz";
  RequestContext ctx;
  ctx.request_id = req.request_id;
  ContextScope scope(&ctx);

  if (match.route->handler) {
    http::Response res;
    try {
      match.route->handler(req, res);
    } catch (const std::exception& e) {
      Fail(std::string("the handler threw: ") + e.what(), req);
    }
    return res;
  }

  // An asynchronous handler answers on this thread or, after a commit, on
  // the database's writer thread.
  struct Answer {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<http::Response> res;
    int calls = 0;
  };
  auto answer = std::make_shared<Answer>();
  std::string what = req.method + " " + req.target;
  try {
    match.route->async_handler(req, [answer, what](http::Response&& res) {
      std::lock_guard<std::mutex> lock(answer->mu);
      if (++answer->calls > 1)
        Abort("a handler answered twice: " + Escape(what));
      answer->res = std::move(res);
      answer->cv.notify_all();
    });
  } catch (const std::exception& e) {
    Fail(std::string("the handler threw: ") + e.what(), req);
  }
  std::unique_lock<std::mutex> lock(answer->mu);
  if (!answer->cv.wait_for(lock, std::chrono::seconds(10),
                           [&] { return answer->res.has_value(); })) {
    Fail("the handler did not answer within 10 s", req);
  }
  return std::move(*answer->res);
}

std::optional<http::Request> ParseInput(std::string_view input) {
  size_t eol = input.find('\n');
  std::string_view line = input.substr(0, eol);
  std::string_view rest = eol == std::string_view::npos ? std::string_view()
                                                        : input.substr(eol + 1);
  eol = rest.find('\n');
  std::string_view type = rest.substr(0, eol);
  std::string_view body =
      eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);

  std::string wire(line);
  wire += " HTTP/1.1\r\nHost: fuzz\r\n";
  if (!type.empty()) wire += "Content-Type: " + std::string(type) + "\r\n";
  if (!body.empty()) {
    wire += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  wire += "\r\n";
  wire += body;

  internal::RequestParser parser{internal::RequestParser::Limits{}};
  if (parser.Parse(wire) != internal::RequestParser::Result::kDone) {
    return std::nullopt;
  }
  return std::move(parser.request());
}

void Fail(std::string_view what, const http::Request& req,
          const http::Response* res) {
  std::string s(what);
  s += "\nrequest: " + Escape(req.method) + " " + Escape(req.target);
  s += "\n  Content-Type: " + Escape(req.Header("Content-Type"));
  s += "\n  body: " + Escape(req.body);
  if (res != nullptr) {
    s += "\nresponse: " + std::to_string(res->status) + " " +
         Escape(res->content_type);
    for (const auto& [k, v] : res->headers) {
      s += "\n  " + Escape(k) + ": " + Escape(v);
    }
    s += "\n  body: " + Escape(res->body);
  }
  Abort(s);
}

nlohmann::json CheckResponse(const http::Request& req,
                             const http::Response& res) {
  for (const auto& [name, value] : res.headers) {
    if (name.empty() || name.find_first_of(":\r\n") != std::string::npos ||
        value.find_first_of("\r\n") != std::string::npos) {
      Fail("a response header would break the response's head", req, &res);
    }
  }
  bool success = res.status >= 200 && res.status <= 299;
  if (!success && (res.status < 400 || res.status > 499)) {
    Fail("a status that is neither 2xx nor 4xx", req, &res);
  }
  if (res.status == 204) {
    if (!res.body.empty()) Fail("a 204 with a body", req, &res);
    return nullptr;
  }
  nlohmann::json body = nlohmann::json::parse(res.body, nullptr,
                                              /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    Fail("a body that is not a JSON object", req, &res);
  }
  if (success) {
    if (res.content_type != "application/json") {
      Fail("a 2xx that is not application/json", req, &res);
    }
    if (res.status == 201 && res.Header("Location").empty()) {
      Fail("a 201 without a Location", req, &res);
    }
    return body;
  }
  if (res.content_type != "application/problem+json") {
    Fail("an error that is not application/problem+json", req, &res);
  }
  auto string_field = [&](const char* name) {
    auto it = body.find(name);
    return it != body.end() && it->is_string();
  };
  if (!string_field("type") || !string_field("title") ||
      !string_field("detail") || !body.contains("status") ||
      body["status"] != res.status) {
    Fail("a problem without type, title, detail and its status", req, &res);
  }
  if (body.contains("errors")) {
    const nlohmann::json& errors = body["errors"];
    if (!errors.is_array() || errors.empty()) {
      Fail("a problem whose errors are no list", req, &res);
    }
    for (const auto& e : errors) {
      if (!e.is_object() || !e.contains("field") || !e["field"].is_string() ||
          !e.contains("message") || !e["message"].is_string()) {
        Fail("a problem error without field and message", req, &res);
      }
    }
  }
  return body;
}

}  // namespace mitos::fuzzing
