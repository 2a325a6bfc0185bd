#include "service.h"

#include "mitos/base/context.h"

#include "mitos/http/rest.h"
#include "mitos/http/validation.h"
#include "rules.h"
#include "users/events.h"

namespace users {
namespace {

bool IsLabelChar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '-' || c >= 0x80;
}

bool IsLocalChar(unsigned char c) {
  if (c >= 0x80) return true;  // internationalised addresses (RFC 6531)
  if (c <= 0x20 || c == 0x7F) return false;
  switch (c) {
    case '(': case ')': case ',': case ':': case ';': case '<': case '>':
    case '@': case '[': case '\\': case ']': case '"':
      return false;
    default:
      return true;
  }
}

// True iff `s` has more than `max` characters. A text of no more bytes
// has no more characters, so only longer ones are counted: the rules run on
// every write, twice for one that came over HTTP.
bool LongerThan(std::string_view s, size_t max) {
  return s.size() > max && mitos::Utf8Length(s) > max;
}

}  // namespace

std::string CheckEmail(std::string_view email) {
  if (email.empty()) return "must not be empty";
  if (LongerThan(email, 254)) return "must be at most 254 characters";
  auto at = email.find('@');
  if (at == std::string_view::npos || email.find('@', at + 1) != email.npos) {
    return "must contain exactly one '@'";
  }
  std::string_view local = email.substr(0, at);
  std::string_view domain = email.substr(at + 1);
  if (local.empty() || LongerThan(local, 64)) {
    return "must have 1 to 64 characters before '@'";
  }
  if (local.front() == '.' || local.back() == '.' ||
      local.find("..") != local.npos) {
    return "must not have leading, trailing or double dots before '@'";
  }
  for (unsigned char c : local) {
    if (!IsLocalChar(c)) return "has a character not allowed before '@'";
  }
  if (domain.find('.') == domain.npos) {
    return "must have a domain with a dot after '@'";
  }
  size_t start = 0;
  while (start <= domain.size()) {
    size_t end = domain.find('.', start);
    if (end == domain.npos) end = domain.size();
    std::string_view label = domain.substr(start, end - start);
    if (label.empty() || label.size() > 63) {
      return "has an empty or over-long domain label";
    }
    if (label.front() == '-' || label.back() == '-') {
      return "has a domain label starting or ending with '-'";
    }
    for (unsigned char c : label) {
      if (!IsLabelChar(c)) return "has a character not allowed in the domain";
    }
    start = end + 1;
  }
  return "";
}

std::string CheckName(std::string_view name) {
  name = mitos::TrimAscii(name);
  if (name.empty() || LongerThan(name, kMaxNameLength)) {
    return "must be 1 to " + std::to_string(kMaxNameLength) +
           " characters after trimming";
  }
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7F) return "must not contain control characters";
  }
  return "";
}

std::vector<mitos::FieldError> ValidateNewUser(const NewUser& u) {
  std::vector<mitos::FieldError> errors;
  mitos::http::Check(&errors, "name", CheckName(u.name));
  mitos::http::Check(&errors, "email", CheckEmail(u.email));
  return errors;
}

std::vector<mitos::FieldError> ValidatePatch(const UserPatch& p) {
  std::vector<mitos::FieldError> errors;
  if (p.name) mitos::http::Check(&errors, "name", CheckName(*p.name));
  if (p.email) mitos::http::Check(&errors, "email", CheckEmail(*p.email));
  return errors;
}

namespace {

mitos::Status NoSuchUser(int64_t id) {
  return mitos::Status::NotFound("User " + std::to_string(id) +
                                 " does not exist.");
}

// Who may read, change or delete user accounts other than their own.
constexpr const char* kAdminScope = "users:admin";

// The page of one caller who may see only their own account.
mitos::Task<mitos::StatusOr<mitos::Page<User>>> OwnPage(
    mitos::Task<mitos::StatusOr<User>> own) {
  mitos::StatusOr<User> user = co_await std::move(own);
  mitos::Page<User> page;
  if (user.ok()) {
    page.items.push_back(std::move(*user));
  } else if (user.status().code() != mitos::StatusCode::kNotFound) {
    co_return user.status();
  }
  co_return page;
}

mitos::Status Invalid(std::vector<mitos::FieldError> errors) {
  return mitos::Status::InvalidArgument("The user has invalid fields.",
                                        std::move(errors));
}

}  // namespace

UsersService::UsersService(std::unique_ptr<UserStore> store, Clock clock,
                           mitos::events::Notifier published)
    : store_(std::move(store)),
      clock_(std::move(clock)),
      published_(std::move(published)) {}

// Accounts are made by administrators (an identity provider's sign-up
// calls with users:admin); see docs/auth.md.
mitos::Task<mitos::StatusOr<User>> UsersService::Create(NewUser in) {
  if (!mitos::RequestContext::Current().caller.Has(kAdminScope)) {
    co_return mitos::Status::PermissionDenied(
        "Creating users needs the users:admin scope.");
  }
  auto errors = ValidateNewUser(in);
  if (!errors.empty()) co_return Invalid(std::move(errors));
  in.name = std::string(mitos::TrimAscii(in.name));
  co_return co_await store_->Insert(std::move(in), clock_());
}

// Reads answer with the store's task: ready at once on SQLite, with no
// coroutine frame (GET /users/{id} is the hot path). Another user's
// account answers as a missing one, so that ids cannot be probed.
mitos::Task<mitos::StatusOr<User>> UsersService::Get(int64_t id) {
  using R = mitos::StatusOr<User>;
  if (id <= 0 ||
      !mitos::RequestContext::Current().caller.MayActFor(id, kAdminScope)) {
    return mitos::Ready<R>(NoSuchUser(id));
  }
  return store_->Find(id);
}

mitos::Task<mitos::StatusOr<mitos::Page<User>>> UsersService::List(
    mitos::PageRequest page) {
  using R = mitos::StatusOr<mitos::Page<User>>;
  std::vector<mitos::FieldError> errors;
  mitos::CheckPaging(page.limit, page.after, kMaxPageSize, &errors);
  if (!errors.empty()) {
    return mitos::Ready<R>(mitos::Status::InvalidArgument(
        "Invalid paging parameters.", std::move(errors)));
  }
  const mitos::Caller& caller = mitos::RequestContext::Current().caller;
  if (caller.Has(kAdminScope)) return store_->List(page);
  // Everyone else sees a list of one: their own account.
  const int64_t own = caller.UserId();
  if (own <= page.after) return mitos::Ready<R>(mitos::Page<User>{});
  return OwnPage(store_->Find(own));
}

mitos::Task<mitos::StatusOr<User>> UsersService::Update(int64_t id,
                                                       UserPatch patch) {
  auto errors = ValidatePatch(patch);
  if (!errors.empty()) co_return Invalid(std::move(errors));
  if (id <= 0 ||
      !mitos::RequestContext::Current().caller.MayActFor(id, kAdminScope)) {
    co_return NoSuchUser(id);
  }
  if (patch.name) patch.name = std::string(mitos::TrimAscii(*patch.name));
  co_return co_await store_->Update(id, std::move(patch), clock_());
}

mitos::Task<mitos::Status> UsersService::Remove(int64_t id) {
  if (id <= 0 ||
      !mitos::RequestContext::Current().caller.MayActFor(id, kAdminScope)) {
    co_return NoSuchUser(id);
  }
  UserDeleted deleted;
  deleted.id = id;
  deleted.deleted_at = clock_();
  mitos::events::Event event = events::Make(deleted);
  mitos::Status s = co_await store_->Remove(id, std::move(event));
  if (s.ok() && published_) published_();
  co_return s;
}

}  // namespace users
