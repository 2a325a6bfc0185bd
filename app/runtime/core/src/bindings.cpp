#include "mitos/core/bindings.h"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

namespace mitos {

void ApiRegistry::Offer(const std::string& module, std::type_index type,
                        std::shared_ptr<void> api) {
  std::lock_guard<std::mutex> lock(mu_);
  apis_.insert_or_assign(module, std::make_pair(type, std::move(api)));
}

std::shared_ptr<void> ApiRegistry::Lookup(
    const ModuleSpec& asker, std::string_view name, std::type_index type,
    const std::function<std::shared_ptr<CallSite>()>& site) const {
  if (std::find(asker.needs.begin(), asker.needs.end(), name) ==
      asker.needs.end()) {
    throw std::logic_error("module " + asker.name + " asked for " +
                           std::string(name) + " without declaring it");
  }
  std::shared_ptr<void> api;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = apis_.find(name);
    if (it == apis_.end()) return nullptr;
    if (it->second.first != type) {
      throw std::logic_error("module " + std::string(name) +
                             " offers another API type than requested");
    }
    api = it->second.second;
  }
  // Observed outside the lock: the observer may ask for call sites, which
  // register metrics.
  for (const auto& spec : catalog_) {
    if (spec.name == name && spec.observe) {
      return spec.observe(std::move(api), site());
    }
  }
  return api;
}

void ApiRegistry::Clear() {
  std::map<std::string, std::pair<std::type_index, std::shared_ptr<void>>,
           std::less<>>
      gone;
  {
    std::lock_guard<std::mutex> lock(mu_);
    gone.swap(apis_);
  }
  // `gone` is destroyed here, outside the lock: a module's state may take
  // long to close (a database commits what is queued).
}

StatusOr<std::unique_ptr<sqlite::Database>> OpenModuleDatabase(
    const config::Config& config, const std::string& module,
    const std::vector<sqlite::Migration>& migrations) {
  const std::string p = module + ".storage.";
  sqlite::Options o;
  o.name = module;
  o.busy_timeout_ms = static_cast<int>(config.Int(p + "busy_timeout_ms"));
  o.readers = static_cast<int>(config.Int(p + "readers"));
  o.cache_kib = static_cast<int>(config.Int(p + "cache_kib"));
  o.max_page_count = config.Int(p + "max_page_count");
  auto path = std::filesystem::path(config.String("data_dir")) / (module + ".db");
  std::string backend = "sqlite";
  try {
    backend = config.String(p + "backend");
  } catch (const config::UndeclaredKeyError&) {
    // Declared by sqlite::DeclareStorageConfig alone: SQLite it is.
  }
  if (backend != "sqlite") {
    return Status::FailedPrecondition(
        p + "backend is " + backend + ", but module " + module +
        " keeps its data in SQLite only (it opens it with OpenDatabase)");
  }
  return sqlite::Database::Open(path.string(), o, migrations);
}

StatusOr<std::unique_ptr<storage::Database>> OpenModuleStorage(
    const config::Config& config, const std::string& module,
    const std::vector<storage::Migration>& migrations) {
  return storage::Open(config, module, config.String("data_dir"), migrations);
}

}  // namespace mitos
