#!/usr/bin/env bash
# --log-format=text gives one readable line per event for local runs, with
# an access line per request; debug-level probe lines appear only when the
# level asks for them. Request bodies never reach the log.
MITOS=$1
source "$(dirname "$0")/lib.sh"

# The port is read from the JSON form of the "listening" line, so start with
# JSON logs first, check them, then restart with text logs on the same port.
start_mitos json --modules=users --data-dir "$WORK/data" --set shutdown.drain_delay_ms=0 \
  --set auth.edge=true
port=$PORT
kill -TERM "$PID"; wait_exit "$PID" 10

"$MITOS" --host 127.0.0.1 --port "$port" --modules=users --data-dir "$WORK/data" \
  --set shutdown.drain_delay_ms=0 --set auth.edge=true --log-format=text --log-level=debug \
  >"$WORK/text.log" 2>&1 &
PID=$!; PIDS+=("$PID"); PORT=$port
wait_ready
auth="Authorization: Bearer $(dev_token "$WORK/data")"
curl -sf -X POST "http://127.0.0.1:$PORT/users" -H "$auth" -H 'Content-Type: application/json' \
  -H 'X-Request-Id: text-log-1' -d '{"name":"Body Secret","email":"body.secret@example.com"}' >/dev/null
curl -s -H "$auth" "http://127.0.0.1:$PORT/users/999999" >/dev/null
kill -TERM "$PID"; wait_exit "$PID" 10
[[ $RC -eq 0 ]] || fail "exit status $RC"

log=$WORK/text.log
ts='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z'
grep -Eq "^$ts info \[runtime\] listening address=127\.0\.0\.1 io_threads=[0-9]+ port=$PORT$" "$log" \
  || fail "no readable listening line"
grep -Eq "^$ts info \[users\] POST /users 201 [0-9.]+ms [0-9]+B client=127\.0\.0\.1 request_id=text-log-1$" "$log" \
  || fail "no readable access line for POST /users"
grep -Eq "^$ts info \[users\] GET /users/\{id\} 404 " "$log" || fail "no access line with the route template"
grep -Eq "^$ts debug \[runtime\] GET /readyz 200 " "$log" || fail "no debug line for the probe"
if grep -q '^{' "$log"; then fail "JSON lines in text mode"; fi
if grep -q 'body.secret@example.com\|Body Secret' "$log"; then fail "a request body reached the log"; fi
# Nor does a token.
if grep -q "${auth#Authorization: Bearer }" "$log"; then fail "a bearer token reached the log"; fi
echo "ok: text logs are readable"
