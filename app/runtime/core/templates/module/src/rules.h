// The field rules of the @module@ contract (contract.yaml names them in
// `check:`): each returns "" when the value is valid, else the message of
// its field error.
#ifndef @MODULE@_SRC_RULES_H_
#define @MODULE@_SRC_RULES_H_

#include <string>
#include <string_view>

namespace @module@ {

inline constexpr int kMaxNameLength = 200;

// 1..kMaxNameLength characters after trimming, no control characters.
std::string CheckName(std::string_view name);

}  // namespace @module@

#endif  // @MODULE@_SRC_RULES_H_
