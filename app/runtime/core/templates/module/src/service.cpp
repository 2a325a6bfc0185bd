#include "service.h"

#include "mitos/http/validation.h"
#include "rules.h"

namespace @module@ {

std::string CheckName(std::string_view name) {
  std::string_view trimmed = mitos::TrimAscii(name);
  size_t n = mitos::Utf8Length(trimmed);
  if (n < 1 || n > kMaxNameLength) {
    return "must be 1 to " + std::to_string(kMaxNameLength) +
           " characters after trimming";
  }
  for (unsigned char c : trimmed) {
    if (c < 0x20 || c == 0x7F) return "must not contain control characters";
  }
  return "";
}

namespace {

using mitos::storage::Tx;

mitos::Status NoSuchItem(int64_t id) {
  return mitos::Status::NotFound("Item " + std::to_string(id) +
                                 " does not exist.");
}

Item Row(const mitos::storage::Row& r) {
  return Item{r.Int(0), r.String(1), r.String(2)};
}

// Storage failures keep their own statuses (507 for a full disk, 503 where a
// retry helps); only the unique name is this module's to explain.
mitos::StatusOr<Item> InsertFailed(const mitos::storage::Error& e) {
  if (e.unique_violation()) {
    return mitos::Status::AlreadyExists(
        "An item with this name already exists.",
        {{"name", "is already used by another item"}});
  }
  return mitos::storage::StatusFor(e);
}

}  // namespace

// The same SQL runs on SQLite and on PostgreSQL, but for the column of ids
// that are never reused, which each backend spells its own way.
const std::vector<mitos::storage::Migration>& @Module@Service::Migrations() {
  static const std::vector<mitos::storage::Migration> kMigrations = {
      {1, "items", "",
       "CREATE TABLE items ("
       " id INTEGER PRIMARY KEY AUTOINCREMENT,"
       " name TEXT NOT NULL UNIQUE,"
       " created_at TEXT NOT NULL)",
       "CREATE TABLE items ("
       " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
       " name TEXT NOT NULL UNIQUE,"
       " created_at TEXT NOT NULL)"},
  };
  return kMigrations;
}

@Module@Service::@Module@Service(std::unique_ptr<mitos::storage::Database> db,
                                 Clock clock)
    : db_(std::move(db)), clock_(std::move(clock)) {}

mitos::Task<mitos::StatusOr<Item>> @Module@Service::Create(NewItem in) {
  std::vector<mitos::FieldError> errors;
  mitos::http::Check(&errors, "name", CheckName(in.name));
  if (!errors.empty()) {
    co_return mitos::Status::InvalidArgument("The item has invalid fields.",
                                             std::move(errors));
  }
  Item item{0, std::string(mitos::TrimAscii(in.name)), clock_()};
  // Runs on a storage thread, after this frame may have gone: it owns what
  // it uses.
  auto insert = [item](Tx& tx) mutable -> mitos::StatusOr<Item> {
    item.id = tx.Insert(
        "INSERT INTO items (name, created_at) VALUES ($1, $2)",
        {item.name, item.created_at});
    return item;
  };
  auto write =
      mitos::storage::Write<mitos::StatusOr<Item>>(*db_, insert, &InsertFailed);
  co_return co_await write;
}

// Reads answer with a task that is ready at once on SQLite, with no
// coroutine frame, and that waits for the database on PostgreSQL.
mitos::Task<mitos::StatusOr<Item>> @Module@Service::Get(int64_t id) {
  using R = mitos::StatusOr<Item>;
  if (id <= 0) return mitos::Ready<R>(NoSuchItem(id));
  return mitos::storage::ReadTask<R>(*db_, [id](Tx& tx) -> R {
    auto item = tx.One<Item>(
        "SELECT id, name, created_at FROM items WHERE id = $1", {id}, &Row);
    if (!item) return NoSuchItem(id);
    return std::move(*item);
  });
}

mitos::Task<mitos::StatusOr<mitos::Page<Item>>> @Module@Service::List(
    mitos::PageRequest page) {
  using R = mitos::StatusOr<mitos::Page<Item>>;
  std::vector<mitos::FieldError> errors;
  mitos::CheckPaging(page.limit, page.after, 100, &errors);
  if (!errors.empty()) {
    return mitos::Ready<R>(mitos::Status::InvalidArgument(
        "Invalid paging parameters.", std::move(errors)));
  }
  return mitos::storage::ReadTask<R>(*db_, [page](Tx& tx) -> R {
    // One more than the page: whether it exists says if there is a next.
    mitos::Page<Item> out;
    out.items = tx.All<Item>(
        "SELECT id, name, created_at FROM items WHERE id > $1 "
        "ORDER BY id LIMIT $2",
        {page.after, page.limit + 1}, &Row);
    if (out.items.size() > static_cast<size_t>(page.limit)) {
      out.items.pop_back();
      out.next_after = out.items.back().id;
    }
    return out;
  });
}

}  // namespace @module@
