#!/usr/bin/env bash
# Builds everything with sanitizers and runs every test against that
# build, the e2e topologies included. Slower than tests/run.sh (about 10 to
# 20 minutes of build on two cores); run it before merging changes to the
# server, the remote layer or storage.
#
#   bash tests/sanitize.sh           AddressSanitizer, UndefinedBehaviorSanitizer
#                                    and LeakSanitizer, in build-asan/
#   bash tests/sanitize.sh thread    ThreadSanitizer, in build-tsan/
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-address}"
case "$mode" in
  address)
    dir=build-asan
    flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -O1"
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1
    ;;
  thread)
    dir=build-tsan
    flags="-fsanitize=thread -fno-omit-frame-pointer -O1"
    export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp"
    ;;
  *)
    echo "usage: bash tests/sanitize.sh [address|thread]" >&2
    exit 2
    ;;
esac

bash .ci/deps.sh
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DMITOS_BUILD_TESTS=ON -DCMAKE_CXX_FLAGS="$flags"
cmake --build "$dir" -j"$(nproc)"
ctest --test-dir "$dir" --output-on-failure -j2 --timeout 300
