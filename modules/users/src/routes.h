// The module's HTTP surface: decode, call UsersApi, encode.
#ifndef USERS_SRC_ROUTES_H_
#define USERS_SRC_ROUTES_H_

#include "mitos/http.h"
#include "users/api.h"

namespace users {

// Registers the /users routes on `router`, served by `api`.
// REQUIRES: api outlives the router.
void RegisterRoutes(UsersApi& api, mitos::http::Router& router);

}  // namespace users

#endif  // USERS_SRC_ROUTES_H_
