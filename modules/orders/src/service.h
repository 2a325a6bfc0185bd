// The in-process implementation of OrdersApi: validation rules, the check
// that the user exists (through users::UsersApi only), and the store.
// Tested as plain C++, without HTTP.
#ifndef ORDERS_SRC_SERVICE_H_
#define ORDERS_SRC_SERVICE_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "orders/api.h"
#include "store.h"
#include "users/api.h"

namespace orders {

inline constexpr int kMaxSkuLength = 64;          // code points
inline constexpr int64_t kMaxQuantity = 1000;
inline constexpr int64_t kMaxUnitPriceCents = 1'000'000'000;

// Each returns an error message for a bad value, or "".
std::string CheckUserId(int64_t user_id);
std::string CheckItemCount(size_t n);
// 1..64 code points of valid UTF-8, without control characters (C0, DEL
// or C1).
std::string CheckSku(std::string_view sku);
std::string CheckQuantity(int64_t quantity);
std::string CheckUnitPrice(int64_t unit_price_cents);

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

  mitos::StatusOr<Order> Place(const NewOrder& order) override;
  mitos::StatusOr<Order> Get(int64_t id) override;
  mitos::StatusOr<OrderPage> List(std::optional<int64_t> user_id, int limit,
                                  int64_t after) override;
  mitos::StatusOr<Order> Cancel(int64_t id) override;

  // As Place and Cancel, for the module's own routes: `done` gets the same
  // result once the write has committed (where
  // mitos::sqlite::Database::WriteTxAsync says), or at once when the order
  // is refused. PlaceAsync checks the user before it returns: on a thread
  // that may block when users is remote.
  void PlaceAsync(const NewOrder& order, Callback<Order> done);
  void CancelAsync(int64_t id, Callback<Order> done);

 private:
  // Validates `order`, checks that its user exists and that its deadline
  // has not passed, and computes its total.
  mitos::Status Admit(const NewOrder& order, int64_t* total_cents);

  std::unique_ptr<OrderStore> store_;
  std::shared_ptr<users::UsersApi> users_;
  Clock clock_;
};

}  // namespace orders

#endif  // ORDERS_SRC_SERVICE_H_
