// The in-process implementation of OrdersApi: the field rules, the check
// that the user exists (through users::UsersApi only), and the store.
// Tested as plain C++, without HTTP.
#ifndef ORDERS_SRC_SERVICE_H_
#define ORDERS_SRC_SERVICE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "orders/api.h"
#include "store.h"
#include "users/api.h"

namespace orders {

// Returns "items[i]." for building field names.
std::string ItemPrefix(size_t i);

// Returns the field errors of a new order, every one of them, with JSON
// paths as field names ("user_id", "items", "items[3].sku"); empty if valid.
std::vector<mitos::FieldError> ValidateNewOrder(const NewOrder& order);

class OrdersService : public OrdersApi {
 public:
  using Clock = std::function<std::string()>;  // RFC 3339 "now"

  // REQUIRES: users != nullptr.
  OrdersService(std::unique_ptr<OrderStore> store,
                std::shared_ptr<users::UsersApi> users, Clock clock);

  // Validates the order, asks users whether its user exists, checks that
  // the caller's deadline has not passed meanwhile, and writes it with its
  // total.
  mitos::Task<mitos::StatusOr<Order>> Place(NewOrder order) override;
  mitos::Task<mitos::StatusOr<Order>> Get(int64_t id) override;
  mitos::Task<mitos::StatusOr<mitos::Page<Order>>> List(
      std::optional<int64_t> user_id, mitos::PageRequest page) override;
  mitos::Task<mitos::StatusOr<Order>> Cancel(int64_t id) override;

 private:
  std::unique_ptr<OrderStore> store_;
  std::shared_ptr<users::UsersApi> users_;
  Clock clock_;
};

}  // namespace orders

#endif  // ORDERS_SRC_SERVICE_H_
