// Persistence of users in the module's own SQLite file.
#ifndef USERS_SRC_STORE_H_
#define USERS_SRC_STORE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mitos/storage/sqlite.h"
#include "users/api.h"

namespace users {

// Receives the result of an asynchronous write, where
// mitos::sqlite::Database::WriteTxAsync says.
template <typename T>
using Callback = std::function<void(mitos::StatusOr<T>)>;

class UserStore {
 public:
  // The module's schema history; append, never edit.
  static const std::vector<mitos::sqlite::Migration>& Migrations();

  explicit UserStore(std::unique_ptr<mitos::sqlite::Database> db);

  // REQUIRES: fields already validated. Returns AlreadyExists on a taken
  // email. Every method returns what mitos::sqlite::StatusFor makes of a
  // storage failure (InsufficientStorage on a full disk, say).
  mitos::StatusOr<User> Insert(const NewUser& u, const std::string& now);
  mitos::StatusOr<User> Find(int64_t id);
  mitos::StatusOr<UserPage> List(int limit, int64_t after);
  mitos::StatusOr<User> Update(int64_t id, const UserPatch& p,
                               const std::string& now);
  mitos::Status Remove(int64_t id);

  // As Insert, Update and Remove, without waiting for the commit: `done`
  // gets the same result afterwards.
  void InsertAsync(NewUser u, std::string now, Callback<User> done);
  void UpdateAsync(int64_t id, UserPatch p, std::string now, Callback<User> done);
  void RemoveAsync(int64_t id, std::function<void(mitos::Status)> done);

 private:
  std::unique_ptr<mitos::sqlite::Database> db_;
};

}  // namespace users

#endif  // USERS_SRC_STORE_H_
