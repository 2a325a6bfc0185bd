// The UsersApi as seen by another module: every call observed (a span and
// metrics) on its way to the local service or the remote client.
#ifndef MITOS_MODULES_USERS_SRC_OBSERVED_H_
#define MITOS_MODULES_USERS_SRC_OBSERVED_H_

#include <memory>

#include "mitos/observability/observe.h"
#include "users/api.h"

namespace users {

class ObservedUsers : public UsersApi {
 public:
  ObservedUsers(std::shared_ptr<UsersApi> api,
                std::shared_ptr<mitos::CallSite> site)
      : api_(std::move(api)), site_(std::move(site)) {}

  mitos::StatusOr<User> Create(const NewUser& user) override {
    return site_->Observe("Create", [&] { return api_->Create(user); });
  }
  mitos::StatusOr<User> Get(int64_t id) override {
    return site_->Observe("Get", [&] { return api_->Get(id); });
  }
  mitos::StatusOr<UserPage> List(int limit, int64_t after) override {
    return site_->Observe("List", [&] { return api_->List(limit, after); });
  }
  mitos::StatusOr<User> Update(int64_t id, const UserPatch& patch) override {
    return site_->Observe("Update", [&] { return api_->Update(id, patch); });
  }
  mitos::Status Remove(int64_t id) override {
    return site_->Observe("Remove", [&] { return api_->Remove(id); });
  }

 private:
  std::shared_ptr<UsersApi> api_;
  std::shared_ptr<mitos::CallSite> site_;
};

}  // namespace users

#endif  // MITOS_MODULES_USERS_SRC_OBSERVED_H_
