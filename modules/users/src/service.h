// The in-process implementation of UsersApi: the field rules and the store.
// Tested as plain C++, without HTTP.
#ifndef USERS_SRC_SERVICE_H_
#define USERS_SRC_SERVICE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "store.h"
#include "users/api.h"

namespace users {

// Returns the field errors of a new user, every one of them; empty if
// valid.
std::vector<mitos::FieldError> ValidateNewUser(const NewUser& user);
// As ValidateNewUser, for the fields a patch sets.
std::vector<mitos::FieldError> ValidatePatch(const UserPatch& patch);

class UsersService : public UsersApi {
 public:
  using Clock = std::function<std::string()>;  // RFC 3339 "now"

  UsersService(std::unique_ptr<UserStore> store, Clock clock);

  mitos::Task<mitos::StatusOr<User>> Create(NewUser user) override;
  mitos::Task<mitos::StatusOr<User>> Get(int64_t id) override;
  mitos::Task<mitos::StatusOr<mitos::Page<User>>> List(
      mitos::PageRequest page) override;
  mitos::Task<mitos::StatusOr<User>> Update(int64_t id,
                                            UserPatch patch) override;
  mitos::Task<mitos::Status> Remove(int64_t id) override;

 private:
  std::unique_ptr<UserStore> store_;
  Clock clock_;
};

}  // namespace users

#endif  // USERS_SRC_SERVICE_H_
