// The module's HTTP surface: decode, call the service, encode. Writes
// answer once their commit is done, without holding a thread meanwhile.
#ifndef USERS_SRC_ROUTES_H_
#define USERS_SRC_ROUTES_H_

#include "mitos/http/http.h"
#include "service.h"

namespace users {

// Registers the /users routes on `router`, served by `service`.
// REQUIRES: service outlives the router.
void RegisterRoutes(UsersService& service, mitos::http::Router& router);

}  // namespace users

#endif  // USERS_SRC_ROUTES_H_
