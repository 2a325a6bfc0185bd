// Entry point of the @module@ module, for the composition root only.
#ifndef @MODULE@_MODULE_H_
#define @MODULE@_MODULE_H_

#include "mitos/core/module.h"

namespace @module@ {

// Describes the module: name "@module@", its config keys and its factory.
mitos::ModuleSpec Spec();

}  // namespace @module@

#endif  // @MODULE@_MODULE_H_
