#include "mitos/io/event_loop.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <future>
#include <string>
#include <thread>

namespace mitos::internal {
namespace {

// Runs a loop on a thread of its own until the test ends.
class LoopThread {
 public:
  LoopThread() : thread_([this] { loop_.Run(); }) {}
  ~LoopThread() {
    loop_.Quit();
    thread_.join();
  }
  EventLoop& loop() { return loop_; }

 private:
  EventLoop loop_;
  std::thread thread_;
};

TEST(EventLoopTest, WorkDeferredToTheNextRoundRunsWithoutWaitingForEvents) {
  // A chain of 10000 slices, each deferring the next: the loop has no
  // socket, timer or post to wake it, so every round must start without
  // waiting (a wait with nothing to end it would never return).
  LoopThread t;
  std::promise<int> done;
  int slices = 0;
  std::function<void()> slice = [&] {
    if (++slices == 10000) return done.set_value(slices);
    t.loop().DeferToNextRound(slice);
  };
  t.loop().Post([&] { t.loop().DeferToNextRound(slice); });
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(f.get(), 10000);
}

TEST(EventLoopTest, TheNextRoundHandlesWhatCameMeanwhileBeforeTheDeferredWork) {
  // Deferred to the next round, work runs after this round's own deferred
  // work, and after the posts that came in between.
  LoopThread t;
  std::promise<std::string> done;
  std::string order;
  t.loop().Post([&] {
    t.loop().DeferToNextRound([&] {
      order += "next;";
      done.set_value(order);
    });
    t.loop().Defer([&] {
      order += "this;";
      // Another thread's post, while the next round is yet to start.
      std::thread([&] { t.loop().Post([&] { order += "posted;"; }); }).join();
    });
  });
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(f.get(), "this;posted;next;");
}

}  // namespace
}  // namespace mitos::internal
