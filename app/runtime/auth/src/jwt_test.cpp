#include "mitos/auth/jwt.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "mitos/auth/dev_keys.h"
#include "mitos/auth/jwks.h"

namespace mitos::auth {
namespace {

using nlohmann::json;
using std::chrono::seconds;
using std::chrono::system_clock;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Test keys and tokens, made with OpenSSL directly rather than with the
// code under test.

std::string Str(const unsigned char* p, size_t n) {
  return std::string(reinterpret_cast<const char*>(p), n);
}

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// What was written to a memory BIO, which is freed.
std::string Drain(BIO* bio) {
  std::string out;
  char buf[1024];
  for (int n; (n = BIO_read(bio, buf, sizeof(buf))) > 0;) {
    out.append(buf, static_cast<size_t>(n));
  }
  BIO_free(bio);
  return out;
}

std::string BnBytes(const EVP_PKEY* pkey, const char* name, int pad = 0) {
  BIGNUM* bn = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(pkey, name, &bn), 1) << name;
  std::string out(static_cast<size_t>(pad > 0 ? pad : BN_num_bytes(bn)), '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  if (pad > 0) {
    BN_bn2binpad(bn, p, pad);
  } else {
    BN_bn2bin(bn, p);
  }
  BN_free(bn);
  return out;
}

struct TestKey {
  std::shared_ptr<EVP_PKEY> pkey;
  std::string alg;  // RS256 or ES256
  std::string kid;
  json jwk;

  // The JWS signature of `input`: PKCS #1 v1.5 for RSA, r||s for EC.
  std::string Sign(std::string_view input) const {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t len = 0;
    EXPECT_EQ(EVP_DigestSignInit_ex(ctx, nullptr, "SHA256", nullptr, nullptr,
                                    pkey.get(), nullptr),
              1);
    EXPECT_EQ(EVP_DigestSign(ctx, nullptr, &len, Bytes(input), input.size()),
              1);
    std::string sig(len, '\0');
    EXPECT_EQ(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()),
                             &len, Bytes(input), input.size()),
              1);
    EVP_MD_CTX_free(ctx);
    sig.resize(len);
    if (alg == "RS256") return sig;
    const unsigned char* p = Bytes(sig);
    ECDSA_SIG* ecdsa = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len));
    const BIGNUM* r = nullptr;
    const BIGNUM* s = nullptr;
    ECDSA_SIG_get0(ecdsa, &r, &s);
    unsigned char raw[64];
    BN_bn2binpad(r, raw, 32);
    BN_bn2binpad(s, raw + 32, 32);
    ECDSA_SIG_free(ecdsa);
    return Str(raw, sizeof(raw));
  }
};

TestKey NewRsaKey(std::string kid) {
  TestKey k;
  k.pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}),
               EVP_PKEY_free);
  k.alg = "RS256";
  k.kid = kid;
  k.jwk = {
      {"kty", "RSA"},
      {"kid", kid},
      {"alg", "RS256"},
      {"use", "sig"},
      {"n", Base64UrlEncode(BnBytes(k.pkey.get(), OSSL_PKEY_PARAM_RSA_N))},
      {"e", Base64UrlEncode(BnBytes(k.pkey.get(), OSSL_PKEY_PARAM_RSA_E))}};
  return k;
}

TestKey NewEcKey(std::string kid) {
  TestKey k;
  k.pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"),
               EVP_PKEY_free);
  k.alg = "ES256";
  k.kid = kid;
  k.jwk = {
      {"kty", "EC"},
      {"crv", "P-256"},
      {"kid", kid},
      {"x",
       Base64UrlEncode(BnBytes(k.pkey.get(), OSSL_PKEY_PARAM_EC_PUB_X, 32))},
      {"y",
       Base64UrlEncode(BnBytes(k.pkey.get(), OSSL_PKEY_PARAM_EC_PUB_Y, 32))}};
  return k;
}

// RSA key generation takes a while; the tests share these.
const TestKey& Rsa1() {
  static const TestKey k = NewRsaKey("rsa-1");
  return k;
}
const TestKey& Rsa2() {
  static const TestKey k = NewRsaKey("rsa-2");
  return k;
}
const TestKey& Ec1() {
  static const TestKey k = NewEcKey("ec-1");
  return k;
}

std::string Jwks(std::initializer_list<const TestKey*> keys) {
  json doc = {{"keys", json::array()}};
  for (const TestKey* k : keys) doc["keys"].push_back(k->jwk);
  return doc.dump();
}

std::string SigningInput(const json& header, const json& claims) {
  return Base64UrlEncode(header.dump()) + "." + Base64UrlEncode(claims.dump());
}

// A token signed by `key`, with header {"alg", "kid"} changed by `extra`
// (a null member removes one).
std::string Token(const TestKey& key, const json& claims,
                  const json& extra = json::object()) {
  json header = {{"alg", key.alg}, {"kid", key.kid}};
  for (auto& [name, value] : extra.items()) {
    if (value.is_null()) {
      header.erase(name);
    } else {
      header[name] = value;
    }
  }
  std::string input = SigningInput(header, claims);
  return input + "." + Base64UrlEncode(key.Sign(input));
}

std::string HmacToken(std::string_view secret, const json& claims,
                      const json& header = {{"alg", "HS256"}}) {
  std::string input = SigningInput(header, claims);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       Bytes(input), input.size(), mac, &len);
  return input + "." + Base64UrlEncode(Str(mac, len));
}

// "u<i>". (Not "u" + std::to_string(i), which GCC 12 warns about wrongly:
// -Wrestrict, its bug 105329.)
template <typename Int>
std::string Subject(Int i) {
  std::string s = "u";
  s += std::to_string(i);
  return s;
}

int64_t Secs(system_clock::time_point t) {
  return std::chrono::duration_cast<seconds>(t.time_since_epoch()).count();
}

class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "auth_test.XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const {
    return (path_ / name).string();
  }

 private:
  std::filesystem::path path_;
};

// Replaces `path` as an operator rotating keys would: a new file renamed
// over the old one.
void WriteFile(const std::string& path, const std::string& content) {
  std::string tmp = path + ".new";
  std::ofstream(tmp, std::ios::binary | std::ios::trunc) << content;
  std::filesystem::rename(tmp, path);
}

class JwtTest : public ::testing::Test {
 protected:
  JwtTest() {
    keys_ = KeySet::Parse(Jwks({&Rsa1(), &Ec1()}));
    provider_ = KeyProvider::Fixed(keys_);
  }

  VerifierOptions Options() {
    VerifierOptions o;
    o.issuer = "https://issuer.example";
    o.audience = "mitos";
    o.now = [this] { return now_; };
    return o;
  }

  std::unique_ptr<Verifier> NewVerifier(
      std::function<void(VerifierOptions&)> tweak = nullptr) {
    VerifierOptions o = Options();
    if (tweak) tweak(o);
    return std::make_unique<Verifier>(std::move(o), provider_);
  }

  json Claims() const {
    return {{"iss", "https://issuer.example"},
            {"aud", "mitos"},
            {"sub", "user-42"},
            {"iat", Secs(now_)},
            {"exp", Secs(now_) + 3600}};
  }

  json ClaimsWith(const json& changes) const {
    json c = Claims();
    for (auto& [name, value] : changes.items()) {
      if (value.is_null()) {
        c.erase(name);
      } else {
        c[name] = value;
      }
    }
    return c;
  }

  // Verifies with a verifier of the default options and returns the
  // reason ("" for a verified token).
  std::string Reason(const std::string& token) {
    VerifyResult r = NewVerifier()->Verify(token);
    EXPECT_EQ(r.ok, r.reason.empty()) << r.reason;
    return r.reason;
  }

  system_clock::time_point now_ = system_clock::time_point(seconds(1700000000));
  std::shared_ptr<const KeySet> keys_;
  std::shared_ptr<KeyProvider> provider_;
};

TEST(Base64Url, EncodesUnpaddedAndDecodesStrictly) {
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff\xfe"), "-__-");
  std::string out;
  EXPECT_TRUE(Base64UrlDecode("Zm9vYg", &out));
  EXPECT_EQ(out, "foob");
  EXPECT_TRUE(Base64UrlDecode("-__-", &out));
  EXPECT_EQ(out, "\xfb\xff\xfe");
  EXPECT_TRUE(Base64UrlDecode("Zh", &out)) << "unused bits need not be zero";
  EXPECT_EQ(out, "f");
  EXPECT_FALSE(Base64UrlDecode("Zg==", &out)) << "padding";
  EXPECT_FALSE(Base64UrlDecode("+/+/", &out)) << "the base64 alphabet";
  EXPECT_FALSE(Base64UrlDecode("Zm9vY", &out)) << "4n+1 characters";
  EXPECT_FALSE(Base64UrlDecode("Zm 9v", &out));
  EXPECT_FALSE(Base64UrlDecode(std::string_view("Zm\0v", 4), &out));
}

TEST_F(JwtTest, ValidRs256TokenWithScopeStringVerifies) {
  json claims =
      ClaimsWith({{"scope", "orders:read  orders:write orders:read"}});
  VerifyResult r = NewVerifier()->Verify(Token(Rsa1(), claims));
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.claims.subject, "user-42");
  EXPECT_THAT(r.claims.scopes, ElementsAre("orders:read", "orders:write"));
  EXPECT_EQ(r.claims.expires, now_ + seconds(3600));
}

TEST_F(JwtTest, ValidEs256TokenWithScpArrayVerifies) {
  json claims = ClaimsWith({{"scp", {"users:read", "users:admin"}}});
  VerifyResult r = NewVerifier()->Verify(Token(Ec1(), claims));
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.claims.subject, "user-42");
  EXPECT_THAT(r.claims.scopes, ElementsAre("users:read", "users:admin"));
}

TEST_F(JwtTest, TokenWithoutScopesHasNone) {
  VerifyResult r = NewVerifier()->Verify(Token(Rsa1(), Claims()));
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_THAT(r.claims.scopes, IsEmpty());
}

TEST_F(JwtTest, AlgNoneIsRefused) {
  std::string input = SigningInput({{"alg", "none"}, {"typ", "JWT"}}, Claims());
  EXPECT_EQ(Reason(input + "."), "empty part");
  EXPECT_EQ(Reason(input + ".AAAA"), "alg none");
  EXPECT_EQ(Reason(SigningInput({{"alg", "None"}}, Claims()) + ".AAAA"),
            "alg none");
  EXPECT_EQ(Reason(SigningInput(json::object(), Claims()) + ".AAAA"),
            "missing alg");
}

TEST_F(JwtTest, Hs256SignedWithTheRsaPublicKeyIsRefused) {
  BIO* bio = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PUBKEY(bio, Rsa1().pkey.get()), 1);
  std::string pem = Drain(bio);
  ASSERT_THAT(pem, HasSubstr("BEGIN PUBLIC KEY"));
  std::string n;
  ASSERT_TRUE(Base64UrlDecode(Rsa1().jwk["n"].get<std::string>(), &n));

  for (const std::string& secret : {pem, n}) {
    std::string with_kid =
        HmacToken(secret, Claims(), {{"alg", "HS256"}, {"kid", "rsa-1"}});
    std::string without_kid = HmacToken(secret, Claims());
    EXPECT_EQ(Reason(with_kid), "hmac tokens disabled");
    EXPECT_EQ(Reason(without_kid), "hmac tokens disabled");
    auto hmac = NewVerifier([](auto& o) { o.hs256_secret = "server secret"; });
    EXPECT_EQ(hmac->Verify(with_kid).reason, "alg does not match key");
    EXPECT_EQ(hmac->Verify(without_kid).reason, "bad signature");
  }
}

TEST_F(JwtTest, TokenSignedWithAnotherKeyIsRefused) {
  TestKey impostor = Rsa2();
  impostor.kid = "rsa-1";
  EXPECT_EQ(Reason(Token(impostor, Claims())), "bad signature");
  TestKey ec_impostor = NewEcKey("ec-1");
  EXPECT_EQ(Reason(Token(ec_impostor, Claims())), "bad signature");
}

TEST_F(JwtTest, TamperedClaimsAreRefused) {
  std::string token = Token(Rsa1(), Claims());
  std::string other = Token(Rsa1(), ClaimsWith({{"sub", "admin"}}));
  size_t dot1 = token.find('.');
  size_t dot2 = token.rfind('.');
  size_t odot1 = other.find('.');
  size_t odot2 = other.rfind('.');
  std::string forged = token.substr(0, dot1) +
                       other.substr(odot1, odot2 - odot1) + token.substr(dot2);
  EXPECT_EQ(Reason(forged), "bad signature");
}

TEST_F(JwtTest, TokenExpiredBeyondTheSkewIsRefused) {
  EXPECT_EQ(Reason(Token(Rsa1(), ClaimsWith({{"exp", Secs(now_) - 61}}))),
            "expired");
}

TEST_F(JwtTest, TokenExpiredWithinTheSkewIsAccepted) {
  EXPECT_EQ(Reason(Token(Rsa1(), ClaimsWith({{"exp", Secs(now_) - 59}}))), "");
  EXPECT_EQ(Reason(Token(Rsa1(), ClaimsWith({{"exp", Secs(now_) - 60}}))), "");
}

TEST_F(JwtTest, ExpIsRequiredAndNumeric) {
  EXPECT_EQ(Reason(Token(Rsa1(), ClaimsWith({{"exp", nullptr}}))),
            "missing exp");
  EXPECT_EQ(Reason(Token(Rsa1(), ClaimsWith({{"exp", "2030-01-01"}}))),
            "bad exp");
  EXPECT_EQ(Reason(Token(Rsa1(), ClaimsWith({{"exp", true}}))), "bad exp");
  EXPECT_EQ(Reason(Token(Rsa1(), ClaimsWith({{"exp", Secs(now_) + 0.5}}))), "");
  EXPECT_EQ(Reason(Token(Rsa1(), ClaimsWith({{"exp", 1e300}}))), "");
}

TEST_F(JwtTest, NotBeforeInTheFutureIsRefused) {
  EXPECT_EQ(Reason(Token(Rsa1(), ClaimsWith({{"nbf", Secs(now_) + 120}}))),
            "not yet valid");
  EXPECT_EQ(Reason(Token(Rsa1(), ClaimsWith({{"nbf", Secs(now_) + 30}}))), "")
      << "within the skew";
  EXPECT_EQ(Reason(Token(Rsa1(), ClaimsWith({{"nbf", "soon"}}))), "bad nbf");
}

TEST_F(JwtTest, IssuedInTheFutureIsRefused) {
  EXPECT_EQ(Reason(Token(Rsa1(), ClaimsWith({{"iat", Secs(now_) + 120}}))),
            "issued in the future");
  EXPECT_EQ(Reason(Token(Rsa1(), ClaimsWith({{"iat", Secs(now_) + 30}}))), "");
  EXPECT_EQ(Reason(Token(Rsa1(), ClaimsWith({{"iat", nullptr}}))), "");
}

TEST_F(JwtTest, WrongIssuerIsRefused) {
  EXPECT_EQ(Reason(Token(Rsa1(), ClaimsWith({{"iss", "https://evil"}}))),
            "wrong issuer");
  EXPECT_EQ(
      Reason(Token(Rsa1(), ClaimsWith({{"iss", "https://issuer.example/"}}))),
      "wrong issuer");
  EXPECT_EQ(Reason(Token(Rsa1(), ClaimsWith({{"iss", nullptr}}))),
            "wrong issuer");
}

TEST_F(JwtTest, WrongAudienceIsRefused) {
  EXPECT_EQ(Reason(Token(Rsa1(), ClaimsWith({{"aud", "other"}}))),
            "wrong audience");
  EXPECT_EQ(Reason(Token(Rsa1(), ClaimsWith({{"aud", {"a", "b"}}}))),
            "wrong audience");
  EXPECT_EQ(Reason(Token(Rsa1(), ClaimsWith({{"aud", nullptr}}))),
            "wrong audience");
}

TEST_F(JwtTest, AudienceArrayHoldingTheAudienceIsAccepted) {
  EXPECT_EQ(Reason(Token(Rsa1(), ClaimsWith({{"aud", {"other", "mitos"}}}))),
            "");
}

TEST_F(JwtTest, UnconfiguredIssuerOrAudienceRefusesEverything) {
  auto v = NewVerifier([](auto& o) { o.issuer.clear(); });
  EXPECT_FALSE(v->Verify(Token(Rsa1(), ClaimsWith({{"iss", ""}}))).ok);
  v = NewVerifier([](auto& o) { o.audience.clear(); });
  EXPECT_FALSE(v->Verify(Token(Rsa1(), ClaimsWith({{"aud", ""}}))).ok);
}

TEST_F(JwtTest, SubjectMustBeANonEmptyString) {
  EXPECT_EQ(Reason(Token(Rsa1(), ClaimsWith({{"sub", nullptr}}))),
            "missing sub");
  EXPECT_EQ(Reason(Token(Rsa1(), ClaimsWith({{"sub", ""}}))), "missing sub");
  EXPECT_EQ(Reason(Token(Rsa1(), ClaimsWith({{"sub", 42}}))), "missing sub");
}

TEST_F(JwtTest, ScopesOfAnotherTypeAreRefused) {
  EXPECT_EQ(Reason(Token(Rsa1(), ClaimsWith({{"scope", {"a", "b"}}}))),
            "bad scope");
  EXPECT_EQ(Reason(Token(Rsa1(), ClaimsWith({{"scp", "a b"}}))), "bad scope");
  EXPECT_EQ(Reason(Token(Rsa1(), ClaimsWith({{"scp", {"a", 1}}}))),
            "bad scope");
}

TEST_F(JwtTest, ClaimsMustBeAJsonObject) {
  std::string input = Base64UrlEncode(R"({"alg":"RS256","kid":"rsa-1"})") +
                      "." + Base64UrlEncode("[1,2]");
  EXPECT_EQ(Reason(input + "." + Base64UrlEncode(Rsa1().Sign(input))),
            "bad claims");
}

TEST_F(JwtTest, TypMustBeJwtOrAtJwt) {
  for (const char* typ : {"JWT", "jwt", "at+jwt", "AT+JWT",
                          "application/at+jwt", "application/jwt"}) {
    EXPECT_EQ(Reason(Token(Rsa1(), Claims(), {{"typ", typ}})), "") << typ;
  }
  EXPECT_EQ(Reason(Token(Rsa1(), Claims(), {{"typ", "JWE"}})), "bad typ");
  EXPECT_EQ(Reason(Token(Rsa1(), Claims(), {{"typ", 1}})), "bad typ");
}

TEST_F(JwtTest, CritHeaderIsRefused) {
  EXPECT_EQ(Reason(Token(Rsa1(), Claims(), {{"crit", {"exp"}}, {"exp", 1}})),
            "crit header");
  EXPECT_EQ(Reason(Token(Rsa1(), Claims(), {{"crit", json::array()}})),
            "crit header");
}

TEST_F(JwtTest, TruncatedTokenIsRefused) {
  std::string token = Token(Rsa1(), Claims());
  EXPECT_FALSE(NewVerifier()->Verify(token.substr(0, token.size() - 4)).ok);
  EXPECT_EQ(Reason(token.substr(0, token.size() - 1)),
            "bad signature encoding");
  EXPECT_EQ(Reason(token.substr(0, token.size() - 2)), "bad signature");
  EXPECT_EQ(Reason(token.substr(0, token.rfind('.') + 1)), "empty part");
  EXPECT_EQ(Reason(token.substr(0, token.find('.') + 5)), "not three parts");
  EXPECT_EQ(Reason(""), "empty token");
}

TEST_F(JwtTest, TwoPartTokenIsRefused) {
  std::string token = Token(Rsa1(), Claims());
  EXPECT_EQ(Reason(token.substr(0, token.rfind('.'))), "not three parts");
  EXPECT_EQ(Reason(token + ".AAAA"), "not three parts");
  EXPECT_EQ(Reason(".."), "empty part");
}

TEST_F(JwtTest, GarbageBase64IsRefused) {
  std::string token = Token(Rsa1(), Claims());
  EXPECT_EQ(Reason("!!!!" + token.substr(token.find('.'))), "bad header");
  EXPECT_EQ(Reason(token.substr(0, token.find('.')) + "=" +
                   token.substr(token.find('.'))),
            "bad header");
  EXPECT_EQ(Reason(token + "="), "bad signature encoding");
  std::string spaced = token;
  spaced.insert(token.rfind('.') + 5, " ");
  EXPECT_EQ(Reason(spaced), "bad signature encoding");
  EXPECT_EQ(Reason("not.a.token"), "bad header");
  EXPECT_EQ(Reason(Base64UrlEncode("{") + ".e30.AAAA"), "bad header");
}

TEST_F(JwtTest, HugeTokenIsRefused) {
  std::string huge =
      Token(Rsa1(), ClaimsWith({{"pad", std::string(100 << 10, 'x')}}));
  EXPECT_EQ(Reason(huge), "token too large");
  EXPECT_EQ(Reason(std::string(kMaxTokenBytes + 1, 'a')), "token too large");
  EXPECT_EQ(Reason(std::string(kMaxTokenBytes, 'a')), "not three parts");
}

TEST_F(JwtTest, Hs256IsAcceptedOnlyWithTheConfiguredSecret) {
  const std::string secret = "0123456789abcdef0123456789abcdef";
  auto hmac = NewVerifier([&](auto& o) { o.hs256_secret = secret; });
  VerifyResult r = hmac->Verify(HmacToken(secret, Claims()));
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.claims.subject, "user-42");
  EXPECT_EQ(hmac->Verify(HmacToken("another secret", Claims())).reason,
            "bad signature");
  EXPECT_EQ(Reason(HmacToken(secret, Claims())), "hmac tokens disabled");
  EXPECT_EQ(
      hmac->Verify(HmacToken(secret, Claims(), {{"alg", "HS512"}})).reason,
      "unsupported alg");
  EXPECT_EQ(Reason(HmacToken(secret, Claims(), {{"alg", "HS384"}})),
            "hmac tokens disabled");
  // A kid that names no public key of the set is no obstacle.
  EXPECT_TRUE(hmac->Verify(HmacToken(secret, Claims(),
                                     {{"alg", "HS256"}, {"kid", "x"}}))
                  .ok);
  EXPECT_EQ(Reason(Token(Rsa1(), Claims(), {{"alg", "PS256"}})),
            "unsupported alg");
}

TEST_F(JwtTest, AlgThatDoesNotMatchTheKeyTypeIsRefused) {
  TestKey ec_as_rsa = Ec1();
  ec_as_rsa.kid = "rsa-1";
  EXPECT_EQ(Reason(Token(ec_as_rsa, Claims())), "alg does not match key");
  TestKey rsa_as_ec = Rsa1();
  rsa_as_ec.kid = "ec-1";
  EXPECT_EQ(Reason(Token(rsa_as_ec, Claims())), "alg does not match key");
}

TEST_F(JwtTest, TokenWithoutKidUsesTheOnlyKeyOfItsType) {
  EXPECT_EQ(Reason(Token(Rsa1(), Claims(), {{"kid", nullptr}})), "");
  EXPECT_EQ(Reason(Token(Ec1(), Claims(), {{"kid", nullptr}})), "");
  EXPECT_EQ(Reason(Token(Rsa1(), Claims(), {{"kid", 7}})), "bad kid");
  provider_ = KeyProvider::Fixed(KeySet::Parse(Jwks({&Rsa1(), &Rsa2()})));
  EXPECT_EQ(Reason(Token(Rsa1(), Claims(), {{"kid", nullptr}})),
            "no kid, and not exactly one key");
  EXPECT_EQ(Reason(Token(Rsa2(), Claims())), "");
}

TEST_F(JwtTest, SecondVerifyOfATokenIsACacheHit) {
  auto v = NewVerifier();
  std::string token = Token(Rsa1(), ClaimsWith({{"scope", "a b"}}));
  VerifyResult first = v->Verify(token);
  ASSERT_TRUE(first.ok) << first.reason;
  EXPECT_EQ(v->cache_hits(), 0u);
  VerifyResult second = v->Verify(token);
  ASSERT_TRUE(second.ok) << second.reason;
  EXPECT_EQ(v->cache_hits(), 1u);
  EXPECT_EQ(second.claims.subject, first.claims.subject);
  EXPECT_EQ(second.claims.scopes, first.claims.scopes);
  EXPECT_EQ(second.claims.expires, first.claims.expires);

  std::string refused = Token(Rsa1(), ClaimsWith({{"aud", "x"}}));
  EXPECT_FALSE(v->Verify(refused).ok);
  EXPECT_FALSE(v->Verify(refused).ok);
  EXPECT_EQ(v->cache_hits(), 1u) << "refusals are not cached";

  auto uncached = NewVerifier([](auto& o) { o.cache_capacity = 0; });
  EXPECT_TRUE(uncached->Verify(token).ok);
  EXPECT_TRUE(uncached->Verify(token).ok);
  EXPECT_EQ(uncached->cache_hits(), 0u);
}

TEST_F(JwtTest, ExpiredCachedTokenIsRefused) {
  auto v = NewVerifier();
  std::string token = Token(Rsa1(), ClaimsWith({{"exp", Secs(now_) + 100}}));
  ASSERT_TRUE(v->Verify(token).ok);
  now_ += seconds(150);
  EXPECT_TRUE(v->Verify(token).ok) << "within the skew";
  EXPECT_EQ(v->cache_hits(), 1u);
  now_ += seconds(20);
  EXPECT_EQ(v->Verify(token).reason, "expired");
  EXPECT_EQ(v->Verify(token).reason, "expired");
}

TEST_F(JwtTest, CacheStaysBoundedAndCorrect) {
  const std::string secret = "s";
  auto v = NewVerifier([&](auto& o) {
    o.hs256_secret = secret;
    o.cache_capacity = 20;
  });
  std::vector<std::string> tokens;
  for (int i = 0; i < 200; ++i) {
    tokens.push_back(HmacToken(secret, ClaimsWith({{"sub", Subject(i)}})));
  }
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 200; ++i) {
      VerifyResult r = v->Verify(tokens[static_cast<size_t>(i)]);
      ASSERT_TRUE(r.ok) << r.reason;
      EXPECT_EQ(r.claims.subject, Subject(i));
    }
  }
  EXPECT_LE(v->cache_hits(), 20u);
}

TEST_F(JwtTest, ConcurrentVerificationsAgree) {
  auto v = NewVerifier([](auto& o) { o.cache_capacity = 16; });
  std::vector<std::string> tokens;
  for (int i = 0; i < 8; ++i) {
    const TestKey& key = i % 2 == 0 ? Rsa1() : Ec1();
    tokens.push_back(Token(key, ClaimsWith({{"sub", Subject(i)}})));
  }
  tokens.push_back(
      Token(Rsa2(), Claims()));  // refused: rsa-2 is not in the set
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        size_t k = static_cast<size_t>(i + t) % tokens.size();
        VerifyResult r = v->Verify(tokens[k]);
        if (r.ok != (k < 8)) ++failures;
        if (r.ok && r.claims.subject != Subject(k)) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(v->cache_hits(), 0u);
}

TEST(KeySetParse, RejectsDocumentsThatAreNoJwks) {
  for (const char* doc :
       {"", "not json", "[]", "{}", R"({"keys":{}})", R"({"keys":"x"})",
        R"({"key":[]})", "{\"keys\":[", "\"keys\""}) {
    std::string error;
    EXPECT_EQ(KeySet::Parse(doc, &error), nullptr) << doc;
    EXPECT_FALSE(error.empty()) << doc;
  }
  EXPECT_EQ(KeySet::Parse("[]"), nullptr) << "no error pointer needed";
  auto empty = KeySet::Parse(R"({"keys":[]})");
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(empty->size(), 0u);
}

TEST(KeySetParse, SkipsUnsupportedAndBadKeys) {
  json rsa = Rsa1().jwk;
  json ec = Ec1().jwk;
  auto with = [](json jwk, const json& changes) {
    jwk.update(changes);
    return jwk;
  };
  EVP_PKEY* small_pkey =
      EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{1024});
  json small = with(
      rsa,
      {{"kid", "small"},
       {"n", Base64UrlEncode(BnBytes(small_pkey, OSSL_PKEY_PARAM_RSA_N))}});
  EVP_PKEY_free(small_pkey);
  std::string y;
  ASSERT_TRUE(Base64UrlDecode(ec["y"].get<std::string>(), &y));
  y[31] = static_cast<char>(y[31] ^ 1);

  json doc = {
      {"keys",
       {
           rsa,
           "not an object",
           with(rsa, {{"kid", "enc"}, {"use", "enc"}}),
           with(rsa, {{"kid", "rs512"}, {"alg", "RS512"}}),
           with(rsa, {{"kid", "bad-n"}, {"n", "!!!"}}),
           with(rsa, {{"kid", "padded-n"},
                      {"n", rsa["n"].get<std::string>() + "="}}),
           with(rsa, {{"kid", 12}}),
           with(rsa, {{"kid", "no-e"}, {"e", nullptr}}),
           small,
           ec,
           with(ec, {{"kid", "p384"}, {"crv", "P-384"}}),
           with(ec, {{"kid", "off-curve"}, {"y", Base64UrlEncode(y)}}),
           with(ec, {{"kid", "short-x"}, {"x", "AAAA"}}),
           with(ec, {{"kid", "es384"}, {"alg", "ES384"}}),
           {{"kty", "OKP"}, {"crv", "Ed25519"}, {"kid", "ed"}, {"x", "AAAA"}},
           {{"kty", "oct"}, {"kid", "hmac"}, {"k", Base64UrlEncode("secret")}},
           {{"kty", "oct"}, {"kid", "hs512"}, {"alg", "HS512"}, {"k", "AAAA"}},
           {{"kty", "oct"}, {"kid", "empty"}, {"k", ""}},
           with(ec, {{"kid", "rsa-1"}}),  // a kid already taken
           {{"kid", "no-kty"}},
       }}};
  std::string error;
  auto set = KeySet::Parse(doc.dump(), &error);
  ASSERT_NE(set, nullptr) << error;
  EXPECT_EQ(set->size(), 3u);
  ASSERT_NE(set->Find("rsa-1"), nullptr);
  EXPECT_EQ(set->Find("rsa-1")->type(), KeyType::kRsa);
  ASSERT_NE(set->Find("ec-1"), nullptr);
  EXPECT_EQ(set->Find("ec-1")->type(), KeyType::kEc);
  ASSERT_NE(set->Find("hmac"), nullptr);
  EXPECT_EQ(set->Find("hmac")->type(), KeyType::kOct);
  EXPECT_EQ(set->Find("small"), nullptr);
  EXPECT_EQ(set->FindOnly(KeyType::kRsa), set->Find("rsa-1"));
}

TEST(KeyProvider, FixedSetIsCurrentAndNeverFetched) {
  auto provider = KeyProvider::Fixed(KeySet::Parse(Jwks({&Ec1()})));
  ASSERT_NE(provider->Current(), nullptr);
  std::string error;
  EXPECT_TRUE(provider->Load(&error));
  EXPECT_EQ(provider->RefreshForUnknownKid()->size(), 1u);
  provider->Start();
  provider->Stop();
  EXPECT_EQ(provider->fetches(), 0u);
  EXPECT_FALSE(
      KeyProvider::Fixed(KeySet::Parse(R"({"keys":[]})"))->Load(&error));
  EXPECT_FALSE(error.empty());
}

// A provider over a JWKS file, on a clock the test moves.
class FileProviderTest : public JwtTest {
 protected:
  std::shared_ptr<KeyProvider> NewProvider(seconds min_refetch) {
    JwksSource source;
    source.file = jwks_file_;
    source.min_refetch = min_refetch;
    source.clock = [this] { return steady_now_; };
    return std::make_shared<KeyProvider>(std::move(source));
  }

  TempDir dir_;
  std::string jwks_file_ = dir_.File("jwks.json");
  std::chrono::steady_clock::time_point steady_now_{std::chrono::hours(1)};
};

TEST_F(FileProviderTest, UnknownKidIsRefusedAfterExactlyOneRefetch) {
  WriteFile(jwks_file_, Jwks({&Rsa1()}));
  provider_ = NewProvider(seconds(0));
  std::string error;
  ASSERT_TRUE(provider_->Load(&error)) << error;
  EXPECT_EQ(provider_->fetches(), 1u);
  auto v = NewVerifier();
  EXPECT_EQ(v->Verify(Token(Rsa2(), Claims())).reason, "unknown kid");
  EXPECT_EQ(provider_->fetches(), 2u);
  EXPECT_EQ(v->Verify(Token(Rsa1(), Claims())).reason, "");
  EXPECT_EQ(provider_->fetches(), 2u) << "a known kid fetches nothing";
  EXPECT_EQ(provider_->fetch_failures(), 0u);
}

TEST_F(FileProviderTest, RotatedKeyVerifiesAfterTheFileIsRewritten) {
  WriteFile(jwks_file_, Jwks({&Rsa1()}));
  provider_ = NewProvider(seconds(30));
  ASSERT_TRUE(provider_->Load(nullptr));
  auto v = NewVerifier();
  std::string rotated = Token(Rsa2(), Claims());
  steady_now_ += seconds(31);
  EXPECT_EQ(v->Verify(rotated).reason, "unknown kid");
  EXPECT_EQ(provider_->fetches(), 2u);

  WriteFile(jwks_file_, Jwks({&Rsa1(), &Rsa2()}));
  steady_now_ += seconds(31);
  VerifyResult r = v->Verify(rotated);
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(provider_->fetches(), 3u);
  EXPECT_EQ(provider_->Current()->size(), 2u);

  WriteFile(jwks_file_, Jwks({&Rsa2()}));  // rsa-1 retired
  steady_now_ += seconds(31);
  EXPECT_EQ(provider_->RefreshForUnknownKid()->size(), 1u);
  EXPECT_EQ(v->Verify(Token(Rsa1(), Claims())).reason, "unknown kid");
}

TEST_F(FileProviderTest, MinRefetchRateLimitsRefetches) {
  WriteFile(jwks_file_, Jwks({&Rsa1()}));
  provider_ = NewProvider(seconds(30));
  ASSERT_TRUE(provider_->Load(nullptr));
  auto v = NewVerifier();
  TestKey made_up = Rsa1();
  for (int i = 0; i < 5; ++i) {
    made_up.kid = "made-up-" + std::to_string(i);
    EXPECT_EQ(v->Verify(Token(made_up, Claims())).reason, "unknown kid");
    steady_now_ += seconds(1);
  }
  EXPECT_EQ(provider_->fetches(), 1u) << "Load was the last fetch";

  WriteFile(jwks_file_, Jwks({&Rsa1(), &Rsa2()}));
  std::string rotated = Token(Rsa2(), Claims());
  EXPECT_EQ(v->Verify(rotated).reason, "unknown kid");
  EXPECT_EQ(provider_->fetches(), 1u);
  steady_now_ += seconds(25);
  EXPECT_TRUE(v->Verify(rotated).ok);
  EXPECT_EQ(provider_->fetches(), 2u);
  for (int i = 0; i < 5; ++i) {
    made_up.kid = "again-" + std::to_string(i);
    EXPECT_EQ(v->Verify(Token(made_up, Claims())).reason, "unknown kid");
  }
  EXPECT_EQ(provider_->fetches(), 2u);
}

TEST_F(FileProviderTest, FailedFetchKeepsThePreviousSet) {
  WriteFile(jwks_file_, Jwks({&Rsa1()}));
  provider_ = NewProvider(seconds(0));
  ASSERT_TRUE(provider_->Load(nullptr));
  auto before = provider_->Current();
  for (const char* doc : {"{", R"({"keys":[]})", R"({"keys":[{"kty":"x"}]})"}) {
    WriteFile(jwks_file_, doc);
    EXPECT_EQ(provider_->RefreshForUnknownKid(), before) << doc;
  }
  std::filesystem::remove(jwks_file_);
  EXPECT_EQ(provider_->RefreshForUnknownKid(), before);
  EXPECT_EQ(provider_->fetches(), 5u);
  EXPECT_EQ(provider_->fetch_failures(), 4u);
  EXPECT_TRUE(NewVerifier()->Verify(Token(Rsa1(), Claims())).ok);
}

TEST_F(FileProviderTest, LoadFailsWithAMessageNamingTheFile) {
  std::string error;
  EXPECT_FALSE(NewProvider(seconds(0))->Load(&error));
  EXPECT_THAT(error, HasSubstr(jwks_file_));
  EXPECT_EQ(NewProvider(seconds(0))->Current(), nullptr);

  WriteFile(jwks_file_,
            R"({"keys":[{"kty":"oct","k":"c2VjcmV0IGtleQ","alg":"HS512"}]})");
  EXPECT_FALSE(NewProvider(seconds(0))->Load(&error));
  EXPECT_THAT(error, HasSubstr("no usable key"));
  EXPECT_THAT(error, ::testing::Not(HasSubstr("c2VjcmV0IGtleQ")));

  WriteFile(jwks_file_, "<html>");
  EXPECT_FALSE(NewProvider(seconds(0))->Load(&error));
  EXPECT_THAT(error, HasSubstr("not valid JSON"));

  EXPECT_FALSE(std::make_shared<KeyProvider>(JwksSource{})->Load(&error));
  EXPECT_THAT(error, HasSubstr("exactly one"));
}

TEST_F(FileProviderTest, BackgroundRefreshPicksUpANewFile) {
  WriteFile(jwks_file_, Jwks({&Rsa1()}));
  JwksSource source;
  source.file = jwks_file_;
  source.refresh = seconds(1);
  KeyProvider provider(std::move(source));
  ASSERT_TRUE(provider.Load(nullptr));
  provider.Start();
  provider.Start();
  WriteFile(jwks_file_, Jwks({&Rsa1(), &Ec1()}));
  auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (provider.Current()->size() != 2 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(provider.Current()->size(), 2u);
  provider.Stop();
  uint64_t fetches = provider.fetches();
  EXPECT_GE(fetches, 2u);
  provider.Stop();
}

TEST(SigningKey, LoadOrCreateCreatesA0600FileThenLoadsTheSameKey) {
  TempDir dir;
  std::string path = dir.File("signing.pem");
  bool created = false;
  std::string error;
  auto key = SigningKey::LoadOrCreate(path, &created, &error);
  ASSERT_NE(key, nullptr) << error;
  EXPECT_TRUE(created);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto again = SigningKey::LoadOrCreate(path, &created, &error);
  ASSERT_NE(again, nullptr) << error;
  EXPECT_FALSE(created);
  EXPECT_EQ(again->kid(), key->kid());
  EXPECT_EQ(again->Jwks(), key->Jwks());
  EXPECT_THAT(key->PrivatePem(), HasSubstr("-----BEGIN PRIVATE KEY-----"));

  auto from_pem = SigningKey::FromPem(key->PrivatePem(), &error);
  ASSERT_NE(from_pem, nullptr) << error;
  EXPECT_EQ(from_pem->kid(), key->kid());
  EXPECT_NE(SigningKey::Generate()->kid(), key->kid());
}

TEST(SigningKey, KidIsTheJwkThumbprint) {
  auto key = SigningKey::Generate();
  ASSERT_NE(key, nullptr);
  json jwk = key->Jwk();
  // nlohmann::json orders members by name, as RFC 7638 wants them.
  std::string members = json{
      {"kty", "EC"},
      {"crv", "P-256"},
      {"x", jwk["x"]},
      {"y", jwk["y"]}}.dump();
  unsigned char md[32];
  unsigned int len = 0;
  EVP_Digest(members.data(), members.size(), md, &len, EVP_sha256(), nullptr);
  EXPECT_EQ(key->kid(), Base64UrlEncode(Str(md, len)));
  EXPECT_EQ(jwk["kid"], key->kid());
  EXPECT_EQ(jwk["alg"], "ES256");
  EXPECT_EQ(jwk["use"], "sig");
}

TEST(SigningKey, RefusesWhatIsNotAP256PrivateKey) {
  std::string error;
  EXPECT_EQ(SigningKey::FromPem("garbage", &error), nullptr);
  EXPECT_FALSE(error.empty());

  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, Rsa1().pkey.get(), nullptr, nullptr, 0, nullptr,
                           nullptr);
  std::string rsa_pem = Drain(bio);
  EXPECT_EQ(SigningKey::FromPem(rsa_pem, &error), nullptr);
  EXPECT_THAT(error, HasSubstr("not an EC P-256 private key"));

  TempDir dir;
  std::string path = dir.File("rsa.pem");
  std::ofstream(path) << rsa_pem;
  bool created = true;
  EXPECT_EQ(SigningKey::LoadOrCreate(path, &created, &error), nullptr);
  EXPECT_THAT(error, HasSubstr(path));
  EXPECT_EQ(
      SigningKey::LoadOrCreate(dir.File("missing/key.pem"), &created, &error),
      nullptr);
  EXPECT_THAT(error, HasSubstr("cannot create"));
}

TEST_F(JwtTest, SigningKeyTokensVerify) {
  auto key = SigningKey::Generate();
  ASSERT_NE(key, nullptr);
  auto set = KeySet::Parse(key->Jwks());
  ASSERT_NE(set, nullptr);
  ASSERT_EQ(set->size(), 1u);
  provider_ = KeyProvider::Fixed(set);
  std::string token = key->Sign(ClaimsWith({{"scope", "dev"}}));
  VerifyResult r = NewVerifier()->Verify(token);
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.claims.subject, "user-42");
  EXPECT_THAT(r.claims.scopes, ElementsAre("dev"));

  std::string header;
  ASSERT_TRUE(Base64UrlDecode(token.substr(0, token.find('.')), &header));
  EXPECT_EQ(json::parse(header),
            json({{"alg", "ES256"}, {"typ", "JWT"}, {"kid", key->kid()}}));
  provider_ = KeyProvider::Fixed(keys_);
  EXPECT_EQ(Reason(token), "unknown kid") << "the fixture's set lacks it";
}

// Serves a JWKS on 127.0.0.1 at a free port.
class JwksServer {
 public:
  explicit JwksServer(std::string body) : body_(std::move(body)) {
    server_.Get("/jwks",
                [this](const httplib::Request&, httplib::Response& res) {
                  ++requests_;
                  res.set_content(body_, "application/jwk-set+json");
                });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~JwksServer() {
    server_.stop();
    thread_.join();
  }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int requests() const { return requests_.load(); }

 private:
  std::string body_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<int> requests_{0};
};

TEST_F(JwtTest, JwksIsLoadedOverHttp) {
  JwksServer server(Jwks({&Rsa1(), &Ec1()}));
  JwksSource source;
  source.url = server.Url("/jwks");
  provider_ = std::make_shared<KeyProvider>(std::move(source));
  std::string error;
  ASSERT_TRUE(provider_->Load(&error)) << error;
  EXPECT_EQ(provider_->Current()->size(), 2u);
  EXPECT_EQ(server.requests(), 1);
  EXPECT_TRUE(NewVerifier()->Verify(Token(Ec1(), Claims())).ok);

  JwksSource missing;
  missing.url = server.Url("/nothing?x=1");
  EXPECT_FALSE(KeyProvider(std::move(missing)).Load(&error));
  EXPECT_THAT(error, HasSubstr("/nothing"));
  EXPECT_THAT(error, HasSubstr("HTTP status 404"));

  // https is built in: against this plain HTTP server the TLS handshake is
  // what fails.
  JwksSource https;
  https.url = "https" + server.Url("/jwks").substr(4);
  EXPECT_FALSE(KeyProvider(std::move(https)).Load(&error));
  EXPECT_THAT(error, HasSubstr("request failed"));
}

TEST(KeyProvider, DeadUrlMakesLoadFailWithAMessage) {
  // A port that was free a moment ago: nothing listens there.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t addr_len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &addr_len), 0);
  int port = ntohs(addr.sin_port);
  close(fd);
  JwksSource source;
  source.url = "http://127.0.0.1:" + std::to_string(port) + "/jwks";
  KeyProvider provider(source);
  std::string error;
  EXPECT_FALSE(provider.Load(&error));
  EXPECT_THAT(error, HasSubstr(source.url));
  EXPECT_THAT(error, HasSubstr("request failed"));
  EXPECT_EQ(provider.Current(), nullptr);
  EXPECT_EQ(provider.fetch_failures(), 1u);

  for (const char* url : {"ftp://example.com/jwks", "http:///jwks", "jwks"}) {
    JwksSource bad;
    bad.url = url;
    EXPECT_FALSE(KeyProvider(bad).Load(&error)) << url;
    EXPECT_THAT(error, HasSubstr(url));
  }
}


TEST(SigningKey, ProcessesStartingAtOnceAllLoadTheOneKeyMade) {
  char tmpl[] = "/tmp/mitos-devkey-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/auth-dev-key.pem";
  std::vector<std::string> kids(8);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < kids.size(); ++i) {
    threads.emplace_back([&, i] {
      bool created = false;
      std::string error;
      auto key = SigningKey::LoadOrCreate(path, &created, &error);
      kids[i] = key ? key->kid() : "error: " + error;
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& kid : kids) EXPECT_EQ(kid, kids[0]);
  EXPECT_EQ(kids[0].rfind("error", 0), std::string::npos) << kids[0];
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace mitos::auth
