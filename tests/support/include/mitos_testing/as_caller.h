// Runs what follows, for the scope's lifetime, as `caller`: the identity
// the runtime would have established for a request (mitos::Caller), for
// tests of the checks that modules' services make on it.
#ifndef MITOS_TESTING_AS_CALLER_H_
#define MITOS_TESTING_AS_CALLER_H_

#include <utility>

#include "mitos/base/context.h"

namespace mitos::testing {

class AsCaller {
 public:
  explicit AsCaller(Caller caller) : scope_(&ctx_) { ctx_.caller = std::move(caller); }
  AsCaller(const AsCaller&) = delete;
  AsCaller& operator=(const AsCaller&) = delete;

 private:
  RequestContext ctx_;
  ContextScope scope_;
};

}  // namespace mitos::testing

#endif  // MITOS_TESTING_AS_CALLER_H_
