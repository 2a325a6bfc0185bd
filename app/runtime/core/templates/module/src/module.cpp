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
    service_ = std::make_shared<@Module@Service>(std::move(*db),
                                                 mitos::log::NowRfc3339);
    contract::Provide(ctx, service_);
    return mitos::Status::Ok();
  }
  void RegisterRoutes(mitos::http::Router& router) override {
    contract::RegisterRoutes(*service_, router);
  }
  bool Ready() const override { return service_ != nullptr; }
  void Stop() override { service_.reset(); }

 private:
  std::shared_ptr<@Module@Service> service_;
};

}  // namespace

mitos::ModuleSpec Spec() {
  return contract::Spec([](const mitos::config::Config&) {
    return std::make_unique<@Module@Module>();
  });
}

}  // namespace @module@
