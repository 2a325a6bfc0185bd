// Events between modules: what an event is, how a producer writes it into
// its own database in the transaction of the change (the outbox), and how a
// consumer records that it has had an event's effect (the inbox).
//
// The outbox and the inbox are tables of the module's own database, so that
// an event exists iff the change that published it committed, and an effect
// is recorded as done iff it committed. Outbox and Inbox are the small
// interfaces a transaction of any backend can implement; SqliteOutbox and
// SqliteInbox implement them on a mitos::sqlite::Connection inside a write
// (Database::WriteTx or sqlite::Write).
#ifndef MITOS_EVENTS_EVENT_H_
#define MITOS_EVENTS_EVENT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "mitos/storage/sqlite.h"

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

// Returns 32 random hex digits.
std::string NewId();

// Where a producer writes the events of its change: the open transaction
// of that change. REQUIRES: used only inside that transaction.
class Outbox {
 public:
  virtual ~Outbox() = default;
  // Adds `event` to the outbox; it commits or rolls back with the change.
  // An event whose id the outbox already holds is ignored.
  virtual void Append(const Event& event) = 0;
};

// The effects a consumer has had, in its own database.
class Inbox {
 public:
  virtual ~Inbox() = default;
  // Returns true iff `subscriber` recorded `event_id` before.
  virtual bool Seen(std::string_view subscriber, std::string_view event_id) = 0;
  // Records `event_id` as done for `subscriber`, in the open transaction.
  virtual void Record(std::string_view subscriber, const Event& event) = 0;
};

// The outbox in a module's SQLite file: table mitos_outbox. Throws
// SQLite::Exception as any statement of the write does.
class SqliteOutbox final : public Outbox {
 public:
  explicit SqliteOutbox(sqlite::Connection& c) : c_(c) {}
  void Append(const Event& event) override;

 private:
  sqlite::Connection& c_;
};

// The inbox in a module's SQLite file: table mitos_inbox.
class SqliteInbox final : public Inbox {
 public:
  explicit SqliteInbox(sqlite::Connection& c) : c_(c) {}
  bool Seen(std::string_view subscriber, std::string_view event_id) override;
  void Record(std::string_view subscriber, const Event& event) override;

 private:
  sqlite::Connection& c_;
};

// The schema steps a module appends to its migrations, at the version it
// chooses: OutboxMigration in a module that publishes, InboxMigration in
// one that subscribes (a module that does both appends both).
sqlite::Migration OutboxMigration(int version);
sqlite::Migration InboxMigration(int version);

}  // namespace mitos::events

#endif  // MITOS_EVENTS_EVENT_H_
