// Dead-lettered events in a module's database file, for `mitos events`:
// listed, sent back to delivery, or dropped. These open the file with their
// own connection, so they work whether or not an instance serves it (the
// instance's dispatcher sees the change at its next poll).
#ifndef MITOS_EVENTS_ADMIN_H_
#define MITOS_EVENTS_ADMIN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "mitos/base/status.h"

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

// Returns the dead-lettered events of the outbox in the SQLite file at
// `path`, oldest first; empty when the file has no outbox. NotFound when
// the file does not exist, Unavailable when it cannot be read.
StatusOr<std::vector<DeadEvent>> ListDead(const std::string& path);

// Sends the dead event `id` back to delivery with its attempts reset.
// NotFound when the outbox holds no dead event of that id.
Status RetryDead(const std::string& path, const std::string& id);

// Deletes the dead event `id`. NotFound as RetryDead.
Status DropDead(const std::string& path, const std::string& id);

}  // namespace mitos::events

#endif  // MITOS_EVENTS_ADMIN_H_
