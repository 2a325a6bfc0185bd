// The composition root: the modules this binary knows, listed explicitly.
// Which of them an instance runs is chosen at start-up (--modules, or
// `modules:` in the config).
#include "gateway/module.h"
#include "mitos/core/main.h"
#include "orders/module.h"
#include "products/module.h"
#include "users/module.h"

int main(int argc, char** argv) {
  return mitos::Main(argc, argv, {
                                     users::Spec(),
                                     orders::Spec(),
                                     products::Spec(),
                                     gateway::Spec(),
                                 });
}
