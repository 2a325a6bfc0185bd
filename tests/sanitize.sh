#!/usr/bin/env bash
# Builds everything with AddressSanitizer, UndefinedBehaviorSanitizer and
# LeakSanitizer in build-asan/ and runs every test against that build,
# the e2e topologies included. Slower than tests/run.sh (about 20 minutes
# of build on two cores); run it before merging changes to the server, the
# remote layer or storage.
set -euo pipefail
cd "$(dirname "$0")/.."

bash .ci/deps.sh
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DMITOS_BUILD_TESTS=ON \
  -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -O1"
cmake --build build-asan -j"$(nproc)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j2 --timeout 300
