// The in-process implementation of @Module@Api: the field rules and the SQL
// of the module's own storage, on SQLite or PostgreSQL. Tested as plain
// C++, without HTTP.
#ifndef @MODULE@_SRC_SERVICE_H_
#define @MODULE@_SRC_SERVICE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "@module@/api.h"
#include "mitos/storage/storage.h"

namespace @module@ {

class @Module@Service : public @Module@Api {
 public:
  using Clock = std::function<std::string()>;  // RFC 3339 "now"

  // The module's schema history; append, never edit.
  static const std::vector<mitos::storage::Migration>& Migrations();

  @Module@Service(std::unique_ptr<mitos::storage::Database> db, Clock clock);

  mitos::Task<mitos::StatusOr<Item>> Create(NewItem item) override;
  mitos::Task<mitos::StatusOr<Item>> Get(int64_t id) override;
  mitos::Task<mitos::StatusOr<mitos::Page<Item>>> List(
      mitos::PageRequest page) override;

 private:
  std::unique_ptr<mitos::storage::Database> db_;
  Clock clock_;
};

}  // namespace @module@

#endif  // @MODULE@_SRC_SERVICE_H_
