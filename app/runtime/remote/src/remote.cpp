#include "mitos/remote/remote.h"

namespace mitos::remote {

const char* BreakerStateName(BreakerState s) {
  switch (s) {
    case BreakerState::kClosed: return "closed";
    case BreakerState::kOpen: return "open";
    case BreakerState::kHalfOpen: return "half_open";
  }
  return "unknown";
}

Status StatusFromResponse(const Response& r) {
  nlohmann::json p = nlohmann::json::parse(r.body, nullptr, false);
  std::string detail = "the remote answered " + std::to_string(r.status);
  std::string type;
  std::vector<FieldError> fields;
  if (p.is_object()) {
    if (p.contains("detail") && p["detail"].is_string()) detail = p["detail"];
    if (p.contains("type") && p["type"].is_string()) type = p["type"];
    if (p.contains("errors") && p["errors"].is_array()) {
      for (const auto& e : p["errors"]) {
        if (e.is_object() && e.value("field", nlohmann::json()).is_string() &&
            e.value("message", nlohmann::json()).is_string()) {
          fields.push_back({e["field"], e["message"]});
        }
      }
    }
  }
  switch (r.status) {
    case 403: return Status::PermissionDenied(detail);
    case 404: return Status::NotFound(detail);
    case 409:
      if (type == "urn:mitos:problem:invalid-state") {
        return Status::FailedPrecondition(detail);
      }
      return Status::AlreadyExists(detail, std::move(fields));
    case 422: return Status::InvalidArgument(detail, std::move(fields));
    case 503:
      if (type == "urn:mitos:problem:storage-unavailable") {
        return Status::StorageUnavailable(detail);
      }
      if (type == "urn:mitos:problem:storage-read-only") {
        return Status::StorageReadOnly(detail);
      }
      return Status::Unavailable(detail);
    case 504: return Status::DeadlineExceeded(detail);
    case 507: return Status::InsufficientStorage(detail);
    case 500:
      if (type == "urn:mitos:problem:storage-corrupt") {
        return Status::StorageCorrupt(detail);
      }
      [[fallthrough]];
    default:
      return Status::Internal("unexpected answer " + std::to_string(r.status) +
                              " from a remote: " + detail);
  }
}

Status DecodedEmpty(const Response& r) {
  return r.status == 204 ? Status::Ok() : StatusFromResponse(r);
}

}  // namespace mitos::remote
