// Status and StatusOr: the one error model of module APIs.
//
// A module API never throws for an expected failure; it returns a Status (or
// a StatusOr<T> carrying a value on success). The HTTP layer maps a Status to
// an RFC 9457 problem response in exactly one place (see http.h).
#ifndef MITOS_BASE_STATUS_H_
#define MITOS_BASE_STATUS_H_

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace mitos {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,    // the input is well-formed but not acceptable (422)
  kNotFound,           // the addressed entity does not exist (404)
  kAlreadyExists,      // a uniqueness rule would be broken (409)
  kFailedPrecondition, // the entity is in a state that forbids the call (409)
  kPermissionDenied,   // the caller may not make this call at all (403)
  kUnavailable,        // a dependency cannot be reached right now (503)
  kDeadlineExceeded,   // the caller's deadline passed (504)
  kInternal,           // a bug or an unexpected failure (500)
  // The module's own storage failed (see mitos::sqlite::StatusFor):
  kInsufficientStorage,  // no space left for the change (507)
  kStorageUnavailable,   // busy or an I/O error; a retry may succeed (503)
  kStorageReadOnly,      // can be read but not written (503)
  kStorageCorrupt,       // the file is damaged (500)
};

// One rejected input field, reported back to the client as-is.
struct FieldError {
  std::string field;    // JSON path of the field, e.g. "email" or "items[2].sku"
  std::string message;  // human readable, never contains internal details
};

class Status {
 public:
  // Returns a success status.
  Status() = default;

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg,
                                std::vector<FieldError> fields = {}) {
    return Status(StatusCode::kInvalidArgument, std::move(msg),
                  std::move(fields));
  }
  static Status NotFound(std::string msg) {
    return Status(StatusCode::kNotFound, std::move(msg));
  }
  static Status AlreadyExists(std::string msg,
                              std::vector<FieldError> fields = {}) {
    return Status(StatusCode::kAlreadyExists, std::move(msg),
                  std::move(fields));
  }
  static Status FailedPrecondition(std::string msg) {
    return Status(StatusCode::kFailedPrecondition, std::move(msg));
  }
  static Status PermissionDenied(std::string msg) {
    return Status(StatusCode::kPermissionDenied, std::move(msg));
  }
  static Status Unavailable(std::string msg) {
    return Status(StatusCode::kUnavailable, std::move(msg));
  }
  static Status DeadlineExceeded(std::string msg) {
    return Status(StatusCode::kDeadlineExceeded, std::move(msg));
  }
  static Status Internal(std::string msg) {
    return Status(StatusCode::kInternal, std::move(msg));
  }
  static Status InsufficientStorage(std::string msg) {
    return Status(StatusCode::kInsufficientStorage, std::move(msg));
  }
  static Status StorageUnavailable(std::string msg) {
    return Status(StatusCode::kStorageUnavailable, std::move(msg));
  }
  static Status StorageReadOnly(std::string msg) {
    return Status(StatusCode::kStorageReadOnly, std::move(msg));
  }
  static Status StorageCorrupt(std::string msg) {
    return Status(StatusCode::kStorageCorrupt, std::move(msg));
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  // The message is safe to show to a client: it never carries internals.
  const std::string& message() const { return message_; }
  const std::vector<FieldError>& field_errors() const { return fields_; }

  // Returns "NotFound: user 7 does not exist" style text, for logs and tests.
  std::string ToString() const;

 private:
  Status(StatusCode code, std::string msg, std::vector<FieldError> fields = {})
      : code_(code), message_(std::move(msg)), fields_(std::move(fields)) {}

  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::vector<FieldError> fields_;
};

// Either a value or a non-OK Status.
template <typename T>
class StatusOr {
 public:
  StatusOr(T value) : v_(std::move(value)) {}  // NOLINT: implicit on purpose
  StatusOr(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok() && "StatusOr needs a non-OK Status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  // REQUIRES: !ok()
  const Status& status() const { return std::get<Status>(v_); }
  // REQUIRES: ok()
  const T& value() const& { return std::get<T>(v_); }
  T& value() & { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace mitos

#endif  // MITOS_BASE_STATUS_H_
