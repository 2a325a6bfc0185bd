#include "mitos/auth/jwt.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_map>

namespace mitos::auth {
namespace {

using nlohmann::json;
using std::chrono::system_clock;
using TimePoint = system_clock::time_point;

// NumericDates beyond this (the year 2223) are taken as this, so that they
// fit a system_clock::time_point.
constexpr double kMaxNumericDate = 8e9;

VerifyResult Refuse(std::string reason) {
  VerifyResult r;
  r.reason = std::move(reason);
  return r;
}

// The last token each thread verified. A client sends the same token with
// every request on its connection, and a connection is served by one
// thread, so most requests are answered here, without hashing or locking.
struct LastVerified {
  uint64_t verifier = 0;  // Verifier::id_; 0: empty
  std::string token;
  Claims claims;
};
thread_local LastVerified last_verified;
std::atomic<uint64_t> next_verifier_id{1};

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// A decoded part of the token that must be a JSON object.
std::optional<json> DecodeObject(std::string_view part) {
  std::string text;
  if (!Base64UrlDecode(part, &text)) return std::nullopt;
  json value = json::parse(text, nullptr, false);
  if (!value.is_object()) return std::nullopt;
  return value;
}

// Reads the NumericDate claim `name` (RFC 7519 section 2). Returns false
// when it is present but not a number; *present says whether it is there.
bool NumericDate(const json& claims, const char* name, bool* present,
                 TimePoint* out) {
  auto it = claims.find(name);
  *present = it != claims.end();
  if (!*present) return true;
  if (!it->is_number()) return false;
  double seconds = it->get<double>();
  if (std::isnan(seconds)) return false;
  seconds = std::clamp(seconds, 0.0, kMaxNumericDate);
  *out = TimePoint(std::chrono::duration_cast<system_clock::duration>(
      std::chrono::duration<double>(seconds)));
  return true;
}

bool HasAudience(const json& aud, const std::string& audience) {
  if (aud.is_string()) return aud.get_ref<const std::string&>() == audience;
  if (!aud.is_array()) return false;
  return std::any_of(aud.begin(), aud.end(), [&](const json& a) {
    return a.is_string() && a.get_ref<const std::string&>() == audience;
  });
}

void AddScope(std::string scope, std::vector<std::string>* scopes) {
  if (scope.empty()) return;
  if (std::find(scopes->begin(), scopes->end(), scope) == scopes->end()) {
    scopes->push_back(std::move(scope));
  }
}

// Reads "scope" and "scp" into *scopes; false if either has the wrong type.
bool Scopes(const json& claims, std::vector<std::string>* scopes) {
  if (auto it = claims.find("scope"); it != claims.end()) {
    if (!it->is_string()) return false;
    std::string_view s = it->get_ref<const std::string&>();
    while (!s.empty()) {
      size_t end = std::min(s.find(' '), s.size());
      AddScope(std::string(s.substr(0, end)), scopes);
      s.remove_prefix(std::min(end + 1, s.size()));
    }
  }
  if (auto it = claims.find("scp"); it != claims.end()) {
    if (!it->is_array()) return false;
    for (const json& s : *it) {
      if (!s.is_string()) return false;
      AddScope(s.get<std::string>(), scopes);
    }
  }
  return true;
}

bool TypOk(const json& typ) {
  if (!typ.is_string()) return false;
  std::string t = Lower(typ.get_ref<const std::string&>());
  if (t.rfind("application/", 0) == 0) t.erase(0, 12);
  return t == "jwt" || t == "at+jwt";
}

}  // namespace

// Sharded so that concurrent verifications rarely wait for one another.
class Verifier::Cache {
 public:
  explicit Cache(size_t capacity)
      : shard_count_(std::min(capacity, kMaxShards)),
        per_shard_(capacity / shard_count_),
        shards_(std::make_unique<Shard[]>(shard_count_)) {}

  std::optional<Claims> Get(const std::string& digest) {
    Shard& s = ShardFor(digest);
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.entries.find(digest);
    if (it == s.entries.end()) return std::nullopt;
    return it->second;
  }

  void Put(const std::string& digest, const Claims& claims, TimePoint now,
           std::chrono::seconds skew) {
    Shard& s = ShardFor(digest);
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.entries.size() >= per_shard_) {
      std::erase_if(s.entries, [&](const auto& e) {
        return now > e.second.expires + skew;
      });
    }
    if (s.entries.size() >= per_shard_) {
      // Which half goes is the map's order: arbitrary, and cheap.
      bool drop = true;
      for (auto it = s.entries.begin(); it != s.entries.end(); drop = !drop) {
        it = drop ? s.entries.erase(it) : std::next(it);
      }
    }
    s.entries.insert_or_assign(digest, claims);
  }

  void Erase(const std::string& digest) {
    Shard& s = ShardFor(digest);
    std::lock_guard<std::mutex> lock(s.mu);
    s.entries.erase(digest);
  }

 private:
  static constexpr size_t kMaxShards = 16;

  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, Claims> entries;
  };

  Shard& ShardFor(const std::string& digest) {
    // The digest is uniformly distributed; its first byte is as good as
    // any hash.
    return shards_[static_cast<unsigned char>(digest[0]) % shard_count_];
  }

  const size_t shard_count_;
  const size_t per_shard_;
  std::unique_ptr<Shard[]> shards_;
};

Verifier::Verifier(VerifierOptions options, std::shared_ptr<KeyProvider> keys)
    : options_(std::move(options)),
      keys_(std::move(keys)),
      hs256_key_(options_.hs256_secret.empty()
                     ? nullptr
                     : Key::Secret(options_.hs256_secret)),
      cache_(options_.cache_capacity == 0
                 ? nullptr
                 : std::make_unique<Cache>(options_.cache_capacity)),
      id_(next_verifier_id.fetch_add(1)) {}

Verifier::~Verifier() = default;

VerifyResult Verifier::Verify(std::string_view token) {
  if (token.size() > kMaxTokenBytes) return Refuse("token too large");
  if (token.empty()) return Refuse("empty token");
  TimePoint now = options_.now ? options_.now() : system_clock::now();

  LastVerified& last = last_verified;
  // Constant time: the entry is a valid token, possibly another caller's.
  if (cache_ != nullptr && last.verifier == id_ && last.token.size() == token.size() &&
      CRYPTO_memcmp(last.token.data(), token.data(), token.size()) == 0) {
    if (now > last.claims.expires + options_.clock_skew) {
      last.verifier = 0;
      return Refuse("expired");
    }
    cache_hits_.fetch_add(1, std::memory_order_relaxed);
    VerifyResult r;
    r.ok = true;
    r.claims = last.claims;
    return r;
  }

  std::string digest;
  if (cache_ != nullptr) {
    digest = Sha256(token);
    if (digest.empty()) return Refuse("internal error");
    if (std::optional<Claims> claims = cache_->Get(digest)) {
      if (now > claims->expires + options_.clock_skew) {
        cache_->Erase(digest);
        return Refuse("expired");
      }
      cache_hits_.fetch_add(1, std::memory_order_relaxed);
      last.verifier = id_;
      last.token.assign(token);
      last.claims = *claims;
      VerifyResult r;
      r.ok = true;
      r.claims = std::move(*claims);
      return r;
    }
  }
  VerifyResult r = VerifyUncached(token, now);
  if (r.ok && cache_ != nullptr) {
    cache_->Put(digest, r.claims, now, options_.clock_skew);
    last.verifier = id_;
    last.token.assign(token);
    last.claims = r.claims;
  }
  return r;
}

VerifyResult Verifier::VerifyUncached(std::string_view token, TimePoint now) {
  if (options_.issuer.empty() || options_.audience.empty()) {
    return Refuse("no issuer or audience configured");
  }
  size_t dot1 = token.find('.');
  size_t dot2 =
      dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos ||
      token.find('.', dot2 + 1) != std::string_view::npos) {
    return Refuse("not three parts");
  }
  std::string_view header_part = token.substr(0, dot1);
  std::string_view payload_part = token.substr(dot1 + 1, dot2 - dot1 - 1);
  std::string_view signature_part = token.substr(dot2 + 1);
  if (header_part.empty() || payload_part.empty() || signature_part.empty()) {
    return Refuse("empty part");
  }

  std::optional<json> header = DecodeObject(header_part);
  if (!header) return Refuse("bad header");
  // Nothing here understands an extension, so none may be critical
  // (RFC 7515 section 4.1.11).
  if (header->contains("crit")) return Refuse("crit header");
  if (auto typ = header->find("typ"); typ != header->end() && !TypOk(*typ)) {
    return Refuse("bad typ");
  }
  auto alg_it = header->find("alg");
  if (alg_it == header->end() || !alg_it->is_string()) {
    return Refuse("missing alg");
  }
  const std::string& alg = alg_it->get_ref<const std::string&>();
  std::optional<std::string> kid;
  if (auto it = header->find("kid"); it != header->end()) {
    if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
      return Refuse("bad kid");
    }
    kid = it->get<std::string>();
  }

  // The set must outlive `key`, which points into it.
  std::shared_ptr<const KeySet> set;
  const Key* key = nullptr;
  if (alg == "HS256" || alg == "HS384" || alg == "HS512") {
    if (hs256_key_ == nullptr) return Refuse("hmac tokens disabled");
    if (alg != "HS256") return Refuse("unsupported alg");
    // A kid of a public key means someone took that key for a secret: the
    // classic alg confusion, refused even though the secret would not
    // verify it.
    if (kid && keys_ != nullptr) {
      set = keys_->Current();
      const Key* named = set != nullptr ? set->Find(*kid) : nullptr;
      if (named != nullptr && named->type() != KeyType::kOct) {
        return Refuse("alg does not match key");
      }
    }
    key = hs256_key_.get();
  } else if (alg == "RS256" || alg == "ES256") {
    KeyType type = alg == "RS256" ? KeyType::kRsa : KeyType::kEc;
    if (keys_ == nullptr) return Refuse("no key set");
    set = keys_->Current();
    if (kid) {
      key = set != nullptr ? set->Find(*kid) : nullptr;
      if (key == nullptr) {
        set = keys_->RefreshForUnknownKid();
        key = set != nullptr ? set->Find(*kid) : nullptr;
      }
      if (key == nullptr) return Refuse("unknown kid");
      if (key->type() != type) return Refuse("alg does not match key");
    } else {
      key = set != nullptr ? set->FindOnly(type) : nullptr;
      if (key == nullptr) return Refuse("no kid, and not exactly one key");
    }
  } else if (Lower(alg) == "none") {
    return Refuse("alg none");
  } else {
    return Refuse("unsupported alg");
  }

  std::string signature;
  if (!Base64UrlDecode(signature_part, &signature)) {
    return Refuse("bad signature encoding");
  }
  if (!key->Verify(token.substr(0, dot2), signature)) {
    return Refuse("bad signature");
  }

  // Only signed claims are looked at.
  std::optional<json> claims = DecodeObject(payload_part);
  if (!claims) return Refuse("bad claims");
  const std::chrono::seconds skew = options_.clock_skew;
  VerifyResult r;
  bool present = false;
  TimePoint t;
  if (!NumericDate(*claims, "exp", &present, &r.claims.expires)) {
    return Refuse("bad exp");
  }
  if (!present) return Refuse("missing exp");
  if (now > r.claims.expires + skew) return Refuse("expired");
  if (!NumericDate(*claims, "nbf", &present, &t)) return Refuse("bad nbf");
  if (present && now + skew < t) return Refuse("not yet valid");
  if (!NumericDate(*claims, "iat", &present, &t)) return Refuse("bad iat");
  if (present && t > now + skew) return Refuse("issued in the future");
  auto iss = claims->find("iss");
  if (iss == claims->end() || !iss->is_string() ||
      iss->get_ref<const std::string&>() != options_.issuer) {
    return Refuse("wrong issuer");
  }
  auto aud = claims->find("aud");
  if (aud == claims->end() || !HasAudience(*aud, options_.audience)) {
    return Refuse("wrong audience");
  }
  auto sub = claims->find("sub");
  if (sub == claims->end() || !sub->is_string() ||
      sub->get_ref<const std::string&>().empty()) {
    return Refuse("missing sub");
  }
  r.claims.subject = sub->get<std::string>();
  if (!Scopes(*claims, &r.claims.scopes)) return Refuse("bad scope");
  r.ok = true;
  return r;
}

}  // namespace mitos::auth
