// SQLite storage as every module uses it: one file, WAL mode, one writer
// connection, a pool of reader connections that never wait for the writer,
// cached prepared statements and versioned migrations.
#ifndef MITOS_SQLITE_H_
#define MITOS_SQLITE_H_

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
#include <unordered_map>
#include <vector>

#include "mitos/config.h"
#include "mitos/metrics.h"
#include "mitos/status.h"
#include "mitos/trace.h"

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
  // Opens (creating if needed) the file at `path` and applies the pending
  // migrations. Returns Internal with a clear message on failure, including
  // a file whose schema is newer than the migrations known to this build.
  static StatusOr<std::unique_ptr<Database>> Open(
      const std::string& path, const Options& options,
      const std::vector<Migration>& migrations);

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
    return fn(*writer_);
  }

  // Runs fn(Connection&) on the writer connection inside a transaction
  // that it may share with concurrent callers (group commit): the first
  // caller in line commits a batch of up to 64 operations at once. Each fn
  // runs in its own SAVEPOINT, so an exception undoes only its own changes
  // and is rethrown to its caller alone. Returns after the shared
  // transaction committed; if the commit fails, every caller of the batch
  // gets that error. fn must not begin or end transactions itself.
  template <typename F>
  auto WriteTx(F&& fn) -> decltype(fn(std::declval<Connection&>())) {
    using R = decltype(fn(std::declval<Connection&>()));
    Observation obs(*this, /*write=*/true);
    std::optional<R> result;
    auto op = std::make_shared<Op>();
    op->run = [&](Connection& c) { result.emplace(fn(c)); };
    Submit(op);
    if (op->error) std::rethrow_exception(op->error);
    return std::move(*result);
  }

  // Runs fn(Connection&) on a reader connection from the pool. Readers see
  // the last committed state and never wait for the writer.
  template <typename F>
  auto Read(F&& fn) {
    Observation obs(*this, /*write=*/false);
    Lease lease(*this);
    return fn(*lease.conn);
  }

  // Returns the schema version currently applied.
  int schema_version() const { return schema_version_; }
  const std::string& path() const { return path_; }

 private:
  Database() = default;

  // One group of statements (one Read, Write or WriteTx call), waits
  // included: a span "<module>.db read|write" and a latency observation.
  class Observation {
   public:
    Observation(Database& db, bool write);
    ~Observation();

   private:
    Database& db_;
    bool write_;
    std::chrono::steady_clock::time_point start_;
    std::optional<trace::Span> span_;  // only inside a traced request
  };

  struct Op {
    std::function<void(Connection&)> run;
    std::exception_ptr error;
    bool done = false;
    std::condition_variable cv;
  };
  // Shared, so that the committing caller can wake the others after it
  // lets go of the queue's lock.
  void Submit(const std::shared_ptr<Op>& op);
  void CommitBatch(const std::vector<std::shared_ptr<Op>>& batch);

  struct Lease {
    explicit Lease(Database& db);
    ~Lease();
    Database& db;
    Connection* conn;
  };

  std::string path_;
  Options options_;
  metrics::Counter* busy_retries_ = nullptr;
  metrics::Histogram* read_latency_ = nullptr;
  metrics::Histogram* write_latency_ = nullptr;
  metrics::SourceHandle wal_size_;
  int schema_version_ = 0;
  std::mutex writer_mu_;
  std::unique_ptr<Connection> writer_;

  std::mutex queue_mu_;
  std::deque<std::shared_ptr<Op>> queue_;  // front: the op whose caller commits next

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<Connection>> readers_;
  std::vector<Connection*> idle_;
};

// Declares "<module>.storage.readers", ".busy_timeout_ms" and ".cache_kib",
// which ModuleContext::OpenDatabase reads. Call it from a module's
// declare_config when the module owns a database.
void DeclareStorageConfig(config::Schema& schema, const std::string& module);

// Returns true iff e is a UNIQUE constraint violation.
bool IsUniqueViolation(const SQLite::Exception& e);
// Returns true iff e means the database stayed locked past busy_timeout.
bool IsBusy(const SQLite::Exception& e);

}  // namespace mitos::sqlite

#endif  // MITOS_SQLITE_H_
