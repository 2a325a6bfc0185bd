#include "mitos/io/task.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>

#include "mitos/base/context.h"
#include "mitos/io/event_loop.h"
#include "mitos/observability/trace.h"

namespace mitos {
namespace {

using internal::EventLoop;

Task<StatusOr<int>> Answer(int v) { co_return v; }

Task<StatusOr<int>> Sum(int depth) {
  if (depth == 0) co_return 0;
  auto rest = co_await Sum(depth - 1);
  if (!rest.ok()) co_return rest.status();
  co_return *rest + 1;
}

Task<Status> Throws() {
  throw std::runtime_error("boom");
  co_return Status::Ok();
}

// A wait that completes later, on another thread, with `v`.
Task<StatusOr<int>> LaterOnThread(int v) {
  auto start = [v](std::function<void(int)> done) {
    std::thread([v, done = std::move(done)] { done(v); }).detach();
  };
  int got = co_await Completion<int>(start);
  co_return got;
}

// A wait whose callback runs before the starting call returns.
Task<StatusOr<int>> InPlace(int v) {
  auto start = [v](std::function<void(int)> done) { done(v); };
  int got = co_await Completion<int>(start);
  co_return got;
}

TEST(TaskTest, StartWithoutWaitsAnswersBeforeReturning) {
  bool called = false;
  Start<StatusOr<int>>(Answer(7), [&](StatusOr<int> r) {
    called = true;
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, 7);
  });
  EXPECT_TRUE(called);
}

TEST(TaskTest, AwaitChainsDoNotGrowTheStack) {
  // A hundred thousand nested awaits would overflow the stack without symmetric
  // transfer.
  auto r = Wait(Sum(100000));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 100000);
}

TEST(TaskTest, AnEscapedExceptionIsAnInternalStatus) {
  Status s = Wait(Throws());
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_NE(s.message().find("boom"), std::string::npos);
}

TEST(TaskTest, WaitBlocksUntilACompletionOnAnotherThread) {
  auto r = Wait(LaterOnThread(42));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 42);
}

TEST(TaskTest, WaitOnABareCompletionBlocksUntilItsCallback) {
  auto start = [](std::function<void(StatusOr<int>)> done) {
    std::thread([done = std::move(done)] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      done(StatusOr<int>(9));
    }).detach();
  };
  auto r = Wait(Completion<StatusOr<int>>(start));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 9);
  auto in_place = [](std::function<void(StatusOr<int>)> done) {
    done(Status::NotFound("none"));
  };
  EXPECT_EQ(Wait(Completion<StatusOr<int>>(in_place)).status().code(),
            StatusCode::kNotFound);
}

TEST(TaskTest, ACompletionInPlaceGoesOnWithoutSuspending) {
  bool called = false;
  Start<StatusOr<int>>(InPlace(5), [&](StatusOr<int> r) {
    called = true;
    EXPECT_EQ(*r, 5);
  });
  EXPECT_TRUE(called);
}

// Awaits a task made by Ready.
Task<StatusOr<int>> PlusOne(Task<StatusOr<int>> ready) {
  auto r = co_await std::move(ready);
  if (!r.ok()) co_return r.status();
  co_return *r + 1;
}

TEST(TaskTest, ReadyTasksGiveTheirResultAtOnce) {
  EXPECT_TRUE(Ready<StatusOr<int>>(3).ready());
  EXPECT_FALSE(Answer(3).ready());
  EXPECT_EQ(*Wait(Ready<StatusOr<int>>(3)), 3);
  EXPECT_EQ(Wait(Ready(Status::NotFound("none"))).code(), StatusCode::kNotFound);
  bool answered = false;
  Start<StatusOr<int>>(Ready<StatusOr<int>>(4), [&](StatusOr<int> r) {
    answered = true;
    EXPECT_EQ(*r, 4);
  });
  EXPECT_TRUE(answered) << "before Start returned";
  EXPECT_EQ(*Wait(PlusOne(Ready<StatusOr<int>>(5))), 6);
  // Moved, it keeps its result.
  Task<StatusOr<int>> a = Ready<StatusOr<int>>(7);
  Task<StatusOr<int>> b = std::move(a);
  EXPECT_EQ(*Wait(std::move(b)), 7);
}

TEST(TaskTest, UnstartedTasksAreFreed) {
  // Nothing runs and nothing leaks (the sanitizer build checks the frame).
  auto t = Sum(3);
  (void)t;
}

// On an event loop: the task suspends, the loop goes on, and the task
// resumes on the loop when the completion is posted back to it.
// A wait that, on an event loop, suspends and completes through the loop
// (as sqlite::Write and remote::Call do), and elsewhere completes in place.
Task<StatusOr<int>> ThroughTheLoop(int v) {
  auto start = [v](std::function<void(int)> done) {
    if (internal::OnEventLoop()) {
      EventLoop::Current()->Post([v, done] { done(v); });
    } else {
      done(v);
    }
  };
  int got = co_await Completion<int>(start);
  co_return got;
}

TEST(TaskTest, WaitOnAnEventLoopBlocksItInsteadOfSuspending) {
  // Leaked if the test fails: the loop's thread would be stuck for good.
  auto* loop = new EventLoop();
  std::thread t([loop] { loop->Run(); });
  std::promise<std::string> result;
  loop->Post([&] {
    EXPECT_TRUE(internal::OnEventLoop());
    auto r = Wait(ThroughTheLoop(5));
    EXPECT_TRUE(internal::OnEventLoop()) << "the loop suspends again after Wait";
    // A task started (not waited for) on the loop still suspends.
    Start<StatusOr<int>>(ThroughTheLoop(6), [&result, r](StatusOr<int> later) {
      result.set_value(std::to_string(*r) + " then " + std::to_string(*later));
    });
  });
  auto answer = result.get_future();
  if (answer.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    t.detach();
    FAIL() << "Wait on the event loop waited for the loop itself";
  }
  EXPECT_EQ(answer.get(), "5 then 6");
  loop->Quit();
  t.join();
  delete loop;
}

TEST(TaskTest, ResumesOnTheLoopAndRestoresTheLoopsContext) {
  EventLoop loop;
  std::thread t([&] { loop.Run(); });
  std::promise<std::string> result;

  RequestContext request;
  request.request_id = "req-1";
  trace::SpanContext span;
  span.trace_id[0] = 1;
  span.span_id[0] = 2;

  auto on_loop = [&]() -> Task<StatusOr<int>> {
    EXPECT_TRUE(loop.InLoop());
    // Completes from another thread, handing back to the loop.
    auto start = [&](std::function<void(int)> done) {
      std::thread([&loop, done = std::move(done)] {
        loop.Post([done] { done(9); });
      }).detach();
    };
    int v = co_await Completion<int>(start);
    EXPECT_TRUE(loop.InLoop());
    co_return v;
  };

  loop.Post([&] {
    ContextScope ctx(&request);
    trace::CurrentScope current(span);
    Start<StatusOr<int>>(on_loop(), [&](StatusOr<int> r) {
      result.set_value(std::to_string(*r) + " on loop " +
                       (loop.InLoop() ? "yes" : "no"));
    });
    // Suspended: the loop's thread has its own request back.
    EXPECT_EQ(RequestContext::Current().request_id, "req-1");
    EXPECT_EQ(trace::Current().SpanIdHex(), span.SpanIdHex());
  });
  loop.Post([&] {
    // Another round of the loop: no context of the suspended task.
    EXPECT_EQ(RequestContext::Current().request_id, "");
    EXPECT_FALSE(trace::Current().valid());
  });
  EXPECT_EQ(result.get_future().get(), "9 on loop yes");
  loop.Quit();
  t.join();
}

}  // namespace
}  // namespace mitos
