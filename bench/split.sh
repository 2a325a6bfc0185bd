#!/usr/bin/env bash
# Split-topology benchmark of the Mitos binary, with wrk, in one run:
#   1. the gateway hop on GET /users/{id}: straight to the users process,
#      through the Mitos gateway process, and through nginx;
#   2. POST /orders: the monolith (one process) against the split services
#      (gateway -> orders -> users).
#
# Usage: bash bench/split.sh [--duration 10s] [--connections 64] [options]
# See --help. Results: stdout and bench/results/split-latest.md.
set -euo pipefail

BENCH_SCRIPT=split.sh
BENCH_LOG_TAG=split
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<'EOF'
Usage: bash bench/split.sh [options]

  --duration D       wrk duration per measured run (default 10s)
  --connections N    wrk connections (default 64)
  --threads N        wrk threads (default 2)
  --warmup D         unmeasured warm-up before each target's first run, 0 to skip (default 2s)
  --reps N           interleaved repetitions per target; medians are reported (default 3)
  --users N          users seeded for the gateway-hop section (default 100000)
  --order-users N    users seeded per topology for the POST /orders section (default 1000)
  --nginx-workers W  nginx worker_processes (default auto; see bench/README.md)
  --mitos PATH       Mitos binary (default build/mitos, relative to the repo root)
  -h, --help         this text

Needs: wrk, nginx (Debian nginx-light), sqlite3, jq, curl; apt-get installs
whichever is missing. Builds nothing: build the Mitos binary first.
EOF
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
WRK_DIR="$BENCH/wrk"
NGINX_TEMPLATE="$BENCH/nginx/users-proxy.conf.in"
RESULTS_DIR="$BENCH/results"

CMDLINE="bash bench/split.sh"
for a in "$@"; do CMDLINE+=" $(printf '%q' "$a")"; done

DURATION=10s
CONNS=64
THREADS=2
WARMUP=2s
REPS=3
USERS=100000
ORDER_USERS=1000
NGINX_WORKERS=auto
MITOS_ARG=build/mitos

while (($#)); do
  case "$1" in
    --duration) DURATION="${2:?--duration needs a value}"; shift 2 ;;
    --connections) CONNS="${2:?--connections needs a value}"; shift 2 ;;
    --threads) THREADS="${2:?--threads needs a value}"; shift 2 ;;
    --warmup) WARMUP="${2:?--warmup needs a value}"; shift 2 ;;
    --reps) REPS="${2:?--reps needs a value}"; shift 2 ;;
    --users) USERS="${2:?--users needs a value}"; shift 2 ;;
    --order-users) ORDER_USERS="${2:?--order-users needs a value}"; shift 2 ;;
    --nginx-workers) NGINX_WORKERS="${2:?--nginx-workers needs a value}"; shift 2 ;;
    --mitos) MITOS_ARG="${2:?--mitos needs a value}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "split.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done


[[ "$CONNS" =~ ^[1-9][0-9]*$ ]] || die "--connections takes one positive number, got '$CONNS'"
[[ "$REPS" =~ ^[1-9][0-9]*$ ]] || die "--reps takes a positive number, got '$REPS'"
[[ "$USERS" =~ ^[1-9][0-9]*$ && "$ORDER_USERS" =~ ^[1-9][0-9]*$ ]] || die "--users/--order-users take positive numbers"
[[ "$NGINX_WORKERS" == auto || "$NGINX_WORKERS" =~ ^[1-9][0-9]*$ ]] || die "--nginx-workers takes auto or a number"

log "command: $CMDLINE"

# --------------------------------------------------------------------------
# Prerequisites
# --------------------------------------------------------------------------
MITOS="$(resolve_mitos "$MITOS_ARG")"

need_cmd wrk
need_cmd sqlite3
need_cmd jq
need_cmd curl
# nginx lives in /usr/sbin, which a non-root PATH may lack.
NGINX="$(resolve_nginx)"
[[ -f "$NGINX_TEMPLATE" ]] || die "missing $NGINX_TEMPLATE"

# Settings from the caller's environment must not reach the services: the
# harness sets the remotes' URLs itself.
while IFS= read -r v; do
  [[ "$v" == MITOS_* ]] && { log "ignoring $v from the environment"; unset "$v"; }
done < <(compgen -e)

# --------------------------------------------------------------------------
# Process bookkeeping: every server, sampler and wrk is stopped on exit
# (cleanup in bench/lib.sh calls stop_all).
# --------------------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/mitos-split.XXXXXX")"
declare -A PID=() PORT=() DATA=() LOG=()
NGINX_WORKER_PIDS=""

kill_and_reap() { # kill_and_reap "PIDS": TERM, up to 3 s, then KILL
  local p alive
  for p in $1; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 300); do
    alive=0
    for p in $1; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    nap 0.01
  done
  for p in $1; do kill -KILL "$p" 2>/dev/null || true; done
  for p in $1; do { wait "$p"; } 2>/dev/null || true; done
}

stop_all() {
  local pids="$SAMPLER_PID $WRK_PID"
  for s in "${!PID[@]}"; do pids+=" ${PID[$s]}"; done
  if [[ -n "${PID[nginx]:-}" ]]; then
    pids+=" $(ps -o pid= --ppid "${PID[nginx]}" 2>/dev/null | tr '\n' ' ')"
  fi
  pids+=" $NGINX_WORKER_PIDS"
  kill_and_reap "$pids"
}
install_traps
open_sleep_fd

# ------------------------------------------------------------------------
# Services. Section 1 (gateway hop): users1 (seeded), orders1 (idle: the
# gateway needs an orders remote), gateway1, single1 (a second gateway
# whose calls never share a connection), nginx. Section 2 (POST
# /orders): mono, and users2 <- orders2 <- gateway2. svc_cmd fills CMD.
# ------------------------------------------------------------------------
mitos_cmd() { # mitos_cmd SERVICE [--modules=X]
  CMD+=("$MITOS" --host 127.0.0.1 --port "${PORT[$1]}" --data-dir "${DATA[$1]}"
        --log-level warn --set shutdown.drain_delay_ms=0 "${@:2}")
}
svc_cmd() { # svc_cmd SERVICE
  local s="$1" n="${1: -1}"
  CMD=()
  case "$s" in
    users?) mitos_cmd "$s" --modules=users ;;
    orders?)
      CMD=(env "MITOS_REMOTES__USERS__URL=http://127.0.0.1:${PORT[users$n]}")
      mitos_cmd "$s" --modules=orders ;;
    gateway?|single?)
      CMD=(env "MITOS_REMOTES__USERS__URL=http://127.0.0.1:${PORT[users$n]}"
               "MITOS_REMOTES__ORDERS__URL=http://127.0.0.1:${PORT[orders$n]}")
      if [[ "$s" == single? ]]; then
        mitos_cmd "$s" --modules=gateway --set remote.pipeline_max=1
      else
        mitos_cmd "$s" --modules=gateway
      fi ;;
    mono) mitos_cmd "$s" ;;
    nginx)
      CMD=("$NGINX" -p "${DATA[nginx]}/" -c "${DATA[nginx]}/nginx.conf"
           -e "${DATA[nginx]}/error.log" -g 'daemon off;') ;;
  esac
}

new_service() { # new_service SERVICE: work paths and a port
  DATA[$1]="$WORK/$1"
  LOG[$1]="$WORK/$1.log"
  mkdir -p "${DATA[$1]}"
  : >"${LOG[$1]}"
  PORT[$1]="$(free_port "${PORT[*]}")"
}

start_service() { # start_service SERVICE: spawn, then poll GET /readyz until 200
  local s="$1" t0 pid
  svc_cmd "$s"
  t0="$(now_us)"
  "${CMD[@]}" >>"${LOG[$s]}" 2>&1 &
  pid=$!
  PID[$s]="$pid"
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      PID[$s]=""
      { wait "$pid"; } 2>/dev/null || true
      echo "split.sh: $s exited during start; its log:" >&2
      tail -n 30 "${LOG[$s]}" >&2
      [[ "$s" == nginx ]] && tail -n 30 "${DATA[nginx]}/error.log" >&2
      exit 1
    fi
    http_status "${PORT[$s]}" /readyz 2>/dev/null || true
    [[ "$HTTP_CODE" == 200 ]] && break
    (( $(now_us) - t0 > 30000000 )) && die "$s not ready after 30 s (log: ${LOG[$s]})"
    nap 0.005
  done
  curl -fsS -o /dev/null "http://127.0.0.1:${PORT[$s]}/readyz" ||
    die "$s: /readyz answered the poll but not curl"
  log "$s: ready on 127.0.0.1:${PORT[$s]} (pid $pid) in $(( ($(now_us) - t0) / 1000 )) ms"
}

stop_service() { # stop_service SERVICE
  local s="$1" pids="${PID[$1]:-}"
  [[ -n "$pids" ]] || return 0
  if [[ "$s" == nginx ]]; then
    pids+=" $(ps -o pid= --ppid "${PID[nginx]}" 2>/dev/null | tr '\n' ' ') $NGINX_WORKER_PIDS"
    NGINX_WORKER_PIDS=""
  fi
  kill_and_reap "$pids"
  PID[$s]=""
}

# CPU time (user + system, in clock ticks) of PIDS, from /proc/PID/stat.
CLK_TCK="$(getconf CLK_TCK)"
cpu_ticks() { # cpu_ticks "PIDS"
  local p s t=0 f
  for p in $1; do
    { read -r s <"/proc/$p/stat"; } 2>/dev/null || continue
    s="${s##*) }"
    read -ra f <<<"$s"
    t=$((t + f[11] + f[12]))
  done
  printf '%s' "$t"
}
# Busy and total jiffies of the whole machine, from /proc/stat.
machine_ticks() {
  local _c u n sy id io irq sirq st _rest
  read -r _c u n sy id io irq sirq st _rest </proc/stat
  printf '%s %s' "$((u + n + sy + irq + sirq + st))" "$((u + n + sy + id + io + irq + sirq + st))"
}
# Children's CPU time of this shell in ms, from bash's `times` (its second
# line: user and system time of the reaped children). Run in this shell, not
# in $(...): a forked subshell starts with zeroed children's times.
to_ms() { local m="${1%%m*}" s="${1#*m}"; s="${s%s}"; awk -v m="$m" -v s="$s" 'BEGIN { printf "%d", (m * 60 + s) * 1000 }'; }
CHILD_MS=0
children_cpu_ms() { # -> CHILD_MS
  local cu cs
  times >"$WORK/times"
  { read -r _ _; read -r cu cs; } <"$WORK/times"
  CHILD_MS=$(( $(to_ms "$cu") + $(to_ms "$cs") ))
}

# ------------------------------------------------------------------------
# Seeding, as bench/run.sh does it: the service creates and migrates its
# schema on a first start, is stopped, and N users are bulk-inserted with
# sqlite3 in one transaction (User N, userN@example.com, ids 1..N;
# find_users_db, seed_users: bench/lib.sh).
# ------------------------------------------------------------------------
prepare_seeded() { # prepare_seeded SERVICE COUNT: first start, stop, seed
  local s="$1" db t0
  start_service "$s"
  stop_service "$s"
  db="$(find_users_db "${DATA[$s]}")" || die "$s: no SQLite file with a users table under ${DATA[$s]}"
  t0="$(now_us)"
  seed_users "$db" "$s" "$2"
  log "$s: seeded $2 users into $(basename "$db") in $(( ($(now_us) - t0) / 1000 )) ms"
}

render_nginx() {
  local user_line="# (not root: nginx runs as the invoking user)"
  # As root, nginx's workers would switch to nobody, who cannot enter the
  # mktemp work dir; keep them as the current user instead.
  ((EUID == 0)) && user_line="user $(id -un) $(id -gn);"
  mkdir -p "${DATA[nginx]}/tmp" "${DATA[nginx]}/logs"
  sed -e "s|@USER_LINE@|$user_line|" \
      -e "s|@WORKERS@|$NGINX_WORKERS|" \
      -e "s|@PREFIX@|${DATA[nginx]}|g" \
      -e "s|@PORT@|${PORT[nginx]}|" \
      -e "s|@UPSTREAM_PORT@|${PORT[users1]}|" \
      "$NGINX_TEMPLATE" >"${DATA[nginx]}/nginx.conf"
  ! grep -q '@[A-Z_]*@' "${DATA[nginx]}/nginx.conf" || die "unrendered placeholder in nginx.conf"
  "$NGINX" -t -q -p "${DATA[nginx]}/" -c "${DATA[nginx]}/nginx.conf" -e "${DATA[nginx]}/error.log" >&2 ||
    die "nginx -t rejected ${DATA[nginx]}/nginx.conf"
}

# ------------------------------------------------------------------------
# wrk runs. A target is a name; target_setup fills its URL, script
# arguments, the pids whose RSS is sampled and the CPU roles.
# ------------------------------------------------------------------------
ROWS="$WORK/rows.tsv"   # section target rep rps p50 p99 errors non_ok rss_mib
CPU_ROWS="$WORK/cpu.tsv" # section target rep role cpu_pct cpu_us_per_request
: >"$ROWS"
: >"$CPU_ROWS"
declare -A ROLE_PIDS=()
ROLES=()
target_setup() { # target_setup TARGET
  ROLE_PIDS=()
  case "$1" in
    direct) T_PORT="${PORT[users1]}"; T_RSS=""
      ROLES=(users); ROLE_PIDS[users]="${PID[users1]}" ;;
    gateway) T_PORT="${PORT[gateway1]}"; T_RSS="${PID[gateway1]}"
      ROLES=(users gateway); ROLE_PIDS[users]="${PID[users1]}"; ROLE_PIDS[gateway]="${PID[gateway1]}" ;;
    single) T_PORT="${PORT[single1]}"; T_RSS="${PID[single1]}"
      ROLES=(users gateway); ROLE_PIDS[users]="${PID[users1]}"; ROLE_PIDS[gateway]="${PID[single1]}" ;;
    nginx) T_PORT="${PORT[nginx]}"; T_RSS="${PID[nginx]} $NGINX_WORKER_PIDS"
      ROLES=(users nginx); ROLE_PIDS[users]="${PID[users1]}"; ROLE_PIDS[nginx]="${PID[nginx]} $NGINX_WORKER_PIDS" ;;
    monolith) T_PORT="${PORT[mono]}"; T_RSS="${PID[mono]}"
      ROLES=(mitos); ROLE_PIDS[mitos]="${PID[mono]}" ;;
    split) T_PORT="${PORT[gateway2]}"; T_RSS="${PID[gateway2]} ${PID[orders2]} ${PID[users2]}"
      ROLES=(gateway orders users)
      ROLE_PIDS[gateway]="${PID[gateway2]}"; ROLE_PIDS[orders]="${PID[orders2]}"; ROLE_PIDS[users]="${PID[users2]}" ;;
  esac
  case "$1" in
    direct|gateway|single|nginx) T_ARGS=(-s "$WRK_DIR/get_user.lua" "http://127.0.0.1:$T_PORT" -- "$USERS") ;;
    monolith|split) T_ARGS=(-s "$WRK_DIR/post_order.lua" "http://127.0.0.1:$T_PORT" -- "$ORDER_USERS") ;;
  esac
}

run_wrk() { # run_wrk DURATION OUTFILE (uses T_ARGS); in the background so a signal is handled at once
  local rc=0
  wrk_run "$CONNS" "$1" "$2" "${T_ARGS[@]}" || rc=$?
  ((rc == 0)) || { cat "$2" >&2; die "wrk failed (status $rc): wrk ${T_ARGS[*]}"; }
  wrk_check "$2"
}

declare -A WARMED=()
measure() { # measure SECTION TARGET REP
  local sec="$1" t="$2" rep="$3" out="$WORK/wrk-$2-$3.txt" rssf="$WORK/rss-$2-$3"
  target_setup "$t"
  if [[ "$WARMUP" != 0 && -z "${WARMED[$t]:-}" ]]; then
    run_wrk "$WARMUP" "$out"
    WARMED[$t]=1
  fi
  declare -A c0=()
  local r m0 m1 w0 w1 t0 t1
  echo 0 >"$rssf"
  [[ -n "$T_RSS" ]] && start_sampler "$T_RSS" "$rssf"
  for r in "${ROLES[@]}"; do c0[$r]="$(cpu_ticks "${ROLE_PIDS[$r]}")"; done
  m0="$(machine_ticks)"
  children_cpu_ms; w0=$CHILD_MS
  t0="$(now_us)"
  run_wrk "$DURATION" "$out"
  t1="$(now_us)"
  children_cpu_ms; w1=$CHILD_MS
  m1="$(machine_ticks)"
  local secs
  secs="$(awk -v d="$((t1 - t0))" 'BEGIN { printf "%.6f", d / 1e6 }')"
  declare -A pct=()
  for r in "${ROLES[@]}"; do
    pct[$r]="$(awk -v a="${c0[$r]}" -v b="$(cpu_ticks "${ROLE_PIDS[$r]}")" -v hz="$CLK_TCK" -v s="$secs" \
      'BEGIN { printf "%.0f", (b - a) / hz / s * 100 }')"
  done
  pct[wrk]="$(awk -v a="$w0" -v b="$w1" -v s="$secs" 'BEGIN { printf "%.0f", (b - a) / 1000 / s * 100 }')"
  pct[machine]="$(awk -v a="$m0" -v b="$m1" 'BEGIN { split(a, x, " "); split(b, y, " "); if (y[2] > x[2]) printf "%.0f", (y[1] - x[1]) / (y[2] - x[2]) * 100; else print 0 }')"
  stop_sampler
  local peak
  peak="$(peak_rss_kib "$rssf" "$T_RSS")"
  local rps p50 p99 errs non201 created
  read -r rps p50 p99 errs non201 created < <(wrk_fields "$out" rps p50_ms p99_ms errors non201 created)
  [[ "$sec" == orders ]] || non201=0
  printf '%s\t%s\t%s\t%.1f\t%.3f\t%.3f\t%s\t%s\t%s\n' "$sec" "$t" "$rep" "$rps" "$p50" "$p99" "$errs" "$non201" \
    "$( [[ -n "$T_RSS" ]] && mib "$peak" || echo -)" >>"$ROWS"
  # CPU per process as % of one core, and as CPU microseconds per request
  # (less sensitive to the machine's other load than req/s).
  local cpu_line="" us
  for r in "${ROLES[@]}" wrk; do
    us="$(awk -v p="${pct[$r]}" -v q="$rps" 'BEGIN { if (q > 0) printf "%.0f", p / 100 * 1e6 / q; else print "n/a" }')"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$sec" "$t" "$rep" "$r" "${pct[$r]}" "$us" >>"$CPU_ROWS"
    cpu_line+=" $r ${pct[$r]}% (${us} us/req)"
  done
  printf '%s\t%s\t%s\t%s\t%s\t-\n' "$sec" "$t" "$rep" machine "${pct[machine]}" >>"$CPU_ROWS"
  cpu_line+=", machine busy ${pct[machine]}%"
  local extra=""
  [[ "$sec" == orders ]] && extra=", 201s $created, non-201 $non201"
  log "$sec rep $rep $t: $(printf '%.0f' "$rps") req/s, p50 $p50 ms, p99 $p99 ms, errors $errs$extra; CPU:$cpu_line"
}

med() { # med SECTION TARGET COLUMN(1-based in rows.tsv)
  awk -F'\t' -v a="$1" -v b="$2" -v k="$3" '$1 == a && $2 == b { print $k }' "$ROWS" | median
}
med_cpu() { # med_cpu SECTION TARGET ROLE [COLUMN: 5 = % of a core (default), 6 = us per request]
  awk -F'\t' -v a="$1" -v b="$2" -v r="$3" -v k="${4:-5}" '$1 == a && $2 == b && $4 == r { print $k }' "$CPU_ROWS" | median
}
all_runs() { # all_runs SECTION TARGET COLUMN -> "v1 / v2 / v3" in run order
  awk -F'\t' -v a="$1" -v b="$2" -v k="$3" '$1 == a && $2 == b { printf "%s%s", (n++ ? " / " : ""), $k }' "$ROWS"
}
calc() { awk "BEGIN { $1 }"; }

# ------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------
log "work dir: $WORK"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
T_START="$(now_us)"

# Section 1: the gateway hop.
for s in users1 orders1 gateway1 single1 nginx; do new_service "$s"; done
prepare_seeded users1 "$USERS"
start_service users1
start_service orders1
start_service gateway1
start_service single1
render_nginx
start_service nginx
NGINX_WORKER_PIDS="$(ps -o pid= --ppid "${PID[nginx]}" | tr '\n' ' ')"
log "nginx: master ${PID[nginx]}, workers $NGINX_WORKER_PIDS(worker_processes $NGINX_WORKERS)"

# The three paths answer the same thing.
probe_id=$(( (USERS + 1) / 2 ))
want="$(curl -fsS "http://127.0.0.1:${PORT[users1]}/users/$probe_id")" || die "direct GET /users/$probe_id failed"
for s in gateway1 single1 nginx; do
  got="$(curl -fsS "http://127.0.0.1:${PORT[$s]}/users/$probe_id")" || die "GET /users/$probe_id through $s failed"
  [[ "$got" == "$want" ]] || die "GET /users/$probe_id through $s differs from direct: $got"
done

HOP_TARGETS=(direct gateway nginx single)
for rep in $(seq "$REPS"); do
  for t in "${HOP_TARGETS[@]}"; do measure hop "$t" "$rep"; done
done
for s in nginx single1 gateway1 orders1 users1; do stop_service "$s"; done

# Section 2: POST /orders, monolith against split.
for s in mono users2 orders2 gateway2; do new_service "$s"; done
prepare_seeded mono "$ORDER_USERS"
prepare_seeded users2 "$ORDER_USERS"
start_service mono
start_service users2
start_service orders2
start_service gateway2
probe='{"user_id":1,"items":[{"sku":"PROBE-1","quantity":1,"unit_price_cents":100}]}'
for s in mono gateway2; do
  code="$(curl -sS -o "$WORK/probe-$s.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    -d "$probe" "http://127.0.0.1:${PORT[$s]}/orders")" || die "POST /orders to $s failed"
  [[ "$code" == 201 ]] || die "POST /orders to $s answered $code: $(cat "$WORK/probe-$s.json")"
done

ORDER_TARGETS=(monolith split)
for rep in $(seq "$REPS"); do
  for t in "${ORDER_TARGETS[@]}"; do measure orders "$t" "$rep"; done
done
declare -A ORDER_COUNT=()
ORDER_COUNT[monolith]="$(sqlite3 -readonly "${DATA[mono]}/orders.db" 'PRAGMA busy_timeout=5000; SELECT count(*) FROM orders' 2>/dev/null | tail -n 1 || echo '?')"
ORDER_COUNT[split]="$(sqlite3 -readonly "${DATA[orders2]}/orders.db" 'PRAGMA busy_timeout=5000; SELECT count(*) FROM orders' 2>/dev/null | tail -n 1 || echo '?')"
for s in gateway2 orders2 users2 mono; do stop_service "$s"; done
ELAPSED_S=$(( ($(now_us) - T_START) / 1000000 ))

# ------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------
verdict() { # verdict VALUE OP LIMIT -> PASS or FAIL (n/a fails)
  awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
    if (v == "n/a") { print "FAIL"; exit }
    ok = (op == "<=") ? (v + 0 <= l + 0) : (v + 0 >= l + 0)
    print ok ? "PASS" : "FAIL" }'
}
label() {
  case "$1" in
    direct) echo '(a) direct to users' ;;
    gateway) echo '(b) via Mitos gateway' ;;
    single) echo '(d) via Mitos gateway, a connection per call (remote.pipeline_max=1)' ;;
    nginx) echo '(c) via nginx' ;;
    monolith) echo 'monolith (1 process)' ;;
    split) echo 'split (gateway -> orders -> users)' ;;
  esac
}
cpu_cell() { # cpu_cell SECTION TARGET COLUMN: median per role (5: CPU %, 6: CPU us per request)
  local sec="$1" t="$2" k="$3" r out=""
  target_setup "$t"
  for r in "${ROLES[@]}" wrk; do out+="${out:+, }$r $(med_cpu "$sec" "$t" "$r" "$k")"; done
  ((k == 5)) && out+="; machine busy $(med_cpu "$sec" "$t" machine)%"
  printf '%s' "$out"
}

P50_D="$(med hop direct 5)"; P50_G="$(med hop gateway 5)"; P50_N="$(med hop nginx 5)"
RPS_D="$(med hop direct 4)"; RPS_G="$(med hop gateway 4)"; RPS_N="$(med hop nginx 4)"
OVH_G="$(calc "printf \"%.3f\", $P50_G - $P50_D")"
OVH_N="$(calc "printf \"%.3f\", $P50_N - $P50_D")"
OVH_RATIO="$(calc "if ($OVH_N > 0) printf \"%.2f\", $OVH_G / $OVH_N; else print \"n/a\"")"
THRU_PCT="$(calc "if ($RPS_D > 0) printf \"%.1f\", $RPS_G / $RPS_D * 100; else print \"n/a\"")"
NGINX_PCT="$(calc "if ($RPS_D > 0) printf \"%.1f\", $RPS_N / $RPS_D * 100; else print \"n/a\"")"
RPS_1="$(med hop single 4)"; P50_1="$(med hop single 5)"
SINGLE_PCT="$(calc "if ($RPS_D > 0) printf \"%.1f\", $RPS_1 / $RPS_D * 100; else print \"n/a\"")"
OVH_1="$(calc "printf \"%.3f\", $P50_1 - $P50_D")"
RPS_M="$(med orders monolith 4)"; RPS_S="$(med orders split 4)"
ORD_RATIO="$(calc "if ($RPS_S > 0) printf \"%.2f\", $RPS_M / $RPS_S; else print \"n/a\"")"
P50_RATIO="$(calc "if ($(med orders monolith 5) > 0) printf \"%.2f\", $(med orders split 5) / $(med orders monolith 5); else print \"n/a\"")"

REPORT="$WORK/report.md"
{
  echo "# Mitos split topology: gateway hop and POST /orders"
  echo
  echo "Command: \`$CMDLINE\`"
  echo
  echo "Date: $(date -u +%Y-%m-%dT%H:%M:%SZ). Machine: $(nproc) cores, $(uname -m). wrk $(wrk -v 2>&1 | head -n 1 | awk '{print $2}'), nginx $("$NGINX" -v 2>&1 | sed 's|.*/||'), Mitos \`$MITOS_ARG\` $("$MITOS" --version 2>/dev/null | head -n 1 || true)."
  echo "Load average (1/5/15 min) before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg). wrk, every server and anything else on the machine share its cores."
  echo "wrk -t$THREADS -c$CONNS -d$DURATION --latency on loopback; $REPS interleaved repetitions per target, each cell the median over them; warm-up $WARMUP before each target's first run (not measured). Total time ${ELAPSED_S} s."
  echo
  echo "## 1. Gateway hop: GET /users/{id}"
  echo
  echo "One users process with $USERS seeded users, random id per request (\`wrk/get_user.lua\`). nginx: worker_processes $NGINX_WORKERS, upstream keepalive 64 (\`bench/nginx/users-proxy.conf.in\`); Mitos gateway: defaults (remote.pool_max_idle 64, remote.pipeline_max 8); (d) is a second gateway process with remote.pipeline_max=1, for reference."
  echo
  echo "| path | req/s | p50 ms | p99 ms | errors | proxy peak RSS MiB | CPU % (100 = one core) | CPU us per request |"
  echo "|---|---:|---:|---:|---:|---:|---|---|"
  for t in "${HOP_TARGETS[@]}"; do
    echo "| $(label "$t") | $(calc "printf \"%.0f\", $(med hop "$t" 4)") | $(med hop "$t" 5) | $(med hop "$t" 6) | $(med hop "$t" 7) | $(med hop "$t" 9) | $(cpu_cell hop "$t" 5) | $(cpu_cell hop "$t" 6) |"
  done
  echo
  echo "| derived (from the medians) | value | target | result |"
  echo "|---|---:|---|---|"
  echo "| gateway p50 overhead = p50(b) - p50(a) | $OVH_G ms | | |"
  echo "| nginx p50 overhead = p50(c) - p50(a) | $OVH_N ms | | |"
  echo "| gateway overhead / nginx overhead | $OVH_RATIO | <= 1.5 | $(verdict "$OVH_RATIO" '<=' 1.5) |"
  echo "| gateway req/s as % of direct | $THRU_PCT% | >= 60% | $(verdict "$THRU_PCT" '>=' 60) |"
  echo "| (reference) nginx req/s as % of direct | $NGINX_PCT% | | |"
  echo "| (reference) gateway with a connection per call: req/s as % of direct, p50 overhead | $SINGLE_PCT%, $OVH_1 ms | | |"
  echo
  echo "## 2. POST /orders: monolith vs split"
  echo
  echo "Fresh data dirs, $ORDER_USERS seeded users per topology; each order for a random existing user with 1-3 items (\`wrk/post_order.lua\`)."
  echo
  echo "| topology | req/s | p50 ms | p99 ms | errors | non-201 | peak RSS MiB (all processes) | CPU % (100 = one core) | CPU us per request |"
  echo "|---|---:|---:|---:|---:|---:|---:|---|---|"
  for t in "${ORDER_TARGETS[@]}"; do
    echo "| $(label "$t") | $(calc "printf \"%.0f\", $(med orders "$t" 4)") | $(med orders "$t" 5) | $(med orders "$t" 6) | $(med orders "$t" 7) | $(med orders "$t" 8) | $(med orders "$t" 9) | $(cpu_cell orders "$t" 5) | $(cpu_cell orders "$t" 6) |"
  done
  echo
  echo "| derived (from the medians) | value | target | result |"
  echo "|---|---:|---|---|"
  echo "| req/s monolith / split | $ORD_RATIO | >= 1.5 | $(verdict "$ORD_RATIO" '>=' 1.5) |"
  echo "| p50 split / monolith | $P50_RATIO | | |"
  echo
  echo "Orders stored after the runs (incl. warm-up and one probe each): monolith ${ORDER_COUNT[monolith]}, split ${ORDER_COUNT[split]}."
  echo
  echo "## Every run (in run order)"
  echo
  echo "| section | target | req/s | p50 ms | p99 ms |"
  echo "|---|---|---|---|---|"
  for t in "${HOP_TARGETS[@]}"; do
    echo "| hop | $t | $(all_runs hop "$t" 4) | $(all_runs hop "$t" 5) | $(all_runs hop "$t" 6) |"
  done
  for t in "${ORDER_TARGETS[@]}"; do
    echo "| orders | $t | $(all_runs orders "$t" 4) | $(all_runs orders "$t" 5) | $(all_runs orders "$t" 6) |"
  done
  echo
  echo "Errors: wrk connect/read/write/timeout errors plus responses >= 400. CPU: user+system time of each process (nginx: master and workers) over the run from /proc/PID/stat, wrk's from the shell's reaped-children times; machine: busy share of all cores from /proc/stat; us per request = that CPU time / requests served. Peak RSS: max of the summed VmRSS sampled every 100 ms."
} >"$REPORT"

mkdir -p "$RESULTS_DIR"
cp "$REPORT" "$RESULTS_DIR/split-latest.md"
cat "$REPORT"
log "report written to bench/results/split-latest.md"
