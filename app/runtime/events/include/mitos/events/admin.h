// Dead-lettered events in a module's outbox, for `mitos events`: listed,
// sent back to delivery, or dropped, on either backend. They work on the
// module's storage opened by whoever calls them (the CLI opens it with
// its own connections, whether or not an instance serves it; the
// instance's dispatcher sees the change at its next poll).
#ifndef MITOS_EVENTS_ADMIN_H_
#define MITOS_EVENTS_ADMIN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "mitos/base/status.h"
#include "mitos/storage/storage.h"

namespace mitos::events {

struct DeadEvent {
  std::string id;
  std::string type;
  std::string key;
  int64_t attempts = 0;
  int64_t created_ms = 0;
  std::string last_error;
  std::string payload;
};

// Returns the dead-lettered events of the outbox in `db`, oldest first;
// empty when the database has no outbox. What the storage makes of a
// failure otherwise (storage::StatusFor).
StatusOr<std::vector<DeadEvent>> ListDead(storage::Database& db);

// Sends the dead event `id` back to delivery with its attempts reset.
// NotFound when the outbox holds no dead event of that id.
Status RetryDead(storage::Database& db, const std::string& id);

// Deletes the dead event `id`. NotFound as RetryDead.
Status DropDead(storage::Database& db, const std::string& id);

}  // namespace mitos::events

#endif  // MITOS_EVENTS_ADMIN_H_
