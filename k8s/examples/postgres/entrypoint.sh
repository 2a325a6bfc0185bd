#!/bin/bash
# Entrypoint of the example PostgreSQL (Containerfile beside it).
#
# 1. On first start (no $PGDATA/PG_VERSION): initdb. The superuser
#    "postgres" has no password and may log in only over the Unix socket
#    in /tmp inside the container (mode 0700: only this uid), as
#    `psql -h /tmp -U postgres`; every TCP login needs a password
#    (scram-sha-256).
# 2. On every start, for each $MITOS_DB_URLS_DIR/<module>/url (the same
#    Secret the module mounts, holding its URL,
#    postgresql://ROLE:PASSWORD@HOST:PORT/DB): the role ROLE with that password (so a
#    changed Secret rotates it at the next start), not a superuser, and the
#    database DB owned by it, with CONNECT revoked from PUBLIC (there and on
#    the built-in databases), so that no module's role can connect to
#    another module's database, or to any but its own.
# 3. exec postgres, listening on every address, with this script's
#    arguments.
set -euo pipefail

: "${PGDATA:?PGDATA must be set}"
urls_dir=${MITOS_DB_URLS_DIR:-/etc/mitos-postgres/modules}
sock=$(mktemp -d)
log() { printf 'mitos-postgres: %s\n' "$*" >&2; }

if [[ ! -s $PGDATA/PG_VERSION ]]; then
  log "initialising a new cluster in $PGDATA"
  mkdir -p "$PGDATA"
  chmod 0700 "$PGDATA"
  initdb -D "$PGDATA" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  cat >>"$PGDATA/pg_hba.conf" <<'HBA'
# Other pods: password logins only, for the modules' roles.
host all all 0.0.0.0/0 scram-sha-256
host all all ::/0 scram-sha-256
HBA
  cat >>"$PGDATA/postgresql.conf" <<'CONF'
listen_addresses = '*'
unix_socket_directories = '/tmp'
unix_socket_permissions = 0700
password_encryption = scram-sha-256
CONF
fi

# A module's URL -> ROLE PASSWORD DB (percent-decoded), or fails.
parse() {
  local re='^postgres(ql)?://([^:@/]+):([^@/]*)@[^/]+/([^?]+)'
  [[ $1 =~ $re ]] || return 1
  local role=${BASH_REMATCH[2]} pw=${BASH_REMATCH[3]} db=${BASH_REMATCH[4]}
  printf '%b\n%b\n%b\n' "${role//%/\\x}" "${pw//%/\\x}" "${db//%/\\x}"
}

# While the roles are made, the server listens only on a private socket,
# so that nothing connects (and pg_isready fails) before they are right. A
# stop signal now stops it cleanly: bash as PID 1 ignores untrapped ones.
trap 'pg_ctl -D "$PGDATA" -w -m fast stop >/dev/null 2>&1; exit 143' INT TERM
pg_ctl -D "$PGDATA" -w -t 60 -l "$sock/setup.log" \
  -o "-c listen_addresses='' -c unix_socket_directories='$sock'" start >/dev/null ||
  { cat "$sock/setup.log" >&2; exit 1; }
# No module's role may connect to the built-in databases either (PUBLIC
# may by default), so each reaches its own database and nothing else.
psql -X -q -h "$sock" -U postgres -d postgres -v ON_ERROR_STOP=1 \
  -c 'REVOKE CONNECT ON DATABASE postgres FROM PUBLIC' \
  -c 'REVOKE CONNECT ON DATABASE template1 FROM PUBLIC'
count=0
for f in "$urls_dir"/*/url; do
  [[ -f $f ]] || continue
  name=$(basename "$(dirname "$f")")
  if ! mapfile -t parts < <(parse "$(tr -d '\r\n' <"$f")") || [[ ${#parts[@]} -ne 3 ]]; then
    log "$name: not a postgresql://ROLE:PASSWORD@HOST:PORT/DB URL; skipped"
    continue
  fi
  [[ -n ${parts[1]} ]] || { log "$name: the URL has no password; skipped"; continue; }
  psql -X -q -h "$sock" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -v role="${parts[0]}" -v pw="${parts[1]}" -v db="${parts[2]}" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
  NOBYPASSRLS PASSWORD :'pw';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
ALTER DATABASE :"db" OWNER TO :"role";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
\c :"db"
ALTER SCHEMA public OWNER TO :"role";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
SQL
  log "$name: role ${parts[0]}, database ${parts[2]} (only its owner may connect)"
  count=$((count + 1))
done
pg_ctl -D "$PGDATA" -w -t 60 -m fast stop >/dev/null
trap - INT TERM
rm -rf "$sock"
[[ $count -gt 0 ]] || log "no module URL in $urls_dir: no database made"

exec postgres -D "$PGDATA" "$@"
