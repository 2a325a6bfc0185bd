// Events across processes, through NATS JetStream: the relay that publishes
// a local outbox's events to a stream, and the durable pull consumers that
// deliver a stream's events to local subscribers whose producer runs in
// another process.
//
// The relay publishes each event with Nats-Msg-Id = its id, so JetStream
// drops a repeat within its duplicate window; an event leaves the outbox
// only once JetStream acknowledged it. While JetStream cannot be reached
// the outbox keeps its events (none counts as a failed attempt) and drains
// when it is back. A consumer acknowledges a message only after the
// subscriber's effect and inbox record committed (Bus::Deliver), so a
// crash at any point redelivers, and the inbox makes the repeat a no-op.
//
// Order per key holds across a consumer's crash and across the processes
// of one subscriber. A consumer holds at most one fetch unacknowledged
// (the durable's max_ack_pending is events.nats.fetch_batch) and keeps its
// redelivery deadline unchanged while it retries one of them. Of the
// processes that consume one durable, one fetches at a time: the holder of
// a lease in the key-value bucket "<stream>_consumers", renewed while it
// runs and expiring 10 s after it stopped. A consumer that takes the lease
// while the durable has messages out unacknowledged waits
// events.nats.ack_wait_ms before its first fetch, so that those come back,
// in order, before any later one.
#ifndef MITOS_EVENTS_NATS_H_
#define MITOS_EVENTS_NATS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mitos/base/status.h"
#include "mitos/config/config.h"
#include "mitos/events/bus.h"

namespace mitos::events {

struct NatsOptions {
  std::string url;  // nats://host:4222; empty: no NATS
  std::string stream = "MITOS_EVENTS";
  std::string subject_prefix = "mitos.events";  // + "." + event type
  int64_t max_age_s = 7 * 24 * 3600;  // stream retention by age; 0: none
  int64_t max_bytes = -1;             // stream retention by size; -1: none
  int64_t duplicate_window_s = 120;   // Nats-Msg-Id dedupe window
  int64_t ack_wait_ms = 30000;        // redelivery of an unacknowledged message
  int fetch_batch = 64;               // messages a consumer pulls at once
  int64_t timeout_ms = 5000;          // one publish or request
};

// Reads the events.nats.* keys (declared by events::DeclareConfig).
NatsOptions NatsOptionsFrom(const config::Config& config);

// One connection to NATS for an instance: the relay of its outboxes and
// its consumers. Connecting does not wait for the server: a server that is
// down is retried for ever, and events wait in the outboxes meanwhile.
class Nats {
 public:
  // Returns InvalidArgument for a URL that is not nats://host[:port].
  static StatusOr<std::unique_ptr<Nats>> Create(NatsOptions options);
  ~Nats();
  Nats(const Nats&) = delete;
  Nats& operator=(const Nats&) = delete;

  // Makes the bus publish every event of its outboxes to the stream.
  void Relay(Bus& bus);

  // Starts a durable pull consumer "<subscriber>-<type>" of events of
  // `type`, delivering each to `subscriber`'s subscription on `bus`
  // (Bus::Deliver) and acknowledging it after that committed. REQUIRES:
  // the subscription exists; `bus` outlives Stop().
  void Consume(Bus& bus, std::string type, std::string subscriber);

  // Stops the consumers (what they fetched and did not acknowledge is
  // redelivered later) and closes the connection.
  void Stop();

  // True iff the connection to the server is up now.
  bool connected() const;

 private:
  class Impl;
  explicit Nats(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mitos::events

#endif  // MITOS_EVENTS_NATS_H_
