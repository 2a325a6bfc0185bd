#include "store.h"

#include <map>

namespace orders {
namespace {

using mitos::sqlite::Connection;

// Columns of the order row, in this order, in every SELECT below.
#define ORDER_COLUMNS "id, user_id, status, total_cents, created_at, updated_at"

Order Row(SQLite::Statement& st) {
  Order o;
  o.id = st.getColumn(0).getInt64();
  o.user_id = st.getColumn(1).getInt64();
  o.status = st.getColumn(2).getString();
  o.total_cents = st.getColumn(3).getInt64();
  o.created_at = st.getColumn(4).getString();
  o.updated_at = st.getColumn(5).getString();
  return o;
}

mitos::Status NoSuchOrder(int64_t id) {
  return mitos::Status::NotFound("Order " + std::to_string(id) +
                                 " does not exist.");
}

// Reads the items of one order, in line order.
void LoadItems(Connection& c, Order& o) {
  auto& st = c.Prepare(
      "SELECT sku, quantity, unit_price_cents FROM order_items "
      "WHERE order_id = ? ORDER BY line");
  st.bind(1, o.id);
  while (st.executeStep()) {
    o.items.push_back(Item{st.getColumn(0).getString(),
                           st.getColumn(1).getInt64(),
                           st.getColumn(2).getInt64()});
  }
}

// Reads the items of every order of `orders` with a single query.
void LoadItems(Connection& c, std::vector<Order>& orders) {
  if (orders.empty()) return;
  std::string ids = "[";
  std::map<int64_t, Order*> by_id;
  for (auto& o : orders) {
    if (ids.size() > 1) ids += ',';
    ids += std::to_string(o.id);
    by_id[o.id] = &o;
  }
  ids += ']';
  auto& st = c.Prepare(
      "SELECT order_id, sku, quantity, unit_price_cents FROM order_items "
      "WHERE order_id IN (SELECT value FROM json_each(?)) "
      "ORDER BY order_id, line");
  st.bind(1, ids);
  while (st.executeStep()) {
    auto it = by_id.find(st.getColumn(0).getInt64());
    if (it == by_id.end()) continue;
    it->second->items.push_back(Item{st.getColumn(1).getString(),
                                     st.getColumn(2).getInt64(),
                                     st.getColumn(3).getInt64()});
  }
}

// The statements of each write, run on the writer thread inside its
// transaction.
mitos::StatusOr<Order> InsertRows(Connection& c, const NewOrder& in,
                                  int64_t total_cents, const std::string& now) {
  auto& st = c.Prepare(
      "INSERT INTO orders (user_id, status, total_cents, created_at, "
      "updated_at) VALUES (?, 'placed', ?, ?, ?)");
  st.bind(1, in.user_id);
  st.bind(2, total_cents);
  st.bind(3, now);
  st.bind(4, now);
  st.exec();
  Order o{c.db().getLastInsertRowid(), in.user_id, in.items, total_cents,
          kPlaced, now, now};
  auto& item = c.Prepare(
      "INSERT INTO order_items (order_id, line, sku, quantity, "
      "unit_price_cents) VALUES (?, ?, ?, ?, ?)");
  for (size_t i = 0; i < in.items.size(); ++i) {
    item.reset();
    item.clearBindings();
    item.bind(1, o.id);
    item.bind(2, static_cast<int64_t>(i) + 1);
    item.bind(3, in.items[i].sku);
    item.bind(4, in.items[i].quantity);
    item.bind(5, in.items[i].unit_price_cents);
    item.exec();
  }
  return o;
}

mitos::StatusOr<Order> CancelRow(Connection& c, int64_t id,
                                 const std::string& now) {
  auto& st = c.Prepare("SELECT " ORDER_COLUMNS " FROM orders WHERE id = ?");
  st.bind(1, id);
  if (!st.executeStep()) return NoSuchOrder(id);
  Order o = Row(st);
  st.reset();
  switch (CancelActionFor(o.status)) {
    case CancelAction::kUnchanged:
      break;
    case CancelAction::kForbidden:
      return mitos::Status::FailedPrecondition(
          "Order " + std::to_string(id) + " is " + o.status +
          " and cannot be cancelled.");
    case CancelAction::kCancel: {
      auto& up = c.Prepare(
          "UPDATE orders SET status = 'cancelled', updated_at = ? "
          "WHERE id = ?");
      up.bind(1, now);
      up.bind(2, id);
      up.exec();
      o.status = kCancelled;
      o.updated_at = now;
      break;
    }
  }
  LoadItems(c, o);
  return o;
}

}  // namespace

CancelAction CancelActionFor(std::string_view status) {
  if (status == kPlaced) return CancelAction::kCancel;
  if (status == kCancelled) return CancelAction::kUnchanged;
  return CancelAction::kForbidden;
}

const std::vector<mitos::sqlite::Migration>& OrderStore::Migrations() {
  static const std::vector<mitos::sqlite::Migration> kMigrations = {
      {1, "orders and their items",
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
      )sql"},
  };
  return kMigrations;
}

OrderStore::OrderStore(std::unique_ptr<mitos::sqlite::Database> db)
    : db_(std::move(db)) {}

mitos::Task<mitos::StatusOr<Order>> OrderStore::Insert(NewOrder in,
                                                      int64_t total_cents,
                                                      std::string now) {
  // The writer thread runs `insert` after this frame may have gone: it owns
  // what it uses.
  auto insert = [in = std::move(in), total_cents,
                 now = std::move(now)](Connection& c) {
    return InsertRows(c, in, total_cents, now);
  };
  co_return co_await mitos::sqlite::Write<mitos::StatusOr<Order>>(
      *db_, insert, &mitos::sqlite::StatusFor);
}

mitos::StatusOr<Order> OrderStore::Find(int64_t id) {
  try {
    return db_->Read(
        [&](Connection& c) -> mitos::StatusOr<Order> {
          auto& st = c.Prepare("SELECT " ORDER_COLUMNS
                               " FROM orders WHERE id = ?");
          st.bind(1, id);
          if (!st.executeStep()) return NoSuchOrder(id);
          Order o = Row(st);
          st.reset();
          LoadItems(c, o);
          return o;
        });
  } catch (const SQLite::Exception& e) {
    return mitos::sqlite::StatusFor(e);
  }
}

mitos::StatusOr<mitos::Page<Order>> OrderStore::List(
    std::optional<int64_t> user_id, mitos::PageRequest page) {
  try {
    return db_->Read([&](Connection& c) {
      SQLite::Statement* st;
      if (user_id) {
        st = &c.Prepare("SELECT " ORDER_COLUMNS
                        " FROM orders WHERE user_id = ? AND id > ? "
                        "ORDER BY id LIMIT ?");
        st->bind(1, *user_id);
        st->bind(2, page.after);
        st->bind(3, page.limit + 1);
      } else {
        st = &c.Prepare("SELECT " ORDER_COLUMNS
                        " FROM orders WHERE id > ? ORDER BY id LIMIT ?");
        st->bind(1, page.after);
        st->bind(2, page.limit + 1);
      }
      mitos::Page<Order> out;
      while (st->executeStep()) out.items.push_back(Row(*st));
      st->reset();
      if (static_cast<int>(out.items.size()) > page.limit) {
        out.items.pop_back();
        out.next_after = out.items.back().id;
      }
      LoadItems(c, out.items);
      return mitos::StatusOr<mitos::Page<Order>>(std::move(out));
    });
  } catch (const SQLite::Exception& e) {
    return mitos::sqlite::StatusFor(e);
  }
}

mitos::Task<mitos::StatusOr<Order>> OrderStore::Cancel(int64_t id,
                                                      std::string now) {
  auto cancel = [id, now = std::move(now)](Connection& c) {
    return CancelRow(c, id, now);
  };
  co_return co_await mitos::sqlite::Write<mitos::StatusOr<Order>>(
      *db_, cancel, &mitos::sqlite::StatusFor);
}

}  // namespace orders

#undef ORDER_COLUMNS
