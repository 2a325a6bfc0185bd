// `mitos new module NAME`: a working module made from the templates the
// binary embeds (app/runtime/core/templates/module/, read at build time),
// and its registration in the composition root, app/main.cpp.
#ifndef MITOS_CORE_SRC_SCAFFOLD_H_
#define MITOS_CORE_SRC_SCAFFOLD_H_

#include <filesystem>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "mitos/base/status.h"

namespace mitos::internal {

// One file of the module template: its path under the module's folder and
// its text. In both, "@module@", "@Module@" and "@MODULE@" stand for the
// module's name as written (snake case), in CamelCase (as the contract
// generator spells the API's classes: stock_levels -> StockLevels) and in
// upper case (include guards).
struct TemplateFile {
  std::string_view path;
  std::string_view text;
};

// The module template, sorted by path (defined by the build, from
// app/runtime/core/templates/module/).
const std::vector<TemplateFile>& ModuleTemplates();

// Returns "" when `name` can name a new module, else the reason it cannot,
// as a phrase that follows the name ("is a C++ keyword"). A name is lower
// snake case (a letter, then letters, digits and single underscores between
// them), at most 32 characters, and clashes with nothing the build or the
// runtime already names: C++ keywords, the namespaces a module's code sees
// (mitos, std, testing, ...), the runtime's routes (/health, /metrics,
// /modules, /openapi.json, ...), its config sections (server, log, ...),
// its libraries (mitos_core, ...) and the `_api` targets of modules.
// Whether modules/NAME exists is not checked here.
std::string InvalidModuleName(std::string_view name);

// `text` with the placeholders of TemplateFile filled in for `name`.
std::string RenderTemplate(std::string_view text, std::string_view name);

// The Kubernetes name of module `name` (its Deployment and Service, and the
// host in http://<name>:8080): DNS labels have no '_', so it becomes '-'.
std::string KubernetesName(std::string_view name);

// The composition root with module `name` registered.
struct Registration {
  std::string text;            // the new app/main.cpp
  bool include_added = false;  // #include "<name>/module.h" was missing
  bool entry_added = false;    // <name>::Spec() was missing from the list
};

// Registers module `name` in `main_cpp`, the text of app/main.cpp: adds
// `#include "<name>/module.h"` to the block of includes that holds the other
// modules' entry headers, where it sorts, and `<name>::Spec(),` to the
// module list (the lines `<m>::Spec(),`), before gateway::Spec() (the edge
// stays last) or else after the last entry, indented as its neighbours.
// What is already there is left alone, so registering twice changes
// nothing. InvalidArgument when the file has no such includes or list.
StatusOr<Registration> RegisterModule(std::string_view main_cpp,
                                      std::string_view name);

struct NewModuleOptions {
  std::string name;
  bool register_module = true;  // false: --no-register
  std::filesystem::path root;   // the repository root (the working directory)
};

// Runs `mitos new module`: checks the name, that `root` is a repository root
// (it has modules/ and app/main.cpp), that modules/<name> does not exist and,
// unless told not to register, that app/main.cpp can be edited; then writes
// the module into a temporary folder of `root`, renames it to
// modules/<name>, and replaces app/main.cpp through a renamed temporary file
// (removing the module again if that fails). Nothing is written before every
// check has passed, and a failure leaves no partial module behind. Prints
// what it did and the next steps to `out`, errors to `err`. Returns the exit
// status: 0 done, 1 a file could not be written, 2 a usage error (a bad
// name, not at a repository root, the folder exists, app/main.cpp cannot
// be edited).
int NewModule(const NewModuleOptions& options, std::ostream& out,
              std::ostream& err);

}  // namespace mitos::internal

#endif  // MITOS_CORE_SRC_SCAFFOLD_H_
