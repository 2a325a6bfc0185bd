#include "mitos/auth/jwks.h"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>

// The build defines CPPHTTPLIB_OPENSSL_SUPPORT (cpp-httplib's pkg-config
// flags, as the library was built), which is what makes https:// URLs work.
#include <httplib.h>

#include <nlohmann/json.hpp>

#include "mitos/observability/log.h"

namespace mitos::auth {
namespace {

using nlohmann::json;

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using PkeyCtxPtr =
    std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using MdCtxPtr =
    std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using ParamBldPtr =
    std::unique_ptr<OSSL_PARAM_BLD,
                    Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using ParamPtr =
    std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM, OSSL_PARAM_free>>;
using EcdsaSigPtr =
    std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, ECDSA_SIG_free>>;

// A JWKS is a few keys; anything much larger is not one.
constexpr size_t kMaxDocumentBytes = 1 << 20;
constexpr int kMinRsaBits = 2048;  // RFC 7518 section 3.3
constexpr int kMaxRsaBits = 8192;
// Large public exponents make verification slow and are never used.
constexpr int kMaxRsaExponentBits = 64;
constexpr size_t kP256FieldBytes = 32;

const char kAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int Base64UrlValue(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

BnPtr ToBignum(std::string_view bytes) {
  return BnPtr(
      BN_bin2bn(Bytes(bytes), static_cast<int>(bytes.size()), nullptr));
}

// Builds a public key of `type` ("RSA", "EC") from `params`, or null when
// OpenSSL does not take them or the result fails its public-key check (an
// EC point off the curve, an even modulus).
PkeyPtr PublicKeyFromParams(const char* type, OSSL_PARAM_BLD* bld) {
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (params == nullptr || ctx == nullptr ||
      EVP_PKEY_fromdata_init(ctx.get()) != 1) {
    return nullptr;
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) !=
      1) {
    return nullptr;
  }
  PkeyPtr pkey(raw);
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (check == nullptr || EVP_PKEY_public_check(check.get()) != 1) {
    return nullptr;
  }
  return pkey;
}

PkeyPtr RsaPublicKey(std::string_view n, std::string_view e) {
  BnPtr bn_n = ToBignum(n);
  BnPtr bn_e = ToBignum(e);
  if (bn_n == nullptr || bn_e == nullptr) return nullptr;
  int bits = BN_num_bits(bn_n.get());
  if (bits < kMinRsaBits || bits > kMaxRsaBits) return nullptr;
  if (BN_num_bits(bn_e.get()) > kMaxRsaExponentBits ||
      BN_cmp(bn_e.get(), BN_value_one()) <= 0 || !BN_is_odd(bn_e.get())) {
    return nullptr;
  }
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) !=
          1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) !=
          1) {
    return nullptr;
  }
  return PublicKeyFromParams("RSA", bld.get());
}

PkeyPtr P256PublicKey(std::string_view x, std::string_view y) {
  if (x.size() != kP256FieldBytes || y.size() != kP256FieldBytes) {
    return nullptr;
  }
  std::string point = "\x04";  // uncompressed (SEC 1 section 2.3.3)
  point.append(x);
  point.append(y);
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME,
                                      "prime256v1", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY,
                                       point.data(), point.size()) != 1) {
    return nullptr;
  }
  return PublicKeyFromParams("EC", bld.get());
}

// A JWS ES256 signature (r||s) as the DER ECDSA-Sig-Value OpenSSL takes;
// empty if it cannot be one.
std::string EcdsaDer(std::string_view raw) {
  EcdsaSigPtr sig(ECDSA_SIG_new());
  BnPtr r = ToBignum(raw.substr(0, kP256FieldBytes));
  BnPtr s = ToBignum(raw.substr(kP256FieldBytes));
  if (sig == nullptr || r == nullptr || s == nullptr ||
      ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
    return {};
  }
  r.release();  // owned by sig now
  s.release();
  int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return {};
  std::string der(static_cast<size_t>(len), '\0');
  unsigned char* p = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &p) != len) return {};
  return der;
}

class PublicKey final : public Key {
 public:
  PublicKey(std::string kid, KeyType type, PkeyPtr pkey)
      : Key(std::move(kid), type), pkey_(std::move(pkey)) {}

  bool Verify(std::string_view signing_input,
              std::string_view signature) const override {
    std::string der;
    if (type() == KeyType::kEc) {
      if (signature.size() != 2 * kP256FieldBytes) return false;
      der = EcdsaDer(signature);
      if (der.empty()) return false;
      signature = der;
    } else if (signature.size() !=
               static_cast<size_t>(EVP_PKEY_get_size(pkey_.get()))) {
      return false;  // RFC 7518 section 3.3: exactly the modulus length
    }
    MdCtxPtr ctx(EVP_MD_CTX_new());
    if (ctx == nullptr ||
        EVP_DigestVerifyInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr,
                                pkey_.get(), nullptr) != 1) {
      return false;
    }
    return EVP_DigestVerify(ctx.get(), Bytes(signature), signature.size(),
                            Bytes(signing_input), signing_input.size()) == 1;
  }

 private:
  const PkeyPtr pkey_;
};

class SecretKey final : public Key {
 public:
  SecretKey(std::string kid, std::string secret)
      : Key(std::move(kid), KeyType::kOct), secret_(std::move(secret)) {}
  ~SecretKey() override { OPENSSL_cleanse(secret_.data(), secret_.size()); }

  bool Verify(std::string_view signing_input,
              std::string_view signature) const override {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
             Bytes(signing_input), signing_input.size(), mac,
             &mac_len) == nullptr) {
      return false;
    }
    return signature.size() == mac_len &&
           CRYPTO_memcmp(mac, signature.data(), mac_len) == 0;
  }

 private:
  std::string secret_;
};

// Member `name` of `o`: absent (nullopt), or a string (*ok) or not (!*ok).
std::optional<std::string> StringMember(const json& o, const char* name,
                                        bool* ok) {
  auto it = o.find(name);
  if (it == o.end()) return std::nullopt;
  if (!it->is_string()) {
    *ok = false;
    return std::nullopt;
  }
  return it->get<std::string>();
}

// The decoded base64url member `name`, or nullopt if absent, not a string
// or not base64url.
std::optional<std::string> BytesMember(const json& o, const char* name) {
  auto it = o.find(name);
  std::string out;
  if (it == o.end() || !it->is_string() ||
      !Base64UrlDecode(it->get_ref<const std::string&>(), &out)) {
    return std::nullopt;
  }
  return out;
}

// The key a JWK stands for, or null when it is skipped.
std::unique_ptr<const Key> ParseKey(const json& jwk) {
  if (!jwk.is_object()) return nullptr;
  bool ok = true;
  std::optional<std::string> kty = StringMember(jwk, "kty", &ok);
  std::optional<std::string> use = StringMember(jwk, "use", &ok);
  std::optional<std::string> alg = StringMember(jwk, "alg", &ok);
  std::string kid = StringMember(jwk, "kid", &ok).value_or("");
  if (!ok || !kty || (use && *use != "sig")) return nullptr;
  if (*kty == "RSA") {
    if (alg && *alg != "RS256") return nullptr;
    std::optional<std::string> n = BytesMember(jwk, "n");
    std::optional<std::string> e = BytesMember(jwk, "e");
    if (!n || !e) return nullptr;
    PkeyPtr pkey = RsaPublicKey(*n, *e);
    if (pkey == nullptr) return nullptr;
    return std::make_unique<PublicKey>(std::move(kid), KeyType::kRsa,
                                       std::move(pkey));
  }
  if (*kty == "EC") {
    std::optional<std::string> crv = StringMember(jwk, "crv", &ok);
    if (!ok || crv != "P-256" || (alg && *alg != "ES256")) return nullptr;
    std::optional<std::string> x = BytesMember(jwk, "x");
    std::optional<std::string> y = BytesMember(jwk, "y");
    if (!x || !y) return nullptr;
    PkeyPtr pkey = P256PublicKey(*x, *y);
    if (pkey == nullptr) return nullptr;
    return std::make_unique<PublicKey>(std::move(kid), KeyType::kEc,
                                       std::move(pkey));
  }
  if (*kty == "oct") {
    if (alg && *alg != "HS256") return nullptr;
    std::optional<std::string> k = BytesMember(jwk, "k");
    if (!k || k->empty()) return nullptr;
    return Key::Secret(std::move(*k), std::move(kid));
  }
  return nullptr;
}

std::string ErrnoMessage(int err) {
  return std::error_code(err, std::generic_category()).message();
}

bool ReadFile(const std::string& path, std::string* out, std::string* error) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = ErrnoMessage(errno);
    return false;
  }
  out->clear();
  char buf[16 << 10];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = ErrnoMessage(errno);
      close(fd);
      return false;
    }
    if (n == 0) break;
    if (out->size() + static_cast<size_t>(n) > kMaxDocumentBytes) {
      *error = "larger than 1 MiB";
      close(fd);
      return false;
    }
    out->append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return true;
}

bool FetchUrl(const std::string& url, std::string* out, std::string* error) {
  std::string_view rest = url;
  std::string scheme;
  for (const char* s : {"http", "https"}) {
    std::string prefix = std::string(s) + "://";
    if (rest.substr(0, prefix.size()) == prefix) {
      scheme = s;
      rest.remove_prefix(prefix.size());
      break;
    }
  }
  if (scheme.empty()) {
    *error = "not an http:// or https:// URL";
    return false;
  }
  rest = rest.substr(0, rest.find('#'));
  size_t slash = rest.find_first_of("/?");
  std::string authority(rest.substr(0, slash));
  std::string path = slash == std::string_view::npos
                         ? std::string("/")
                         : std::string(rest.substr(slash));
  if (path[0] == '?') path.insert(0, "/");
  if (authority.empty() || authority.find('@') != std::string::npos) {
    *error = "no host, or user information in the URL";
    return false;
  }
  try {
    httplib::Client client(scheme + "://" + authority);
    if (!client.is_valid()) {
      *error = "cannot make a client for it";
      return false;
    }
    client.set_connection_timeout(2, 0);
    client.set_read_timeout(2, 0);
    client.set_write_timeout(2, 0);
    int status = 0;
    bool too_large = false;
    out->clear();
    httplib::Result res = client.Get(
        path, {{"Accept", "application/jwk-set+json, application/json"}},
        [&](const httplib::Response& r) {
          status = r.status;
          return status == 200;
        },
        [&](const char* data, size_t len) {
          if (out->size() + len > kMaxDocumentBytes) {
            too_large = true;
            return false;
          }
          out->append(data, len);
          return true;
        });
    if (status != 0 && status != 200) {
      *error = "HTTP status " + std::to_string(status);
      return false;
    }
    if (too_large) {
      *error = "larger than 1 MiB";
      return false;
    }
    if (!res) {
      *error = "request failed: " + httplib::to_string(res.error());
      return false;
    }
    return true;
  } catch (const std::exception& e) {
    // httplib throws for a scheme it was built without.
    *error = e.what();
    return false;
  }
}

}  // namespace

std::string Sha256(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr) !=
      1) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(md), len);
}

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 0x3f]);
  return out;
}

bool Base64UrlDecode(std::string_view text, std::string* out) {
  if (text.size() % 4 == 1) return false;
  out->clear();
  out->reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : text) {
    int v = Base64UrlValue(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return true;
}

std::unique_ptr<const Key> Key::Secret(std::string secret, std::string kid) {
  return std::make_unique<SecretKey>(std::move(kid), std::move(secret));
}

KeySet::KeySet(std::vector<std::unique_ptr<const Key>> keys)
    : keys_(std::move(keys)) {}

std::shared_ptr<const KeySet> KeySet::Parse(std::string_view text,
                                            std::string* error) {
  auto fail = [&](const char* what) {
    if (error != nullptr) *error = what;
    return nullptr;
  };
  json doc = json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_discarded()) return fail("not valid JSON");
  if (!doc.is_object()) return fail("not a JSON object");
  auto keys = doc.find("keys");
  if (keys == doc.end() || !keys->is_array()) return fail("no \"keys\" array");
  std::vector<std::unique_ptr<const Key>> parsed;
  for (const json& jwk : *keys) {
    std::unique_ptr<const Key> key = ParseKey(jwk);
    if (key == nullptr) continue;
    bool duplicate =
        !key->kid().empty() &&
        std::any_of(parsed.begin(), parsed.end(),
                    [&](const auto& k) { return k->kid() == key->kid(); });
    if (!duplicate) parsed.push_back(std::move(key));
  }
  return std::make_shared<const KeySet>(std::move(parsed));
}

const Key* KeySet::Find(std::string_view kid) const {
  for (const auto& k : keys_) {
    if (k->kid() == kid) return k.get();
  }
  return nullptr;
}

const Key* KeySet::FindOnly(KeyType type) const {
  const Key* found = nullptr;
  for (const auto& k : keys_) {
    if (k->type() != type) continue;
    if (found != nullptr) return nullptr;
    found = k.get();
  }
  return found;
}

struct KeyProvider::State {
  JwksSource source;
  bool fixed = false;

  mutable std::mutex mu;  // guards current
  std::shared_ptr<const KeySet> current;

  // Held for the whole of a fetch, so that there is one at a time.
  std::mutex fetch_mu;
  std::optional<std::chrono::steady_clock::time_point> last_fetch;

  std::atomic<uint64_t> fetches{0};
  std::atomic<uint64_t> failures{0};

  std::mutex thread_mu;  // guards stop and thread
  std::condition_variable wake;
  bool stop = false;
  std::thread thread;

  std::chrono::steady_clock::time_point Now() const {
    return source.clock ? source.clock() : std::chrono::steady_clock::now();
  }

  std::string Where() const {
    return source.url.empty() ? "JWKS file " + source.file
                              : "JWKS " + source.url;
  }

  // Fetches and, if that yields a key, installs the set. REQUIRES: fetch_mu.
  bool Fetch(std::string* error) {
    fetches.fetch_add(1);
    last_fetch = Now();
    std::string doc;
    std::string what;
    bool ok = false;
    if (source.url.empty() == source.file.empty()) {
      what = "configure exactly one of a URL and a file";
    } else if (source.url.empty() ? ReadFile(source.file, &doc, &what)
                                  : FetchUrl(source.url, &doc, &what)) {
      std::shared_ptr<const KeySet> set = KeySet::Parse(doc, &what);
      if (set != nullptr && set->size() == 0) {
        what =
            "no usable key (supported: RSA RS256, EC P-256 ES256, oct "
            "HS256)";
      } else if (set != nullptr) {
        std::lock_guard<std::mutex> lock(mu);
        current = std::move(set);
        ok = true;
      }
    }
    if (!ok) {
      failures.fetch_add(1);
      if (error != nullptr) *error = Where() + ": " + what;
    }
    return ok;
  }

  void RefreshLoop() {
    std::unique_lock<std::mutex> lock(thread_mu);
    while (!wake.wait_for(lock, source.refresh, [this] { return stop; })) {
      lock.unlock();
      std::string error;
      bool ok;
      {
        std::lock_guard<std::mutex> fetch_lock(fetch_mu);
        ok = Fetch(&error);
      }
      if (!ok) {
        log::Warn("auth", "JWKS refresh failed; keeping the previous key set",
                  {{"error", error}});
      }
      lock.lock();
    }
  }
};

KeyProvider::KeyProvider(JwksSource source)
    : state_(std::make_unique<State>()) {
  state_->source = std::move(source);
}

std::shared_ptr<KeyProvider> KeyProvider::Fixed(
    std::shared_ptr<const KeySet> keys) {
  auto provider = std::make_shared<KeyProvider>(JwksSource{});
  provider->state_->fixed = true;
  provider->state_->current = std::move(keys);
  return provider;
}

KeyProvider::~KeyProvider() { Stop(); }

bool KeyProvider::Load(std::string* error) {
  if (state_->fixed) {
    std::shared_ptr<const KeySet> set = Current();
    if (set != nullptr && set->size() > 0) return true;
    if (error != nullptr) *error = "the fixed key set has no key";
    return false;
  }
  std::lock_guard<std::mutex> lock(state_->fetch_mu);
  return state_->Fetch(error);
}

std::shared_ptr<const KeySet> KeyProvider::Current() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->current;
}

std::shared_ptr<const KeySet> KeyProvider::RefreshForUnknownKid() {
  if (!state_->fixed) {
    std::lock_guard<std::mutex> lock(state_->fetch_mu);
    // Callers that waited for another's fetch find it recent and take its
    // result; a flood of made-up kids costs one fetch per min_refetch.
    if (!state_->last_fetch ||
        state_->Now() - *state_->last_fetch >= state_->source.min_refetch) {
      std::string error;
      if (!state_->Fetch(&error)) {
        log::Warn("auth", "JWKS refetch for an unknown kid failed",
                  {{"error", error}});
      }
    }
  }
  return Current();
}

void KeyProvider::Start() {
  std::lock_guard<std::mutex> lock(state_->thread_mu);
  if (state_->fixed || state_->thread.joinable() ||
      state_->source.refresh <= std::chrono::seconds(0)) {
    return;
  }
  state_->stop = false;
  state_->thread = std::thread([s = state_.get()] { s->RefreshLoop(); });
}

void KeyProvider::Stop() {
  std::thread thread;
  {
    std::lock_guard<std::mutex> lock(state_->thread_mu);
    state_->stop = true;
    thread = std::move(state_->thread);
  }
  state_->wake.notify_all();
  if (thread.joinable()) thread.join();
}

uint64_t KeyProvider::fetches() const { return state_->fetches.load(); }

uint64_t KeyProvider::fetch_failures() const { return state_->failures.load(); }

}  // namespace mitos::auth
