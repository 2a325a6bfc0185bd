// Reverse proxying of one request through a remote channel.
#ifndef GATEWAY_SRC_PROXY_H_
#define GATEWAY_SRC_PROXY_H_

#include <optional>
#include <string>

#include "mitos/http/http.h"
#include "mitos/remote/remote.h"

namespace gateway {

// Returns true iff `name` is a hop-by-hop header (RFC 9110 7.6.1), a
// per-hop coding header, or one that the proxy sets itself.
bool IsHopByHop(std::string_view name);

// Builds the upstream request: the method, target and body as received,
// end-to-end headers only (never Authorization or a service token: identity
// goes on in the channel's own service token), and X-Forwarded-For/-Proto/
// -Host from the connection. Returns nullopt and writes a 400 problem to `res` when a
// header value holds CR or LF (the HTTP library percent-decodes header
// values, so "%0D%0A" would otherwise smuggle headers upstream).
std::optional<mitos::remote::Request> UpstreamRequest(
    const mitos::http::Request& req, mitos::http::Response& res);

// Copies an upstream response into `res`, end-to-end headers only.
void CopyResponse(const mitos::remote::Response& up, mitos::http::Response& res);

}  // namespace gateway

#endif  // GATEWAY_SRC_PROXY_H_
