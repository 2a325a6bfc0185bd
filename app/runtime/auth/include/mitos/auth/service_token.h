// Service tokens: what one Mitos instance sends with every call to another,
// to say which services call and for whom.
//
// A token is base64url(payload) "." base64url(HMAC-SHA256(key, first part)),
// unpadded, where the payload is a JSON object:
//
//   kid       the id of the key that signed it
//   services  the calling instance's modules
//   caller    "internal" (the instance itself), "anonymous" or "user"
//   sub, scp  the end user's subject and scopes (caller "user" only)
//   method    the HTTP method of the call
//   target    its request target (path and query)
//   iat       when it was made, in Unix seconds
//   jti       a random 128-bit nonce, base64url
//
// A token is good for one call: bound to its method and target, refused
// outside a short window around iat, and refused the second time it is
// seen. It carries no expiry of its own: the verifier's window is the
// lifetime. The keys are shared by every instance of a deployment (a
// Kubernetes Secret), so any instance holding them can speak for any
// service: they prove the call comes from inside the deployment, not which
// instance made it.
#ifndef MITOS_AUTH_SERVICE_TOKEN_H_
#define MITOS_AUTH_SERVICE_TOKEN_H_

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

namespace mitos::auth {

// Who a service call acts for.
struct ServiceIdentity {
  std::vector<std::string> services;  // the calling instance's modules, e.g. {"orders"}
  enum class Caller { kInternal, kAnonymous, kUser };
  Caller caller = Caller::kInternal;  // kInternal: the instance itself (no end user)
  std::string subject;                // kUser only
  std::vector<std::string> scopes;    // kUser only
};

// The shared key set. File format: one key per line "<kid> <secret>" (a
// kid of 1 to 64 characters among A-Z a-z 0-9 . _ -, then spaces or tabs,
// then the secret as unpadded base64url of at least 32 bytes); blank lines
// and lines starting with '#' are ignored, and so are a trailing "\r" and
// trailing blanks. Kids are unique. The FIRST key signs, every key
// verifies. Rotation: add the new key second, roll out; move it first,
// roll out; drop the old one, roll out. Thread-safe; Reload swaps the whole
// set atomically. Error messages name the file and line and what is wrong,
// never secret bytes.
class ServiceKeys {
 public:
  // Returns nullptr and sets *error (path, line number and what is wrong)
  // if the file cannot be read, is larger than 64 KiB, or holds a bad line
  // or no key.
  static std::shared_ptr<ServiceKeys> FromFile(const std::string& path, std::string* error);
  // From the text of such a file (tests, config); errors name "line N".
  // Such keys cannot Reload.
  static std::shared_ptr<ServiceKeys> FromText(std::string_view text, std::string* error);

  // Writes a new key file with one random 32-byte key "k1 <secret>" at
  // `path`, mode 0600 (for `mitos` dev set-ups and tests). It replaces
  // `path` atomically (a temporary file in the same folder, renamed), so
  // that a watcher never reads half a file. Returns false and sets *error
  // on failure.
  static bool WriteNew(const std::string& path, std::string* error);

  ~ServiceKeys();
  ServiceKeys(const ServiceKeys&) = delete;
  ServiceKeys& operator=(const ServiceKeys&) = delete;

  // Re-reads the file given to FromFile and swaps the set in. On error
  // (and for keys made by FromText) keeps the current keys, sets *error and
  // returns false.
  bool Reload(std::string* error);

  // Reloads every `every` (at least 1 s) on a background thread, logging a
  // failed reload as a warning (once while the error stays the same; the
  // current keys are kept) and a changed key set at info, with its kids.
  // Calling it again restarts the thread with the new period. Stop joins
  // the thread; the destructor stops.
  void StartWatching(std::chrono::seconds every);
  void Stop();

  // The kid of the key that signs now.
  std::string signing_kid() const;
  // The kids, the signing one first.
  std::vector<std::string> kids() const;

 private:
  friend std::string MintServiceToken(const ServiceKeys&, const ServiceIdentity&,
                                      std::string_view, std::string_view,
                                      std::chrono::system_clock::time_point);
  friend class ServiceTokenVerifier;

  struct Key {
    std::string kid;
    std::string secret;  // raw bytes
  };
  // An immutable set of keys, the signing key first.
  struct Set {
    std::vector<Key> keys;  // never empty; keys[0] signs
    ~Set();                 // wipes the secrets
  };

  ServiceKeys() = default;
  // Parses the text of a key file; `where` (the path, or "") prefixes errors.
  static std::shared_ptr<const Set> Parse(std::string_view text, const std::string& where,
                                          std::string* error);
  static std::shared_ptr<const Set> Load(const std::string& path, std::string* error);
  // The current set, for signing and verifying. Never null.
  std::shared_ptr<const Set> Current() const;
  void Watch(std::chrono::seconds every);

  std::string path_;  // empty for FromText
  mutable std::mutex mu_;
  std::shared_ptr<const Set> set_;  // guarded by mu_

  std::mutex watch_mu_;  // serializes StartWatching and Stop
  std::thread watcher_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;  // guarded by stop_mu_
};

// Returns the token for one call of `method` on `target` at `now`, signed
// with the signing key of `keys`. Returns "" if the system's random
// generator fails (no nonce, no token: the call is then refused).
std::string MintServiceToken(const ServiceKeys& keys, const ServiceIdentity& who,
                             std::string_view method, std::string_view target,
                             std::chrono::system_clock::time_point now);

struct ServiceVerifyResult {
  bool ok = false;
  ServiceIdentity identity;  // when ok
  std::string reason;        // when !ok, for logs only
};

// Verifies service tokens. Refuses: a token over 4 KiB; bad structure
// (parts, base64url, JSON, field types, a jti that is not 128 bits); a MAC
// that no key gives (compared in constant time; the reason says whether
// the token's kid is unknown); a kid that is not the kid of the key whose
// MAC matched; a method or target not the ones given (exact comparison);
// |now - iat| > max_skew; and a jti already seen in a verified token that
// is still within the window (a replay). Thread-safe.
//
// The nonces remembered are bounded by `max_nonces` (about 100 bytes
// each): each is forgotten once its token is out of the window (iat +
// max_skew has passed); when full, the oldest is forgotten first, so that
// under more than max_nonces calls per window a replay is caught only
// within a shorter time. A nonce is remembered only after every other
// check passed, so forged tokens cannot fill the set. Each verifier
// remembers its own: a token replayed to another instance within the
// window is not caught there (it still works only for the same method and
// target).
class ServiceTokenVerifier {
 public:
  explicit ServiceTokenVerifier(std::shared_ptr<ServiceKeys> keys,
                                std::chrono::seconds max_skew = std::chrono::seconds(120),
                                size_t max_nonces = 100000);
  ServiceVerifyResult Verify(std::string_view token, std::string_view method,
                             std::string_view target, std::chrono::system_clock::time_point now);

  // Nonces remembered now (for tests and metrics).
  size_t remembered() const;

 private:
  struct Nonce {
    uint64_t hi = 0;
    uint64_t lo = 0;
    bool operator==(const Nonce&) const = default;
  };
  struct NonceHash {
    // The nonces are random: their bits are hash enough.
    size_t operator()(const Nonce& n) const { return static_cast<size_t>(n.hi ^ n.lo); }
  };
  struct Remembered {
    int64_t until;  // Unix seconds: out of the window after this
    Nonce nonce;
  };

  // Returns false if `n` was seen; else remembers it until `until`.
  // Forgets the nonces whose `until` is before `now`.
  bool Remember(const Nonce& n, int64_t until, int64_t now);

  const std::shared_ptr<ServiceKeys> keys_;
  const std::chrono::seconds max_skew_;
  const size_t max_nonces_;
  mutable std::mutex mu_;
  // In arrival order. `until` grows nearly in step with it (iat is within
  // the window of the verifier's clock), so forgetting from the front is
  // close to forgetting by age.
  std::deque<Remembered> order_;
  std::unordered_set<Nonce, NonceHash> seen_;  // the nonces of order_
};

// The header that carries the token.
inline constexpr const char* kServiceTokenHeader = "Mitos-Service-Token";

// The most a token may be, in bytes.
inline constexpr size_t kMaxServiceTokenBytes = 4096;

}  // namespace mitos::auth

#endif  // MITOS_AUTH_SERVICE_TOKEN_H_
