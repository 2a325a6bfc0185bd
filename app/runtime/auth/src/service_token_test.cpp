#include "mitos/auth/service_token.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace mitos::auth {
namespace {

using std::chrono::seconds;
using Caller = ServiceIdentity::Caller;

// 43 base64url characters: 32 bytes (the last one's unused bits zero).
std::string Secret(char c) { return std::string(42, c) + "A"; }

const std::string kKeyA = "a " + Secret('a') + "\n";
const std::string kKeyB = "b " + Secret('b') + "\n";
const std::string kKeyC = "c " + Secret('c') + "\n";

const std::chrono::system_clock::time_point kNow =
    std::chrono::system_clock::time_point() + seconds(1700000000);

std::shared_ptr<ServiceKeys> Keys(const std::string& text) {
  std::string error;
  auto k = ServiceKeys::FromText(text, &error);
  EXPECT_TRUE(k) << error;
  return k;
}

ServiceIdentity Internal() {
  ServiceIdentity who;
  who.services = {"orders"};
  return who;
}

constexpr char kAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Replaces the character at `i` of `s` with another of the alphabet.
std::string Flip(std::string s, size_t i) {
  s[i] = s[i] == 'A' ? 'B' : 'A';
  return s;
}

// Sets the lowest bit of the last character's value: a character whose
// unused bits are no longer zero.
std::string SetUnusedBit(std::string s) {
  const size_t v = std::string_view(kAlphabet).find(s.back());
  s.back() = kAlphabet[v | 1];
  return s;
}

class TempDir {
 public:
  TempDir() {
    std::string t = ::testing::TempDir() + "service_keys_XXXXXX";
    dir_ = ::mkdtemp(t.data()) != nullptr ? t : "";
  }
  ~TempDir() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  size_t Entries() const {
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) n += e.exists() ? 1 : 0;
    return n;
  }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
};

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

class ServiceTokenTest : public ::testing::Test {
 protected:
  std::shared_ptr<ServiceKeys> keys_ = Keys(kKeyA);
  ServiceTokenVerifier verifier_{keys_};

  ServiceVerifyResult Verify(const std::string& token,
                             std::chrono::system_clock::time_point at = kNow) {
    return verifier_.Verify(token, "POST", "/orders/v1/orders?x=1", at);
  }
  std::string Mint(const ServiceIdentity& who = Internal(),
                   std::chrono::system_clock::time_point at = kNow) {
    return MintServiceToken(*keys_, who, "POST", "/orders/v1/orders?x=1", at);
  }
};

TEST_F(ServiceTokenTest, AnInternalCallRoundTrips) {
  ServiceIdentity who;
  who.services = {"gateway", "orders"};
  std::string token = Mint(who);
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(token.find('='), std::string::npos);
  ServiceVerifyResult r = Verify(token);
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.identity.services, (std::vector<std::string>{"gateway", "orders"}));
  EXPECT_EQ(r.identity.caller, Caller::kInternal);
  EXPECT_EQ(r.identity.subject, "");
  EXPECT_TRUE(r.identity.scopes.empty());
}

TEST_F(ServiceTokenTest, AnAnonymousCallRoundTrips) {
  ServiceIdentity who = Internal();
  who.caller = Caller::kAnonymous;
  ServiceVerifyResult r = Verify(Mint(who));
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.identity.services, std::vector<std::string>{"orders"});
  EXPECT_EQ(r.identity.caller, Caller::kAnonymous);
  EXPECT_EQ(r.identity.subject, "");
}

TEST_F(ServiceTokenTest, AUserCallRoundTripsWithSubjectAndScopes) {
  ServiceIdentity who = Internal();
  who.caller = Caller::kUser;
  who.subject = "user-42 \"quoted\" \xc3\xa9";
  who.scopes = {"orders:read", "orders:write"};
  ServiceVerifyResult r = Verify(Mint(who));
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.identity.caller, Caller::kUser);
  EXPECT_EQ(r.identity.subject, who.subject);
  EXPECT_EQ(r.identity.scopes, who.scopes);
}

TEST_F(ServiceTokenTest, EveryTokenIsDifferent) {
  EXPECT_NE(Mint(), Mint());
}

TEST_F(ServiceTokenTest, ATamperedPayloadIsRefused) {
  std::string token = Mint();
  ServiceVerifyResult r = Verify(Flip(token, 10));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "bad MAC");
  // The untouched token is still good (nothing was remembered).
  EXPECT_TRUE(Verify(token).ok);
}

TEST_F(ServiceTokenTest, APayloadSignedOverIsStillRefusedWithoutTheKey) {
  // Someone who changes the claims (a user into the instance itself) and
  // signs with a key of their own.
  ServiceIdentity who = Internal();
  who.caller = Caller::kUser;
  who.subject = "u";
  auto theirs = Keys(std::string("a ") + Secret('z') + "\n");  // same kid
  std::string forged = MintServiceToken(*theirs, who, "POST", "/orders/v1/orders?x=1", kNow);
  ServiceVerifyResult r = Verify(forged);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "bad MAC");
}

TEST_F(ServiceTokenTest, ATamperedMacIsRefused) {
  std::string token = Mint();
  size_t dot = token.find('.');
  EXPECT_FALSE(Verify(Flip(token, dot + 5)).ok);
  // A MAC with unused bits set is another spelling of the same bytes:
  // refused too, so that a token has one spelling.
  ServiceVerifyResult r = Verify(SetUnusedBit(token));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.reason.find("MAC"), std::string::npos) << r.reason;
  EXPECT_TRUE(Verify(token).ok);
}

TEST_F(ServiceTokenTest, MalformedTokensAreRefused) {
  std::string token = Mint();
  size_t dot = token.find('.');
  for (const std::string& bad :
       {token.substr(0, token.size() - 4), token.substr(0, dot), token.substr(0, dot + 1),
        token.substr(dot), token + ".x", token + "=", std::string(""), std::string("."),
        std::string("..."), "!" + token.substr(1), token.substr(0, dot) + "." +
        token.substr(dot + 1, 10)}) {
    ServiceVerifyResult r = Verify(bad);
    EXPECT_FALSE(r.ok) << bad;
    EXPECT_FALSE(r.reason.empty()) << bad;
  }
  EXPECT_TRUE(Verify(token).ok);
}

TEST_F(ServiceTokenTest, AHugeTokenIsRefusedBeforeAnythingElse) {
  ServiceVerifyResult r = Verify(std::string(5000, 'A') + "." + std::string(43, 'A'));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.reason.find("4 KiB"), std::string::npos) << r.reason;
  // Even a well-signed one.
  std::string target = "/orders/" + std::string(4000, 'x');
  std::string big = MintServiceToken(*keys_, Internal(), "GET", target, kNow);
  ASSERT_GT(big.size(), kMaxServiceTokenBytes);
  r = verifier_.Verify(big, "GET", target, kNow);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.reason.find("4 KiB"), std::string::npos) << r.reason;
}

TEST_F(ServiceTokenTest, AnotherMethodOrTargetIsRefused) {
  std::string token = Mint();
  ServiceVerifyResult r = verifier_.Verify(token, "DELETE", "/orders/v1/orders?x=1", kNow);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.reason.find("method"), std::string::npos) << r.reason;
  r = verifier_.Verify(token, "POST", "/orders/v1/orders?x=2", kNow);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.reason.find("target"), std::string::npos) << r.reason;
  r = verifier_.Verify(token, "POST", "/orders/v1/orders", kNow);
  EXPECT_FALSE(r.ok);
  // Refusals remember nothing: the right call still passes.
  EXPECT_TRUE(Verify(token).ok);
}

TEST_F(ServiceTokenTest, IatMustBeWithinTheSkew) {
  EXPECT_TRUE(Verify(Mint(), kNow + seconds(120)).ok);
  EXPECT_TRUE(Verify(Mint(), kNow - seconds(120)).ok);
  ServiceVerifyResult late = Verify(Mint(), kNow + seconds(121));
  EXPECT_FALSE(late.ok);
  EXPECT_NE(late.reason.find("iat"), std::string::npos) << late.reason;
  EXPECT_FALSE(Verify(Mint(), kNow - seconds(121)).ok);  // from the future
  EXPECT_FALSE(Verify(Mint(Internal(), kNow - seconds(100000)), kNow).ok);
}

TEST_F(ServiceTokenTest, AReplayIsRefused) {
  std::string token = Mint();
  ASSERT_TRUE(Verify(token).ok);
  ServiceVerifyResult r = Verify(token);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.reason.find("replay"), std::string::npos) << r.reason;
  EXPECT_FALSE(Verify(token, kNow + seconds(100)).ok);
}

TEST_F(ServiceTokenTest, TheNonceSetIsBoundedAndForgetsOldNonces) {
  ServiceTokenVerifier small(keys_, seconds(120), /*max_nonces=*/10);
  for (int i = 0; i < 25; ++i) {
    ASSERT_TRUE(small.Verify(Mint(), "POST", "/orders/v1/orders?x=1", kNow).ok) << i;
    EXPECT_LE(small.remembered(), 10u);
  }
  // Out of the window, the old ones are forgotten.
  const auto later = kNow + seconds(300);
  ASSERT_TRUE(small.Verify(Mint(Internal(), later), "POST", "/orders/v1/orders?x=1", later).ok);
  EXPECT_EQ(small.remembered(), 1u);
}

TEST_F(ServiceTokenTest, ConcurrentVerifiersAcceptEachTokenOnce) {
  std::vector<std::string> tokens;
  for (int i = 0; i < 400; ++i) tokens.push_back(Mint());
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (const auto& token : tokens) {
        if (Verify(token).ok) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 400);
}

TEST(ServiceKeysTest, AnUnknownKidIsRefused) {
  auto ours = Keys(kKeyA);
  auto theirs = Keys(kKeyC);
  ServiceTokenVerifier v(ours);
  std::string token = MintServiceToken(*theirs, Internal(), "GET", "/x", kNow);
  ServiceVerifyResult r = v.Verify(token, "GET", "/x", kNow);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "unknown kid \"c\"");
}

TEST(ServiceKeysTest, TheFirstKeySignsAndEveryKeyVerifies) {
  auto keys = Keys("# rotation in progress\n\n" + kKeyB + kKeyA);
  EXPECT_EQ(keys->signing_kid(), "b");
  EXPECT_EQ(keys->kids(), (std::vector<std::string>{"b", "a"}));
  ServiceTokenVerifier v(keys);
  auto old = Keys(kKeyA);
  EXPECT_TRUE(v.Verify(MintServiceToken(*old, Internal(), "GET", "/x", kNow), "GET", "/x", kNow).ok);
  EXPECT_TRUE(
      v.Verify(MintServiceToken(*keys, Internal(), "GET", "/x", kNow), "GET", "/x", kNow).ok);
}

TEST(ServiceKeysTest, RotationThroughTheFile) {
  TempDir dir;
  const std::string path = dir.Path("keys");
  WriteFile(path, kKeyA);
  std::string error;
  auto keys = ServiceKeys::FromFile(path, &error);
  ASSERT_TRUE(keys) << error;
  ServiceTokenVerifier v(keys);
  auto call = [&](const std::string& token) { return v.Verify(token, "GET", "/x", kNow); };
  auto mint = [&] { return MintServiceToken(*keys, Internal(), "GET", "/x", kNow); };
  std::string by_old = mint();
  std::string by_old_unused = mint();

  // Step 1: the new key is added second; the old one still signs.
  WriteFile(path, kKeyA + kKeyB);
  ASSERT_TRUE(keys->Reload(&error)) << error;
  EXPECT_EQ(keys->signing_kid(), "a");
  // Step 2: the new key moves first.
  WriteFile(path, kKeyB + kKeyA);
  ASSERT_TRUE(keys->Reload(&error)) << error;
  EXPECT_EQ(keys->signing_kid(), "b");
  ServiceVerifyResult old = call(by_old);
  EXPECT_TRUE(old.ok) << old.reason;
  std::string by_new = mint();
  EXPECT_TRUE(call(by_new).ok);
  // Step 3: the old key is dropped; what it signed is refused.
  WriteFile(path, kKeyB);
  ASSERT_TRUE(keys->Reload(&error)) << error;
  ServiceVerifyResult r = call(by_old_unused);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "unknown kid \"a\"");
  EXPECT_TRUE(call(mint()).ok);
}

TEST(ServiceKeysTest, AFailedReloadKeepsTheKeys) {
  TempDir dir;
  const std::string path = dir.Path("keys");
  WriteFile(path, kKeyA);
  std::string error;
  auto keys = ServiceKeys::FromFile(path, &error);
  ASSERT_TRUE(keys) << error;
  WriteFile(path, kKeyB + "c short\n");
  EXPECT_FALSE(keys->Reload(&error));
  EXPECT_EQ(error.find(path + ": line 2: "), 0u) << error;
  EXPECT_EQ(keys->signing_kid(), "a");
  ::unlink(path.c_str());
  EXPECT_FALSE(keys->Reload(&error));
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_EQ(keys->signing_kid(), "a");
  // Keys from text have no file to reload.
  EXPECT_FALSE(Keys(kKeyA)->Reload(&error));
}

TEST(ServiceKeysTest, WatchingPicksUpANewFile) {
  TempDir dir;
  const std::string path = dir.Path("keys");
  WriteFile(path, kKeyA);
  std::string error;
  auto keys = ServiceKeys::FromFile(path, &error);
  ASSERT_TRUE(keys) << error;
  keys->StartWatching(seconds(1));
  WriteFile(path, kKeyB + kKeyA);
  for (int i = 0; i < 60 && keys->signing_kid() != "b"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(keys->signing_kid(), "b");
  keys->Stop();
  keys->Stop();  // idempotent
}

TEST(ServiceKeysTest, BadFilesNameTheLineAndNeverTheSecret) {
  struct Case {
    std::string text;
    std::string error_starts;
    std::string error_has;
  };
  const std::string short_secret = "c2hvcnQtc2VjcmV0";  // 12 bytes
  const std::vector<Case> cases = {
      {"k1 " + short_secret + "\n", "line 1: ", "12 bytes"},
      {"# keys\n\nk1 " + Secret('a') + "=\n", "line 3: ", "base64url"},
      {"k1 " + Secret('a') + "\nk2 " + std::string(42, 'a') + "+A\n", "line 2: ", "base64url"},
      {"k1 " + std::string(42, 'a') + "B\n", "line 1: ", "base64url"},  // bits left over
      {"k1\n", "line 1: ", "no secret"},
      {"k1 " + Secret('a') + " extra\n", "line 1: ", "more"},
      {"k/1 " + Secret('a') + "\n", "line 1: ", "kid"},
      {kKeyA + "\r\n" + kKeyA, "line 3: ", "line 1 again"},
      {"", "no key", ""},
      {"\n# nothing\n   \n", "no key", ""},
  };
  for (const auto& c : cases) {
    std::string error;
    EXPECT_FALSE(ServiceKeys::FromText(c.text, &error)) << c.text;
    EXPECT_EQ(error.rfind(c.error_starts, 0), 0u) << c.text << " -> " << error;
    EXPECT_NE(error.find(c.error_has), std::string::npos) << c.text << " -> " << error;
    EXPECT_EQ(error.find(short_secret), std::string::npos) << error;
    EXPECT_EQ(error.find(std::string(20, 'a')), std::string::npos) << error;
  }
  // With its columns swapped, the secret is not quoted either.
  std::string error;
  EXPECT_FALSE(ServiceKeys::FromText(Secret('q') + " k1\n", &error));
  EXPECT_EQ(error.find(std::string(20, 'q')), std::string::npos) << error;
}

TEST(ServiceKeysTest, LinesMayEndInCarriageReturnsAndBlanks) {
  std::string error;
  auto keys = ServiceKeys::FromText("  a\t " + Secret('a') + " \r\n", &error);
  ASSERT_TRUE(keys) << error;
  EXPECT_EQ(keys->signing_kid(), "a");
}

TEST(ServiceKeysTest, FileErrorsNameThePath) {
  TempDir dir;
  std::string error;
  EXPECT_FALSE(ServiceKeys::FromFile(dir.Path("missing"), &error));
  EXPECT_EQ(error.find(dir.Path("missing") + ": "), 0u) << error;
  const std::string big = dir.Path("big");
  WriteFile(big, kKeyA + std::string(70000, '#'));
  EXPECT_FALSE(ServiceKeys::FromFile(big, &error));
  EXPECT_NE(error.find("KiB"), std::string::npos) << error;
  const std::string bad = dir.Path("bad");
  WriteFile(bad, kKeyA + "b AAAA\n");
  EXPECT_FALSE(ServiceKeys::FromFile(bad, &error));
  EXPECT_EQ(error.find(bad + ": line 2: "), 0u) << error;
}

TEST(ServiceKeysTest, WriteNewCreatesAPrivateFileThatLoads) {
  TempDir dir;
  const std::string path = dir.Path("service-keys");
  std::string error;
  ASSERT_TRUE(ServiceKeys::WriteNew(path, &error)) << error;
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto keys = ServiceKeys::FromFile(path, &error);
  ASSERT_TRUE(keys) << error;
  EXPECT_EQ(keys->signing_kid(), "k1");
  std::stringstream text;
  text << std::ifstream(path).rdbuf();
  EXPECT_EQ(text.str().size(), std::string("k1 \n").size() + 43);
  // A second one is another key, and replaces the first.
  ServiceTokenVerifier v(keys);
  std::string token = MintServiceToken(*keys, Internal(), "GET", "/x", kNow);
  ASSERT_TRUE(ServiceKeys::WriteNew(path, &error)) << error;
  ASSERT_TRUE(keys->Reload(&error)) << error;
  EXPECT_FALSE(v.Verify(token, "GET", "/x", kNow).ok);
  EXPECT_EQ(dir.Entries(), 1u);  // no temporary file left
  // A folder that does not exist.
  EXPECT_FALSE(ServiceKeys::WriteNew(dir.Path("sub/keys"), &error));
  EXPECT_EQ(error.find(dir.Path("sub/keys") + ": "), 0u) << error;
}

}  // namespace
}  // namespace mitos::auth
