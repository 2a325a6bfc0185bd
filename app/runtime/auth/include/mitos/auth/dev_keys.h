// Development signing keys: an ES256 key that an instance keeps in a file,
// publishes as a JWKS and signs its own tokens with, so that a local setup
// needs no identity provider.
#ifndef MITOS_AUTH_DEV_KEYS_H_
#define MITOS_AUTH_DEV_KEYS_H_

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

namespace mitos::auth {

// An ES256 (P-256) private signing key with its kid (the RFC 7638 JWK
// thumbprint, base64url). Immutable and thread-safe.
class SigningKey {
 public:
  ~SigningKey();
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;

  // Loads the PEM private key at `path`, or creates one there (mode 0600,
  // parent dir must exist) when the file does not exist; *created (if
  // given) tells which. Returns null and sets *error (if given; it names
  // the path and never holds key material) on failure: unreadable, not an
  // EC P-256 private key (an encrypted PEM is not one), cannot write.
  static std::unique_ptr<SigningKey> LoadOrCreate(const std::string& path,
                                                  bool* created,
                                                  std::string* error);
  // Same for a PEM already in memory (tests).
  static std::unique_ptr<SigningKey> FromPem(std::string_view pem,
                                             std::string* error);
  // A new key in memory, for tests.
  static std::unique_ptr<SigningKey> Generate();

  const std::string& kid() const { return kid_; }

  // The key as an unencrypted PKCS #8 PEM.
  std::string PrivatePem() const;

  // The public JWK {kty, crv, x, y, kid, alg: "ES256", use: "sig"}.
  nlohmann::json Jwk() const;
  // The public JWKS document {"keys":[Jwk()]}.
  std::string Jwks() const;

  // A compact JWS of `claims` (a JSON object) with header
  // {"alg":"ES256","typ":"JWT","kid":...}.
  std::string Sign(const nlohmann::json& claims) const;

 private:
  struct Impl;
  explicit SigningKey(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
  std::string kid_;
};

}  // namespace mitos::auth

#endif  // MITOS_AUTH_DEV_KEYS_H_
