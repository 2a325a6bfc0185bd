#include "store.h"

#include <map>

namespace orders {
namespace {

using mitos::storage::Tx;

// Columns of the order row, in this order, in every SELECT below.
#define ORDER_COLUMNS "id, user_id, status, total_cents, created_at, updated_at"

Order Row(const mitos::storage::Row& r) {
  Order o;
  o.id = r.Int(0);
  o.user_id = r.Int(1);
  o.status = r.String(2);
  o.total_cents = r.Int(3);
  o.created_at = r.String(4);
  o.updated_at = r.String(5);
  return o;
}

mitos::Status NoSuchOrder(int64_t id) {
  return mitos::Status::NotFound("Order " + std::to_string(id) +
                                 " does not exist.");
}

// Reads the items of one order, in line order.
void LoadItems(Tx& tx, Order& o) {
  tx.ForEach(
      "SELECT sku, quantity, unit_price_cents FROM order_items "
      "WHERE order_id = $1 ORDER BY line",
      {o.id}, [&](const mitos::storage::Row& r) {
        o.items.push_back(Item{r.String(0), r.Int(1), r.Int(2)});
      });
}

// Reads the items of every order of a page with a single query: the
// page's orders are selected again, by the same condition, in the read's
// snapshot, so that the query is the same on every backend.
void LoadItems(Tx& tx, std::vector<Order>& orders,
               std::optional<int64_t> user_id, mitos::PageRequest page) {
  if (orders.empty()) return;
  std::map<int64_t, Order*> by_id;
  for (auto& o : orders) by_id[o.id] = &o;
  auto add = [&](const mitos::storage::Row& r) {
    auto it = by_id.find(r.Int(0));
    if (it == by_id.end()) return;  // the one past the page
    it->second->items.push_back(Item{r.String(1), r.Int(2), r.Int(3)});
  };
  if (user_id) {
    tx.ForEach(
        "SELECT order_id, sku, quantity, unit_price_cents FROM order_items "
        "WHERE order_id IN (SELECT id FROM orders WHERE user_id = $1 AND "
        "id > $2 ORDER BY id LIMIT $3) ORDER BY order_id, line",
        {*user_id, page.after, page.limit + 1}, add);
  } else {
    tx.ForEach(
        "SELECT order_id, sku, quantity, unit_price_cents FROM order_items "
        "WHERE order_id IN (SELECT id FROM orders WHERE id > $1 "
        "ORDER BY id LIMIT $2) ORDER BY order_id, line",
        {page.after, page.limit + 1}, add);
  }
}

// The statements of each write, run on a storage thread inside its
// transaction.
mitos::StatusOr<Order> InsertRows(Tx& tx, const NewOrder& in,
                                  int64_t total_cents, const std::string& now) {
  // In the same transaction as the insert, so that of an order and the
  // handling of its user's deletion one comes first: either the order is in
  // before and gets cancelled, or it is refused here. The SQLite writer
  // runs one write at a time; on PostgreSQL the lock, which the handler
  // takes in a mode that conflicts with this one, orders them.
  if (tx.backend() == mitos::storage::Backend::kPostgres) {
    tx.Exec("LOCK TABLE deleted_users IN SHARE MODE");
  }
  if (tx.Int("SELECT 1 FROM deleted_users WHERE user_id = $1", {in.user_id})) {
    return mitos::Status::InvalidArgument(
        "The order has invalid fields.", {{"user_id", "no user with this id"}});
  }
  const int64_t id = tx.Insert(
      "INSERT INTO orders (user_id, status, total_cents, created_at, "
      "updated_at) VALUES ($1, 'placed', $2, $3, $4)",
      {in.user_id, total_cents, now, now});
  Order o{id, in.user_id, in.items, total_cents, kPlaced, now, now};
  for (size_t i = 0; i < in.items.size(); ++i) {
    tx.Exec(
        "INSERT INTO order_items (order_id, line, sku, quantity, "
        "unit_price_cents) VALUES ($1, $2, $3, $4, $5)",
        {o.id, static_cast<int64_t>(i) + 1, in.items[i].sku,
         in.items[i].quantity, in.items[i].unit_price_cents});
  }
  return o;
}

mitos::StatusOr<Order> CancelRow(Tx& tx, int64_t id, const std::string& now) {
  auto found = tx.One<Order>(
      "SELECT " ORDER_COLUMNS " FROM orders WHERE id = $1", {id}, &Row);
  if (!found) return NoSuchOrder(id);
  Order o = std::move(*found);
  switch (CancelActionFor(o.status)) {
    case CancelAction::kUnchanged:
      break;
    case CancelAction::kForbidden:
      return mitos::Status::FailedPrecondition(
          "Order " + std::to_string(id) + " is " + o.status +
          " and cannot be cancelled.");
    case CancelAction::kCancel:
      // Of two cancels at once on PostgreSQL, the second finds the order
      // cancelled already (the condition is checked again on the locked
      // row) and keeps the first one's updated_at.
      if (tx.Exec("UPDATE orders SET status = 'cancelled', updated_at = $1 "
                  "WHERE id = $2 AND status = 'placed'",
                  {now, id}) > 0) {
        o.updated_at = now;
      } else {
        o = *tx.One<Order>(
            "SELECT " ORDER_COLUMNS " FROM orders WHERE id = $1", {id}, &Row);
      }
      o.status = kCancelled;
      break;
  }
  LoadItems(tx, o);
  return o;
}

}  // namespace

CancelAction CancelActionFor(std::string_view status) {
  if (status == kPlaced) return CancelAction::kCancel;
  if (status == kCancelled) return CancelAction::kUnchanged;
  return CancelAction::kForbidden;
}

const std::vector<mitos::storage::Migration>& OrderStore::Migrations() {
  static const std::vector<mitos::storage::Migration> kMigrations = {
      {1, "orders and their items", "",
       R"sql(
        CREATE TABLE orders (
          id          INTEGER PRIMARY KEY AUTOINCREMENT,
          user_id     INTEGER NOT NULL,
          status      TEXT NOT NULL CHECK (status IN ('placed', 'cancelled')),
          total_cents INTEGER NOT NULL,
          created_at  TEXT NOT NULL,
          updated_at  TEXT NOT NULL
        );
        CREATE INDEX orders_user_id ON orders (user_id, id);
        CREATE TABLE order_items (
          order_id         INTEGER NOT NULL REFERENCES orders (id),
          line             INTEGER NOT NULL,
          sku              TEXT NOT NULL,
          quantity         INTEGER NOT NULL,
          unit_price_cents INTEGER NOT NULL,
          PRIMARY KEY (order_id, line)
        ) WITHOUT ROWID;
      )sql",
       R"sql(
        CREATE TABLE orders (
          id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          user_id     BIGINT NOT NULL,
          status      TEXT NOT NULL CHECK (status IN ('placed', 'cancelled')),
          total_cents BIGINT NOT NULL,
          created_at  TEXT NOT NULL,
          updated_at  TEXT NOT NULL
        );
        CREATE INDEX orders_user_id ON orders (user_id, id);
        CREATE TABLE order_items (
          order_id         BIGINT NOT NULL REFERENCES orders (id),
          line             INTEGER NOT NULL,
          sku              TEXT NOT NULL,
          quantity         BIGINT NOT NULL,
          unit_price_cents BIGINT NOT NULL,
          PRIMARY KEY (order_id, line)
        );
      )sql"},
      mitos::events::InboxMigration(2),
      {3, "users known to be deleted (from users.UserDeleted)", "",
       R"sql(
        CREATE TABLE deleted_users (
          user_id    INTEGER PRIMARY KEY,
          deleted_at TEXT NOT NULL
        );
      )sql",
       R"sql(
        CREATE TABLE deleted_users (
          user_id    BIGINT PRIMARY KEY,
          deleted_at TEXT NOT NULL
        );
      )sql"},
  };
  return kMigrations;
}

int64_t OrderStore::CancelOrdersOfDeletedUser(Tx& tx, int64_t user_id,
                                              const std::string& now) {
  // See InsertRows: no order of the user commits between this and the
  // commit of the cancellation.
  if (tx.backend() == mitos::storage::Backend::kPostgres) {
    tx.Exec("LOCK TABLE deleted_users IN EXCLUSIVE MODE");
  }
  tx.Exec(
      "INSERT INTO deleted_users (user_id, deleted_at) VALUES ($1, $2) "
      "ON CONFLICT (user_id) DO NOTHING",
      {user_id, now});
  return tx.Exec(
      "UPDATE orders SET status = 'cancelled', updated_at = $1 "
      "WHERE user_id = $2 AND status = 'placed'",
      {now, user_id});
}

OrderStore::OrderStore(std::unique_ptr<mitos::storage::Database> db)
    : db_(std::move(db)) {}

mitos::Task<mitos::StatusOr<Order>> OrderStore::Insert(NewOrder in,
                                                      int64_t total_cents,
                                                      std::string now) {
  // A storage thread runs `insert` after this frame may have gone: it owns
  // what it uses.
  auto insert = [in = std::move(in), total_cents,
                 now = std::move(now)](Tx& tx) {
    return InsertRows(tx, in, total_cents, now);
  };
  auto write = mitos::storage::Write<mitos::StatusOr<Order>>(*db_, insert);
  co_return co_await write;
}

mitos::Task<mitos::StatusOr<Order>> OrderStore::Find(int64_t id) {
  using R = mitos::StatusOr<Order>;
  return mitos::storage::ReadTask<R>(*db_, [id](Tx& tx) -> R {
    auto o = tx.One<Order>(
        "SELECT " ORDER_COLUMNS " FROM orders WHERE id = $1", {id}, &Row);
    if (!o) return NoSuchOrder(id);
    LoadItems(tx, *o);
    return std::move(*o);
  });
}

mitos::Task<mitos::StatusOr<mitos::Page<Order>>> OrderStore::List(
    std::optional<int64_t> user_id, mitos::PageRequest page) {
  using R = mitos::StatusOr<mitos::Page<Order>>;
  return mitos::storage::ReadTask<R>(*db_, [user_id, page](Tx& tx) -> R {
    mitos::Page<Order> out;
    if (user_id) {
      out.items = tx.All<Order>(
          "SELECT " ORDER_COLUMNS " FROM orders WHERE user_id = $1 AND "
          "id > $2 ORDER BY id LIMIT $3",
          {*user_id, page.after, page.limit + 1}, &Row);
    } else {
      out.items = tx.All<Order>(
          "SELECT " ORDER_COLUMNS " FROM orders WHERE id > $1 ORDER BY id "
          "LIMIT $2",
          {page.after, page.limit + 1}, &Row);
    }
    if (static_cast<int>(out.items.size()) > page.limit) {
      out.items.pop_back();
      out.next_after = out.items.back().id;
    }
    LoadItems(tx, out.items, user_id, page);
    return out;
  });
}

mitos::Task<mitos::StatusOr<Order>> OrderStore::Cancel(int64_t id,
                                                      std::string now) {
  auto cancel = [id, now = std::move(now)](Tx& tx) {
    return CancelRow(tx, id, now);
  };
  auto write = mitos::storage::Write<mitos::StatusOr<Order>>(*db_, cancel);
  co_return co_await write;
}

}  // namespace orders

#undef ORDER_COLUMNS
