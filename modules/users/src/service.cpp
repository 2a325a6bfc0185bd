#include "service.h"

#include "mitos/http/validation.h"

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

}  // namespace

std::string CheckEmail(std::string_view email) {
  if (email.empty()) return "must not be empty";
  if (mitos::Utf8Length(email) > 254) return "must be at most 254 characters";
  auto at = email.find('@');
  if (at == std::string_view::npos || email.find('@', at + 1) != email.npos) {
    return "must contain exactly one '@'";
  }
  std::string_view local = email.substr(0, at);
  std::string_view domain = email.substr(at + 1);
  if (local.empty() || mitos::Utf8Length(local) > 64) {
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
  size_t n = mitos::Utf8Length(name);
  if (n < 1 || n > 100) return "must be 1 to 100 characters after trimming";
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7F) return "must not contain control characters";
  }
  return "";
}

std::vector<mitos::FieldError> ValidateNewUser(const NewUser& u) {
  std::vector<mitos::FieldError> errors;
  if (auto e = CheckName(mitos::TrimAscii(u.name)); !e.empty()) {
    errors.push_back({"name", e});
  }
  if (auto e = CheckEmail(u.email); !e.empty()) errors.push_back({"email", e});
  return errors;
}

std::vector<mitos::FieldError> ValidatePatch(const UserPatch& p) {
  std::vector<mitos::FieldError> errors;
  if (p.name) {
    if (auto e = CheckName(mitos::TrimAscii(*p.name)); !e.empty()) {
      errors.push_back({"name", e});
    }
  }
  if (p.email) {
    if (auto e = CheckEmail(*p.email); !e.empty()) {
      errors.push_back({"email", e});
    }
  }
  return errors;
}

UsersService::UsersService(std::unique_ptr<UserStore> store, Clock clock)
    : store_(std::move(store)), clock_(std::move(clock)) {}

namespace {

mitos::Status NoSuchUser(int64_t id) {
  return mitos::Status::NotFound("User " + std::to_string(id) +
                                 " does not exist.");
}

// Validates `in` and trims its name into `out`.
mitos::Status Admit(const NewUser& in, NewUser* out) {
  auto errors = ValidateNewUser(in);
  if (!errors.empty()) {
    return mitos::Status::InvalidArgument("The user has invalid fields.",
                                          std::move(errors));
  }
  *out = NewUser{std::string(mitos::TrimAscii(in.name)), in.email};
  return mitos::Status::Ok();
}

// Validates a patch of user `id` and trims its name into `out`.
mitos::Status Admit(int64_t id, const UserPatch& in, UserPatch* out) {
  auto errors = ValidatePatch(in);
  if (!errors.empty()) {
    return mitos::Status::InvalidArgument("The user has invalid fields.",
                                          std::move(errors));
  }
  if (id <= 0) return NoSuchUser(id);
  *out = in;
  if (out->name) out->name = std::string(mitos::TrimAscii(*out->name));
  return mitos::Status::Ok();
}

}  // namespace

mitos::StatusOr<User> UsersService::Create(const NewUser& in) {
  NewUser u;
  if (mitos::Status s = Admit(in, &u); !s.ok()) return s;
  return store_->Insert(u, clock_());
}

void UsersService::CreateAsync(const NewUser& in, Callback<User> done) {
  NewUser u;
  if (mitos::Status s = Admit(in, &u); !s.ok()) return done(s);
  store_->InsertAsync(std::move(u), clock_(), std::move(done));
}

mitos::StatusOr<User> UsersService::Get(int64_t id) {
  if (id <= 0) return NoSuchUser(id);
  return store_->Find(id);
}

mitos::StatusOr<UserPage> UsersService::List(int limit, int64_t after) {
  std::vector<mitos::FieldError> errors;
  mitos::CheckPaging(limit, after, kMaxPageSize, &errors);
  if (!errors.empty()) {
    return mitos::Status::InvalidArgument("Invalid paging parameters.",
                                          std::move(errors));
  }
  return store_->List(limit, after);
}

mitos::StatusOr<User> UsersService::Update(int64_t id, const UserPatch& in) {
  UserPatch p;
  if (mitos::Status s = Admit(id, in, &p); !s.ok()) return s;
  return store_->Update(id, p, clock_());
}

void UsersService::UpdateAsync(int64_t id, const UserPatch& in, Callback<User> done) {
  UserPatch p;
  if (mitos::Status s = Admit(id, in, &p); !s.ok()) return done(s);
  store_->UpdateAsync(id, std::move(p), clock_(), std::move(done));
}

mitos::Status UsersService::Remove(int64_t id) {
  if (id <= 0) return NoSuchUser(id);
  return store_->Remove(id);
}

void UsersService::RemoveAsync(int64_t id,
                               std::function<void(mitos::Status)> done) {
  if (id <= 0) return done(NoSuchUser(id));
  store_->RemoveAsync(id, std::move(done));
}

}  // namespace users
