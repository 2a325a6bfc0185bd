#include "mitos/storage/postgres.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mitos/base/context.h"
#include "mitos/io/event_loop.h"
#include "mitos/observability/log.h"
#include "mitos/observability/metrics.h"
#include "mitos/observability/trace.h"
#include "names.h"

namespace mitos::postgres {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using storage::Condition;
using storage::Error;

// Past a deadline, the server's statement_timeout should have ended the
// statement already; if no answer came this long after it, a cancel request
// follows, and if none came this long after that either, the connection is
// given up (the server, or the network to it, is gone).
constexpr milliseconds kCancelAfter(100);
constexpr milliseconds kAbandonAfter(1000);
// How long a rollback after a failure may take before the connection is
// given up instead.
constexpr milliseconds kRollbackTimeout(1000);
// The server's statement_timeout and this process's clock disagree by a
// little: a cancel this close to the deadline is the deadline's.
constexpr milliseconds kDeadlineSlack(50);

// Sets the session's statement_timeout and default_transaction_read_only,
// for the statements that run alone (outside BEGIN ... COMMIT).
constexpr const char* kSessionSettingsSql =
    "SELECT set_config('statement_timeout', $1, false), "
    "set_config('default_transaction_read_only', $2, false)";

// The statement_timeout of a statement that runs alone: the time left,
// rounded down to four significant bits, so that requests with the same
// deadline share one value and the session's setting seldom changes
// (each change is one more statement for the server), and never more than
// is left (at most 1/8 less).
int64_t SessionTimeout(int64_t ms) {
  if (ms < 16) return std::max<int64_t>(ms, 1);
  const int shift = 63 - __builtin_clzll(static_cast<uint64_t>(ms)) - 3;
  return (ms >> shift) << shift;
}

// Thrown by a read's second statement when its first ran alone: the read
// runs again, in a transaction.
struct RunInTransaction {};

// Failures as mitos_db_errors_total{reason} names them (a subset of the
// SQLite backend's, plus "unavailable").
enum class Reason { kFull, kBusy, kReadOnly, kCorrupt, kDeadline, kUnavailable, kOther };
constexpr std::array<const char*, 7> kReasonNames = {
    "full", "busy", "read_only", "corrupt", "deadline", "unavailable", "other"};
constexpr std::array<const char*, 2> kOpNames = {"read", "write"};

constexpr std::chrono::seconds kLogEvery(1);

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

Condition ConditionFor(std::string_view state) {
  if (state == "23505") return Condition::kUniqueViolation;
  if (state.substr(0, 2) == "23") return Condition::kConstraint;
  if (state == "53100") return Condition::kFull;  // disk_full
  if (state == "25006") return Condition::kReadOnly;  // read_only_sql_transaction
  if (state == "57014") return Condition::kDeadline;  // query_canceled
  if (state == "XX001" || state == "XX002") return Condition::kCorrupt;
  // Connection exceptions, shutdowns, too many connections and other
  // missing resources, serialization failures and deadlocks, lock
  // timeouts, a login refused or a database gone: a later try may work.
  if (state.substr(0, 2) == "08" || state.substr(0, 3) == "57P" ||
      state.substr(0, 2) == "53" || state.substr(0, 2) == "40" ||
      state == "55P03" || state.substr(0, 2) == "28" || state == "3D000") {
    return Condition::kUnavailable;
  }
  return Condition::kOther;
}

Reason ReasonFor(Condition c) {
  switch (c) {
    case Condition::kFull: return Reason::kFull;
    case Condition::kReadOnly: return Reason::kReadOnly;
    case Condition::kCorrupt: return Reason::kCorrupt;
    case Condition::kDeadline: return Reason::kDeadline;
    case Condition::kUnavailable: return Reason::kUnavailable;
    default: return Reason::kOther;
  }
}

// The host of `url` that Connect resolves itself: a single host name (no
// list, no socket directory, no address) with no hostaddr given; else "".
std::string ResolvableHost(const std::string& url) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
  if (err != nullptr) PQfreemem(err);
  if (opts == nullptr) return "";
  std::string host;
  bool hostaddr = false;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0') continue;
    if (std::strcmp(o->keyword, "host") == 0) host = o->val;
    if (std::strcmp(o->keyword, "hostaddr") == 0) hostaddr = true;
  }
  PQconninfoFree(opts);
  in6_addr a6;
  in_addr a4;
  if (hostaddr || host.empty() || host[0] == '/' || host[0] == '@' ||
      host.find(',') != std::string::npos ||
      inet_pton(AF_INET, host.c_str(), &a4) == 1 ||
      inet_pton(AF_INET6, host.c_str(), &a6) == 1) {
    return "";
  }
  return host;
}

// The addresses of `host`, numeric and comma-separated (at most 8), or
// an error once `deadline` passes. getaddrinfo has no timeout, and libpq
// calls it inside PQconnectStartParams: a DNS server that stops answering
// (its pod gone, a partition) would hold the connecting thread, and
// whoever waits for it, through the resolver's own retries, tens of
// seconds. So the lookup runs on a thread of its own, which is left to
// finish alone when the deadline passes.
StatusOr<std::string> ResolveWithin(const std::string& host,
                                    std::chrono::steady_clock::time_point deadline) {
  struct Lookup {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    int rc = 0;
    std::string addresses;
  };
  auto lookup = std::make_shared<Lookup>();
  std::thread([lookup, host] {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
    std::vector<std::string> seen;
    for (addrinfo* p = rc == 0 ? res : nullptr; p != nullptr && seen.size() < 8;
         p = p->ai_next) {
      char buf[INET6_ADDRSTRLEN + 1];
      if (getnameinfo(p->ai_addr, p->ai_addrlen, buf, sizeof(buf), nullptr, 0,
                      NI_NUMERICHOST) == 0 &&
          std::find(seen.begin(), seen.end(), buf) == seen.end()) {
        seen.emplace_back(buf);
      }
    }
    if (res != nullptr) freeaddrinfo(res);
    std::lock_guard<std::mutex> lock(lookup->mu);
    lookup->rc = rc;
    for (const auto& a : seen) {
      if (!lookup->addresses.empty()) lookup->addresses += ",";
      lookup->addresses += a;
    }
    lookup->done = true;
    lookup->cv.notify_all();
  }).detach();
  std::unique_lock<std::mutex> lock(lookup->mu);
  if (!lookup->cv.wait_until(lock, deadline, [&] { return lookup->done; })) {
    return Status::Unavailable("no address for host \"" + host +
                               "\" before the deadline");
  }
  if (lookup->rc != 0 || lookup->addresses.empty()) {
    return Status::Unavailable("could not translate host name \"" + host +
                               "\" to an address: " +
                               gai_strerror(lookup->rc));
  }
  return lookup->addresses;
}

// Removes a password from libpq's messages (which may quote the
// connection string they could not parse).
class Scrubber {
 public:
  explicit Scrubber(const std::string& url) {
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
    if (err != nullptr) PQfreemem(err);
    if (opts != nullptr) {
      for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
        if (std::strcmp(o->keyword, "password") == 0 && o->val != nullptr &&
            *o->val != '\0') {
          secrets_.emplace_back(o->val);
        }
      }
      PQconninfoFree(opts);
    }
    // As written in the URL too (percent-encoded, or unparseable).
    std::string redacted = storage::RedactUrl(url);
    size_t at = redacted.find("<redacted>");
    if (at != std::string::npos) {
      size_t tail = redacted.size() - at - 10;
      if (url.size() > at + tail) {
        std::string raw = url.substr(at, url.size() - at - tail);
        if (!raw.empty()) secrets_.push_back(raw);
      }
    }
  }
  std::string operator()(std::string text) const {
    for (const auto& s : secrets_) {
      for (size_t p = text.find(s); p != std::string::npos;
           p = text.find(s, p + 10)) {
        text.replace(p, s.size(), "<redacted>");
      }
    }
    // One line: libpq ends its messages with a newline and continues some
    // on a second, tab-indented one.
    std::string out;
    for (char ch : text) {
      if (ch == '\n' || ch == '\t' || ch == '\r') ch = ' ';
      if (ch == ' ' && (out.empty() || out.back() == ' ')) continue;
      out.push_back(ch);
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
  }

 private:
  std::vector<std::string> secrets_;
};

// A statement prepared on a connection.
struct Prepared {
  std::string name;
  // Set once a read began with this statement and ran another after it:
  // reads that begin with it then open their transaction at once.
  bool leads_to_more = false;
};

// One connection and its prepared statements.
struct Conn {
  PGconn* pg = nullptr;
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const {
      return std::hash<std::string_view>()(s);
    }
  };
  std::unordered_map<std::string, Prepared, Hash, std::equal_to<>> prepared;
  int next_statement = 0;
  bool broken = false;
  // The session's statement_timeout (ms) and default_transaction_read_only
  // (0, 1) as last set by kSessionSettingsSql; -1 while unknown.
  int64_t session_timeout_ms = -1;
  int session_read_only = -1;
  // The transaction's BEGIN and SET LOCAL, not sent yet: they go in one
  // pipeline with its first statement.
  std::vector<std::string> prologue;
  // Pipelines sent whose results are still to be read (a ROLLBACK nobody
  // waits for, followed by its sync); the connection is in pipeline mode
  // meanwhile.
  int unread = 0;

  ~Conn() {
    if (pg != nullptr) PQfinish(pg);
  }
};

// Sends a cancel request for what `c` runs. PQcancel opens a connection of
// its own and has no timeout, so it runs on a thread of its own: a server
// that stopped answering must not hold the connection's thread.
void SendCancel(Conn& c) {
  PGcancel* cancel = PQgetCancel(c.pg);
  if (cancel == nullptr) return;
  std::thread([cancel] {
    char buf[256];
    PQcancel(cancel, buf, sizeof buf);
    PQfreeCancel(cancel);
  }).detach();
}

class PgRow : public storage::Row {
 public:
  PgRow(const PGresult* r, int row) : r_(r), row_(row) {}
  int size() const override { return PQnfields(r_); }
  bool IsNull(int col) const override {
    Check(col);
    return PQgetisnull(r_, row_, col) == 1;
  }
  int64_t Int(int col) const override {
    const char* v = Value(col);
    char* end = nullptr;
    errno = 0;
    long long n = std::strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0') {
      throw Error(Condition::kOther,
                  "column " + std::to_string(col) + " is no integer");
    }
    return n;
  }
  double Double(int col) const override {
    const char* v = Value(col);
    char* end = nullptr;
    double d = std::strtod(v, &end);
    if (end == v || *end != '\0') {
      throw Error(Condition::kOther,
                  "column " + std::to_string(col) + " is no number");
    }
    return d;
  }
  bool Bool(int col) const override {
    std::string_view v = Value(col);
    if (v == "t" || v == "true" || v == "1") return true;
    if (v == "f" || v == "false" || v == "0") return false;
    throw Error(Condition::kOther, "column " + std::to_string(col) + " is no bool");
  }
  std::string String(int col) const override {
    const char* v = Value(col);
    return std::string(v, static_cast<size_t>(PQgetlength(r_, row_, col)));
  }

 private:
  void Check(int col) const {
    if (col < 0 || col >= PQnfields(r_)) {
      throw Error(Condition::kOther, "no column " + std::to_string(col));
    }
  }
  const char* Value(int col) const {
    if (IsNull(col)) {
      throw Error(Condition::kOther, "column " + std::to_string(col) + " is NULL");
    }
    return PQgetvalue(r_, row_, col);
  }
  const PGresult* r_;
  int row_;
};

// Writes `p` as PostgreSQL reads a parameter in text format into *out;
// returns false for NULL.
bool ParamText(const storage::Param& p, std::string* out) {
  switch (p.kind()) {
    case storage::Param::Kind::kNull: return false;
    case storage::Param::Kind::kInt: *out = std::to_string(p.int_value()); break;
    case storage::Param::Kind::kBool: *out = p.int_value() ? "true" : "false"; break;
    case storage::Param::Kind::kDouble: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", p.double_value());
      *out = buf;
      break;
    }
    case storage::Param::Kind::kText: out->assign(p.text()); break;
  }
  return true;
}

// Rows changed by a command, as SQLite counts them: not those a SELECT
// returned.
int64_t RowsChanged(const PGresult* r) {
  const char* tuples = PQcmdTuples(const_cast<PGresult*>(r));
  if (tuples == nullptr || *tuples == '\0' ||
      std::strncmp(PQcmdStatus(const_cast<PGresult*>(r)), "SELECT", 6) == 0) {
    return 0;
  }
  return std::atoll(tuples);
}

class Pool;

// A work whose statement runs alone, outside BEGIN ... COMMIT: a read's
// first statement, or a write's only one (Statements::kOne).
struct Solo {
  bool read = true;
  int64_t timeout_ms = 0;  // what is left of the deadline
  // The statement that ran alone, once it did.
  Prepared* first = nullptr;
  // The read opened a transaction at its first statement (known to lead
  // to more); its statements run as any transaction's.
  bool in_transaction = false;
};

class PgTx : public storage::Tx {
 public:
  // `solo`, when given, says the work's statements start alone.
  PgTx(Pool& pool, Conn& c, bool read_only, Clock::time_point deadline,
       Solo* solo = nullptr)
      : pool_(pool), c_(c), read_only_(read_only), deadline_(deadline),
        solo_(solo) {
    if (solo != nullptr && !solo->read) LimitToOneStatement();
  }
  storage::Backend backend() const override {
    return storage::Backend::kPostgres;
  }
  bool read_only() const override { return read_only_; }

 protected:
  int64_t Run(std::string_view sql, const storage::Param* params, size_t n,
              const std::function<void(const storage::Row&)>* each) override;
  int64_t RunInsert(std::string_view sql, const storage::Param* params,
                    size_t n) override;

 private:
  Pool& pool_;
  Conn& c_;
  bool read_only_;
  Clock::time_point deadline_;
  Solo* solo_;
};

class Pool : public storage::Database {
 public:
  explicit Pool(const Options& o)
      : o_(o),
        redacted_url_(storage::RedactUrl(o.url)),
        scrub_(o.url),
        app_name_("mitos-" + o.name),
        ready_(std::make_shared<std::atomic<bool>>(true)) {
    auto& reg = metrics::Registry::Default();
    auto& errors = reg.Counters(storage::internal::kErrorsName,
                                storage::internal::kErrorsHelp,
                                {"module", "op", "reason"});
    for (size_t op = 0; op < kOpNames.size(); ++op) {
      for (size_t r = 0; r < kReasonNames.size(); ++r) {
        errors_[op][r] = &errors.With({o.name, kOpNames[op], kReasonNames[r]});
      }
    }
    auto& latency = reg.Histograms(storage::internal::kLatencyName,
                                   storage::internal::kLatencyHelp,
                                   {"module", "op"});
    latency_[0] = &latency.With({o.name, "read"});
    latency_[1] = &latency.With({o.name, "write"});
    wait_ = &reg.Histograms("mitos_db_pool_wait_seconds",
                            "Time a PostgreSQL transaction waited for a "
                            "connection of the pool.",
                            {"module"})
                 .With({o.name});
    auto& conns = reg.Callbacks(
        "mitos_db_pool_connections",
        "PostgreSQL connections of the pool, by state (in_use, idle, loop: "
        "the event loops' own), and the pool threads' most (max).",
        metrics::Type::kGauge, {"module", "state"});
    conns_source_ = metrics::SourceHandle(
        &conns, conns.AddSource([this](const metrics::CallbackFamily::Emit& emit) {
          std::lock_guard<std::mutex> lock(mu_);
          emit({o_.name, "in_use"}, in_use_);
          emit({o_.name, "idle"}, connected_ - in_use_);
          emit({o_.name, "loop"}, lanes_connected_.load(std::memory_order_relaxed));
          emit({o_.name, "max"}, o_.pool_max);
        }));
    auto& ready = reg.Callbacks("mitos_db_ready",
                                "1 while the module's database can be "
                                "reached, else 0.",
                                metrics::Type::kGauge, {"module"});
    ready_source_ = metrics::SourceHandle(
        &ready, ready.AddSource([flag = ready_, name = o.name](
                                    const metrics::CallbackFamily::Emit& emit) {
          emit({name}, flag->load() ? 1.0 : 0.0);
        }));
  }

  // REQUIRES: the loops that submitted works have stopped (a work in a
  // lane ends with its loop).
  ~Pool() override {
    {
      std::lock_guard<std::mutex> lock(lanes_mu_);
      lanes_closing_ = true;
    }
    for (auto& c : connectors_) c.first.join();
    lanes_.clear();
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    with_conn_cv_.notify_all();
    without_conn_cv_.notify_all();
    keeper_cv_.notify_all();
    for (auto& t : workers_) t.join();
    if (keeper_.joinable()) keeper_.join();
    conns_source_.Reset();
    ready_source_.Reset();
  }

  storage::Backend backend() const override {
    return storage::Backend::kPostgres;
  }
  const std::string& name() const override { return o_.name; }
  int schema_version() const override { return version_; }
  bool Ready() const override { return ready_->load(); }
  std::shared_ptr<const std::atomic<bool>> ReadyFlag() const override {
    return ready_;
  }

  // Opens the first connection and applies the migrations; then starts the
  // threads.
  Status Start(const std::vector<storage::Migration>& migrations) {
    std::unique_ptr<Conn> c;
    try {
      c = Connect(Clock::now() + o_.connect_timeout);
    } catch (const Error& e) {
      return Status::StorageUnavailable("cannot connect to PostgreSQL at " +
                                        redacted_url_ + ": " + e.what());
    }
    Status s = CheckOwnership(*c);
    if (!s.ok()) return s;
    s = o_.migrate ? Migrate(*c, migrations) : ReadVersion(*c);
    if (!s.ok()) return s;
    {
      std::lock_guard<std::mutex> lock(mu_);
      spares_.push_back(std::move(c));
      connected_ = 1;
    }
    for (int i = 0; i < o_.pool_max; ++i) {
      workers_.emplace_back([this] { WorkerLoop(); });
    }
    keeper_ = std::thread([this] { KeeperLoop(); });
    return Status::Ok();
  }

  void Execute(storage::Work work) override {
    auto job = std::make_unique<Job>();
    job->enqueued = Clock::now();
    job->expires = std::min(job->enqueued + o_.acquire_timeout, work.deadline);
    // A loop's thread that blocks for this work (storage::Read inside
    // mitos::Wait, as the routes of a GET do) cannot run a completion posted
    // to it: `done` runs on the storage thread then.
    job->loop = mitos::internal::OnEventLoop() ? internal::EventLoop::Current()
                                               : nullptr;
    if (job->loop != nullptr) {
      job->ctx = RequestContext::Current();
      job->span_ctx = trace::Current();
    }
    if (trace::Current().valid()) {
      job->span.emplace(o_.name + (work.write ? ".db write" : ".db read"),
                        trace::Kind::kInternal);
      if (job->span->recording()) {
        job->span->SetAttribute("db.system", "postgresql");
        job->span->SetAttribute("db.name", o_.name);
        job->span->SetAttribute("db.operation", work.write ? "write" : "read");
      }
      job->span->Detach();
    }
    job->work = std::move(work);
    if (job->loop != nullptr && o_.loop_pipeline > 0 &&
        (!job->work.write || job->work.statements == storage::Statements::kOne) &&
        ready_->load(std::memory_order_relaxed) &&
        LaneOf(job->loop)->Take(job)) {
      return;
    }
    Enqueue(std::move(job));
  }

 private:
  struct Job;
  class Lane;

  // Hands `job` to the pool's threads.
  void Enqueue(std::unique_ptr<Job> job) {
    bool wake_keeper;
    {
      std::lock_guard<std::mutex> lock(mu_);
      wake_keeper = job->expires < keeper_wake_;
      queue_.push_back(std::move(job));
      if (idle_with_conn_ > 0) {
        with_conn_cv_.notify_one();
      } else {
        without_conn_cv_.notify_one();
      }
    }
    if (wake_keeper) keeper_cv_.notify_one();
  }

 public:
  // Runs one statement of a transaction (see PgTx).
  int64_t Statement(Conn& c, std::string_view sql, const storage::Param* params,
                    size_t n, const std::function<void(const storage::Row&)>* each,
                    Clock::time_point deadline, Solo* solo = nullptr) {
    if (solo != nullptr && solo->in_transaction) solo = nullptr;
    if (solo != nullptr && solo->first != nullptr) {
      // A read's second statement: the first saw a snapshot of its own.
      solo->first->leads_to_more = true;
      throw RunInTransaction{};
    }
    if (solo != nullptr && solo->read) {
      auto it = c.prepared.find(sql);
      if (it != c.prepared.end() && it->second.leads_to_more) {
        solo->in_transaction = true;
        Begin(c, /*write=*/false, solo->timeout_ms, deadline);
        solo = nullptr;
      }
    }
    std::vector<std::string> texts(n);
    std::vector<const char*> values(n, nullptr);
    for (size_t i = 0; i < n; ++i) {
      if (ParamText(params[i], &texts[i])) values[i] = texts[i].c_str();
    }
    // What Check holds a cancel against: a statement that runs alone has
    // the session's timeout, a little shorter than what is left.
    Clock::time_point judged = deadline;
    std::optional<Settings> settings;  // the session's, when they change
    if (solo != nullptr) {
      const Settings want{SessionTimeout(solo->timeout_ms), solo->read};
      judged = std::min(deadline, Clock::now() + milliseconds(want.timeout_ms));
      if (c.session_timeout_ms != want.timeout_ms ||
          c.session_read_only != (want.read_only ? 1 : 0)) {
        settings = want;
      }
      if (settings && !o_.pipeline) {
        c.session_timeout_ms = c.session_read_only = -1;
        Simple(c,
               "SET statement_timeout = " + std::to_string(want.timeout_ms) +
                   "; SET default_transaction_read_only = " +
                   (want.read_only ? "on" : "off"),
               deadline);
        c.session_timeout_ms = want.timeout_ms;
        c.session_read_only = want.read_only ? 1 : 0;
        settings.reset();
      }
    }
    std::vector<Result> results;
    if (!c.prologue.empty() || (solo != nullptr && o_.pipeline)) {
      results = Pipelined(c, sql, values, deadline, settings ? &*settings : nullptr);
    } else {
      Settle(c, deadline);
      const std::string& name = Prepare(c, sql, deadline).name;
      if (PQsendQueryPrepared(c.pg, name.c_str(), static_cast<int>(n),
                              values.data(), nullptr, nullptr, 0) == 0) {
        throw Broken(c);
      }
      results = Drain(c, deadline);
    }
    if (solo != nullptr) solo->first = &c.prepared.find(sql)->second;
    int64_t changed = 0;
    for (auto& r : results) {
      Check(c, r.get(), judged);
      if (PQresultStatus(r.get()) == PGRES_TUPLES_OK && each != nullptr) {
        const int rows = PQntuples(r.get());
        for (int i = 0; i < rows; ++i) (*each)(PgRow(r.get(), i));
      }
      changed += RowsChanged(r.get());
    }
    return changed;
  }

 private:
  struct Job {
    storage::Work work;
    Clock::time_point enqueued;
    Clock::time_point expires;  // of the wait for a connection
    internal::EventLoop* loop = nullptr;
    RequestContext ctx;
    trace::SpanContext span_ctx;
    std::optional<trace::Span> span;
  };

  // ---- the loops' lanes ----
  //
  // A read, or a write of one statement (Statements::kOne), submitted on an
  // event loop goes when it can to that loop's lane: a connection of the
  // loop's own, non-blocking and in pipeline mode, whose socket the loop
  // watches. The work's fn runs up to its first statement, which is kept
  // (CaptureTx) and joins the pipeline; when its results arrive, fn runs
  // again with them (ReplayTx), and `done` runs on the loop. So such a
  // work costs no thread hand-off, and one send and one receive carry the
  // statements of every request the loop served in a round. A work the
  // lane cannot take (no connection yet, the pipeline full, a read known to
  // run more statements, fn running none) goes to the pool's threads, as
  // does a read that turns out to run a second statement, and a read whose
  // lane broke before it was answered.

  // Thrown by CaptureTx once it has the work's first statement.
  struct Captured {};
  // Thrown by ReplayTx: a read's second statement.
  struct MoreStatements {};
  // Thrown by ReplayTx: fn asked for another first statement.
  struct Diverged {};

  // A work's first statement, as its fn asked for it.
  struct FirstStatement {
    std::string sql;  // as sent: an insert's ends with RETURNING id
    bool insert = false;
    std::vector<std::string> texts;
    std::vector<char> null;
  };

  class CaptureTx : public storage::Tx {
   public:
    CaptureTx(bool read_only, FirstStatement* out)
        : read_only_(read_only), out_(out) {
      if (!read_only) LimitToOneStatement();
    }
    storage::Backend backend() const override {
      return storage::Backend::kPostgres;
    }
    bool read_only() const override { return read_only_; }

   protected:
    int64_t Run(std::string_view sql, const storage::Param* params, size_t n,
                const std::function<void(const storage::Row&)>*) override {
      Keep(sql, params, n, false);
      throw Captured{};
    }
    int64_t RunInsert(std::string_view sql, const storage::Param* params,
                      size_t n) override {
      Keep(sql, params, n, true);
      throw Captured{};
    }

   private:
    void Keep(std::string_view sql, const storage::Param* params, size_t n,
              bool insert) {
      out_->sql.assign(sql);
      if (insert) out_->sql += " RETURNING id";
      out_->insert = insert;
      out_->texts.resize(n);
      out_->null.assign(n, 0);
      for (size_t i = 0; i < n; ++i) {
        out_->null[i] = ParamText(params[i], &out_->texts[i]) ? 0 : 1;
      }
    }
    bool read_only_;
    FirstStatement* out_;
  };

  // Hands fn its first statement's results, or its failure.
  class ReplayTx : public storage::Tx {
   public:
    ReplayTx(bool read_only, const FirstStatement& first,
             const std::vector<Result>& results, std::exception_ptr failure)
        : read_only_(read_only), first_(first), results_(results),
          failure_(std::move(failure)) {
      if (!read_only) LimitToOneStatement();
    }
    storage::Backend backend() const override {
      return storage::Backend::kPostgres;
    }
    bool read_only() const override { return read_only_; }
    bool used() const { return used_; }

   protected:
    int64_t Run(std::string_view sql, const storage::Param*, size_t,
                const std::function<void(const storage::Row&)>* each) override {
      Use(sql, false);
      int64_t changed = 0;
      for (const auto& r : results_) {
        if (PQresultStatus(r.get()) == PGRES_TUPLES_OK && each != nullptr) {
          const int rows = PQntuples(r.get());
          for (int i = 0; i < rows; ++i) (*each)(PgRow(r.get(), i));
        }
        changed += RowsChanged(r.get());
      }
      return changed;
    }
    int64_t RunInsert(std::string_view sql, const storage::Param*,
                      size_t) override {
      Use(sql, true);
      for (const auto& r : results_) {
        if (PQresultStatus(r.get()) == PGRES_TUPLES_OK && PQntuples(r.get()) > 0) {
          return PgRow(r.get(), 0).Int(0);
        }
      }
      throw Error(Condition::kOther, "the insert added no row");
    }

   private:
    void Use(std::string_view sql, bool insert) {
      if (used_) throw MoreStatements{};
      used_ = true;
      const std::string_view sent = first_.sql;
      constexpr std::string_view kReturning = " RETURNING id";
      const bool same =
          insert == first_.insert &&
          (insert ? sent.size() == sql.size() + kReturning.size() &&
                        sent.substr(0, sql.size()) == sql
                  : sent == sql);
      if (!same) throw Diverged{};
      if (failure_) std::rethrow_exception(failure_);
    }
    bool read_only_;
    const FirstStatement& first_;
    const std::vector<Result>& results_;
    std::exception_ptr failure_;
    bool used_ = false;
  };

  class Lane final : public internal::EventLoop::Handler,
               public std::enable_shared_from_this<Lane> {
   public:
    Lane(Pool& pool, internal::EventLoop* loop) : pool_(pool), loop_(loop) {}

    // Sends the first statement of `job`'s work, which then completes on
    // the loop; false, with `job` left as it was, when the lane cannot
    // take it. Loop thread only.
    bool Take(std::unique_ptr<Job>& job) {
      if (conn_ == nullptr && !Reconnect()) return false;
      if (fifo_.size() >= static_cast<size_t>(pool_.o_.loop_pipeline)) return false;
      const storage::Work& w = job->work;
      const Clock::time_point now = Clock::now();
      int64_t timeout_ms = pool_.o_.statement_timeout.count();
      if (w.deadline != Clock::time_point::max()) {
        timeout_ms = std::chrono::ceil<milliseconds>(w.deadline - now).count();
        if (timeout_ms <= 0) return false;  // the pool reports the deadline
      }
      Segment seg;
      try {
        CaptureTx capture(!w.write, &seg.first);
        (void)w.run(capture);
        return false;  // no statement: nothing to pipeline
      } catch (const Captured&) {
      } catch (...) {
        return false;  // the pool's thread runs fn again and reports this
      }
      Conn& c = *conn_;
      auto it = c.prepared.find(seg.first.sql);
      if (!w.write && it != c.prepared.end() && it->second.leads_to_more) {
        return false;
      }
      const int64_t session_ms = SessionTimeout(timeout_ms);
      if (c.session_timeout_ms != session_ms ||
          c.session_read_only != (w.write ? 0 : 1)) {
        const std::string timeout = std::to_string(session_ms);
        const char* args[] = {timeout.c_str(), w.write ? "off" : "on"};
        if (PQsendQueryParams(c.pg, kSessionSettingsSql, 2, nullptr, args,
                              nullptr, nullptr, 0) == 0 ||
            PQpipelineSync(c.pg) == 0) {
          Break(PQerrorMessage(c.pg));
          return false;
        }
        // In effect for what follows in the pipeline; Complete checks it.
        c.session_timeout_ms = session_ms;
        c.session_read_only = w.write ? 0 : 1;
        Segment set;
        set.seq = next_seq_++;
        set.groups.resize(1);
        fifo_.push_back(std::move(set));
      }
      std::string name;
      if (it == c.prepared.end()) {
        name = "m" + std::to_string(c.next_statement++);
        if (PQsendPrepare(c.pg, name.c_str(), seg.first.sql.c_str(), 0, nullptr) == 0) {
          Break(PQerrorMessage(c.pg));
          return false;
        }
        c.prepared.emplace(seg.first.sql, Prepared{name});
        seg.prepare = true;
      } else {
        name = it->second.name;
      }
      const size_t n = seg.first.texts.size();
      std::vector<const char*> values(n, nullptr);
      for (size_t i = 0; i < n; ++i) {
        if (!seg.first.null[i]) values[i] = seg.first.texts[i].c_str();
      }
      if (PQsendQueryPrepared(c.pg, name.c_str(), static_cast<int>(n),
                              values.data(), nullptr, nullptr, 0) == 0 ||
          PQpipelineSync(c.pg) == 0) {
        Break(PQerrorMessage(c.pg));
        return false;
      }
      seg.first.texts.clear();
      seg.seq = next_seq_++;
      seg.groups.resize(seg.prepare ? 2 : 1);
      seg.judged = std::min(w.deadline, now + milliseconds(session_ms));
      seg.job = std::move(job);
      fifo_.push_back(std::move(seg));
      if (!flush_due_) {
        // One send for every statement of this round.
        flush_due_ = true;
        loop_->Defer([self = shared_from_this()] {
          self->flush_due_ = false;
          self->Flush();
        });
      }
      Watch();
      return true;
    }

    void OnEvents(uint32_t events) override {
      if (conn_ == nullptr) return;  // of a connection given up this round
      if (events & EPOLLOUT) Flush();
      if (conn_ == nullptr) return;
      if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        if (PQconsumeInput(conn_->pg) == 0) {
          Break(PQerrorMessage(conn_->pg));
          return;
        }
        Receive();
        if (conn_ != nullptr && PQstatus(conn_->pg) != CONNECTION_OK) {
          Break(PQerrorMessage(conn_->pg));
        }
      }
    }

    // Connector thread: the connection asked for, or null.
    void Connected(std::unique_ptr<Conn> c) {
      std::lock_guard<std::mutex> lock(mu_);
      connecting_ = false;
      if (c != nullptr) {
        ready_conn_ = std::move(c);
      } else {
        retry_at_ = Clock::now() + kLaneRetry;
      }
    }

    bool connected() const { return conn_ != nullptr; }

   private:
    // A pipeline's commands up to its sync: a work's statement (with its
    // PREPARE before it when new to the connection), or, with no job, the
    // session's settings.
    struct Segment {
      std::unique_ptr<Job> job;
      uint64_t seq = 0;
      FirstStatement first;
      bool prepare = false;
      Clock::time_point judged;  // what Check holds a cancel against
      std::vector<std::vector<Result>> groups;  // per command
      size_t at = 0;
    };

    // How long a lane whose connection failed leaves its works to the
    // pool's threads before it connects again.
    static constexpr milliseconds kLaneRetry{1000};
    // How often a lane with statements in flight looks at the oldest's
    // deadline.
    static constexpr milliseconds kWatchEvery{100};

    // Takes the connection a connector made, or asks for one.
    bool Reconnect() {
      std::unique_ptr<Conn> c;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (ready_conn_ != nullptr) {
          c = std::move(ready_conn_);
        } else {
          if (connecting_ || Clock::now() < retry_at_) return false;
          connecting_ = true;
        }
      }
      if (c == nullptr) {
        pool_.ConnectLane(shared_from_this());
        return false;
      }
      if (PQsetnonblocking(c->pg, 1) != 0 || PQenterPipelineMode(c->pg) == 0 ||
          !loop_->Add(PQsocket(c->pg), EPOLLIN, this)) {
        std::lock_guard<std::mutex> lock(mu_);
        retry_at_ = Clock::now() + kLaneRetry;
        return false;
      }
      conn_ = std::move(c);
      writing_ = false;
      ++generation_;
      pool_.lanes_connected_.fetch_add(1, std::memory_order_relaxed);
      return true;
    }

    void Flush() {
      if (conn_ == nullptr) return;
      const int rc = PQflush(conn_->pg);
      if (rc < 0) {
        Break(PQerrorMessage(conn_->pg));
        return;
      }
      const bool more = rc == 1;  // the socket's buffer is full
      if (more != writing_) {
        writing_ = more;
        loop_->Modify(PQsocket(conn_->pg), EPOLLIN | (more ? EPOLLOUT : 0u), this);
      }
    }

    void Receive() {
      const uint64_t generation = generation_;
      while (generation_ == generation && !fifo_.empty() &&
             PQisBusy(conn_->pg) == 0) {
        PGresult* r = PQgetResult(conn_->pg);
        Segment& s = fifo_.front();
        if (r == nullptr) {
          ++s.at;  // the end of one command's results
          continue;
        }
        if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
          PQclear(r);
          Segment done = std::move(s);
          fifo_.pop_front();
          Complete(std::move(done));
          continue;
        }
        // Past the last command: what the sync's implicit commit said,
        // which the statement answers for (as in ReadToSync).
        s.groups[std::min(s.at, s.groups.size() - 1)].emplace_back(r);
      }
    }

    void Complete(Segment s) {
      Conn& c = *conn_;
      if (s.job == nullptr) {
        bool ok = !s.groups[0].empty();
        for (auto& r : s.groups[0]) {
          if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) ok = false;
        }
        // What followed ran without the settings: not to be trusted.
        if (!ok) Break("the session's settings could not be set");
        return;
      }
      std::exception_ptr failure;
      try {
        for (auto& group : s.groups) {
          for (auto& r : group) pool_.Check(c, r.get(), s.judged);
        }
      } catch (const Error&) {
        failure = std::current_exception();
        if (s.prepare) {
          // The PREPARE failed, or the statement after it: either way the
          // next use prepares again (and learns why, if it fails).
          auto it = c.prepared.find(s.first.sql);
          if (it != c.prepared.end()) c.prepared.erase(it);
        }
      }
      Job& job = *s.job;
      const storage::Work& w = job.work;
      std::exception_ptr error;
      {
        ContextScope scope(&job.ctx);
        trace::CurrentScope span(job.span_ctx);
        ReplayTx tx(!w.write, s.first, s.groups.back(), failure);
        bool diverged = false;
        try {
          (void)w.run(tx);  // the statement stands, or a read kept nothing
          diverged = !tx.used();
        } catch (const MoreStatements&) {
          auto it = c.prepared.find(s.first.sql);
          if (it != c.prepared.end()) it->second.leads_to_more = true;
          pool_.Enqueue(std::move(s.job));  // runs again, in a transaction
          return;
        } catch (const Diverged&) {
          diverged = true;
        } catch (...) {
          error = std::current_exception();
        }
        if (diverged) {
          if (!w.write) {
            pool_.Enqueue(std::move(s.job));
            return;
          }
          error = std::make_exception_ptr(Error(
              Condition::kOther,
              "a write's fn asked for another statement when run again"));
        }
      }
      const bool broken = c.broken;
      const uint64_t generation = generation_;
      pool_.Finish(std::move(s.job), error, /*on_loop=*/true);
      // `done` may have given the connection up already.
      if (broken && generation_ == generation) Break("the connection was lost");
    }

    // Gives the connection up. What it had in flight: a read goes to the
    // pool's threads (nothing of it happened that matters), a write fails
    // (it may have happened), and the oldest work fails with a deadline
    // when `deadline` says that is why. The failures' `done`s run later in
    // the loop, not inside whatever called Break (a Take, for one).
    void Break(const std::string& why, bool deadline = false) {
      if (conn_ == nullptr) return;
      ++generation_;
      loop_->Remove(PQsocket(conn_->pg));
      const std::string message = pool_.scrub_(why);
      log::Warn(pool_.o_.name, "an event loop's PostgreSQL connection was given up",
                {{"error", message}, {"in_flight", static_cast<int64_t>(fifo_.size())}});
      conn_.reset();
      pool_.lanes_connected_.fetch_sub(1, std::memory_order_relaxed);
      {
        std::lock_guard<std::mutex> lock(mu_);
        retry_at_ = Clock::now() + kLaneRetry;
      }
      std::deque<Segment> lost = std::move(fifo_);
      fifo_.clear();
      bool first = true;
      for (auto& s : lost) {
        if (s.job == nullptr) continue;
        if (first && deadline) {
          pool_.Finish(std::move(s.job),
                       std::make_exception_ptr(Error(
                           Condition::kDeadline,
                           "no answer from the server past the deadline")));
        } else if (!s.job->work.write) {
          pool_.Enqueue(std::move(s.job));
        } else {
          pool_.Finish(std::move(s.job),
                       std::make_exception_ptr(Error(
                           Condition::kUnavailable, "connection lost: " + message)));
        }
        first = false;
      }
    }

    // Past the oldest work's deadline the server's statement_timeout should
    // have answered; kCancelAfter later a cancel request goes, and
    // kAbandonAfter after that the connection is given up.
    void Watch() {
      if (watching_ || fifo_.empty()) return;
      watching_ = true;
      loop_->AddTimer(Clock::now() + kWatchEvery,
                      [self = shared_from_this()] { self->Tick(); });
    }

    void Tick() {
      watching_ = false;
      if (conn_ == nullptr) return;
      const Segment* oldest = nullptr;
      for (const auto& s : fifo_) {
        if (s.job != nullptr) {
          oldest = &s;
          break;
        }
      }
      if (oldest != nullptr &&
          oldest->job->work.deadline != Clock::time_point::max()) {
        const Clock::time_point now = Clock::now();
        if (oldest->seq != watched_seq_) {
          watched_seq_ = oldest->seq;
          cancelled_ = false;
        }
        if (!cancelled_ && now > oldest->job->work.deadline + kCancelAfter) {
          SendCancel(*conn_);
          cancelled_ = true;
          cancelled_at_ = now;
        } else if (cancelled_ && now > cancelled_at_ + kAbandonAfter) {
          Break("no answer past the deadline", /*deadline=*/true);
          return;
        }
      }
      Watch();
    }

    Pool& pool_;
    internal::EventLoop* const loop_;
    // Loop thread only:
    std::unique_ptr<Conn> conn_;
    std::deque<Segment> fifo_;
    uint64_t generation_ = 0;  // of conn_: a new one, or none
    uint64_t next_seq_ = 1;
    bool writing_ = false;     // EPOLLOUT is asked for
    bool flush_due_ = false;
    bool watching_ = false;
    uint64_t watched_seq_ = 0;
    bool cancelled_ = false;
    Clock::time_point cancelled_at_;
    // Shared with the connector:
    std::mutex mu_;
    bool connecting_ = false;
    std::unique_ptr<Conn> ready_conn_;
    Clock::time_point retry_at_;
  };

  // The lane of `loop`, made on first use.
  Lane* LaneOf(internal::EventLoop* loop) {
    std::lock_guard<std::mutex> lock(lanes_mu_);
    auto& lane = lanes_[loop->id()];
    if (lane == nullptr) lane = std::make_shared<Lane>(*this, loop);
    return lane.get();
  }

  // Opens a connection for `lane` on a thread of its own (Connect blocks).
  void ConnectLane(std::shared_ptr<Lane> lane) {
    std::lock_guard<std::mutex> lock(lanes_mu_);
    if (lanes_closing_) {
      lane->Connected(nullptr);
      return;
    }
    for (auto it = connectors_.begin(); it != connectors_.end();) {
      if (it->second->load()) {
        it->first.join();
        it = connectors_.erase(it);
      } else {
        ++it;
      }
    }
    auto finished = std::make_shared<std::atomic<bool>>(false);
    connectors_.emplace_back(std::thread([this, lane, finished] {
      std::unique_ptr<Conn> c;
      try {
        c = Connect(Clock::now() + o_.connect_timeout);
      } catch (const Error&) {
        // The pool's threads find out, and say so; the lane tries later.
      }
      lane->Connected(std::move(c));
      finished->store(true);
    }), finished);
  }

  // ---- connections ----

  std::unique_ptr<Conn> Connect(Clock::time_point deadline) {
    // With the host's addresses given as hostaddr (one per address, the
    // host repeated as often: libpq tries them in turn), libpq looks up no
    // name; host still names the server for TLS and the password file.
    std::string hosts, hostaddrs;
    if (!resolvable_host_.empty()) {
      StatusOr<std::string> addrs = ResolveWithin(resolvable_host_, deadline);
      if (!addrs.ok()) throw Error(Condition::kUnavailable, addrs.status().message());
      hostaddrs = *addrs;
      for (size_t n = std::count(hostaddrs.begin(), hostaddrs.end(), ',') + 1; n > 0; --n) {
        if (!hosts.empty()) hosts += ",";
        hosts += resolvable_host_;
      }
    }
    const char* keys[] = {"dbname", "application_name", "client_encoding",
                          hosts.empty() ? nullptr : "host", "hostaddr", nullptr};
    const char* values[] = {o_.url.c_str(), app_name_.c_str(), "UTF8",
                            hosts.c_str(), hostaddrs.c_str(), nullptr};
    auto c = std::make_unique<Conn>();
    c->pg = PQconnectStartParams(keys, values, /*expand_dbname=*/1);
    if (c->pg == nullptr) throw Error(Condition::kUnavailable, "out of memory");
    if (PQstatus(c->pg) == CONNECTION_BAD) {
      throw Error(Condition::kUnavailable, scrub_(PQerrorMessage(c->pg)));
    }
    // libpq prints the server's notices ("... already exists, skipping")
    // on stderr; they are no failures, and the log has its own format.
    PQsetNoticeProcessor(c->pg, [](void*, const char*) {}, nullptr);
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK) {
      if (st == PGRES_POLLING_FAILED) {
        std::string msg = scrub_(PQerrorMessage(c->pg));
        throw Error(Condition::kUnavailable, msg);
      }
      auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        throw Error(Condition::kUnavailable,
                    "no connection within " +
                        std::to_string(o_.connect_timeout.count()) + " ms");
      }
      pollfd p{PQsocket(c->pg),
               static_cast<short>(st == PGRES_POLLING_READING ? POLLIN : POLLOUT),
               0};
      int rc = poll(&p, 1, static_cast<int>(left.count()));
      if (rc < 0 && errno != EINTR) {
        throw Error(Condition::kUnavailable, std::strerror(errno));
      }
      if (rc > 0) st = PQconnectPoll(c->pg);
    }
    return c;
  }

  // New values for the session's settings (kSessionSettingsSql).
  struct Settings {
    int64_t timeout_ms;
    bool read_only;
  };

  // Sends the session's `settings` when given (with a sync of their own,
  // so that they hold for the statement's implicit transaction), the
  // transaction's prologue, the statement's PREPARE when it is new to `c`,
  // and the statement itself in one pipeline: one round trip. Returns the
  // statement's results; throws the first failure.
  std::vector<Result> Pipelined(Conn& c, std::string_view sql,
                                const std::vector<const char*>& values,
                                Clock::time_point deadline,
                                const Settings* settings = nullptr) {
    std::vector<std::string> prologue = std::move(c.prologue);
    c.prologue.clear();
    if (PQpipelineStatus(c.pg) == PQ_PIPELINE_OFF &&
        PQenterPipelineMode(c.pg) == 0) {
      throw Broken(c);
    }
    if (settings != nullptr) {
      c.session_timeout_ms = c.session_read_only = -1;
      const std::string timeout = std::to_string(settings->timeout_ms);
      const char* args[] = {timeout.c_str(), settings->read_only ? "on" : "off"};
      if (PQsendQueryParams(c.pg, kSessionSettingsSql, 2, nullptr, args,
                            nullptr, nullptr, 0) == 0 ||
          PQpipelineSync(c.pg) == 0) {
        throw Broken(c);
      }
    }
    for (const auto& p : prologue) {
      if (PQsendQueryParams(c.pg, p.c_str(), 0, nullptr, nullptr, nullptr,
                            nullptr, 0) == 0) {
        throw Broken(c);
      }
    }
    auto it = c.prepared.find(sql);
    std::string text(sql);
    std::string name;
    const bool prepare = it == c.prepared.end();
    if (prepare) {
      name = "m" + std::to_string(c.next_statement++);
      if (PQsendPrepare(c.pg, name.c_str(), text.c_str(), 0, nullptr) == 0) {
        throw Broken(c);
      }
    } else {
      name = it->second.name;
    }
    if (PQsendQueryPrepared(c.pg, name.c_str(), static_cast<int>(values.size()),
                            values.data(), nullptr, nullptr, 0) == 0 ||
        PQpipelineSync(c.pg) == 0) {
      throw Broken(c);
    }
    // First the answer to the last transaction's ROLLBACK, which was on
    // its way meanwhile; it must have succeeded, or this BEGIN would have
    // run inside that transaction.
    bool settled = true;
    for (; c.unread > 0; --c.unread) {
      std::vector<std::vector<Result>> rollback(1);
      ReadToSync(c, deadline, rollback);
      for (auto& r : rollback[0]) {
        if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) settled = false;
      }
    }
    std::vector<std::vector<Result>> set(1);
    if (settings != nullptr) ReadToSync(c, deadline, set);
    // The results of each command, up to the sync; an error aborts the
    // commands after it.
    const size_t commands = prologue.size() + (prepare ? 1 : 0) + 1;
    std::vector<std::vector<Result>> groups(commands);
    ReadToSync(c, deadline, groups);
    if (!settled) throw Broken(c);
    if (settings != nullptr) {
      // The statement ran without them: its result is not to be trusted.
      for (auto& r : set[0]) {
        if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) throw Broken(c);
      }
      c.session_timeout_ms = settings->timeout_ms;
      c.session_read_only = settings->read_only ? 1 : 0;
    }
    for (size_t g = 0; g + 1 < commands; ++g) {
      for (auto& r : groups[g]) Check(c, r.get(), deadline);
    }
    if (prepare) c.prepared.emplace(std::move(text), Prepared{std::move(name)});
    if (c.broken) throw Broken(c);
    return std::move(groups.back());
  }

  // Reads the results of a pipeline up to its sync, those of command i
  // into groups[i] (the results of one command end with a null).
  void ReadToSync(Conn& c, Clock::time_point deadline,
                  std::vector<std::vector<Result>>& groups) {
    size_t at = 0;
    for (;;) {
      Await(c, deadline);
      PGresult* r = PQgetResult(c.pg);
      if (r == nullptr) {
        ++at;
        continue;
      }
      if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
        PQclear(r);
        return;
      }
      // Past the last command: what the sync's implicit commit said (a
      // deferred constraint's failure), which the last command answers for.
      groups[std::min(at, groups.size() - 1)].emplace_back(r);
    }
  }

  // Before a command outside a pipeline: reads what earlier transactions
  // left unread, and leaves pipeline mode.
  void Settle(Conn& c, Clock::time_point deadline) {
    bool settled = true;
    for (; c.unread > 0; --c.unread) {
      std::vector<std::vector<Result>> rollback(1);
      ReadToSync(c, deadline, rollback);
      for (auto& r : rollback[0]) {
        if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) settled = false;
      }
    }
    if (!settled ||
        (PQpipelineStatus(c.pg) != PQ_PIPELINE_OFF && PQexitPipelineMode(c.pg) == 0)) {
      throw Broken(c);
    }
  }

  // Waits until a result of `c` can be read without blocking, with the
  // deadline handling of Drain.
  void Await(Conn& c, Clock::time_point deadline) {
    bool cancelled = false;
    const Clock::time_point cancel_at =
        deadline == Clock::time_point::max() ? deadline : deadline + kCancelAfter;
    while (PQisBusy(c.pg) == 1) {
      const Clock::time_point until =
          cancelled ? cancel_at + kAbandonAfter : cancel_at;
      int wait_ms = -1;
      if (until != Clock::time_point::max()) {
        auto left = std::chrono::ceil<milliseconds>(until - Clock::now());
        wait_ms = static_cast<int>(std::max<int64_t>(0, left.count()));
      }
      pollfd p{PQsocket(c.pg), POLLIN, 0};
      int rc = poll(&p, 1, wait_ms);
      if (rc < 0 && errno != EINTR) throw Broken(c);
      if (rc == 0) {
        if (!cancelled) {
          SendCancel(c);
          cancelled = true;
          continue;
        }
        c.broken = true;
        throw Error(Condition::kDeadline,
                    "no answer from the server past the deadline");
      }
      if (PQconsumeInput(c.pg) == 0) throw Broken(c);
    }
  }

  // Returns true iff `c` still looks usable: the server closes idle
  // connections when it stops, which shows as a readable socket.
  bool Alive(Conn& c) {
    if (c.broken || PQstatus(c.pg) != CONNECTION_OK) return false;
    pollfd p{PQsocket(c.pg), POLLIN, 0};
    if (poll(&p, 1, 0) > 0) {
      if (PQconsumeInput(c.pg) == 0) return false;
      while (PGnotify* n = PQnotifies(c.pg)) PQfreemem(n);
    }
    return PQstatus(c.pg) == CONNECTION_OK;
  }

  Error Broken(Conn& c) {
    c.broken = true;
    return Error(Condition::kUnavailable,
                 "connection lost: " + scrub_(PQerrorMessage(c.pg)));
  }

  // Reads every result of the command sent on `c`. Past the deadline it
  // sends a cancel request, and past that gives the connection up.
  std::vector<Result> Drain(Conn& c, Clock::time_point deadline) {
    std::vector<Result> out;
    for (;;) {
      Await(c, deadline);
      PGresult* r = PQgetResult(c.pg);
      if (r == nullptr) break;
      out.emplace_back(r);
    }
    if (PQstatus(c.pg) != CONNECTION_OK) {
      // The results may hold what the server said before it went.
      for (auto& r : out) {
        if (PQresultStatus(r.get()) == PGRES_FATAL_ERROR) Check(c, r.get(), deadline);
      }
      throw Broken(c);
    }
    return out;
  }

  // Throws the Error a failed result means.
  void Check(Conn& c, const PGresult* r, Clock::time_point deadline) {
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ||
        st == PGRES_EMPTY_QUERY) {
      return;
    }
    const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    std::string code = state != nullptr ? state : "";
    Condition cond = code.empty() ? Condition::kUnavailable : ConditionFor(code);
    if (code.empty() && PQstatus(c.pg) == CONNECTION_OK) cond = Condition::kOther;
    // A cancel nobody asked for (an operator's) is no deadline.
    if (cond == Condition::kDeadline &&
        Clock::now() + kDeadlineSlack < deadline) {
      cond = Condition::kUnavailable;
    }
    if (PQstatus(c.pg) != CONNECTION_OK) c.broken = true;
    throw Error(cond, scrub_(PQresultErrorMessage(r)), code);
  }

  const Prepared& Prepare(Conn& c, std::string_view sql,
                          Clock::time_point deadline) {
    auto it = c.prepared.find(sql);
    if (it != c.prepared.end()) return it->second;
    std::string name = "m" + std::to_string(c.next_statement++);
    std::string text(sql);
    if (PQsendPrepare(c.pg, name.c_str(), text.c_str(), 0, nullptr) == 0) {
      throw Broken(c);
    }
    for (auto& r : Drain(c, deadline)) Check(c, r.get(), deadline);
    return c.prepared.emplace(std::move(text), Prepared{std::move(name)})
        .first->second;
  }

  // Runs `sql` (one or several statements) with the simple protocol;
  // returns the command status of the last result ("COMMIT", "ROLLBACK").
  std::string Simple(Conn& c, const std::string& sql, Clock::time_point deadline) {
    Settle(c, deadline);
    if (PQsendQuery(c.pg, sql.c_str()) == 0) throw Broken(c);
    std::string status;
    for (auto& r : Drain(c, deadline)) {
      Check(c, r.get(), deadline);
      status = PQcmdStatus(r.get());
    }
    return status;
  }

  // ---- start-up ----

  Status CheckOwnership(Conn& c) {
    const Clock::time_point deadline = Clock::now() + o_.statement_timeout;
    try {
      std::vector<Result> rs;
      if (PQsendQuery(c.pg,
                      "SELECT r.rolsuper, current_user, current_schema(), "
                      "has_schema_privilege(current_schema(), 'CREATE') "
                      "FROM pg_roles r WHERE r.rolname = current_user") == 0) {
        throw Broken(c);
      }
      rs = Drain(c, deadline);
      for (auto& r : rs) Check(c, r.get(), deadline);
      const PGresult* r = rs.empty() ? nullptr : rs.back().get();
      if (r == nullptr || PQntuples(r) != 1) {
        return Status::FailedPrecondition(o_.name + ": cannot read the role of "
                                          "the connection to PostgreSQL");
      }
      const std::string role = PQgetvalue(r, 0, 1);
      if (std::string_view(PQgetvalue(r, 0, 0)) == "t") {
        return Status::FailedPrecondition(
            o_.name + ": the PostgreSQL role \"" + role +
            "\" is a superuser, which can read every module's data; connect "
            "as a role of the module's own that owns its database (see "
            "docs/deploy.md)");
      }
      if (PQgetisnull(r, 0, 2) == 1 ||
          std::string_view(PQgetvalue(r, 0, 3)) != "t") {
        return Status::FailedPrecondition(
            o_.name + ": the PostgreSQL role \"" + role +
            "\" may create tables in no schema of its search_path; give it a "
            "database or a schema of its own");
      }
      // Tables of other roles that this one can read: another module's
      // data, reachable from this module's connection.
      if (PQsendQuery(
              c.pg,
              "SELECT n.nspname || '.' || c.relname FROM pg_class c "
              "JOIN pg_namespace n ON n.oid = c.relnamespace "
              "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') "
              "AND n.nspname <> 'information_schema' "
              "AND n.nspname NOT LIKE 'pg\\_%' "
              "AND NOT pg_has_role(c.relowner, 'USAGE') "
              "AND has_table_privilege(c.oid, 'SELECT') "
              "ORDER BY 1 LIMIT 5") == 0) {
        throw Broken(c);
      }
      rs = Drain(c, deadline);
      for (auto& res : rs) Check(c, res.get(), deadline);
      r = rs.back().get();
      if (PQntuples(r) > 0) {
        std::string names;
        for (int i = 0; i < PQntuples(r); ++i) {
          names += (i ? ", " : "") + std::string(PQgetvalue(r, i, 0));
        }
        return Status::FailedPrecondition(
            o_.name + ": the PostgreSQL role \"" + role +
            "\" can read tables of other roles (" + names +
            "); a module's role must see only its own data (see "
            "docs/deploy.md)");
      }
      // Other databases it may connect to: tables there are another
      // role's and not readable by default, but the door is open.
      if (PQsendQuery(c.pg,
                      "SELECT count(*) FROM pg_database WHERE datname <> "
                      "current_database() AND NOT datistemplate AND "
                      "datallowconn AND datname <> 'postgres' AND "
                      "has_database_privilege(datname, 'CONNECT')") == 0) {
        throw Broken(c);
      }
      rs = Drain(c, deadline);
      for (auto& res : rs) Check(c, res.get(), deadline);
      const std::string others = PQgetvalue(rs.back().get(), 0, 0);
      if (others != "0") {
        log::Warn(o_.name,
                  "the module's PostgreSQL role may connect to other "
                  "databases; REVOKE CONNECT ON DATABASE ... FROM PUBLIC",
                  {{"role", role}, {"databases", std::stoll(others)}});
      }
    } catch (const Error& e) {
      return Status::StorageUnavailable(o_.name + ": cannot check the role at " +
                                        redacted_url_ + ": " + e.what());
    }
    return Status::Ok();
  }

  // The schema version as found, for a pool that applies no migrations.
  Status ReadVersion(Conn& c) {
    const Clock::time_point deadline = Clock::now() + o_.statement_timeout;
    try {
      bool exists = false;
      std::function<void(const storage::Row&)> has =
          [&](const storage::Row& r) { exists = r.Bool(0); };
      Statement(c, "SELECT to_regclass('mitos_schema_version') IS NOT NULL",
                nullptr, 0, &has, deadline);
      int64_t v = 0;
      std::function<void(const storage::Row&)> read =
          [&](const storage::Row& r) { v = r.Int(0); };
      if (exists) {
        Statement(c, "SELECT coalesce(max(version), 0) FROM mitos_schema_version",
                  nullptr, 0, &read, deadline);
      }
      version_ = static_cast<int>(v);
    } catch (const Error& e) {
      return Status::StorageUnavailable(o_.name + ": cannot read the schema "
                                        "version at " + redacted_url_ + ": " +
                                        e.what());
    }
    return Status::Ok();
  }

  Status Migrate(Conn& c, const std::vector<storage::Migration>& migrations) {
    const int latest = migrations.empty() ? 0 : migrations.back().version;
    const std::string timeout =
        "SET statement_timeout = " + std::to_string(o_.statement_timeout.count());
    auto deadline = [&] { return Clock::now() + o_.statement_timeout; };
    // Several replicas may start at once: one applies, the others wait on
    // the lock and find nothing left to do. A session lock, so that it
    // also covers the steps' own transactions; it goes with the
    // connection if this process dies.
    const std::string lock =
        "SELECT pg_advisory_lock(hashtext('mitos.migrations.' || "
        "current_schema()))";
    const std::string unlock =
        "SELECT pg_advisory_unlock(hashtext('mitos.migrations.' || "
        "current_schema()))";
    int version = 0;
    int step = 0;
    try {
      Simple(c, timeout, deadline());
      Simple(c, lock, deadline());
      Simple(c,
             "CREATE TABLE IF NOT EXISTS mitos_schema_version ("
             " version integer PRIMARY KEY,"
             " description text NOT NULL,"
             " applied_at timestamptz NOT NULL DEFAULT now())",
             deadline());
      auto current = [&] {
        std::optional<int64_t> v;
        std::function<void(const storage::Row&)> f =
            [&](const storage::Row& r) { v = r.Int(0); };
        Statement(c, "SELECT coalesce(max(version), 0) FROM mitos_schema_version",
                  nullptr, 0, &f, deadline());
        return static_cast<int>(v.value_or(0));
      };
      version = current();
      if (version > latest) {
        Simple(c, unlock, deadline());
        return Status::FailedPrecondition(
            o_.name + ": the PostgreSQL database at " + redacted_url_ +
            " has schema version " + std::to_string(version) +
            ", newer than this build knows (" + std::to_string(latest) + ")");
      }
      for (const auto& m : migrations) {
        if (m.version <= version) continue;
        if (m.version != version + 1) {
          Simple(c, unlock, deadline());
          return Status::Internal("migrations must be numbered 1, 2, 3...");
        }
        step = m.version;
        Simple(c, "BEGIN", deadline());
        try {
          Simple(c, m.SqlFor(storage::Backend::kPostgres), deadline());
          storage::Param ps[] = {m.version, m.description};
          Statement(c,
                    "INSERT INTO mitos_schema_version (version, description) "
                    "VALUES ($1, $2)",
                    ps, 2, nullptr, deadline());
          if (Simple(c, "COMMIT", deadline()) != "COMMIT") {
            throw Error(Condition::kOther, "the commit was rolled back");
          }
        } catch (...) {
          if (!c.broken) {
            try {
              Simple(c, "ROLLBACK", deadline());
            } catch (const Error&) {
            }
          }
          throw;
        }
        version = m.version;
        step = 0;
      }
      Simple(c, unlock, deadline());
    } catch (const Error& e) {
      if (step != 0) {
        return Status::Internal(o_.name + ": migration " + std::to_string(step) +
                                " failed on the PostgreSQL database at " +
                                redacted_url_ + ": " + e.what());
      }
      return Status::StorageUnavailable(o_.name +
                                        ": cannot migrate the PostgreSQL "
                                        "database at " +
                                        redacted_url_ + ": " + e.what());
    }
    version_ = version;
    return Status::Ok();
  }

  // ---- the pool's threads ----

  void WorkerLoop() {
    std::unique_ptr<Conn> conn;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (conn) {
        ++idle_with_conn_;
        with_conn_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        --idle_with_conn_;
      } else {
        // Leaves the jobs to a thread that has a connection, if one is
        // idle, so that the pool grows only under load.
        without_conn_cv_.wait(lock, [&] {
          return stopping_ || (!queue_.empty() && idle_with_conn_ == 0);
        });
      }
      if (queue_.empty()) {
        if (stopping_) return;
        continue;
      }
      std::unique_ptr<Job> job = std::move(queue_.front());
      queue_.pop_front();
      ++in_use_;
      if (!conn && !spares_.empty()) {
        conn = std::move(spares_.back());
        spares_.pop_back();
      }
      lock.unlock();
      std::exception_ptr error = RunJob(conn, *job);
      Finish(std::move(job), error);
      lock.lock();
      --in_use_;
    }
  }

  // Takes a connection for a job; returns null with `error` set when none
  // can be had. REQUIRES: mu_ not held.
  std::unique_ptr<Conn> NewConnection(const Job& job, std::exception_ptr* error) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!spares_.empty()) {
        auto c = std::move(spares_.back());
        spares_.pop_back();
        return c;
      }
      if (!ready_->load()) {
        // The keeper is reconnecting; until it succeeds, fail at once.
        *error = std::make_exception_ptr(
            Error(Condition::kUnavailable, "the database cannot be reached"));
        return nullptr;
      }
      ++connected_;
    }
    const Clock::time_point own = Clock::now() + o_.connect_timeout;
    try {
      return Connect(std::min(own, job.work.deadline));
    } catch (const Error& e) {
      std::lock_guard<std::mutex> lock(mu_);
      --connected_;
      if (job.work.deadline < own && Clock::now() >= job.work.deadline) {
        // The request ran out of time, which says nothing of the server.
        *error = std::make_exception_ptr(Error(
            Condition::kDeadline, "the deadline passed while connecting"));
        return nullptr;
      }
      *error = std::current_exception();
      MarkDown(e.what());
      return nullptr;
    }
  }

  // REQUIRES: mu_ held.
  void MarkDown(const std::string& why) {
    if (!ready_->exchange(false)) return;
    backoff_ = o_.backoff_min;
    next_probe_ = Clock::now() + backoff_;
    keeper_cv_.notify_one();
    log::Error(o_.name, "the PostgreSQL database cannot be reached",
               {{"url", redacted_url_}, {"error", why}});
  }

  void Drop(std::unique_ptr<Conn>& conn) {
    conn.reset();
    std::lock_guard<std::mutex> lock(mu_);
    --connected_;
  }

  std::exception_ptr RunJob(std::unique_ptr<Conn>& conn, Job& job) {
    const auto started = Clock::now();
    if (metrics::Enabled()) {
      wait_->Observe(std::chrono::duration<double>(started - job.enqueued).count());
    }
    if (job.work.deadline <= started) {
      return std::make_exception_ptr(Error(
          Condition::kDeadline, "the deadline passed before a connection was free"));
    }
    for (int attempt = 0;; ++attempt) {
      bool fresh = false;
      if (conn && !Alive(*conn)) Drop(conn);
      if (!conn) {
        std::exception_ptr error;
        conn = NewConnection(job, &error);
        if (!conn) return error;
        fresh = true;
      }
      bool committing = false;
      try {
        Transaction(*conn, job, &committing);
        if (conn->broken) Drop(conn);
        return nullptr;
      } catch (const Error&) {
        const bool broken = conn->broken;
        if (broken) Drop(conn);
        // A connection that had died while idle fails at its first use.
        // Before the COMMIT was sent the server kept nothing of the
        // transaction, so one more run on a new connection loses nothing
        // and writes nothing twice.
        if (broken && !committing && !fresh && attempt == 0) continue;
        return std::current_exception();
      } catch (...) {
        if (conn->broken) Drop(conn);
        return std::current_exception();
      }
    }
  }

  // Runs the job's transaction on `c`. `committing` turns true once the
  // COMMIT is sent.
  void Transaction(Conn& c, Job& job, bool* committing) {
    const storage::Work& w = job.work;
    const Clock::time_point deadline = w.deadline;
    auto now = Clock::now();
    milliseconds timeout = o_.statement_timeout;
    if (deadline != Clock::time_point::max()) {
      timeout = std::chrono::ceil<milliseconds>(deadline - now);
      if (timeout.count() <= 0) {
        throw Error(Condition::kDeadline, "the deadline passed");
      }
    }
    const Clock::time_point bound =
        deadline != Clock::time_point::max() ? deadline : now + timeout;
    if ((!w.write || w.statements == storage::Statements::kOne) &&
        RunAlone(c, job, timeout.count(), bound, committing)) {
      return;
    }
    Begin(c, w.write, timeout.count(), bound);
    bool keep;
    try {
      PgTx tx(*this, c, !w.write, bound);
      keep = w.run(tx);
    } catch (...) {
      RollBack(c);
      throw;
    }
    if (!c.prologue.empty()) {
      // fn ran no statement: there is no transaction to end.
      c.prologue.clear();
      return;
    }
    if (!keep || !w.write) {
      RollBack(c);
      return;
    }
    // The write counts only once its COMMIT answered COMMIT: a lost
    // answer is an error, never an acknowledgement.
    *committing = true;
    std::string status = Simple(c, "COMMIT", bound);
    if (status != "COMMIT") {
      // fn went on after a failed statement whose error it swallowed.
      throw Error(Condition::kOther,
                  "the transaction had failed and was rolled back");
    }
  }

  // Opens a transaction on `c` whose statements each get `timeout_ms`: its
  // BEGIN and SET LOCAL go with its first statement (Options::pipeline),
  // or now.
  void Begin(Conn& c, bool write, int64_t timeout_ms, Clock::time_point deadline) {
    // READ WRITE: the session's default may be read-only (see RunAlone).
    std::string begin = write ? "BEGIN READ WRITE"
                              : "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
    // SET LOCAL ends with the transaction.
    std::string timeout = "SET LOCAL statement_timeout = " + std::to_string(timeout_ms);
    if (o_.pipeline) {
      c.prologue = {std::move(begin), std::move(timeout)};
    } else {
      Simple(c, begin + "; " + timeout, deadline);
    }
  }

  // Runs a read, or a write of one statement, with its first statement on
  // its own: with no BEGIN, COMMIT or ROLLBACK for the server to run, in
  // one round trip. The session's settings stand in for SET LOCAL and
  // READ ONLY. Returns false when the read ran a second statement: it must
  // run again in a transaction.
  bool RunAlone(Conn& c, Job& job, int64_t timeout_ms, Clock::time_point bound,
                bool* committing) {
    const storage::Work& w = job.work;
    Solo solo;
    solo.read = !w.write;
    solo.timeout_ms = timeout_ms;
    // The statement is its own commit: once sent, it may have happened.
    if (w.write) *committing = true;
    try {
      PgTx tx(*this, c, solo.read, bound, &solo);
      (void)w.run(tx);  // one statement stands, or a read kept nothing
    } catch (const RunInTransaction&) {
      return false;
    } catch (...) {
      if (solo.in_transaction) RollBack(c);
      throw;
    }
    if (solo.in_transaction) RollBack(c);
    return true;
  }

  void RollBack(Conn& c) {
    if (!c.prologue.empty()) {
      c.prologue.clear();  // nothing was sent
      return;
    }
    if (c.broken) return;
    if (o_.pipeline) {
      // Nobody waits for a rollback: its answer is read with those of the
      // connection's next pipeline, which is sent behind it, so that it
      // costs no round trip of its own.
      if ((PQpipelineStatus(c.pg) == PQ_PIPELINE_OFF &&
           PQenterPipelineMode(c.pg) == 0) ||
          PQsendQueryParams(c.pg, "ROLLBACK", 0, nullptr, nullptr, nullptr,
                            nullptr, 0) == 0 ||
          PQpipelineSync(c.pg) == 0) {
        c.broken = true;
      } else {
        ++c.unread;
      }
      return;
    }
    try {
      Simple(c, "ROLLBACK", Clock::now() + kRollbackTimeout);
    } catch (const Error&) {
      c.broken = true;
    }
  }

  // Hands the outcome to the job's `done`, where Database::Execute says.
  // `on_loop`: the caller runs on job->loop, where `done` then runs at once.
  void Finish(std::unique_ptr<Job> job, std::exception_ptr error,
              bool on_loop = false) {
    if (error) NoteFailure(*job, error);
    if (metrics::Enabled()) {
      latency_[job->work.write ? 1 : 0]->Observe(
          std::chrono::duration<double>(Clock::now() - job->enqueued).count());
    }
    if (job->span && error) job->span->SetError("storage error");
    job->span.reset();  // the span ends with the transaction
    if (job->loop == nullptr) {
      RunDone(*job, error);
      return;
    }
    if (on_loop) {
      ContextScope scope(&job->ctx);
      trace::CurrentScope span(job->span_ctx);
      RunDone(*job, error);
      return;
    }
    internal::EventLoop* loop = job->loop;
    std::shared_ptr<Job> shared(std::move(job));
    loop->Post([shared, error] {
      ContextScope scope(&shared->ctx);
      trace::CurrentScope span(shared->span_ctx);
      RunDone(*shared, error);
    });
  }

  static void RunDone(Job& job, std::exception_ptr error) {
    try {
      job.work.done(error);
    } catch (const std::exception& e) {
      log::Error("runtime", "a storage completion threw", {{"error", e.what()}});
    } catch (...) {
      log::Error("runtime", "a storage completion threw", {});
    }
  }

  void NoteFailure(const Job& job, std::exception_ptr error) {
    Condition cond;
    std::string message;
    std::string code;
    try {
      std::rethrow_exception(error);
    } catch (const Error& e) {
      cond = e.condition();
      message = e.what();
      code = e.code();
    } catch (...) {
      return;  // fn's own exception, not the storage's
    }
    if (cond == Condition::kUniqueViolation) return;  // an answer, not a fault
    NoteFailure(job.work.write ? 1 : 0, ReasonFor(cond), message, code);
  }

  void NoteFailure(size_t op, Reason reason, const std::string& message,
                   const std::string& code) {
    const auto r = static_cast<size_t>(reason);
    if (metrics::Enabled()) errors_[op][r]->Inc();
    uint64_t suppressed;
    {
      std::lock_guard<std::mutex> lock(log_mu_);
      auto now = Clock::now();
      auto& last = logged_at_[r];
      if (last && now - *last < kLogEvery) {
        ++suppressed_[r];
        return;
      }
      last = now;
      suppressed = std::exchange(suppressed_[r], 0);
    }
    nlohmann::json fields = {{"url", redacted_url_},
                             {"op", kOpNames[op]},
                             {"reason", kReasonNames[r]},
                             {"error", message}};
    if (!code.empty()) fields["sqlstate"] = code;
    if (suppressed > 0) fields["suppressed"] = suppressed;
    const bool passing = reason == Reason::kDeadline || reason == Reason::kBusy;
    log::Write(passing ? log::Level::kWarn : log::Level::kError, o_.name,
               "storage error", fields);
  }

  // Fails the jobs that waited too long for a connection, reconnects
  // while the database cannot be reached, and keeps pool_min connections.
  void KeeperLoop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      auto now = Clock::now();
      std::vector<std::unique_ptr<Job>> expired;
      Clock::time_point wake = now + std::chrono::seconds(1);
      for (auto it = queue_.begin(); it != queue_.end();) {
        if ((*it)->expires <= now) {
          expired.push_back(std::move(*it));
          it = queue_.erase(it);
        } else {
          wake = std::min(wake, (*it)->expires);
          ++it;
        }
      }
      const bool down = !ready_->load();
      const bool want_spare =
          !down && connected_ < o_.pool_min && !stopping_;
      const bool probe = down && now >= next_probe_;
      if (!expired.empty() || probe || want_spare) {
        if (want_spare || probe) ++connected_;
        lock.unlock();
        for (auto& job : expired) {
          const bool deadline = job->work.deadline <= now;
          Finish(std::move(job),
                 std::make_exception_ptr(Error(
                     deadline ? Condition::kDeadline : Condition::kUnavailable,
                     deadline ? "the deadline passed while waiting for a "
                                "connection"
                              : "no connection was free within " +
                                    std::to_string(o_.acquire_timeout.count()) +
                                    " ms")));
        }
        std::unique_ptr<Conn> c;
        std::string why;
        if (want_spare || probe) {
          try {
            c = Connect(Clock::now() + o_.connect_timeout);
          } catch (const Error& e) {
            why = e.what();
          }
        }
        lock.lock();
        if (want_spare || probe) {
          if (c) {
            spares_.push_back(std::move(c));
            if (!ready_->exchange(true)) {
              log::Info(o_.name, "the PostgreSQL database can be reached again",
                        {{"url", redacted_url_}});
            }
            without_conn_cv_.notify_all();
          } else {
            --connected_;
            if (probe) {
              backoff_ = std::min(backoff_ * 2, o_.backoff_max);
              next_probe_ = Clock::now() + backoff_;
            } else {
              MarkDown(why);
            }
          }
        }
        continue;
      }
      if (down) wake = std::min(wake, next_probe_);
      keeper_wake_ = wake;
      keeper_cv_.wait_until(lock, wake);
      keeper_wake_ = Clock::time_point::min();
    }
  }

  const Options o_;
  const std::string redacted_url_;
  const Scrubber scrub_;
  const std::string app_name_;
  // The URL's host name, which Connect resolves within its deadline; ""
  // when libpq has no name to look up, or several (ResolvableHost).
  const std::string resolvable_host_ = ResolvableHost(o_.url);
  std::shared_ptr<std::atomic<bool>> ready_;
  int version_ = 0;

  std::mutex mu_;
  std::condition_variable with_conn_cv_;     // workers that hold a connection
  std::condition_variable without_conn_cv_;  // workers that hold none
  std::condition_variable keeper_cv_;
  std::deque<std::unique_ptr<Job>> queue_;
  std::vector<std::unique_ptr<Conn>> spares_;  // connected, no thread's yet
  int connected_ = 0;  // connections open or being opened
  int in_use_ = 0;
  int idle_with_conn_ = 0;
  bool stopping_ = false;
  Clock::time_point keeper_wake_ = Clock::time_point::min();
  Clock::time_point next_probe_;
  milliseconds backoff_{0};
  std::vector<std::thread> workers_;
  std::thread keeper_;

  // The loops' lanes, by EventLoop::id; connectors_ open their
  // connections.
  std::mutex lanes_mu_;
  std::unordered_map<uint64_t, std::shared_ptr<Lane>> lanes_;
  std::vector<std::pair<std::thread, std::shared_ptr<std::atomic<bool>>>> connectors_;
  bool lanes_closing_ = false;
  std::atomic<int> lanes_connected_{0};

  std::array<std::array<metrics::Counter*, kReasonNames.size()>, kOpNames.size()>
      errors_{};
  std::array<metrics::Histogram*, 2> latency_{};
  metrics::Histogram* wait_ = nullptr;
  metrics::SourceHandle conns_source_;
  metrics::SourceHandle ready_source_;
  std::mutex log_mu_;
  std::array<std::optional<Clock::time_point>, kReasonNames.size()> logged_at_;
  std::array<uint64_t, kReasonNames.size()> suppressed_{};
};

int64_t PgTx::Run(std::string_view sql, const storage::Param* params, size_t n,
                  const std::function<void(const storage::Row&)>* each) {
  return pool_.Statement(c_, sql, params, n, each, deadline_, solo_);
}

int64_t PgTx::RunInsert(std::string_view sql, const storage::Param* params,
                        size_t n) {
  std::string text(sql);
  text += " RETURNING id";
  std::optional<int64_t> id;
  const std::function<void(const storage::Row&)> each =
      [&id](const storage::Row& r) {
        if (!id) id = r.Int(0);
      };
  pool_.Statement(c_, text, params, n, &each, deadline_, solo_);
  if (!id) throw storage::Error(storage::Condition::kOther, "the insert added no row");
  return *id;
}

}  // namespace

StatusOr<std::unique_ptr<storage::Database>> Open(
    const Options& options, const std::vector<storage::Migration>& migrations) {
  const std::string& url = options.url;
  if (url.rfind("postgresql://", 0) != 0 && url.rfind("postgres://", 0) != 0) {
    return Status::InvalidArgument(
        options.name + ".storage.url must be a URL like "
        "postgresql://user:password@host:5432/dbname, got \"" +
        storage::RedactUrl(url) + "\"");
  }
  char* err = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(url.c_str(), &err);
  if (parsed == nullptr) {
    std::string why = err != nullptr ? Scrubber(url)(err) : "out of memory";
    if (err != nullptr) PQfreemem(err);
    return Status::InvalidArgument(options.name + ".storage.url \"" +
                                   storage::RedactUrl(url) +
                                   "\" is no valid PostgreSQL URL: " + why);
  }
  // libpq reads the port only when it connects, and its complaint would
  // look like an unreachable server.
  std::string bad_port;
  for (PQconninfoOption* o = parsed; o->keyword != nullptr; ++o) {
    if (std::strcmp(o->keyword, "port") != 0 || o->val == nullptr) continue;
    std::string_view v = o->val;
    if (v.find_first_not_of("0123456789,") != std::string_view::npos) bad_port = v;
  }
  PQconninfoFree(parsed);
  if (!bad_port.empty()) {
    return Status::InvalidArgument(options.name + ".storage.url \"" +
                                   storage::RedactUrl(url) +
                                   "\" has no valid port: \"" + bad_port + "\"");
  }
  auto pool = std::make_unique<Pool>(options);
  Status s = pool->Start(migrations);
  if (!s.ok()) return s;
  return std::unique_ptr<storage::Database>(std::move(pool));
}

}  // namespace mitos::postgres
