// Persistence of orders and their items in the module's own SQLite file.
#ifndef ORDERS_SRC_STORE_H_
#define ORDERS_SRC_STORE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mitos/storage/sqlite.h"
#include "orders/api.h"

namespace orders {

inline constexpr const char* kPlaced = "placed";
inline constexpr const char* kCancelled = "cancelled";

// What cancelling an order in `status` does.
enum class CancelAction {
  kCancel,     // placed -> cancelled
  kUnchanged,  // already cancelled: return the order as it is
  kForbidden,  // any other state: FailedPrecondition
};
CancelAction CancelActionFor(std::string_view status);

// Receives the result of an asynchronous write, where
// mitos::sqlite::Database::WriteTxAsync says.
template <typename T>
using Callback = std::function<void(mitos::StatusOr<T>)>;

class OrderStore {
 public:
  // The module's schema history; append, never edit.
  static const std::vector<mitos::sqlite::Migration>& Migrations();

  explicit OrderStore(std::unique_ptr<mitos::sqlite::Database> db);

  // Writes the order and its items in one transaction, with status
  // "placed". REQUIRES: fields already validated, total_cents computed.
  // Every method returns what mitos::sqlite::StatusFor makes of a storage
  // failure (InsufficientStorage on a full disk, say).
  mitos::StatusOr<Order> Insert(const NewOrder& o, int64_t total_cents,
                                const std::string& now);
  // Returns the order with its items, or NotFound.
  mitos::StatusOr<Order> Find(int64_t id);
  // Returns up to `limit` orders with id > `after` (of `user_id` only when
  // given), each with its items; the items of the whole page are read in one
  // query. REQUIRES: 1 <= limit, after >= 0.
  mitos::StatusOr<OrderPage> List(std::optional<int64_t> user_id, int limit,
                                  int64_t after);
  // Applies CancelActionFor to the order's current status atomically:
  // NotFound, FailedPrecondition, the unchanged order, or the order
  // cancelled with updated_at = now.
  mitos::StatusOr<Order> Cancel(int64_t id, const std::string& now);

  // As Insert and Cancel, without waiting for the commit: `done` gets the
  // same result afterwards.
  void InsertAsync(NewOrder o, int64_t total_cents, std::string now,
                   Callback<Order> done);
  void CancelAsync(int64_t id, std::string now, Callback<Order> done);

 private:
  std::unique_ptr<mitos::sqlite::Database> db_;
};

}  // namespace orders

#endif  // ORDERS_SRC_STORE_H_
