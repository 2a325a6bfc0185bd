// Bearer JWTs (RFC 7519) in compact JWS form (RFC 7515): verification of
// their signature against a key provider's JWKS, and of their claims.
//
// Verify refuses a token unless all of this holds:
//   - it is at most kMaxTokenBytes long (checked before any parsing), and
//     three non-empty base64url parts separated by dots;
//   - its header is a JSON object without "crit", whose "typ", if present,
//     is JWT or at+jwt (case-insensitive, with or without "application/");
//   - its "alg" is RS256 (an RSA key), ES256 (a P-256 key) or, only when
//     VerifierOptions::hs256_secret is set, HS256 (verified with that
//     secret, never with a JWKS key); "none" and everything else is
//     refused;
//   - its "kid" names a key of the set whose type matches the alg (an
//     unknown kid makes the provider fetch once more; a kid of an HS256
//     token must not name a public key); without a kid, the set holds
//     exactly one key of the matching type;
//   - the signature verifies;
//   - its claims are a JSON object with a numeric "exp", now <= exp + skew;
//     a numeric "nbf", if present, now + skew >= nbf; a numeric "iat", if
//     present, iat <= now + skew; "iss" equal to the issuer; "aud" equal to
//     the audience or an array holding it; a non-empty string "sub"; a
//     "scope" that, if present, is a string, and an "scp" that, if
//     present, is an array of strings.
#ifndef MITOS_AUTH_JWT_H_
#define MITOS_AUTH_JWT_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mitos/auth/jwks.h"

namespace mitos::auth {

// Longer tokens are refused unread.
inline constexpr size_t kMaxTokenBytes = 8 << 10;

struct Claims {
  std::string subject;  // "sub" (required, a non-empty string)
  // "scope" (space-separated string, RFC 8693) and "scp" (array of
  // strings), in that order, each scope once.
  std::vector<std::string> scopes;
  std::chrono::system_clock::time_point expires;  // "exp"
};

struct VerifyResult {
  bool ok = false;
  Claims claims;       // when ok
  std::string reason;  // when !ok: short, for logs only ("expired", "bad
                       // signature", "unknown kid", ...); never token data
};

struct VerifierOptions {
  std::string issuer;    // required "iss" value; must match exactly. Empty:
                         // every token is refused
  std::string audience;  // must equal "aud" (string) or be one of "aud"
                         // (array). Empty: every token is refused
  std::chrono::seconds clock_skew{60};
  std::string hs256_secret;       // raw bytes; empty: every HS* token is
                                  // refused
  size_t cache_capacity = 10000;  // verified-token cache entries; 0: none
  // Default: system_clock::now.
  std::function<std::chrono::system_clock::time_point()> now;
};

// Verifies compact JWS bearer tokens (RFC 7515/7519) as the header comment
// says. Tokens that verified are remembered, by their SHA-256, until they
// expire (a remembered token is accepted without checking its signature
// again, even if its key has left the set since). Thread-safe.
class Verifier {
 public:
  // `keys` may be null when only HS256 tokens are expected.
  Verifier(VerifierOptions options, std::shared_ptr<KeyProvider> keys);
  ~Verifier();

  Verifier(const Verifier&) = delete;
  Verifier& operator=(const Verifier&) = delete;

  VerifyResult Verify(std::string_view token);

  // Verifications answered from the cache.
  uint64_t cache_hits() const { return cache_hits_.load(); }

 private:
  class Cache;

  VerifyResult VerifyUncached(std::string_view token,
                              std::chrono::system_clock::time_point now);

  const VerifierOptions options_;
  const std::shared_ptr<KeyProvider> keys_;
  const std::unique_ptr<const Key> hs256_key_;  // null without the secret
  const std::unique_ptr<Cache> cache_;
  const uint64_t id_;  // tells this verifier's thread-local entries apart
  std::atomic<uint64_t> cache_hits_{0};
};

}  // namespace mitos::auth

#endif  // MITOS_AUTH_JWT_H_
