#!/usr/bin/env bash
# Two builds of Mitos side by side, with wrk, in one run: GET /users/{id}
# (random ids over the seeded users) and POST /users, each build serving
# `--modules=users` on its own seeded SQLite file. The two sides may be the
# same binary with different settings (--base-set, --new-set): e.g. the
# cost of auth,
#   bash bench/ab.sh --base build/mitos --new build/mitos \
#     --new-set auth.mode=dev --new-set auth.edge=true --new-set limits.subject.rate=0
# A side with auth on sends a development token (mitos auth dev-token,
# users:admin) on every request. The builds take turns,
# repetition by repetition, so drift on a noisy machine hits both alike;
# medians of the repetitions and their ratio (new / base) are reported.
#
# Usage: bash bench/ab.sh --base PATH --new PATH [options]; see --help.
# Results: stdout and bench/results/ab-latest.md.
set -euo pipefail

BENCH_SCRIPT=ab.sh
BENCH_LOG_TAG=ab
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<'EOF'
Usage: bash bench/ab.sh --base PATH --new PATH [options]

  --base PATH        the Mitos binary to compare against (e.g. a build of main)
  --new PATH         the Mitos binary under test (default build/mitos)
  --duration D       wrk duration per measured run (default 10s)
  --connections N    wrk connections (default 64)
  --threads N        wrk threads (default 2)
  --reps N           repetitions per build and scenario (default 5)
  --users N          users seeded into each build's database (default 100000)
  --base-set K=V     a config setting of the base side only (repeatable)
  --new-set K=V      a config setting of the new side only (repeatable)
  -h, --help         this text

Needs: wrk, sqlite3, jq, curl; apt-get installs whichever is missing.
Builds nothing.
EOF
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
WRK_DIR="$BENCH/wrk"
CMDLINE="bash bench/ab.sh"
for a in "$@"; do CMDLINE+=" $(printf '%q' "$a")"; done

DURATION=10s
CONNS=64
THREADS=2
REPS=5
USERS=100000
BASE_ARG=""
NEW_ARG=build/mitos
BASE_SETS=()
NEW_SETS=()
while (($#)); do
  case "$1" in
    --base-set) BASE_SETS+=(--set "${2:?--base-set needs KEY=VALUE}"); shift 2 ;;
    --new-set) NEW_SETS+=(--set "${2:?--new-set needs KEY=VALUE}"); shift 2 ;;
    --base) BASE_ARG="${2:?--base needs a value}"; shift 2 ;;
    --new) NEW_ARG="${2:?--new needs a value}"; shift 2 ;;
    --duration) DURATION="${2:?--duration needs a value}"; shift 2 ;;
    --connections) CONNS="${2:?--connections needs a value}"; shift 2 ;;
    --threads) THREADS="${2:?--threads needs a value}"; shift 2 ;;
    --reps) REPS="${2:?--reps needs a value}"; shift 2 ;;
    --users) USERS="${2:?--users needs a value}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "ab.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ -n "$BASE_ARG" ]] || { echo "ab.sh: --base is required" >&2; usage >&2; exit 2; }
[[ "$REPS" =~ ^[1-9][0-9]*$ ]] || die "--reps takes a positive number, got '$REPS'"
[[ "$USERS" =~ ^[1-9][0-9]*$ ]] || die "--users takes a positive number, got '$USERS'"

for c in wrk sqlite3 jq curl; do need_cmd "$c"; done
declare -A BIN=()
BIN[base]="$(resolve_mitos "$BASE_ARG")"
BIN[new]="$(resolve_mitos "$NEW_ARG")"
log "command: $CMDLINE"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/mitos-ab.XXXXXX")"
declare -A PID=() PORT=() DATA=() TOKEN=()
sets_of() { # sets_of BUILD -> its --set options, one a line
  if [[ $1 == base ]]; then
    ((${#BASE_SETS[@]})) && printf '%s\n' "${BASE_SETS[@]}"
  else
    ((${#NEW_SETS[@]})) && printf '%s\n' "${NEW_SETS[@]}"
  fi
  return 0
}
stop_all() {
  [[ -n "$WRK_PID" ]] && kill "$WRK_PID" 2>/dev/null
  for s in "${!PID[@]}"; do
    [[ -n "${PID[$s]}" ]] && kill -KILL "${PID[$s]}" 2>/dev/null && { wait "${PID[$s]}"; } 2>/dev/null
  done
}
install_traps
open_sleep_fd

start() { # start BUILD: serves users from its data dir; waits for /readyz
  local s="$1" t0
  local -a sets=()
  mapfile -t sets < <(sets_of "$s")
  "${BIN[$s]}" --config "$BENCH/mitos-bench.yaml" --modules=users \
    --data-dir "${DATA[$s]}" --port "${PORT[$s]}" "${sets[@]}" >>"$WORK/$s.log" 2>&1 &
  PID[$s]=$!
  t0="$(now_us)"
  until http_status "${PORT[$s]}" /readyz 2>/dev/null && [[ "$HTTP_CODE" == 200 ]]; do
    kill -0 "${PID[$s]}" 2>/dev/null || { tail -n 30 "$WORK/$s.log" >&2; die "$s exited during start"; }
    (( $(now_us) - t0 < 30000000 )) || die "$s not ready after 30 s"
    nap 0.01
  done
}
stop() { # stop BUILD
  local s="$1"
  kill -TERM "${PID[$s]}" 2>/dev/null || true
  { wait "${PID[$s]}"; } 2>/dev/null || true
  PID[$s]=""
}

for s in base new; do
  DATA[$s]="$WORK/$s-data"
  mkdir -p "${DATA[$s]}"
  PORT[$s]="$(free_port "${PORT[*]:-}")"
  start "$s"
  stop "$s"
  db="$(find_users_db "${DATA[$s]}")" || die "$s: no users database under its data dir"
  seed_users "$db" "$s" "$USERS"
  log "$s: ${BIN[$s]} ($("${BIN[$s]}" --version 2>/dev/null | head -n1)), $USERS users $(sets_of "$s" | grep -v '^--set$' | tr '\n' ' ')"
  start "$s"
  # A development token when the side runs in dev mode (none otherwise).
  mapfile -t sets < <(sets_of "$s")
  TOKEN[$s]="$("${BIN[$s]}" --config "$BENCH/mitos-bench.yaml" --data-dir "${DATA[$s]}" "${sets[@]}" \
    auth dev-token --sub admin --scope users:admin 2>/dev/null || true)"
  if [[ -n "${TOKEN[$s]}" ]]; then log "$s: sends a development token"; fi
done

RUN_TAG="$(date +%s | tail -c 6)$RANDOM"
ROWS="$WORK/rows.tsv"  # scenario build rep rps p50 p99 errors
: >"$ROWS"
run() { # run SCENARIO BUILD REP
  local out="$WORK/wrk-$1-$2-$3.txt" args
  case "$1" in
    get_user) args=(-s "$WRK_DIR/get_user.lua" "http://127.0.0.1:${PORT[$2]}" -- "$USERS") ;;
    post_user) args=(-s "$WRK_DIR/post_user.lua" "http://127.0.0.1:${PORT[$2]}" -- "$RUN_TAG$2$3") ;;
  esac
  export BENCH_TOKEN="${TOKEN[$2]}"
  wrk_run "$CONNS" "$DURATION" "$out" "${args[@]}" || { cat "$out" >&2; die "wrk failed"; }
  wrk_check "$out"
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$(wrk_fields "$out" rps p50_ms p99_ms errors)" >>"$ROWS"
  log "$1 $2 rep $3: $(wrk_fields "$out" rps p50_ms p99_ms errors | awk '{ printf "%.0f req/s, p50 %s ms, p99 %s ms, %s errors", $1, $2, $3, $4 }')"
}

for sc in get_user post_user; do
  for s in base new; do run "$sc" "$s" warm; done  # unmeasured
  for rep in $(seq "$REPS"); do
    # Alternate which build goes first, so neither always runs warmer.
    if ((rep % 2)); then order=(base new); else order=(new base); fi
    for s in "${order[@]}"; do run "$sc" "$s" "$rep"; done
  done
done
stop base
stop new

col() { # col SCENARIO BUILD COLUMN -> the median of that column over the reps
  awk -F'\t' -v sc="$1" -v s="$2" -v c="$3" '$1 == sc && $2 == s && $3 != "warm" { print $c }' "$ROWS" | median %.3f
}
REPORT="$WORK/report.md"
{
  echo "# bench/ab.sh: two Mitos builds side by side"
  echo
  echo "\`$CMDLINE\`, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, wrk -t$THREADS -c$CONNS -d$DURATION, $REPS repetitions, $USERS users; medians."
  echo
  echo "base: ${BIN[base]} ${BASE_SETS[*]:-}${TOKEN[base]:+ (with a bearer token)}; new: ${BIN[new]} ${NEW_SETS[*]:-}${TOKEN[new]:+ (with a bearer token)}"
  echo
  echo "| scenario | base req/s | new req/s | new / base | base p50 / p99 ms | new p50 / p99 ms | errors base / new |"
  echo "|---|---:|---:|---:|---|---|---|"
  for sc in get_user post_user; do
    b="$(col "$sc" base 4)"; n="$(col "$sc" new 4)"
    label="GET /users/{id}"; [[ $sc == post_user ]] && label="POST /users"
    printf '| %s | %.0f | %.0f | %.2f | %.2f / %.2f | %.2f / %.2f | %s / %s |\n' "$label" "$b" "$n" \
      "$(awk -v a="$n" -v b="$b" 'BEGIN { print a / b }')" \
      "$(col "$sc" base 5)" "$(col "$sc" base 6)" "$(col "$sc" new 5)" "$(col "$sc" new 6)" \
      "$(awk -F'\t' -v sc="$sc" '$1 == sc && $2 == "base" && $3 != "warm" { e += $7 } END { print e + 0 }' "$ROWS")" \
      "$(awk -F'\t' -v sc="$sc" '$1 == sc && $2 == "new" && $3 != "warm" { e += $7 } END { print e + 0 }' "$ROWS")"
  done
  echo
  echo "Every run (req/s):"
  echo
  for sc in get_user post_user; do
    for s in base new; do
      echo "- $sc $s: $(awk -F'\t' -v sc="$sc" -v s="$s" '$1 == sc && $2 == s && $3 != "warm" { printf "%.0f ", $4 }' "$ROWS")"
    done
  done
} >"$REPORT"
mkdir -p "$BENCH/results"
cp "$REPORT" "$BENCH/results/ab-latest.md"
cat "$REPORT"
