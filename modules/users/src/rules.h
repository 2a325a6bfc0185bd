// The field rules of the users contract (contract.yaml names them in
// `check:`): each returns "" when the value is valid, else the message of
// its field error.
#ifndef USERS_SRC_RULES_H_
#define USERS_SRC_RULES_H_

#include <string>
#include <string_view>

namespace users {

inline constexpr int kMaxNameLength = 100;  // code points, after trimming
inline constexpr int kMaxPageSize = 100;    // the contract's page.max

// A plausible address: at most 254 characters, one '@', a local part of
// 1..64 characters without spaces or control characters, and a domain of
// at least two dot-separated labels of letters, digits and hyphens (or
// non-ASCII).
std::string CheckEmail(std::string_view email);

// 1..100 characters once ASCII white space is trimmed from both ends, no
// control characters.
std::string CheckName(std::string_view name);

}  // namespace users

#endif  // USERS_SRC_RULES_H_
