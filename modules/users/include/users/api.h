// The users module's contract: the only header of the module that other
// modules may include.
//
// UsersApi is implemented in-process by the module itself and, where the
// module runs in another process, by an HTTP client. Callers cannot tell
// which one they hold; every method documents the statuses it returns, and
// a remote binding adds only Unavailable and DeadlineExceeded.
#ifndef USERS_API_H_
#define USERS_API_H_

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "mitos/base/json.h"
#include "mitos/base/status.h"
#include "mitos/http/http.h"

namespace users {

struct User {
  int64_t id = 0;
  std::string name;        // 1..100 characters, trimmed
  std::string email;       // as given; unique regardless of ASCII case
  std::string created_at;  // RFC 3339 UTC with milliseconds
  std::string updated_at;  // RFC 3339 UTC with milliseconds
};

struct NewUser {
  std::string name;
  std::string email;
};

// Fields left empty are unchanged.
struct UserPatch {
  std::optional<std::string> name;
  std::optional<std::string> email;
};

struct UserPage {
  std::vector<User> items;            // ordered by id
  std::optional<int64_t> next_after;  // pass as `after` for the next page
};

inline constexpr int kMaxPageSize = 100;
inline constexpr int kDefaultPageSize = 20;

class UsersApi {
 public:
  virtual ~UsersApi() = default;

  // Creates a user. The name is stored trimmed.
  // Returns InvalidArgument with a field error per bad field, or
  // AlreadyExists when another user has the email (ignoring case).
  virtual mitos::StatusOr<User> Create(const NewUser& user) = 0;

  // Returns the user, or NotFound.
  virtual mitos::StatusOr<User> Get(int64_t id) = 0;

  // Returns up to `limit` users with id > `after`, ordered by id.
  // REQUIRES: 1 <= limit <= kMaxPageSize, after >= 0 (else InvalidArgument).
  virtual mitos::StatusOr<UserPage> List(int limit, int64_t after) = 0;

  // Changes the given fields and updated_at. Returns NotFound,
  // InvalidArgument or AlreadyExists as Create does.
  virtual mitos::StatusOr<User> Update(int64_t id, const UserPatch& patch) = 0;

  // Deletes the user. Returns NotFound if there is none. Ids are never
  // reused.
  virtual mitos::Status Remove(int64_t id) = 0;
};

// The wire form of a user, shared by the server and the remote client.
inline nlohmann::json ToJson(const User& u) {
  return {{"id", u.id},
          {"name", u.name},
          {"email", u.email},
          {"created_at", u.created_at},
          {"updated_at", u.updated_at}};
}

// The same wire form, appended to `out` without building a JSON tree (the
// hot path of GET /users/{id}).
inline void AppendJson(const User& u, std::string& out) {
  out += "{\"id\":";
  out += std::to_string(u.id);
  out += ",\"name\":";
  mitos::AppendJsonString(out, u.name);
  out += ",\"email\":";
  mitos::AppendJsonString(out, u.email);
  out += ",\"created_at\":";
  mitos::AppendJsonString(out, u.created_at);
  out += ",\"updated_at\":";
  mitos::AppendJsonString(out, u.updated_at);
  out += '}';
}

}  // namespace users

#endif  // USERS_API_H_
