#!/usr/bin/env bash
# Adaptive load shedding under overload: the same Mitos binary twice, side
# by side, `--modules=users` on its own seeded SQLite file each, one with
# shedding on (the default) and one with `--set shedding.enabled=false`.
#
# 1. Capacity: wrk (closed loop) `-t1 -c64` on GET /users/{id} against each
#    instance, REPS runs each, taking turns; the median is its peak req/s.
# 2. Overload: an open-loop generator (bench/overload/loadgen.cpp, built
#    here with g++) offers FACTOR x capacity (default 3x) on a fixed
#    schedule for DURATION against each instance, REPS times, the first
#    alternating; latency counts from each request's scheduled send time,
#    so a server falling behind shows as latency (no coordinated omission).
#    Every request carries `X-Mitos-Deadline-Ms: DEADLINE`. Each run has
#    WARMUP of the same schedule before the measured DURATION and again
#    after it, unmeasured: the generator opens its connections before
#    (thousands in a few milliseconds), and the measured requests are
#    answered under the same load after, so that the figures are of the
#    overload, not of a cold start or of the queue draining once the load
#    stops. One run per instance at 0.5x and 1x capacity
#    (--sanity) comes first, for reference.
# 3. A Markdown report: goodput (2xx/s) against the peak, p50/p99 of the
#    admitted (2xx) requests, the share shed (503), responses past their
#    deadline, 504s, timeouts, and what the generator could not send; each
#    target of the issue (goodput >= 90% of peak, admitted p99 < 50 ms, none
#    past its deadline) as PASS or MISS per instance.
#
# Usage: bash bench/overload.sh [options]; see --help.
# Results: stdout and bench/results/overload-latest.md.
set -euo pipefail

BENCH_SCRIPT=overload.sh
BENCH_LOG_TAG=overload
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<'EOF'
Usage: bash bench/overload.sh [options]

  --mitos PATH       the Mitos binary (default build/mitos)
  --duration D       open-loop run length measured, e.g. 10s (default 10s)
  --warmup D         the same load before and after each measured run,
                     unmeasured (default 1s)
  --reps N           open-loop runs per instance at FACTOR x, and wrk
                     capacity runs per instance (default 3)
  --factor F         offered load as a multiple of capacity (default 3)
  --deadline-ms MS   X-Mitos-Deadline-Ms of every request (default 1000)
  --io-threads N     server.io_threads of both instances (default 1;
                     0: the server's default, one per core)
  --conns N          the generator's connection cap (default 4000)
  --gen-threads N    the generator's event loops (default 1)
  --poisson          Poisson arrivals instead of uniformly spaced ones
  --sanity "F ..."   one open-loop run per instance at each of these
                     multiples of capacity first (default "0.5 1")
  --users N          users seeded into each instance (default 100000)
  --wrk-duration D   length of each capacity run (default 5s)
  --set K=V          a config setting of both instances (repeatable)
  -h, --help         this text

Needs: wrk, sqlite3, jq, curl, g++; apt-get installs whichever is missing.
Builds the generator (into a temp dir), not Mitos.
EOF
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
WRK_DIR="$BENCH/wrk"
CMDLINE="bash bench/overload.sh"
for a in "$@"; do CMDLINE+=" $(printf '%q' "$a")"; done

MITOS_ARG=build/mitos
DURATION=10s
WARMUP=1s
REPS=3
FACTOR=3
DEADLINE_MS=1000
IO_THREADS=1
GEN_CONNS=4000
GEN_THREADS=1
POISSON=0
SANITY="0.5 1"
USERS=100000
WRK_DURATION=5s
SETS=()
THREADS=1  # wrk threads (lib.sh's wrk_run)
WRK_CONNS=64
while (($#)); do
  case "$1" in
    --mitos) MITOS_ARG="${2:?--mitos needs a value}"; shift 2 ;;
    --duration) DURATION="${2:?--duration needs a value}"; shift 2 ;;
    --warmup) WARMUP="${2:?--warmup needs a value}"; shift 2 ;;
    --reps) REPS="${2:?--reps needs a value}"; shift 2 ;;
    --factor) FACTOR="${2:?--factor needs a value}"; shift 2 ;;
    --deadline-ms) DEADLINE_MS="${2:?--deadline-ms needs a value}"; shift 2 ;;
    --io-threads) IO_THREADS="${2:?--io-threads needs a value}"; shift 2 ;;
    --conns) GEN_CONNS="${2:?--conns needs a value}"; shift 2 ;;
    --gen-threads) GEN_THREADS="${2:?--gen-threads needs a value}"; shift 2 ;;
    --poisson) POISSON=1; shift ;;
    --sanity) SANITY="${2?--sanity needs a value}"; shift 2 ;;
    --users) USERS="${2:?--users needs a value}"; shift 2 ;;
    --wrk-duration) WRK_DURATION="${2:?--wrk-duration needs a value}"; shift 2 ;;
    --set) SETS+=(--set "${2:?--set needs KEY=VALUE}"); shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "overload.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
posint() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1 takes a positive number, got '$2'"; }
posint --reps "$REPS"
posint --users "$USERS"
posint --deadline-ms "$DEADLINE_MS"
posint --conns "$GEN_CONNS"
posint --gen-threads "$GEN_THREADS"
[[ "$IO_THREADS" =~ ^[0-9]+$ ]] || die "--io-threads takes a number, got '$IO_THREADS'"
[[ "$FACTOR" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--factor takes a number, got '$FACTOR'"
for f in $SANITY; do [[ "$f" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--sanity takes numbers, got '$f'"; done
# Durations as wrk takes them (10s, 1m); the generator wants seconds.
secs_of() {
  case "$1" in
    *ms) awk -v v="${1%ms}" 'BEGIN { print v / 1000 }' ;;
    *s) printf '%s' "${1%s}" ;;
    *m) awk -v v="${1%m}" 'BEGIN { print v * 60 }' ;;
    *) printf '%s' "$1" ;;
  esac
}
DURATION_S="$(secs_of "$DURATION")"
[[ "$DURATION_S" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--duration: cannot read '$DURATION'"
WARMUP_S="$(secs_of "$WARMUP")"
[[ "$WARMUP_S" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--warmup: cannot read '$WARMUP'"

for c in wrk sqlite3 jq curl; do need_cmd "$c"; done
need_cmd g++ g++
MITOS="$(resolve_mitos "$MITOS_ARG")"
log "command: $CMDLINE"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/mitos-overload.XXXXXX")"
declare -A PID=() PORT=() DATA=() TOKEN=()
GEN_PID=""
stop_all() {
  [[ -n "$WRK_PID" ]] && kill "$WRK_PID" 2>/dev/null
  [[ -n "$GEN_PID" ]] && kill "$GEN_PID" 2>/dev/null
  for s in "${!PID[@]}"; do
    [[ -n "${PID[$s]}" ]] && kill -KILL "${PID[$s]}" 2>/dev/null && { wait "${PID[$s]}"; } 2>/dev/null
  done
}
install_traps
open_sleep_fd

# The generator: up to GEN_CONNS sockets, and the servers accept as many;
# raise the soft descriptor limit to the hard one for every child.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
(( $(ulimit -n) >= GEN_CONNS + 256 )) ||
  log "descriptor limit $(ulimit -n) is below --conns $GEN_CONNS + 256: expect connect errors"

LOADGEN="$WORK/loadgen"
log "building the generator: g++ -O2 -std=c++20 -pthread"
g++ -O2 -std=c++20 -pthread -o "$LOADGEN" "$BENCH/overload/loadgen.cpp" >&2 ||
  die "could not build bench/overload/loadgen.cpp"

INSTANCES=(shed noshed)
sets_of() { # sets_of INSTANCE -> its --set options, one a line
  if ((IO_THREADS > 0)); then printf '%s\n' --set "server.io_threads=$IO_THREADS"; fi
  if ((${#SETS[@]})); then printf '%s\n' "${SETS[@]}"; fi
  if [[ $1 == noshed ]]; then printf '%s\n' --set shedding.enabled=false; fi
  return 0
}
start() { # start INSTANCE: serves users from its data dir; waits for /readyz
  local s="$1" t0
  local -a sets=()
  mapfile -t sets < <(sets_of "$s")
  "$MITOS" --config "$BENCH/mitos-bench.yaml" --modules=users \
    --data-dir "${DATA[$s]}" --port "${PORT[$s]}" "${sets[@]}" >>"$WORK/$s.log" 2>&1 &
  PID[$s]=$!
  t0="$(now_us)"
  until http_status "${PORT[$s]}" /readyz 2>/dev/null && [[ "$HTTP_CODE" == 200 ]]; do
    kill -0 "${PID[$s]}" 2>/dev/null || { tail -n 30 "$WORK/$s.log" >&2; die "$s exited during start"; }
    (( $(now_us) - t0 < 30000000 )) || die "$s not ready after 30 s"
    nap 0.01
  done
}
stop() { # stop INSTANCE
  local s="$1"
  kill -TERM "${PID[$s]}" 2>/dev/null || true
  { wait "${PID[$s]}"; } 2>/dev/null || true
  PID[$s]=""
}

for s in "${INSTANCES[@]}"; do
  DATA[$s]="$WORK/$s-data"
  mkdir -p "${DATA[$s]}"
  PORT[$s]="$(free_port "${PORT[*]:-}")"
  start "$s"
  stop "$s"
  db="$(find_users_db "${DATA[$s]}")" || die "$s: no users database under its data dir"
  seed_users "$db" "$s" "$USERS"
  start "$s"
  # A development token when the instance runs with auth.mode=dev (through
  # --set), sent by wrk and the generator alike; none otherwise.
  mapfile -t sets < <(sets_of "$s")
  TOKEN[$s]="$("$MITOS" --config "$BENCH/mitos-bench.yaml" --data-dir "${DATA[$s]}" "${sets[@]}" \
    auth dev-token --sub admin --scope users:admin 2>/dev/null || true)"
  code="$(curl -s ${TOKEN[$s]:+-H "Authorization: Bearer ${TOKEN[$s]}"} -o /dev/null -w '%{http_code}' "http://127.0.0.1:${PORT[$s]}/users/$USERS")"
  [[ "$code" == 200 ]] || die "$s: GET /users/$USERS answered $code"
  log "$s: port ${PORT[$s]}, $USERS users, $(sets_of "$s" | grep -v '^--set$' | paste -sd' ')${TOKEN[$s]:+, with a bearer token}"
done

# --------------------------------------------------------------------------
# Server-side counters, from /metrics before and after each run: requests
# shed on the event loop and in the worker pool, and the server's own view
# of GET /users/{id} (count, summed seconds, histogram buckets), which ends
# where the kernel hands the request over; the client's latency minus it is
# time in socket buffers and accept queues, which the server cannot see.
# --------------------------------------------------------------------------
scrape() { # scrape INSTANCE FILE
  curl -s --max-time 5 "http://127.0.0.1:${PORT[$1]}/metrics" |
    grep -E '^mitos_requests_shed_total|^mitos_http_server_request_duration_seconds_(sum|count|bucket)\{module="users",route="/users/\{id\}",method="GET"' \
      >"$2" || true
}
shed_of() { # shed_of FILE QUEUE -> the shed counter of QUEUE (0 if absent)
  awk -v q="$2" 'index($0, "queue=\"" q "\"") { v = $NF } END { print v + 0 }' "$1"
}
server_delta() { # server_delta BEFORE AFTER -> "shed_loop shed_worker served mean_ms p99_le_ms"
  local b="$1" a="$2"
  local sl sw
  sl=$(( $(shed_of "$a" loop) - $(shed_of "$b" loop) ))
  sw=$(( $(shed_of "$a" worker) - $(shed_of "$b" worker) ))
  awk -v sl="$sl" -v sw="$sw" '
    function le_of(line) { match(line, /,le="[^"]*"/); return substr(line, RSTART + 5, RLENGTH - 6) }
    FNR == NR {
      if ($0 ~ /_sum\{/) bs = $NF; else if ($0 ~ /_count\{/) bc = $NF
      else if ($0 ~ /_bucket\{/) bb[le_of($0)] = $NF
      next
    }
    {
      if ($0 ~ /_sum\{/) as = $NF; else if ($0 ~ /_count\{/) ac = $NF
      else if ($0 ~ /_bucket\{/) { l = le_of($0); ab[l] = $NF; order[++n] = l }
    }
    END {
      c = ac - bc; mean = c > 0 ? (as - bs) / c * 1000 : 0; p = "n/a"
      for (i = 1; i <= n && c > 0; i++) {
        l = order[i]
        if (ab[l] - bb[l] >= 0.99 * c) { p = (l == "+Inf") ? "inf" : sprintf("%g", l * 1000); break }
      }
      printf "%d %d %d %.3f %s\n", sl, sw, c, mean, p
    }' "$b" "$a"
}

# --------------------------------------------------------------------------
# 1. Capacity (closed loop)
# --------------------------------------------------------------------------
CAP_ROWS="$WORK/capacity.tsv"  # instance rep rps p50 p99 errors
: >"$CAP_ROWS"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
capacity() { # capacity INSTANCE REP
  local out="$WORK/wrk-$1-$2.txt"
  export BENCH_TOKEN="${TOKEN[$1]}"
  wrk_run "$WRK_CONNS" "$WRK_DURATION" "$out" -s "$WRK_DIR/get_user.lua" \
    "http://127.0.0.1:${PORT[$1]}" -- "$USERS" || { cat "$out" >&2; die "wrk failed"; }
  wrk_check "$out"
  printf '%s\t%s\t%s\n' "$1" "$2" "$(wrk_fields "$out" rps p50_ms p99_ms errors)" >>"$CAP_ROWS"
  log "capacity $1 rep $2: $(wrk_fields "$out" rps p50_ms p99_ms errors |
    awk '{ printf "%.0f req/s, p50 %s ms, p99 %s ms, %s errors", $1, $2, $3, $4 }')"
}
for s in "${INSTANCES[@]}"; do
  export BENCH_TOKEN="${TOKEN[$s]}"
  wrk_run "$WRK_CONNS" 2s "$WORK/warm-$s.txt" -s "$WRK_DIR/get_user.lua" \
    "http://127.0.0.1:${PORT[$s]}" -- "$USERS" || die "wrk warm-up failed"
done
for rep in $(seq "$REPS"); do
  if ((rep % 2)); then order=(shed noshed); else order=(noshed shed); fi
  for s in "${order[@]}"; do capacity "$s" "$rep"; done
done
declare -A OWN_PEAK=() PEAK=()
for s in "${INSTANCES[@]}"; do
  OWN_PEAK[$s]="$(awk -F'\t' -v s="$s" '$1 == s { print $3 }' "$CAP_ROWS" | median %.1f)"
done
# One offered rate for both instances, and one peak to measure their
# goodput against: the median of all their capacity runs. They are the same
# binary, and with 64 connections neither sheds; an instance's own median
# would credit the one whose capacity runs happened to come out low.
CAPACITY="$(awk -F'\t' '{ print $3 }' "$CAP_ROWS" | median %.1f)"
for s in "${INSTANCES[@]}"; do PEAK[$s]="$CAPACITY"; done
rate_of() { awk -v c="$CAPACITY" -v f="$1" 'BEGIN { printf "%.0f", c * f }'; }
RATE_X="$(rate_of "$FACTOR")"
log "capacity: shed ${OWN_PEAK[shed]}, noshed ${OWN_PEAK[noshed]}, both $CAPACITY req/s; offering ${FACTOR}x = $RATE_X req/s"

# --------------------------------------------------------------------------
# 2. Open loop
# --------------------------------------------------------------------------
ROWS="$WORK/open.tsv"  # label instance rep json shed_loop shed_worker served mean_ms p99_le server_cpu% listen_drops
CLK_TCK="$(getconf CLK_TCK)"
# cpu_ticks PID -> user+system clock ticks of PID, all its threads
# listen_drops -> the kernel's count of connections dropped because an
# accept queue was full (TcpExt ListenDrops, machine-wide): each such
# client retries its SYN after 1 s, then 3 s.
listen_drops() {
  awk '/^TcpExt:/ { if (!h) { for (i = 1; i <= NF; i++) n[i] = $i; h = 1 }
    else for (i = 1; i <= NF; i++) if (n[i] == "ListenDrops") print $i }' /proc/net/netstat
}
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
: >"$ROWS"
GEN_ARGS=(--duration "$DURATION_S" --warmup "$WARMUP_S" --deadline-ms "$DEADLINE_MS" --conns "$GEN_CONNS"
  --threads "$GEN_THREADS" --max-id "$USERS" --path '/users/{id}')
((POISSON)) && GEN_ARGS+=(--poisson)
open_run() { # open_run LABEL INSTANCE REP RATE
  local out="$WORK/gen-$1-$2-$3.json" rc=0 delta t0 c0 cpu d0
  scrape "$2" "$WORK/m-before"
  t0="$(now_us)"; c0="$(cpu_ticks "${PID[$2]}")"; d0="$(listen_drops)"
  BENCH_AUTHORIZATION="${TOKEN[$2]:+Bearer ${TOKEN[$2]}}" \
    "$LOADGEN" --port "${PORT[$2]}" --rate "$4" "${GEN_ARGS[@]}" --auth-env BENCH_AUTHORIZATION \
    >"$out" 2>"$out.err" &
  GEN_PID=$!
  wait "$GEN_PID" || rc=$?
  GEN_PID=""
  ((rc == 0)) || { cat "$out.err" >&2; die "the generator failed ($rc)"; }
  jq -e . "$out" >/dev/null 2>&1 || { cat "$out" "$out.err" >&2; die "the generator printed no JSON"; }
  kill -0 "${PID[$2]}" 2>/dev/null || { tail -n 30 "$WORK/$2.log" >&2; die "$2 died under load"; }
  cpu="$(awk -v c="$(( $(cpu_ticks "${PID[$2]}") - c0 ))" -v t="$(( $(now_us) - t0 ))" -v hz="$CLK_TCK" \
    'BEGIN { printf "%.0f", 100 * c / hz / (t / 1e6) }')"
  scrape "$2" "$WORK/m-after"
  delta="$(server_delta "$WORK/m-before" "$WORK/m-after")"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$(jq -c . "$out")" "${delta// /$'\t'}" "$cpu" "$(( $(listen_drops) - d0 ))" >>"$ROWS"
  log "$1 $2 rep $3: $(jq -r '"\(.offered_rps) offered, goodput \(.goodput_rps)/s, admitted p50 \(.ok_p50_ms) p99 \(.ok_p99_ms) ms, 503 \(.s503), late \(.late), timeouts \(.timeouts), not sent \(.not_sent), send lag p99 \(.send_lag_p99_ms) ms"' "$out")"
  # Let the server close what the generator reset before the next run.
  nap 1
}
for f in $SANITY; do
  for s in "${INSTANCES[@]}"; do open_run "${f}x" "$s" 1 "$(rate_of "$f")"; done
done
for rep in $(seq "$REPS"); do
  if ((rep % 2)); then order=(shed noshed); else order=(noshed shed); fi
  for s in "${order[@]}"; do open_run "${FACTOR}x" "$s" "$rep" "$RATE_X"; done
done
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
stop shed
stop noshed

# --------------------------------------------------------------------------
# 3. Report
# --------------------------------------------------------------------------
# field LABEL INSTANCE JQ_EXPR -> one value per run, a line each
field() {
  awk -F'\t' -v l="$1" -v s="$2" '$1 == l && $2 == s { print $4 }' "$ROWS" | jq -r "$3"
}
med() { field "$1" "$2" "$3" | median "${4:-%.3f}"; }  # median over the runs
sum() { field "$1" "$2" "$3" | awk '{ t += $1 } END { print t + 0 }'; }  # sum over the runs
fmt() { awk -v v="$1" -v f="$2" 'BEGIN { if (v == "n/a") print v; else printf f, v }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f%%", 100 * a / b; else print "n/a" }'; }
verdict() { if [[ "$1" == 1 ]]; then printf 'PASS'; else printf 'MISS'; fi; }

X="${FACTOR}x"
LABELS=()
for f in $SANITY; do LABELS+=("${f}x"); done
LABELS+=("$X")
# With the connection cap reached, at most GEN_CONNS requests wait at once:
# about GEN_CONNS / capacity seconds of queue.
CAP_WAIT_MS="$(awk -v n="$GEN_CONNS" -v c="$CAPACITY" 'BEGIN { printf "%.0f", 1000 * n / c }')"
REPORT="$WORK/report.md"
{
  echo "# bench/overload.sh: load shedding at ${X} capacity"
  echo
  echo "\`$CMDLINE\`, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $USERS users, GET /users/{id} (random id); load average before $LOAD_BEFORE, after $LOAD_AFTER."
  echo
  printf 'Both instances: `%s --config bench/mitos-bench.yaml --modules=users --data-dir DIR --port P' "$MITOS_ARG"
  ((IO_THREADS > 0)) && printf ' --set server.io_threads=%s' "$IO_THREADS"
  ((${#SETS[@]})) && printf ' %s' "${SETS[*]}"
  echo '`;'
  echo "**shed** keeps shedding on (the default), **noshed** adds \`--set shedding.enabled=false\`."
  if ((IO_THREADS > 0)); then
    echo "With \`server.io_threads=$IO_THREADS\` the server's capacity is what $IO_THREADS event loop(s) serve, and the generator has the rest of the $(nproc) cores; with a loop on every core the generator would compete with the server for CPU, and the load it could offer would be capped by the machine rather than by the server."
  else
    echo "\`server.io_threads\` is the server's default (one event loop per core): the generator competes with the server for CPU."
  fi
  echo
  echo "Capacity: \`wrk -t1 -c$WRK_CONNS -d$WRK_DURATION\` (closed loop, \`wrk/get_user.lua\`), $REPS runs per instance, taking turns; peak = the median of all of them, for both instances (each instance's own: shed ${OWN_PEAK[shed]}, noshed ${OWN_PEAK[noshed]}). Offered: ${FACTOR} x $CAPACITY req/s (the median of all capacity runs) = **$RATE_X req/s** to both, $DURATION measured per run, with $WARMUP of the same load before and after it unmeasured, $REPS runs per instance (the first alternating); before them one run per instance at $(printf '%sx ' $SANITY)capacity. $( ((POISSON)) && echo Poisson || echo Uniformly spaced) arrivals, deadline $DEADLINE_MS ms (\`X-Mitos-Deadline-Ms\`), at most $GEN_CONNS connections, $GEN_THREADS generator thread(s). Cells are medians over the runs; counts are summed over them."
  echo
  echo "| instance (load) | peak req/s | offered req/s | sent req/s | goodput 2xx/s | goodput / peak | admitted p50 / p99 ms | all p99 ms | shed (503) | past deadline | 504 | timeouts | not sent | conn errors | send lag p99 ms |"
  echo "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  for s in "${INSTANCES[@]}"; do
    for l in "${LABELS[@]}"; do
      [[ -n "$(field "$l" "$s" .sent)" ]] || continue
      g="$(med "$l" "$s" .goodput_rps %.1f)"
      printf '| %s (%s) | %.0f | %.0f | %.0f | %.0f | %s | %s / %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
        "$s" "$l" "${PEAK[$s]}" "$(med "$l" "$s" .offered_rps %.1f)" \
        "$(med "$l" "$s" '.sent / .duration_s' %.1f)" "$g" "$(pct "$g" "${PEAK[$s]}")" \
        "$(fmt "$(med "$l" "$s" .ok_p50_ms)" %.2f)" "$(fmt "$(med "$l" "$s" .ok_p99_ms)" %.2f)" \
        "$(fmt "$(med "$l" "$s" .all_p99_ms)" %.2f)" \
        "$(pct "$(sum "$l" "$s" .s503)" "$(sum "$l" "$s" .responses)")" \
        "$(sum "$l" "$s" '.late + .timeouts')" "$(sum "$l" "$s" .s504)" \
        "$(sum "$l" "$s" .timeouts)" "$(sum "$l" "$s" .not_sent)" "$(sum "$l" "$s" .conn_errors)" \
        "$(fmt "$(med "$l" "$s" .send_lag_p99_ms)" %.2f)"
    done
  done
  echo
  echo "Targets at ${X} (goodput and p99: the medians of the runs; past deadline: all runs together):"
  echo
  echo "| instance | goodput >= 90% of peak | admitted p99 < 50 ms | 0 past deadline |"
  echo "|---|---|---|---|"
  CAPPED=0
  for s in "${INSTANCES[@]}"; do
    g="$(med "$X" "$s" .goodput_rps %.1f)"
    p99="$(med "$X" "$s" .ok_p99_ms)"
    late="$(sum "$X" "$s" '.late + .timeouts')"
    ns="$(sum "$X" "$s" .not_sent)"
    note=""
    if ((ns > 0)); then note="; $ns not sent"; CAPPED=1; fi
    printf '| %s | %s (%s) | %s (%s ms) | %s (%s%s) |\n' "$s" \
      "$(verdict "$(awk -v g="$g" -v p="${PEAK[$s]}" 'BEGIN { print (g >= 0.9 * p) ? 1 : 0 }')")" \
      "$(pct "$g" "${PEAK[$s]}")" \
      "$(verdict "$(awk -v v="$p99" 'BEGIN { print (v != "n/a" && v + 0 < 50) ? 1 : 0 }')")" \
      "$(fmt "$p99" %.2f)" \
      "$(verdict "$([[ "$late" == 0 ]] && echo 1 || echo 0)")" "$late" "$note"
  done
  if ((CAPPED)); then
    echo
    echo "Requests were not sent: all $GEN_CONNS connections were busy, so no more than $GEN_CONNS requests waited at once, about $GEN_CONNS / $CAPACITY req/s = $CAP_WAIT_MS ms of queue at capacity. $(
      if ((CAP_WAIT_MS < DEADLINE_MS)); then
        echo "That is under the $DEADLINE_MS ms deadline: queueing alone could not make a request miss it here, so \"0 past deadline\" does not show that the server kept the queue short (a smaller --deadline-ms, or a larger --conns, would)."
      else
        echo "That is over the $DEADLINE_MS ms deadline, so the cap did not hide a queue longer than the deadline."
      fi) The requests not sent are in no latency figure."
  fi
  echo
  echo "Every run. Goodput and \"in deadline\" in 2xx/s; p99 in ms; \"server shed\": requests the server itself counted as shed, on its event loop / in its worker pool (\`mitos_requests_shed_total\`); \"server time\": GET /users/{id} as the server timed it (\`mitos_http_server_request_duration_seconds\`), both over the warm-up too, mean and the histogram bucket holding its p99, in ms; \"CPU %\": user+system time over the run as % of one core, of the server process (all threads) and of the generator; \"conn errors\": requests lost to a connection that failed to open or closed before the response; \"listen drops\": connections the kernel dropped during the run because an accept queue was full (machine-wide \`TcpExt ListenDrops\`; such a client resends its SYN after 1 s)."
  echo
  echo "| run | instance | sent | goodput | in deadline | admitted p99 | all p99 | 503 | past deadline | not sent | peak conns | send lag p99 | conn errors | listen drops | CPU % server / generator | server shed loop / worker | server time mean / p99 <= |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|"
  while IFS=$'\t' read -r l s rep json sl sw _served mean p99le scpu drops; do
    printf '| %s #%s | %s | %s |\n' "$l" "$rep" "$s" "$(jq -r --arg sl "$sl" --arg sw "$sw" --arg m "$mean" --arg p "$p99le" --arg sc "$scpu" --arg d "$drops" \
      '"\(.sent) | \(.goodput_rps | floor) | \(.goodput_in_deadline_rps | floor) | \(.ok_p99_ms) | \(.all_p99_ms) | \(.s503) | \(.late + .timeouts) | \(.not_sent) | \(.conns_peak) | \(.send_lag_p99_ms) | \(.conn_errors) | \($d) | \($sc) / \(100 * .cpu_s / .wall_s | floor) | \($sl) / \($sw) | \($m) / \($p)"' <<<"$json")"
  done <"$ROWS"
  echo
  echo "Capacity runs (req/s): $(for s in "${INSTANCES[@]}"; do printf '%s %s; ' "$s" "$(awk -F'\t' -v s="$s" '$1 == s { printf "%s%.0f", sep, $3; sep = ", " }' "$CAP_ROWS")"; done)"
  echo
  echo "How to read it: latency runs from each request's scheduled send time to the end of its response, so time a request spent waiting anywhere (the generator's own lateness, the send lag, included) is in it. Admitted = answered 2xx. Goodput counts the 2xx answers to the requests scheduled in the measured window, per second of it; \"in deadline\" only those within $DEADLINE_MS ms. Past deadline = responses later than $DEADLINE_MS ms plus timeouts (no answer within $DEADLINE_MS ms + 5 s). Not sent = requests due while all $GEN_CONNS connections were busy: the generator's limit, not an answer of the server. The server's own time starts when it reads a request; the rest of the client's latency is waiting the server cannot see (accept queue, socket buffers, epoll)."
} >"$REPORT"
mkdir -p "$BENCH/results"
cp "$REPORT" "$BENCH/results/overload-latest.md"
cat "$REPORT"
