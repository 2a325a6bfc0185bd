// JSON Web Key Sets (RFC 7517): the keys that bearer tokens are verified
// with, parsed from a document, and the provider that fetches, caches and
// refreshes them from a URL or a file.
#ifndef MITOS_AUTH_JWKS_H_
#define MITOS_AUTH_JWKS_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mitos::auth {

// Returns the base64url form (RFC 4648 section 5) of `bytes`, unpadded, as
// JOSE writes it.
std::string Base64UrlEncode(std::string_view bytes);

// Decodes unpadded base64url into *out. Returns false, *out unspecified, for
// any character outside the alphabet (padding "=" included) or a length that
// no encoding has (4n+1). Unused trailing bits need not be zero.
bool Base64UrlDecode(std::string_view text, std::string* out);

// Returns the SHA-256 digest of `bytes` (32 bytes), or "" if OpenSSL fails.
std::string Sha256(std::string_view bytes);

// The key types a KeySet holds; each verifies one JWS algorithm.
enum class KeyType {
  kRsa,  // kty "RSA", 2048 to 8192 bits: RS256
  kEc,   // kty "EC", crv "P-256": ES256
  kOct,  // kty "oct": HS256
};

// One verification key. Immutable and thread-safe.
class Key {
 public:
  virtual ~Key() = default;
  Key(const Key&) = delete;
  Key& operator=(const Key&) = delete;

  // A key of type kOct holding the raw bytes `secret`.
  static std::unique_ptr<const Key> Secret(std::string secret,
                                           std::string kid = {});

  // The JWK's "kid"; empty when it has none.
  const std::string& kid() const { return kid_; }
  KeyType type() const { return type_; }

  // Returns true iff `signature`, the decoded third part of a compact JWS,
  // is this key's valid signature of `signing_input` (the first two parts
  // and the dot between them) under its type's algorithm (RFC 7518 section
  // 3: ES256 signatures are r||s, 64 bytes).
  virtual bool Verify(std::string_view signing_input,
                      std::string_view signature) const = 0;

 protected:
  Key(std::string kid, KeyType type) : kid_(std::move(kid)), type_(type) {}

 private:
  const std::string kid_;
  const KeyType type_;
};

// An immutable parsed JWKS (RFC 7517). Supported: kty RSA (n, e; alg RS256
// or absent), kty EC crv P-256 (x, y; alg ES256 or absent), kty oct (k)
// only for HS256 (alg HS256 or absent). Keys with use "enc", unsupported
// kty/crv/alg, or bad members are skipped (not an error), and so is a key
// whose kid an earlier key of the set has; a document that is not a JSON
// object with a "keys" array is an error.
class KeySet {
 public:
  // Returns nullptr and sets *error (if given) for a document that is not a
  // JWKS. The message never quotes the document.
  static std::shared_ptr<const KeySet> Parse(std::string_view json,
                                             std::string* error = nullptr);

  // The number of usable keys.
  size_t size() const { return keys_.size(); }

  // The key whose kid is `kid`, or nullptr. REQUIRES: !kid.empty().
  const Key* Find(std::string_view kid) const;

  // For a token without a kid: the key of `type` when the set holds exactly
  // one key of that type, else nullptr.
  const Key* FindOnly(KeyType type) const;

  // Use Parse.
  explicit KeySet(std::vector<std::unique_ptr<const Key>> keys);

 private:
  std::vector<std::unique_ptr<const Key>> keys_;
};

struct JwksSource {
  std::string url;   // http(s)://... ; either url or file
  std::string file;  // path of a JWKS JSON file (re-read on refresh: rotation
                     // by replacing the file)
  std::chrono::seconds refresh{300};     // scheduled refresh period; 0: none
  std::chrono::seconds min_refetch{30};  // at most one unknown-kid refetch
                                         // per this period
  // The clock min_refetch is measured on; default: steady_clock::now.
  std::function<std::chrono::steady_clock::time_point()> clock;
};

// Fetches and caches a key set. Thread-safe.
class KeyProvider {
 public:
  explicit KeyProvider(JwksSource source);
  // A provider of a fixed key set (development keys, tests); refreshes are
  // no-ops, and Current() is `keys` from the start.
  static std::shared_ptr<KeyProvider> Fixed(std::shared_ptr<const KeySet> keys);
  ~KeyProvider();  // stops the refresh thread

  KeyProvider(const KeyProvider&) = delete;
  KeyProvider& operator=(const KeyProvider&) = delete;

  // The first fetch. Returns false and sets *error (if given; a message for
  // an operator: URL/file and what went wrong, never key material) when no
  // usable key set could be loaded, or the set has no key.
  bool Load(std::string* error);

  // The key set last fetched; never null after Load succeeded, null before.
  std::shared_ptr<const KeySet> Current() const;

  // For a token naming an unknown kid: fetches again unless a fetch (of any
  // kind, failed ones included) happened within min_refetch; returns the
  // current set afterwards. A failed fetch, or one that yields no key,
  // keeps the previous set. Concurrent callers wait for one fetch.
  std::shared_ptr<const KeySet> RefreshForUnknownKid();

  // Starts a background thread refreshing every `refresh` (a failed
  // refresh keeps the old set and logs a warning). Stop() joins it. Both
  // may be called more than once; neither does anything for Fixed().
  void Start();
  void Stop();

  // Counters for metrics: fetches done (failed ones included), and fetches
  // failed.
  uint64_t fetches() const;
  uint64_t fetch_failures() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace mitos::auth

#endif  // MITOS_AUTH_JWKS_H_
