// The metric families both backends share, so that a dashboard reads them
// alike whichever backend a module uses.
#ifndef MITOS_STORAGE_SRC_NAMES_H_
#define MITOS_STORAGE_SRC_NAMES_H_

namespace mitos::storage::internal {

inline constexpr const char* kErrorsName = "mitos_db_errors_total";
inline constexpr const char* kErrorsHelp =
    "Storage operations that failed, by operation (read, write, "
    "checkpoint) and kind of failure (full, busy, io, read_only, "
    "cant_open, corrupt, deadline, unavailable, other).";
inline constexpr const char* kLatencyName = "mitos_db_query_duration_seconds";
inline constexpr const char* kLatencyHelp =
    "Duration of a group of statements (one read, or one write or "
    "transaction), waits for the writer or a reader included.";

}  // namespace mitos::storage::internal

#endif  // MITOS_STORAGE_SRC_NAMES_H_
