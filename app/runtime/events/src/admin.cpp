#include "mitos/events/admin.h"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <filesystem>

namespace mitos::events {
namespace {

bool HasOutbox(SQLite::Database& db) {
  SQLite::Statement q(db,
                      "SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                      "name = 'mitos_outbox'");
  return q.executeStep();
}

// Runs `fn` on a connection of its own to the file at `path`.
template <typename R, typename F>
StatusOr<R> WithFile(const std::string& path, int flags, F&& fn) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return Status::NotFound("no database file " + path);
  }
  try {
    SQLite::Database db(path, flags, /*busy_timeout_ms=*/5000);
    return fn(db);
  } catch (const SQLite::Exception& e) {
    return Status::Unavailable("cannot use " + path + ": " + e.what());
  }
}

Status Change(const std::string& path, const std::string& id, const char* sql) {
  auto changed = WithFile<bool>(path, SQLite::OPEN_READWRITE, [&](SQLite::Database& db) {
    if (!HasOutbox(db)) return false;
    SQLite::Statement q(db, sql);
    q.bind(1, id);
    return q.exec() > 0;
  });
  if (!changed.ok()) return changed.status();
  if (!*changed) {
    return Status::NotFound("no dead-lettered event " + id + " in " + path);
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::vector<DeadEvent>> ListDead(const std::string& path) {
  return WithFile<std::vector<DeadEvent>>(
      path, SQLite::OPEN_READONLY, [&](SQLite::Database& db) {
        std::vector<DeadEvent> out;
        if (!HasOutbox(db)) return out;
        SQLite::Statement q(db,
                            "SELECT id, type, key, attempts, created_ms, "
                            "last_error, payload FROM mitos_outbox WHERE state "
                            "= 'dead' ORDER BY seq");
        while (q.executeStep()) {
          out.push_back({q.getColumn(0).getString(), q.getColumn(1).getString(),
                         q.getColumn(2).getString(), q.getColumn(3).getInt64(),
                         q.getColumn(4).getInt64(), q.getColumn(5).getString(),
                         q.getColumn(6).getString()});
        }
        return out;
      });
}

Status RetryDead(const std::string& path, const std::string& id) {
  return Change(path, id,
                "UPDATE mitos_outbox SET state = 'pending', attempts = 0, "
                "next_attempt_ms = 0 WHERE id = ? AND state = 'dead'");
}

Status DropDead(const std::string& path, const std::string& id) {
  return Change(path, id,
                "DELETE FROM mitos_outbox WHERE id = ? AND state = 'dead'");
}

}  // namespace mitos::events
