#include "mitos/http/request_id.h"

#include <functional>
#include <random>
#include <thread>

namespace mitos::internal {

bool IsValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z') || c == '-' || c == '_' || c == '.' ||
              c == ':';
    if (!ok) return false;
  }
  return true;
}

std::string NewRequestId() {
  thread_local std::mt19937_64 rng(std::random_device{}() ^
                                   std::hash<std::thread::id>{}(
                                       std::this_thread::get_id()));
  static const char* kHex = "0123456789abcdef";
  std::string out(32, '0');
  uint64_t a = rng(), b = rng();
  for (int i = 0; i < 16; ++i) {
    out[i] = kHex[(a >> (i * 4)) & 0xF];
    out[16 + i] = kHex[(b >> (i * 4)) & 0xF];
  }
  return out;
}

std::string RequestIdFor(std::string_view incoming) {
  return IsValidRequestId(incoming) ? std::string(incoming) : NewRequestId();
}

}  // namespace mitos::internal
