#include "gateway/module.h"

#include <algorithm>
#include <string>
#include <vector>

#include "mitos/observability/log.h"
#include "proxy.h"

namespace gateway {
namespace {

constexpr const char* kMethods[] = {"GET",   "POST",   "PUT",
                                    "PATCH", "DELETE", "OPTIONS"};

// How long a client should wait before asking again for a module this
// instance has no URL for. Only a new configuration (a restart) changes
// that, so a second or so, as for a failing remote, would only add load.
constexpr const char* kUnroutedRetryAfterSeconds = "30";

class GatewayModule : public mitos::Module {
 public:
  mitos::Status Start(mitos::ModuleContext& ctx) override {
    std::vector<std::string> unrouted;  // the modules, for the log
    for (const auto& route : ctx.RoutePrefixes()) {
      if (ctx.IsLocal(route.module)) continue;  // served here directly
      auto channel = ctx.Channel(route.module);
      if (!channel) {
        // Not a reason to refuse to start: every other module stays
        // reachable, and the clients of this one get a 503 that says so.
        if (std::find(unrouted.begin(), unrouted.end(), route.module) ==
            unrouted.end()) {
          unrouted.push_back(route.module);
        }
        unrouted_.push_back({route.prefix, route.module});
        continue;
      }
      proxies_.push_back({route.prefix, route.module, std::move(channel),
                          ctx.CallSiteFor(route.module)});
    }
    if (!unrouted.empty()) {
      std::string names;
      for (const auto& n : unrouted) names += (names.empty() ? "" : ", ") + n;
      mitos::log::Warn("gateway",
                       "no URL for these modules: their routes answer 503",
                       {{"unrouted_modules", names}});
    }
    return mitos::Status::Ok();
  }

  void RegisterRoutes(mitos::http::Router& router) override {
    for (const auto& u : unrouted_) {
      // The detail names the module and nothing of the configuration.
      auto handler = [module = u.module](const mitos::http::Request&,
                                         mitos::http::Done done) {
        mitos::http::Response res;
        res.SetHeader("Retry-After", kUnroutedRetryAfterSeconds);
        mitos::http::WriteProblem(
            res, 503, "urn:mitos:problem:module-unavailable",
            "Module unavailable",
            "The " + module + " module is not reachable from this instance.");
        done(std::move(res));
      };
      for (const char* m : kMethods) {
        router.AddAsync("gateway", m, u.prefix, handler,
                        mitos::http::Blocking::kNever,
                        mitos::http::Access::Public());
        router.AddAsync("gateway", m, u.prefix + "/{*}", handler,
                        mitos::http::Blocking::kNever,
                        mitos::http::Access::Public());
      }
    }
    for (const auto& p : proxies_) {
      for (const char* m : kMethods) {
        // One span and one module call per proxied request, labelled with
        // the method (a literal, as CallSite requires). The call does not
        // hold a thread while the remote works: it runs on the event loop
        // that read the request.
        auto handler = [channel = p.channel, site = p.site, m](
                           const mitos::http::Request& req,
                           mitos::http::Done done) {
          mitos::http::Response res;
          auto up = UpstreamRequest(req, res);
          if (!up) return done(std::move(res));
          auto call = std::make_shared<mitos::CallSite::Call>(*site, m);
          channel->CallAsync(
              std::move(*up),
              [site, call, done = std::move(done)](
                  mitos::StatusOr<mitos::remote::Response> r) {
                call->Finish(r.ok() ? mitos::Status::Ok() : r.status());
                mitos::http::Response out;
                if (r.ok()) {
                  CopyResponse(*r, out);
                } else {
                  mitos::http::WriteStatus(out, r.status());
                }
                done(std::move(out));
              });
          call->Detach();
        };
        // Open at the gateway: it authenticates the caller (the runtime
        // does, before this handler) and passes the identity on in the
        // service token; the module that serves the route enforces the
        // route's own policy on it, as it does in the monolith.
        router.AddAsync("gateway", m, p.prefix, handler,
                        mitos::http::Blocking::kNever,
                        mitos::http::Access::Public());
        router.AddAsync("gateway", m, p.prefix + "/{*}", handler,
                        mitos::http::Blocking::kNever,
                        mitos::http::Access::Public());
      }
      mitos::log::Info("gateway", "proxying",
                       {{"prefix", p.prefix}, {"to_module", p.module},
                        {"url", p.channel->url()}});
    }
  }

  void Stop() override {
    proxies_.clear();
    unrouted_.clear();
  }

 private:
  struct Unrouted {
    std::string prefix;
    std::string module;
  };
  std::vector<Unrouted> unrouted_;
  struct Proxy {
    std::string prefix;
    std::string module;
    std::shared_ptr<mitos::remote::Channel> channel;
    std::shared_ptr<mitos::CallSite> site;
  };
  std::vector<Proxy> proxies_;
};

}  // namespace

mitos::ModuleSpec Spec() {
  mitos::ModuleSpec s;
  s.name = "gateway";
  s.summary = "Edge router: proxies every module's routes to where it runs";
  // No needs: the gateway calls no module's API. It routes the prefixes of
  // every known module (ModuleContext::RoutePrefixes), and one it has no
  // URL for answers 503 instead of keeping the gateway from starting.
  s.create = [](const mitos::config::Config&) {
    return std::make_unique<GatewayModule>();
  };
  return s;
}

}  // namespace gateway
