// Operations written once: a module's operation is a coroutine returning
// Task<Status> or Task<StatusOr<T>>, and where it waits (for a database
// commit, a remote module, another operation) it writes `co_await`. The
// runtime decides how it runs:
//   - on a server event loop, every wait suspends the coroutine and frees
//     the loop; the operation resumes on the same loop when the commit or
//     the answer is there;
//   - on any other thread (a worker, a test, a tool), every wait blocks
//     that thread instead, so the same code runs to completion in place.
// Nothing in the operation says which; there is no synchronous twin.
//
// A Task is lazy: it starts when it is awaited, or when Start or Wait hands
// it to the runtime. Awaiting a Task runs it on the same thread, and chains
// of awaits do not grow the stack: control passes from one coroutine to the
// next through a loop on the resuming thread, not through nested calls (so
// this holds in unoptimized and sanitizer builds too, where compilers do not
// turn symmetric transfer into tail calls).
//
// An exception that escapes an operation becomes Status::Internal with its
// text (which never reaches a client: see http::WriteStatus).
#ifndef MITOS_IO_TASK_H_
#define MITOS_IO_TASK_H_

#include <atomic>
#include <condition_variable>
#include <coroutine>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

#include "mitos/base/context.h"
#include "mitos/base/status.h"
#include "mitos/observability/trace.h"

namespace mitos {

namespace internal {

template <typename T>
struct IsStatusOr : std::false_type {};
template <typename T>
struct IsStatusOr<StatusOr<T>> : std::true_type {};

// The thread's current request context and span, put back when a task
// that suspended returns control to the code that started or resumed it,
// so that the thread does not go on with another request's identity.
class AmbientScope {
 public:
  AmbientScope()
      : context_(&RequestContext::Current()), span_(trace::Current()) {}

 private:
  ContextScope context_;
  trace::CurrentScope span_;
};

// Returns Status::Internal describing the exception in flight.
Status StatusFromCurrentException();

// Returns true iff the calling thread runs a server event loop, where a
// wait must suspend rather than block: false inside a BlockingScope.
bool OnEventLoop();

// While one lives, waits on this thread block it even on an event loop
// (OnEventLoop() is false): for Wait, which has nothing to suspend to.
class BlockingScope {
 public:
  BlockingScope();
  ~BlockingScope();
  BlockingScope(const BlockingScope&) = delete;
  BlockingScope& operator=(const BlockingScope&) = delete;
};

// The coroutine the running resume loop continues with; set only inside
// Resume.
inline thread_local std::coroutine_handle<>* tl_next = nullptr;

// Resumes `h`, and then every coroutine that control passes to, until one
// suspends on a wait or the last one finishes.
inline void Resume(std::coroutine_handle<> h) {
  std::coroutine_handle<> next = h;
  std::coroutine_handle<>* saved = std::exchange(tl_next, &next);
  while (next) std::exchange(next, {}).resume();
  tl_next = saved;
}

// Makes `h` the coroutine the running resume loop continues with once the
// current one has suspended. REQUIRES: called from a coroutine that Resume
// runs.
inline void PassTo(std::coroutine_handle<> h) { *tl_next = h; }

}  // namespace internal

template <typename T>
class [[nodiscard]] Task {
  static_assert(std::is_same_v<T, Status> || internal::IsStatusOr<T>::value,
                "mitos::Task<T>: an operation returns Status or StatusOr<...>, "
                "so that failures and escaped exceptions have a value");

 public:
  struct promise_type;
  using Handle = std::coroutine_handle<promise_type>;

  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    void await_suspend(Handle h) noexcept {
      promise_type& p = h.promise();
      if (p.continuation) return internal::PassTo(p.continuation);
      if (p.on_done) {
        // A started task: hand over the result, then free the frame (only
        // the promise is left of it: its locals are gone).
        p.on_done(std::move(*p.value));
        h.destroy();
      }
    }
    void await_resume() noexcept {}
  };

  struct promise_type {
    std::optional<T> value;
    std::coroutine_handle<> continuation;
    std::function<void(T)> on_done;

    Task get_return_object() { return Task(Handle::from_promise(*this)); }
    std::suspend_always initial_suspend() noexcept { return {}; }
    FinalAwaiter final_suspend() noexcept { return {}; }
    template <typename V>
    void return_value(V&& v) {
      value.emplace(std::forward<V>(v));
    }
    void unhandled_exception() {
      value.emplace(internal::StatusFromCurrentException());
    }
  };

  Task(Task&& other) noexcept
      : handle_(std::exchange(other.handle_, {})), ready_(std::move(other.ready_)) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      if (handle_) handle_.destroy();
      handle_ = std::exchange(other.handle_, {});
      ready_ = std::move(other.ready_);
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() {
    if (handle_) handle_.destroy();
  }

  // Awaiting runs the task and gives its result.
  bool await_ready() const noexcept { return ready(); }
  void await_suspend(std::coroutine_handle<> caller) noexcept {
    handle_.promise().continuation = caller;
    internal::PassTo(handle_);
  }
  T await_resume() {
    return handle_ ? std::move(*handle_.promise().value) : std::move(*ready_);
  }

  // True iff the task has its result already (it was made by Ready).
  bool ready() const noexcept { return !handle_; }
  // For Start and Wait. REQUIRES: ready()
  T TakeResult() && { return std::move(*ready_); }
  // For Start: gives up the frame, which frees itself once done.
  // REQUIRES: !ready()
  Handle Release() && { return std::exchange(handle_, {}); }

 private:
  template <typename U>
  friend Task<U> Ready(U value);

  explicit Task(Handle h) : handle_(h) {}
  explicit Task(T value) : ready_(std::move(value)) {}

  Handle handle_;
  std::optional<T> ready_;  // the result of a task made by Ready
};

// Returns a task whose result is `value`, for operations that answer
// without waiting (a read, or a validation error) from a non-coroutine
// function. It has no coroutine frame: awaiting, starting or waiting for it
// gives `value` at once, at the cost of a move.
template <typename T>
Task<T> Ready(T value) {
  return Task<T>(std::move(value));
}

// Runs `task` now, on the calling thread, until it finishes or first
// suspends. `done` receives its result exactly once: before Start returns
// when the task never suspended, else later, on the thread that completes
// it (the event loop the task was started on, for the runtime's waits).
template <typename T>
void Start(Task<T> task, std::function<void(T)> done) {
  if (task.ready()) return done(std::move(task).TakeResult());
  auto h = std::move(task).Release();
  h.promise().on_done = std::move(done);
  internal::AmbientScope ambient;
  internal::Resume(h);
}

// Runs `task` to completion and returns its result, blocking the calling
// thread while it waits. On a server event loop that thread is the loop's:
// the waits inside block it as they would any other thread (a write waits
// for its commit, a remote call is made in place), so a synchronous
// handler may run an operation that waits on nothing, or on its own
// database, at the cost of holding the loop meanwhile. A wait of its own
// that resumes through the loop without asking OnEventLoop() would wait
// for itself.
template <typename T>
T Wait(Task<T> task);

namespace internal {

// One-shot hand-over of a result from the thread that completes a wait to
// the thread that blocks in Wait.
class Latch {
 public:
  void Set() {
    std::lock_guard<std::mutex> lock(mu_);
    set_ = true;
    cv_.notify_all();
  }
  void WaitSet() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return set_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool set_ = false;
};

}  // namespace internal

template <typename T>
T Wait(Task<T> task) {
  if (task.ready()) return std::move(task).TakeResult();
  std::optional<T> result;
  internal::Latch latch;
  // kStarting until Start returns; the latch is needed only if the result
  // comes later, from another thread.
  enum : int { kStarting, kWaiting, kDone };
  std::atomic<int> state{kStarting};
  internal::BlockingScope blocking;
  Start<T>(std::move(task), [&](T&& r) {
    result.emplace(std::move(r));
    if (state.exchange(kDone, std::memory_order_acq_rel) == kWaiting) latch.Set();
  });
  if (state.exchange(kWaiting, std::memory_order_acq_rel) != kDone) latch.WaitSet();
  return std::move(*result);
}

// The awaitable of a wait whose completion arrives through a callback,
// which may run before the operation that started it returns (when the
// wait could be served in place) or later, on another call stack. `start`
// receives the callback to call exactly once with the result.
//
//   R r = co_await Completion<R>([&](auto done) { StartIo(..., done); });
template <typename R>
class Completion {
 public:
  using Callback = std::function<void(R)>;

  explicit Completion(std::function<void(Callback)> start)
      : start_(std::move(start)) {}

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) {
    handle_ = h;
    start_([this](R r) {
      result_.emplace(std::move(r));
      if (state_.exchange(kDone, std::memory_order_acq_rel) == kSuspended) {
        internal::Resume(handle_);
      }
    });
    // Suspends only if the callback has not run yet; else goes on at once.
    return state_.exchange(kSuspended, std::memory_order_acq_rel) != kDone;
  }
  R await_resume() { return std::move(*result_); }

 private:
  enum State : int { kStarting, kSuspended, kDone };
  std::function<void(Callback)> start_;
  std::coroutine_handle<> handle_;
  std::optional<R> result_;
  std::atomic<int> state_{kStarting};
};

// As Wait(Task), for a wait awaited in place rather than wrapped in a task
// (a store's write, say), where the caller is no coroutine: a test, or a
// synchronous handler.
template <typename R>
R Wait(Completion<R>&& wait) {
  auto run = [](Completion<R>& w) -> Task<R> { co_return co_await w; };
  return Wait(run(wait));
}

}  // namespace mitos

#endif  // MITOS_IO_TASK_H_
