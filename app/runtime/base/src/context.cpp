#include "mitos/base/context.h"

#include <algorithm>

namespace mitos {
namespace {

const RequestContext kEmpty;
thread_local const RequestContext* tl_current = nullptr;

}  // namespace

std::chrono::milliseconds RequestContext::Remaining(
    std::chrono::milliseconds fallback) const {
  if (!has_deadline()) return fallback;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - Clock::now());
  return std::max(left, std::chrono::milliseconds(0));
}

const RequestContext& RequestContext::Current() {
  return tl_current != nullptr ? *tl_current : kEmpty;
}

ContextScope::ContextScope(const RequestContext* ctx) : previous_(tl_current) {
  tl_current = ctx;
}

ContextScope::~ContextScope() { tl_current = previous_; }

}  // namespace mitos
