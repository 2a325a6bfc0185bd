#!/usr/bin/env bash
# A throwaway PostgreSQL 15 for the storage tests, on 127.0.0.1 only, in a
# fresh temporary directory.
#
#   postgres.sh start STATE PORT [PASSWORD]   initdb and start; STATE is a
#                                             file that remembers the cluster
#   postgres.sh stop STATE                    stop it (fast) and remove it
#   postgres.sh kill STATE                    stop it at once (-m immediate),
#                                             keeping its files
#   postgres.sh restart STATE                 start a killed cluster again
#
# PostgreSQL refuses to run as root: as root, initdb and pg_ctl run as the
# postgres user (runuser). The superuser is "postgres" with PASSWORD
# (default mitos-test-pw), and logins over TCP need it (scram-sha-256).
# Binaries: $PG_BIN, else /usr/lib/postgresql/15/bin.
set -euo pipefail

bin="${PG_BIN:-/usr/lib/postgresql/15/bin}"
cmd="${1:-}"
state="${2:-}"
[[ -n "$cmd" && -n "$state" ]] || { echo "usage: $0 start|stop|kill|restart STATE [PORT [PASSWORD]]" >&2; exit 2; }

as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

datadir() { [[ -f "$state" ]] && cat "$state" || true; }

stop_cluster() {  # MODE
  local dir
  dir="$(datadir)"
  [[ -n "$dir" && -d "$dir" ]] || return 0
  as_pg "$bin/pg_ctl" -D "$dir/data" -m "$1" -w -t 30 stop >/dev/null 2>&1 || true
}

case "$cmd" in
  start)
    port="${3:?port}"
    password="${4:-mitos-test-pw}"
    if [[ ! -x "$bin/initdb" ]]; then
      echo "PostgreSQL 15 is not installed ($bin/initdb missing): apt-get install postgresql" >&2
      exit 1
    fi
    # A cluster left by an interrupted run goes first.
    stop_cluster immediate
    old="$(datadir)"
    [[ -n "$old" && -d "$old" ]] && rm -rf "$old"
    rm -f "$state"
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "port $port is in use; choose another with -DMITOS_TEST_POSTGRES_PORT=..." >&2
      exit 1
    fi
    dir="$(mktemp -d -t mitos-pg.XXXXXX)"
    chmod 755 "$dir"
    echo "$dir" > "$state"
    printf '%s\n' "$password" > "$dir/pw"
    if [[ $(id -u) -eq 0 ]]; then chown -R postgres: "$dir"; fi
    if ! as_pg "$bin/initdb" -D "$dir/data" -U postgres --pwfile="$dir/pw" \
         --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-sync \
         >"$dir/initdb.log" 2>&1; then
      cat "$dir/initdb.log" >&2
      exit 1
    fi
    rm -f "$dir/pw"
    # TCP on loopback only; no Unix socket to collide with a system server.
    cat >> "$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
max_connections = 200
fsync = off
full_page_writes = off
log_min_messages = warning
CONF
    if ! as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null; then
      cat "$dir/server.log" >&2 || true
      exit 1
    fi
    echo "PostgreSQL on 127.0.0.1:$port in $dir"
    ;;
  stop)
    stop_cluster fast
    dir="$(datadir)"
    [[ -n "$dir" && -d "$dir" ]] && rm -rf "$dir"
    rm -f "$state"
    ;;
  kill)
    stop_cluster immediate
    ;;
  restart)
    dir="$(datadir)"
    [[ -n "$dir" && -d "$dir" ]] || { echo "no cluster in $state" >&2; exit 1; }
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
    ;;
  *)
    echo "unknown command $cmd" >&2
    exit 2
    ;;
esac
