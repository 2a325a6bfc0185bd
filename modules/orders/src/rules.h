// The field rules of the orders contract (contract.yaml names them in
// `check:`): each returns "" when the value is valid, else the message of
// its field error.
#ifndef ORDERS_SRC_RULES_H_
#define ORDERS_SRC_RULES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace orders {

inline constexpr int kMaxItems = 50;
inline constexpr int kMaxSkuLength = 64;          // code points
inline constexpr int64_t kMaxQuantity = 1000;
inline constexpr int64_t kMaxUnitPriceCents = 1'000'000'000;
inline constexpr int kMaxPageSize = 100;          // the contract's page.max

// A positive id (whether that user exists is the service's to ask).
std::string CheckUserId(int64_t user_id);
// 1..kMaxItems items.
std::string CheckItemCount(size_t n);
// 1..64 code points of valid UTF-8, without control characters (C0, DEL
// or C1).
std::string CheckSku(std::string_view sku);
// 1..kMaxQuantity.
std::string CheckQuantity(int64_t quantity);
// 0..kMaxUnitPriceCents.
std::string CheckUnitPrice(int64_t unit_price_cents);

}  // namespace orders

#endif  // ORDERS_SRC_RULES_H_
