#include "mitos/io/event_loop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace mitos::internal {
namespace {

thread_local EventLoop* tl_loop = nullptr;

// The wake-up descriptor's epoll data: no handler lives at this address.
char kWakeTag;

std::atomic<uint64_t> next_loop_id{1};

// Events fetched per round. Generous: a server that queues what it reads
// (see the server's ready queue) sees only what it fetched, and under load
// a round brings as many new requests as the last one answered.
constexpr int kEventsPerRound = 512;

}  // namespace

EventLoop::EventLoop() : id_(next_loop_id.fetch_add(1)) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) std::abort();  // out of descriptors at start
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &kWakeTag;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
}

EventLoop::~EventLoop() {
  ::close(wake_fd_);
  ::close(epoll_fd_);
}

EventLoop* EventLoop::Current() { return tl_loop; }

bool EventLoop::Add(int fd, uint32_t events, Handler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  return ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

bool EventLoop::Modify(int fd, uint32_t events, Handler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  return ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) == 0;
}

void EventLoop::Remove(int fd) {
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
}

void EventLoop::Post(std::function<void()> fn) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    posted_.push_back(std::move(fn));
    wake = !wake_pending_;
    wake_pending_ = true;
  }
  if (!wake) return;  // a wake-up is due already: one system call per round
  uint64_t one = 1;
  ssize_t n = ::write(wake_fd_, &one, sizeof(one));
  (void)n;  // EAGAIN: the counter is already non-zero, a wake-up is due
}

EventLoop::TimerId EventLoop::AddTimer(Clock::time_point when,
                                       std::function<void()> fn) {
  TimerId id{when, next_timer_++};
  timers_.emplace(id, std::move(fn));
  return id;
}

void EventLoop::CancelTimer(const TimerId& id) { timers_.erase(id); }

void EventLoop::Defer(std::function<void()> fn) { deferred_.push_back(std::move(fn)); }

void EventLoop::DeferToNextRound(std::function<void()> fn) {
  next_round_.push_back(std::move(fn));
}

void EventLoop::RunDeferred() {
  // What these run may defer more: it runs in this round too.
  while (!deferred_.empty()) {
    std::vector<std::function<void()>> tasks;
    tasks.swap(deferred_);
    for (auto& t : tasks) t();
  }
}

void EventLoop::KeepUntilIdle(std::shared_ptr<void> object) {
  keep_.push_back(std::move(object));
}

void EventLoop::Quit() {
  quit_.store(true);
  Post([] {});
}

int EventLoop::NextTimeoutMs() const {
  if (timers_.empty()) return -1;
  auto left = timers_.begin()->first.first - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  // Rounded up: waking a little late is fine, waking early spins.
  return static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          left + std::chrono::microseconds(999))
          .count());
}

void EventLoop::RunPosted() {
  // The descriptor is drained before the queue is taken: a Post after the
  // drain either lands in this round's tasks or writes the descriptor
  // again (its flag was cleared below).
  uint64_t n;
  while (::read(wake_fd_, &n, sizeof(n)) > 0) {
  }
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks.swap(posted_);
    wake_pending_ = false;
  }
  for (auto& t : tasks) t();
}

void EventLoop::RunTimers() {
  const auto now = Clock::now();
  while (!timers_.empty() && timers_.begin()->first.first <= now) {
    auto fn = std::move(timers_.begin()->second);
    timers_.erase(timers_.begin());
    fn();
  }
}

void EventLoop::Run() {
  tl_loop = this;
  epoll_event events[kEventsPerRound];
  while (!quit_.load(std::memory_order_relaxed)) {
    int n = ::epoll_wait(epoll_fd_, events, kEventsPerRound, next_round_.empty() ? NextTimeoutMs() : 0);
    if (n < 0 && errno != EINTR) break;
    // This round's deferred work starts with what the last one left for it.
    for (auto& fn : next_round_) deferred_.push_back(std::move(fn));
    next_round_.clear();
    for (int i = 0; i < n; ++i) {
      if (events[i].data.ptr == &kWakeTag) {
        RunPosted();
      } else {
        static_cast<Handler*>(events[i].data.ptr)->OnEvents(events[i].events);
      }
    }
    RunTimers();
    RunDeferred();
    keep_.clear();
  }
  RunPosted();
  RunDeferred();
  keep_.clear();
  tl_loop = nullptr;
}

}  // namespace mitos::internal
