// The PostgreSQL backend of storage::Database (mitos/storage/storage.h),
// on libpq: a pool of connections per module, each with its own thread,
// and a pipelined connection per event loop for what can run on it,
// cached prepared statements, deadlines enforced by the server
// (statement_timeout) and by the client (a cancel request, then giving the
// connection up), reconnection with backoff, and migrations applied once
// under an advisory lock however many replicas start together.
#ifndef MITOS_STORAGE_POSTGRES_H_
#define MITOS_STORAGE_POSTGRES_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "mitos/base/status.h"
#include "mitos/storage/storage.h"

namespace mitos::postgres {

struct Options {
  // The owning module: labels its metrics, names its spans and its
  // connections (application_name "mitos-<name>").
  std::string name = "db";
  // postgresql://user[:password]@host[:port]/dbname[?param=value...], as
  // libpq reads it. It is never logged or returned unredacted.
  std::string url;
  // Connections opened at start and kept; the pool grows to `pool_max`
  // under load. Each connection has a thread of its own.
  int pool_min = 1;
  int pool_max = 8;
  // Longest wait for a free connection; the request's remaining deadline
  // shortens it.
  std::chrono::milliseconds acquire_timeout{1000};
  // Longest wait for a new connection.
  std::chrono::milliseconds connect_timeout{2000};
  // statement_timeout of transactions that have no deadline (start-up,
  // background work); a request's remaining deadline replaces it.
  std::chrono::milliseconds statement_timeout{30000};
  // Waits between attempts to reconnect while the server is unreachable:
  // from `backoff_min`, doubling up to `backoff_max`.
  std::chrono::milliseconds backoff_min{50};
  std::chrono::milliseconds backoff_max{2000};
  // Sends a transaction's BEGIN and SET LOCAL statement_timeout in one
  // pipeline with its first statement, and ends a read (or a failed
  // write) with a ROLLBACK whose answer is read at the connection's next
  // use; a statement that runs alone (a read's first, a write of
  // Statements::kOne) goes in one pipeline with the session settings it
  // needs, when they change. So a one-statement read or kOne write takes
  // one round trip, and a transaction's write two (the COMMIT's answer is
  // always waited for). false: a statement alone takes one more round trip
  // when the settings change, a transaction three.
  //
  // A statement alone runs under the session's statement_timeout, set to
  // the time left rounded down to four significant bits (so that it
  // changes seldom), and default_transaction_read_only, on for a read.
  bool pipeline = true;
  // Reads, and writes of one statement (Statements::kOne), submitted on an
  // event loop run on a connection of that loop's own when they can: the
  // statement is sent without blocking, in one pipeline with those of the
  // other requests the loop serves, and the work completes on the loop,
  // with no hand-off to a pool thread. At most this many statements are in
  // flight on a loop's connection; beyond that, and for everything else
  // (transactions, works not on a loop), the pool's threads run the work.
  // Each event loop that submits so opens one connection, besides the
  // pool's `pool_max`. 0: the pool's threads run every work.
  //
  // A loop's statements run one after another on its connection, which is
  // what makes them cheap: for short statements (a row by key, an insert)
  // the loop, not the server, is the bound. A module whose reads are long
  // (scans, reports) should set 0, so that the pool's connections run them
  // side by side. Measured on 2 cores, spilling to the pool's threads as
  // soon as a loop has a few dozen statements in flight costs more than
  // it gains (their threads and server processes compete for the cores),
  // hence a deep default.
  //
  // fn runs up to its first statement to learn it, and again with its
  // results: as Database::Execute allows, fn may run more than once.
  int loop_pipeline = 128;
  // As sqlite::Options::migrate: false takes the schema as found.
  bool migrate = true;
};

// Connects (failing with StorageUnavailable and a clear message when the
// server cannot be reached or refuses the login, and InvalidArgument for a
// bad URL, none naming the password), checks that the role can see no
// other module's data (see docs/deploy.md), applies the pending migrations
// and opens the pool. A database whose schema is newer than `migrations`
// is refused (FailedPrecondition).
StatusOr<std::unique_ptr<storage::Database>> Open(
    const Options& options, const std::vector<storage::Migration>& migrations);

}  // namespace mitos::postgres

#endif  // MITOS_STORAGE_POSTGRES_H_
