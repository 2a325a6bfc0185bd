#include "gateway/module.h"

#include "mitos/observability/log.h"
#include "proxy.h"

namespace gateway {
namespace {

class GatewayModule : public mitos::Module {
 public:
  mitos::Status Start(mitos::ModuleContext& ctx) override {
    for (const auto& route : ctx.RoutePrefixes()) {
      if (ctx.IsLocal(route.module)) continue;  // served here directly
      auto channel = ctx.Channel(route.module);
      if (!channel) {
        return mitos::Status::Internal("no route to module " + route.module);
      }
      proxies_.push_back({route.prefix, route.module, std::move(channel),
                          ctx.CallSiteFor(route.module)});
    }
    return mitos::Status::Ok();
  }

  void RegisterRoutes(mitos::http::Router& router) override {
    static constexpr const char* kMethods[] = {"GET", "POST", "PUT", "PATCH",
                                               "DELETE", "OPTIONS"};
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
        router.AddAsync("gateway", m, p.prefix, handler,
                        mitos::http::Blocking::kNever);
        router.AddAsync("gateway", m, p.prefix + "/{*}", handler,
                        mitos::http::Blocking::kNever);
      }
      mitos::log::Info("gateway", "proxying",
                       {{"prefix", p.prefix}, {"to_module", p.module},
                        {"url", p.channel->url()}});
    }
  }

  void Stop() override { proxies_.clear(); }

 private:
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
  s.summary = "Edge router: proxies /users and /orders to remote modules";
  s.needs = {"users", "orders"};
  s.create = [](const mitos::config::Config&) {
    return std::make_unique<GatewayModule>();
  };
  return s;
}

}  // namespace gateway
