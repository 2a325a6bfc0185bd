#include "mitos/events/nats.h"

#include <nats/nats.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "mitos/observability/log.h"
#include "mitos/observability/metrics.h"
#include "mitos/observability/trace.h"

namespace mitos::events {
namespace {

constexpr char kLog[] = "events.nats";
constexpr int64_t kNanosPerMs = 1000 * 1000;

std::string Text(natsStatus s, jsErrCode jerr = static_cast<jsErrCode>(0)) {
  std::string out = natsStatus_GetText(s);
  if (jerr != 0) out += " (JetStream error " + std::to_string(static_cast<int>(jerr)) + ")";
  const char* last = nats_GetLastError(nullptr);
  if (last != nullptr && *last != '\0') out += ": " + std::string(last);
  return out;
}

std::string Header(natsMsg* m, const char* key) {
  const char* v = nullptr;
  if (natsMsgHeader_Get(m, key, &v) == NATS_OK && v != nullptr) return v;
  return "";
}

struct Metrics {
  metrics::ChildFamily<metrics::Counter>& published =
      metrics::Registry::Default().Counters(
          "mitos_events_relayed_total",
          "Events JetStream acknowledged from this instance's relay.", {"type"});
  metrics::ChildFamily<metrics::Counter>& relay_failures =
      metrics::Registry::Default().Counters(
          "mitos_events_relay_failures_total",
          "Publishes to JetStream that failed (the outbox kept the event).", {});
  metrics::ChildFamily<metrics::Counter>& consumed =
      metrics::Registry::Default().Counters(
          "mitos_events_consumed_total",
          "JetStream messages a consumer acknowledged after its commit.",
          {"subscriber", "type"});
};

Metrics& M() {
  static Metrics m;
  return m;
}

// Which of the processes that run a subscriber consumes its durable now.
// Replicas of a subscriber share one durable, and JetStream would split
// its messages among their fetches, delivering a key's events in parallel
// and out of order; with one of them fetching at a time, a key's events
// keep their order. The lease is a key (the durable's name) in the
// key-value bucket "<stream>_consumers", taken by create-if-absent and
// renewed by compare-and-set; it expires kTtl after its holder last renewed
// it, so a holder that dies is replaced within that time.
class ConsumerLease {
 public:
  static constexpr std::chrono::seconds kTtl{10};
  static constexpr std::chrono::seconds kRenewEvery{2};

  ConsumerLease(jsCtx* js, std::string bucket, std::string key, std::string owner)
      : js_(js), bucket_(std::move(bucket)), key_(std::move(key)), owner_(std::move(owner)) {}
  ~ConsumerLease() {
    Release();
    if (kv_ != nullptr) kvStore_Destroy(kv_);
  }
  ConsumerLease(const ConsumerLease&) = delete;
  ConsumerLease& operator=(const ConsumerLease&) = delete;

  // True iff this process holds the lease now: takes it when it is free
  // (or still names this process, after a lost connection), renews it when
  // due. A renewal that fails (another took it once it expired, or the
  // server cannot be reached) loses it.
  bool Hold() {
    const auto now = std::chrono::steady_clock::now();
    if (held_ && now - renewed_ < kRenewEvery) return true;
    if (!Bind()) return Lose();
    uint64_t rev = 0;
    natsStatus s = NATS_OK;
    if (held_) {
      s = kvStore_Update(&rev, kv_, key_.c_str(), owner_.data(), static_cast<int>(owner_.size()),
                         rev_);
    } else {
      s = kvStore_Create(&rev, kv_, key_.c_str(), owner_.data(), static_cast<int>(owner_.size()));
      if (s != NATS_OK) {
        // Still ours from before the connection dropped: carry on with it.
        kvEntry* e = nullptr;
        if (kvStore_Get(&e, kv_, key_.c_str()) == NATS_OK && e != nullptr) {
          if (kvEntry_Operation(e) == kvOp_Put && kvEntry_ValueString(e) == owner_) {
            s = kvStore_Update(&rev, kv_, key_.c_str(), owner_.data(),
                               static_cast<int>(owner_.size()), kvEntry_Revision(e));
          }
          kvEntry_Destroy(e);
        }
      }
    }
    if (s != NATS_OK) return Lose();
    if (!held_) {
      log::Info(kLog, "consuming for this subscriber's processes", {{"consumer", key_}});
      acquired_ = true;
    }
    held_ = true;
    rev_ = rev;
    renewed_ = now;
    return true;
  }

  // True once after each time Hold() took the lease anew.
  bool TakeAcquired() { return std::exchange(acquired_, false); }

  // Gives the lease up, so that another process takes it without waiting
  // for it to expire.
  void Release() {
    if (!held_ || kv_ == nullptr) return;
    held_ = false;
    kvStore_Delete(kv_, key_.c_str());
  }

 private:
  bool Bind() {
    if (kv_ != nullptr) return true;
    kvConfig cfg;
    kvConfig_Init(&cfg);
    cfg.Bucket = bucket_.c_str();
    cfg.History = 1;
    cfg.TTL = std::chrono::duration_cast<std::chrono::nanoseconds>(kTtl).count();
    cfg.StorageType = js_FileStorage;
    if (js_CreateKeyValue(&kv_, js_, &cfg) == NATS_OK) return true;
    kv_ = nullptr;
    if (js_KeyValue(&kv_, js_, bucket_.c_str()) == NATS_OK) return true;
    kv_ = nullptr;
    return false;
  }

  bool Lose() {
    if (held_) {
      log::Warn(kLog, "lost the consumer lease; another process may consume",
                {{"consumer", key_}, {"error", Text(NATS_ERR)}});
    }
    held_ = false;
    return false;
  }

  jsCtx* js_;
  const std::string bucket_;
  const std::string key_;
  const std::string owner_;
  kvStore* kv_ = nullptr;
  uint64_t rev_ = 0;
  bool held_ = false;
  bool acquired_ = false;
  std::chrono::steady_clock::time_point renewed_;
};

}  // namespace

NatsOptions NatsOptionsFrom(const config::Config& c) {
  NatsOptions o;
  o.url = c.String("events.nats.url");
  o.stream = c.String("events.nats.stream");
  o.subject_prefix = c.String("events.nats.subject_prefix");
  o.max_age_s = c.Int("events.nats.max_age_s");
  o.max_bytes = c.Int("events.nats.max_bytes");
  o.duplicate_window_s = c.Int("events.nats.duplicate_window_s");
  o.ack_wait_ms = c.Int("events.nats.ack_wait_ms");
  o.fetch_batch = static_cast<int>(c.Int("events.nats.fetch_batch"));
  o.timeout_ms = c.Int("events.nats.timeout_ms");
  return o;
}

class Nats::Impl {
 public:
  explicit Impl(NatsOptions o) : options_(std::move(o)) {}

  ~Impl() { Stop(); }

  Status Connect() {
    natsOptions* opts = nullptr;
    natsStatus s = natsOptions_Create(&opts);
    if (s == NATS_OK) s = natsOptions_SetURL(opts, options_.url.c_str());
    if (s == NATS_OK) s = natsOptions_SetTimeout(opts, options_.timeout_ms);
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 250);
    if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(opts, true, nullptr, nullptr);
    if (s == NATS_OK) s = natsConnection_Connect(&nc_, opts);
    // With retry on a failed connect, NATS_NOT_YET_CONNECTED means the
    // server is down now and the client keeps trying.
    if (s == NATS_NOT_YET_CONNECTED) s = NATS_OK;
    jsOptions jo;
    if (s == NATS_OK) s = jsOptions_Init(&jo);
    jo.Wait = options_.timeout_ms;
    jo.PublishAsync.AckHandler = &Impl::OnPublished;
    jo.PublishAsync.AckHandlerClosure = this;
    if (s == NATS_OK) s = natsConnection_JetStream(&js_, nc_, &jo);
    natsOptions_Destroy(opts);
    if (s != NATS_OK) return Status::Unavailable("cannot use NATS at " + options_.url + ": " + Text(s));
    return Status::Ok();
  }

  // Creates the stream when it does not exist (or after the server lost
  // it), with the configured retention. REQUIRES: mu_ held.
  Status EnsureStream() {
    if (stream_ready_) return Status::Ok();
    jsStreamInfo* si = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&si, js_, options_.stream.c_str(), nullptr, &jerr);
    if (s == NATS_OK) {
      jsStreamInfo_Destroy(si);
      stream_ready_ = true;
      return Status::Ok();
    }
    if (s != NATS_NOT_FOUND) return Status::Unavailable("JetStream: " + Text(s, jerr));
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    std::string subjects = options_.subject_prefix + ".>";
    const char* subj[] = {subjects.c_str()};
    cfg.Name = options_.stream.c_str();
    cfg.Subjects = subj;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Retention = js_LimitsPolicy;
    cfg.MaxAge = options_.max_age_s * 1000 * kNanosPerMs;
    cfg.MaxBytes = options_.max_bytes;
    cfg.Duplicates = options_.duplicate_window_s * 1000 * kNanosPerMs;
    s = js_AddStream(&si, js_, &cfg, nullptr, &jerr);
    if (s != NATS_OK) return Status::Unavailable("cannot create stream " + options_.stream + ": " + Text(s, jerr));
    jsStreamInfo_Destroy(si);
    log::Info(kLog, "stream created", {{"stream", options_.stream}, {"subjects", subjects}});
    stream_ready_ = true;
    return Status::Ok();
  }

  std::string Subject(const std::string& type) const {
    return options_.subject_prefix + "." + type;
  }

  // JetStream's answer to one asynchronous publish (a library thread).
  static void OnPublished(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae,
                          void* closure) {
    auto* self = static_cast<Impl*>(closure);
    const char* id = nullptr;
    natsMsgHeader_Get(msg, "Nats-Msg-Id", &id);
    {
      std::lock_guard<std::mutex> lock(self->acks_mu_);
      if (pa != nullptr && pae == nullptr && id != nullptr) {
        self->acked_.insert(id);
      } else if (pae != nullptr && self->ack_error_.empty()) {
        self->ack_error_ = Text(pae->Err, pae->ErrCode);
      }
    }
    natsMsg_Destroy(msg);
  }

  // Publishes `events` in order without waiting for each acknowledgement,
  // then waits for them all (events.nats.timeout_ms): one round trip for
  // the batch instead of one per event. *published is how many of the
  // first JetStream acknowledged.
  Status PublishBatch(const std::vector<const Event*>& events, size_t* published) {
    std::lock_guard<std::mutex> lock(mu_);
    *published = 0;
    Status ready = EnsureStream();
    if (!ready.ok()) {
      if (metrics::Enabled()) M().relay_failures.With({}).Inc();
      return ready;
    }
    {
      std::lock_guard<std::mutex> acks(acks_mu_);
      acked_.clear();
      ack_error_.clear();
    }
    std::vector<std::unique_ptr<trace::Span>> spans;
    spans.reserve(events.size());
    natsStatus s = NATS_OK;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    size_t sent = 0;
    for (; sent < events.size() && s == NATS_OK; ++sent) {
      const Event& e = *events[sent];
      trace::SpanContext parent;
      trace::ParseTraceparent(e.traceparent, &parent);
      auto span = std::make_unique<trace::Span>("events.publish " + e.type,
                                                trace::Kind::kClient, parent);
      if (span->recording()) {
        span->SetAttribute("messaging.system", "nats");
        span->SetAttribute("messaging.destination.name", Subject(e.type));
        span->SetAttribute("messaging.message.id", e.id);
      }
      span->Detach();
      spans.push_back(std::move(span));
      natsMsg* msg = nullptr;
      std::string subject = Subject(e.type);
      s = natsMsg_Create(&msg, subject.c_str(), nullptr, e.payload.data(),
                         static_cast<int>(e.payload.size()));
      std::string created = std::to_string(e.created_ms);
      if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Mitos-Event-Type", e.type.c_str());
      if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Mitos-Event-Key", e.key.c_str());
      if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Mitos-Created-Ms", created.c_str());
      // The consumer's span continues the producer's trace, not this one.
      if (s == NATS_OK && !e.traceparent.empty()) {
        s = natsMsgHeader_Set(msg, "traceparent", e.traceparent.c_str());
      }
      jsPubOptions po;
      jsPubOptions_Init(&po);
      po.MsgId = e.id.c_str();
      // The library owns msg once this succeeds (and nulls the pointer).
      if (s == NATS_OK) s = js_PublishMsgAsync(js_, &msg, &po);
      natsMsg_Destroy(msg);
    }
    jsPubOptions wait;
    jsPubOptions_Init(&wait);
    wait.MaxWait = options_.timeout_ms;
    natsStatus done = js_PublishAsyncComplete(js_, &wait);
    if (done != NATS_OK) {
      // Not answered in time: given up (they may still have been stored;
      // published again, JetStream drops them by their Nats-Msg-Id).
      natsMsgList pending{};
      if (js_PublishAsyncGetPendingList(&pending, js_) == NATS_OK) {
        natsMsgList_Destroy(&pending);
      }
    }
    std::string error;
    {
      std::lock_guard<std::mutex> acks(acks_mu_);
      while (*published < events.size() && acked_.count(events[*published]->id)) {
        ++*published;
      }
      error = ack_error_;
    }
    for (size_t i = 0; i < spans.size(); ++i) {
      if (i >= *published) spans[i]->SetError("not acknowledged by JetStream");
    }
    if (metrics::Enabled()) {
      for (size_t i = 0; i < *published; ++i) M().published.With({events[i]->type}).Inc();
    }
    if (*published == events.size()) return Status::Ok();
    stream_ready_ = false;  // look again next time: the server may be new
    if (metrics::Enabled()) M().relay_failures.With({}).Inc();
    if (error.empty()) error = Text(s != NATS_OK ? s : done, jerr);
    return Status::Unavailable("JetStream did not take event " + events[*published]->id +
                               ": " + error);
  }

  // One consumer's loop: subscribe (again) when needed, fetch, deliver in
  // order, acknowledge after each commit.
  void ConsumeLoop(Bus& bus, std::string type, std::string subscriber) {
    std::string durable = subscriber + "-" + type;
    for (auto& ch : durable) {
      if (ch == '.') ch = '_';
    }
    const std::string subject = Subject(type);
    natsSubscription* sub = nullptr;
    ConsumerLease lease(js_, options_.stream + "_consumers", durable, owner_);
    jsAckPolicy ack_policy = js_AckAll;
    BusOptions retry;  // backoff between failed deliveries of one message
    while (!stopping_) {
      if (sub == nullptr) {
        Status st;
        {
          std::lock_guard<std::mutex> lock(mu_);
          st = EnsureStream();
        }
        jsErrCode jerr = static_cast<jsErrCode>(0);
        natsStatus s = NATS_OK;
        if (st.ok()) {
          jsSubOptions so;
          jsSubOptions_Init(&so);
          so.Stream = options_.stream.c_str();
          so.Config.Durable = durable.c_str();
          so.Config.DeliverPolicy = js_DeliverAll;
          so.Config.AckWait = options_.ack_wait_ms * kNanosPerMs;
          so.Config.MaxDeliver = -1;
          // One fetch out at a time: what a consumer that dies leaves
          // unacknowledged is at most one fetch, which comes back whole.
          so.Config.MaxAckPending = options_.fetch_batch;
          so.Config.FilterSubject = subject.c_str();
          s = AlignConsumer(durable, nullptr, &ack_policy);
          // Acknowledging a fetch's last message acknowledges the fetch
          // (js_AckAll, for a durable made now): one acknowledgement per
          // commit, not per event. A durable made with explicit acks keeps
          // them.
          so.Config.AckPolicy = ack_policy;
          if (s == NATS_OK) {
            s = js_PullSubscribe(&sub, js_, subject.c_str(), durable.c_str(), nullptr, &so, &jerr);
          }
        }
        if (!st.ok() || s != NATS_OK) {
          if (s != NATS_OK) {
            std::lock_guard<std::mutex> lock(mu_);
            stream_ready_ = false;
          }
          sub = nullptr;
          log::Warn(kLog, "cannot subscribe yet",
                    {{"consumer", durable},
                     {"error", st.ok() ? Text(s, jerr) : st.message()}});
          Sleep(std::chrono::milliseconds(500));
          continue;
        }
        log::Info(kLog, "consuming", {{"consumer", durable}, {"subject", subject}});
      }
      if (!lease.Hold()) {
        Sleep(std::chrono::milliseconds(1000));
        continue;
      }
      if (lease.TakeAcquired()) {
        int64_t held = 0;
        if (AlignConsumer(durable, &held, nullptr) != NATS_OK) held = 1;
        if (held > 0) {
          // Messages an earlier holder of this durable fetched and never
          // acknowledged (it died, or gave the lease up mid-fetch): a
          // fetch now would get later messages first, and deliver a key's
          // events out of order. Once ack_wait has passed they are
          // redelivered, and the server hands them out before any later
          // one.
          log::Info(kLog, "waiting for the messages an earlier consumer held",
                    {{"consumer", durable}, {"messages", held},
                     {"ack_wait_ms", options_.ack_wait_ms}});
          if (!SleepHolding(lease, std::chrono::milliseconds(options_.ack_wait_ms + 100))) {
            continue;
          }
        }
      }
      natsMsgList list{};
      jsErrCode jerr = static_cast<jsErrCode>(0);
      natsStatus s = natsSubscription_Fetch(&list, sub, options_.fetch_batch, 1000, &jerr);
      if (s == NATS_TIMEOUT) continue;
      if (s != NATS_OK) {
        log::Warn(kLog, "fetch failed", {{"consumer", durable}, {"error", Text(s, jerr)}});
        natsMsgList_Destroy(&list);
        if (s == NATS_INVALID_SUBSCRIPTION || s == NATS_CONNECTION_CLOSED) {
          natsSubscription_Destroy(sub);
          sub = nullptr;
        }
        Sleep(std::chrono::milliseconds(250));
        continue;
      }
      std::vector<Event> events(static_cast<size_t>(list.Count));
      for (int i = 0; i < list.Count; ++i) {
        natsMsg* m = list.Msgs[i];
        Event& e = events[static_cast<size_t>(i)];
        e.id = Header(m, "Nats-Msg-Id");
        e.key = Header(m, "Mitos-Event-Key");
        e.traceparent = Header(m, "traceparent");
        std::string created = Header(m, "Mitos-Created-Ms");
        e.created_ms = created.empty() ? 0 : std::strtoll(created.c_str(), nullptr, 10);
        e.payload.assign(natsMsg_GetData(m), natsMsg_GetDataLength(m));
        // The subject is the type's: a header that says otherwise is not
        // what this consumer subscribed to.
        e.type = type;
      }
      // The whole fetch in one transaction when every effect commits;
      // acknowledged without waiting for the server's confirmation: an
      // acknowledgement lost is a redelivery, which the inbox skips.
      if (!stopping_ && bus.DeliverBatch(events, subscriber).ok()) {
        for (int i = 0; i < list.Count; ++i) {
          if (ack_policy != js_AckAll || i + 1 == list.Count) natsMsg_Ack(list.Msgs[i], nullptr);
          if (metrics::Enabled()) M().consumed.With({subscriber, type}).Inc();
        }
        natsMsgList_Destroy(&list);
        continue;
      }
      bool abandoned = false;
      for (int i = 0; i < list.Count && !stopping_ && !abandoned; ++i) {
        natsMsg* m = list.Msgs[i];
        const Event& e = events[static_cast<size_t>(i)];
        // Retried in place, so that the events behind it (of its key among
        // them) stay behind it. The server is not told it is in hand: its
        // redelivery deadline stays that of the rest of the fetch, so that
        // if this process dies they all come back together, in order
        // (later ones first otherwise). Redelivered to this consumer while
        // it retries, they are repeats that the inbox skips.
        for (int attempt = 1; !stopping_; ++attempt) {
          Status st = bus.Deliver(e, subscriber);
          if (st.ok()) {
            natsMsg_AckSync(m, nullptr, nullptr);  // if lost: redelivered, deduplicated
            if (metrics::Enabled()) M().consumed.With({subscriber, e.type}).Inc();
            break;
          }
          log::Warn(kLog, "delivery failed, will retry",
                    {{"consumer", durable}, {"event_id", e.id},
                     {"attempts", attempt}, {"error", st.message()}});
          int64_t wait = std::min<int64_t>(retry.backoff_max.count(),
                                           retry.backoff_base.count() << std::min(attempt, 16));
          // Another process that took the lease meanwhile gets this fetch
          // back, in order, once ack_wait passed: this one must let go.
          if (!SleepHolding(lease, std::chrono::milliseconds(
                                       std::min<int64_t>(wait, options_.ack_wait_ms / 2)))) {
            abandoned = true;
            break;
          }
        }
      }
      natsMsgList_Destroy(&list);
    }
    if (sub != nullptr) natsSubscription_Destroy(sub);
    lease.Release();
  }

  // Sleeps for `d`, or until Stop, keeping `lease`; false when it was lost.
  bool SleepHolding(ConsumerLease& lease, std::chrono::milliseconds d) {
    auto until = std::chrono::steady_clock::now() + d;
    while (!stopping_ && std::chrono::steady_clock::now() < until) {
      if (!lease.Hold()) return false;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      Sleep(std::clamp(left, std::chrono::milliseconds(0), std::chrono::milliseconds(500)));
    }
    return lease.Hold();
  }

  // A durable made under another configuration gets this one's bound on
  // unacknowledged messages and ack wait (subscribing checks that they
  // match). A durable that does not exist yet is left for the subscription
  // to make. Sets *held (if given) to how many messages it has out
  // unacknowledged, and *policy (if given) to its acknowledgement policy,
  // which cannot change (js_AckAll for one to be made).
  natsStatus AlignConsumer(const std::string& durable, int64_t* held,
                           jsAckPolicy* policy) {
    if (held != nullptr) *held = 0;
    if (policy != nullptr) *policy = js_AckAll;
    const int64_t max_ack_pending = options_.fetch_batch;
    const int64_t ack_wait = options_.ack_wait_ms * kNanosPerMs;
    jsConsumerInfo* ci = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetConsumerInfo(&ci, js_, options_.stream.c_str(), durable.c_str(),
                                      nullptr, &jerr);
    if (s == NATS_NOT_FOUND || (s != NATS_OK && jerr == JSConsumerNotFoundErr)) return NATS_OK;
    if (s != NATS_OK) return s;
    if (held != nullptr) *held = ci->NumAckPending;
    if (policy != nullptr) *policy = ci->Config->AckPolicy;
    if (ci->Config->MaxAckPending != max_ack_pending || ci->Config->AckWait != ack_wait) {
      log::Info(kLog, "consumer settings changed",
                {{"consumer", durable},
                 {"max_ack_pending", max_ack_pending},
                 {"ack_wait_ms", options_.ack_wait_ms}});
      ci->Config->MaxAckPending = max_ack_pending;
      ci->Config->AckWait = ack_wait;
      jsConsumerInfo* updated = nullptr;
      s = js_UpdateConsumer(&updated, js_, options_.stream.c_str(), ci->Config, nullptr, &jerr);
      if (updated != nullptr) jsConsumerInfo_Destroy(updated);
    }
    jsConsumerInfo_Destroy(ci);
    return s;
  }

  void Sleep(std::chrono::milliseconds d) {
    auto until = std::chrono::steady_clock::now() + d;
    while (!stopping_ && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  void Stop() {
    stopping_ = true;
    for (auto& t : consumers_) {
      if (t.joinable()) t.join();
    }
    consumers_.clear();
    if (js_ != nullptr) {
      jsCtx_Destroy(js_);
      js_ = nullptr;
    }
    if (nc_ != nullptr) {
      natsConnection_Destroy(nc_);
      nc_ = nullptr;
    }
  }

  NatsOptions options_;
  // Names this process in the consumer leases it holds.
  const std::string owner_ = [] {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    std::random_device rd;
    return std::string(host) + "/" + std::to_string(getpid()) + "/" + std::to_string(rd());
  }();
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  std::mutex mu_;  // the relay's publishes, and stream_ready_
  bool stream_ready_ = false;
  // What JetStream acknowledged of the batch being published.
  std::mutex acks_mu_;
  std::set<std::string> acked_;
  std::string ack_error_;
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> consumers_;
};

StatusOr<std::unique_ptr<Nats>> Nats::Create(NatsOptions options) {
  if (options.url.rfind("nats://", 0) != 0 || options.url.size() <= 7) {
    return Status::InvalidArgument("events.nats.url must be a URL like nats://127.0.0.1:4222, got \"" +
                                   options.url + "\"");
  }
  M().relay_failures.With({});
  auto impl = std::make_unique<Impl>(std::move(options));
  Status s = impl->Connect();
  if (!s.ok()) return s;
  return std::unique_ptr<Nats>(new Nats(std::move(impl)));
}

Nats::Nats(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Nats::~Nats() = default;

void Nats::Relay(Bus& bus) {
  Impl* impl = impl_.get();
  bus.SetRelay([impl](const std::vector<const Event*>& events, size_t* published) {
    return impl->PublishBatch(events, published);
  });
}

void Nats::Consume(Bus& bus, std::string type, std::string subscriber) {
  Impl* impl = impl_.get();
  M().consumed.With({subscriber, type});
  impl->consumers_.emplace_back([impl, &bus, type = std::move(type),
                                 subscriber = std::move(subscriber)] {
    impl->ConsumeLoop(bus, type, subscriber);
  });
}

void Nats::Stop() { impl_->Stop(); }

bool Nats::connected() const {
  return impl_->nc_ != nullptr && natsConnection_Status(impl_->nc_) == NATS_CONN_STATUS_CONNECTED;
}

}  // namespace mitos::events
