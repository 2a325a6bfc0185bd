#include "store.h"

namespace users {
namespace {

using mitos::sqlite::Connection;

User Row(SQLite::Statement& st) {
  User u;
  u.id = st.getColumn(0).getInt64();
  u.name = st.getColumn(1).getString();
  u.email = st.getColumn(2).getString();
  u.created_at = st.getColumn(3).getString();
  u.updated_at = st.getColumn(4).getString();
  return u;
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
mitos::Status WriteFailed(const SQLite::Exception& e) {
  if (mitos::sqlite::IsUniqueViolation(e)) return EmailTaken();
  return mitos::sqlite::StatusFor(e);
}

mitos::StatusOr<User> InsertRow(Connection& c, const NewUser& in,
                                const std::string& now) {
  auto& st = c.Prepare(
      "INSERT INTO users (name, email, created_at, updated_at) "
      "VALUES (?, ?, ?, ?)");
  st.bind(1, in.name);
  st.bind(2, in.email);
  st.bind(3, now);
  st.bind(4, now);
  st.exec();
  return User{c.db().getLastInsertRowid(), in.name, in.email, now, now};
}

mitos::StatusOr<User> UpdateRow(Connection& c, int64_t id, const UserPatch& p,
                                const std::string& now) {
  auto& st = c.Prepare(
      "UPDATE users SET name = coalesce(?, name), "
      "email = coalesce(?, email), updated_at = ? WHERE id = ? "
      "RETURNING id, name, email, created_at, updated_at");
  if (p.name) st.bind(1, *p.name);
  if (p.email) st.bind(2, *p.email);
  st.bind(3, now);
  st.bind(4, id);
  if (!st.executeStep()) return NoSuchUser(id);
  User u = Row(st);
  while (st.executeStep()) {
  }
  return u;
}

mitos::Status DeleteRow(Connection& c, int64_t id) {
  auto& st = c.Prepare("DELETE FROM users WHERE id = ?");
  st.bind(1, id);
  if (st.exec() == 0) return NoSuchUser(id);
  return mitos::Status::Ok();
}

}  // namespace

const std::vector<mitos::sqlite::Migration>& UserStore::Migrations() {
  static const std::vector<mitos::sqlite::Migration> kMigrations = {
      {1, "users table with case-insensitive unique email",
       R"sql(
        CREATE TABLE users (
          id         INTEGER PRIMARY KEY AUTOINCREMENT,
          name       TEXT NOT NULL,
          email      TEXT NOT NULL,
          created_at TEXT NOT NULL,
          updated_at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX users_email_nocase ON users (email COLLATE NOCASE);
      )sql"},
  };
  return kMigrations;
}

UserStore::UserStore(std::unique_ptr<mitos::sqlite::Database> db)
    : db_(std::move(db)) {}

mitos::Completion<mitos::StatusOr<User>> UserStore::Insert(NewUser in,
                                                          std::string now) {
  // The writer thread runs `insert` after this frame may have gone: it owns
  // what it uses.
  auto insert = [in = std::move(in), now = std::move(now)](Connection& c) {
    return InsertRow(c, in, now);
  };
  return mitos::sqlite::Write<mitos::StatusOr<User>>(*db_, std::move(insert),
                                                     &WriteFailed);
}

mitos::StatusOr<User> UserStore::Find(int64_t id) {
  try {
    return db_->Read([&](Connection& c) -> mitos::StatusOr<User> {
      auto& st = c.Prepare(
          "SELECT id, name, email, created_at, updated_at FROM users "
          "WHERE id = ?");
      st.bind(1, id);
      if (!st.executeStep()) return NoSuchUser(id);
      return Row(st);
    });
  } catch (const SQLite::Exception& e) {
    return mitos::sqlite::StatusFor(e);
  }
}

mitos::StatusOr<mitos::Page<User>> UserStore::List(mitos::PageRequest page) {
  try {
    return db_->Read([&](Connection& c) {
      auto& st = c.Prepare(
          "SELECT id, name, email, created_at, updated_at FROM users "
          "WHERE id > ? ORDER BY id LIMIT ?");
      st.bind(1, page.after);
      st.bind(2, page.limit + 1);
      mitos::Page<User> out;
      while (st.executeStep()) out.items.push_back(Row(st));
      if (static_cast<int>(out.items.size()) > page.limit) {
        out.items.pop_back();
        out.next_after = out.items.back().id;
      }
      return mitos::StatusOr<mitos::Page<User>>(std::move(out));
    });
  } catch (const SQLite::Exception& e) {
    return mitos::sqlite::StatusFor(e);
  }
}

mitos::Completion<mitos::StatusOr<User>> UserStore::Update(int64_t id,
                                                          UserPatch patch,
                                                          std::string now) {
  auto update = [id, patch = std::move(patch), now = std::move(now)](Connection& c) {
    return UpdateRow(c, id, patch, now);
  };
  return mitos::sqlite::Write<mitos::StatusOr<User>>(*db_, std::move(update),
                                                     &WriteFailed);
}

mitos::Completion<mitos::Status> UserStore::Remove(int64_t id) {
  auto remove = [id](Connection& c) { return DeleteRow(c, id); };
  return mitos::sqlite::Write<mitos::Status>(*db_, std::move(remove),
                                             &mitos::sqlite::StatusFor);
}

}  // namespace users
