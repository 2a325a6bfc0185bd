#include "service.h"

#include "mitos/http/validation.h"
#include "rules.h"

namespace products {

std::string CheckSku(std::string_view sku) {
  if (sku.empty() || sku.size() > kMaxSkuLength) {
    return "must be 1 to " + std::to_string(kMaxSkuLength) + " characters";
  }
  for (unsigned char c : sku) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return "must contain only letters, digits, '.', '_' and '-'";
  }
  return "";
}

std::string CheckName(std::string_view name) {
  std::string_view trimmed = mitos::TrimAscii(name);
  size_t n = mitos::Utf8Length(trimmed);
  if (n < 1 || n > kMaxNameLength) {
    return "must be 1 to " + std::to_string(kMaxNameLength) +
           " characters after trimming";
  }
  for (unsigned char c : trimmed) {
    if (c < 0x20 || c == 0x7F) return "must not contain control characters";
  }
  return "";
}

std::string CheckPrice(int64_t price_cents) {
  if (price_cents >= 0 && price_cents <= kMaxPriceCents) return "";
  return "must be an integer from 0 to " + std::to_string(kMaxPriceCents);
}

namespace {

using mitos::sqlite::Connection;

mitos::Status NoSuchProduct(int64_t id) {
  return mitos::Status::NotFound("Product " + std::to_string(id) +
                                 " does not exist.");
}

Product Row(SQLite::Statement& st) {
  return Product{st.getColumn(0).getInt64(), st.getColumn(1).getString(),
                 st.getColumn(2).getString(), st.getColumn(3).getInt64(),
                 st.getColumn(4).getString()};
}

mitos::StatusOr<Product> InsertFailed(const SQLite::Exception& e) {
  if (mitos::sqlite::IsUniqueViolation(e)) {
    return mitos::Status::AlreadyExists("A product with this SKU already exists.",
                                        {{"sku", "is already used by another product"}});
  }
  return mitos::sqlite::StatusFor(e);
}

}  // namespace

const std::vector<mitos::sqlite::Migration>& ProductsService::Migrations() {
  static const std::vector<mitos::sqlite::Migration> kMigrations = {
      {1, "products",
       "CREATE TABLE products ("
       " id INTEGER PRIMARY KEY AUTOINCREMENT,"
       " sku TEXT NOT NULL UNIQUE,"
       " name TEXT NOT NULL,"
       " price_cents INTEGER NOT NULL,"
       " created_at TEXT NOT NULL)"},
  };
  return kMigrations;
}

ProductsService::ProductsService(std::unique_ptr<mitos::sqlite::Database> db,
                                 Clock clock)
    : db_(std::move(db)), clock_(std::move(clock)) {}

mitos::Task<mitos::StatusOr<Product>> ProductsService::Create(NewProduct in) {
  std::vector<mitos::FieldError> errors;
  mitos::http::Check(&errors, "sku", CheckSku(in.sku));
  mitos::http::Check(&errors, "name", CheckName(in.name));
  mitos::http::Check(&errors, "price_cents", CheckPrice(in.price_cents));
  if (!errors.empty()) {
    co_return mitos::Status::InvalidArgument("The product has invalid fields.",
                                             std::move(errors));
  }
  Product p{0, in.sku, std::string(mitos::TrimAscii(in.name)), in.price_cents,
            clock_()};
  auto insert = [p](Connection& c) mutable -> mitos::StatusOr<Product> {
    auto& st = c.Prepare(
        "INSERT INTO products (sku, name, price_cents, created_at) "
        "VALUES (?, ?, ?, ?)");
    st.bind(1, p.sku);
    st.bind(2, p.name);
    st.bind(3, p.price_cents);
    st.bind(4, p.created_at);
    st.exec();
    p.id = c.db().getLastInsertRowid();
    return p;
  };
  co_return co_await mitos::sqlite::Write<mitos::StatusOr<Product>>(
      *db_, insert, &InsertFailed);
}

mitos::Task<mitos::StatusOr<Product>> ProductsService::Get(int64_t id) {
  if (id <= 0) co_return NoSuchProduct(id);
  co_return db_->Read([id](Connection& c) -> mitos::StatusOr<Product> {
    auto& st = c.Prepare(
        "SELECT id, sku, name, price_cents, created_at FROM products "
        "WHERE id = ?");
    st.bind(1, id);
    if (!st.executeStep()) return NoSuchProduct(id);
    return Row(st);
  });
}

mitos::Task<mitos::StatusOr<mitos::Page<Product>>> ProductsService::List(
    mitos::PageRequest page) {
  std::vector<mitos::FieldError> errors;
  mitos::CheckPaging(page.limit, page.after, 100, &errors);
  if (!errors.empty()) {
    co_return mitos::Status::InvalidArgument("Invalid paging parameters.",
                                             std::move(errors));
  }
  co_return db_->Read([page](Connection& c) {
    auto& st = c.Prepare(
        "SELECT id, sku, name, price_cents, created_at FROM products "
        "WHERE id > ? ORDER BY id LIMIT ?");
    st.bind(1, page.after);
    st.bind(2, page.limit + 1);
    mitos::Page<Product> out;
    while (st.executeStep()) out.items.push_back(Row(st));
    if (out.items.size() > static_cast<size_t>(page.limit)) {
      out.items.pop_back();
      out.next_after = out.items.back().id;
    }
    return mitos::StatusOr<mitos::Page<Product>>(std::move(out));
  });
}

}  // namespace products
