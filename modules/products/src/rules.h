// The field rules of the products contract (contract.yaml names them in
// `check:`): each returns "" when the value is valid, else the message of
// its field error.
#ifndef PRODUCTS_SRC_RULES_H_
#define PRODUCTS_SRC_RULES_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace products {

inline constexpr int kMaxSkuLength = 64;
inline constexpr int kMaxNameLength = 200;
inline constexpr int64_t kMaxPriceCents = 1000000000;

// 1..64 characters of [A-Za-z0-9._-].
std::string CheckSku(std::string_view sku);
// 1..200 characters after trimming, no control characters.
std::string CheckName(std::string_view name);
// 0..kMaxPriceCents.
std::string CheckPrice(int64_t price_cents);

}  // namespace products

#endif  // PRODUCTS_SRC_RULES_H_
