#!/usr/bin/env bash
# --modules=users serves users; data written before a SIGTERM is there
# after a restart on the same data directory.
MITOS=$1
source "$(dirname "$0")/lib.sh"

start_mitos first --modules=users --data-dir "$WORK/data" --set shutdown.drain_delay_ms=0
created=$(curl -sf -X POST "http://127.0.0.1:$PORT/users" \
  -H 'Content-Type: application/json' -d '{"name":"Ada","email":"ada@example.com"}')
id=$(sed -n 's/.*"id":\([0-9]*\).*/\1/p' <<<"$created")
[[ -n $id ]] || fail "no id in $created"
[[ -f $WORK/data/users.db ]] || fail "users.db not created under the data directory"

kill -TERM "$PID"
wait_exit "$PID" 10
[[ $RC -eq 0 ]] || fail "exit status $RC after SIGTERM, expected 0"

start_mitos second --modules=users --data-dir "$WORK/data" --set shutdown.drain_delay_ms=0
got=$(curl -sf "http://127.0.0.1:$PORT/users/$id")
[[ $got == "$created" ]] || fail "after restart got '$got', expected '$created'"
kill -TERM "$PID"
wait_exit "$PID" 10
[[ $RC -eq 0 ]] || fail "second exit status $RC"
echo "ok: user $id survived a restart"
