// The runtime of one instance: the selected modules, their dependency
// bindings, one HTTP server, probes, and graceful shutdown.
#ifndef MITOS_CORE_RUNTIME_H_
#define MITOS_CORE_RUNTIME_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mitos/base/status.h"
#include "mitos/config/config.h"
#include "mitos/core/module.h"

namespace mitos {

// Declares every key of the runtime and of the modules in `catalog`.
void DeclareConfig(const std::vector<ModuleSpec>& catalog,
                   config::Schema* schema);

// Returns the specs named in `names` (all of `catalog` when empty), in an
// order where every module comes after the local modules it needs.
// An unknown name is InvalidArgument listing the valid names.
StatusOr<std::vector<const ModuleSpec*>> SelectModules(
    const std::vector<ModuleSpec>& catalog,
    const std::vector<std::string>& names);

// Returns the URL of every known module that is configured as remote:
// `remotes.<name>.url`, or else the Kubernetes service variables
// <NAME>_SERVICE_HOST and <NAME>_SERVICE_PORT from `env`. Throws
// config::ConfigError for a URL that is not "http://host[:port]".
std::map<std::string, std::string> RemoteUrls(
    const std::vector<ModuleSpec>& catalog, const config::Config& config,
    const std::map<std::string, std::string>& env);

// Checks that every need of a selected module is satisfied, by a local
// module or a remote URL. Returns InvalidArgument naming the module, the
// missing dependency and the config that would fix it.
Status CheckDependencies(const std::vector<const ModuleSpec*>& selected,
                         const std::map<std::string, std::string>& remotes);

class Runtime {
 public:
  // `selected` are the local modules (from SelectModules) and `remotes`
  // the URLs of modules elsewhere (from RemoteUrls); `catalog` must outlive
  // the runtime.
  Runtime(const config::Config& config, const std::vector<ModuleSpec>& catalog,
          std::vector<const ModuleSpec*> selected,
          std::map<std::string, std::string> remotes);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Creates the modules, binds the port, serves the probes (not ready
  // yet), starts the modules in dependency order and then reports ready.
  // On failure everything started so far is stopped again. Returns
  // InvalidArgument for a configuration error, among them a config key
  // that a module reads (in its factory or its Start) but that no
  // declare_config declares: "<key>: read by module <m> but never declared
  // (...)"; a key read in the factory fails before the port is bound. Any
  // other failure is Unavailable or Internal. Nothing a module throws
  // escapes.
  Status Start();

  // The bound port. REQUIRES: Start() succeeded.
  int port() const;

  // Graceful shutdown: readiness turns 503 at once; after the drain delay
  // the server stops accepting, in-flight requests finish, the modules stop
  // (closing their databases). Safe to call from any thread, once.
  void Shutdown();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mitos

#endif  // MITOS_CORE_RUNTIME_H_
