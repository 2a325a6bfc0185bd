#!/usr/bin/env bash
# --modules=users serves users; data written before a SIGTERM is there
# after a restart on the same data directory. Alone on a laptop, users is
# its own edge (auth.edge=true): it takes the development tokens itself.
MITOS=$1
source "$(dirname "$0")/lib.sh"

start_mitos first --modules=users --data-dir "$WORK/data" --set shutdown.drain_delay_ms=0 \
  --set auth.edge=true
auth="Authorization: Bearer $(dev_token "$WORK/data")"
created=$(curl -sf -X POST "http://127.0.0.1:$PORT/users" -H "$auth" \
  -H 'Content-Type: application/json' -d '{"name":"Ada","email":"ada@example.com"}')
id=$(sed -n 's/.*"id":\([0-9]*\).*/\1/p' <<<"$created")
[[ -n $id ]] || fail "no id in $created"
[[ -f $WORK/data/users.db ]] || fail "users.db not created under the data directory"

kill -TERM "$PID"
wait_exit "$PID" 10
[[ $RC -eq 0 ]] || fail "exit status $RC after SIGTERM, expected 0"

start_mitos second --modules=users --data-dir "$WORK/data" --set shutdown.drain_delay_ms=0 \
  --set auth.edge=true
# The same development key: the token made before the restart still works.
got=$(curl -sf -H "$auth" "http://127.0.0.1:$PORT/users/$id")
[[ $got == "$created" ]] || fail "after restart got '$got', expected '$created'"
kill -TERM "$PID"
wait_exit "$PID" 10
[[ $RC -eq 0 ]] || fail "second exit status $RC"
echo "ok: user $id survived a restart"
