#include "mitos/events/admin.h"

#include "mitos/io/task.h"

namespace mitos::events {
namespace {

// Whether the module's schema has an outbox: a module that publishes
// nothing has none.
bool HasOutbox(storage::Tx& tx) {
  if (tx.backend() == storage::Backend::kSqlite) {
    return tx.Int("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                  "name = 'mitos_outbox'")
               .value_or(0) > 0;
  }
  return tx.Int("SELECT count(*) FROM pg_catalog.pg_tables WHERE tablename = "
                "'mitos_outbox' AND schemaname = current_schema()")
             .value_or(0) > 0;
}

Status Change(storage::Database& db, const std::string& id, const char* sql) {
  auto change = [&id, sql](storage::Tx& tx) -> StatusOr<bool> {
    if (!HasOutbox(tx)) return false;
    return tx.Exec(sql, {id}) > 0;
  };
  StatusOr<bool> changed = Wait(storage::Write<StatusOr<bool>>(db, std::move(change)));
  if (!changed.ok()) return changed.status();
  if (!*changed) {
    return Status::NotFound("no dead-lettered event " + id + " in " + db.name() +
                            "'s outbox");
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::vector<DeadEvent>> ListDead(storage::Database& db) {
  using R = StatusOr<std::vector<DeadEvent>>;
  auto list = [](storage::Tx& tx) -> R {
    std::vector<DeadEvent> out;
    if (!HasOutbox(tx)) return out;
    tx.ForEach(
        "SELECT id, type, key, attempts, created_ms, last_error, payload "
        "FROM mitos_outbox WHERE state = 'dead' ORDER BY seq",
        {}, [&out](const storage::Row& r) {
          out.push_back({r.String(0), r.String(1), r.String(2), r.Int(3),
                         r.Int(4), r.String(5), r.String(6)});
        });
    return out;
  };
  return Wait(storage::Read<R>(db, std::move(list)));
}

Status RetryDead(storage::Database& db, const std::string& id) {
  return Change(db, id,
                "UPDATE mitos_outbox SET state = 'pending', attempts = 0, "
                "next_attempt_ms = 0 WHERE id = $1 AND state = 'dead'");
}

Status DropDead(storage::Database& db, const std::string& id) {
  return Change(db, id,
                "DELETE FROM mitos_outbox WHERE id = $1 AND state = 'dead'");
}

}  // namespace mitos::events
