#include "mitos/sqlite.h"

#include <sqlite3.h>

#include <SQLiteCpp/Transaction.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

namespace mitos::sqlite {

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

StatusOr<std::unique_ptr<Database>> Database::Open(
    const std::string& path, const Options& options,
    const std::vector<Migration>& migrations) {
  std::unique_ptr<Database> db(new Database());
  db->path_ = path;
  auto& reg = metrics::Registry::Default();
  db->busy_retries_ = &reg.Counters("mitos_db_busy_retries_total",
                                    "Waits for a database lock held by another "
                                    "connection.",
                                    {"module"})
                           .With({options.name});
  auto& latency = reg.Histograms(
      "mitos_db_query_duration_seconds",
      "Duration of a group of statements (one read, or one write or "
      "transaction), waits for the writer or a reader included.",
      {"module", "op"});
  db->read_latency_ = &latency.With({options.name, "read"});
  db->write_latency_ = &latency.With({options.name, "write"});
  try {
    db->writer_ = std::make_unique<Connection>(
        path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
        options, db->busy_retries_);
    SQLite::Database& w = db->writer_->db();
    // WAL lets readers proceed while the writer commits. NORMAL sync keeps
    // every committed transaction across a process crash (only a power loss
    // can drop the last ones).
    std::string mode = w.execAndGet("PRAGMA journal_mode=WAL").getString();
    if (mode != "wal") {
      return Status::Internal("cannot enable WAL on " + path + " (mode " +
                              mode + ")");
    }
    w.exec("PRAGMA synchronous=NORMAL");

    int version = w.execAndGet("PRAGMA user_version").getInt();
    int latest = migrations.empty() ? 0 : migrations.back().version;
    if (version > latest) {
      return Status::Internal(path + " has schema version " +
                              std::to_string(version) +
                              ", newer than this build knows (" +
                              std::to_string(latest) + ")");
    }
    for (const auto& m : migrations) {
      if (m.version <= version) continue;
      if (m.version != version + 1) {
        return Status::Internal("migrations must be numbered 1, 2, 3...");
      }
      SQLite::Transaction tx(w);
      w.exec(m.sql);
      w.exec("PRAGMA user_version=" + std::to_string(m.version));
      tx.commit();
      version = m.version;
    }
    db->schema_version_ = version;

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
  return db;
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

Database::Observation::~Observation() {
  if (!metrics::Enabled()) return;
  std::chrono::duration<double> d = std::chrono::steady_clock::now() - start_;
  (write_ ? db_.write_latency_ : db_.read_latency_)->Observe(d.count());
}

void Database::Submit(const std::shared_ptr<Op>& op) {
  std::unique_lock<std::mutex> lock(queue_mu_);
  queue_.push_back(op);
  op->cv.wait(lock, [&] { return op->done || queue_.front() == op; });
  if (op->done) return;  // a leader committed it

  // This caller leads: it commits every op queued so far (up to a bound).
  constexpr size_t kMaxBatch = 64;
  std::vector<std::shared_ptr<Op>> batch(
      queue_.begin(), queue_.begin() + std::min(queue_.size(), kMaxBatch));
  lock.unlock();
  CommitBatch(batch);
  lock.lock();
  for (const auto& o : batch) {
    queue_.pop_front();
    o->done = true;
  }
  std::shared_ptr<Op> next = queue_.empty() ? nullptr : queue_.front();
  lock.unlock();
  // Woken after the lock is free, so that they do not wake only to wait
  // for it; the batch keeps their ops alive until then.
  for (const auto& o : batch) {
    if (o != op) o->cv.notify_one();
  }
  if (next != nullptr) next->cv.notify_one();
}

void Database::CommitBatch(const std::vector<std::shared_ptr<Op>>& batch) {
  std::lock_guard<std::mutex> lock(writer_mu_);
  SQLite::Database& db = writer_->db();
  try {
    db.exec("BEGIN IMMEDIATE");
  } catch (...) {
    for (const auto& o : batch) o->error = std::current_exception();
    return;
  }
  for (const auto& o : batch) {
    try {
      db.exec("SAVEPOINT op");
      o->run(*writer_);
      db.exec("RELEASE op");
    } catch (...) {
      o->error = std::current_exception();
      writer_->ResetAll();
      try {
        db.exec("ROLLBACK TO op");
        db.exec("RELEASE op");
      } catch (...) {
      }
    }
  }
  writer_->ResetAll();
  try {
    db.exec("COMMIT");
  } catch (...) {
    auto e = std::current_exception();
    for (const auto& o : batch) o->error = e;
    try {
      db.exec("ROLLBACK");
    } catch (...) {
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
