// The orders module's contract: the only header of the module that other
// modules may include.
//
// OrdersApi is implemented in-process by the module and, where the module
// runs in another process, by an HTTP client; a remote binding adds only
// Unavailable and DeadlineExceeded to the statuses below.
#ifndef ORDERS_API_H_
#define ORDERS_API_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mitos/base/json.h"
#include "mitos/base/status.h"
#include "mitos/http/http.h"

namespace orders {

struct Item {
  std::string sku;               // 1..64 characters
  int64_t quantity = 0;          // 1..1000
  int64_t unit_price_cents = 0;  // 0..1,000,000,000
};

struct Order {
  int64_t id = 0;
  int64_t user_id = 0;
  std::vector<Item> items;   // 1..50, in the order given
  int64_t total_cents = 0;   // sum of quantity * unit_price_cents
  std::string status;        // "placed" or "cancelled"
  std::string created_at;    // RFC 3339 UTC with milliseconds
  std::string updated_at;
};

struct NewOrder {
  int64_t user_id = 0;
  std::vector<Item> items;
};

struct OrderPage {
  std::vector<Order> items;           // ordered by id
  std::optional<int64_t> next_after;  // pass as `after` for the next page
};

inline constexpr int kMaxPageSize = 100;
inline constexpr int kDefaultPageSize = 20;
inline constexpr int kMaxItems = 50;

class OrdersApi {
 public:
  virtual ~OrdersApi() = default;

  // Places an order for an existing user. Returns InvalidArgument with a
  // field error per bad field (including "user_id" when the user does not
  // exist), Unavailable when the users module cannot be reached, or
  // DeadlineExceeded when the caller's deadline passed. No order is written
  // unless the call returns OK.
  virtual mitos::StatusOr<Order> Place(const NewOrder& order) = 0;

  // Returns the order, or NotFound.
  virtual mitos::StatusOr<Order> Get(int64_t id) = 0;

  // Returns up to `limit` orders with id > `after`, ordered by id, only
  // those of `user_id` when given.
  // REQUIRES: 1 <= limit <= kMaxPageSize, after >= 0 (else InvalidArgument).
  virtual mitos::StatusOr<OrderPage> List(std::optional<int64_t> user_id,
                                          int limit, int64_t after) = 0;

  // Cancels a placed order; cancelling a cancelled order returns it
  // unchanged. Returns NotFound, or FailedPrecondition for an order in any
  // other state.
  virtual mitos::StatusOr<Order> Cancel(int64_t id) = 0;
};

// The wire form of an order, appended to `out`.
inline void AppendJson(const Order& o, std::string& out) {
  out += "{\"id\":" + std::to_string(o.id);
  out += ",\"user_id\":" + std::to_string(o.user_id);
  out += ",\"items\":[";
  for (size_t i = 0; i < o.items.size(); ++i) {
    if (i) out += ',';
    out += "{\"sku\":";
    mitos::AppendJsonString(out, o.items[i].sku);
    out += ",\"quantity\":" + std::to_string(o.items[i].quantity);
    out += ",\"unit_price_cents\":" +
           std::to_string(o.items[i].unit_price_cents) + "}";
  }
  out += "],\"total_cents\":" + std::to_string(o.total_cents);
  out += ",\"status\":";
  mitos::AppendJsonString(out, o.status);
  out += ",\"created_at\":";
  mitos::AppendJsonString(out, o.created_at);
  out += ",\"updated_at\":";
  mitos::AppendJsonString(out, o.updated_at);
  out += '}';
}

}  // namespace orders

#endif  // ORDERS_API_H_
