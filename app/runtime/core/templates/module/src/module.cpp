#include "@module@/module.h"

#include "@module@/contract.h"
#include "mitos/observability/log.h"
#include "service.h"

namespace @module@ {
namespace {

class @Module@Module : public mitos::Module {
 public:
  mitos::Status Start(mitos::ModuleContext& ctx) override {
    auto db = ctx.OpenStorage(@Module@Service::Migrations());
    if (!db.ok()) return db.status();
    reads_ = (*db)->ReadsInPlace() ? mitos::http::Reads::kInPlace
                                   : mitos::http::Reads::kLater;
    service_ = std::make_shared<@Module@Service>(std::move(*db),
                                                 mitos::log::NowRfc3339);
    contract::Provide(ctx, service_);
    return mitos::Status::Ok();
  }
  void RegisterRoutes(mitos::http::Router& router) override {
    contract::RegisterRoutes(*service_, router, reads_);
  }
  bool Ready() const override { return service_ != nullptr; }
  void Stop() override { service_.reset(); }

 private:
  std::shared_ptr<@Module@Service> service_;
  // Whether its storage answers reads in place (SQLite) or later.
  mitos::http::Reads reads_ = mitos::http::Reads::kInPlace;
};

}  // namespace

mitos::ModuleSpec Spec() {
  return contract::Spec([](const mitos::config::Config&) {
    return std::make_unique<@Module@Module>();
  });
}

}  // namespace @module@
