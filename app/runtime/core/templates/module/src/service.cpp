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

using mitos::sqlite::Connection;

mitos::Status NoSuchItem(int64_t id) {
  return mitos::Status::NotFound("Item " + std::to_string(id) +
                                 " does not exist.");
}

Item Row(SQLite::Statement& st) {
  return Item{st.getColumn(0).getInt64(), st.getColumn(1).getString(),
              st.getColumn(2).getString()};
}

// Storage failures keep their own statuses (507 for a full disk, 503 where a
// retry helps); only the unique name is this module's to explain.
mitos::StatusOr<Item> InsertFailed(const SQLite::Exception& e) {
  if (mitos::sqlite::IsUniqueViolation(e)) {
    return mitos::Status::AlreadyExists(
        "An item with this name already exists.",
        {{"name", "is already used by another item"}});
  }
  return mitos::sqlite::StatusFor(e);
}

}  // namespace

const std::vector<mitos::sqlite::Migration>& @Module@Service::Migrations() {
  static const std::vector<mitos::sqlite::Migration> kMigrations = {
      {1, "items",
       "CREATE TABLE items ("
       " id INTEGER PRIMARY KEY AUTOINCREMENT,"
       " name TEXT NOT NULL UNIQUE,"
       " created_at TEXT NOT NULL)"},
  };
  return kMigrations;
}

@Module@Service::@Module@Service(std::unique_ptr<mitos::sqlite::Database> db,
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
  auto insert = [item](Connection& c) mutable -> mitos::StatusOr<Item> {
    auto& st = c.Prepare("INSERT INTO items (name, created_at) VALUES (?, ?)");
    st.bind(1, item.name);
    st.bind(2, item.created_at);
    st.exec();
    item.id = c.db().getLastInsertRowid();
    return item;
  };
  co_return co_await mitos::sqlite::Write<mitos::StatusOr<Item>>(
      *db_, insert, &InsertFailed);
}

mitos::Task<mitos::StatusOr<Item>> @Module@Service::Get(int64_t id) {
  if (id <= 0) co_return NoSuchItem(id);
  co_return db_->Read([id](Connection& c) -> mitos::StatusOr<Item> {
    auto& st =
        c.Prepare("SELECT id, name, created_at FROM items WHERE id = ?");
    st.bind(1, id);
    if (!st.executeStep()) return NoSuchItem(id);
    return Row(st);
  });
}

mitos::Task<mitos::StatusOr<mitos::Page<Item>>> @Module@Service::List(
    mitos::PageRequest page) {
  std::vector<mitos::FieldError> errors;
  mitos::CheckPaging(page.limit, page.after, 100, &errors);
  if (!errors.empty()) {
    co_return mitos::Status::InvalidArgument("Invalid paging parameters.",
                                             std::move(errors));
  }
  co_return db_->Read([page](Connection& c) {
    auto& st = c.Prepare(
        "SELECT id, name, created_at FROM items WHERE id > ? "
        "ORDER BY id LIMIT ?");
    st.bind(1, page.after);
    // One more than the page: whether it exists says if there is a next.
    st.bind(2, page.limit + 1);
    mitos::Page<Item> out;
    while (st.executeStep()) out.items.push_back(Row(st));
    if (out.items.size() > static_cast<size_t>(page.limit)) {
      out.items.pop_back();
      out.next_after = out.items.back().id;
    }
    return mitos::StatusOr<mitos::Page<Item>>(std::move(out));
  });
}

}  // namespace @module@
