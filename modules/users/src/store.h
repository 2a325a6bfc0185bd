// Persistence of users in the module's own storage, on whichever backend
// its configuration names (SQLite or PostgreSQL); the code is the same.
#ifndef USERS_SRC_STORE_H_
#define USERS_SRC_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mitos/events/event.h"
#include "mitos/storage/storage.h"
#include "users/api.h"

namespace users {

// Every method returns what mitos::storage::StatusFor makes of a storage
// failure (InsufficientStorage on a full disk, StorageUnavailable while
// the database cannot be reached, say). Writes wait for their commit
// (mitos::storage::Write); reads never wait for the writer, and on SQLite
// answer with a ready task.
class UserStore {
 public:
  // The module's schema history; append, never edit. Ids are never
  // reused, and emails are unique ignoring ASCII case, on both backends.
  static const std::vector<mitos::storage::Migration>& Migrations();

  explicit UserStore(std::unique_ptr<mitos::storage::Database> db);

  // The writes are awaited in place (co_await store.Insert(...)): each is
  // one wait for its commit, with no coroutine frame of its own.
  //
  // REQUIRES: fields already validated, the name trimmed. Returns
  // AlreadyExists on a taken email (ignoring case).
  mitos::Completion<mitos::StatusOr<User>> Insert(NewUser user, std::string now);
  // Returns the user, or NotFound.
  mitos::Task<mitos::StatusOr<User>> Find(int64_t id);
  // Returns up to page.limit users with id > page.after, in id order.
  // REQUIRES: 1 <= page.limit, page.after >= 0.
  mitos::Task<mitos::StatusOr<mitos::Page<User>>> List(mitos::PageRequest page);
  // Sets the fields the patch holds and updated_at = now. REQUIRES: as
  // Insert. Returns NotFound, or AlreadyExists on a taken email.
  mitos::Completion<mitos::StatusOr<User>> Update(int64_t id, UserPatch patch,
                                                  std::string now);
  // Deletes the user and appends `deleted` (a users.UserDeleted) to the
  // outbox in the same transaction. Returns NotFound if there is no such
  // user, and then publishes nothing.
  mitos::Completion<mitos::Status> Remove(int64_t id,
                                          mitos::events::Event deleted);

 private:
  std::unique_ptr<mitos::storage::Database> db_;
};

}  // namespace users

#endif  // USERS_SRC_STORE_H_
