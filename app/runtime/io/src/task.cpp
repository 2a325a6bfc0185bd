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

bool OnEventLoop() { return EventLoop::Current() != nullptr; }

}  // namespace mitos::internal
