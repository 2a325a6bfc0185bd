// Fuzzes bearer-token verification and JWKS parsing. Each input is
//   - a token, given to a Verifier over a fixed ES256 key set and to one
//     over a fixed RSA key set (which also takes HS256 with a known
//     secret);
//   - the claims of a token whose header and HS256 signature are right, so
//     that the claim checks behind the signature are reached;
//   - the header of a token whose claims and HS256 signature are right;
//   - a JWKS document, given to KeySet::Parse.
// Verification must answer a reason exactly when it refuses, a verified
// token's claims must be the ones it carries, and a second verification of
// a token (from the cache, when the first succeeded) must agree with the
// first.
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "mitos/auth/dev_keys.h"
#include "mitos/auth/jwks.h"
#include "mitos/auth/jwt.h"

namespace mitos::auth {
namespace {

using nlohmann::json;

constexpr std::string_view kSecret = "fuzz secret";
constexpr int64_t kNow = 1700000000;

[[noreturn]] void Fail(const char* what, std::string_view detail = "") {
  std::fprintf(stderr, "auth token fuzz: %s\n%.*s\n", what,
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

std::string RsaJwks() {
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
  if (pkey == nullptr) Fail("cannot generate an RSA key");
  auto member = [&](const char* name) {
    BIGNUM* bn = nullptr;
    if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1) Fail("no RSA parameter");
    std::string bytes(static_cast<size_t>(BN_num_bytes(bn)), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
    BN_free(bn);
    return Base64UrlEncode(bytes);
  };
  json jwk = {{"kty", "RSA"},
              {"kid", "rsa"},
              {"n", member(OSSL_PKEY_PARAM_RSA_N)},
              {"e", member(OSSL_PKEY_PARAM_RSA_E)}};
  EVP_PKEY_free(pkey);
  return json{{"keys", {jwk}}}.dump();
}

struct Fixture {
  Fixture() {
    auto ec_key = SigningKey::Generate();
    if (ec_key == nullptr) Fail("cannot generate an EC key");
    auto ec_set = KeySet::Parse(ec_key->Jwks());
    auto rsa_set = KeySet::Parse(RsaJwks());
    if (ec_set == nullptr || ec_set->size() != 1 || rsa_set == nullptr ||
        rsa_set->size() != 1) {
      Fail("the fixed key sets did not parse");
    }
    VerifierOptions o;
    o.issuer = "iss";
    o.audience = "aud";
    o.cache_capacity = 64;  // small, so that eviction runs too
    o.now = [] {
      return std::chrono::system_clock::time_point(std::chrono::seconds(kNow));
    };
    es = std::make_unique<Verifier>(o, KeyProvider::Fixed(ec_set));
    o.hs256_secret = std::string(kSecret);
    rsa = std::make_unique<Verifier>(o, KeyProvider::Fixed(rsa_set));
  }

  std::unique_ptr<Verifier> es;
  std::unique_ptr<Verifier> rsa;  // and HS256
};

std::string HmacToken(std::string_view header, std::string_view claims) {
  std::string input = Base64UrlEncode(header) + "." + Base64UrlEncode(claims);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
       &len);
  return input + "." +
         Base64UrlEncode(std::string_view(reinterpret_cast<char*>(mac), len));
}

// Verifies `token` twice and checks the rules of the header comment.
// Returns the result.
VerifyResult Check(Verifier& v, std::string_view token) {
  VerifyResult first = v.Verify(token);
  if (first.ok != first.reason.empty()) {
    Fail("a reason given for a verified token, or none for a refused one",
         first.reason);
  }
  if (first.ok && first.claims.subject.empty()) {
    Fail("a verified token without a subject");
  }
  VerifyResult second = v.Verify(token);
  if (second.ok != first.ok || second.reason != first.reason ||
      second.claims.subject != first.claims.subject ||
      second.claims.scopes != first.claims.scopes ||
      second.claims.expires != first.claims.expires) {
    Fail("a second verification disagrees with the first", token);
  }
  return first;
}

// For a verified token with these claims: they are what Verify said.
void CheckClaims(std::string_view text, const Claims& claims) {
  json c = json::parse(text, nullptr, false);
  if (!c.is_object()) Fail("claims that are no JSON object verified", text);
  if (!c.contains("sub") || c["sub"] != claims.subject) {
    Fail("the subject is not the token's", text);
  }
  if (c["iss"] != "iss") Fail("a wrong issuer verified", text);
  if (!c.contains("exp") || !c["exp"].is_number()) {
    Fail("a token without a numeric exp verified", text);
  }
  for (const std::string& scope : claims.scopes) {
    if (scope.empty() || scope.find(' ') != std::string::npos) {
      Fail("an empty scope, or one with a space", text);
    }
  }
}

void FuzzOne(std::string_view input) {
  static Fixture* fixture = new Fixture();

  Check(*fixture->es, input);
  Check(*fixture->rsa, input);

  VerifyResult r = Check(*fixture->rsa, HmacToken(R"({"alg":"HS256"})", input));
  if (r.ok) CheckClaims(input, r.claims);

  static const std::string claims = json{
      {"iss", "iss"},
      {"aud", "aud"},
      {"sub", "s"},
      {"exp", kNow + 60}}.dump();
  r = Check(*fixture->rsa, HmacToken(input, claims));
  if (r.ok) {
    json header = json::parse(input, nullptr, false);
    if (!header.is_object() || header["alg"] != "HS256" ||
        header.contains("crit")) {
      Fail("a token verified with a header that should refuse it", input);
    }
  }

  std::string error;
  std::shared_ptr<const KeySet> set = KeySet::Parse(input, &error);
  if ((set == nullptr) == error.empty()) {
    Fail("KeySet::Parse failed without a message, or gave one on success");
  }
}

}  // namespace
}  // namespace mitos::auth

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mitos::auth::FuzzOne(
      std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
