// Who is calling an instance, what they may call, and how often: the
// runtime's gate in front of every module route. It establishes the
// request's caller (a verified bearer token at the edge, the identity a
// calling service vouched for in its service token between instances),
// enforces the route's declared Access, applies the rate limits, and signs
// the instance's own remote calls.
#ifndef MITOS_CORE_SRC_ACCESS_H_
#define MITOS_CORE_SRC_ACCESS_H_

#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "mitos/base/context.h"
#include "mitos/base/status.h"
#include "mitos/config/config.h"
#include "mitos/core/module.h"
#include "mitos/http/http.h"

namespace mitos::auth {
class KeyProvider;
class ServiceKeys;
class ServiceTokenVerifier;
class SigningKey;
class Verifier;
}  // namespace mitos::auth

namespace mitos::limits {
class RateLimiter;
}

namespace mitos::internal {

// Declares the auth.* and limits.* keys.
void DeclareAccessConfig(config::Schema* schema);

// The development signing key's file: auth.dev_key_file, or
// <data_dir>/auth-dev-key.pem.
std::string DevKeyPath(const config::Config& config);
// The issuer of development tokens: auth.issuer, or mitos-dev.
std::string DevIssuer(const config::Config& config);

class AccessControl {
 public:
  // `local` are the modules this instance runs, `catalog` every known one
  // (their needs say which services may call which module); `remotes` tells
  // whether the instance calls other instances. Returns InvalidArgument for
  // a configuration that cannot work: jwks mode without a key source or
  // issuer, keys that do not load, calls between instances (either way)
  // with auth on but no auth.service_keys_file. In dev mode the signing key
  // is created under data_dir on first start.
  static StatusOr<std::unique_ptr<AccessControl>> Create(
      const config::Config& config, const std::vector<ModuleSpec>& catalog,
      const std::vector<const ModuleSpec*>& local, bool calls_remotes);
  ~AccessControl();

  // Starts and stops the key refreshes (JWKS and service keys).
  void Start();
  void Stop();

  // Returns true iff auth is off: every request is the instance's.
  bool off() const { return off_; }
  // Returns true iff end users' bearer tokens are accepted here (the edge).
  bool edge() const { return edge_; }

  // Decides the caller of `req`, a request for `route`, and whether it may
  // make it. Returns true with *caller set, or false after writing the
  // answer to `res`: 401 (no valid token; WWW-Authenticate per RFC 6750),
  // 403 (a missing scope, or a service not among the route module's
  // callers) or 429 (over a rate limit; Retry-After and RateLimit headers).
  bool Admit(const http::Request& req, const http::Router::Route& route,
             Caller* caller, http::Response& res);

  // The value of the service token header for a remote call made now, for
  // the request this thread serves (its caller goes along), or "" when
  // calls carry none (auth off).
  std::string ServiceToken(std::string_view method,
                           std::string_view target) const;

  // The development JWKS, served at /.well-known/jwks.json in dev mode;
  // "" otherwise.
  const std::string& dev_jwks() const { return dev_jwks_; }

  // Lines for /health: mode, edge, and key state.
  nlohmann::json Describe() const;

 private:
  AccessControl() = default;
  bool AdmitService(const http::Request& req, std::string_view token,
                    const http::Router::Route& route, Caller* caller,
                    http::Response& res);
  bool Authorize(const http::Router::Route& route, const Caller& caller,
                 bool had_token, http::Response& res);
  bool Limit(const http::Request& req, const Caller& caller,
             http::Response& res);
  // The client's address: the socket's peer, or behind trusted proxies
  // the last X-Forwarded-For hop that is not one of them.
  std::string ClientAddress(const http::Request& req) const;
  bool Trusted(std::string_view address) const;

  struct Cidr;

  bool off_ = false;
  bool edge_ = true;
  std::string mode_;
  std::string dev_jwks_;
  std::vector<std::string> local_names_;
  // For each module, the services allowed to call it.
  std::map<std::string, std::set<std::string>, std::less<>> callers_;
  std::shared_ptr<auth::KeyProvider> keys_;
  std::unique_ptr<auth::Verifier> verifier_;
  std::shared_ptr<auth::ServiceKeys> service_keys_;
  std::unique_ptr<auth::ServiceTokenVerifier> service_verifier_;
  std::chrono::seconds service_keys_reload_{30};
  std::unique_ptr<limits::RateLimiter> by_subject_;
  std::unique_ptr<limits::RateLimiter> by_address_;
  std::vector<Cidr> trusted_proxies_;
};

}  // namespace mitos::internal

#endif  // MITOS_CORE_SRC_ACCESS_H_
