// Entry point of the orders module, for the composition root only (app/
// links mitos_orders; other modules link mitos_orders_api).
#ifndef ORDERS_MODULE_H_
#define ORDERS_MODULE_H_

#include "mitos/core/module.h"

namespace orders {

// Describes the module: name "orders", needs "users", its config keys and
// its factory.
mitos::ModuleSpec Spec();

}  // namespace orders

#endif  // ORDERS_MODULE_H_
