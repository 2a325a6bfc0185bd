#!/usr/bin/env bash
# Usage: new_module.sh MITOS_BIN REPO_ROOT
# `mitos new module`, without a build: what it refuses (exit 2, a clear
# message, nothing written) and what it writes, in a stand-in repository
# made of REPO_ROOT's app/main.cpp and an empty modules/.
set -u
bin=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

# check NAME WANT_RC REGEX DIR ARGS...: runs `mitos ARGS` in DIR.
check() {
  local what=$1 want=$2 regex=$3 dir=$4
  shift 4
  local out rc
  out=$(cd "$dir" && "$bin" "$@" 2>&1)
  rc=$?
  if [[ $rc -ne $want ]] || ! tr '\n' ' ' <<<"$out" | grep -Eq -- "$regex"; then
    echo "FAIL $what: exit $rc (expected $want), output:"
    echo "$out"
    failed=$((failed + 1))
  else
    echo "ok   $what"
    passed=$((passed + 1))
  fi
}
same_tree() { # what: the stand-in is as before
  if diff -r "$work/before" "$repo" >/dev/null; then
    echo "ok   $1: nothing written"
    passed=$((passed + 1))
  else
    echo "FAIL $1: the repository changed:"
    diff -r "$work/before" "$repo"
    failed=$((failed + 1))
  fi
}

repo=$work/repo
mkdir -p "$repo/app" "$repo/modules/users" "$work/elsewhere"
cp "$src/app/main.cpp" "$repo/app/main.cpp"
cp -r "$repo" "$work/before"

check "a name that is not snake case" 2 'new module: "StockLevels" cannot name a module: it is not lower snake case' \
  "$repo" new module StockLevels
check "a hyphen" 2 '"stock-levels" cannot name a module: it is not lower snake case' "$repo" new module stock-levels
check "a C++ keyword" 2 '"class" cannot name a module: it is a C\+\+ keyword' "$repo" new module class
check "a route of the runtime" 2 '"health" cannot name a module: it is a route of the runtime \(/health\)' \
  "$repo" new module health
check "a config section of the runtime" 2 '"server" cannot name a module: it is a config section' \
  "$repo" new module server
check "a folder that exists" 2 'modules/users already exists' "$repo" new module users
check "no name" 2 'NAME is required' "$repo" new module
check "not at a repository root" 2 'run it at the root of a Mitos repository .*has no modules/' \
  "$work/elsewhere" new module widgets
same_tree "after the refusals"
printf 'int main() { return 0; }\n' >"$work/before/app/main.cpp"
cp "$work/before/app/main.cpp" "$repo/app/main.cpp"
check "a main.cpp without a module list" 2 'app/main.cpp has no .* --no-register' "$repo" new module widgets
same_tree "after a main.cpp it cannot edit"

check "--no-register writes the module only" 0 'Created modules/widgets/.*Not registered \(--no-register\)' \
  "$repo" new module widgets --no-register
cmp -s "$repo/app/main.cpp" "$work/before/app/main.cpp" && [[ -f $repo/modules/widgets/contract.yaml ]] ||
  { echo "FAIL --no-register: main.cpp changed or no module"; failed=$((failed + 1)); }
cp "$src/app/main.cpp" "$repo/app/main.cpp"
check "a new module, registered" 0 'Created modules/stock_levels/.*Registered it in app/main.cpp.*Next steps.*../../base/stock-levels' \
  "$repo" new module stock_levels
if grep -q '^#include "stock_levels/module.h"$' "$repo/app/main.cpp" &&
  grep -qE '^ +stock_levels::Spec\(\),$' "$repo/app/main.cpp" &&
  [[ -f $repo/modules/stock_levels/entry/stock_levels/module.h ]] &&
  ! grep -rq '@module@\|@Module@\|@MODULE@' "$repo/modules/stock_levels" &&
  [[ -z $(find "$repo" -name '*mitos-new*') ]]; then
  echo "ok   its files, no placeholder left, main.cpp has its include and entry, no temporary left"
  passed=$((passed + 1))
else
  echo "FAIL the module's files or app/main.cpp:"; cat "$repo/app/main.cpp"; find "$repo"
  failed=$((failed + 1))
fi

echo "new module: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
