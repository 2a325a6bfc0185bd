// A module's storage, whichever database holds it: SQLite (one file per
// module, the default) or PostgreSQL (one database, or schema and role, per
// module). A module writes its statements and migrations once against this
// interface, with $1, $2 ... placeholders on both backends, and the runtime
// opens the backend its configuration names (ModuleContext::OpenStorage).
//
//   auto insert = [=](storage::Tx& tx) -> R {
//     int64_t id = tx.Insert("INSERT INTO t (name) VALUES ($1)", {name});
//     return ...;
//   };
//   R r = co_await storage::Write<R>(*db, insert, on_error);
//
// and a read that is an operation's whole answer returns a task that, on
// SQLite, is ready at once:
//
//   return storage::ReadTask<R>(*db, [id](storage::Tx& tx) -> R { ... });
//
// (lambdas named before the co_await: see tests/arch/check_coroutines.py)
//
// `fn` is plain synchronous code. It runs on a thread of the storage (a
// writer or a connection of the pool) inside one transaction, or, on
// PostgreSQL, for a read or a one-statement write submitted on an event
// loop, on that loop (see postgres::Options::loop_pipeline): so it must
// not block, and must own what it uses (capture by value). A Write commits
// when fn returns an OK result, and changes nothing when fn returns a
// non-OK one or throws (unless it was declared to run one statement: see
// Statements). A Read is read-only and sees one consistent snapshot: its first statement runs on
// its own, which is one snapshot by itself, and when fn runs a second one
// the read runs again in a read-only transaction (and reads that begin
// with that statement open it at once from then on).
// fn may run more than once, and only its last run counts: SQLite runs the
// other writes of a group commit again when one of them undid the shared
// transaction, a read runs again as said, and PostgreSQL runs a
// transaction again, once, on a new connection when the one it ran on
// turned out dead before the COMMIT was sent; on an event loop's
// connection, fn runs up to its first statement to learn it, and then
// again with its results. So fn must change nothing but the database.
//
// Failures are storage::Error exceptions thrown by the Tx; they end fn (on
// PostgreSQL a failed statement aborts its transaction, so fn cannot go on
// after one) and reach the caller as on_error(e), by default StatusFor(e).
#ifndef MITOS_STORAGE_STORAGE_H_
#define MITOS_STORAGE_STORAGE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "mitos/base/context.h"
#include "mitos/base/status.h"
#include "mitos/config/config.h"
#include "mitos/io/task.h"

namespace mitos::storage {

enum class Backend { kSqlite, kPostgres };

// "sqlite" or "postgres", as <module>.storage.backend spells them.
const char* BackendName(Backend b);

// One schema step. Versions start at 1 and increase by one. `sql` runs on
// both backends unless the backend has its own text; several statements
// separated by ';' are allowed. Each step runs in its own transaction.
// Columns of ids that must never be reused are, on SQLite,
// "INTEGER PRIMARY KEY AUTOINCREMENT" and, on PostgreSQL,
// "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY" (sequences never go
// back).
struct Migration {
  int version;
  std::string description;
  std::string sql;            // portable SQL, for both backends
  std::string sqlite = {};    // replaces `sql` on SQLite when not empty
  std::string postgres = {};  // replaces `sql` on PostgreSQL when not empty

  const std::string& SqlFor(Backend b) const;
};

// What went wrong, the same on both backends.
enum class Condition {
  kUniqueViolation,  // a UNIQUE or PRIMARY KEY rule: an answer to map (409)
  kConstraint,       // another constraint (NOT NULL, CHECK, FOREIGN KEY)
  kUnavailable,      // cannot reach or use the database now; a retry may work
  kFull,             // no space left for the change
  kReadOnly,         // the database takes no writes (read-only file, standby)
  kCorrupt,          // the stored data is damaged
  kDeadline,         // the request's deadline passed (statement cancelled)
  kOther,            // a bug: bad SQL, a type mismatch, ...
};

// A failed statement, begin or commit. what() carries the backend's message
// for logs, never for clients (see StatusFor); it never holds a password.
class Error : public std::runtime_error {
 public:
  Error(Condition condition, std::string message, std::string code = "");
  Condition condition() const { return condition_; }
  // SQLSTATE on PostgreSQL ("23505"), the extended result code on SQLite
  // ("2067"), or empty.
  const std::string& code() const { return code_; }
  bool unique_violation() const {
    return condition_ == Condition::kUniqueViolation;
  }

 private:
  Condition condition_;
  std::string code_;
};

// Returns what a failure means to the client, with a message that names
// neither the database nor its software (the storage has logged those):
//   kUnavailable -> StorageUnavailable (503, Retry-After)
//   kFull        -> InsufficientStorage (507)
//   kReadOnly    -> StorageReadOnly (503)
//   kCorrupt     -> StorageCorrupt (500)
//   kDeadline    -> DeadlineExceeded (504)
//   anything else, a uniqueness conflict the caller did not map included,
//                -> Internal
Status StatusFor(const Error& e);

// A statement parameter: an integer, a floating-point number, a bool, text
// or NULL; a std::optional binds NULL when empty. It refers to the caller's
// text, which must live until the statement ran (temporaries in the call
// do).
class Param {
 public:
  enum class Kind { kNull, kInt, kDouble, kBool, kText };

  Param(std::nullptr_t) {}  // NOLINT: implicit on purpose, as all below
  template <typename T,
            std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>,
                             int> = 0>
  Param(T v) : kind_(Kind::kInt), int_(static_cast<int64_t>(v)) {}  // NOLINT
  Param(bool v) : kind_(Kind::kBool), int_(v ? 1 : 0) {}            // NOLINT
  Param(double v) : kind_(Kind::kDouble), double_(v) {}             // NOLINT
  Param(std::string_view v) : kind_(Kind::kText), text_(v) {}       // NOLINT
  Param(const std::string& v) : kind_(Kind::kText), text_(v) {}     // NOLINT
  Param(const char* v) : kind_(Kind::kText), text_(v) {}            // NOLINT
  template <typename T>
  Param(const std::optional<T>& v) {  // NOLINT
    if (v) *this = Param(*v);
  }

  Kind kind() const { return kind_; }
  int64_t int_value() const { return int_; }  // kInt, kBool (0 or 1)
  double double_value() const { return double_; }
  std::string_view text() const { return text_; }

 private:
  Kind kind_ = Kind::kNull;
  int64_t int_ = 0;
  double double_ = 0;
  std::string_view text_;
};

using Params = std::initializer_list<Param>;

// One result row, valid only inside the callback that receives it. Columns
// count from 0. A getter of the wrong type, or of NULL, throws Error
// (kOther).
class Row {
 public:
  virtual ~Row() = default;
  virtual int size() const = 0;
  virtual bool IsNull(int col) const = 0;
  virtual int64_t Int(int col) const = 0;
  virtual double Double(int col) const = 0;
  virtual bool Bool(int col) const = 0;
  virtual std::string String(int col) const = 0;

  std::optional<int64_t> OptionalInt(int col) const {
    return IsNull(col) ? std::nullopt : std::optional<int64_t>(Int(col));
  }
  std::optional<std::string> OptionalString(int col) const {
    return IsNull(col) ? std::nullopt : std::optional<std::string>(String(col));
  }
};

// A transaction, handed to the fn of a Read or a Write. Statements use $1,
// $2 ... for their parameters on both backends; each distinct text is
// prepared once per connection and cached, so it should be a constant
// (build no SQL from values: bind them). Every method throws Error on
// failure.
class Tx {
 public:
  virtual ~Tx() = default;

  virtual Backend backend() const = 0;
  // True inside a Read: writes fail (kReadOnly on PostgreSQL, kOther on
  // SQLite's read-only connections).
  virtual bool read_only() const = 0;

  // Runs a statement; returns the rows it changed.
  int64_t Exec(std::string_view sql, Params params = {}) {
    Count();
    return Run(sql, params.begin(), params.size(), nullptr);
  }
  // Runs a query and calls each(row) for every row, in order. Do not run
  // the same statement text again inside `each`.
  template <typename F>
  void ForEach(std::string_view sql, Params params, F&& each) {
    std::function<void(const Row&)> f = std::forward<F>(each);
    Count();
    Run(sql, params.begin(), params.size(), &f);
  }
  // Returns map(row) for every row.
  template <typename T, typename F>
  std::vector<T> All(std::string_view sql, Params params, F&& map) {
    std::vector<T> out;
    ForEach(sql, params, [&](const Row& r) { out.push_back(map(r)); });
    return out;
  }
  // Returns map(first row), or nullopt when there is none.
  template <typename T, typename F>
  std::optional<T> One(std::string_view sql, Params params, F&& map) {
    std::optional<T> out;
    ForEach(sql, params, [&](const Row& r) {
      if (!out) out.emplace(map(r));
    });
    return out;
  }
  // Runs an INSERT of one row into a table whose key is an integer column
  // named `id` that the database assigns (see Migration), and returns the
  // id the row was given. Write the statement with no RETURNING clause: on
  // SQLite the id is the row's rowid, read back without one (a RETURNING
  // clause costs SQLite a temporary table per statement, as much work as
  // the insert itself); on PostgreSQL the backend adds "RETURNING id".
  // Throws Error (kOther) when the statement inserted no row.
  int64_t Insert(std::string_view sql, Params params = {}) {
    Count();
    return RunInsert(sql, params.begin(), params.size());
  }
  // Returns the first column of the first row as an integer ("SELECT
  // count(*)"), or nullopt when there is no row or it is NULL.
  std::optional<int64_t> Int(std::string_view sql, Params params = {}) {
    return One<std::optional<int64_t>>(
               sql, params, [](const Row& r) { return r.OptionalInt(0); })
        .value_or(std::nullopt);
  }

 protected:
  // Runs `sql` with `n` parameters; calls *each per row when given.
  // Returns the rows changed.
  virtual int64_t Run(std::string_view sql, const Param* params, size_t n,
                      const std::function<void(const Row&)>* each) = 0;
  // Runs the INSERT `sql` with `n` parameters; returns the new row's id.
  virtual int64_t RunInsert(std::string_view sql, const Param* params,
                            size_t n) = 0;
  // Makes every statement after the first throw Error (kOther): the work
  // said it runs one (Statements::kOne).
  void LimitToOneStatement() { one_statement_ = true; }

 private:
  void Count() {
    if (one_statement_ && statements_++ > 0) {
      throw Error(Condition::kOther,
                  "a write declared to run one statement ran a second");
    }
  }
  bool one_statement_ = false;
  int statements_ = 0;
};

// What a Write's fn runs: any statements, in one transaction; or exactly
// one, which then stands once it succeeded, whatever fn returns after it.
// On PostgreSQL kOne runs the statement on its own, with no BEGIN and
// COMMIT around it: one round trip to the server instead of two, and two
// statements fewer for the server to run. A second statement throws Error
// (kOther), on both backends: a module's tests find the mistake on either.
// (Reads need no such word: a read's first statement runs alone on both
// backends, and the read runs again in a transaction if it turns out to
// run more; see Read.)
enum class Statements { kAny, kOne };

// Rewrites $N placeholders to ?N, outside string literals, quoted names and
// comments, for SQLite (which reads $1 as a named parameter numbered by
// first appearance, not as parameter 1).
std::string DollarToQuestion(std::string_view sql);

// One Read or Write as the backends run it: `run` is fn with its result
// kept by the caller; it returns false when that result is not OK, and the
// transaction is then rolled back. `done` gets null when the transaction
// committed (or was rolled back because `run` said so), else the failure
// (storage::Error, or what `run` threw).
struct Work {
  bool write = false;
  // For a write (see Statements): kOne lets the backend run its one
  // statement without a transaction around it.
  Statements statements = Statements::kAny;
  RequestContext::Clock::time_point deadline =
      RequestContext::Clock::time_point::max();
  std::function<bool(Tx&)> run;
  std::function<void(std::exception_ptr)> done;
};

// A module's open storage. Thread-safe. Destroying it finishes the writes
// already submitted and closes its connections.
class Database {
 public:
  virtual ~Database() = default;

  virtual Backend backend() const = 0;
  // The owning module.
  virtual const std::string& name() const = 0;
  // The schema version applied at open.
  virtual int schema_version() const = 0;
  // True while the storage can serve: false while PostgreSQL cannot be
  // reached (the pool keeps trying, and this turns true again by itself).
  virtual bool Ready() const = 0;
  // The same as Ready(), as a flag that outlives the Database (for the
  // runtime's /readyz, which may be asked after a module closed it).
  virtual std::shared_ptr<const std::atomic<bool>> ReadyFlag() const = 0;
  // True iff Execute runs a read, and its `done`, before it returns
  // (SQLite's reader pool), wherever it is called.
  virtual bool ReadsInPlace() const { return false; }

  // Runs `work` (see Work). `done` runs, with the submitter's request
  // context and span current, on the server event loop that submitted, or
  // else on a storage thread (or, for reads on SQLite, in place before
  // Execute returns), where it must be quick and never block. Prefer
  // storage::Read and storage::Write.
  virtual void Execute(Work work) = 0;
};

namespace internal {

// Returns true iff an operation's result is OK.
inline bool ResultOk(const Status& s) { return s.ok(); }
template <typename T>
bool ResultOk(const StatusOr<T>& s) {
  return s.ok();
}

template <typename R>
R Failed(std::exception_ptr error,
         const std::function<R(const Error&)>& on_error) {
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    return on_error ? on_error(e) : R(StatusFor(e));
  } catch (...) {
    return R(mitos::internal::StatusFromCurrentException());
  }
}

// Waits for a `done` that runs on another thread.
void Block(Database& db, Work work);

template <typename R>
Completion<R> Run(Database& db, bool write, std::function<R(Tx&)> fn,
                  std::function<R(const Error&)> on_error,
                  Statements statements = Statements::kAny) {
  return Completion<R>([&db, write, statements, fn = std::move(fn),
                        on_error = std::move(on_error)](
                           std::function<void(R)> done) mutable {
    struct State {
      std::optional<R> result;
      std::function<R(Tx&)> fn;
    };
    auto st = std::make_shared<State>();
    st->fn = std::move(fn);
    Work w;
    w.write = write;
    w.statements = statements;
    w.deadline = RequestContext::Current().deadline;
    w.run = [st](Tx& tx) {
      // A group commit may run fn again: only its last run counts.
      st->result.reset();
      st->result.emplace(st->fn(tx));
      return ResultOk(*st->result);
    };
    w.done = [st, on_error = std::move(on_error),
              done = std::move(done)](std::exception_ptr error) {
      if (error) {
        st->result.reset();
        st->result.emplace(Failed<R>(error, on_error));
      }
      done(std::move(*st->result));
    };
    if (mitos::internal::OnEventLoop()) return db.Execute(std::move(w));
    Block(db, std::move(w));
  });
}

}  // namespace internal

// The awaitables of operations written as coroutines (mitos/io/task.h):
//   R r = co_await storage::Read<R>(db, fn);
//   R r = co_await storage::Write<R>(db, fn, on_error);
// give fn's result, or on_error(e) (StatusFor(e) when on_error is empty)
// when a statement, the begin or the commit failed with e; any other
// exception from fn becomes Internal. On a server event loop the coroutine
// suspends and resumes on that loop once the transaction ended; elsewhere
// the thread waits. The request's deadline (RequestContext::Current() when
// called) bounds the statements, which are cancelled past it, and on
// PostgreSQL the wait for a connection too; the result is then
// DeadlineExceeded. (On SQLite a write that reaches the writer after its
// deadline does not run; the wait for a reader connection is not bounded.)
// REQUIRES: R is Status or StatusOr<T>.
template <typename R>
Completion<R> Read(Database& db, std::function<R(Tx&)> fn,
                   std::function<R(const Error&)> on_error = {}) {
  return internal::Run<R>(db, /*write=*/false, std::move(fn),
                          std::move(on_error));
}
template <typename R>
Completion<R> Write(Database& db, std::function<R(Tx&)> fn,
                    std::function<R(const Error&)> on_error = {},
                    Statements statements = Statements::kAny) {
  return internal::Run<R>(db, /*write=*/true, std::move(fn),
                          std::move(on_error), statements);
}

namespace internal {

template <typename R>
Task<R> AwaitRead(Database& db, std::function<R(Tx&)> fn,
                  std::function<R(const Error&)> on_error) {
  auto read = Read<R>(db, std::move(fn), std::move(on_error));
  co_return co_await read;
}

}  // namespace internal

// A read as an operation's whole answer, for a plain function that returns
// a task (mitos/io/task.h):
//   return storage::ReadTask<R>(db, fn);
// gives what co_await storage::Read<R>(db, fn, on_error) gives. On a
// backend that answers reads in place (Database::ReadsInPlace: SQLite) fn
// runs before ReadTask returns, and the task is ready, with no coroutine
// frame; elsewhere the task awaits the read. REQUIRES: as Read.
template <typename R, typename F>
Task<R> ReadTask(Database& db, F&& fn,
                 std::function<R(const Error&)> on_error = {}) {
  if (!db.ReadsInPlace()) {
    return internal::AwaitRead<R>(db, std::function<R(Tx&)>(std::forward<F>(fn)),
                                  std::move(on_error));
  }
  std::optional<R> result;
  Work w;
  w.deadline = RequestContext::Current().deadline;
  w.run = [&result, &fn](Tx& tx) {
    result.reset();
    result.emplace(fn(tx));
    return internal::ResultOk(*result);
  };
  w.done = [&result, &on_error](std::exception_ptr error) {
    if (error) {
      result.reset();
      result.emplace(internal::Failed<R>(error, on_error));
    }
  };
  db.Execute(std::move(w));
  return Ready<R>(std::move(*result));
}

// Declares the keys of a module's storage, all under "<module>.storage.":
// SQLite's (readers, busy_timeout_ms, cache_kib, max_page_count, as
// sqlite::DeclareStorageConfig), and backend (sqlite|postgres), url
// (secret: config print shows it with the password redacted), url_file,
// pool_min, pool_max, acquire_timeout_ms, connect_timeout_ms and
// statement_timeout_ms. Call it from a module's declare_config instead of
// sqlite::DeclareStorageConfig when the module opens its storage with
// ModuleContext::OpenStorage.
void DeclareConfig(config::Schema& schema, const std::string& module);

// Opens the storage of `module` as its configuration says (keys declared by
// DeclareConfig), applying `migrations`: "<data_dir>/<module>.db" on
// SQLite, or the database at <module>.storage.url (or the URL in the file
// <module>.storage.url_file) on PostgreSQL. Returns a clear error, with no
// password in it, for a bad URL, an unreachable server, a schema newer than
// the migrations, or a PostgreSQL role that could see other modules' data.
// With `migrate` false the schema is taken as found (see
// sqlite::Options::migrate), and a SQLite file that does not exist is
// NotFound.
StatusOr<std::unique_ptr<Database>> Open(
    const config::Config& config, const std::string& module,
    const std::string& data_dir, const std::vector<Migration>& migrations,
    bool migrate = true);

// Returns `url` with its password (in the user part, or a password=
// parameter) replaced by "<redacted>"; for logs, messages and config print.
std::string RedactUrl(std::string_view url);

}  // namespace mitos::storage

#endif  // MITOS_STORAGE_STORAGE_H_
