// The OrdersApi as seen by another module: every call observed (a span and
// metrics) on its way to the local service or the remote client.
#ifndef MITOS_MODULES_ORDERS_SRC_OBSERVED_H_
#define MITOS_MODULES_ORDERS_SRC_OBSERVED_H_

#include <memory>
#include <optional>

#include "mitos/observability/observe.h"
#include "orders/api.h"

namespace orders {

class ObservedOrders : public OrdersApi {
 public:
  ObservedOrders(std::shared_ptr<OrdersApi> api,
                 std::shared_ptr<mitos::CallSite> site)
      : api_(std::move(api)), site_(std::move(site)) {}

  mitos::StatusOr<Order> Place(const NewOrder& order) override {
    return site_->Observe("Place", [&] { return api_->Place(order); });
  }
  mitos::StatusOr<Order> Get(int64_t id) override {
    return site_->Observe("Get", [&] { return api_->Get(id); });
  }
  mitos::StatusOr<OrderPage> List(std::optional<int64_t> user_id, int limit,
                                  int64_t after) override {
    return site_->Observe("List",
                          [&] { return api_->List(user_id, limit, after); });
  }
  mitos::StatusOr<Order> Cancel(int64_t id) override {
    return site_->Observe("Cancel", [&] { return api_->Cancel(id); });
  }

 private:
  std::shared_ptr<OrdersApi> api_;
  std::shared_ptr<mitos::CallSite> site_;
};

}  // namespace orders

#endif  // MITOS_MODULES_ORDERS_SRC_OBSERVED_H_
