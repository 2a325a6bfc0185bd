#include "users/module.h"

#include "client.h"
#include "mitos/observability/log.h"
#include "observed.h"
#include "routes.h"
#include "service.h"
#include "store.h"

namespace users {
namespace {

class UsersModule : public mitos::Module {
 public:
  mitos::Status Start(mitos::ModuleContext& ctx) override {
    auto db = ctx.OpenDatabase(UserStore::Migrations());
    if (!db.ok()) return db.status();
    service_ = std::make_shared<UsersService>(
        std::make_unique<UserStore>(std::move(*db)), mitos::log::NowRfc3339);
    ctx.Provide<UsersApi>(service_);
    return mitos::Status::Ok();
  }

  void RegisterRoutes(mitos::http::Router& router) override {
    users::RegisterRoutes(*service_, router);
  }

  bool Ready() const override { return service_ != nullptr; }

  void Stop() override { service_.reset(); }

 private:
  std::shared_ptr<UsersService> service_;
};

}  // namespace

mitos::ModuleSpec Spec() {
  mitos::ModuleSpec s;
  s.name = "users";
  s.summary = "User accounts: /users (owns users.db)";
  s.route_prefixes = {"/users"};
  s.observe = mitos::Observed<UsersApi, ObservedUsers>();
  s.remote_api = mitos::RemoteBinding<UsersApi, UsersClient>();
  s.declare_config = [](mitos::config::Schema& schema) {
    mitos::sqlite::DeclareStorageConfig(schema, "users");
  };
  s.create = [](const mitos::config::Config&) {
    return std::make_unique<UsersModule>();
  };
  return s;
}

}  // namespace users
