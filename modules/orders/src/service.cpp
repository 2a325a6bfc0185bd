#include "service.h"

#include "mitos/base/context.h"

#include "mitos/base/context.h"
#include "mitos/http/rest.h"
#include "mitos/http/validation.h"
#include "rules.h"

namespace orders {
namespace {

// Returns true iff `s` is valid UTF-8 (no overlong forms, surrogates or
// code points above U+10FFFF).
bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    int n;
    unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (s.size() - i <= static_cast<size_t>(n)) return false;
    for (int k = 1; k <= n; ++k) {
      auto b = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return false;
    }
    i += n + 1;
  }
  return true;
}

bool HasControlCharacter(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) return true;
    // U+0080..U+009F are encoded as C2 80..C2 9F.
    if (c == 0xC2 && i + 1 < s.size()) {
      auto next = static_cast<unsigned char>(s[i + 1]);
      if (next >= 0x80 && next <= 0x9F) return true;
    }
  }
  return false;
}

mitos::Status NoSuchOrder(int64_t id) {
  return mitos::Status::NotFound("Order " + std::to_string(id) +
                                 " does not exist.");
}

}  // namespace

std::string CheckUserId(int64_t user_id) {
  return user_id >= 1 ? "" : "must be a positive integer";
}

std::string CheckItemCount(size_t n) {
  if (n >= 1 && n <= static_cast<size_t>(kMaxItems)) return "";
  return "must have 1 to " + std::to_string(kMaxItems) + " items";
}

std::string CheckSku(std::string_view sku) {
  if (!IsValidUtf8(sku)) return "must be valid UTF-8";
  size_t n = mitos::Utf8Length(sku);
  if (n < 1 || n > static_cast<size_t>(kMaxSkuLength)) {
    return "must be 1 to " + std::to_string(kMaxSkuLength) + " characters";
  }
  if (HasControlCharacter(sku)) return "must not contain control characters";
  return "";
}

std::string CheckQuantity(int64_t quantity) {
  if (quantity >= 1 && quantity <= kMaxQuantity) return "";
  return "must be an integer from 1 to " + std::to_string(kMaxQuantity);
}

std::string CheckUnitPrice(int64_t unit_price_cents) {
  if (unit_price_cents >= 0 && unit_price_cents <= kMaxUnitPriceCents) {
    return "";
  }
  return "must be an integer from 0 to " + std::to_string(kMaxUnitPriceCents);
}

std::string ItemPrefix(size_t i) {
  return "items[" + std::to_string(i) + "].";
}

std::vector<mitos::FieldError> ValidateNewOrder(const NewOrder& o) {
  std::vector<mitos::FieldError> errors;
  mitos::http::Check(&errors, "user_id", CheckUserId(o.user_id));
  mitos::http::Check(&errors, "items", CheckItemCount(o.items.size()));
  for (size_t i = 0; i < o.items.size(); ++i) {
    const Item& item = o.items[i];
    mitos::http::Check(&errors, ItemPrefix(i) + "sku", CheckSku(item.sku));
    mitos::http::Check(&errors, ItemPrefix(i) + "quantity",
                       CheckQuantity(item.quantity));
    mitos::http::Check(&errors, ItemPrefix(i) + "unit_price_cents",
                       CheckUnitPrice(item.unit_price_cents));
  }
  return errors;
}

namespace {

// Who may see, place and cancel other users' orders.
constexpr const char* kAdminScope = "orders:admin";

// `found`, unless it is an order of another user than `owner`: that one
// answers as a missing one, so that ids cannot be probed.
mitos::Task<mitos::StatusOr<Order>> OwnedBy(
    mitos::Task<mitos::StatusOr<Order>> found, int64_t owner, int64_t id) {
  mitos::StatusOr<Order> order = co_await std::move(found);
  if (order.ok() && order->user_id != owner) co_return NoSuchOrder(id);
  co_return order;
}

}  // namespace

OrdersService::OrdersService(std::unique_ptr<OrderStore> store,
                             std::shared_ptr<users::UsersApi> users,
                             Clock clock)
    : store_(std::move(store)),
      users_(std::move(users)),
      clock_(std::move(clock)) {}

mitos::Task<mitos::StatusOr<Order>> OrdersService::Place(NewOrder in) {
  auto errors = ValidateNewOrder(in);
  if (!errors.empty()) {
    co_return mitos::Status::InvalidArgument("The order has invalid fields.",
                                             std::move(errors));
  }
  // A caller places orders for itself; naming another user answers as
  // naming a missing one.
  if (!mitos::RequestContext::Current().caller.MayActFor(in.user_id,
                                                         kAdminScope)) {
    co_return mitos::Status::InvalidArgument(
        "The order has invalid fields.", {{"user_id", "no user with this id"}});
  }

  auto user = co_await users_->Get(in.user_id);
  if (!user.ok()) {
    switch (user.status().code()) {
      case mitos::StatusCode::kNotFound:
        co_return mitos::Status::InvalidArgument(
            "The order has invalid fields.",
            {{"user_id", "no user with this id"}});
      case mitos::StatusCode::kDeadlineExceeded:
        co_return mitos::Status::DeadlineExceeded(
            "The deadline passed while checking the user.");
      default:
        // Unavailable, and anything else the users module should not have
        // returned: to our caller, the dependency failed.
        co_return mitos::Status::Unavailable(
            "The users service is unavailable.");
    }
  }

  // The user check may have used up the caller's time: do not write an
  // order nobody waits for.
  if (mitos::RequestContext::Current().Expired()) {
    co_return mitos::Status::DeadlineExceeded(
        "The deadline passed before the order was written.");
  }

  int64_t total_cents = 0;
  for (const Item& item : in.items) {
    total_cents += item.quantity * item.unit_price_cents;  // <= 5e13: no overflow
  }
  co_return co_await store_->Insert(std::move(in), total_cents, clock_());
}

// Reads answer with the store's task: ready at once on SQLite, with no
// coroutine frame.
mitos::Task<mitos::StatusOr<Order>> OrdersService::Get(int64_t id) {
  using R = mitos::StatusOr<Order>;
  if (id <= 0) return mitos::Ready<R>(NoSuchOrder(id));
  const mitos::Caller& caller = mitos::RequestContext::Current().caller;
  if (caller.Has(kAdminScope)) return store_->Find(id);
  const int64_t own = caller.UserId();
  if (own == 0) return mitos::Ready<R>(NoSuchOrder(id));
  return OwnedBy(store_->Find(id), own, id);
}

mitos::Task<mitos::StatusOr<mitos::Page<Order>>> OrdersService::List(
    std::optional<int64_t> user_id, mitos::PageRequest page) {
  using R = mitos::StatusOr<mitos::Page<Order>>;
  std::vector<mitos::FieldError> errors;
  if (user_id && *user_id <= 0) {
    errors.push_back({"user_id", "must be a positive integer"});
  }
  mitos::CheckPaging(page.limit, page.after, kMaxPageSize, &errors);
  if (!errors.empty()) {
    return mitos::Ready<R>(mitos::Status::InvalidArgument(
        "Invalid paging parameters.", std::move(errors)));
  }
  const mitos::Caller& caller = mitos::RequestContext::Current().caller;
  if (!caller.Has(kAdminScope)) {
    // Everyone else lists only their own orders.
    const int64_t own = caller.UserId();
    if (own == 0 || (user_id && *user_id != own)) {
      return mitos::Ready<R>(mitos::Page<Order>{});
    }
    user_id = own;
  }
  return store_->List(user_id, page);
}

mitos::Task<mitos::StatusOr<Order>> OrdersService::Cancel(int64_t id) {
  if (id <= 0) co_return NoSuchOrder(id);
  const mitos::Caller caller = mitos::RequestContext::Current().caller;
  if (!caller.Has(kAdminScope)) {
    const int64_t own = caller.UserId();
    if (own == 0) co_return NoSuchOrder(id);
    mitos::StatusOr<Order> order = co_await store_->Find(id);
    if (!order.ok()) co_return order.status();
    if (order->user_id != own) co_return NoSuchOrder(id);
  }
  co_return co_await store_->Cancel(id, clock_());
}

}  // namespace orders
