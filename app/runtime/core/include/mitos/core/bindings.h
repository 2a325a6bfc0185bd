// What the modules of one process share while they start and serve: the
// APIs they offer each other, and the way each opens its own database. The
// runtime's module context is built on these, and so is any host of
// modules without a server (the module fuzz targets), so that both bind
// modules the same way.
#ifndef MITOS_CORE_BINDINGS_H_
#define MITOS_CORE_BINDINGS_H_

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <typeindex>
#include <utility>
#include <vector>

#include "mitos/base/status.h"
#include "mitos/config/config.h"
#include "mitos/core/module.h"
#include "mitos/observability/observe.h"
#include "mitos/storage/sqlite.h"
#include "mitos/storage/storage.h"

namespace mitos {

// The APIs offered under module names: each module's in-process
// implementation, or the remote binding of a module that runs elsewhere.
// Thread-safe.
class ApiRegistry {
 public:
  // `catalog` (every known module, for their observers) must outlive this.
  explicit ApiRegistry(const std::vector<ModuleSpec>& catalog)
      : catalog_(catalog) {}

  // Offers `api`, of type `type`, as module `module`'s; replaces any
  // earlier offer under that name.
  void Offer(const std::string& module, std::type_index type,
             std::shared_ptr<void> api);

  // Returns module `name`'s API as module `asker` holds it: wrapped in the
  // observer of `name`'s spec, with the call site `site()` makes, or as
  // offered when the spec has none. Returns nullptr when nothing is offered
  // under `name`. Throws std::logic_error when `asker` did not declare
  // `name` in its needs, or when the API offered is not of type `type`:
  // both are mistakes in a module's code, found at start-up.
  std::shared_ptr<void> Lookup(
      const ModuleSpec& asker, std::string_view name, std::type_index type,
      const std::function<std::shared_ptr<CallSite>()>& site) const;

  // Drops every API: for modules' state, the last references go here.
  void Clear();

 private:
  const std::vector<ModuleSpec>& catalog_;
  mutable std::mutex mu_;
  std::map<std::string, std::pair<std::type_index, std::shared_ptr<void>>,
           std::less<>>
      apis_;
};

// Opens module `module`'s own database, "<data_dir>/<module>.db", with the
// "<module>.storage.*" options of `config`, applying `migrations`. Returns
// FailedPrecondition when <module>.storage.backend (declared by
// storage::DeclareConfig) names another backend than SQLite: a module that
// opens its data this way keeps it in SQLite only.
StatusOr<std::unique_ptr<sqlite::Database>> OpenModuleDatabase(
    const config::Config& config, const std::string& module,
    const std::vector<sqlite::Migration>& migrations);

// Opens module `module`'s own storage on the backend <module>.storage.backend
// names (see storage::Open), under the data_dir of `config`, applying
// `migrations`.
StatusOr<std::unique_ptr<storage::Database>> OpenModuleStorage(
    const config::Config& config, const std::string& module,
    const std::vector<storage::Migration>& migrations);

}  // namespace mitos

#endif  // MITOS_CORE_BINDINGS_H_
