// X-Request-Id values.
#ifndef MITOS_HTTP_REQUEST_ID_H_
#define MITOS_HTTP_REQUEST_ID_H_

#include <string>
#include <string_view>

namespace mitos::internal {

// Returns true iff an incoming id is short and plain enough to be logged
// and passed on as it is: 1..128 characters of [A-Za-z0-9._:-].
bool IsValidRequestId(std::string_view id);

// Returns a new random id of 32 hex digits.
std::string NewRequestId();

// Returns `incoming` if valid, else a new id.
std::string RequestIdFor(std::string_view incoming);

}  // namespace mitos::internal

#endif  // MITOS_HTTP_REQUEST_ID_H_
