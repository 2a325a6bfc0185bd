#include "users/module.h"

#include "mitos/observability/log.h"
#include "service.h"
#include "store.h"
#include "users/contract.h"

namespace users {
namespace {

class UsersModule : public mitos::Module {
 public:
  mitos::Status Start(mitos::ModuleContext& ctx) override {
    auto db = ctx.OpenStorage(UserStore::Migrations());
    if (!db.ok()) return db.status();
    reads_ = (*db)->ReadsInPlace() ? mitos::http::Reads::kInPlace
                                   : mitos::http::Reads::kLater;
    // The store owns the database, which outlives the bus's dispatch.
    mitos::events::Notifier published = ctx.Events().AddOutbox("users", db->get());
    service_ = std::make_shared<UsersService>(
        std::make_unique<UserStore>(std::move(*db)), mitos::log::NowRfc3339,
        std::move(published));
    contract::Provide(ctx, service_);
    return mitos::Status::Ok();
  }

  void RegisterRoutes(mitos::http::Router& router) override {
    contract::RegisterRoutes(*service_, router, reads_);
  }

  bool Ready() const override { return service_ != nullptr; }

  void Stop() override { service_.reset(); }

 private:
  std::shared_ptr<UsersService> service_;
  // Whether its storage answers reads in place (SQLite) or later.
  mitos::http::Reads reads_ = mitos::http::Reads::kInPlace;
};

}  // namespace

mitos::ModuleSpec Spec() {
  return contract::Spec([](const mitos::config::Config&) {
    return std::make_unique<UsersModule>();
  });
}

}  // namespace users
