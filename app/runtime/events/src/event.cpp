#include "mitos/events/event.h"

#include <chrono>
#include <random>

#include "mitos/observability/trace.h"

namespace mitos::events {

std::string NewId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(32, '0');
  const uint64_t ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  // Most significant digit first, so that text order is time order.
  for (int i = 0; i < 12; ++i) out[i] = kHex[(ms >> ((11 - i) * 4)) & 15];
  const uint64_t a = rng();
  const uint64_t b = rng();
  for (int i = 0; i < 16; ++i) out[12 + i] = kHex[(a >> (i * 4)) & 15];
  for (int i = 0; i < 4; ++i) out[28 + i] = kHex[(b >> (i * 4)) & 15];
  return out;
}

Event Make(std::string type, std::string key, std::string payload) {
  Event e;
  e.id = NewId();
  e.type = std::move(type);
  e.key = std::move(key);
  e.payload = std::move(payload);
  const trace::SpanContext& span = trace::Current();
  if (span.valid()) e.traceparent = span.Traceparent();
  e.created_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  return e;
}

void Outbox::Append(const Event& e) {
  tx_.Exec(
      "INSERT INTO mitos_outbox (id, type, key, payload, traceparent, "
      "created_ms) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
      {e.id, e.type, e.key, e.payload, e.traceparent, e.created_ms});
}

bool Inbox::Seen(std::string_view subscriber, std::string_view event_id) {
  return tx_
      .Int("SELECT 1 FROM mitos_inbox WHERE subscriber = $1 AND event_id = $2",
           {subscriber, event_id})
      .has_value();
}

void Inbox::Record(std::string_view subscriber, const Event& e) {
  const int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count();
  tx_.Exec(
      "INSERT INTO mitos_inbox (subscriber, event_id, type, handled_ms) "
      "VALUES ($1, $2, $3, $4)",
      {subscriber, e.id, e.type, now_ms});
}

// seq gives the publish order; it must never go back, or an event could
// overtake an earlier one of its key (hence AUTOINCREMENT and an identity).
storage::Migration OutboxMigration(int version) {
  return {version, "event outbox (mitos_outbox)", "", R"sql(
    CREATE TABLE mitos_outbox (
      seq             INTEGER PRIMARY KEY AUTOINCREMENT,
      id              TEXT NOT NULL UNIQUE,
      type            TEXT NOT NULL,
      key             TEXT NOT NULL,
      payload         TEXT NOT NULL,
      traceparent     TEXT NOT NULL DEFAULT '',
      created_ms      INTEGER NOT NULL,
      attempts        INTEGER NOT NULL DEFAULT 0,
      next_attempt_ms INTEGER NOT NULL DEFAULT 0,
      state           TEXT NOT NULL DEFAULT 'pending',
      last_error      TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX mitos_outbox_state ON mitos_outbox (state, seq);
  )sql",
          R"sql(
    CREATE TABLE mitos_outbox (
      seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      id              TEXT NOT NULL UNIQUE,
      type            TEXT NOT NULL,
      key             TEXT NOT NULL,
      payload         TEXT NOT NULL,
      traceparent     TEXT NOT NULL DEFAULT '',
      created_ms      BIGINT NOT NULL,
      attempts        BIGINT NOT NULL DEFAULT 0,
      next_attempt_ms BIGINT NOT NULL DEFAULT 0,
      state           TEXT NOT NULL DEFAULT 'pending',
      last_error      TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX mitos_outbox_state ON mitos_outbox (state, seq);
  )sql"};
}

storage::Migration InboxMigration(int version) {
  return {version, "event inbox (mitos_inbox)", "", R"sql(
    CREATE TABLE mitos_inbox (
      subscriber TEXT NOT NULL,
      event_id   TEXT NOT NULL,
      type       TEXT NOT NULL,
      handled_ms INTEGER NOT NULL,
      PRIMARY KEY (subscriber, event_id)
    ) WITHOUT ROWID;
  )sql",
          R"sql(
    CREATE TABLE mitos_inbox (
      subscriber TEXT NOT NULL,
      event_id   TEXT NOT NULL,
      type       TEXT NOT NULL,
      handled_ms BIGINT NOT NULL,
      PRIMARY KEY (subscriber, event_id)
    );
  )sql"};
}

}  // namespace mitos::events
