// The module's HTTP surface: decode, call OrdersApi, encode.
#ifndef ORDERS_SRC_ROUTES_H_
#define ORDERS_SRC_ROUTES_H_

#include "mitos/http.h"
#include "orders/api.h"

namespace orders {

// Registers the /orders routes on `router`, served by `api`.
// REQUIRES: api outlives the router.
void RegisterRoutes(OrdersApi& api, mitos::http::Router& router);

}  // namespace orders

#endif  // ORDERS_SRC_ROUTES_H_
