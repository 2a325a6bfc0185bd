// OrdersApi over HTTP: the binding the runtime hands to other modules when
// the orders module runs in another process.
#ifndef ORDERS_SRC_CLIENT_H_
#define ORDERS_SRC_CLIENT_H_

#include <memory>

#include "mitos/remote/remote.h"
#include "orders/api.h"

namespace orders {

class OrdersClient : public OrdersApi {
 public:
  explicit OrdersClient(std::shared_ptr<mitos::remote::Channel> channel);

  mitos::StatusOr<Order> Place(const NewOrder& order) override;
  mitos::StatusOr<Order> Get(int64_t id) override;
  mitos::StatusOr<OrderPage> List(std::optional<int64_t> user_id, int limit,
                                  int64_t after) override;
  mitos::StatusOr<Order> Cancel(int64_t id) override;

 private:
  std::shared_ptr<mitos::remote::Channel> channel_;
};

}  // namespace orders

#endif  // ORDERS_SRC_CLIENT_H_
