#include "mitos/auth/service_token.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

#include "mitos/observability/log.h"

namespace mitos::auth {
namespace {

constexpr char kLog[] = "auth";
constexpr size_t kMacBytes = 32;    // HMAC-SHA256
constexpr size_t kNonceBytes = 16;  // 128 bits
constexpr size_t kMinSecretBytes = 32;
constexpr size_t kMaxKidChars = 64;
// A key file holds a few lines; anything larger is not one.
constexpr size_t kMaxFileBytes = 64 * 1024;

// --- base64url (RFC 4648 section 5), unpadded. Not cryptography; strict,
// so that a token has exactly one spelling.

constexpr char kAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<int8_t, 256> DecodeTable() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  return t;
}
constexpr std::array<int8_t, 256> kDecode = DecodeTable();

std::string Encode(const unsigned char* p, size_t n) {
  std::string out;
  out.reserve((n * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8) | p[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = uint32_t{p[i]} << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (n - i == 2) {
    uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

std::string Encode(std::string_view s) {
  return Encode(reinterpret_cast<const unsigned char*>(s.data()), s.size());
}

// Returns false for any character outside the alphabet (padding
// included), an impossible length, or unused trailing bits that are not
// zero.
bool Decode(std::string_view in, std::string* out) {
  out->clear();
  if (in.size() % 4 == 1) return false;
  out->reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : in) {
    int8_t v = kDecode[static_cast<unsigned char>(ch)];
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return (acc & ((1u << bits) - 1)) == 0;
}

void Wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

bool Mac(const std::string& key, std::string_view data, unsigned char out[kMacBytes]) {
  unsigned int len = 0;
  return HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
              reinterpret_cast<const unsigned char*>(data.data()), data.size(), out,
              &len) != nullptr &&
         len == kMacBytes;
}

bool ValidKid(std::string_view kid) {
  if (kid.empty() || kid.size() > kMaxKidChars) return false;
  for (char c : kid) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool Blank(char c) { return c == ' ' || c == '\t'; }

const char* CallerName(ServiceIdentity::Caller c) {
  switch (c) {
    case ServiceIdentity::Caller::kInternal:
      return "internal";
    case ServiceIdentity::Caller::kAnonymous:
      return "anonymous";
    case ServiceIdentity::Caller::kUser:
      return "user";
  }
  return "internal";
}

bool ParseCaller(const std::string& s, ServiceIdentity::Caller* out) {
  if (s == "internal") {
    *out = ServiceIdentity::Caller::kInternal;
  } else if (s == "anonymous") {
    *out = ServiceIdentity::Caller::kAnonymous;
  } else if (s == "user") {
    *out = ServiceIdentity::Caller::kUser;
  } else {
    return false;
  }
  return true;
}

bool StringArray(const nlohmann::json& j, std::vector<std::string>* out) {
  if (!j.is_array()) return false;
  out->clear();
  for (const auto& e : j) {
    if (!e.is_string()) return false;
    out->push_back(e.get<std::string>());
  }
  return true;
}

// The string field `name` of object `j`, or nullptr.
const std::string* StringField(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) return nullptr;
  return it->get_ptr<const std::string*>();
}

int64_t UnixSeconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

ServiceVerifyResult Refused(std::string reason) {
  ServiceVerifyResult r;
  r.reason = std::move(reason);
  return r;
}

}  // namespace

// --- ServiceKeys -------------------------------------------------------------

ServiceKeys::Set::~Set() {
  for (auto& k : keys) Wipe(k.secret);
}

std::shared_ptr<const ServiceKeys::Set> ServiceKeys::Parse(std::string_view text,
                                                           const std::string& where,
                                                           std::string* error) {
  // Errors quote nothing from the file: with its columns swapped, a line's
  // first word is the secret.
  auto fail = [&](size_t line, const std::string& what) {
    if (error != nullptr) {
      *error = (where.empty() ? "" : where + ": ") + "line " + std::to_string(line) + ": " + what;
    }
    return nullptr;
  };
  auto set = std::make_shared<Set>();
  std::vector<size_t> lines;  // of each key, for duplicates
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    while (!line.empty() && (Blank(line.back()) || line.back() == '\r')) line.remove_suffix(1);
    while (!line.empty() && Blank(line.front())) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    size_t gap = 0;
    while (gap < line.size() && !Blank(line[gap])) ++gap;
    std::string_view kid = line.substr(0, gap);
    std::string_view rest = line.substr(gap);
    while (!rest.empty() && Blank(rest.front())) rest.remove_prefix(1);
    if (rest.empty()) return fail(line_no, "a key line is \"<kid> <secret>\"; there is no secret");
    for (char c : rest) {
      if (Blank(c)) return fail(line_no, "a key line is \"<kid> <secret>\"; there is more");
    }
    if (!ValidKid(kid)) {
      return fail(line_no, "a kid is 1 to 64 characters among A-Z a-z 0-9 . _ -");
    }
    for (size_t i = 0; i < set->keys.size(); ++i) {
      if (set->keys[i].kid == kid) {
        return fail(line_no, "the kid of line " + std::to_string(lines[i]) + " again");
      }
    }
    Key k;
    k.kid = std::string(kid);
    if (!Decode(rest, &k.secret)) {
      Wipe(k.secret);
      return fail(line_no, "the secret is not base64url without padding");
    }
    if (k.secret.size() < kMinSecretBytes) {
      const size_t n = k.secret.size();
      Wipe(k.secret);
      return fail(line_no, "the secret is " + std::to_string(n) + " bytes; at least " +
                               std::to_string(kMinSecretBytes) + " are needed");
    }
    set->keys.push_back(std::move(k));
    lines.push_back(line_no);
  }
  if (set->keys.empty()) {
    if (error != nullptr) {
      *error = (where.empty() ? "" : where + ": ") +
               "no key; a key file holds lines \"<kid> <secret>\"";
    }
    return nullptr;
  }
  return set;
}

std::shared_ptr<const ServiceKeys::Set> ServiceKeys::Load(const std::string& path,
                                                          std::string* error) {
  auto fail = [&](const std::string& what) {
    if (error != nullptr) *error = path + ": " + what;
    return nullptr;
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(std::string("cannot open: ") + std::strerror(errno));
  std::string text;
  text.resize(kMaxFileBytes + 1);
  size_t got = 0;
  int err = 0;
  while (got < text.size()) {
    ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n > 0) {
      got += static_cast<size_t>(n);
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      err = errno;
      break;
    }
  }
  ::close(fd);
  std::shared_ptr<const Set> set;
  if (err != 0) {
    fail(std::string("cannot read: ") + std::strerror(err));
  } else if (got > kMaxFileBytes) {
    fail("larger than " + std::to_string(kMaxFileBytes / 1024) + " KiB; not a key file");
  } else {
    set = Parse(std::string_view(text.data(), got), path, error);
  }
  OPENSSL_cleanse(text.data(), text.size());
  return set;
}

std::shared_ptr<ServiceKeys> ServiceKeys::FromFile(const std::string& path, std::string* error) {
  auto set = Load(path, error);
  if (!set) return nullptr;
  std::shared_ptr<ServiceKeys> keys(new ServiceKeys());
  keys->path_ = path;
  keys->set_ = std::move(set);
  return keys;
}

std::shared_ptr<ServiceKeys> ServiceKeys::FromText(std::string_view text, std::string* error) {
  auto set = Parse(text, "", error);
  if (!set) return nullptr;
  std::shared_ptr<ServiceKeys> keys(new ServiceKeys());
  keys->set_ = std::move(set);
  return keys;
}

bool ServiceKeys::WriteNew(const std::string& path, std::string* error) {
  auto fail = [&](const std::string& what, int err) {
    if (error != nullptr) *error = path + ": " + what + ": " + std::strerror(err);
    return false;
  };
  unsigned char raw[kMinSecretBytes];
  if (RAND_bytes(raw, sizeof(raw)) != 1) {
    if (error != nullptr) *error = path + ": the random generator failed";
    return false;
  }
  std::string text = "k1 " + Encode(raw, sizeof(raw)) + "\n";
  OPENSSL_cleanse(raw, sizeof(raw));
  // A temporary file next to the target, renamed over it: readers see the
  // old file or the new one, never a part.
  std::string tmp = path + ".XXXXXX";
  int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) {
    Wipe(text);
    return fail("cannot create a temporary file next to it", errno);
  }
  int err = 0;
  // mkostemp's mode is subject to the umask; the key file is exactly 0600.
  if (::fchmod(fd, S_IRUSR | S_IWUSR) != 0) err = errno;
  size_t off = 0;
  while (err == 0 && off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n > 0) {
      off += static_cast<size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      err = errno;
    }
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  Wipe(text);
  if (err == 0 && ::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    return fail("cannot write", err);
  }
  return true;
}

ServiceKeys::~ServiceKeys() { Stop(); }

std::shared_ptr<const ServiceKeys::Set> ServiceKeys::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return set_;
}

bool ServiceKeys::Reload(std::string* error) {
  if (path_.empty()) {
    if (error != nullptr) *error = "the service keys were not read from a file";
    return false;
  }
  auto set = Load(path_, error);
  if (!set) return false;
  std::lock_guard<std::mutex> lock(mu_);
  set_ = std::move(set);
  return true;
}

std::string ServiceKeys::signing_kid() const { return Current()->keys.front().kid; }

std::vector<std::string> ServiceKeys::kids() const {
  std::vector<std::string> out;
  for (const auto& k : Current()->keys) out.push_back(k.kid);
  return out;
}

void ServiceKeys::StartWatching(std::chrono::seconds every) {
  std::lock_guard<std::mutex> lock(watch_mu_);
  if (watcher_.joinable()) {
    {
      std::lock_guard<std::mutex> g(stop_mu_);
      stop_ = true;
    }
    stop_cv_.notify_all();
    watcher_.join();
  }
  {
    std::lock_guard<std::mutex> g(stop_mu_);
    stop_ = false;
  }
  watcher_ = std::thread([this, every] { Watch(std::max(every, std::chrono::seconds(1))); });
}

void ServiceKeys::Stop() {
  std::lock_guard<std::mutex> lock(watch_mu_);
  if (!watcher_.joinable()) return;
  {
    std::lock_guard<std::mutex> g(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  watcher_.join();
}

void ServiceKeys::Watch(std::chrono::seconds every) {
  // A file that stays broken is reported once, not every period.
  std::string last_error;
  std::unique_lock<std::mutex> lock(stop_mu_);
  while (!stop_cv_.wait_for(lock, every, [this] { return stop_; })) {
    lock.unlock();
    auto before = Current();
    std::string error;
    if (!Reload(&error)) {
      if (error != last_error) {
        log::Warn(kLog, "service keys not reloaded; the current ones stay",
                  {{"error", error}});
      }
      last_error = error;
    } else {
      last_error.clear();
      auto after = Current();
      bool same = before->keys.size() == after->keys.size();
      for (size_t i = 0; same && i < after->keys.size(); ++i) {
        same = before->keys[i].kid == after->keys[i].kid &&
               before->keys[i].secret == after->keys[i].secret;
      }
      if (!same) log::Info(kLog, "service keys reloaded", {{"kids", kids()}});
    }
    lock.lock();
  }
}

// --- tokens ------------------------------------------------------------------

std::string MintServiceToken(const ServiceKeys& keys, const ServiceIdentity& who,
                             std::string_view method, std::string_view target,
                             std::chrono::system_clock::time_point now) {
  auto set = keys.Current();
  const ServiceKeys::Key& key = set->keys.front();
  unsigned char nonce[kNonceBytes];
  if (RAND_bytes(nonce, sizeof(nonce)) != 1) return "";
  nlohmann::json p = {{"kid", key.kid},
                      {"services", who.services},
                      {"caller", CallerName(who.caller)},
                      {"method", std::string(method)},
                      {"target", std::string(target)},
                      {"iat", UnixSeconds(now)},
                      {"jti", Encode(nonce, sizeof(nonce))}};
  if (who.caller == ServiceIdentity::Caller::kUser) {
    p["sub"] = who.subject;
    p["scp"] = who.scopes;
  }
  // Bytes that are not UTF-8 become U+FFFD: such a token then fails its
  // binding check, rather than minting throwing.
  std::string token =
      Encode(p.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  unsigned char mac[kMacBytes];
  if (!Mac(key.secret, token, mac)) return "";
  token += '.';
  token += Encode(mac, sizeof(mac));
  return token;
}

ServiceTokenVerifier::ServiceTokenVerifier(std::shared_ptr<ServiceKeys> keys,
                                           std::chrono::seconds max_skew, size_t max_nonces)
    : keys_(std::move(keys)),
      max_skew_(max_skew),
      max_nonces_(std::max<size_t>(1, max_nonces)) {}

ServiceVerifyResult ServiceTokenVerifier::Verify(std::string_view token,
                                                 std::string_view method,
                                                 std::string_view target,
                                                 std::chrono::system_clock::time_point now) {
  if (token.size() > kMaxServiceTokenBytes) return Refused("token larger than 4 KiB");
  const size_t dot = token.find('.');
  if (dot == std::string_view::npos || token.find('.', dot + 1) != std::string_view::npos) {
    return Refused("not two parts separated by a dot");
  }
  const std::string_view body = token.substr(0, dot);
  std::string payload;
  std::string mac;
  if (body.empty() || !Decode(body, &payload)) return Refused("payload is not base64url");
  if (!Decode(token.substr(dot + 1), &mac) || mac.size() != kMacBytes) {
    return Refused("MAC is not 32 bytes of base64url");
  }

  // The MAC first: nothing of the payload is trusted, or parsed for more
  // than a log line, before a key vouches for it. Every key is tried,
  // since the kid is inside what the MAC covers.
  auto set = keys_->Current();
  const ServiceKeys::Key* signer = nullptr;
  for (const auto& k : set->keys) {
    unsigned char want[kMacBytes];
    if (Mac(k.secret, body, want) && CRYPTO_memcmp(want, mac.data(), kMacBytes) == 0) {
      signer = &k;
      break;
    }
  }
  nlohmann::json p = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (signer == nullptr) {
    const std::string* kid = p.is_object() ? StringField(p, "kid") : nullptr;
    if (kid != nullptr) {
      bool known = false;
      for (const auto& k : set->keys) known = known || k.kid == *kid;
      if (!known) {
        return Refused(ValidKid(*kid) ? "unknown kid \"" + *kid + "\"" : "unknown kid");
      }
    }
    return Refused("bad MAC");
  }

  if (!p.is_object()) return Refused("payload is not a JSON object");
  const std::string* kid = StringField(p, "kid");
  if (kid == nullptr || *kid != signer->kid) {
    return Refused("kid is not the one of the key that signed");
  }
  ServiceVerifyResult r;
  auto services = p.find("services");
  if (services == p.end() || !StringArray(*services, &r.identity.services)) {
    return Refused("services is not an array of strings");
  }
  const std::string* caller = StringField(p, "caller");
  if (caller == nullptr || !ParseCaller(*caller, &r.identity.caller)) {
    return Refused("caller is not internal, anonymous or user");
  }
  if (r.identity.caller == ServiceIdentity::Caller::kUser) {
    const std::string* sub = StringField(p, "sub");
    if (sub == nullptr || sub->empty()) return Refused("a user caller without sub");
    r.identity.subject = *sub;
    auto scp = p.find("scp");
    if (scp != p.end() && !StringArray(*scp, &r.identity.scopes)) {
      return Refused("scp is not an array of strings");
    }
  }
  const std::string* m = StringField(p, "method");
  const std::string* t = StringField(p, "target");
  if (m == nullptr || t == nullptr) return Refused("method or target missing");
  if (*m != method) return Refused("made for another method");
  if (*t != target) return Refused("made for another target");
  auto iat = p.find("iat");
  if (iat == p.end() || !iat->is_number_integer() ||
      (iat->is_number_unsigned() &&
       iat->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))) {
    return Refused("iat is not an integer");
  }
  const int64_t issued = iat->get<int64_t>();
  const int64_t now_s = UnixSeconds(now);
  const int64_t skew = max_skew_.count();
  if (issued < now_s - skew || issued > now_s + skew) {
    return Refused("iat is " + std::to_string(issued - now_s) + " s from now, beyond " +
                   std::to_string(skew) + " s");
  }
  const std::string* jti = StringField(p, "jti");
  std::string raw;
  if (jti == nullptr || !Decode(*jti, &raw) || raw.size() != kNonceBytes) {
    return Refused("jti is not 128 bits of base64url");
  }
  Nonce n;
  std::memcpy(&n.hi, raw.data(), 8);
  std::memcpy(&n.lo, raw.data() + 8, 8);
  if (!Remember(n, issued + skew, now_s)) return Refused("replayed (jti seen before)");
  r.ok = true;
  return r;
}

bool ServiceTokenVerifier::Remember(const Nonce& n, int64_t until, int64_t now) {
  std::lock_guard<std::mutex> lock(mu_);
  auto forget_front = [&] {
    seen_.erase(order_.front().nonce);
    order_.pop_front();
  };
  while (!order_.empty() && order_.front().until < now) forget_front();
  if (seen_.count(n) > 0) return false;
  while (order_.size() >= max_nonces_) forget_front();
  order_.push_back({until, n});
  seen_.insert(n);
  return true;
}

size_t ServiceTokenVerifier::remembered() const {
  std::lock_guard<std::mutex> lock(mu_);
  return order_.size();
}

}  // namespace mitos::auth
