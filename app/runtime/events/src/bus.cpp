#include "mitos/events/bus.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <thread>

#include "mitos/base/context.h"
#include "mitos/io/task.h"
#include "mitos/observability/log.h"
#include "mitos/observability/metrics.h"
#include "mitos/observability/trace.h"

namespace mitos::events {
namespace {

constexpr char kLog[] = "events";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Metrics {
  metrics::ChildFamily<metrics::Counter>& effects =
      metrics::Registry::Default().Counters(
          "mitos_events_effects_total",
          "Events whose effect a subscriber committed (once per event id).",
          {"subscriber", "type"});
  metrics::ChildFamily<metrics::Counter>& duplicates =
      metrics::Registry::Default().Counters(
          "mitos_events_duplicates_total",
          "Deliveries of an event a subscriber had already handled (skipped).",
          {"subscriber", "type"});
  metrics::ChildFamily<metrics::Counter>& failures =
      metrics::Registry::Default().Counters(
          "mitos_events_delivery_failures_total",
          "Failed deliveries to a subscriber (each is retried or dead-lettered).",
          {"subscriber", "type"});
  metrics::ChildFamily<metrics::Counter>& dead =
      metrics::Registry::Default().Counters(
          "mitos_events_dead_lettered_total",
          "Events dead-lettered after their last failed attempt, by producer.",
          {"module", "type"});
  metrics::ChildFamily<metrics::Histogram>& lag =
      metrics::Registry::Default().Histograms(
          "mitos_events_lag_seconds",
          "Time from an event's publication to its subscriber's commit.",
          {"subscriber", "type"});
};

Metrics& M() {
  static Metrics m;
  return m;
}

struct Row {
  int64_t seq;
  Event event;
  int64_t attempts;
  int64_t next_attempt_ms;
};

struct Outcome {
  int64_t seq;
  bool delivered;
  int64_t attempts;
  int64_t next_attempt_ms;
  std::string error;
};

}  // namespace

void DeclareConfig(config::Schema& s) {
  s.Int("events.max_attempts", 8, 1, 1000,
        "Failed deliveries of an event after which it is dead-lettered.");
  s.Int("events.backoff_base_ms", 100, 1, 600000,
        "Backoff ceiling before an event's first retry; it doubles per retry.");
  s.Int("events.backoff_max_ms", 30000, 1, 3600000,
        "Largest backoff between two attempts of an event.");
  s.Int("events.poll_interval_ms", 200, 1, 60000,
        "How often an outbox is read when nothing announced an event (events "
        "written by another process, mitos events retry).");
  s.Int("events.dispatch_delay_ms", 0, 0, 86400000,
        "How long an event stays in the outbox before its first delivery.");
  s.Int("events.batch_size", 256, 1, 100000,
        "Events read from an outbox at once.");
  s.Int("events.delivery_batch", 64, 1, 100000,
        "Events delivered to a subscriber in one transaction of its "
        "database: more drains a backlog faster, and holds the database's "
        "write lock longer.");
  s.Int("events.pass_timeout_ms", 5000, 100, 600000,
        "Longest storage work of one outbox pass, or of one delivery from "
        "the broker; past it the pass fails and is tried again. Bounds the "
        "wait for a database that stops answering, at shutdown too.");
  s.String("events.nats.url", "",
           "NATS server with JetStream, nats://host:4222, for events whose "
           "producer and subscriber run in different processes; empty: "
           "events stay within the instance.");
  s.String("events.nats.stream", "MITOS_EVENTS",
           "JetStream stream of the events (created when missing).");
  s.String("events.nats.subject_prefix", "mitos.events",
           "Subjects of the events: <prefix>.<module>.<Event>; the stream "
           "takes <prefix>.>.");
  s.Int("events.nats.max_age_s", 7 * 24 * 3600, 0, 10LL * 365 * 24 * 3600,
        "Retention: seconds an event stays in the stream; 0 keeps it.");
  s.Int("events.nats.max_bytes", -1, -1, 1LL << 50,
        "Retention: largest size of the stream; -1 for no limit.");
  s.Int("events.nats.duplicate_window_s", 120, 1, 7 * 24 * 3600,
        "How long JetStream remembers an event id (Nats-Msg-Id) to drop "
        "its repeats.");
  s.Int("events.nats.ack_wait_ms", 30000, 100, 3600000,
        "How long a fetched message stays with a consumer that neither "
        "acknowledged it nor said it is working on it, before redelivery.");
  s.Int("events.nats.fetch_batch", 64, 1, 10000,
        "Messages a consumer pulls at once, and the most the server lets it "
        "hold unacknowledged (so that after a crash the messages it held "
        "are redelivered before any later one).");
  s.Int("events.nats.timeout_ms", 5000, 100, 600000,
        "Longest wait for JetStream to acknowledge one publish or request.");
}

BusOptions BusOptionsFrom(const config::Config& c) {
  BusOptions o;
  o.max_attempts = static_cast<int>(c.Int("events.max_attempts"));
  o.backoff_base = std::chrono::milliseconds(c.Int("events.backoff_base_ms"));
  o.backoff_max = std::chrono::milliseconds(c.Int("events.backoff_max_ms"));
  o.poll_interval = std::chrono::milliseconds(c.Int("events.poll_interval_ms"));
  o.dispatch_delay = std::chrono::milliseconds(c.Int("events.dispatch_delay_ms"));
  o.batch_size = static_cast<int>(c.Int("events.batch_size"));
  o.delivery_batch = static_cast<int>(c.Int("events.delivery_batch"));
  o.pass_timeout = std::chrono::milliseconds(c.Int("events.pass_timeout_ms"));
  return o;
}

class Bus::Impl {
 public:
  struct Subscription {
    std::string type;
    std::string subscriber;
    storage::Database* db;
    Handler handler;
  };

  struct Source {
    std::string module;
    storage::Database* db;
    std::thread thread;
    std::mutex mu;
    std::condition_variable cv;
    bool wake = false;
  };

  explicit Impl(BusOptions o) : options_(o) {}

  const Subscription* Find(std::string_view type, std::string_view subscriber) const {
    for (const auto& s : subs_) {
      if (s.type == type && s.subscriber == subscriber) return &s;
    }
    return nullptr;
  }

  // Bus::DeliverBatch, for events of one type.
  Status DeliverTo(const std::vector<const Event*>& events,
                   std::string_view subscriber) {
    if (events.empty()) return Status::Ok();
    const std::string& type = events[0]->type;
    const Subscription* sub = Find(type, subscriber);
    if (sub == nullptr) {
      return Status::NotFound("no subscription of " + std::string(subscriber) +
                              " to " + type);
    }
    for (const Event* e : events) {
      if (e->type != type) {
        return Status::InvalidArgument("a batch of events of several types");
      }
    }
    return DeliverBatch(events, *sub);
  }

  // Delivers `events` (of sub's type, in order) to `sub` in one write of
  // its database: each effect with its inbox record, those the inbox holds
  // already skipped. Nothing commits when one handler fails: the caller
  // then delivers them one by one, so that one failure holds back only
  // its own key. One commit for many events is what lets a backlog drain
  // at the database's pace rather than at one commit's round trip each.
  Status DeliverBatch(const std::vector<const Event*>& events,
                      const Subscription& sub) {
    // A delivery from the broker has no request around it: without a
    // deadline of its own, a database that stopped answering would hold the
    // consumer until the storage's default timeout.
    RequestContext bounded;
    std::optional<ContextScope> scope;
    if (!RequestContext::Current().has_deadline()) {
      bounded.deadline = RequestContext::Clock::now() + options_.pass_timeout;
      scope.emplace(&bounded);
    }
    // One span per event, each continuing the trace that produced it; a
    // single one stays current, so that the write's span is its child.
    std::vector<std::unique_ptr<trace::Span>> spans;
    spans.reserve(events.size());
    for (const Event* e : events) {
      trace::SpanContext parent;
      trace::ParseTraceparent(e->traceparent, &parent);
      auto span = std::make_unique<trace::Span>("events.deliver " + e->type,
                                                trace::Kind::kServer, parent);
      if (span->recording()) {
        span->SetAttribute("messaging.system", "mitos");
        span->SetAttribute("messaging.destination.name", e->type);
        span->SetAttribute("messaging.message.id", e->id);
        span->SetAttribute("mitos.subscriber", sub.subscriber);
      }
      if (events.size() > 1) span->Detach();
      spans.push_back(std::move(span));
    }
    // Which events had their effect now (1), not before (0). `handle`
    // refers to this frame: Wait returns only once the write ended.
    std::vector<char> fresh(events.size(), 0);
    const Handler& handler = sub.handler;
    const std::string& name = sub.subscriber;
    auto handle = [&handler, &name, &events, &fresh](storage::Tx& tx) -> Status {
      Inbox inbox(tx);
      for (size_t i = 0; i < events.size(); ++i) {
        fresh[i] = 0;  // only the last run counts
        const Event& e = *events[i];
        if (inbox.Seen(name, e.id)) continue;
        Status s = handler(e, tx);
        if (!s.ok()) return s;
        inbox.Record(name, e);
        fresh[i] = 1;
      }
      return Status::Ok();
    };
    Status result = Wait(storage::Write<Status>(*sub.db, std::move(handle)));
    if (result.ok()) {
      if (metrics::Enabled()) {
        const int64_t now = NowMs();
        for (size_t i = 0; i < events.size(); ++i) {
          const Event& e = *events[i];
          if (fresh[i]) {
            M().effects.With({sub.subscriber, e.type}).Inc();
            M().lag.With({sub.subscriber, e.type})
                .Observe(std::max<int64_t>(0, now - e.created_ms) / 1000.0);
          } else {
            M().duplicates.With({sub.subscriber, e.type}).Inc();
          }
        }
      }
      return Status::Ok();
    }
    for (auto& span : spans) span->SetError(result.message());
    if (metrics::Enabled() && events.size() == 1) {
      M().failures.With({sub.subscriber, events[0]->type}).Inc();
    }
    return result;
  }

  Bus::Relay relay_;

  std::vector<std::string> SubscribersOf(std::string_view type) const {
    std::vector<std::string> out;
    for (const auto& s : subs_) {
      if (s.type == type) out.push_back(s.subscriber);
    }
    return out;
  }

  void Start() {
    if (started_) return;
    started_ = true;
    for (auto& src : sources_) {
      Source* s = src.get();
      s->thread = std::thread([this, s] { Dispatch(*s); });
    }
  }

  void Stop() {
    stopping_ = true;
    for (auto& src : sources_) {
      {
        std::lock_guard<std::mutex> lock(src->mu);
        src->wake = true;
      }
      src->cv.notify_all();
      if (src->thread.joinable()) src->thread.join();
    }
  }

  std::vector<OutboxStats> Stats() const {
    std::vector<OutboxStats> out;
    for (const auto& src : sources_) {
      OutboxStats st;
      st.module = src->module;
      const int64_t now = NowMs();
      auto count = [&st, now](storage::Tx& tx) -> Status {
        st.pending = st.dead = 0;  // only the last run counts
        st.oldest_pending_age_seconds = 0;
        tx.ForEach(
            "SELECT state, count(*), min(created_ms) FROM mitos_outbox "
            "GROUP BY state",
            {}, [&](const storage::Row& r) {
              int64_t n = r.Int(1);
              if (r.String(0) == "dead") {
                st.dead = n;
              } else {
                st.pending += n;
                st.oldest_pending_age_seconds =
                    std::max<int64_t>(0, now - r.Int(2)) / 1000.0;
              }
            });
        return Status::Ok();
      };
      Status s = Wait(storage::Read<Status>(*src->db, std::move(count)));
      if (!s.ok()) {
        st = OutboxStats{};
        st.module = src->module;
        log::Warn(kLog, "cannot read the outbox",
                  {{"outbox_module", src->module}, {"error", s.message()}});
      }
      out.push_back(std::move(st));
    }
    return out;
  }

  std::chrono::milliseconds Backoff(int64_t attempts) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    int64_t ceiling = options_.backoff_base.count();
    for (int64_t i = 1; i < attempts && ceiling < options_.backoff_max.count(); ++i) {
      ceiling *= 2;
    }
    ceiling = std::min<int64_t>(ceiling, options_.backoff_max.count());
    // Half the ceiling at least, so that a retry never follows at once.
    std::uniform_int_distribution<int64_t> d(ceiling / 2, ceiling);
    return std::chrono::milliseconds(d(rng));
  }

  StatusOr<std::vector<Row>> ReadPending(Source& s) {
    const int batch = options_.batch_size;
    auto read = [batch](storage::Tx& tx) -> StatusOr<std::vector<Row>> {
      return tx.All<Row>(
          "SELECT seq, id, type, key, payload, traceparent, created_ms, "
          "attempts, next_attempt_ms FROM mitos_outbox WHERE state = 'pending' "
          "ORDER BY seq LIMIT $1",
          {batch}, [](const storage::Row& r) {
            Row row;
            row.seq = r.Int(0);
            row.event.id = r.String(1);
            row.event.type = r.String(2);
            row.event.key = r.String(3);
            row.event.payload = r.String(4);
            row.event.traceparent = r.String(5);
            row.event.created_ms = r.Int(6);
            row.attempts = r.Int(7);
            row.next_attempt_ms = r.Int(8);
            return row;
          });
    };
    return Wait(storage::Read<StatusOr<std::vector<Row>>>(*s.db, std::move(read)));
  }

  // Hands `due` (events due, in outbox order, none of a held key) to the
  // relay in one call, so that a pass costs the broker one round trip
  // however many events it carries. Returns false when the relay could not
  // publish them all; `due` is then cut to those it took: the others stay
  // as they are, and so should all after them.
  bool Relay(Source& s, std::vector<Row*>& due) {
    if (!relay_ || due.empty()) return true;
    std::vector<const Event*> events;
    events.reserve(due.size());
    for (const Row* r : due) events.push_back(&r->event);
    size_t published = 0;
    Status st = relay_(events, &published);
    if (st.ok()) return true;
    // The broker is down or refuses: nothing is the events' fault, and
    // every later event would fail the same way.
    log::Warn(kLog, "relay cannot publish, the outbox keeps its events",
              {{"outbox_module", s.module}, {"error", st.message()}});
    relay_down_ = true;
    due.resize(std::min(published, due.size()));
    return false;
  }

  // Delivers `chunk` (relayed events, in outbox order) to the local
  // subscribers, and adds what happened to `outcomes`: delivered to all;
  // failed (an attempt counted, its key held); or left pending untouched,
  // behind a failed event of its key, in this chunk or an earlier one.
  // An event relayed and then left pending is relayed again by a later
  // pass, which the broker's dedupe (or the remote inbox) makes harmless.
  void Deliver(Source& s, std::span<Row* const> chunk, std::set<std::string>& held,
               std::vector<Outcome>& outcomes, int64_t& next_due) {
    std::vector<std::string> errors(chunk.size());
    std::vector<char> behind(chunk.size(), 0);  // held back by a failure
    for (size_t i = 0; i < chunk.size(); ++i) {
      if (held.count(chunk[i]->event.key)) behind[i] = 1;
    }
    for (const auto& sub : subs_) {
      std::vector<const Event*> events;
      std::vector<size_t> at;
      for (size_t i = 0; i < chunk.size(); ++i) {
        if (behind[i] || chunk[i]->event.type != sub.type) continue;
        events.push_back(&chunk[i]->event);
        at.push_back(i);
      }
      if (events.empty() || DeliverBatch(events, sub).ok()) continue;
      // One by one, in order: a failure holds back the later events of
      // its key, the others go on.
      std::set<std::string> failed_keys;
      for (size_t j = 0; j < events.size(); ++j) {
        const Event& e = *events[j];
        if (failed_keys.count(e.key)) {
          behind[at[j]] = 1;
          continue;
        }
        Status st = DeliverBatch({&e}, sub);
        if (st.ok()) continue;
        failed_keys.insert(e.key);
        std::string& error = errors[at[j]];
        if (!error.empty()) error += "; ";
        error += sub.subscriber + ": " + st.message();
      }
    }
    for (size_t i = 0; i < chunk.size(); ++i) {
      const Row& r = *chunk[i];
      if (errors[i].empty()) {
        if (behind[i]) {
          held.insert(r.event.key);
        } else {
          outcomes.push_back({r.seq, true, r.attempts + 1, 0, ""});
        }
        continue;
      }
      const std::string& error = errors[i];
      int64_t attempts = r.attempts + 1;
      int64_t retry_at = NowMs() + Backoff(attempts).count();
      outcomes.push_back({r.seq, false, attempts, retry_at, error});
      if (attempts >= options_.max_attempts) {
        log::Error(kLog, "event dead-lettered",
                   {{"outbox_module", s.module}, {"event_id", r.event.id},
                    {"event_type", r.event.type}, {"attempts", attempts},
                    {"error", error}});
        if (metrics::Enabled()) M().dead.With({s.module, r.event.type}).Inc();
      } else {
        log::Warn(kLog, "event delivery failed, will retry",
                  {{"outbox_module", s.module}, {"event_id", r.event.id},
                   {"event_type", r.event.type}, {"attempts", attempts},
                   {"error", error}});
        held.insert(r.event.key);
        next_due = std::min(next_due, retry_at);
      }
    }
  }

  Status Record(Source& s, const std::vector<Outcome>& outcomes) {
    const int max_attempts = options_.max_attempts;
    // Refers to this frame: Wait returns only once the write ended.
    auto record = [&outcomes, max_attempts](storage::Tx& tx) -> Status {
      for (const auto& o : outcomes) {
        if (o.delivered) {
          tx.Exec("DELETE FROM mitos_outbox WHERE seq = $1", {o.seq});
          continue;
        }
        tx.Exec(
            "UPDATE mitos_outbox SET attempts = $1, next_attempt_ms = $2, "
            "last_error = $3, state = $4 WHERE seq = $5 AND state = 'pending'",
            {o.attempts, o.next_attempt_ms, o.error,
             o.attempts >= max_attempts ? "dead" : "pending", o.seq});
      }
      return Status::Ok();
    };
    return Wait(storage::Write<Status>(*s.db, std::move(record)));
  }

  // One pass over the outbox. Returns when to look again at the latest, or
  // why the outbox could not be read or updated.
  StatusOr<std::chrono::milliseconds> Pass(Source& s) {
    StatusOr<std::vector<Row>> pending = ReadPending(s);
    if (!pending.ok()) return pending.status();
    std::vector<Row>& rows = *pending;
    const int64_t now = NowMs();
    int64_t next_due = now + options_.poll_interval.count();
    std::set<std::string> held;  // keys whose earlier event is not delivered
    std::vector<Outcome> outcomes;
    std::vector<Row*> due;
    for (auto& r : rows) {
      if (held.count(r.event.key)) continue;
      int64_t at = std::max(r.next_attempt_ms,
                            r.event.created_ms + options_.dispatch_delay.count());
      if (at > now) {
        held.insert(r.event.key);
        next_due = std::min(next_due, at);
        continue;
      }
      due.push_back(&r);
    }
    Relay(s, due);
    const size_t step = static_cast<size_t>(std::max(1, options_.delivery_batch));
    const std::span<Row* const> all(due);
    for (size_t i = 0; i < all.size() && !stopping_; i += step) {
      Deliver(s, all.subspan(i, std::min(step, all.size() - i)), held, outcomes, next_due);
    }
    if (!outcomes.empty()) {
      // Not recorded, the delivered events are delivered again (the inboxes
      // make that a no-op) and the failed ones keep their attempts.
      Status recorded = Record(s, outcomes);
      if (!recorded.ok()) {
        relay_down_ = false;
        return recorded;
      }
    }
    if (relay_down_) {
      relay_down_ = false;
      return Backoff(2);
    }
    if (static_cast<int>(rows.size()) == options_.batch_size &&
        held.size() < rows.size()) {
      return std::chrono::milliseconds(0);
    }
    return std::chrono::milliseconds(std::max<int64_t>(1, next_due - NowMs()));
  }

  void Dispatch(Source& s) {
    while (!stopping_) {
      std::chrono::milliseconds wait{0};
      RequestContext pass;
      pass.deadline = RequestContext::Clock::now() + options_.pass_timeout;
      StatusOr<std::chrono::milliseconds> next = [&] {
        ContextScope scope(&pass);
        return Pass(s);
      }();
      if (next.ok()) {
        wait = *next;
      } else {
        // The outbox could not be read or updated (a full disk, a lock held
        // past the timeout, PostgreSQL out of reach): the events stay where
        // they are.
        log::Warn(kLog, "outbox pass failed",
                  {{"outbox_module", s.module}, {"error", next.status().message()}});
        wait = options_.poll_interval;
      }
      std::unique_lock<std::mutex> lock(s.mu);
      s.cv.wait_for(lock, wait, [&] { return s.wake || stopping_; });
      s.wake = false;
    }
  }

  BusOptions options_;
  std::vector<std::unique_ptr<Source>> sources_;
  std::vector<Subscription> subs_;
  std::atomic<bool> stopping_{false};
  thread_local static bool relay_down_;
  bool started_ = false;
};

thread_local bool Bus::Impl::relay_down_ = false;

Bus::Bus(BusOptions options) : impl_(std::make_unique<Impl>(options)) {}
Bus::~Bus() { Stop(); }

Notifier Bus::AddOutbox(std::string module, storage::Database* db) {
  auto src = std::make_unique<Impl::Source>();
  src->module = std::move(module);
  src->db = db;
  Impl::Source* s = src.get();
  impl_->sources_.push_back(std::move(src));
  return [s] {
    {
      std::lock_guard<std::mutex> lock(s->mu);
      s->wake = true;
    }
    s->cv.notify_one();
  };
}

void Bus::Subscribe(std::string type, std::string subscriber,
                    storage::Database* db, Handler handler) {
  // The series exist from the start, at 0, so that rates and dashboards
  // see them before the first event.
  M().effects.With({subscriber, type});
  M().duplicates.With({subscriber, type});
  M().failures.With({subscriber, type});
  M().lag.With({subscriber, type});
  M().dead.With({type.substr(0, type.find('.')), type});
  impl_->subs_.push_back(
      {std::move(type), std::move(subscriber), db, std::move(handler)});
}

Status Bus::Deliver(const Event& event, std::string_view subscriber) {
  return impl_->DeliverTo({&event}, subscriber);
}

Status Bus::DeliverBatch(const std::vector<Event>& events,
                         std::string_view subscriber) {
  std::vector<const Event*> all;
  all.reserve(events.size());
  for (const Event& e : events) all.push_back(&e);
  return impl_->DeliverTo(all, subscriber);
}

void Bus::SetRelay(Relay publish) {
  impl_->relay_ = std::move(publish);
}

std::vector<std::pair<std::string, std::string>> Bus::Subscriptions() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& s : impl_->subs_) out.emplace_back(s.type, s.subscriber);
  return out;
}

std::vector<std::string> Bus::SubscribersOf(std::string_view type) const {
  return impl_->SubscribersOf(type);
}

void Bus::Start() { impl_->Start(); }
void Bus::Stop() { impl_->Stop(); }
std::vector<Bus::OutboxStats> Bus::Stats() const { return impl_->Stats(); }

}  // namespace mitos::events
