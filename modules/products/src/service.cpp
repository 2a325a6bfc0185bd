#include "service.h"

#include "mitos/base/context.h"

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

using mitos::storage::Tx;

mitos::Status NoSuchProduct(int64_t id) {
  return mitos::Status::NotFound("Product " + std::to_string(id) +
                                 " does not exist.");
}

Product Row(const mitos::storage::Row& r) {
  return Product{r.Int(0), r.String(1), r.String(2), r.Int(3), r.String(4)};
}

mitos::StatusOr<Product> InsertFailed(const mitos::storage::Error& e) {
  if (e.unique_violation()) {
    return mitos::Status::AlreadyExists("A product with this SKU already exists.",
                                        {{"sku", "is already used by another product"}});
  }
  return mitos::storage::StatusFor(e);
}

}  // namespace

const std::vector<mitos::storage::Migration>& ProductsService::Migrations() {
  static const std::vector<mitos::storage::Migration> kMigrations = {
      {1, "products", "",
       "CREATE TABLE products ("
       " id INTEGER PRIMARY KEY AUTOINCREMENT,"
       " sku TEXT NOT NULL UNIQUE,"
       " name TEXT NOT NULL,"
       " price_cents INTEGER NOT NULL,"
       " created_at TEXT NOT NULL)",
       "CREATE TABLE products ("
       " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
       " sku TEXT NOT NULL UNIQUE,"
       " name TEXT NOT NULL,"
       " price_cents BIGINT NOT NULL,"
       " created_at TEXT NOT NULL)"},
  };
  return kMigrations;
}

ProductsService::ProductsService(std::unique_ptr<mitos::storage::Database> db,
                                 Clock clock)
    : db_(std::move(db)), clock_(std::move(clock)) {}

mitos::Task<mitos::StatusOr<Product>> ProductsService::Create(NewProduct in) {
  if (!mitos::RequestContext::Current().caller.Has("products:admin")) {
    co_return mitos::Status::PermissionDenied(
        "Adding products needs the products:admin scope.");
  }
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
  auto insert = [p](Tx& tx) mutable -> mitos::StatusOr<Product> {
    p.id = tx.Insert(
        "INSERT INTO products (sku, name, price_cents, created_at) "
        "VALUES ($1, $2, $3, $4)",
        {p.sku, p.name, p.price_cents, p.created_at});
    return p;
  };
  auto write = mitos::storage::Write<mitos::StatusOr<Product>>(
      *db_, insert, &InsertFailed, mitos::storage::Statements::kOne);
  co_return co_await write;
}

mitos::Task<mitos::StatusOr<Product>> ProductsService::Get(int64_t id) {
  using R = mitos::StatusOr<Product>;
  if (id <= 0) return mitos::Ready<R>(NoSuchProduct(id));
  return mitos::storage::ReadTask<R>(*db_, [id](Tx& tx) -> R {
    auto p = tx.One<Product>(
        "SELECT id, sku, name, price_cents, created_at FROM products "
        "WHERE id = $1",
        {id}, &Row);
    if (!p) return NoSuchProduct(id);
    return std::move(*p);
  });
}

mitos::Task<mitos::StatusOr<mitos::Page<Product>>> ProductsService::List(
    mitos::PageRequest page) {
  using R = mitos::StatusOr<mitos::Page<Product>>;
  std::vector<mitos::FieldError> errors;
  mitos::CheckPaging(page.limit, page.after, 100, &errors);
  if (!errors.empty()) {
    return mitos::Ready<R>(mitos::Status::InvalidArgument(
        "Invalid paging parameters.", std::move(errors)));
  }
  return mitos::storage::ReadTask<R>(*db_, [page](Tx& tx) -> R {
    mitos::Page<Product> out;
    out.items = tx.All<Product>(
        "SELECT id, sku, name, price_cents, created_at FROM products "
        "WHERE id > $1 ORDER BY id LIMIT $2",
        {page.after, page.limit + 1}, &Row);
    if (out.items.size() > static_cast<size_t>(page.limit)) {
      out.items.pop_back();
      out.next_after = out.items.back().id;
    }
    return out;
  });
}

}  // namespace products
