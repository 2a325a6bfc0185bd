#!/usr/bin/env bash
# Mitos' users module on PostgreSQL, side by side with wrk, in one run:
#
#   mitos-pg      `mitos --modules=users` with its storage in PostgreSQL
#   mitos-sqlite  the same binary on its default SQLite file, for reference
#   go            bench/peers/go-pgx (net/http + pgx v4) on the same server
#
# GET /users/{id} (random ids over the seeded users) and POST /users. The
# servers take turns repetition by repetition, so drift on a noisy machine
# hits all alike; medians of the repetitions are reported, with the CPU per
# request spent in the server process and in PostgreSQL, and the ratios
# mitos-pg / go.
#
# Usage: bash bench/postgres.sh [options]; see --help.
# Results: stdout and bench/results/postgres-latest.md.
set -euo pipefail

BENCH_SCRIPT=postgres.sh
BENCH_LOG_TAG=pg
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<'EOF'
Usage: bash bench/postgres.sh [options]

  --mitos PATH       the Mitos binary (default build/mitos)
  --duration D       wrk duration per measured run (default 10s)
  --warmup D         unmeasured run per server and scenario (default 2s)
  --connections N    wrk connections (default 64)
  --threads N        wrk threads (default 2)
  --reps N           repetitions per server and scenario (default 5)
  --users N          users seeded into each server's database (default 100000)
  --pool N           PostgreSQL connections per server: Mitos'
                     users.storage.pool_max and the peer's -pool (default 8)
  --set KEY=VALUE    a config setting for both Mitos servers (repeatable),
                     e.g. --set server.io_threads=4
  -h, --help         this text

Starts its own PostgreSQL 15 (tests/support/postgres.sh) on a free loopback
port, builds the Go peer (Debian's golang-go and pgx v4, no module
downloads), and stops everything on exit. Needs: wrk, psql, sqlite3, jq,
curl, PostgreSQL 15, go with pgx v4; apt-get installs whichever is missing.
Builds nothing on the C++ side.
EOF
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
WRK_DIR="$BENCH/wrk"
PEER_DIR="$BENCH/peers/go-pgx"
PG_SH="$ROOT/tests/support/postgres.sh"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
CMDLINE="bash bench/postgres.sh"
for a in "$@"; do CMDLINE+=" $(printf '%q' "$a")"; done

MITOS_ARG=build/mitos
DURATION=10s
WARMUP=2s
CONNS=64
THREADS=2
REPS=5
USERS=100000
POOL=8
MITOS_SETS=()
while (($#)); do
  case "$1" in
    --mitos) MITOS_ARG="${2:?--mitos needs a value}"; shift 2 ;;
    --duration) DURATION="${2:?--duration needs a value}"; shift 2 ;;
    --warmup) WARMUP="${2:?--warmup needs a value}"; shift 2 ;;
    --connections) CONNS="${2:?--connections needs a value}"; shift 2 ;;
    --threads) THREADS="${2:?--threads needs a value}"; shift 2 ;;
    --reps) REPS="${2:?--reps needs a value}"; shift 2 ;;
    --users) USERS="${2:?--users needs a value}"; shift 2 ;;
    --pool) POOL="${2:?--pool needs a value}"; shift 2 ;;
    --set) MITOS_SETS+=(--set "${2:?--set needs KEY=VALUE}"); shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "postgres.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$REPS" =~ ^[1-9][0-9]*$ ]] || die "--reps takes a positive number, got '$REPS'"
[[ "$USERS" =~ ^[1-9][0-9]*$ ]] || die "--users takes a positive number, got '$USERS'"
[[ "$POOL" =~ ^[1-9][0-9]*$ ]] || die "--pool takes a positive number, got '$POOL'"

# --------------------------------------------------------------------------
# Prerequisites
# --------------------------------------------------------------------------
for c in wrk sqlite3 jq curl; do need_cmd "$c"; done
need_cmd psql postgresql-client
[[ -x "$PG_BIN/initdb" ]] || apt_install postgresql-15
[[ -x "$PG_BIN/initdb" ]] || die "PostgreSQL 15 not found in $PG_BIN (set PG_BIN)"
need_cmd go golang-go
GO_PATH=/usr/share/gocode
[[ -d "$GO_PATH/src/github.com/jackc/pgx/v4/pgxpool" ]] || apt_install golang-github-jackc-pgx-v4-dev
MITOS="$(resolve_mitos "$MITOS_ARG")"
log "command: $CMDLINE"

# The servers get their settings from this script alone.
while IFS= read -r v; do unset "$v"; done < <(compgen -e | grep '^MITOS_' || true)

WORK="$(mktemp -d "${TMPDIR:-/tmp}/mitos-pgbench.XXXXXX")"
SERVERS=(mitos-pg mitos-sqlite go)
declare -A PID=() PORT=() DATA=() URL=()
PG_STATE="$WORK/pg.state"
PG_UP=0
stop_all() {
  [[ -n "$WRK_PID" ]] && kill "$WRK_PID" 2>/dev/null
  for s in "${!PID[@]}"; do
    [[ -n "${PID[$s]}" ]] && kill -KILL "${PID[$s]}" 2>/dev/null && { wait "${PID[$s]}"; } 2>/dev/null
  done
  ((PG_UP)) && bash "$PG_SH" stop "$PG_STATE" >/dev/null 2>&1
}
install_traps
open_sleep_fd

log "building the Go peer (GO111MODULE=off, GOPATH=$GO_PATH)"
(cd "$PEER_DIR" && GO111MODULE=off GOPATH="$GO_PATH" GOFLAGS='' go build -o "$WORK/go-pgx" .) ||
  die "the Go peer did not build"

# --------------------------------------------------------------------------
# PostgreSQL: one cluster, a database and a role per PostgreSQL server, as
# docs/deploy.md sets a module up (the role owns its database, is no
# superuser, and PUBLIC may not connect).
# --------------------------------------------------------------------------
PG_PORT="$(free_port)"
PG_PW="bench-$RANDOM$RANDOM"
log "PostgreSQL 15 on 127.0.0.1:$PG_PORT"
PG_UP=1
bash "$PG_SH" start "$PG_STATE" "$PG_PORT" "$PG_PW" >&2
PG_DATA="$(cat "$PG_STATE")/data"
ADMIN_URL="postgresql://postgres:$PG_PW@127.0.0.1:$PG_PORT/postgres"
pg_admin() { psql -X -q -v ON_ERROR_STOP=1 "$ADMIN_URL" "$@" >/dev/null; }

create_db() { # create_db NAME -> sets URL[server] via the caller
  local name="$1" pw="pw$RANDOM$RANDOM$RANDOM"
  pg_admin -c "CREATE ROLE $name LOGIN PASSWORD '$pw'"
  pg_admin -c "CREATE DATABASE $name OWNER $name"
  pg_admin -c "REVOKE CONNECT ON DATABASE $name FROM PUBLIC"
  pg_admin -c "GRANT CONNECT ON DATABASE $name TO $name"
  # PostgreSQL 15 gives PUBLIC no CREATE on schema public; the owner of the
  # database needs it for its tables.
  psql -X -q -v ON_ERROR_STOP=1 "postgresql://postgres:$PG_PW@127.0.0.1:$PG_PORT/$name" \
    -c "ALTER SCHEMA public OWNER TO $name" >/dev/null
  printf 'postgresql://%s:%s@127.0.0.1:%s/%s' "$name" "$pw" "$PG_PORT" "$name"
}
URL[mitos-pg]="$(create_db bench_mitos)"
URL[go]="$(create_db bench_go)"

# seed_pg SERVER: COUNT users (User N, userN@example.com, ids 1..COUNT, the
# timestamps bench/lib.sh seeds SQLite with) into the server's empty table,
# in one statement; dies unless count(*) and max(id) are then both COUNT.
seed_pg() {
  local s="$1" got
  got="$(psql -X -q -At -v ON_ERROR_STOP=1 "${URL[$s]}" <<SQL
DO \$\$ BEGIN
  IF EXISTS (SELECT 1 FROM users) THEN RAISE EXCEPTION 'users not empty before seeding'; END IF;
END \$\$;
INSERT INTO users (name, email, created_at, updated_at)
  SELECT 'User ' || n, 'user' || n || '@example.com', '$SEED_TS', '$SEED_TS'
  FROM generate_series(1, $USERS) AS n ORDER BY n;
ANALYZE users;
SELECT count(*) || '/' || max(id) FROM users;
SQL
)" || die "$s: seeding failed"
  [[ "$got" == "$USERS/$USERS" ]] || die "$s: seeding gave count/max(id) = $got, wanted $USERS/$USERS"
}

# --------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------
server_cmd() { # server_cmd SERVER: fills CMD
  local mitos=("$MITOS" --config "$BENCH/mitos-bench.yaml" --modules=users
               --data-dir "${DATA[$1]}" --port "${PORT[$1]}" "${MITOS_SETS[@]}")
  case "$1" in
    mitos-pg)
      CMD=(env MITOS_USERS__STORAGE__BACKEND=postgres "MITOS_USERS__STORAGE__URL=${URL[mitos-pg]}"
           "${mitos[@]}" --set "users.storage.pool_max=$POOL") ;;
    mitos-sqlite) CMD=("${mitos[@]}") ;;
    go) CMD=("$WORK/go-pgx" -addr "127.0.0.1:${PORT[go]}" -db "${URL[go]}" -pool "$POOL") ;;
  esac
}
start() { # start SERVER: waits for /readyz
  local s="$1" t0
  server_cmd "$s"
  "${CMD[@]}" >>"$WORK/$s.log" 2>&1 &
  PID[$s]=$!
  t0="$(now_us)"
  until http_status "${PORT[$s]}" /readyz 2>/dev/null && [[ "$HTTP_CODE" == 200 ]]; do
    kill -0 "${PID[$s]}" 2>/dev/null || { tail -n 30 "$WORK/$s.log" >&2; die "$s exited during start"; }
    (( $(now_us) - t0 < 30000000 )) || die "$s not ready after 30 s"
    nap 0.01
  done
}
stop() { # stop SERVER
  local s="$1"
  kill -TERM "${PID[$s]}" 2>/dev/null || true
  { wait "${PID[$s]}"; } 2>/dev/null || true
  PID[$s]=""
}

# Each server creates its schema on a first start (Mitos by its migrations,
# the peer by CREATE TABLE IF NOT EXISTS), is stopped, seeded and started.
for s in "${SERVERS[@]}"; do
  DATA[$s]="$WORK/$s-data"
  mkdir -p "${DATA[$s]}"
  PORT[$s]="$(free_port "$PG_PORT ${PORT[*]:-}")"
  start "$s"
  stop "$s"
  t0="$(now_us)"
  if [[ "$s" == mitos-sqlite ]]; then
    db="$(find_users_db "${DATA[$s]}")" || die "$s: no users database under its data dir"
    seed_users "$db" "$s" "$USERS"
  else
    seed_pg "$s"
  fi
  log "$s: seeded $USERS users in $(( ($(now_us) - t0) / 1000 )) ms"
  start "$s"
done
pg_admin -c CHECKPOINT
log "mitos: $MITOS ($("$MITOS" --version 2>/dev/null | head -n1)); go peer: $(go version)"

# The three serve the same user alike.
ref=""
for s in "${SERVERS[@]}"; do
  body="$(curl -fsS "http://127.0.0.1:${PORT[$s]}/users/$USERS")" || die "$s: GET /users/$USERS failed"
  if [[ -z "$ref" ]]; then ref="$body"
  elif [[ "$body" != "$ref" ]]; then die "$s answers GET /users/$USERS with $body, mitos-pg with $ref"; fi
done

# --------------------------------------------------------------------------
# CPU: user+system clock ticks from /proc. A server is one process (its
# threads included). PostgreSQL is the postmaster, its live children, and
# (cutime+cstime of the postmaster) every child that exited: backends of
# closed connections count too.
# --------------------------------------------------------------------------
CLK_TCK="$(getconf CLK_TCK)"
STAT=()
read_stat() { # read_stat PID: STAT = the fields of /proc/PID/stat after comm
  local line
  read -r line <"/proc/$1/stat" || return 1
  read -ra STAT <<<"${line##*) }"
}
proc_ticks() { # proc_ticks PID -> utime + stime
  read_stat "$1" 2>/dev/null || { printf '0'; return 0; }
  printf '%s' "$((STAT[11] + STAT[12]))"
}
pg_ticks() { # -> ticks of the whole cluster
  local pm c t kids=""
  read -r pm <"$PG_DATA/postmaster.pid"
  read_stat "$pm"
  t=$((STAT[11] + STAT[12] + STAT[13] + STAT[14]))
  if [[ -r "/proc/$pm/task/$pm/children" ]]; then
    read -r kids <"/proc/$pm/task/$pm/children" || true
  else
    for c in /proc/[0-9]*; do
      read_stat "${c#/proc/}" 2>/dev/null && [[ "${STAT[1]}" == "$pm" ]] && kids+=" ${c#/proc/}"
    done
  fi
  for c in $kids; do
    read_stat "$c" 2>/dev/null && t=$((t + STAT[11] + STAT[12]))
  done
  printf '%s' "$t"
}
# ctx_switches PID -> voluntary + involuntary context switches of all the
# process's threads (those alive now).
ctx_switches() {
  local t k v sum=0
  for t in /proc/"$1"/task/*; do
    while read -r k v; do
      [[ "$k" == voluntary_ctxt_switches: || "$k" == nonvoluntary_ctxt_switches: ]] && sum=$((sum + v))
    done <"$t/status" 2>/dev/null || true
  done
  printf '%s' "$sum"
}
# us_per_req TICKS REQUESTS -> CPU microseconds per request, one decimal
us_per_req() { awk -v t="$1" -v n="$2" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", n ? t * 1e6 / hz / n : 0 }'; }

# --------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------
RUN_TAG="$(date +%s | tail -c 6)$RANDOM"
ROWS="$WORK/rows.tsv"  # scenario server rep rps p50 p99 errors server_us pg_us server_cs
: >"$ROWS"
run() { # run SCENARIO SERVER REP [DURATION]
  local out="$WORK/wrk-$1-$2-$3.txt" args s0 p0 c0 s1 p1 c1 f
  case "$1" in
    get_user) args=(-s "$WRK_DIR/get_user.lua" "http://127.0.0.1:${PORT[$2]}" -- "$USERS") ;;
    post_user) args=(-s "$WRK_DIR/post_user.lua" "http://127.0.0.1:${PORT[$2]}" -- "$RUN_TAG$2$3") ;;
  esac
  s0="$(proc_ticks "${PID[$2]}")"; p0="$(pg_ticks)"; c0="$(ctx_switches "${PID[$2]}")"
  wrk_run "$CONNS" "${4:-$DURATION}" "$out" "${args[@]}" || { cat "$out" >&2; die "wrk failed"; }
  s1="$(proc_ticks "${PID[$2]}")"; p1="$(pg_ticks)"; c1="$(ctx_switches "${PID[$2]}")"
  wrk_check "$out"
  kill -0 "${PID[$2]}" 2>/dev/null || { tail -n 30 "$WORK/$2.log" >&2; die "$2 died during the run"; }
  read -r rps p50 p99 errs reqs < <(wrk_fields "$out" rps p50_ms p99_ms errors requests)
  f="$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$1" "$2" "$3" "$rps" "$p50" "$p99" "$errs" \
    "$(us_per_req $((s1 - s0)) "$reqs")" "$(us_per_req $((p1 - p0)) "$reqs")" \
    "$(awk -v c=$((c1 - c0)) -v n="$reqs" 'BEGIN { printf "%.2f", n ? c / n : 0 }')")"
  printf '%s\n' "$f" >>"$ROWS"
  log "$1 $2 rep $3: $(awk -F'\t' '{ printf "%.0f req/s, p50 %s ms, p99 %s ms, %s errors, CPU/req server %s us, postgres %s us, server context switches/req %s", $4, $5, $6, $7, $8, $9, $10 }' <<<"$f")"
}

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
n=${#SERVERS[@]}
for sc in get_user post_user; do
  if [[ "$WARMUP" != 0 && "$WARMUP" != 0s ]]; then
    for s in "${SERVERS[@]}"; do run "$sc" "$s" warm "$WARMUP"; done  # unmeasured
  fi
  for rep in $(seq "$REPS"); do
    # Rotate which server goes first, so none always runs right after the
    # same neighbour.
    for i in $(seq 0 $((n - 1))); do run "$sc" "${SERVERS[$(((i + rep - 1) % n))]}" "$rep"; done
  done
done
for s in "${SERVERS[@]}"; do stop "$s"; done

# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------
col() { # col SCENARIO SERVER COLUMN -> the median of that column over the reps
  awk -F'\t' -v sc="$1" -v s="$2" -v c="$3" '$1 == sc && $2 == s && $3 != "warm" { print $c }' "$ROWS" | median %.3f
}
errsum() { awk -F'\t' -v sc="$1" -v s="$2" '$1 == sc && $2 == s && $3 != "warm" { e += $7 } END { print e + 0 }' "$ROWS"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
label() { if [[ $1 == get_user ]]; then echo "GET /users/{id}"; else echo "POST /users"; fi; }
REPORT="$WORK/report.md"
{
  echo "# bench/postgres.sh: Mitos users on PostgreSQL, on SQLite, and a Go peer"
  echo
  echo "\`$CMDLINE\`, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, wrk -t$THREADS -c$CONNS -d$DURATION, $REPS repetitions, $USERS users, pool $POOL; medians."
  echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{ print $3 }') (fsync off), $(go version | awk '{ print $3 }') with pgx v4; mitos-pg and go each have a database of their own on the same cluster."
  echo
  echo "| scenario | server | req/s | p50 ms | p99 ms | errors | server CPU us/req | PostgreSQL CPU us/req | total CPU us/req | server context switches/req |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  for sc in get_user post_user; do
    for s in "${SERVERS[@]}"; do
      sv="$(col "$sc" "$s" 8)"; pv="$(col "$sc" "$s" 9)"
      printf '| %s | %s | %.0f | %.2f | %.2f | %s | %.1f | %.1f | %.1f | %.2f |\n' "$(label "$sc")" "$s" \
        "$(col "$sc" "$s" 4)" "$(col "$sc" "$s" 5)" "$(col "$sc" "$s" 6)" "$(errsum "$sc" "$s")" \
        "$sv" "$pv" "$(awk -v a="$sv" -v b="$pv" 'BEGIN { print a + b }')" "$(col "$sc" "$s" 10)"
    done
  done
  echo
  echo "| scenario | req/s mitos-pg / go | p50 mitos-pg / go | p99 mitos-pg / go | server CPU/req mitos-pg / go | PostgreSQL CPU/req mitos-pg / go | req/s mitos-pg / mitos-sqlite |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for sc in get_user post_user; do
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$(label "$sc")" \
      "$(ratio "$(col "$sc" mitos-pg 4)" "$(col "$sc" go 4)")" \
      "$(ratio "$(col "$sc" mitos-pg 5)" "$(col "$sc" go 5)")" \
      "$(ratio "$(col "$sc" mitos-pg 6)" "$(col "$sc" go 6)")" \
      "$(ratio "$(col "$sc" mitos-pg 8)" "$(col "$sc" go 8)")" \
      "$(ratio "$(col "$sc" mitos-pg 9)" "$(col "$sc" go 9)")" \
      "$(ratio "$(col "$sc" mitos-pg 4)" "$(col "$sc" mitos-sqlite 4)")"
  done
  echo
  echo "CPU per request is user+system time from /proc over each run divided by its requests: the server process (all its threads), and every process of the PostgreSQL cluster (postmaster, backends, background workers, exited backends included). mitos-sqlite uses no PostgreSQL; its column there shows the idle cluster. Context switches are those of all the server's threads (voluntary and involuntary, /proc/PID/task/*/status) per request."
  echo
  echo "Every run (req/s):"
  echo
  for sc in get_user post_user; do
    for s in "${SERVERS[@]}"; do
      echo "- $sc $s: $(awk -F'\t' -v sc="$sc" -v s="$s" '$1 == sc && $2 == s && $3 != "warm" { printf "%.0f ", $4 }' "$ROWS")"
    done
  done
  echo
  echo "Load average (1/5/15 min) before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg); wrk, the servers, PostgreSQL and anything else on the machine share its cores, so other load skews results."
} >"$REPORT"
mkdir -p "$BENCH/results"
cp "$REPORT" "$BENCH/results/postgres-latest.md"
cat "$REPORT"
