// The in-process implementation of ProductsApi: the field rules and the SQL
// of the module's own storage, on SQLite or PostgreSQL. Tested as plain
// C++, without HTTP.
#ifndef PRODUCTS_SRC_SERVICE_H_
#define PRODUCTS_SRC_SERVICE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mitos/storage/storage.h"
#include "products/api.h"

namespace products {

class ProductsService : public ProductsApi {
 public:
  using Clock = std::function<std::string()>;  // RFC 3339 "now"

  // The module's schema history; append, never edit.
  static const std::vector<mitos::storage::Migration>& Migrations();

  ProductsService(std::unique_ptr<mitos::storage::Database> db, Clock clock);

  mitos::Task<mitos::StatusOr<Product>> Create(NewProduct product) override;
  mitos::Task<mitos::StatusOr<Product>> Get(int64_t id) override;
  mitos::Task<mitos::StatusOr<mitos::Page<Product>>> List(
      mitos::PageRequest page) override;

 private:
  std::unique_ptr<mitos::storage::Database> db_;
  Clock clock_;
};

}  // namespace products

#endif  // PRODUCTS_SRC_SERVICE_H_
