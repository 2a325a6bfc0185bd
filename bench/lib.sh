# shellcheck shell=bash
# Helpers shared by bench/run.sh and bench/split.sh. Sourced, never run:
#
#   BENCH_SCRIPT=run.sh     # name in die messages ("run.sh: ...")
#   BENCH_LOG_TAG=bench     # tag in log lines ("[bench 12:00:00] ...")
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Defines functions and a few globals only; it starts nothing. The sourcing
# script provides ROOT (the repo root), WORK (its temp dir, before
# install_traps), THREADS (wrk threads) and stop_all (see cleanup).

: "${BENCH_SCRIPT:?set BENCH_SCRIPT before sourcing bench/lib.sh}"
: "${BENCH_LOG_TAG:?set BENCH_LOG_TAG before sourcing bench/lib.sh}"

# log MSG...: timestamped progress line on stderr. die MSG...: error, exit 1.
log() { printf '[%s %s] %s\n' "$BENCH_LOG_TAG" "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '%s: %s\n' "$BENCH_SCRIPT" "$*" >&2; exit 1; }

# --------------------------------------------------------------------------
# Prerequisites
# --------------------------------------------------------------------------
# apt_install PKG...: apt-get install, running apt-get update once per run.
APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null || die "missing $* and no apt-get to install it"
  if ((APT_UPDATED == 0)); then
    log "apt-get update"
    apt-get update -qq >&2
    APT_UPDATED=1
  fi
  log "apt-get install -y $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}
# need_cmd CMD [DEB_PACKAGE]: install DEB_PACKAGE (default CMD) if CMD is missing.
need_cmd() {
  command -v "$1" >/dev/null || apt_install "${2:-$1}"
  command -v "$1" >/dev/null || die "could not install $1"
}

# resolve_nginx -> the nginx binary, installing Debian's nginx-light if
# there is none.
resolve_nginx() {
  local n
  n="$(command -v nginx || true)"
  [[ -z "$n" && -x /usr/sbin/nginx ]] && n=/usr/sbin/nginx
  if [[ -z "$n" ]]; then
    apt_install nginx-light >&2
    n="$(command -v nginx || true)"
    [[ -z "$n" && -x /usr/sbin/nginx ]] && n=/usr/sbin/nginx
    [[ -n "$n" ]] || die "could not install nginx-light"
  fi
  printf '%s' "$n"
}

# resolve_mitos PATH -> absolute path of the Mitos binary. A relative PATH is
# tried against $PWD, then the repo root; exits with build hints if missing.
resolve_mitos() {
  local p="$1" pad
  if [[ "$p" != /* ]]; then
    if [[ -e "$PWD/$p" ]]; then p="$PWD/$p"; else p="$ROOT/$p"; fi
  fi
  if [[ ! -x "$p" ]]; then
    printf -v pad '%*s' "$((${#BENCH_SCRIPT} + 2))" ''
    cat >&2 <<EOF
$BENCH_SCRIPT: Mitos binary not found or not executable: $1
$pad(looked for $p)
Build it first, from the repo root:
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j
or point --mitos at an existing binary.
EOF
    exit 1
  fi
  printf '%s' "$p"
}

# --------------------------------------------------------------------------
# Process bookkeeping
# --------------------------------------------------------------------------
SAMPLER_PID=""
WRK_PID=""

# cleanup: the EXIT trap. Keeps the exit status, calls the script's stop_all
# (which ends every process the script started), removes $WORK.
# install_traps: cleanup on EXIT; INT and TERM exit 130/143 through it.
cleanup() {
  local rc=$?
  set +e
  stop_all
  rm -rf "$WORK"
  exit "$rc"
}
install_traps() {
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# open_sleep_fd: opens SLEEP_FD, a file descriptor that never has data:
# `read -t` on it sleeps without a fork. nap SECONDS sleeps that way.
open_sleep_fd() { exec {SLEEP_FD}<> <(:); }
nap() { read -r -t "$1" -u "$SLEEP_FD" _ || true; }
# now_us -> microseconds since the epoch, from $EPOCHREALTIME (no fork).
now_us() { local t="$EPOCHREALTIME"; t="${t//[.,]/}"; printf '%s' "$((10#$t))"; }

# port_in_use PORT: true if something accepts on 127.0.0.1:PORT.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# free_port ["TAKEN PORTS"] -> a random free loopback port in 20000-59999
# that is not among TAKEN PORTS (ports handed out but not yet listened on).
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 40000))
    if ! port_in_use "$p" && [[ " ${1:-} " != *" $p "* ]]; then
      printf '%s' "$p"; return 0
    fi
  done
  die "no free port found"
}

# http_status PORT PATH: HTTP status of GET PATH on loopback PORT into
# HTTP_CODE, via bash's /dev/tcp in this shell (no fork, so a readiness poll
# costs well under a millisecond; curl's fork+exec per poll would add a few
# ms of granularity).
HTTP_CODE=""
http_status() {
  local line="" fd
  HTTP_CODE=""
  exec {fd}<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$2" >&"$fd" || true
  read -r -t 2 -u "$fd" line || true
  exec {fd}>&-
  line="${line#HTTP/1.? }"
  HTTP_CODE="${line:0:3}"
}

# --------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------
# proc_kib PID FIELD -> value in KiB from /proc/PID/status (0 if absent).
proc_kib() {
  local k v _u
  while read -r k v _u; do
    [[ "$k" == "$2:" ]] && { printf '%s' "$v"; return 0; }
  done <"/proc/$1/status"
  printf '0'
}
# rss_sum "PIDS" -> summed VmRSS in KiB (a gone process counts 0).
rss_sum() {
  local p t=0 v
  for p in $1; do v="$(proc_kib "$p" VmRSS 2>/dev/null || echo 0)"; t=$((t + ${v:-0})); done
  printf '%s' "$t"
}
# any_alive "PIDS": true while at least one of PIDS exists.
any_alive() {
  local p
  for p in $1; do kill -0 "$p" 2>/dev/null && return 0; done
  return 1
}

# start_sampler "PIDS" FILE: peak of the summed VmRSS of PIDS, sampled every
# 100 ms into FILE, while any of PIDS lives or until stop_sampler.
start_sampler() {
  (
    max=0
    while any_alive "$1"; do
      v="$(rss_sum "$1")"
      if ((v > max)); then max=$v; printf '%s\n' "$max" >"$2"; fi
      read -r -t 0.1 -u "$SLEEP_FD" _ || true
    done
  ) &
  SAMPLER_PID=$!
}
stop_sampler() {
  [[ -n "$SAMPLER_PID" ]] || return 0
  kill "$SAMPLER_PID" 2>/dev/null || true
  { wait "$SAMPLER_PID"; } 2>/dev/null || true
  SAMPLER_PID=""
}
# peak_rss_kib FILE "PIDS" -> the larger of the sampler's peak in FILE and
# the current summed VmRSS of PIDS (no PIDS: the peak alone).
peak_rss_kib() {
  local peak last=0
  peak="$(cat "$1")"
  [[ -n "$2" ]] && last="$(rss_sum "$2")"
  ((last > peak)) && peak=$last
  printf '%s' "$peak"
}

# mib KIB -> MiB with one decimal.
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# --------------------------------------------------------------------------
# Seeding: the service creates and migrates its schema on a first start, is
# stopped, and COUNT users are bulk-inserted with sqlite3 in one transaction
# (User N, userN@example.com, ids 1..COUNT).
# --------------------------------------------------------------------------
# find_users_db DIR -> path of the SQLite file holding table users.
find_users_db() {
  local f
  while IFS= read -r f; do
    if sqlite3 -readonly "$f" "SELECT 1 FROM sqlite_master WHERE type='table' AND name='users'" 2>/dev/null | grep -q 1; then
      printf '%s' "$f"; return 0
    fi
  done < <(find "$1" -maxdepth 3 -type f ! -name '*-wal' ! -name '*-shm' ! -name '*-journal')
  return 1
}

# seed_users DBFILE SERVICE COUNT: insert COUNT users into the empty users
# table of DBFILE; dies unless count(*) and max(id) are then both COUNT.
SEED_TS='2026-01-01T00:00:00.000Z'
seed_users() {
  local db="$1" s="$2" count="$3" cols="" vals="" name type notnull dflt existing
  existing="$(sqlite3 "$db" 'SELECT count(*) FROM users')"
  ((existing == 0)) || die "$s: users table not empty before seeding ($existing rows)"
  # Fill every column the service declares: the five of the contract, and
  # any extra NOT NULL column without a default by its name and type.
  while IFS='|' read -r _ name type notnull dflt _; do
    local lname="${name,,}" ltype="${type^^}" v
    case "$lname" in
      id) v='n' ;;
      name) v="'User ' || n" ;;
      email) v="'user' || n || '@example.com'" ;;
      created_at|updated_at) v="'$SEED_TS'" ;;
      *)
        if [[ "$notnull" == 1 && -z "$dflt" ]]; then
          case "$lname" in
            *_at) v="'$SEED_TS'" ;;
            version|revision) v='1' ;;
            *)
              case "$ltype" in
                *INT*|*REAL*|*NUM*|*FLOA*|*DOUB*) v='0' ;;
                *) v="''" ;;
              esac ;;
          esac
          log "$s: extra NOT NULL column users.$name filled with $v"
        else
          continue
        fi ;;
    esac
    cols+="${cols:+, }\"$name\""
    vals+="${vals:+, }$v"
  done < <(sqlite3 "$db" 'PRAGMA table_info(users)')
  sqlite3 "$db" >/dev/null <<SQL
PRAGMA busy_timeout = 5000;
BEGIN;
WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < $count)
INSERT INTO users ($cols) SELECT $vals FROM seq;
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
  local got
  got="$(sqlite3 "$db" 'SELECT count(*) || "/" || max(id) FROM users')"
  [[ "$got" == "$count/$count" ]] || die "$s: seeding gave count/max(id) = $got, wanted $count/$count"
}

# --------------------------------------------------------------------------
# wrk
# --------------------------------------------------------------------------
# wrk_run CONNS DURATION OUTFILE WRK_ARGS...: wrk -t$THREADS -cCONNS
# -dDURATION --latency WRK_ARGS, all output to OUTFILE; returns wrk's status.
# wrk runs in the background (WRK_PID) so a signal is handled at once.
wrk_run() {
  local rc=0
  wrk -t"$THREADS" -c"$1" -d"$2" --latency "${@:4}" >"$3" 2>&1 &
  WRK_PID=$!
  wait "$WRK_PID" || rc=$?
  WRK_PID=""
  return "$rc"
}
# wrk_check OUTFILE: dies (showing OUTFILE) unless the wrk script printed
# its BENCH_JSON summary line.
wrk_check() {
  grep -q '^BENCH_JSON ' "$1" || { cat "$1" >&2; die "wrk printed no BENCH_JSON line"; }
}
# wrk_fields OUTFILE KEY... -> the KEYs of the BENCH_JSON line, tab-separated.
wrk_fields() {
  local q="" k
  for k in "${@:2}"; do q+="${q:+, }.$k"; done
  sed -n 's/^BENCH_JSON //p' "$1" | jq -r "[$q] | @tsv"
}

# --------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------
# median [EVEN_FORMAT] < numbers, one a line -> their median; "n/a" for no
# input. With an even count the mean of the middle two, printed with the
# printf EVEN_FORMAT if given (e.g. %.1f), else as awk prints numbers.
median() {
  sort -n | awk -v f="${1:-}" '{ a[NR] = $1 } END {
    if (NR == 0) print "n/a"
    else if (NR % 2) print a[(NR + 1) / 2]
    else if (f != "") printf f "\n", (a[NR / 2] + a[NR / 2 + 1]) / 2
    else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
