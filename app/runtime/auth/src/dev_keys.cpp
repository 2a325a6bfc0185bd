#include "mitos/auth/dev_keys.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <system_error>

#include "mitos/auth/jwks.h"

namespace mitos::auth {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using MdCtxPtr =
    std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_clear_free>>;
using EcdsaSigPtr =
    std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, ECDSA_SIG_free>>;

constexpr int kP256FieldBytes = 32;
constexpr size_t kMaxPemBytes = 64 << 10;

void SetError(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
}

std::string ErrnoMessage(int err) {
  return std::error_code(err, std::generic_category()).message();
}

// Refuses to decrypt: without it OpenSSL would prompt for a passphrase on
// the terminal.
int NoPassphrase(char*, int, int, void*) { return -1; }

// The public coordinate `name` of an EC key, base64url, or empty.
std::string Coordinate(const EVP_PKEY* pkey, const char* name) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &raw) != 1) return {};
  BnPtr bn(raw);
  unsigned char buf[kP256FieldBytes];
  if (BN_bn2binpad(bn.get(), buf, sizeof(buf)) != kP256FieldBytes) return {};
  return Base64UrlEncode(
      std::string_view(reinterpret_cast<const char*>(buf), sizeof(buf)));
}

bool IsP256PrivateKey(const EVP_PKEY* pkey) {
  if (EVP_PKEY_is_a(pkey, "EC") != 1) return false;
  char group[64];
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                     sizeof(group), &len) != 1) {
    return false;
  }
  std::string_view name(group, len);
  if (name != "prime256v1" && name != "P-256") return false;
  BIGNUM* priv = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &priv) != 1) {
    return false;
  }
  BN_clear_free(priv);
  return true;
}

bool ReadFd(int fd, std::string* out, std::string* error) {
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = ErrnoMessage(errno);
      return false;
    }
    if (n == 0) return true;
    if (out->size() + static_cast<size_t>(n) > kMaxPemBytes) {
      *error = "larger than 64 KiB";
      return false;
    }
    out->append(buf, static_cast<size_t>(n));
  }
}

bool WriteFd(int fd, std::string_view data, std::string* error) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = ErrnoMessage(errno);
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  if (fsync(fd) != 0) {
    *error = ErrnoMessage(errno);
    return false;
  }
  return true;
}

}  // namespace

struct SigningKey::Impl {
  PkeyPtr pkey;
  std::string x;  // base64url
  std::string y;
};

SigningKey::SigningKey(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  // RFC 7638 section 3.2: the required members, in lexicographic order,
  // without white space.
  kid_ = Base64UrlEncode(Sha256(R"({"crv":"P-256","kty":"EC","x":")" +
                                impl_->x + R"(","y":")" + impl_->y + R"("})"));
}

SigningKey::~SigningKey() = default;

std::unique_ptr<SigningKey> SigningKey::Generate() {
  auto impl = std::make_unique<Impl>();
  impl->pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (impl->pkey == nullptr) return nullptr;
  impl->x = Coordinate(impl->pkey.get(), OSSL_PKEY_PARAM_EC_PUB_X);
  impl->y = Coordinate(impl->pkey.get(), OSSL_PKEY_PARAM_EC_PUB_Y);
  if (impl->x.empty() || impl->y.empty()) return nullptr;
  return std::unique_ptr<SigningKey>(new SigningKey(std::move(impl)));
}

std::unique_ptr<SigningKey> SigningKey::FromPem(std::string_view pem,
                                                std::string* error) {
  if (pem.size() > kMaxPemBytes) {
    SetError(error, "not a PEM private key (too large)");
    return nullptr;
  }
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  auto impl = std::make_unique<Impl>();
  if (bio != nullptr) {
    impl->pkey.reset(
        PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  }
  // What OpenSSL queued about the failure is of no use to the caller, and
  // must not confuse whoever looks at this thread's queue next.
  ERR_clear_error();
  if (impl->pkey == nullptr) {
    SetError(error, "not an unencrypted PEM private key");
    return nullptr;
  }
  if (!IsP256PrivateKey(impl->pkey.get())) {
    SetError(error, "not an EC P-256 private key");
    return nullptr;
  }
  impl->x = Coordinate(impl->pkey.get(), OSSL_PKEY_PARAM_EC_PUB_X);
  impl->y = Coordinate(impl->pkey.get(), OSSL_PKEY_PARAM_EC_PUB_Y);
  if (impl->x.empty() || impl->y.empty()) {
    SetError(error, "an EC P-256 key without its public point");
    return nullptr;
  }
  return std::unique_ptr<SigningKey>(new SigningKey(std::move(impl)));
}

std::unique_ptr<SigningKey> SigningKey::LoadOrCreate(const std::string& path,
                                                     bool* created,
                                                     std::string* error) {
  // Twice at most: when another process creates the file between our
  // attempts to read it and to create it, its key is the one to load.
  for (int attempt = 0; attempt < 2; ++attempt) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      std::string pem;
      std::string what;
      bool read_ok = ReadFd(fd, &pem, &what);
      close(fd);
      if (!read_ok) {
        SetError(error, "signing key " + path + ": cannot read: " + what);
        return nullptr;
      }
      auto key = FromPem(pem, &what);
      OPENSSL_cleanse(pem.data(), pem.size());
      if (key == nullptr) {
        SetError(error, "signing key " + path + ": " + what);
        return nullptr;
      }
      if (created != nullptr) *created = false;
      return key;
    }
    if (errno != ENOENT) {
      SetError(error,
               "signing key " + path + ": cannot read: " + ErrnoMessage(errno));
      return nullptr;
    }
    auto key = Generate();
    if (key == nullptr) {
      SetError(error, "signing key " + path + ": cannot generate a key");
      return nullptr;
    }
    // Written whole under a name of its own, then linked into place: a
    // process that starts at the same moment either finds no file or a
    // complete one (link fails when the name exists, unlike rename).
    static std::atomic<uint64_t> made{0};
    const std::string tmp = path + ".new." + std::to_string(getpid()) + "." +
                            std::to_string(made.fetch_add(1));
    unlink(tmp.c_str());
    fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      SetError(error, "signing key " + path +
                          ": cannot create: " + ErrnoMessage(errno));
      return nullptr;
    }
    std::string pem = key->PrivatePem();
    std::string what;
    bool ok = true;
    // The mode open() gives is reduced by the umask; 0600 is the point.
    if (fchmod(fd, 0600) != 0) {
      ok = false;
      what = ErrnoMessage(errno);
    } else if (pem.empty()) {
      ok = false;
      what = "cannot encode the key";
    } else {
      ok = WriteFd(fd, pem, &what);
    }
    OPENSSL_cleanse(pem.data(), pem.size());
    if (ok && fsync(fd) != 0) {
      ok = false;
      what = ErrnoMessage(errno);
    }
    if (close(fd) != 0 && ok) {
      ok = false;
      what = ErrnoMessage(errno);
    }
    if (!ok) {
      unlink(tmp.c_str());
      SetError(error, "signing key " + path + ": cannot write: " + what);
      return nullptr;
    }
    const int linked = link(tmp.c_str(), path.c_str());
    const int link_errno = errno;
    unlink(tmp.c_str());
    if (linked != 0 && link_errno == EEXIST) continue;  // another won: load its key
    if (linked != 0) {
      SetError(error, "signing key " + path +
                          ": cannot create: " + ErrnoMessage(link_errno));
      return nullptr;
    }
    if (created != nullptr) *created = true;
    return key;
  }
  SetError(error, "signing key " + path + ": created and removed meanwhile");
  return nullptr;
}

std::string SigningKey::PrivatePem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), impl_->pkey.get(), nullptr, nullptr,
                               0, nullptr, nullptr) != 1) {
    return {};
  }
  std::string pem;
  char buf[1024];
  for (int n; (n = BIO_read(bio.get(), buf, sizeof(buf))) > 0;) {
    pem.append(buf, static_cast<size_t>(n));
  }
  OPENSSL_cleanse(buf, sizeof(buf));
  return pem;
}

nlohmann::json SigningKey::Jwk() const {
  return {{"kty", "EC"}, {"crv", "P-256"}, {"x", impl_->x}, {"y", impl_->y},
          {"kid", kid_}, {"alg", "ES256"}, {"use", "sig"}};
}

std::string SigningKey::Jwks() const {
  return nlohmann::json{{"keys", nlohmann::json::array({Jwk()})}}.dump();
}

std::string SigningKey::Sign(const nlohmann::json& claims) const {
  // kid is base64url, so it needs no escaping.
  std::string input =
      Base64UrlEncode(R"({"alg":"ES256","typ":"JWT","kid":")" + kid_ + "\"}") +
      "." +
      Base64UrlEncode(claims.dump(-1, ' ', false,
                                  nlohmann::json::error_handler_t::replace));
  MdCtxPtr ctx(EVP_MD_CTX_new());
  size_t der_len = 0;
  if (ctx == nullptr ||
      EVP_DigestSignInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr,
                            impl_->pkey.get(), nullptr) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &der_len,
                     reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1) {
    return {};
  }
  std::string der(der_len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()),
                     &der_len,
                     reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1) {
    return {};
  }
  // JWS wants r||s, each left-padded to the field size (RFC 7518 section
  // 3.4), where OpenSSL gives a DER ECDSA-Sig-Value.
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)));
  if (sig == nullptr) return {};
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  unsigned char raw[2 * kP256FieldBytes];
  if (BN_bn2binpad(r, raw, kP256FieldBytes) != kP256FieldBytes ||
      BN_bn2binpad(s, raw + kP256FieldBytes, kP256FieldBytes) !=
          kP256FieldBytes) {
    return {};
  }
  return input + "." +
         Base64UrlEncode(
             std::string_view(reinterpret_cast<const char*>(raw), sizeof(raw)));
}

}  // namespace mitos::auth
