// The runtime of one instance: the selected modules, their dependency
// bindings, one HTTP server, probes, and graceful shutdown.
#ifndef MITOS_RUNTIME_H_
#define MITOS_RUNTIME_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "mitos/config.h"
#include "mitos/module.h"
#include "mitos/status.h"

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

// Checks that every need of a selected module is satisfied. Returns
// InvalidArgument naming the module, the missing dependency and the config
// that would fix it.
Status CheckDependencies(const std::vector<const ModuleSpec*>& selected);

class Runtime {
 public:
  Runtime(const config::Config& config,
          std::vector<const ModuleSpec*> modules);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Binds the port, serves the probes (not ready yet), starts the modules
  // in dependency order and then reports ready. On failure everything
  // started so far is stopped again.
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

#endif  // MITOS_RUNTIME_H_
