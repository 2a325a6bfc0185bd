// Events between modules: what an event is, how a producer writes it into
// its own database in the transaction of the change (the outbox), and how a
// consumer records that it has had an event's effect (the inbox).
//
// The outbox and the inbox are tables of the module's own database, so that
// an event exists iff the change that published it committed, and an effect
// is recorded as done iff it committed. Outbox and Inbox write through the
// storage::Tx of the module's write (storage::Write), whichever backend
// holds the module's storage.
#ifndef MITOS_EVENTS_EVENT_H_
#define MITOS_EVENTS_EVENT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "mitos/storage/storage.h"

namespace mitos::events {

struct Event {
  std::string id;       // unique; 32 hex digits; the dedupe key everywhere
  std::string type;     // "<module>.<EventType>": "users.UserDeleted"
  std::string key;      // events of one key are delivered in publish order
  std::string payload;  // the event type's JSON, written by its codec
  // W3C traceparent of the span that published it, or "" outside a trace.
  std::string traceparent;
  int64_t created_ms = 0;  // Unix time of publication, milliseconds
};

// Returns an event of `type` with a new id, the current time, and the
// current span's traceparent (mitos::trace::Current()). Call it where the
// change is decided, on the request's thread, not inside the write (the
// writer thread has no request span).
Event Make(std::string type, std::string key, std::string payload);

// Returns 32 hex digits, ordered by time as UUIDv7's are (RFC 9562): 12
// of the Unix time in milliseconds, then 20 random ones (80 bits). Ids
// made later sort after those of earlier milliseconds, so that the
// indexes on them (the outbox's, every inbox's) grow at their end: a
// batch of events dirties a few pages of them instead of one per event.
std::string NewId();

// Where a producer writes the events of its change: the open write
// transaction of that change (storage::Write), on either backend.
// REQUIRES: used only inside that transaction. Throws storage::Error as any
// statement of the write does.
class Outbox {
 public:
  explicit Outbox(storage::Tx& tx) : tx_(tx) {}
  // Adds `event` to the outbox (table mitos_outbox); it commits or rolls
  // back with the change. An event whose id the outbox already holds is
  // ignored.
  void Append(const Event& event);

 private:
  storage::Tx& tx_;
};

// The effects a consumer has had, in its own database (table mitos_inbox),
// inside the open write transaction of the effect. Throws as Outbox.
class Inbox {
 public:
  explicit Inbox(storage::Tx& tx) : tx_(tx) {}
  // Returns true iff `subscriber` recorded `event_id` before.
  bool Seen(std::string_view subscriber, std::string_view event_id);
  // Records `event_id` as done for `subscriber`, in the open transaction.
  void Record(std::string_view subscriber, const Event& event);

 private:
  storage::Tx& tx_;
};

// The schema steps a module appends to its migrations, at the version it
// chooses: OutboxMigration in a module that publishes, InboxMigration in
// one that subscribes (a module that does both appends both). Each has a
// text for SQLite and one for PostgreSQL.
storage::Migration OutboxMigration(int version);
storage::Migration InboxMigration(int version);

}  // namespace mitos::events

#endif  // MITOS_EVENTS_EVENT_H_
