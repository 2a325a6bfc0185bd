// The command-line entry point shared by every build of the binary.
#ifndef MITOS_CORE_MAIN_H_
#define MITOS_CORE_MAIN_H_

#include <vector>

#include "mitos/core/module.h"

namespace mitos {

// Parses the command line and runs the selected command:
//   mitos [serve] [--config F] [--modules a,b] [flags]   run the server
//   mitos config check [--config F]                      validate a file
//   mitos config print [--config F]                      resolved config
//   mitos modules [--json]                               known modules
//   mitos new module NAME [--no-register]                a new module in
//                                                        the repository here
// Returns the process exit status: 0 on success, 1 on a runtime failure
// (e.g. the port is in use), 2 on a usage or configuration error.
int Main(int argc, char** argv, std::vector<ModuleSpec> catalog);

}  // namespace mitos

#endif  // MITOS_CORE_MAIN_H_
