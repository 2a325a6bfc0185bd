// The module's HTTP surface: decode, call the service, encode. Writes
// answer once their commit is done, without holding a thread meanwhile.
#ifndef ORDERS_SRC_ROUTES_H_
#define ORDERS_SRC_ROUTES_H_

#include "mitos/http/http.h"
#include "service.h"

namespace orders {

// Registers the /orders routes on `router`, served by `service`.
// REQUIRES: service outlives the router.
void RegisterRoutes(OrdersService& service, mitos::http::Router& router);

}  // namespace orders

#endif  // ORDERS_SRC_ROUTES_H_
