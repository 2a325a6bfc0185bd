#!/usr/bin/env bash
# SIGTERM: readiness fails at once, requests are still served during the
# drain delay, then the process exits 0. A second signal exits at once.
MITOS=$1
source "$(dirname "$0")/lib.sh"

start_mitos drain --data-dir "$WORK/data" --set shutdown.drain_delay_ms=1500
auth="Authorization: Bearer $(dev_token "$WORK/data")"
kill -TERM "$PID"
code=""
for _ in $(seq 1 100); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")
  [[ $code == 503 ]] && break
  sleep 0.01
done
[[ $code == 503 ]] || fail "readyz was $code while draining, expected 503"
live=$(curl -s -o /dev/null -w '%{http_code}' -H "$auth" "http://127.0.0.1:$PORT/users")
[[ $live == 200 ]] || fail "GET /users was $live while draining, expected 200"
wait_exit "$PID" 10
[[ $RC -eq 0 ]] || fail "graceful exit status $RC, expected 0"
grep -q '"msg":"stopped"' "$WORK/drain.log" || fail "no 'stopped' log line"

start_mitos forced --data-dir "$WORK/data" --set shutdown.drain_delay_ms=20000 \
  --set shutdown.timeout_ms=30000
kill -TERM "$PID"
sleep 0.2
kill -TERM "$PID"
wait_exit "$PID" 3
[[ $RC -eq 143 ]] || fail "second SIGTERM gave exit status $RC, expected 143"
echo "ok: graceful drain and forced exit"
