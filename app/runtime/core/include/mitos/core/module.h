// What a module is, and what the runtime gives it.
//
// A module behaves like a service: it owns its data, serves routes, and
// offers an API (a pure interface in its public header) to other modules.
// Whether a caller holds the in-process implementation or a remote client of
// that API is the runtime's choice, never the caller's.
#ifndef MITOS_CORE_MODULE_H_
#define MITOS_CORE_MODULE_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <typeindex>
#include <vector>

#include "mitos/base/status.h"
#include "mitos/config/config.h"
#include "mitos/events/bus.h"
#include "mitos/http/http.h"
#include "mitos/observability/observe.h"
#include "mitos/remote/remote.h"
#include "mitos/storage/sqlite.h"
#include "mitos/storage/storage.h"

namespace mitos {

// Handed to a module while it starts.
class ModuleContext {
 public:
  virtual ~ModuleContext() = default;

  virtual const config::Config& config() const = 0;

  // Opens the module's own database, "<data_dir>/<module>.db", applying its
  // migrations. A module can open no other file: data ownership is enforced
  // here, not by convention.
  virtual StatusOr<std::unique_ptr<sqlite::Database>> OpenDatabase(
      const std::vector<sqlite::Migration>& migrations) = 0;

  // Opens the module's own storage on the backend its configuration names
  // (<module>.storage.backend: "<data_dir>/<module>.db" on SQLite, the
  // database at <module>.storage.url on PostgreSQL), applying its
  // migrations; the keys are those of storage::DeclareConfig, which the
  // module's declare_config must call. While the storage cannot be reached,
  // the module counts as not ready in /readyz and /health.
  virtual StatusOr<std::unique_ptr<storage::Database>> OpenStorage(
      const std::vector<storage::Migration>& migrations) = 0;

  // Returns the API of module `name`, or nullptr when it was not declared in
  // the module's `needs`. The binding is in-process or remote; callers must
  // not care which.
  template <typename Api>
  std::shared_ptr<Api> Get(std::string_view name) {
    return std::static_pointer_cast<Api>(Lookup(name, typeid(Api)));
  }

  // Offers this module's API to the others.
  template <typename Api>
  void Provide(std::shared_ptr<Api> api) {
    Offer(typeid(Api), std::static_pointer_cast<void>(std::move(api)));
  }

  // Returns true iff module `name` runs in this instance.
  virtual bool IsLocal(std::string_view name) const = 0;

  // Returns the channel to module `name` when it runs elsewhere and a URL
  // for it is configured, or nullptr. For modules that route raw HTTP (the
  // gateway); others use Get<Api>. A module asked for here that neither
  // runs in this instance nor has a URL is listed in /health as an
  // unconfigured remote.
  virtual std::shared_ptr<remote::Channel> Channel(std::string_view name) = 0;

  // Returns the call site for this module's calls to module `name` that do
  // not go through Get<Api> (the gateway's proxying): metrics and spans as
  // for API calls.
  virtual std::shared_ptr<CallSite> CallSiteFor(std::string_view name) = 0;

  // The instance's event bus (mitos/events/bus.h): a module that publishes
  // adds its database's outbox (Bus::AddOutbox), one that subscribes adds
  // its handlers (Bus::Subscribe), both while starting. Dispatch begins once
  // every module has started, and ends before any module stops.
  virtual events::Bus& Events() = 0;

  struct RoutePrefix {
    std::string prefix;  // "/users"
    std::string module;  // "users"
  };
  // Returns the external path prefixes of every known module.
  virtual std::vector<RoutePrefix> RoutePrefixes() const = 0;

 protected:
  virtual std::shared_ptr<void> Lookup(std::string_view name,
                                       std::type_index type) = 0;
  virtual void Offer(std::type_index type, std::shared_ptr<void> api) = 0;
};

class Module {
 public:
  virtual ~Module() = default;

  // Opens storage, obtains dependencies and provides the module's API. A
  // non-OK status aborts start-up with that message.
  virtual Status Start(ModuleContext& ctx) = 0;

  // Declares the module's routes. Called once, after Start succeeded.
  virtual void RegisterRoutes(http::Router& router) = 0;

  // Returns true iff the module can serve requests. Must be cheap and must
  // not depend on other services (it feeds readiness, not liveness).
  virtual bool Ready() const { return true; }

  // Releases resources (closes databases). Called once, after the server has
  // stopped serving requests.
  virtual void Stop() = 0;
};

// A known module, as listed by the composition root.
struct ModuleSpec {
  std::string name;     // unique, lower case: "users"
  std::string summary;  // one line for `mitos modules`
  std::vector<std::string> needs;  // modules whose APIs it calls
  // Path prefixes of its external API ("/users"); the gateway routes them.
  std::vector<std::string> route_prefixes;
  // Declares the module's config keys, all under "<name>.".
  std::function<void(config::Schema&)> declare_config;
  // The module's part of the OpenAPI 3.1 document, as JSON
  // {"paths": {...}, "components": {"schemas": {...}}}, or empty. Generated
  // from the module's contract; GET /openapi.json serves the parts of the
  // modules an instance runs or routes.
  std::string openapi;
  // Creates the module from the resolved configuration.
  std::function<std::unique_ptr<Module>(const config::Config&)> create;

  // For a module that others need: builds the remote binding of its API
  // over a channel. See RemoteBinding below.
  struct Binding {
    std::type_index type;
    std::shared_ptr<void> api;
  };
  std::function<Binding(std::shared_ptr<remote::Channel>)> remote_api;

  // For a module that others need: wraps its API (local or remote) in a
  // decorator that observes each call. See Observed below.
  std::function<std::shared_ptr<void>(std::shared_ptr<void> api,
                                      std::shared_ptr<CallSite> site)>
      observe;
};

// Returns a ModuleSpec::remote_api that binds `Api` to a `Client`, a class
// implementing Api whose constructor takes the channel.
template <typename Api, typename Client>
std::function<ModuleSpec::Binding(std::shared_ptr<remote::Channel>)>
RemoteBinding() {
  return [](std::shared_ptr<remote::Channel> channel) {
    std::shared_ptr<Api> api = std::make_shared<Client>(std::move(channel));
    return ModuleSpec::Binding{typeid(Api),
                               std::static_pointer_cast<void>(std::move(api))};
  };
}

// Returns a ModuleSpec::observe that wraps `Api` in `Decorator`, a class
// implementing Api whose constructor takes the wrapped API and the call
// site, and whose methods run the wrapped ones inside CallSite::Observe.
template <typename Api, typename Decorator>
std::function<std::shared_ptr<void>(std::shared_ptr<void>,
                                    std::shared_ptr<CallSite>)>
Observed() {
  return [](std::shared_ptr<void> api, std::shared_ptr<CallSite> site) {
    std::shared_ptr<Api> wrapped = std::make_shared<Decorator>(
        std::static_pointer_cast<Api>(std::move(api)), std::move(site));
    return std::static_pointer_cast<void>(std::move(wrapped));
  };
}

}  // namespace mitos

#endif  // MITOS_CORE_MODULE_H_
