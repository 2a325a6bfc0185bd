#include "mitos/base/status.h"

namespace mitos {

std::string Status::ToString() const {
  static constexpr const char* kNames[] = {
      "OK",       "InvalidArgument",    "NotFound",
      "AlreadyExists", "FailedPrecondition", "PermissionDenied", "Unavailable",
      "DeadlineExceeded", "Internal", "InsufficientStorage",
      "StorageUnavailable", "StorageReadOnly", "StorageCorrupt"};
  std::string out = kNames[static_cast<int>(code_)];
  if (!message_.empty()) out += ": " + message_;
  for (const auto& f : fields_) out += " [" + f.field + ": " + f.message + "]";
  return out;
}

}  // namespace mitos
