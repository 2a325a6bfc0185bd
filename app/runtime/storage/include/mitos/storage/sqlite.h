// SQLite storage as every module uses it: one file, WAL mode, one writer
// connection, a pool of reader connections that never wait for the writer,
// cached prepared statements and versioned migrations.
#ifndef MITOS_STORAGE_SQLITE_H_
#define MITOS_STORAGE_SQLITE_H_

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "mitos/base/status.h"
#include "mitos/config/config.h"
#include "mitos/io/task.h"
#include "mitos/observability/metrics.h"
#include "mitos/observability/trace.h"
#include "mitos/storage/storage.h"

namespace mitos::sqlite {

// One schema step. Versions start at 1 and increase by one; the applied
// version is kept in PRAGMA user_version and each step runs in a transaction.
struct Migration {
  int version;
  std::string description;
  std::string sql;
};

struct Options {
  // The owning module: labels its metrics and names its spans.
  std::string name = "db";
  int busy_timeout_ms = 5000;  // how long a statement waits for a lock
  int readers = 4;             // reader connections in the pool
  int cache_kib = 512;         // page cache per connection
  // The most pages the file may hold (PRAGMA max_page_count of the
  // writer); 0 leaves SQLite's own limit. A write that would grow the file
  // past it fails as on a full disk. A limit below the file's size keeps
  // the file at its size.
  int64_t max_page_count = 0;
  // false: the schema is taken as found, whatever its version, and no
  // migration runs; for a tool that works on some of a module's tables
  // without being the module (mitos events). The file must exist.
  bool migrate = true;
};

// A connection with a cache of prepared statements.
class Connection {
 public:
  // `busy_retries`, if given, counts each wait for a lock (it must outlive
  // the connection).
  Connection(const std::string& path, int flags, const Options& options,
             metrics::Counter* busy_retries = nullptr);

  // Returns the cached statement for `sql`, reset and with no bindings.
  // `sql` must be a string literal or otherwise outlive the connection.
  SQLite::Statement& Prepare(const char* sql);
  SQLite::Database& db() { return db_; }

  // Resets every cached statement, so that none keeps a read snapshot open
  // (an open snapshot would stop WAL checkpoints).
  void ResetAll();

 private:
  struct Busy {
    int timeout_ms;
    metrics::Counter* retries;
  };
  static int OnBusy(void* busy, int count);

  SQLite::Database db_;
  Busy busy_;
  std::unordered_map<const char*, std::unique_ptr<SQLite::Statement>> cache_;
};

class Database {
 public:
  // Opens (creating if needed) the file at `path`, applies the pending
  // migrations and starts the database's writer thread. Returns Internal
  // with a clear message on failure, including a file whose schema is
  // newer than the migrations known to this build.
  static StatusOr<std::unique_ptr<Database>> Open(
      const std::string& path, const Options& options,
      const std::vector<Migration>& migrations);

  // Commits the writes already submitted, then stops the writer thread.
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs fn(Connection&) on the single writer connection, one call at a
  // time. fn is responsible for its own transaction if it needs one.
  template <typename F>
  auto Write(F&& fn) {
    Observation obs(*this, /*write=*/true);
    std::lock_guard<std::mutex> lock(writer_mu_);
    struct Reset {
      Connection& c;
      ~Reset() { c.ResetAll(); }
    } reset{*writer_};
    try {
      return fn(*writer_);
    } catch (const SQLite::Exception& e) {
      NoteFailure(kWriteOp, e);
      throw;
    }
  }

  // Runs fn(Connection&) on the writer connection inside a transaction
  // that it may share with concurrent callers (group commit): the
  // database's writer thread commits what is queued, up to 64 operations,
  // at once. Each fn runs in its own SAVEPOINT, so an exception undoes only
  // its own changes and is rethrown to its caller alone. Returns after the
  // shared transaction committed; if the commit fails, every caller of the
  // batch whose fn succeeded gets that error. fn must not begin or end
  // transactions itself, and must change nothing but the database: when
  // SQLite undoes the whole transaction on one fn's failure (it does on
  // SQLITE_FULL), the others of the batch run again in a new one, and only
  // their last run counts.
  // Blocks the calling thread; never call it from a WriteTxAsync `done`
  // that runs on the writer thread (it would wait for itself: it throws
  // std::logic_error instead).
  template <typename F>
  auto WriteTx(F&& fn) -> decltype(fn(std::declval<Connection&>())) {
    using R = decltype(fn(std::declval<Connection&>()));
    Observation obs(*this, /*write=*/true);
    std::optional<R> result;
    std::exception_ptr error = Submit(
        [&](Connection& c) { result.emplace(fn(c)); });
    if (error) std::rethrow_exception(error);
    return std::move(*result);
  }

  // As WriteTx, without waiting: the calling thread goes on at once, and
  // `done` receives the result once the shared transaction has committed.
  // `fn` runs on the writer thread and may only use what it owns (capture
  // by value). If fn throws a SQLite::Exception, or the commit fails,
  // `done` receives on_error(that exception) instead; any other exception
  // becomes R(Status::Internal(...)). on_error may be StatusFor, or map
  // what the caller expects (a uniqueness conflict) and leave the rest to
  // StatusFor.
  //
  // Where `done` runs: called on a server event loop, on that same loop
  // (with the caller's request context and span current again); elsewhere,
  // on the writer thread, where it must be quick and never block. Never
  // wait on an event loop for a `done` that would run on it.
  // REQUIRES: R is Status or StatusOr<T>.
  template <typename R>
  void WriteTxAsync(std::function<R(Connection&)> fn,
                    std::function<R(const SQLite::Exception&)> on_error,
                    std::function<void(R)> done) {
    struct State {
      std::optional<R> result;
      std::function<R(Connection&)> fn;
      std::function<R(const SQLite::Exception&)> on_error;
      std::function<void(R)> done;
      std::unique_ptr<Observation> obs;
    };
    auto st = std::make_shared<State>();
    st->fn = std::move(fn);
    st->on_error = std::move(on_error);
    st->done = std::move(done);
    st->obs = std::make_unique<Observation>(*this, /*write=*/true);
    st->obs->Detach();
    SubmitAsync([st](Connection& c) { st->result.emplace(st->fn(c)); },
                [st](std::exception_ptr error) {
                  st->obs.reset();  // the span and latency end at the commit
                  if (error) st->result.emplace(Failed<R>(error, st->on_error));
                  st->done(std::move(*st->result));
                });
  }

  // Runs fn(Connection&) on a reader connection from the pool. Readers see
  // the last committed state and never wait for the writer.
  template <typename F>
  auto Read(F&& fn) {
    Observation obs(*this, /*write=*/false);
    try {
      Lease lease(*this);
      return fn(*lease.conn);
    } catch (const SQLite::Exception& e) {
      NoteFailure(kReadOp, e);
      throw;
    }
  }

  // Returns the schema version currently applied.
  int schema_version() const { return schema_version_; }
  const std::string& path() const { return path_; }

 private:
  Database();

  // What a failure is counted and logged as: mitos_db_errors_total{op}.
  enum FailedOp { kReadOp, kWriteOp, kCheckpointOp };

  // One group of statements (one Read, Write or WriteTx call), waits
  // included: a span "<module>.db read|write" and a latency observation.
  class Observation {
   public:
    Observation(Database& db, bool write);
    ~Observation();
    // Lets the calling thread go on with its own span while this one stays
    // open (for an asynchronous write).
    void Detach();

   private:
    Database& db_;
    bool write_;
    std::chrono::steady_clock::time_point start_;
    std::optional<trace::Span> span_;  // only inside a traced request
  };

  // The value `done` gets when the operation or its commit threw `error`.
  template <typename R>
  static R Failed(std::exception_ptr error,
                  const std::function<R(const SQLite::Exception&)>& on_error) {
    try {
      std::rethrow_exception(error);
    } catch (const SQLite::Exception& e) {
      return on_error(e);
    } catch (...) {
      return R(Status::Internal("The storage operation failed."));
    }
  }

  // Counts a failed operation in mitos_db_errors_total and logs it with the
  // file and SQLite's code and message (at most once a second per kind of
  // failure, saying how many it left out). A uniqueness conflict is an
  // answer its caller maps, neither counted nor logged. `operations` > 1:
  // one failure shared by that many writes (the batch's BEGIN or COMMIT);
  // 0: logged only. `stage`, if given, says where in the batch it failed.
  void NoteFailure(FailedOp op, const SQLite::Exception& e,
                   size_t operations = 1, const char* stage = nullptr);
  void NoteFailure(FailedOp op, int code, int extended_code,
                   const std::string& message, size_t operations,
                   const char* stage);

  // One operation for the writer thread: `run` inside the batch's
  // transaction, then `finish` with the operation's or the commit's error
  // (null on success).
  struct Op;
  // Queues `run` and waits for its commit; returns its error, if any.
  std::exception_ptr Submit(std::function<void(Connection&)> run);
  // Queues `run`; `finish` follows the commit, where WriteTxAsync says.
  void SubmitAsync(std::function<void(Connection&)> run,
                   std::function<void(std::exception_ptr)> finish);
  void Enqueue(std::unique_ptr<Op> op);
  void WriterLoop();
  void CommitBatch(std::vector<std::unique_ptr<Op>>& batch);
  // Runs `ops` in one transaction and commits it. Returns the operations to
  // run again, in a new transaction, when SQLite undid this one on a
  // failure of one of them.
  std::vector<Op*> CommitRound(const std::vector<Op*>& ops);
  // Rolls back what a failure left open, so that the next BEGIN succeeds.
  void RollBackIfOpen();
  void NoteBatchFailures(const std::vector<std::unique_ptr<Op>>& batch);

  // Checkpoints (copying the WAL back into the file, and syncing it) run on
  // their own thread and connection, so that the writer does not wait for
  // the disk. OnWalCommit is SQLite's hook after each commit.
  static int OnWalCommit(void* db, sqlite3* handle, const char* name, int pages);
  void CheckpointLoop();
  // On the writer thread, between batches: completes a checkpoint when the
  // log has grown past what the checkpointer alone keeps it to.
  void RestartLogIfLong();

  struct Lease {
    explicit Lease(Database& db);
    ~Lease();
    Database& db;
    Connection* conn;
  };

  std::string path_;
  Options options_;
  struct Faults;  // the error counters and the log's rate limit
  std::unique_ptr<Faults> faults_;
  metrics::Counter* busy_retries_ = nullptr;
  metrics::Histogram* read_latency_ = nullptr;
  metrics::Histogram* write_latency_ = nullptr;
  metrics::SourceHandle wal_size_;
  int schema_version_ = 0;
  std::mutex writer_mu_;
  std::unique_ptr<Connection> writer_;

  // The writer thread and its queue.
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<std::unique_ptr<Op>> queue_;
  bool stopping_ = false;
  std::thread writer_thread_;

  // The checkpointer thread and its connection.
  std::unique_ptr<Connection> checkpointer_;
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_due_ = false;
  bool checkpoint_stop_ = false;
  int wal_pages_ = 0;  // log pages at the last commit that signalled
  std::mutex checkpoint_run_mu_;  // held while either thread checkpoints
  std::thread checkpoint_thread_;

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<Connection>> readers_;
  std::vector<Connection*> idle_;
};

// Declares "<module>.storage.readers", ".busy_timeout_ms", ".cache_kib" and
// ".max_page_count", which ModuleContext::OpenDatabase reads. Call it from a module's
// declare_config when the module owns a database.
void DeclareStorageConfig(config::Schema& schema, const std::string& module);

// Returns what a failed storage operation means to the client, by SQLite's
// result code, with a message that names neither the file nor SQLite (the
// Database has logged those):
//   SQLITE_FULL                         -> InsufficientStorage
//   SQLITE_BUSY, SQLITE_LOCKED (past the busy timeout), SQLITE_IOERR*,
//   SQLITE_CANTOPEN                     -> StorageUnavailable
//   SQLITE_READONLY*, SQLITE_PERM       -> StorageReadOnly
//   SQLITE_CORRUPT*, SQLITE_NOTADB      -> StorageCorrupt
//   SQLITE_INTERRUPT (a statement past its request's deadline, see
//   storage::OpenSqlite)                -> DeadlineExceeded
//   anything else, a constraint the caller did not map included, -> Internal
Status StatusFor(const SQLite::Exception& e);

// Returns true iff e is a UNIQUE constraint violation.
bool IsUniqueViolation(const SQLite::Exception& e);
// Returns true iff e means the database stayed locked past busy_timeout.
bool IsBusy(const SQLite::Exception& e);

// A write for operations written as coroutines (mitos/io/task.h):
//   R r = co_await sqlite::Write<R>(db, fn, on_error);
// gives what Database::WriteTx(fn) returns, or on_error(e) when fn or the
// commit threw SQLite::Exception e (anything else becomes Internal). On a
// server event loop the write is queued (WriteTxAsync) and the coroutine
// resumes on that loop after the commit; elsewhere the thread waits for the
// commit (WriteTx). `fn` runs on the writer thread: it must own what it
// uses.
template <typename R>
Completion<R> Write(Database& db, std::function<R(Connection&)> fn,
                    std::function<R(const SQLite::Exception&)> on_error) {
  return Completion<R>([&db, fn = std::move(fn), on_error = std::move(on_error)](
                           std::function<void(R)> done) mutable {
    if (internal::OnEventLoop()) {
      return db.WriteTxAsync<R>(std::move(fn), std::move(on_error),
                                std::move(done));
    }
    std::optional<R> r;
    try {
      r.emplace(db.WriteTx(fn));
    } catch (const SQLite::Exception& e) {
      r.emplace(on_error(e));
    } catch (...) {
      r.emplace(internal::StatusFromCurrentException());
    }
    done(std::move(*r));
  });
}

}  // namespace mitos::sqlite

namespace mitos::storage {

// Opens the SQLite file at `path` as a storage::Database (see
// mitos/storage/storage.h), over a sqlite::Database with its writer thread
// and group commit: a Write is one operation of a batch, in its own
// savepoint; a Read runs in place on a reader connection, in a transaction.
// Failures map as sqlite::StatusFor says; SQLITE_INTERRUPT, which ends a
// statement that runs past the request's deadline, is kDeadline.
StatusOr<std::unique_ptr<Database>> OpenSqlite(
    const std::string& path, const sqlite::Options& options,
    const std::vector<Migration>& migrations);

}  // namespace mitos::storage

#endif  // MITOS_STORAGE_SQLITE_H_
