#include "orders/module.h"

#include "mitos/observability/log.h"
#include "orders/contract.h"
#include "service.h"
#include "store.h"
#include "users/api.h"
#include "users/events.h"

namespace orders {
namespace {

class OrdersModule : public mitos::Module {
 public:
  mitos::Status Start(mitos::ModuleContext& ctx) override {
    auto db = ctx.OpenStorage(OrderStore::Migrations());
    if (!db.ok()) return db.status();
    reads_ = (*db)->ReadsInPlace() ? mitos::http::Reads::kInPlace
                                   : mitos::http::Reads::kLater;
    auto users = ctx.Get<users::UsersApi>("users");
    if (users == nullptr) {
      return mitos::Status::Internal(
          "module \"orders\" needs the API of module \"users\", which was "
          "not provided");
    }
    auto store = std::make_unique<OrderStore>(std::move(*db));
    // A deleted user's placed orders are cancelled, once per deletion.
    users::events::Subscribe<users::UserDeleted>(
        ctx.Events(), "orders", store->database(),
        [](const users::UserDeleted& e, mitos::storage::Tx& tx) {
          OrderStore::CancelOrdersOfDeletedUser(tx, e.id, mitos::log::NowRfc3339());
          return mitos::Status::Ok();
        });
    service_ = std::make_shared<OrdersService>(
        std::move(store), std::move(users), mitos::log::NowRfc3339);
    contract::Provide(ctx, service_);
    return mitos::Status::Ok();
  }

  void RegisterRoutes(mitos::http::Router& router) override {
    contract::RegisterRoutes(*service_, router, reads_);
  }

  bool Ready() const override { return service_ != nullptr; }

  void Stop() override { service_.reset(); }

 private:
  std::shared_ptr<OrdersService> service_;
  // Whether its storage answers reads in place (SQLite) or later.
  mitos::http::Reads reads_ = mitos::http::Reads::kInPlace;
};

}  // namespace

mitos::ModuleSpec Spec() {
  return contract::Spec([](const mitos::config::Config&) {
    return std::make_unique<OrdersModule>();
  });
}

}  // namespace orders
