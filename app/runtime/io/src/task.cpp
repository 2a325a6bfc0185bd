#include "mitos/io/task.h"

#include <string>

#include "mitos/io/event_loop.h"

namespace mitos::internal {

Status StatusFromCurrentException() {
  try {
    throw;
  } catch (const std::exception& e) {
    return Status::Internal(std::string("the operation threw: ") + e.what());
  } catch (...) {
    return Status::Internal("the operation threw a non-standard exception");
  }
}

namespace {

thread_local int tl_blocking = 0;

}  // namespace

bool OnEventLoop() { return tl_blocking == 0 && EventLoop::Current() != nullptr; }

BlockingScope::BlockingScope() { ++tl_blocking; }

BlockingScope::~BlockingScope() { --tl_blocking; }

}  // namespace mitos::internal
