// Entry point of the gateway module, for the composition root only.
//
// The gateway is the edge of a split deployment. It routes each external
// path prefix ("/users", "/orders") to the module that serves it: when that
// module runs in the same instance its routes are already served here and
// the gateway adds nothing (no network hop); when it runs elsewhere the
// gateway proxies to it through the module's remote channel, with the same
// deadline, retry and circuit-breaker policy as any remote call; when the
// instance has no URL for it, its prefixes answer 503 problem+json
// (urn:mitos:problem:module-unavailable, with Retry-After) and the gateway
// starts all the same, logging a warning that names those modules.
#ifndef GATEWAY_MODULE_H_
#define GATEWAY_MODULE_H_

#include "mitos/core/module.h"

namespace gateway {

mitos::ModuleSpec Spec();

}  // namespace gateway

#endif  // GATEWAY_MODULE_H_
