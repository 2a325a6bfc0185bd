#include "mitos/storage/storage.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "mitos/storage/postgres.h"
#include "mitos/storage/sqlite.h"

namespace mitos::storage {

const char* BackendName(Backend b) {
  return b == Backend::kPostgres ? "postgres" : "sqlite";
}

const std::string& Migration::SqlFor(Backend b) const {
  if (b == Backend::kSqlite && !sqlite.empty()) return sqlite;
  if (b == Backend::kPostgres && !postgres.empty()) return postgres;
  return sql;
}

Error::Error(Condition condition, std::string message, std::string code)
    : std::runtime_error(std::move(message)),
      condition_(condition),
      code_(std::move(code)) {}

Status StatusFor(const Error& e) {
  switch (e.condition()) {
    case Condition::kUnavailable:
      return Status::StorageUnavailable(
          "The storage is unavailable; retry shortly.");
    case Condition::kFull:
      return Status::InsufficientStorage(
          "There is no storage space left; the change was not saved.");
    case Condition::kReadOnly:
      return Status::StorageReadOnly(
          "The storage is read-only; changes cannot be saved.");
    case Condition::kCorrupt:
      return Status::StorageCorrupt("The stored data is damaged.");
    case Condition::kDeadline:
      return Status::DeadlineExceeded(
          "The storage did not answer within the request's deadline.");
    case Condition::kUniqueViolation:
    case Condition::kConstraint:
    case Condition::kOther:
      break;
  }
  return Status::Internal("The storage operation failed.");
}

std::string DollarToQuestion(std::string_view sql) {
  std::string out;
  out.reserve(sql.size());
  size_t i = 0;
  const size_t n = sql.size();
  while (i < n) {
    char c = sql[i];
    if (c == '\'' || c == '"' || c == '`') {
      // A quoted string or name; a doubled quote stays inside it.
      size_t j = i + 1;
      while (j < n) {
        if (sql[j] == c) {
          if (j + 1 < n && sql[j + 1] == c) {
            j += 2;
            continue;
          }
          break;
        }
        ++j;
      }
      j = std::min(j + 1, n);
      out.append(sql.substr(i, j - i));
      i = j;
    } else if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
      size_t j = sql.find('\n', i);
      j = j == std::string_view::npos ? n : j;
      out.append(sql.substr(i, j - i));
      i = j;
    } else if (c == '/' && i + 1 < n && sql[i + 1] == '*') {
      size_t j = sql.find("*/", i + 2);
      j = j == std::string_view::npos ? n : j + 2;
      out.append(sql.substr(i, j - i));
      i = j;
    } else if (c == '$' && i + 1 < n && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
      out.push_back('?');
      ++i;
    } else {
      out.push_back(c);
      ++i;
    }
  }
  return out;
}

namespace internal {

void Block(Database& db, Work work) {
  struct Wait {
    mitos::internal::Latch latch;
    std::exception_ptr error;
  };
  // Shared: `done` may still be running on the storage thread when the
  // latch lets this thread go.
  auto wait = std::make_shared<Wait>();
  auto done = std::move(work.done);
  work.done = [wait](std::exception_ptr error) {
    wait->error = std::move(error);
    wait->latch.Set();
  };
  db.Execute(std::move(work));
  wait->latch.WaitSet();
  done(wait->error);
}

}  // namespace internal

std::string RedactUrl(std::string_view url) {
  std::string out(url);
  size_t scheme = out.find("://");
  if (scheme != std::string::npos) {
    size_t start = scheme + 3;
    // The user part ends at the last '@' (a host has none; a password may).
    size_t at = out.rfind('@');
    if (at != std::string::npos && at > start) {
      size_t colon = out.find(':', start);
      if (colon != std::string::npos && colon < at) {
        out.replace(colon + 1, at - colon - 1, "<redacted>");
      }
    }
  }
  // A password given as a parameter: ?password=... or key=value text.
  for (size_t p = out.find("password="); p != std::string::npos;
       p = out.find("password=", p + 1)) {
    size_t v = p + 9;
    size_t end = out.find_first_of("& ", v);
    if (end == std::string::npos) end = out.size();
    out.replace(v, end - v, "<redacted>");
  }
  return out;
}

void DeclareConfig(config::Schema& schema, const std::string& module) {
  sqlite::DeclareStorageConfig(schema, module);
  const std::string p = module + ".storage.";
  schema.String(p + "backend", "sqlite",
                "Where " + module + " keeps its data: sqlite (the file " +
                    module + ".db in data_dir) or postgres (the database at " +
                    p + "url).",
                {"sqlite", "postgres"});
  schema.String(p + "url", "",
                "PostgreSQL database of " + module +
                    ", postgresql://user:password@host:5432/dbname; used when "
                    "the backend is postgres. Printed with its password "
                    "redacted.",
                {}, /*secret=*/true);
  schema.Redacted(p + "url", [](const std::string& v) { return RedactUrl(v); });
  schema.String(p + "url_file", "",
                "File holding the PostgreSQL URL of " + module +
                    " (a mounted Secret), instead of " + p + "url.");
  schema.Int(p + "pool_min", 1, 0, 256,
             "PostgreSQL connections of " + module + " opened at start and kept.");
  schema.Int(p + "pool_max", 8, 1, 256,
             "Most PostgreSQL connections of " + module +
                 " (each has a thread of its own).");
  schema.Int(p + "loop_pipeline", 128, 0, 4096,
             "Most statements of " + module +
                 " in flight on each event loop's own PostgreSQL connection "
                 "(reads and one-statement writes of requests, sent "
                 "without a thread hand-off, one after another); 0 sends "
                 "every statement through the pool's threads, side by side "
                 "(for a module whose reads are long).");
  schema.Int(p + "acquire_timeout_ms", 1000, 1, 600000,
             "Longest wait of " + module +
                 " for a free PostgreSQL connection (the request's deadline "
                 "may shorten it).");
  schema.Int(p + "connect_timeout_ms", 2000, 1, 600000,
             "Longest wait of " + module + " for a new PostgreSQL connection.");
  schema.Int(p + "statement_timeout_ms", 30000, 1, 3600000,
             "statement_timeout of " + module +
                 "'s transactions that have no request deadline (a request's "
                 "remaining deadline replaces it).");
}

namespace {

std::string Trim(std::string s) {
  const char* ws = " \t\r\n";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

}  // namespace

StatusOr<std::unique_ptr<Database>> Open(
    const config::Config& config, const std::string& module,
    const std::string& data_dir, const std::vector<Migration>& migrations,
    bool migrate) {
  const std::string p = module + ".storage.";
  if (config.String(p + "backend") == "sqlite") {
    sqlite::Options o;
    o.name = module;
    o.migrate = migrate;
    o.busy_timeout_ms = static_cast<int>(config.Int(p + "busy_timeout_ms"));
    o.readers = static_cast<int>(config.Int(p + "readers"));
    o.cache_kib = static_cast<int>(config.Int(p + "cache_kib"));
    o.max_page_count = config.Int(p + "max_page_count");
    auto path = std::filesystem::path(data_dir) / (module + ".db");
    std::error_code ec;
    if (!migrate && !std::filesystem::exists(path, ec)) {
      return Status::NotFound("no database file " + path.string());
    }
    return OpenSqlite(path.string(), o, migrations);
  }
  postgres::Options o;
  o.name = module;
  o.migrate = migrate;
  std::string url = config.String(p + "url");
  const std::string& file = config.String(p + "url_file");
  if (!url.empty() && !file.empty()) {
    return Status::InvalidArgument(p + "url and " + p +
                                   "url_file are both set; set one of them");
  }
  if (!file.empty()) {
    std::ifstream in(file);
    std::stringstream text;
    if (in) text << in.rdbuf();
    if (!in) {
      return Status::InvalidArgument("cannot read " + p + "url_file (" + file +
                                     ")");
    }
    url = Trim(text.str());
    if (url.empty()) {
      return Status::InvalidArgument(p + "url_file (" + file + ") is empty");
    }
  }
  if (url.empty()) {
    return Status::InvalidArgument(
        p + "backend is postgres, but neither " + p + "url nor " + p +
        "url_file is set (" + config::EnvVarName(p + "url") + "=postgresql://"
        "user:password@host:5432/dbname)");
  }
  o.url = std::move(url);
  o.pool_min = static_cast<int>(config.Int(p + "pool_min"));
  o.pool_max = static_cast<int>(config.Int(p + "pool_max"));
  if (o.pool_min > o.pool_max) {
    return Status::InvalidArgument(p + "pool_min (" + std::to_string(o.pool_min) +
                                   ") is larger than " + p + "pool_max (" +
                                   std::to_string(o.pool_max) + ")");
  }
  o.loop_pipeline = static_cast<int>(config.Int(p + "loop_pipeline"));
  o.acquire_timeout =
      std::chrono::milliseconds(config.Int(p + "acquire_timeout_ms"));
  o.connect_timeout =
      std::chrono::milliseconds(config.Int(p + "connect_timeout_ms"));
  o.statement_timeout =
      std::chrono::milliseconds(config.Int(p + "statement_timeout_ms"));
  return postgres::Open(o, migrations);
}

}  // namespace mitos::storage
