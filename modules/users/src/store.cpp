#include "store.h"

namespace users {
namespace {

using mitos::storage::Tx;

// Columns of the user row, in this order, in every statement below.
#define USER_COLUMNS "id, name, email, created_at, updated_at"

User Row(const mitos::storage::Row& r) {
  return User{r.Int(0), r.String(1), r.String(2), r.String(3), r.String(4)};
}

mitos::Status EmailTaken() {
  return mitos::Status::AlreadyExists(
      "A user with this email already exists.",
      {{"email", "is already used by another user"}});
}

mitos::Status NoSuchUser(int64_t id) {
  return mitos::Status::NotFound("User " + std::to_string(id) +
                                 " does not exist.");
}

// What a failed insert or update returns: a taken email, or what the
// storage layer makes of the failure (it has logged and counted it).
mitos::StatusOr<User> WriteFailed(const mitos::storage::Error& e) {
  if (e.unique_violation()) return EmailTaken();
  return mitos::storage::StatusFor(e);
}

mitos::StatusOr<User> InsertRow(Tx& tx, const NewUser& in,
                                const std::string& now) {
  const int64_t id = tx.Insert(
      "INSERT INTO users (name, email, created_at, updated_at) "
      "VALUES ($1, $2, $3, $4)",
      {in.name, in.email, now, now});
  return User{id, in.name, in.email, now, now};
}

mitos::StatusOr<User> UpdateRow(Tx& tx, int64_t id, const UserPatch& p,
                                const std::string& now) {
  auto u = tx.One<User>(
      "UPDATE users SET name = coalesce($1, name), "
      "email = coalesce($2, email), updated_at = $3 WHERE id = $4 "
      "RETURNING " USER_COLUMNS,
      {p.name, p.email, now, id}, &Row);
  if (!u) return NoSuchUser(id);
  return std::move(*u);
}

mitos::Status DeleteRow(Tx& tx, int64_t id) {
  if (tx.Exec("DELETE FROM users WHERE id = $1", {id}) == 0) {
    return NoSuchUser(id);
  }
  return mitos::Status::Ok();
}

}  // namespace

const std::vector<mitos::storage::Migration>& UserStore::Migrations() {
  // SQLite's NOCASE folds ASCII letters only; so does lower() under the
  // "C" collation, whatever the database's locale.
  static const std::vector<mitos::storage::Migration> kMigrations = {
      {1, "users table with case-insensitive unique email", "",
       R"sql(
        CREATE TABLE users (
          id         INTEGER PRIMARY KEY AUTOINCREMENT,
          name       TEXT NOT NULL,
          email      TEXT NOT NULL,
          created_at TEXT NOT NULL,
          updated_at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX users_email_nocase ON users (email COLLATE NOCASE);
      )sql",
       R"sql(
        CREATE TABLE users (
          id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          name       TEXT NOT NULL,
          email      TEXT NOT NULL,
          created_at TEXT NOT NULL,
          updated_at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX users_email_nocase ON users (lower(email COLLATE "C"));
      )sql"},
      mitos::events::OutboxMigration(2),
  };
  return kMigrations;
}

UserStore::UserStore(std::unique_ptr<mitos::storage::Database> db)
    : db_(std::move(db)) {}

mitos::Completion<mitos::StatusOr<User>> UserStore::Insert(NewUser in,
                                                          std::string now) {
  // A storage thread runs `insert` after this frame may have gone: it owns
  // what it uses.
  auto insert = [in = std::move(in), now = std::move(now)](Tx& tx) {
    return InsertRow(tx, in, now);
  };
  return mitos::storage::Write<mitos::StatusOr<User>>(
      *db_, std::move(insert), &WriteFailed, mitos::storage::Statements::kOne);
}

mitos::Task<mitos::StatusOr<User>> UserStore::Find(int64_t id) {
  return mitos::storage::ReadTask<mitos::StatusOr<User>>(
      *db_, [id](Tx& tx) -> mitos::StatusOr<User> {
        auto u = tx.One<User>(
            "SELECT " USER_COLUMNS " FROM users WHERE id = $1", {id}, &Row);
        if (!u) return NoSuchUser(id);
        return std::move(*u);
      });
}

mitos::Task<mitos::StatusOr<mitos::Page<User>>> UserStore::List(
    mitos::PageRequest page) {
  using R = mitos::StatusOr<mitos::Page<User>>;
  return mitos::storage::ReadTask<R>(*db_, [page](Tx& tx) -> R {
    // One more than the page: whether it exists says if there is a next.
    mitos::Page<User> out;
    out.items = tx.All<User>(
        "SELECT " USER_COLUMNS " FROM users WHERE id > $1 ORDER BY id "
        "LIMIT $2",
        {page.after, page.limit + 1}, &Row);
    if (static_cast<int>(out.items.size()) > page.limit) {
      out.items.pop_back();
      out.next_after = out.items.back().id;
    }
    return out;
  });
}

mitos::Completion<mitos::StatusOr<User>> UserStore::Update(int64_t id,
                                                          UserPatch patch,
                                                          std::string now) {
  auto update = [id, patch = std::move(patch), now = std::move(now)](Tx& tx) {
    return UpdateRow(tx, id, patch, now);
  };
  return mitos::storage::Write<mitos::StatusOr<User>>(
      *db_, std::move(update), &WriteFailed, mitos::storage::Statements::kOne);
}

mitos::Completion<mitos::Status> UserStore::Remove(int64_t id,
                                                  mitos::events::Event deleted) {
  auto remove = [id, deleted = std::move(deleted)](Tx& tx) {
    mitos::Status s = DeleteRow(tx, id);
    if (s.ok()) mitos::events::Outbox(tx).Append(deleted);
    return s;
  };
  return mitos::storage::Write<mitos::Status>(*db_, std::move(remove));
}

}  // namespace users

#undef USER_COLUMNS
