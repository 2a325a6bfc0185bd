// An in-memory users::UsersApi for the tests of modules that call the users
// module: users are added directly, Get can be forced to fail (as a remote
// binding would), and calls are counted. Thread-safe.
#ifndef USERS_TESTING_FAKE_USERS_H_
#define USERS_TESTING_FAKE_USERS_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "users/api.h"

namespace users::testing {

class FakeUsers : public UsersApi {
 public:
  // Adds a user as given (no validation) and returns it.
  User Add(std::string name, std::string email) {
    std::lock_guard<std::mutex> lock(mu_);
    User u{next_id_++, std::move(name), std::move(email), kTime, kTime};
    users_[u.id] = u;
    return u;
  }

  // Makes every later Get return `status` (e.g. Unavailable or
  // DeadlineExceeded) until ClearForcedStatus. REQUIRES: !status.ok()
  void ForceGetStatus(mitos::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    forced_get_ = std::move(status);
  }
  void ClearForcedStatus() {
    std::lock_guard<std::mutex> lock(mu_);
    forced_get_.reset();
  }

  // Number of Get calls so far, forced failures included.
  int get_calls() const { return get_calls_.load(); }
  // Number of calls of any method so far.
  int calls() const { return calls_.load(); }

  // The operations answer at once: no call waits.
  mitos::Task<mitos::StatusOr<User>> Create(NewUser in) override {
    ++calls_;
    co_return Add(in.name, in.email);
  }

  mitos::Task<mitos::StatusOr<User>> Get(int64_t id) override {
    ++calls_;
    ++get_calls_;
    co_return Find(id);
  }

  mitos::Task<mitos::StatusOr<mitos::Page<User>>> List(
      mitos::PageRequest page) override {
    ++calls_;
    co_return ListNow(page);
  }

  mitos::Task<mitos::StatusOr<User>> Update(int64_t id,
                                            UserPatch patch) override {
    ++calls_;
    co_return UpdateNow(id, patch);
  }

  mitos::Task<mitos::Status> Remove(int64_t id) override {
    ++calls_;
    co_return RemoveNow(id);
  }

 private:
  static constexpr const char* kTime = "2026-01-01T00:00:00.000Z";

  static mitos::Status NotFound(int64_t id) {
    return mitos::Status::NotFound("User " + std::to_string(id) +
                                   " does not exist.");
  }

  mitos::StatusOr<User> Find(int64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    if (forced_get_) return *forced_get_;
    auto it = users_.find(id);
    if (it == users_.end()) return NotFound(id);
    return it->second;
  }

  mitos::StatusOr<mitos::Page<User>> ListNow(mitos::PageRequest page) {
    if (page.limit < 1 || page.limit > 100 || page.after < 0) {
      return mitos::Status::InvalidArgument("Invalid paging parameters.");
    }
    std::lock_guard<std::mutex> lock(mu_);
    mitos::Page<User> out;
    for (auto it = users_.upper_bound(page.after); it != users_.end(); ++it) {
      if (static_cast<int>(out.items.size()) == page.limit) {
        out.next_after = out.items.back().id;
        break;
      }
      out.items.push_back(it->second);
    }
    return out;
  }

  mitos::StatusOr<User> UpdateNow(int64_t id, const UserPatch& patch) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = users_.find(id);
    if (it == users_.end()) return NotFound(id);
    if (patch.name) it->second.name = *patch.name;
    if (patch.email) it->second.email = *patch.email;
    return it->second;
  }

  mitos::Status RemoveNow(int64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    if (users_.erase(id) == 0) return NotFound(id);
    return mitos::Status::Ok();
  }

  mutable std::mutex mu_;
  std::map<int64_t, User> users_;
  int64_t next_id_ = 1;
  std::optional<mitos::Status> forced_get_;
  std::atomic<int> get_calls_{0};
  std::atomic<int> calls_{0};
};

}  // namespace users::testing

#endif  // USERS_TESTING_FAKE_USERS_H_
