// storage::Database on SQLite: the existing sqlite::Database underneath,
// so that writes keep its group commit and reads its reader pool.
#include <sqlite3.h>

#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>

#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "mitos/storage/sqlite.h"
#include "mitos/storage/storage.h"

namespace mitos::storage {
namespace {

using Clock = RequestContext::Clock;

Error ToError(const SQLite::Exception& e) {
  const int code = e.getErrorCode();
  const int ext = e.getExtendedErrorCode();
  Condition c = Condition::kOther;
  if (sqlite::IsUniqueViolation(e)) {
    c = Condition::kUniqueViolation;
  } else if (code >= 0) {
    switch (code & 0xff) {
      case SQLITE_CONSTRAINT: c = Condition::kConstraint; break;
      case SQLITE_INTERRUPT: c = Condition::kDeadline; break;
      case SQLITE_FULL: c = Condition::kFull; break;
      case SQLITE_BUSY:
      case SQLITE_LOCKED:
      case SQLITE_IOERR:
      case SQLITE_CANTOPEN: c = Condition::kUnavailable; break;
      case SQLITE_READONLY:
      case SQLITE_PERM: c = Condition::kReadOnly; break;
      case SQLITE_CORRUPT:
      case SQLITE_NOTADB: c = Condition::kCorrupt; break;
      default: break;
    }
  }
  return Error(c, e.what(), std::to_string(ext >= 0 ? ext : code));
}

Error Expired() {
  return Error(Condition::kDeadline,
               "the request's deadline passed before the statement ran");
}

class SqliteRow : public Row {
 public:
  explicit SqliteRow(SQLite::Statement& st) : st_(st) {}
  int size() const override { return st_.getColumnCount(); }
  bool IsNull(int col) const override { return Column(col).isNull(); }
  int64_t Int(int col) const override { return NotNull(col).getInt64(); }
  double Double(int col) const override { return NotNull(col).getDouble(); }
  bool Bool(int col) const override { return NotNull(col).getInt64() != 0; }
  std::string String(int col) const override {
    return NotNull(col).getString();
  }

 private:
  SQLite::Column Column(int col) const {
    if (col < 0 || col >= st_.getColumnCount()) {
      throw Error(Condition::kOther, "no column " + std::to_string(col));
    }
    return st_.getColumn(col);
  }
  SQLite::Column NotNull(int col) const {
    SQLite::Column c = Column(col);
    if (c.isNull()) {
      throw Error(Condition::kOther,
                  "column " + std::to_string(col) + " is NULL");
    }
    return c;
  }
  SQLite::Statement& st_;
};

// Interrupts a statement once its deadline passed; SQLite calls it every
// kProgressSteps virtual machine steps.
constexpr int kProgressSteps = 1000;
int OnProgress(void* arg) {
  return Clock::now() >= *static_cast<const Clock::time_point*>(arg) ? 1 : 0;
}

class SqliteStorage;

// A statement text as SQLite prepares it, kept for the life of the
// database (the connections cache their statements by its address).
struct Interned {
  explicit Interned(std::string t) : text(std::move(t)) {}
  std::string text;
  // Set once a read began with this statement and ran another after it:
  // reads that begin with it then open their transaction at once.
  std::atomic<bool> leads_to_more{false};
};

// Thrown by a read's second statement when the read opened no transaction
// (its first statement ran alone): the read runs again, in one.
struct RunInTransaction {};

class SqliteTx : public Tx {
 public:
  // Work in a transaction that `in_transaction` says is open already, or
  // else a read that opens one before its first statement when that
  // statement is known to lead to more (see Run).
  SqliteTx(SqliteStorage& owner, sqlite::Connection& c, bool read_only,
           const Clock::time_point& deadline, bool in_transaction = true)
      : owner_(owner), c_(c), read_only_(read_only),
        in_transaction_(in_transaction) {
    if (deadline != Clock::time_point::max()) {
      if (Clock::now() >= deadline) throw Expired();
      sqlite3_progress_handler(c_.db().getHandle(), kProgressSteps, &OnProgress,
                               const_cast<Clock::time_point*>(&deadline));
      guarded_ = true;
    }
  }
  ~SqliteTx() override {
    if (guarded_) {
      sqlite3_progress_handler(c_.db().getHandle(), 0, nullptr, nullptr);
    }
  }
  SqliteTx(const SqliteTx&) = delete;
  SqliteTx& operator=(const SqliteTx&) = delete;

  Backend backend() const override { return Backend::kSqlite; }
  bool read_only() const override { return read_only_; }
  // True iff a transaction is open on the connection for this work.
  bool in_transaction() const { return in_transaction_; }
  // See Statements::kOne.
  void LimitToOne() { LimitToOneStatement(); }

 protected:
  int64_t Run(std::string_view sql, const Param* params, size_t n,
              const std::function<void(const Row&)>* each) override;
  int64_t RunInsert(std::string_view sql, const Param* params,
                    size_t n) override {
    if (Run(sql, params, n, nullptr) != 1) {
      throw Error(Condition::kOther, "the insert added no row");
    }
    return sqlite3_last_insert_rowid(c_.db().getHandle());
  }

 private:
  SqliteStorage& owner_;
  sqlite::Connection& c_;
  bool read_only_;
  bool in_transaction_;
  Interned* first_ = nullptr;  // the first statement, while out of one
  bool guarded_ = false;
};

class SqliteStorage : public Database {
 public:
  SqliteStorage(std::unique_ptr<sqlite::Database> db, std::string name)
      : db_(std::move(db)),
        name_(std::move(name)),
        ready_(std::make_shared<std::atomic<bool>>(true)) {}

  Backend backend() const override { return Backend::kSqlite; }
  const std::string& name() const override { return name_; }
  int schema_version() const override { return db_->schema_version(); }
  bool Ready() const override { return true; }
  std::shared_ptr<const std::atomic<bool>> ReadyFlag() const override {
    return ready_;
  }
  bool ReadsInPlace() const override { return true; }

  void Execute(Work work) override {
    if (work.write) return ExecuteWrite(std::move(work));
    std::exception_ptr error;
    try {
      db_->Read([&](sqlite::Connection& c) {
        // A read of one statement is one consistent snapshot by itself, and
        // needs no BEGIN and COMMIT (GET /users/{id} is one); a read of more
        // runs in a transaction, which it opens again if its first
        // statement turned out to lead to more.
        try {
          SqliteTx tx(*this, c, /*read_only=*/true, work.deadline,
                      /*in_transaction=*/false);
          (void)work.run(tx);  // a read changes nothing to roll back
          if (!tx.in_transaction()) return;
        } catch (const RunInTransaction&) {
          ReadInTransaction(c, work, /*begun=*/false);
          return;
        } catch (...) {
          EndRead(c);
          throw;
        }
        ReadInTransaction(c, work, /*begun=*/true);
      });
    } catch (const SQLite::Exception& e) {
      error = std::make_exception_ptr(ToError(e));
    } catch (...) {
      error = std::current_exception();
    }
    work.done(error);
  }

  // The text SQLite prepares for `sql`.
  Interned* Intern(std::string_view sql) {
    {
      std::shared_lock<std::shared_mutex> lock(intern_mu_);
      auto it = interned_.find(sql);
      if (it != interned_.end()) return it->second.get();
    }
    std::unique_lock<std::shared_mutex> lock(intern_mu_);
    auto it = interned_.find(sql);
    if (it == interned_.end()) {
      auto text = std::make_unique<Interned>(DollarToQuestion(sql));
      it = interned_.emplace(std::string(sql), std::move(text)).first;
    }
    return it->second.get();
  }

  static void Begin(sqlite::Connection& c) { c.Prepare("BEGIN").exec(); }

 private:
  // Ends what a failed read left open, so that the connection goes back to
  // the pool with no snapshot.
  static void EndRead(sqlite::Connection& c) {
    c.ResetAll();
    if (!sqlite3_get_autocommit(c.db().getHandle())) {
      c.db().tryExec("ROLLBACK");
    }
  }

  // Runs the read inside one transaction (again, unless `begun`: then its
  // transaction is open and fn has run in it), and ends it.
  void ReadInTransaction(sqlite::Connection& c, Work& work, bool begun) {
    try {
      if (!begun) {
        c.ResetAll();
        Begin(c);
        SqliteTx tx(*this, c, /*read_only=*/true, work.deadline);
        (void)work.run(tx);
      }
      c.ResetAll();
      c.Prepare("COMMIT").exec();
    } catch (...) {
      EndRead(c);
      throw;
    }
  }

 public:

 private:
  void ExecuteWrite(Work work) {
    struct State {
      Work work;
      std::exception_ptr error;  // of fn, or of the commit
      bool rolled_back = false;  // fn's result was not OK
    };
    struct RollBack {};
    auto st = std::make_shared<State>();
    st->work = std::move(work);
    db_->WriteTxAsync<Status>(
        [this, st](sqlite::Connection& c) -> Status {
          // A run again after another operation of the batch failed starts
          // afresh.
          st->error = nullptr;
          st->rolled_back = false;
          try {
            SqliteTx tx(*this, c, /*read_only=*/false, st->work.deadline);
            const bool one = st->work.statements == Statements::kOne;
            if (one) tx.LimitToOne();
            // One statement stands once it ran, as on PostgreSQL, where it
            // commits by itself.
            if (!st->work.run(tx) && !one) {
              st->rolled_back = true;
              throw RollBack{};
            }
          } catch (const RollBack&) {
            throw;
          } catch (...) {
            st->error = std::current_exception();
            throw;
          }
          return Status::Ok();
        },
        [st](const SQLite::Exception& e) {
          st->error = std::make_exception_ptr(ToError(e));
          return Status::Internal("");
        },
        [st](Status s) {
          if (st->rolled_back) return st->work.done(nullptr);
          if (!st->error && !s.ok()) {
            st->error = std::make_exception_ptr(
                Error(Condition::kOther, "the write failed: " + s.message()));
          }
          st->work.done(st->error);
        });
  }

  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const {
      return std::hash<std::string_view>()(s);
    }
  };
  std::unique_ptr<sqlite::Database> db_;
  std::string name_;
  std::shared_ptr<std::atomic<bool>> ready_;
  std::shared_mutex intern_mu_;
  std::unordered_map<std::string, std::unique_ptr<Interned>, Hash,
                     std::equal_to<>>
      interned_;
};

int64_t SqliteTx::Run(std::string_view sql, const Param* params, size_t n,
                      const std::function<void(const Row&)>* each) {
  Interned* interned = owner_.Intern(sql);
  if (!in_transaction_) {
    if (first_ == nullptr) {
      if (interned->leads_to_more.load(std::memory_order_relaxed)) {
        SqliteStorage::Begin(c_);
        in_transaction_ = true;
      }
      first_ = interned;
    } else {
      first_->leads_to_more.store(true, std::memory_order_relaxed);
      throw RunInTransaction{};
    }
  }
  SQLite::Statement& st = c_.Prepare(interned->text.c_str());
  for (size_t i = 0; i < n; ++i) {
    const int at = static_cast<int>(i) + 1;
    const Param& p = params[i];
    switch (p.kind()) {
      case Param::Kind::kNull: st.bind(at); break;
      case Param::Kind::kInt:
      case Param::Kind::kBool: st.bind(at, static_cast<int64_t>(p.int_value())); break;
      case Param::Kind::kDouble: st.bind(at, p.double_value()); break;
      case Param::Kind::kText: st.bind(at, std::string(p.text())); break;
    }
  }
  sqlite3* handle = c_.db().getHandle();
  const int64_t before = sqlite3_total_changes64(handle);
  SqliteRow row(st);
  try {
    while (st.executeStep()) {
      if (each != nullptr) (*each)(row);
    }
  } catch (...) {
    st.tryReset();
    throw;
  }
  st.tryReset();
  return sqlite3_total_changes64(handle) - before;
}

}  // namespace

StatusOr<std::unique_ptr<Database>> OpenSqlite(
    const std::string& path, const sqlite::Options& options,
    const std::vector<Migration>& migrations) {
  std::vector<sqlite::Migration> steps;
  steps.reserve(migrations.size());
  for (const auto& m : migrations) {
    steps.push_back({m.version, m.description, m.SqlFor(Backend::kSqlite)});
  }
  auto db = sqlite::Database::Open(path, options, steps);
  if (!db.ok()) return db.status();
  return std::unique_ptr<Database>(
      std::make_unique<SqliteStorage>(std::move(*db), options.name));
}

}  // namespace mitos::storage
