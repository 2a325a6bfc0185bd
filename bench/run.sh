#!/usr/bin/env bash
# Side-by-side HTTP benchmark: the Mitos binary against a peer service
# (bench/peers/express: express + better-sqlite3), with wrk, in one run.
#
# Usage: bash bench/run.sh [--duration 10s] [--mitos build/mitos] [options]
# See --help. Results: stdout and bench/results/latest.md.
set -euo pipefail

BENCH_SCRIPT=run.sh
BENCH_LOG_TAG=bench
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<'EOF'
Usage: bash bench/run.sh [options]

  --duration D      wrk duration per measured run (default 10s)
  --warmup D        unmeasured warm-up per service and scenario, 0 to skip (default 2s)
  --mitos PATH      Mitos binary (default build/mitos, relative to the repo root)
  --connections L   space-separated connection counts (default "64 256")
  --threads N       wrk threads (default 2)
  --users N         users seeded into each service (default 100000)
  --ready-runs N    starts used for the time-to-ready median (default 5)
  --only-peer       benchmark the peer alone (harness development)
  --only-mitos      benchmark Mitos alone
  -h, --help        this text

Needs: wrk, sqlite3, jq, curl (apt-get installs them when missing), node >= 20
and npm (the peer's dependencies are installed with npm ci). Builds nothing on
the C++ side: build the Mitos binary first.
EOF
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
PEER_DIR="$BENCH/peers/express"
WRK_DIR="$BENCH/wrk"
RESULTS_DIR="$BENCH/results"

CMDLINE="bash bench/run.sh"
for a in "$@"; do CMDLINE+=" $(printf '%q' "$a")"; done

DURATION=10s
WARMUP=2s
MITOS_ARG=build/mitos
CONNS="64 256"
THREADS=2
USERS=100000
READY_RUNS=5
RUN_MITOS=1
RUN_PEER=1

while (($#)); do
  case "$1" in
    --duration) DURATION="${2:?--duration needs a value}"; shift 2 ;;
    --warmup) WARMUP="${2:?--warmup needs a value}"; shift 2 ;;
    --mitos) MITOS_ARG="${2:?--mitos needs a value}"; shift 2 ;;
    --connections) CONNS="${2:?--connections needs a value}"; shift 2 ;;
    --threads) THREADS="${2:?--threads needs a value}"; shift 2 ;;
    --users) USERS="${2:?--users needs a value}"; shift 2 ;;
    --ready-runs) READY_RUNS="${2:?--ready-runs needs a value}"; shift 2 ;;
    --only-peer) RUN_MITOS=0; shift ;;
    --only-mitos) RUN_PEER=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

# --------------------------------------------------------------------------
# Prerequisites
# --------------------------------------------------------------------------
MITOS=""
if ((RUN_MITOS)); then MITOS="$(resolve_mitos "$MITOS_ARG")"; fi

need_cmd wrk
need_cmd sqlite3
need_cmd jq
need_cmd curl

install_peer() {
  command -v node >/dev/null || die "node (>= 20) is needed for the peer; install Node.js 20+"
  command -v npm >/dev/null || die "npm is needed for the peer"
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  ((major >= 20)) || die "node >= 20 is needed for the peer, found $(node --version)"
  if (cd "$PEER_DIR" && node -e 'require("better-sqlite3")(":memory:"); require("express")' 2>/dev/null) &&
     [[ "$PEER_DIR/node_modules/.package-lock.json" -nt "$PEER_DIR/package-lock.json" ]]; then
    return 0
  fi
  # better-sqlite3's install step would download a prebuilt binary, which
  # cannot be fetched here: build it from source against the headers of the
  # installed node (nodesource's package ships them in /usr/include/node,
  # Debian's in libnode-dev), so node-gyp downloads nothing.
  local nodedir=""
  local prefix
  prefix="$(cd "$(dirname "$(command -v node)")/.." && pwd)"
  for d in "$prefix" /usr /usr/local; do
    if [[ -f "$d/include/node/node_api.h" && -f "$d/include/node/common.gypi" ]]; then nodedir="$d"; break; fi
  done
  [[ -n "$nodedir" ]] || die "node headers not found (include/node/common.gypi); install the Node.js dev headers"
  log "npm ci in bench/peers/express (better-sqlite3 built from source, nodedir=$nodedir)"
  (cd "$PEER_DIR" &&
    npm_config_nodedir="$nodedir" npm_config_build_from_source=true \
      npm ci --no-audit --no-fund --loglevel=error >&2)
  if ! (cd "$PEER_DIR" && node -e 'require("better-sqlite3")(":memory:")' 2>/dev/null); then
    log "better-sqlite3 did not load after npm ci; running its build explicitly"
    (cd "$PEER_DIR" &&
      npm_config_nodedir="$nodedir" npm_config_build_from_source=true \
        npm rebuild better-sqlite3 --foreground-scripts >&2)
    (cd "$PEER_DIR" && node -e 'require("better-sqlite3")(":memory:")') ||
      die "better-sqlite3 could not be built; see the npm output above"
  fi
}
if ((RUN_PEER)); then install_peer; fi

# --------------------------------------------------------------------------
# Process bookkeeping: every server, sampler and wrk is killed on exit
# (cleanup in bench/lib.sh calls stop_all).
# --------------------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/mitos-bench.XXXXXX")"
declare -A SVC_PID=() SVC_PORT=() SVC_DATA=() SVC_DB=() SVC_LOG=()
stop_all() {
  [[ -n "$SAMPLER_PID" ]] && kill "$SAMPLER_PID" 2>/dev/null
  [[ -n "$WRK_PID" ]] && kill "$WRK_PID" 2>/dev/null
  for s in "${!SVC_PID[@]}"; do
    local p="${SVC_PID[$s]}"
    [[ -n "$p" ]] && kill -KILL "$p" 2>/dev/null && { wait "$p"; } 2>/dev/null
  done
}
install_traps
open_sleep_fd

# ------------------------------------------------------------------------
# Services. svc_cmd prints nothing; it fills the CMD array.
# ------------------------------------------------------------------------
MITOS_CONFIG="$BENCH/mitos-bench.yaml"
svc_cmd() { # svc_cmd SERVICE
  case "$1" in
    mitos)
      CMD=("$MITOS" --config "$MITOS_CONFIG"
           --data-dir "${SVC_DATA[mitos]}" --port "${SVC_PORT[mitos]}") ;;
    peer)
      CMD=(env HOST=127.0.0.1 PORT="${SVC_PORT[peer]}" DB_PATH="${SVC_DB[peer]}"
           NODE_ENV=production node "$PEER_DIR/server.js") ;;
  esac
}

# start_service SERVICE -> sets SVC_PID[SERVICE] and READY_MS (ms from spawn
# to the first 200 from /readyz).
READY_MS=""
start_service() {
  local s="$1" t0 t1 pid
  svc_cmd "$s"
  t0="$(now_us)"
  "${CMD[@]}" >>"${SVC_LOG[$s]}" 2>&1 &
  pid=$!
  SVC_PID[$s]="$pid"
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      SVC_PID[$s]=""
      { wait "$pid"; } 2>/dev/null || true
      echo "run.sh: $s exited during start; its log:" >&2
      tail -n 30 "${SVC_LOG[$s]}" >&2
      exit 1
    fi
    http_status "${SVC_PORT[$s]}" /readyz 2>/dev/null || true
    [[ "$HTTP_CODE" == 200 ]] && break
    if (( $(now_us) - t0 > 30000000 )); then
      die "$s not ready after 30 s (log: ${SVC_LOG[$s]})"
    fi
    nap 0.002
  done
  t1="$(now_us)"
  # Cross-check with curl, as a client would see it.
  curl -fsS -o /dev/null "http://127.0.0.1:${SVC_PORT[$s]}/readyz" ||
    die "$s: /readyz answered the poll but not curl"
  READY_MS="$(awk -v d="$((t1 - t0))" 'BEGIN { printf "%.1f", d / 1000 }')"
}

stop_service() { # stop_service SERVICE [SIGNAL]
  local s="$1" sig="${2:-TERM}" pid="${SVC_PID[$1]}"
  [[ -n "$pid" ]] || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 500); do kill -0 "$pid" 2>/dev/null || break; nap 0.01; done
  kill -KILL "$pid" 2>/dev/null || true
  { wait "$pid"; } 2>/dev/null || true
  SVC_PID[$s]=""
}

# ------------------------------------------------------------------------
# Seeding: each service creates and migrates its own schema on a first
# start; it is then stopped and USERS rows are bulk-inserted with sqlite3
# in one transaction (find_users_db, seed_users: bench/lib.sh).
# ------------------------------------------------------------------------
prepare_service() { # prepare_service SERVICE
  local s="$1"
  SVC_DATA[$s]="$WORK/$s-data"
  SVC_LOG[$s]="$WORK/$s.log"
  mkdir -p "${SVC_DATA[$s]}"
  : >"${SVC_LOG[$s]}"
  SVC_PORT[$s]="$(free_port "${SVC_PORT[*]}")"
  [[ "$s" == peer ]] && SVC_DB[$s]="${SVC_DATA[$s]}/peer.db"
  log "$s: first start on 127.0.0.1:${SVC_PORT[$s]} to create its schema"
  start_service "$s"
  stop_service "$s"
  local db
  db="$(find_users_db "${SVC_DATA[$s]}")" || die "$s: no SQLite file with a users table under its data dir"
  SVC_DB[$s]="$db"
  local t0 t1
  t0="$(now_us)"
  log "$s: schema of users: $(sqlite3 "$db" '.schema users' | tr '\n' ' ')"
  seed_users "$db" "$s" "$USERS"
  t1="$(now_us)"
  log "$s: seeded $USERS users into $(basename "$db") in $(( (t1 - t0) / 1000 )) ms"
}


declare -A READY_MEDIAN=() READY_ALL=()
measure_ready() { # measure_ready SERVICE
  local s="$1" ms all=""
  for _ in $(seq "$READY_RUNS"); do
    start_service "$s"
    ms="$READY_MS"
    stop_service "$s"
    all+="${all:+ }$ms"
  done
  READY_ALL[$s]="$all"
  READY_MEDIAN[$s]="$(tr ' ' '\n' <<<"$all" | median %.1f)"
  log "$s: time to ready (ms): $all -> median ${READY_MEDIAN[$s]}"
}

# ------------------------------------------------------------------------
# wrk runs
# ------------------------------------------------------------------------
RUN_TAG="$(date +%s | tail -c 6)$RANDOM"
ROWS="$WORK/rows.tsv"   # scenario conns service rps p50 p99 errors rss_mib timeout connect
: >"$ROWS"
declare -A CREATED=() TAGS=()
FAILS=()

scenario_args() { # scenario_args SCENARIO SERVICE CONNS -> fills WRK_ARGS
  local port="${SVC_PORT[$2]}"
  case "$1" in
    get_user) WRK_ARGS=(-s "$WRK_DIR/get_user.lua" "http://127.0.0.1:$port" -- "$USERS") ;;
    post_user) WRK_ARGS=(-s "$WRK_DIR/post_user.lua" "http://127.0.0.1:$port" -- "$TAG") ;;
    livez) WRK_ARGS=(-s "$WRK_DIR/livez.lua" "http://127.0.0.1:$port/livez") ;;
  esac
}

run_wrk() { # run_wrk SCENARIO SERVICE CONNS DURATION OUTFILE
  scenario_args "$1" "$2" "$3"
  wrk_run "$3" "$4" "$5" "${WRK_ARGS[@]}" || {
    cat "$5" >&2; die "wrk failed ($1, $2, $3 connections)"; }
  wrk_check "$5"
}

declare -A WARMED=()
measure() { # measure SCENARIO SERVICE CONNS
  local sc="$1" s="$2" c="$3" out="$WORK/wrk-$1-$2-$3.txt" rssf="$WORK/rss-$1-$2-$3"
  TAG="${RUN_TAG}w"
  if [[ "$WARMUP" != 0 && -z "${WARMED[$sc/$s]:-}" ]]; then
    run_wrk "$sc" "$s" "$c" "$WARMUP" "$out"
    WARMED[$sc/$s]=1
  fi
  TAG="${RUN_TAG}c${c}"
  echo 0 >"$rssf"
  start_sampler "${SVC_PID[$s]}" "$rssf"
  run_wrk "$sc" "$s" "$c" "$DURATION" "$out"
  stop_sampler
  local peak
  peak="$(peak_rss_kib "$rssf" "${SVC_PID[$s]}")"
  local rps p50 p99 errs tmo con created non201
  read -r rps p50 p99 errs tmo con created non201 < <(wrk_fields "$out" rps p50_ms p99_ms errors err_timeout err_connect created non201)
  printf '%s\t%s\t%s\t%.0f\t%.2f\t%.2f\t%s\t%s\t%s\t%s\n' "$sc" "$c" "$s" "$rps" "$p50" "$p99" "$errs" "$(mib "$peak")" "$tmo" "$con" >>"$ROWS"
  log "$sc c=$c $s: $(printf '%.0f' "$rps") req/s, p50 $p50 ms, p99 $p99 ms, errors $errs, peak RSS $(mib "$peak") MiB"
  if [[ "$sc" == post_user ]]; then
    CREATED[$s]=$(( ${CREATED[$s]:-0} + created ))
    TAGS[$s]="${TAGS[$s]:-} $TAG"
    ((non201 == 0)) || FAILS+=("$sc c=$c $s: $non201 responses other than 201")
  fi
  if ((c >= 256 && (tmo + con) > 0)); then
    FAILS+=("starved connections: $sc c=$c $s: wrk timeouts $tmo, connect errors $con")
  fi
}

# ------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------
SERVICES=()
((RUN_MITOS)) && SERVICES+=(mitos)
((RUN_PEER)) && SERVICES+=(peer)

log "work dir: $WORK"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
for s in "${SERVICES[@]}"; do prepare_service "$s"; done
for s in "${SERVICES[@]}"; do measure_ready "$s"; done
for s in "${SERVICES[@]}"; do
  start_service "$s"
  log "$s: serving on 127.0.0.1:${SVC_PORT[$s]} (pid ${SVC_PID[$s]})"
done

# POST runs last: they grow the table and end with the SIGKILL check.
SCENARIOS=(get_user livez post_user)
for sc in "${SCENARIOS[@]}"; do
  for c in $CONNS; do
    for s in "${SERVICES[@]}"; do measure "$sc" "$s" "$c"; done
  done
done

# Peak RSS over all runs, then the durability check: SIGKILL, restart, count.
declare -A HWM=() LOST=() STORED=() RESTART_MS=()
for s in "${SERVICES[@]}"; do
  HWM[$s]="$(mib "$(proc_kib "${SVC_PID[$s]}" VmHWM)")"
  kill -KILL "${SVC_PID[$s]}"
  { wait "${SVC_PID[$s]}"; } 2>/dev/null || true
  SVC_PID[$s]=""
  start_service "$s"
  RESTART_MS[$s]="$READY_MS"
  where=""
  for t in ${TAGS[$s]}; do where+="${where:+ OR }email LIKE 'bench-$t-t%'"; done
  STORED[$s]="$(sqlite3 -readonly "${SVC_DB[$s]}" "PRAGMA busy_timeout=5000; SELECT count(*) FROM users WHERE $where" | tail -n 1)"
  lost=$(( ${CREATED[$s]} - ${STORED[$s]} ))
  ((lost < 0)) && lost=0
  LOST[$s]=$lost
  stop_service "$s"
  log "$s: after SIGKILL and restart (ready in ${RESTART_MS[$s]} ms): 201s ${CREATED[$s]}, rows ${STORED[$s]}, acknowledged writes lost: $lost"
done

# ------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------
label() {
  case "$1" in
    get_user) echo 'GET /users/{id}' ;;
    post_user) echo 'POST /users' ;;
    livez) echo 'GET /livez' ;;
    mitos) echo 'mitos' ;;
    peer) echo 'express peer' ;;
  esac
}
field() { # field SCENARIO CONNS SERVICE COLUMN(1-based over the tsv)
  awk -F'\t' -v a="$1" -v b="$2" -v c="$3" -v k="$4" '$1 == a && $2 == b && $3 == c { print $k }' "$ROWS"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }

REPORT="$WORK/report.md"
{
  echo "# Mitos vs express peer"
  echo
  echo "Command: \`$CMDLINE\`"
  echo
  echo "Date: $(date -u +%Y-%m-%dT%H:%M:%SZ). Machine: $(nproc) cores, $(uname -m), wrk $(wrk -v 2>&1 | head -n 1 | awk '{print $2}'), node $(node --version 2>/dev/null || echo n/a)."
  echo "Load average (1/5/15 min) before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg); wrk, both servers and anything else on the machine share its cores, so other load skews results."
  echo "wrk -t$THREADS -cN -d$DURATION --latency on loopback; $USERS users seeded per service; warm-up $WARMUP per service and scenario (not measured)."
  [[ -n "$MITOS" ]] && echo "Mitos: \`${MITOS_ARG}\` $("$MITOS" --version 2>/dev/null | head -n 1 || true)"
  echo
  echo "| scenario | connections | service | req/s | p50 ms | p99 ms | errors | peak RSS MiB |"
  echo "|---|---:|---|---:|---:|---:|---:|---:|"
  for sc in get_user post_user livez; do
    for c in $CONNS; do
      for s in "${SERVICES[@]}"; do
        IFS=$'\t' read -r _ _ _ rps p50 p99 errs rss _ _ < <(awk -F'\t' -v a="$sc" -v b="$c" -v d="$s" '$1 == a && $2 == b && $3 == d' "$ROWS")
        echo "| $(label "$sc") | $c | $(label "$s") | $rps | $p50 | $p99 | $errs | $rss |"
      done
    done
  done
  echo
  echo "Errors: wrk connect/read/write/timeout errors plus non-2xx responses. Peak RSS: max VmRSS of the server process sampled every 100 ms during the run."
  echo
  echo "## Ratios"
  echo
  if ((RUN_MITOS && RUN_PEER)); then
    echo "| scenario | connections | req/s Mitos/peer | p99 peer/Mitos | peak RSS peer/Mitos |"
    echo "|---|---:|---:|---:|---:|"
    for sc in get_user post_user livez; do
      for c in $CONNS; do
        echo "| $(label "$sc") | $c | $(ratio "$(field "$sc" "$c" mitos 4)" "$(field "$sc" "$c" peer 4)") | $(ratio "$(field "$sc" "$c" peer 6)" "$(field "$sc" "$c" mitos 6)") | $(ratio "$(field "$sc" "$c" peer 8)" "$(field "$sc" "$c" mitos 8)") |"
      done
    done
    echo
    echo "- Peak RSS over all runs (VmHWM): Mitos ${HWM[mitos]} MiB, peer ${HWM[peer]} MiB; peer/Mitos = $(ratio "${HWM[peer]}" "${HWM[mitos]}")"
  else
    for s in "${SERVICES[@]}"; do echo "- Peak RSS over all runs (VmHWM), $(label "$s"): ${HWM[$s]} MiB"; done
  fi
  for s in "${SERVICES[@]}"; do
    echo "- Time to ready, $(label "$s"): median ${READY_MEDIAN[$s]} ms over $READY_RUNS starts (${READY_ALL[$s]// /, } ms; spawn to first 200 from /readyz, polled every 2 ms)"
  done
  echo
  echo "## Checks"
  echo
  for s in "${SERVICES[@]}"; do
    echo "- $(label "$s"): POST runs got ${CREATED[$s]} x 201; after SIGKILL and restart (ready in ${RESTART_MS[$s]} ms) ${STORED[$s]} rows carry those runs' tags; acknowledged writes lost: ${LOST[$s]}"
  done
  if ((${#FAILS[@]})); then
    for f in "${FAILS[@]}"; do echo "- FAIL: $f"; done
  else
    if [[ " $CONNS " =~ \ (25[6-9]|2[6-9][0-9]|[3-9][0-9][0-9]|[0-9]{4,})\  ]]; then
      echo "- OK: zero starved connections at 256+ connections (no wrk timeouts, no connect errors); every POST answered 201"
    else
      echo "- OK: every POST answered 201 (starvation is checked only at 256+ connections; none were run)"
    fi
  fi
} >"$REPORT"

mkdir -p "$RESULTS_DIR"
cp "$REPORT" "$RESULTS_DIR/latest.md"
cat "$REPORT"
log "report written to bench/results/latest.md"
