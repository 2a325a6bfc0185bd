#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: unit tests, HTTP
# tests against real instances, tests of the binary itself, every fuzz
# target for 10 seconds on its seed corpus (tests/fuzz.sh, a clang build of
# its own), then the image and the Kubernetes manifests
# (tests/container/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

bash .ci/deps.sh
# ccache (from .ci/deps.sh) speeds up rebuilds, and lets the scaffold test's
# build of a copy of the tree reuse this one's objects.
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMITOS_BUILD_TESTS=ON "${launcher[@]}"
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j2 --timeout 300
bash tests/fuzz.sh 10
bash tests/container/run.sh
