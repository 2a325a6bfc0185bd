// Entry point of the users module, for the composition root only (app/
// links mitos_users; other modules link mitos_users_api). Other modules
// use users/api.h only.
#ifndef USERS_MODULE_H_
#define USERS_MODULE_H_

#include "mitos/core/module.h"

namespace users {

// Describes the module: name "users", its config keys and its factory.
mitos::ModuleSpec Spec();

}  // namespace users

#endif  // USERS_MODULE_H_
