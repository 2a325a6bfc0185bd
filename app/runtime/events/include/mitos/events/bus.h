// The event bus of one instance: the dispatcher of every local module's
// outbox and the subscriptions of the local modules.
//
// Delivery is at least once and in order per key: an event is delivered to
// every subscriber of its type and leaves the outbox only once each of them
// has committed its effect. A subscriber's handler runs inside a write
// transaction of the subscriber's own database, together with the inbox
// record of the event id; an event the inbox already holds is not handed to
// the handler again. So each effect happens exactly once, whatever number
// of times an event is delivered (a crash between a subscriber's commit and
// the outbox's, a duplicate in the outbox).
//
// A failed delivery (a handler's non-OK status, a storage error) is retried
// after a capped exponential backoff with jitter; events of the same key
// behind it wait. After max_attempts failures the event is dead-lettered:
// it stays in the outbox with state "dead", no longer holds its key back,
// and shows in Stats() (/health, metrics) until `mitos events retry` or
// `drop` deals with it.
#ifndef MITOS_EVENTS_BUS_H_
#define MITOS_EVENTS_BUS_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mitos/base/status.h"
#include "mitos/config/config.h"
#include "mitos/events/event.h"
#include "mitos/storage/storage.h"

namespace mitos::events {

struct BusOptions {
  int max_attempts = 8;  // failures after which an event is dead-lettered
  std::chrono::milliseconds backoff_base{100};  // ceiling before the 1st retry
  std::chrono::milliseconds backoff_max{30000};
  // How often an outbox is looked at without a Notify (events written by
  // another process, `mitos events retry`).
  std::chrono::milliseconds poll_interval{200};
  // How long an event waits in the outbox before its first delivery.
  std::chrono::milliseconds dispatch_delay{0};
  // Events read from an outbox at once; those due go to the relay in one
  // call.
  int batch_size = 256;
  // Events delivered to a subscriber in one transaction (an outbox's, or
  // a broker's fetch).
  int delivery_batch = 64;
  // Bounds the storage work of one outbox pass (its read, the deliveries
  // and their record) and of each delivery made outside a request: past
  // it the statements are cancelled and the pass fails, to be tried again
  // later. So a database that stops answering holds no dispatcher, nor
  // Stop, longer than this.
  std::chrono::milliseconds pass_timeout{5000};
};

// Declares the events.* keys that BusOptionsFrom reads.
void DeclareConfig(config::Schema& schema);
BusOptions BusOptionsFrom(const config::Config& config);

// A subscriber's handler: the effect of `event` on the subscriber's
// storage, inside the open write transaction `tx` (on a storage thread,
// and possibly more than once: see storage::Write; only the last run
// counts). A non-OK status rolls back what it wrote and counts as a failed
// delivery; so does an exception.
using Handler = std::function<Status(const Event& event, storage::Tx& tx)>;

// Wakes the dispatcher of an outbox at once (after a commit that
// published); without it the next poll finds the event.
using Notifier = std::function<void()>;

class Bus {
 public:
  explicit Bus(BusOptions options);
  // Stops the dispatchers.
  ~Bus();
  Bus(const Bus&) = delete;
  Bus& operator=(const Bus&) = delete;

  // Dispatches the outbox of module `module`, in `db` (its own storage, on
  // either backend, migrated with OutboxMigration), once Start is called.
  // REQUIRES: `db` outlives Stop(); called before Start. Returns the
  // outbox's notifier.
  Notifier AddOutbox(std::string module, storage::Database* db);

  // Subscribes module `subscriber`, whose database `db` holds the inbox
  // (InboxMigration), to events of `type` from any local outbox. REQUIRES:
  // `db` outlives Stop(); called before Start; one subscription per
  // (type, subscriber).
  void Subscribe(std::string type, std::string subscriber,
                 storage::Database* db, Handler handler);

  // Delivers `event` to `subscriber`'s handler once: runs the handler and
  // records the event in the inbox in one transaction, or does nothing when
  // the inbox holds the event already. Returns the handler's status, or
  // what the storage made of a failure (storage::StatusFor). Blocks the
  // calling thread until the transaction ended. For deliveries that do not
  // come from a local outbox (a broker's consumer).
  Status Deliver(const Event& event, std::string_view subscriber);
  // As Deliver for each of `events`, in order, in one transaction: all
  // their effects commit, or none does (the caller then delivers them one
  // by one, to find the one that fails). REQUIRES: all of one type.
  Status DeliverBatch(const std::vector<Event>& events,
                      std::string_view subscriber);

  // Makes every outbox's events go to `publish` too (a broker's relay),
  // before the local subscribers, several at a time, in outbox order.
  // `publish` returns OK once the broker took them all; else why not, with
  // *published set to how many of the first it took. Those go on to the
  // local subscribers; the outbox keeps the others and all after them,
  // and tries again after a backoff, without counting an attempt against
  // any event. REQUIRES: called before Start.
  using Relay = std::function<Status(const std::vector<const Event*>& events,
                                     size_t* published)>;
  void SetRelay(Relay publish);

  // Returns every subscription: (type, subscriber).
  std::vector<std::pair<std::string, std::string>> Subscriptions() const;

  // Returns the local subscribers of `type`.
  std::vector<std::string> SubscribersOf(std::string_view type) const;

  // Starts one dispatcher thread per outbox. Call once every module has
  // subscribed, so that no event is dispatched before its subscribers exist.
  void Start();
  // Stops the dispatchers after their current delivery. Idempotent.
  void Stop();

  struct OutboxStats {
    std::string module;
    int64_t pending = 0;
    int64_t dead = 0;
    double oldest_pending_age_seconds = 0;  // 0 when none is pending
  };
  // Reads each outbox's counts (a read per outbox, which blocks the calling
  // thread); an outbox that cannot be read counts zero, and is logged.
  std::vector<OutboxStats> Stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mitos::events

#endif  // MITOS_EVENTS_BUS_H_
