// One I/O thread's event loop: epoll for sockets, a queue of tasks posted
// from other threads, and timers. Everything registered with a loop runs on
// its thread; only Post, Quit and InLoop may be called from elsewhere.
#ifndef MITOS_IO_EVENT_LOOP_H_
#define MITOS_IO_EVENT_LOOP_H_

#include <sys/epoll.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace mitos::internal {

class EventLoop {
 public:
  using Clock = std::chrono::steady_clock;

  // Receives the epoll events of one file descriptor.
  class Handler {
   public:
    virtual void OnEvents(uint32_t events) = 0;

   protected:
    ~Handler() = default;
  };

  // A timer's identity, for Cancel. Zero is never a live timer.
  using TimerId = std::pair<Clock::time_point, uint64_t>;

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Registers `fd` for `events` (EPOLLIN, EPOLLOUT, EPOLLET, ...). The
  // handler must stay alive until Remove, and until the end of the current
  // round of events (see KeepUntilIdle).
  bool Add(int fd, uint32_t events, Handler* handler);
  // Changes the events `fd` is registered for.
  bool Modify(int fd, uint32_t events, Handler* handler);
  void Remove(int fd);

  // Tells this loop from any other, even one later made at the same
  // address: unique in the process, never zero.
  uint64_t id() const { return id_; }

  // Runs `fn` on the loop's thread soon. Any thread.
  void Post(std::function<void()> fn);

  // Runs `fn` on the loop's thread once the events, tasks and timers of
  // the current round have been handled, before the loop waits again: work
  // that gathers what one round produced (writes that go out together).
  // Loop thread only.
  void Defer(std::function<void()> fn);

  // Runs `fn` as Defer would in the next round rather than this one, and
  // that round does not wait for events: it handles those already there,
  // then runs `fn`. For work cut into slices, each taken after the events
  // that came meanwhile. Loop thread only.
  void DeferToNextRound(std::function<void()> fn);

  // Runs `fn` on the loop's thread at `when`. Loop thread only.
  TimerId AddTimer(Clock::time_point when, std::function<void()> fn);
  void CancelTimer(const TimerId& id);

  // Keeps `object` alive until the events already fetched have been
  // handled: a handler closed by an earlier event of the same round may
  // still be named by a later one.
  void KeepUntilIdle(std::shared_ptr<void> object);

  // Handles events until Quit. Call on the thread that owns the loop.
  void Run();
  // Makes Run return after the current round. Any thread.
  void Quit();

  // True iff the calling thread runs this loop.
  bool InLoop() const { return Current() == this; }
  // The loop the calling thread runs, or nullptr.
  static EventLoop* Current();

 private:
  void RunPosted();
  void RunTimers();
  void RunDeferred();
  int NextTimeoutMs() const;

  const uint64_t id_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::atomic<bool> quit_{false};
  std::mutex mu_;
  std::vector<std::function<void()>> posted_;
  bool wake_pending_ = false;  // the wake-up descriptor is written, unread
  std::map<TimerId, std::function<void()>> timers_;
  uint64_t next_timer_ = 1;
  std::vector<std::shared_ptr<void>> keep_;
  std::vector<std::function<void()>> deferred_;
  std::vector<std::function<void()>> next_round_;
};

}  // namespace mitos::internal

#endif  // MITOS_IO_EVENT_LOOP_H_
