#include "access.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "mitos/auth/dev_keys.h"
#include "mitos/auth/jwks.h"
#include "mitos/auth/jwt.h"
#include "mitos/auth/service_token.h"
#include "mitos/limits/rate_limiter.h"
#include "mitos/observability/log.h"
#include "mitos/observability/metrics.h"

namespace mitos::internal {
namespace {

constexpr const char* kLog = "auth";

metrics::ChildFamily<metrics::Counter>& Refusals() {
  static auto& f = metrics::Registry::Default().Counters(
      "mitos_auth_refusals_total",
      "Requests refused before their route ran, by reason: unauthenticated "
      "(no or a bad bearer token), forbidden (a missing scope), "
      "service_token (a bad or missing service token), service_forbidden "
      "(a service not among the module's callers).",
      {"reason"});
  return f;
}

metrics::ChildFamily<metrics::Counter>& Limited() {
  static auto& f = metrics::Registry::Default().Counters(
      "mitos_rate_limited_total",
      "Requests answered 429, by rate-limit policy (subject or address).",
      {"policy"});
  return f;
}

std::string ReadFile(const std::string& path, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot read " + path;
    return "";
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// RFC 6750 section 3: a request with no credentials gets the challenge
// without an error code; one with a bad token gets invalid_token.
void Unauthorized(http::Response& res, bool had_token, std::string detail) {
  res.SetHeader("WWW-Authenticate", had_token
                                        ? "Bearer error=\"invalid_token\""
                                        : "Bearer");
  http::WriteProblem(res, 401, "urn:mitos:problem:unauthenticated",
                     "Unauthorized", detail);
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

// An address block, "10.0.0.0/8", "2001:db8::/32", or one address.
struct AccessControl::Cidr {
  int family = 0;  // AF_INET or AF_INET6
  unsigned char bytes[16] = {};
  int bits = 0;

  static std::optional<Cidr> Parse(std::string_view text) {
    Cidr c;
    std::string addr(text.substr(0, text.find('/')));
    int max_bits = 32;
    if (inet_pton(AF_INET, addr.c_str(), c.bytes) == 1) {
      c.family = AF_INET;
    } else if (inet_pton(AF_INET6, addr.c_str(), c.bytes) == 1) {
      c.family = AF_INET6;
      max_bits = 128;
    } else {
      return std::nullopt;
    }
    c.bits = max_bits;
    if (size_t slash = text.find('/'); slash != std::string_view::npos) {
      std::string_view n = text.substr(slash + 1);
      if (n.empty() || n.size() > 3 ||
          n.find_first_not_of("0123456789") != std::string_view::npos) {
        return std::nullopt;
      }
      c.bits = std::stoi(std::string(n));
      if (c.bits > max_bits) return std::nullopt;
    }
    return c;
  }

  bool Contains(std::string_view text) const {
    unsigned char b[16] = {};
    std::string addr(text);
    if (inet_pton(family, addr.c_str(), b) != 1) return false;
    const int full = bits / 8;
    if (std::memcmp(b, bytes, static_cast<size_t>(full)) != 0) return false;
    if (bits % 8 == 0) return true;
    const unsigned char mask = static_cast<unsigned char>(0xFF << (8 - bits % 8));
    return (b[full] & mask) == (bytes[full] & mask);
  }
};

std::string DevKeyPath(const config::Config& config) {
  std::string path = config.String("auth.dev_key_file");
  if (!path.empty()) return path;
  return (std::filesystem::path(config.String("data_dir")) / "auth-dev-key.pem")
      .string();
}

std::string DevIssuer(const config::Config& config) {
  std::string issuer = config.String("auth.issuer");
  return issuer.empty() ? "mitos-dev" : issuer;
}

void DeclareAccessConfig(config::Schema* s) {
  s->String("auth.mode", "dev",
            "dev: bearer tokens signed by a development key that the "
            "instance makes under data_dir and serves at "
            "/.well-known/jwks.json (see `mitos auth dev-token`); jwks: "
            "tokens of an identity provider, verified against "
            "auth.jwks_url or auth.jwks_file; off: no authentication at all "
            "(every request may do anything; logged as a warning).",
            {"dev", "jwks", "off"});
  s->String("auth.jwks_url", "",
            "JWKS (RFC 7517) of the identity provider, http(s)://...; jwks "
            "mode.");
  s->String("auth.jwks_file", "",
            "File holding the JWKS instead of auth.jwks_url (a mounted "
            "ConfigMap or Secret; re-read on refresh).");
  s->Int("auth.jwks_refresh_s", 300, 1, 86400,
         "Period of the JWKS refresh. A token naming an unknown kid also "
         "refreshes it, at most once per auth.jwks_min_refetch_s.");
  s->Int("auth.jwks_min_refetch_s", 30, 1, 86400,
         "Shortest time between two refreshes caused by unknown kids.");
  s->String("auth.issuer", "",
            "Required iss of tokens; jwks mode needs it. In dev mode it "
            "defaults to mitos-dev.");
  s->String("auth.audience", "mitos", "Required aud of tokens.");
  s->Int("auth.clock_skew_s", 60, 0, 3600,
         "Tolerance for exp, nbf and iat.");
  s->String("auth.hs256_secret_file", "",
            "File holding a shared secret that makes HS256 tokens "
            "acceptable; without it every HS* token is refused.");
  s->String("auth.dev_key_file", "",
            "Development signing key (PEM); default <data_dir>/auth-dev-key.pem.");
  s->String("auth.service_keys_file", "",
            "The keys that sign calls between instances (a mounted Secret): "
            "one \"<kid> <base64url secret of 32+ bytes>\" per line, the "
            "first signs, all verify. Required when this instance calls "
            "modules elsewhere or is called by them.");
  s->Int("auth.service_keys_reload_s", 30, 1, 86400,
         "Period of re-reading auth.service_keys_file (rotation).");
  s->String("auth.edge", "auto",
            "Whether end users' bearer tokens are accepted here: true at the "
            "edge of a deployment, false on instances that only other "
            "instances call (they then need a service token). auto: true "
            "iff the gateway module runs here, or every module does.",
            {"auto", "true", "false"});
  s->Int("limits.subject.rate", 100, 0, 10000000,
         "Requests per second one authenticated subject may make at the "
         "edge (a token bucket); 0: no limit.");
  s->Int("limits.subject.burst", 200, 1, 10000000,
         "Bucket size for limits.subject.rate.");
  s->Int("limits.address.rate", 20, 0, 10000000,
         "Requests per second one client address may make without a "
         "token, at the edge; 0: no limit.");
  s->Int("limits.address.burst", 40, 1, 10000000,
         "Bucket size for limits.address.rate.");
  s->List("limits.trusted_proxies", {},
          "Addresses or blocks (10.0.0.0/8, fd00::/8) of the proxies in front "
          "of the edge, such as an ingress controller's pods: for a request "
          "from one, the client address is the last X-Forwarded-For entry "
          "that is not one of them. Empty: the socket's peer is the client.");
}

StatusOr<std::unique_ptr<AccessControl>> AccessControl::Create(
    const config::Config& config, const std::vector<ModuleSpec>& catalog,
    const std::vector<const ModuleSpec*>& local, bool calls_remotes) {
  std::unique_ptr<AccessControl> a(new AccessControl());
  a->mode_ = config.String("auth.mode");
  a->off_ = a->mode_ == "off";
  for (const auto* spec : local) a->local_names_.push_back(spec->name);
  const bool has_gateway =
      std::find(a->local_names_.begin(), a->local_names_.end(), "gateway") !=
      a->local_names_.end();
  const std::string edge = config.String("auth.edge");
  // The gateway is the edge of a split; a monolith (every module here) is
  // its own.
  const bool monolith = local.size() == catalog.size();
  a->edge_ = edge == "auto" ? has_gateway || monolith : edge == "true";
  // A module's callers: the modules that need it, and the gateway for a
  // module with external routes.
  for (const auto& callee : catalog) {
    auto& allowed = a->callers_[callee.name];
    for (const auto& caller : catalog) {
      if (std::find(caller.needs.begin(), caller.needs.end(), callee.name) !=
          caller.needs.end()) {
        allowed.insert(caller.name);
      }
    }
    if (!callee.route_prefixes.empty()) allowed.insert("gateway");
  }
  if (a->off_) {
    log::Warn(kLog,
              "auth.mode is off: every request may read and change "
              "everything; never expose this instance");
    return a;
  }

  // Between instances: every call is signed, and every instance that is not
  // the edge is called only that way.
  const std::string keys_file = config.String("auth.service_keys_file");
  if (!keys_file.empty()) {
    std::string error;
    a->service_keys_ = auth::ServiceKeys::FromFile(keys_file, &error);
    if (!a->service_keys_) {
      return Status::InvalidArgument("auth.service_keys_file: " + error);
    }
    a->service_verifier_ =
        std::make_unique<auth::ServiceTokenVerifier>(a->service_keys_);
    a->service_keys_reload_ =
        std::chrono::seconds(config.Int("auth.service_keys_reload_s"));
  } else if (calls_remotes || !a->edge_) {
    return Status::InvalidArgument(
        "auth.service_keys_file: required when instances call each other "
        "(this instance " +
        std::string(calls_remotes ? "calls modules elsewhere"
                                  : "is not the edge (auth.edge)") +
        "); make one with `mitos auth service-keys FILE`, or set "
        "auth.mode: off");
  }

  if (!a->edge_) return a;

  auth::VerifierOptions vo;
  vo.issuer = config.String("auth.issuer");
  vo.audience = config.String("auth.audience");
  vo.clock_skew = std::chrono::seconds(config.Int("auth.clock_skew_s"));
  if (const std::string f = config.String("auth.hs256_secret_file"); !f.empty()) {
    std::string error;
    vo.hs256_secret = ReadFile(f, &error);
    while (!vo.hs256_secret.empty() &&
           (vo.hs256_secret.back() == '\n' || vo.hs256_secret.back() == '\r')) {
      vo.hs256_secret.pop_back();
    }
    if (!error.empty()) return Status::InvalidArgument("auth.hs256_secret_file: " + error);
    if (vo.hs256_secret.size() < 32) {
      return Status::InvalidArgument(
          "auth.hs256_secret_file: the secret must have at least 32 bytes");
    }
  }
  if (a->mode_ == "dev") {
    vo.issuer = DevIssuer(config);
    const std::string path = DevKeyPath(config);
    bool created = false;
    std::string error;
    auto key = auth::SigningKey::LoadOrCreate(path, &created, &error);
    if (!key) return Status::InvalidArgument("auth.dev_key_file: " + error);
    a->dev_jwks_ = key->Jwks();
    std::string kerror;
    auto set = auth::KeySet::Parse(a->dev_jwks_, &kerror);
    if (!set) return Status::Internal("development JWKS: " + kerror);
    a->keys_ = auth::KeyProvider::Fixed(set);
    log::Warn(kLog,
              "auth.mode is dev: tokens are signed by a development key; "
              "`mitos auth dev-token` makes them. Use jwks in production",
              {{"key_file", path}, {"kid", key->kid()},
               {"created", created},
               {"issuer", vo.issuer}});
  } else {
    auth::JwksSource src;
    src.url = config.String("auth.jwks_url");
    src.file = config.String("auth.jwks_file");
    src.refresh = std::chrono::seconds(config.Int("auth.jwks_refresh_s"));
    src.min_refetch = std::chrono::seconds(config.Int("auth.jwks_min_refetch_s"));
    if (src.url.empty() == src.file.empty()) {
      return Status::InvalidArgument(
          "auth.jwks_url, auth.jwks_file: jwks mode needs exactly one of "
          "them, naming the identity provider's keys");
    }
    if (vo.issuer.empty()) {
      return Status::InvalidArgument(
          "auth.issuer: jwks mode needs the issuer whose tokens to accept");
    }
    a->keys_ = std::make_shared<auth::KeyProvider>(src);
    std::string error;
    if (!a->keys_->Load(&error)) {
      return Status::InvalidArgument("auth.jwks_" +
                                     std::string(src.url.empty() ? "file" : "url") +
                                     ": " + error);
    }
    log::Info(kLog, "verifying bearer tokens",
              {{"jwks", src.url.empty() ? src.file : src.url},
               {"issuer", vo.issuer}, {"audience", vo.audience}});
  }
  a->verifier_ = std::make_unique<auth::Verifier>(vo, a->keys_);

  auto bucket = [&](const char* p) {
    limits::BucketPolicy b;
    b.rate = static_cast<double>(config.Int(std::string(p) + ".rate"));
    b.burst = static_cast<double>(config.Int(std::string(p) + ".burst"));
    return b;
  };
  if (auto b = bucket("limits.subject"); b.rate > 0) {
    a->by_subject_ = std::make_unique<limits::RateLimiter>(b);
  }
  if (auto b = bucket("limits.address"); b.rate > 0) {
    a->by_address_ = std::make_unique<limits::RateLimiter>(b);
  }
  for (const auto& p : config.List("limits.trusted_proxies")) {
    auto c = Cidr::Parse(p);
    if (!c) {
      return Status::InvalidArgument(
          "limits.trusted_proxies: \"" + p +
          "\" is not an IP address or block like 10.0.0.0/8");
    }
    a->trusted_proxies_.push_back(*c);
  }
  return a;
}

AccessControl::~AccessControl() { Stop(); }

void AccessControl::Start() {
  if (keys_ && mode_ == "jwks") keys_->Start();
  if (service_keys_) service_keys_->StartWatching(service_keys_reload_);
}

void AccessControl::Stop() {
  if (keys_) keys_->Stop();
  if (service_keys_) service_keys_->Stop();
}

bool AccessControl::Admit(const http::Request& req,
                          const http::Router::Route& route, Caller* caller,
                          http::Response& res) {
  if (off_) {
    *caller = Caller{};  // the instance itself
    return true;
  }
  std::string_view service = req.Header(kServiceTokenHeader);
  if (!service.empty()) return AdmitService(req, service, route, caller, res);
  if (!edge_) {
    Refusals().With({"service_token"}).Inc();
    http::WriteProblem(res, 401, "urn:mitos:problem:unauthenticated",
                       "Unauthorized",
                       "This instance serves only other Mitos services.");
    return false;
  }

  std::string_view authz = req.Header("Authorization");
  bool had_token = false;
  if (!authz.empty()) {
    had_token = true;
    // RFC 6750 section 2.1: the scheme is case-insensitive.
    if (authz.size() < 8 || !http::EqualsIgnoreCase(authz.substr(0, 7), "Bearer ")) {
      Refusals().With({"unauthenticated"}).Inc();
      Unauthorized(res, true, "The access token is invalid.");
      return false;
    }
    std::string_view token = authz.substr(7);
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    auth::VerifyResult v = verifier_->Verify(token);
    if (!v.ok) {
      Refusals().With({"unauthenticated"}).Inc();
      log::Debug(kLog, "token refused", {{"reason", v.reason},
                                          {"request_id", req.request_id}});
      Unauthorized(res, true, "The access token is invalid.");
      return false;
    }
    *caller = Caller::User(std::move(v.claims.subject),
                           std::move(v.claims.scopes));
  } else {
    *caller = Caller::Anonymous();
  }
  if (!Limit(req, *caller, res)) return false;

  return Authorize(route, *caller, had_token, res);
}

bool AccessControl::AdmitService(const http::Request& req,
                                 std::string_view token,
                                 const http::Router::Route& route,
                                 Caller* caller, http::Response& res) {
  if (!service_verifier_) {
    // An instance that no other instance calls: a service token can only
    // come from outside, claiming an identity it cannot have.
    Refusals().With({"service_token"}).Inc();
    http::WriteProblem(res, 401, "urn:mitos:problem:unauthenticated",
                       "Unauthorized", "The service token is invalid.");
    return false;
  }
  auth::ServiceVerifyResult v = service_verifier_->Verify(
      token, req.method, req.target, std::chrono::system_clock::now());
  if (!v.ok) {
    Refusals().With({"service_token"}).Inc();
    log::Warn(kLog, "service token refused",
              {{"reason", v.reason}, {"client", req.remote_addr},
               {"request_id", req.request_id}});
    http::WriteProblem(res, 401, "urn:mitos:problem:unauthenticated",
                       "Unauthorized", "The service token is invalid.");
    return false;
  }
  auto allowed = callers_.find(route.module);
  bool may = false;
  if (allowed != callers_.end()) {
    for (const auto& s : v.identity.services) {
      if (allowed->second.count(s)) may = true;
    }
  }
  if (!may) {
    Refusals().With({"service_forbidden"}).Inc();
    std::string from;
    for (const auto& s : v.identity.services) from += (from.empty() ? "" : ",") + s;
    log::Warn(kLog, "service not among the module's callers",
              {{"from", from}, {"callee_module", route.module},
               {"request_id", req.request_id}});
    http::WriteProblem(res, 403, "urn:mitos:problem:forbidden", "Forbidden",
                       "The calling service may not call the " + route.module +
                           " module.");
    return false;
  }
  switch (v.identity.caller) {
    case auth::ServiceIdentity::Caller::kInternal:
      *caller = Caller{};
      return true;  // the calling instance itself, as in the monolith
    case auth::ServiceIdentity::Caller::kAnonymous:
      *caller = Caller::Anonymous();
      break;
    case auth::ServiceIdentity::Caller::kUser:
      *caller = Caller::User(std::move(v.identity.subject),
                             std::move(v.identity.scopes));
      break;
  }
  // The end user was authenticated and rate-limited at the edge; the route's
  // policy is this module's, enforced here as in the monolith.
  return Authorize(route, *caller, /*had_token=*/false, res);
}

bool AccessControl::Authorize(const http::Router::Route& route,
                              const Caller& caller, bool had_token,
                              http::Response& res) {
  switch (route.access.kind) {
    case http::Access::Kind::kPublic:
      return true;
    case http::Access::Kind::kDenied:
      Refusals().With({"forbidden"}).Inc();
      http::WriteProblem(res, 403, "urn:mitos:problem:forbidden", "Forbidden",
                         "This route is not open to callers.");
      return false;
    case http::Access::Kind::kAuthenticated:
    case http::Access::Kind::kScope:
      break;
  }
  if (caller.kind != Caller::Kind::kUser) {
    Refusals().With({"unauthenticated"}).Inc();
    Unauthorized(res, had_token, "This route needs a bearer token.");
    return false;
  }
  if (route.access.kind == http::Access::Kind::kScope &&
      !caller.Has(route.access.scope)) {
    Refusals().With({"forbidden"}).Inc();
    res.SetHeader("WWW-Authenticate",
                  "Bearer error=\"insufficient_scope\", scope=\"" +
                      route.access.scope + "\"");
    http::WriteProblem(res, 403, "urn:mitos:problem:forbidden", "Forbidden",
                       "This route needs the " + route.access.scope +
                           " scope.");
    return false;
  }
  return true;
}

bool AccessControl::Limit(const http::Request& req, const Caller& caller,
                          http::Response& res) {
  const bool user = caller.kind == Caller::Kind::kUser;
  limits::RateLimiter* limiter = user ? by_subject_.get() : by_address_.get();
  if (limiter == nullptr) return true;
  const char* policy = user ? "subject" : "address";
  const std::string address = user ? std::string() : ClientAddress(req);
  limits::Decision d = limiter->Take(
      user ? std::string_view(caller.subject) : std::string_view(address));
  if (d.allowed) return true;
  Limited().With({policy}).Inc();
  const double rate = limiter->policy().rate;
  // draft-ietf-httpapi-ratelimit-headers: the policy (quota q over window
  // w seconds) and the state of the caller's partition (r left, reset in
  // t seconds).
  const int64_t window = std::max<int64_t>(
      1, static_cast<int64_t>(static_cast<double>(d.limit) / rate + 0.5));
  res.SetHeader("Retry-After", std::to_string(d.retry_after.count()));
  res.SetHeader("RateLimit-Policy", "\"" + std::string(policy) + "\";q=" +
                                        std::to_string(d.limit) +
                                        ";w=" + std::to_string(window));
  res.SetHeader("RateLimit", "\"" + std::string(policy) + "\";r=" +
                                 std::to_string(d.remaining) +
                                 ";t=" + std::to_string(d.reset.count()));
  http::WriteProblem(res, 429, "urn:mitos:problem:rate-limited",
                     "Too Many Requests",
                     "Over the request rate allowed to this caller; retry "
                     "after Retry-After seconds.");
  return false;
}

bool AccessControl::Trusted(std::string_view address) const {
  for (const auto& c : trusted_proxies_) {
    if (c.Contains(address)) return true;
  }
  return false;
}

std::string AccessControl::ClientAddress(const http::Request& req) const {
  if (trusted_proxies_.empty() || !Trusted(req.remote_addr)) return req.remote_addr;
  // X-Forwarded-For lists the hops oldest first, each proxy appending the
  // address it received from; entries left of a proxy we do not trust are
  // the client's to write, so the first untrusted one from the right is
  // the client.
  std::string_view xff = req.Header("X-Forwarded-For");
  while (!xff.empty()) {
    size_t comma = xff.rfind(',');
    std::string_view hop =
        Trim(comma == std::string_view::npos ? xff : xff.substr(comma + 1));
    if (!hop.empty() && !Trusted(hop)) return std::string(hop);
    if (comma == std::string_view::npos) break;
    xff = xff.substr(0, comma);
  }
  return req.remote_addr;
}

std::string AccessControl::ServiceToken(std::string_view method,
                                        std::string_view target) const {
  if (off_ || !service_keys_) return "";
  auth::ServiceIdentity who;
  who.services = local_names_;
  const Caller& c = RequestContext::Current().caller;
  switch (c.kind) {
    case Caller::Kind::kInternal:
      who.caller = auth::ServiceIdentity::Caller::kInternal;
      break;
    case Caller::Kind::kAnonymous:
      who.caller = auth::ServiceIdentity::Caller::kAnonymous;
      break;
    case Caller::Kind::kUser:
      who.caller = auth::ServiceIdentity::Caller::kUser;
      who.subject = c.subject;
      who.scopes = c.scopes;
      break;
  }
  return auth::MintServiceToken(*service_keys_, who, method, target,
                                std::chrono::system_clock::now());
}

nlohmann::json AccessControl::Describe() const {
  nlohmann::json j = {{"mode", mode_}, {"edge", edge_}};
  if (service_keys_) j["service_keys"] = {{"signing_kid", service_keys_->signing_kid()}};
  if (keys_) {
    auto set = keys_->Current();
    j["jwks_keys"] = set ? set->size() : 0;
  }
  return j;
}

}  // namespace mitos::internal
