#!/usr/bin/env bash
# Builds the libFuzzer targets with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer (cmake -DMITOS_FUZZ=ON, in build-fuzz/), and
# runs each one for SECONDS (default 10) on its seed corpus,
# tests/fuzz/corpus/<target>/, and for a module's target (<module>_decode,
# generated from its contract) also on the seeds generated from the
# contract's examples. New inputs go to a temporary working corpus, never to
# the seeds. Fails on any crash, leak, timeout, out-of-memory or
# sanitizer report, naming the target and the input, which is kept in
# build-fuzz/findings/<target>/.
#
#   bash tests/fuzz.sh [SECONDS [TARGET...]]   TARGET as in fuzz_TARGET
#
# Reproduce a finding with: build-fuzz/fuzz/fuzz_<target> <input>
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-10}
shift || true
# Per target: the longest input, and the dictionary. Every module with a
# contract has a target.
declare -A max_len=([request_parser]=4096 [chunked]=4096 [config]=4096 [auth_token]=9000)
declare -A dict=([request_parser]=http [chunked]=http [config]=yaml [auth_token]=jwt)
all=(request_parser chunked config auth_token)
for contract in modules/*/contract.yaml; do
  m=$(basename "$(dirname "$contract")")
  all+=("${m}_decode")
  max_len[${m}_decode]=4096
  dict[${m}_decode]=api
done
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=("${all[@]}")
for t in "${targets[@]}"; do
  if [[ -z ${max_len[$t]:-} ]]; then
    echo "fuzz: unknown target $t (known: ${all[*]})" >&2
    exit 2
  fi
done

set -e
bash .ci/deps.sh clang libclang-rt-14-dev
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B build-fuzz -DMITOS_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_COMPILER=clang++ "${launcher[@]}" >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/#/fuzz_}"
set +e

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
for t in "${targets[@]}"; do
  dir=$work/$t
  mkdir -p "$dir/corpus" "$dir/artifacts" "$dir/tmp"
  seeds=()
  [[ -d tests/fuzz/corpus/$t ]] && seeds+=("tests/fuzz/corpus/$t")
  if [[ $t == *_decode ]]; then
    seeds+=("build-fuzz/modules/${t%_decode}/generated/fuzz_seeds")
  fi
  start=$(date +%s)
  # TMPDIR: the module targets' data directories live in the working dir.
  TMPDIR=$dir/tmp \
  ASAN_OPTIONS=detect_leaks=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "build-fuzz/fuzz/fuzz_$t" -max_total_time="$seconds" \
      -max_len="${max_len[$t]}" -timeout=25 -rss_limit_mb=2048 \
      -dict="tests/fuzz/dict/${dict[$t]}.dict" -print_final_stats=1 \
      -print_funcs=0 -artifact_prefix="$dir/artifacts/" \
      "$dir/corpus" "${seeds[@]}" >"$dir/log" 2>&1
  rc=$?
  took=$(($(date +%s) - start))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log")
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log")
  report=$(grep -m1 -E "ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|fuzz: " "$dir/log")
  if [[ $rc -eq 0 && -z $report ]]; then
    passed=$((passed + 1))
    echo "fuzz_$t: ok, ${runs:-?} runs, ${speed:-?} execs/s, ${took} s"
    continue
  fi
  failed=$((failed + 1))
  kept=build-fuzz/findings/$t
  mkdir -p "$kept"
  cp "$dir/log" "$kept/log"
  inputs=$(find "$dir/artifacts" -type f)
  [[ -n $inputs ]] && cp $inputs "$kept/"
  echo "---- fuzz_$t: the end of its log ($kept/log)"
  tail -n 40 "$dir/log"
  echo "fuzz_$t: FAILED (exit $rc) after ${took} s: ${report:-see the log}"
  for f in $inputs; do
    echo "fuzz_$t: input $kept/$(basename "$f"); reproduce: build-fuzz/fuzz/fuzz_$t $kept/$(basename "$f")"
  done
done
echo "fuzz: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
