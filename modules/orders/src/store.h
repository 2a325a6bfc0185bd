// Persistence of orders and their items in the module's own storage, on
// whichever backend its configuration names (SQLite or PostgreSQL).
#ifndef ORDERS_SRC_STORE_H_
#define ORDERS_SRC_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mitos/events/event.h"
#include "mitos/storage/storage.h"
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

// Every method returns what mitos::storage::StatusFor makes of a storage
// failure (InsufficientStorage on a full disk, StorageUnavailable while
// the database cannot be reached, say). Writes are coroutines that wait for
// their commit (mitos::storage::Write); reads never wait for the writer,
// and on SQLite answer with a ready task.
class OrderStore {
 public:
  // The module's schema history; append, never edit.
  static const std::vector<mitos::storage::Migration>& Migrations();

  explicit OrderStore(std::unique_ptr<mitos::storage::Database> db);

  // Writes the order and its items in one transaction, with status
  // "placed". InvalidArgument ("user_id") when the user is known here to be
  // deleted (a users.UserDeleted was handled). REQUIRES: fields already
  // validated, total_cents computed.
  mitos::Task<mitos::StatusOr<Order>> Insert(NewOrder order,
                                             int64_t total_cents,
                                             std::string now);
  // Returns the order with its items, or NotFound.
  mitos::Task<mitos::StatusOr<Order>> Find(int64_t id);
  // Returns up to page.limit orders with id > page.after (of `user_id` only
  // when given), each with its items; the items of the whole page are read
  // in one query. REQUIRES: 1 <= page.limit, page.after >= 0.
  mitos::Task<mitos::StatusOr<mitos::Page<Order>>> List(
      std::optional<int64_t> user_id, mitos::PageRequest page);
  // Applies CancelActionFor to the order's current status atomically:
  // NotFound, FailedPrecondition, the unchanged order, or the order
  // cancelled with updated_at = now.
  mitos::Task<mitos::StatusOr<Order>> Cancel(int64_t id, std::string now);

  // The effect of users.UserDeleted, inside the caller's transaction on
  // this store's database: remembers the user as deleted (so that no order
  // is placed for it afterwards, even one whose check of the user raced the
  // deletion) and cancels the user's placed orders with updated_at = now.
  // Returns the number of orders cancelled.
  static int64_t CancelOrdersOfDeletedUser(mitos::storage::Tx& tx,
                                           int64_t user_id,
                                           const std::string& now);

  // The database, for the event bus (its inbox is here).
  mitos::storage::Database* database() { return db_.get(); }

 private:
  std::unique_ptr<mitos::storage::Database> db_;
};

}  // namespace orders

#endif  // ORDERS_SRC_STORE_H_
