// UsersApi over HTTP: the binding the runtime hands to other modules when
// the users module runs in another process.
#ifndef USERS_SRC_CLIENT_H_
#define USERS_SRC_CLIENT_H_

#include <memory>

#include "mitos/remote/remote.h"
#include "users/api.h"

namespace users {

class UsersClient : public UsersApi {
 public:
  explicit UsersClient(std::shared_ptr<mitos::remote::Channel> channel);

  mitos::StatusOr<User> Create(const NewUser& user) override;
  mitos::StatusOr<User> Get(int64_t id) override;
  mitos::StatusOr<UserPage> List(int limit, int64_t after) override;
  mitos::StatusOr<User> Update(int64_t id, const UserPatch& patch) override;
  mitos::Status Remove(int64_t id) override;

 private:
  std::shared_ptr<mitos::remote::Channel> channel_;
};

}  // namespace users

#endif  // USERS_SRC_CLIENT_H_
