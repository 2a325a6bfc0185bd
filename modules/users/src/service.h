// The in-process implementation of UsersApi: validation rules plus the
// store. Tested as plain C++, without HTTP.
#ifndef USERS_SRC_SERVICE_H_
#define USERS_SRC_SERVICE_H_

#include <functional>
#include <memory>
#include <string>

#include "store.h"
#include "users/api.h"

namespace users {

// Returns an error message if `email` is not a plausible address, or "".
// Plausible: at most 254 characters, one '@', a local part of 1..64
// characters without spaces or control characters, and a domain of at least
// two dot-separated labels of letters, digits and hyphens (or non-ASCII).
std::string CheckEmail(std::string_view email);

// Returns an error message if the trimmed `name` is not 1..100 characters
// without control characters, or "".
std::string CheckName(std::string_view trimmed_name);

// Returns the field errors of a new user (name trimmed first); empty if
// valid.
std::vector<mitos::FieldError> ValidateNewUser(const NewUser& user);
// As ValidateNewUser, for the fields a patch sets.
std::vector<mitos::FieldError> ValidatePatch(const UserPatch& patch);

class UsersService : public UsersApi {
 public:
  using Clock = std::function<std::string()>;  // RFC 3339 "now"

  UsersService(std::unique_ptr<UserStore> store, Clock clock);

  mitos::StatusOr<User> Create(const NewUser& user) override;
  mitos::StatusOr<User> Get(int64_t id) override;
  mitos::StatusOr<UserPage> List(int limit, int64_t after) override;
  mitos::StatusOr<User> Update(int64_t id, const UserPatch& patch) override;
  mitos::Status Remove(int64_t id) override;

  // As Create, Update and Remove, for the module's own routes: they return
  // at once, and `done` gets the same result once the write has committed
  // (where mitos::sqlite::Database::WriteTxAsync says), or at once when
  // validation fails.
  void CreateAsync(const NewUser& user, Callback<User> done);
  void UpdateAsync(int64_t id, const UserPatch& patch, Callback<User> done);
  void RemoveAsync(int64_t id, std::function<void(mitos::Status)> done);

 private:
  std::unique_ptr<UserStore> store_;
  Clock clock_;
};

}  // namespace users

#endif  // USERS_SRC_SERVICE_H_
