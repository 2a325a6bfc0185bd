#include "mitos/storage/sqlite.h"

#include <sqlite3.h>

#include <SQLiteCpp/Transaction.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>

#include "mitos/base/context.h"
#include "mitos/io/event_loop.h"
#include "mitos/observability/log.h"
#include "names.h"

namespace mitos::sqlite {
namespace {

// Operations committed in one transaction, at most.
constexpr size_t kMaxBatch = 64;

// WAL pages after which the checkpointer copies the log into the file
// (SQLite's default for its own automatic checkpoints). Such a checkpoint
// runs beside the writes, so under writes that never pause it rarely finds
// the log complete, and the log is only restarted once it is: past
// kRestartPages, the writer itself completes one between two batches.
constexpr int kCheckpointPages = 1000;
constexpr int kRestartPages = 4 * kCheckpointPages;

// The database whose writer thread this is, if any.
thread_local const Database* tl_writer_of = nullptr;

// The kinds of storage failure, as mitos_db_errors_total{reason} names them.
enum class Reason {
  kFull, kBusy, kIo, kReadOnly, kCantOpen, kCorrupt, kDeadline, kOther
};
constexpr std::array<const char*, 8> kReasonNames = {
    "full", "busy", "io", "read_only", "cant_open", "corrupt", "deadline",
    "other"};
constexpr std::array<const char*, 3> kOpNames = {"read", "write", "checkpoint"};

// Returns the kind of failure of a SQLite result, or nullopt for a
// uniqueness conflict: an answer (409) its caller maps, not a failure.
std::optional<Reason> ReasonOf(int code, int extended_code) {
  if (extended_code == SQLITE_CONSTRAINT_UNIQUE ||
      extended_code == SQLITE_CONSTRAINT_PRIMARYKEY) {
    return std::nullopt;
  }
  // SQLiteCpp's own errors (a column out of range, say) carry -1.
  if (code < 0) code = extended_code;
  if (code < 0) return Reason::kOther;
  switch (code & 0xff) {
    case SQLITE_FULL: return Reason::kFull;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return Reason::kBusy;
    case SQLITE_IOERR: return Reason::kIo;
    case SQLITE_READONLY:
    case SQLITE_PERM: return Reason::kReadOnly;
    case SQLITE_CANTOPEN: return Reason::kCantOpen;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return Reason::kCorrupt;
    // A statement interrupted because its request's deadline passed.
    case SQLITE_INTERRUPT: return Reason::kDeadline;
    default: return Reason::kOther;
  }
}

std::optional<Reason> ReasonOf(const SQLite::Exception& e) {
  return ReasonOf(e.getErrorCode(), e.getExtendedErrorCode());
}

// A log line at most this often per kind of failure: a full disk under
// load fails thousands of writes a second, and the log may share the disk.
constexpr std::chrono::seconds kLogEvery(1);

}  // namespace

struct Database::Faults {
  // By op and reason, created at open so that every series exists from the
  // first scrape (a rate over a series that appears late misses its start).
  std::array<std::array<metrics::Counter*, kReasonNames.size()>,
             kOpNames.size()>
      errors{};
  std::mutex log_mu;
  std::array<std::optional<std::chrono::steady_clock::time_point>,
             kReasonNames.size()>
      logged_at;
  std::array<uint64_t, kReasonNames.size()> suppressed{};
};

struct Database::Op {
  std::function<void(Connection&)> run;
  std::function<void(std::exception_ptr)> finish;
  std::exception_ptr error;
  const char* stage = nullptr;  // "begin", "write" or "commit" on error
  // Where `finish` runs: this event loop, or the writer thread when null.
  internal::EventLoop* loop = nullptr;
  // The submitter's request and span, current again while `finish` runs.
  RequestContext ctx;
  trace::SpanContext span;
};

Connection::Connection(const std::string& path, int flags,
                       const Options& options, metrics::Counter* busy_retries)
    : db_(path, flags, options.busy_timeout_ms),
      busy_{options.busy_timeout_ms, busy_retries} {
  // SQLite's busy timeout, with each wait counted for the metrics.
  sqlite3_busy_handler(db_.getHandle(), &Connection::OnBusy, &busy_);
  db_.exec("PRAGMA cache_size=-" + std::to_string(options.cache_kib));
  db_.exec("PRAGMA foreign_keys=ON");
}

int Connection::OnBusy(void* arg, int count) {
  // The waits of SQLite's own busy timeout: short at first, then 100 ms.
  static constexpr int kDelays[] = {1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100};
  static constexpr int kN = sizeof(kDelays) / sizeof(kDelays[0]);
  auto* busy = static_cast<Busy*>(arg);
  int waited = 0;
  for (int i = 0; i < count && i < kN; ++i) waited += kDelays[i];
  if (count >= kN) waited += (count - kN) * kDelays[kN - 1];
  int delay = kDelays[std::min(count, kN - 1)];
  if (waited + delay > busy->timeout_ms) {
    delay = busy->timeout_ms - waited;
    if (delay <= 0) return 0;  // give up: SQLITE_BUSY
  }
  if (busy->retries != nullptr && metrics::Enabled()) busy->retries->Inc();
  std::this_thread::sleep_for(std::chrono::milliseconds(delay));
  return 1;
}

SQLite::Statement& Connection::Prepare(const char* sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    it = cache_.emplace(sql, std::make_unique<SQLite::Statement>(db_, sql))
             .first;
  } else {
    it->second->reset();
    it->second->clearBindings();
  }
  return *it->second;
}

void Connection::ResetAll() {
  for (auto& [sql, stmt] : cache_) stmt->tryReset();
}

Database::Database() : faults_(std::make_unique<Faults>()) {}

StatusOr<std::unique_ptr<Database>> Database::Open(
    const std::string& path, const Options& options,
    const std::vector<Migration>& migrations) {
  std::unique_ptr<Database> db(new Database());
  db->path_ = path;
  auto& reg = metrics::Registry::Default();
  auto& errors = reg.Counters(storage::internal::kErrorsName,
                              storage::internal::kErrorsHelp,
                              {"module", "op", "reason"});
  for (size_t op = 0; op < kOpNames.size(); ++op) {
    for (size_t r = 0; r < kReasonNames.size(); ++r) {
      db->faults_->errors[op][r] =
          &errors.With({options.name, kOpNames[op], kReasonNames[r]});
    }
  }
  db->busy_retries_ = &reg.Counters("mitos_db_busy_retries_total",
                                    "Waits for a database lock held by another "
                                    "connection.",
                                    {"module"})
                           .With({options.name});
  auto& latency = reg.Histograms(storage::internal::kLatencyName,
                                 storage::internal::kLatencyHelp,
                                 {"module", "op"});
  db->read_latency_ = &latency.With({options.name, "read"});
  db->write_latency_ = &latency.With({options.name, "write"});
  try {
    db->writer_ = std::make_unique<Connection>(
        path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
        options, db->busy_retries_);
    SQLite::Database& w = db->writer_->db();
    if (sqlite3_db_readonly(w.getHandle(), "main") == 1) {
      // SQLite opens a file it may not write read-only, and says so only
      // at the first write: say it now, once.
      log::Warn(options.name, "database opened read-only; writes will fail",
                {{"file", path}});
    }
    // WAL and the migrations, as one step that can run again: a file that
    // another process opens at the same moment can answer SQLITE_BUSY
    // without calling the busy handler (while it switches to WAL, or where
    // waiting could deadlock), and then the step is tried again within the
    // busy timeout.
    auto set_up = [&]() -> StatusOr<int> {
      // WAL lets readers proceed while the writer commits. NORMAL sync keeps
      // every committed transaction across a process crash (only a power loss
      // can drop the last ones).
      std::string mode = w.execAndGet("PRAGMA journal_mode=WAL").getString();
      if (mode != "wal") {
        return Status::Internal("cannot enable WAL on " + path + " (mode " +
                                mode + ")");
      }
      w.exec("PRAGMA synchronous=NORMAL");
      if (options.max_page_count > 0) {
        // Per connection, and only the writer grows the file.
        w.exec("PRAGMA max_page_count=" +
               std::to_string(options.max_page_count));
      }

      int version = w.execAndGet("PRAGMA user_version").getInt();
      int latest = migrations.empty() ? 0 : migrations.back().version;
      if (!options.migrate) latest = version;  // as found
      if (version > latest) {
        return Status::Internal(path + " has schema version " +
                                std::to_string(version) +
                                ", newer than this build knows (" +
                                std::to_string(latest) + ")");
      }
      for (const auto& m : migrations) {
        if (!options.migrate) break;
        if (m.version <= version) continue;
        if (m.version != version + 1) {
          return Status::Internal("migrations must be numbered 1, 2, 3...");
        }
        // IMMEDIATE, and the version read again inside: another process
        // opening the file at the same time may have applied this step
        // while this one waited for the lock.
        SQLite::Transaction tx(w, SQLite::TransactionBehavior::IMMEDIATE);
        version = w.execAndGet("PRAGMA user_version").getInt();
        if (m.version <= version) continue;  // the destructor rolls back
        w.exec(m.sql);
        w.exec("PRAGMA user_version=" + std::to_string(m.version));
        tx.commit();
        version = m.version;
      }
      return version;
    };
    const auto give_up = std::chrono::steady_clock::now() +
                         std::chrono::milliseconds(options.busy_timeout_ms);
    StatusOr<int> set = Status::Internal("not set up");
    for (int attempt = 0;; ++attempt) {
      try {
        set = set_up();
        break;
      } catch (const SQLite::Exception& e) {
        if ((e.getExtendedErrorCode() & 0xff) != SQLITE_BUSY ||
            std::chrono::steady_clock::now() >= give_up) {
          throw;
        }
        std::this_thread::sleep_for(
            std::chrono::milliseconds(std::min(1 << std::min(attempt, 6), 50)));
      }
    }
    if (!set.ok()) return set.status();
    db->schema_version_ = *set;

    // Reader connections open on first use, so that start-up does not
    // pay for readers a module may never need at once.
    db->options_ = options;
  } catch (const SQLite::Exception& e) {
    return Status::Internal("cannot open " + path + ": " + e.what());
  }
  auto& wal = reg.Callbacks("mitos_db_wal_size_bytes",
                            "Size of the database's write-ahead log file.",
                            metrics::Type::kGauge, {"module"});
  db->wal_size_ = metrics::SourceHandle(
      &wal, wal.AddSource([name = options.name, file = path + "-wal"](
                              const metrics::CallbackFamily::Emit& emit) {
        std::error_code ec;
        auto size = std::filesystem::file_size(file, ec);
        emit({name}, ec ? 0.0 : static_cast<double>(size));
      }));
  try {
    db->checkpointer_ = std::make_unique<Connection>(
        path, SQLite::OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, options);
  } catch (const SQLite::Exception& e) {
    return Status::Internal("cannot open " + path + ": " + e.what());
  }
  // Replaces SQLite's automatic checkpoints on the writer.
  sqlite3_wal_hook(db->writer_->db().getHandle(), &Database::OnWalCommit, db.get());
  db->writer_thread_ = std::thread([d = db.get()] { d->WriterLoop(); });
  db->checkpoint_thread_ = std::thread([d = db.get()] { d->CheckpointLoop(); });
  return db;
}

Database::~Database() {
  if (writer_thread_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      stopping_ = true;
    }
    queue_cv_.notify_all();
    writer_thread_.join();
  }
  if (checkpoint_thread_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(checkpoint_mu_);
      checkpoint_stop_ = true;
    }
    checkpoint_cv_.notify_all();
    checkpoint_thread_.join();
  }
}

int Database::OnWalCommit(void* arg, sqlite3*, const char*, int pages) {
  auto* db = static_cast<Database*>(arg);
  if (pages < kCheckpointPages) return SQLITE_OK;
  std::lock_guard<std::mutex> lock(db->checkpoint_mu_);
  db->wal_pages_ = pages;
  if (!db->checkpoint_due_) {
    db->checkpoint_due_ = true;
    db->checkpoint_cv_.notify_one();
  }
  return SQLITE_OK;
}

void Database::CheckpointLoop() {
  sqlite3* handle = checkpointer_->db().getHandle();
  std::unique_lock<std::mutex> lock(checkpoint_mu_);
  for (;;) {
    checkpoint_cv_.wait(lock, [&] { return checkpoint_stop_ || checkpoint_due_; });
    if (checkpoint_stop_) return;
    checkpoint_due_ = false;
    lock.unlock();
    {
      // Passive: copies what it can without waiting for the writer or the
      // readers.
      std::lock_guard<std::mutex> run(checkpoint_run_mu_);
      int rc = sqlite3_wal_checkpoint_v2(handle, nullptr,
                                         SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                         nullptr);
      // BUSY: another connection is checkpointing, which is no failure.
      if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        NoteFailure(kCheckpointOp, rc, sqlite3_extended_errcode(handle),
                    sqlite3_errmsg(handle), 1, nullptr);
      }
    }
    lock.lock();
  }
}

void Database::RestartLogIfLong() {
  {
    std::lock_guard<std::mutex> lock(checkpoint_mu_);
    if (wal_pages_ < kRestartPages) return;
    wal_pages_ = 0;
  }
  // Writes wait meanwhile: this thread is their only writer. The
  // checkpointer has copied most of the log already; this copies the rest,
  // and the next transaction starts the log afresh.
  std::lock_guard<std::mutex> run(checkpoint_run_mu_);
  std::lock_guard<std::mutex> lock(writer_mu_);
  sqlite3* handle = writer_->db().getHandle();
  int rc = sqlite3_wal_checkpoint_v2(handle, nullptr,
                                     SQLITE_CHECKPOINT_RESTART, nullptr,
                                     nullptr);
  // BUSY: a reader still uses the log's end; the next batch tries again.
  if (rc == SQLITE_BUSY) return;
  if (rc != SQLITE_OK) {
    NoteFailure(kCheckpointOp, rc, sqlite3_extended_errcode(handle),
                sqlite3_errmsg(handle), 1, nullptr);
  }
}

void Database::NoteFailure(FailedOp op, const SQLite::Exception& e,
                           size_t operations, const char* stage) {
  NoteFailure(op, e.getErrorCode(), e.getExtendedErrorCode(), e.what(),
              operations, stage);
}

void Database::NoteFailure(FailedOp op, int code, int extended_code,
                           const std::string& message, size_t operations,
                           const char* stage) {
  std::optional<Reason> reason = ReasonOf(code, extended_code);
  if (!reason) return;
  const auto r = static_cast<size_t>(*reason);
  if (metrics::Enabled() && operations > 0) {
    faults_->errors[static_cast<size_t>(op)][r]->Inc(operations);
  }
  uint64_t suppressed;
  {
    std::lock_guard<std::mutex> lock(faults_->log_mu);
    auto now = std::chrono::steady_clock::now();
    auto& last = faults_->logged_at[r];
    if (last && now - *last < kLogEvery) {
      ++faults_->suppressed[r];
      return;
    }
    last = now;
    suppressed = std::exchange(faults_->suppressed[r], 0);
  }
  nlohmann::json fields = {
      {"file", path_},
      {"op", kOpNames[static_cast<size_t>(op)]},
      {"reason", kReasonNames[r]},
      {"sqlite_code", extended_code >= 0 ? extended_code : code},
      {"error", message},
      {"operations", operations}};
  if (stage != nullptr) fields["stage"] = stage;
  if (suppressed > 0) fields["suppressed"] = suppressed;
  // A lock held past the busy timeout passes, and so does a deadline; the
  // others need an operator.
  log::Write(*reason == Reason::kBusy || *reason == Reason::kDeadline
                 ? log::Level::kWarn
                 : log::Level::kError,
             options_.name, "storage error", fields);
}

Database::Observation::Observation(Database& db, bool write)
    : db_(db), write_(write), start_(std::chrono::steady_clock::now()) {
  if (!trace::Current().valid()) return;  // start-up work is not traced
  span_.emplace(db.options_.name + (write ? ".db write" : ".db read"),
                trace::Kind::kInternal);
  if (span_->recording()) {
    span_->SetAttribute("db.system", "sqlite");
    span_->SetAttribute("db.name", db.options_.name);
    span_->SetAttribute("db.operation", write ? "write" : "read");
  }
}

void Database::Observation::Detach() {
  if (span_) span_->Detach();
}

Database::Observation::~Observation() {
  if (!metrics::Enabled()) return;
  std::chrono::duration<double> d = std::chrono::steady_clock::now() - start_;
  (write_ ? db_.write_latency_ : db_.read_latency_)->Observe(d.count());
}

std::exception_ptr Database::Submit(std::function<void(Connection&)> run) {
  if (tl_writer_of == this) {
    throw std::logic_error("WriteTx called on the writer thread of " + path_ +
                           ", which would wait for itself");
  }
  struct Wait {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::exception_ptr error;
  } wait;
  auto op = std::make_unique<Op>();
  op->run = std::move(run);
  op->finish = [&wait](std::exception_ptr error) {
    // Notified under the lock: once `done` is seen, `wait` may be gone.
    std::lock_guard<std::mutex> lock(wait.mu);
    wait.error = std::move(error);
    wait.done = true;
    wait.cv.notify_one();
  };
  Enqueue(std::move(op));
  std::unique_lock<std::mutex> lock(wait.mu);
  wait.cv.wait(lock, [&] { return wait.done; });
  return wait.error;
}

void Database::SubmitAsync(std::function<void(Connection&)> run,
                           std::function<void(std::exception_ptr)> finish) {
  auto op = std::make_unique<Op>();
  op->run = std::move(run);
  op->finish = std::move(finish);
  op->loop = internal::EventLoop::Current();
  op->ctx = RequestContext::Current();
  op->span = trace::Current();
  Enqueue(std::move(op));
}

void Database::Enqueue(std::unique_ptr<Op> op) {
  bool was_empty;
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    was_empty = queue_.empty();
    queue_.push_back(std::move(op));
  }
  // A non-empty queue means the writer is committing, or already woken:
  // it takes what is queued before it waits again.
  if (was_empty) queue_cv_.notify_one();
}

namespace {

// Runs an operation's `finish` with its submitter's context. A throw there
// is a bug of the caller; it must not end the writer thread or a loop.
template <typename OpT>
void RunFinish(OpT& op) {
  ContextScope scope(&op.ctx);
  trace::CurrentScope span(op.span);
  try {
    op.finish(op.error);
  } catch (const std::exception& e) {
    log::Error("runtime", "a storage completion threw", {{"error", e.what()}});
  } catch (...) {
    log::Error("runtime", "a storage completion threw", {});
  }
}

}  // namespace

void Database::WriterLoop() {
  tl_writer_of = this;
  std::vector<std::unique_ptr<Op>> batch;
  std::unique_lock<std::mutex> lock(queue_mu_);
  for (;;) {
    queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and every write committed
    const size_t n = std::min(queue_.size(), kMaxBatch);
    for (size_t i = 0; i < n; ++i) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    lock.unlock();
    CommitBatch(batch);
    NoteBatchFailures(batch);
    // The completions of one event loop go in one task: a loop is woken at
    // most once per batch, and formats and sends the answers itself.
    std::vector<std::pair<internal::EventLoop*,
                          std::shared_ptr<std::vector<std::unique_ptr<Op>>>>>
        by_loop;
    for (auto& op : batch) {
      if (op->loop == nullptr) {
        RunFinish(*op);
        continue;
      }
      auto it = std::find_if(by_loop.begin(), by_loop.end(),
                             [&](const auto& e) { return e.first == op->loop; });
      if (it == by_loop.end()) {
        by_loop.emplace_back(op->loop,
                             std::make_shared<std::vector<std::unique_ptr<Op>>>());
        it = by_loop.end() - 1;
      }
      it->second->push_back(std::move(op));
    }
    for (auto& [loop, ops] : by_loop) {
      loop->Post([ops = std::move(ops)] {
        for (auto& op : *ops) RunFinish(*op);
      });
    }
    batch.clear();
    RestartLogIfLong();
    lock.lock();
  }
}

void Database::CommitBatch(std::vector<std::unique_ptr<Op>>& batch) {
  std::lock_guard<std::mutex> lock(writer_mu_);
  std::vector<Op*> ops;
  for (const auto& o : batch) ops.push_back(o.get());
  // Each round settles at least one operation, so this ends.
  while (!ops.empty()) ops = CommitRound(ops);
}

std::vector<Database::Op*> Database::CommitRound(const std::vector<Op*>& ops) {
  Connection& c = *writer_;
  sqlite3* handle = c.db().getHandle();
  RollBackIfOpen();
  for (Op* o : ops) {
    o->error = nullptr;
    o->stage = nullptr;
  }
  try {
    c.Prepare("BEGIN IMMEDIATE").exec();
  } catch (...) {
    auto e = std::current_exception();
    for (Op* o : ops) {
      o->error = e;
      o->stage = "begin";
    }
    c.ResetAll();
    return {};
  }
  for (size_t i = 0; i < ops.size(); ++i) {
    Op& o = *ops[i];
    try {
      c.Prepare("SAVEPOINT op").exec();
      o.run(c);
      c.Prepare("RELEASE op").exec();
      continue;
    } catch (...) {
      o.error = std::current_exception();
      o.stage = "write";
    }
    c.ResetAll();
    bool undone = false;
    if (!sqlite3_get_autocommit(handle)) {
      try {
        c.Prepare("ROLLBACK TO op").exec();
        c.Prepare("RELEASE op").exec();
        undone = true;
      } catch (...) {
      }
    }
    if (undone) continue;
    // SQLite undid the whole transaction (it does on SQLITE_FULL, and may
    // on an I/O error), or this savepoint would not roll back alone: the
    // writes before this one were lost with it. This one failed; the
    // others run again in a new transaction, then those not run yet.
    // Left as it was, the next SAVEPOINT would start a transaction of its
    // own and its RELEASE commit it, under the batch's failed COMMIT.
    RollBackIfOpen();
    std::vector<Op*> again(ops.begin(), ops.begin() + i);
    again.insert(again.end(), ops.begin() + i + 1, ops.end());
    return again;
  }
  // No statement may hold the transaction open past its end.
  c.ResetAll();
  try {
    c.Prepare("COMMIT").exec();
  } catch (...) {
    // Nothing of the batch was written: a write that failed on its own
    // keeps its own error (a taken email stays a 409), the others get the
    // commit's.
    auto e = std::current_exception();
    for (Op* o : ops) {
      if (o->error) continue;
      o->error = e;
      o->stage = "commit";
    }
    RollBackIfOpen();
  }
  c.ResetAll();
  return {};
}

void Database::RollBackIfOpen() {
  Connection& c = *writer_;
  if (sqlite3_get_autocommit(c.db().getHandle())) return;
  c.ResetAll();
  try {
    c.Prepare("ROLLBACK").exec();
  } catch (const SQLite::Exception& e) {
    // The next batch tries again before it begins.
    NoteFailure(kWriteOp, e, 0, "rollback");
  }
}

void Database::NoteBatchFailures(
    const std::vector<std::unique_ptr<Op>>& batch) {
  for (size_t i = 0; i < batch.size(); ++i) {
    const Op& o = *batch[i];
    if (!o.error) continue;
    // One failure of the batch's BEGIN or COMMIT fails every write of it:
    // counted once per write, logged once.
    bool seen = false;
    for (size_t j = 0; j < i && !seen; ++j) seen = batch[j]->error == o.error;
    if (seen) continue;
    size_t n = 0;
    for (size_t j = i; j < batch.size(); ++j) n += batch[j]->error == o.error;
    try {
      std::rethrow_exception(o.error);
    } catch (const SQLite::Exception& e) {
      NoteFailure(kWriteOp, e, n, o.stage);
    } catch (...) {
      // Not a storage failure: the write's own code threw.
    }
  }
}

Database::Lease::Lease(Database& d) : db(d) {
  std::unique_lock<std::mutex> lock(db.pool_mu_);
  if (db.idle_.empty() &&
      static_cast<int>(db.readers_.size()) < db.options_.readers) {
    // Opened under the lock: rare (at most `readers` times), and it keeps
    // the count exact.
    db.readers_.push_back(std::make_unique<Connection>(
        db.path_, SQLite::OPEN_READONLY | SQLITE_OPEN_NOMUTEX, db.options_,
        db.busy_retries_));
    conn = db.readers_.back().get();
    return;
  }
  db.pool_cv_.wait(lock, [&] { return !db.idle_.empty(); });
  conn = db.idle_.back();
  db.idle_.pop_back();
}

Database::Lease::~Lease() {
  conn->ResetAll();
  {
    std::lock_guard<std::mutex> lock(db.pool_mu_);
    db.idle_.push_back(conn);
  }
  db.pool_cv_.notify_one();
}

void DeclareStorageConfig(config::Schema& schema, const std::string& module) {
  const std::string p = module + ".storage.";
  schema.Int(p + "readers", 4, 1, 64,
             "Reader connections of " + module + ".db (readers never wait for "
             "the writer).");
  schema.Int(p + "busy_timeout_ms", 5000, 0, 600000,
             "How long a statement on " + module + ".db waits for a lock.");
  schema.Int(p + "cache_kib", 512, 64, 1 << 20,
             "Page cache per connection of " + module + ".db, in KiB.");
  schema.Int(p + "max_page_count", 0, 0, 4294967294,
             "Most pages " + module + ".db may hold (PRAGMA page_size "
             "bytes each, 4096 by default); 0: no limit but the disk's. "
             "Writes that would grow it further answer 507, as on a full "
             "disk.");
}

Status StatusFor(const SQLite::Exception& e) {
  std::optional<Reason> reason = ReasonOf(e);
  switch (reason.value_or(Reason::kOther)) {
    case Reason::kFull:
      return Status::InsufficientStorage(
          "There is no storage space left; the change was not saved.");
    case Reason::kBusy:
      return Status::StorageUnavailable("The storage is busy; retry shortly.");
    case Reason::kIo:
    case Reason::kCantOpen:
      return Status::StorageUnavailable(
          "The storage failed to read or write; retry shortly.");
    case Reason::kReadOnly:
      return Status::StorageReadOnly(
          "The storage is read-only; changes cannot be saved.");
    case Reason::kCorrupt:
      return Status::StorageCorrupt("The stored data is damaged.");
    case Reason::kDeadline:
      return Status::DeadlineExceeded(
          "The storage did not answer within the request's deadline.");
    case Reason::kOther:
      break;
  }
  return Status::Internal("The storage operation failed.");
}

bool IsBusy(const SQLite::Exception& e) {
  int c = e.getErrorCode();
  return c == SQLITE_BUSY || c == SQLITE_LOCKED;
}

bool IsUniqueViolation(const SQLite::Exception& e) {
  return e.getExtendedErrorCode() == SQLITE_CONSTRAINT_UNIQUE ||
         e.getExtendedErrorCode() == SQLITE_CONSTRAINT_PRIMARYKEY;
}

}  // namespace mitos::sqlite
