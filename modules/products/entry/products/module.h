// Entry point of the products module, for the composition root only.
#ifndef PRODUCTS_MODULE_H_
#define PRODUCTS_MODULE_H_

#include "mitos/core/module.h"

namespace products {

// Describes the module: name "products", its config keys and its factory.
mitos::ModuleSpec Spec();

}  // namespace products

#endif  // PRODUCTS_MODULE_H_
