#!/usr/bin/env bash
# A second instance on a port that is in use fails at start-up.
MITOS=$1
source "$(dirname "$0")/lib.sh"

start_mitos first --data-dir "$WORK/a" --set shutdown.drain_delay_ms=0
set +e
out=$("$MITOS" --host 127.0.0.1 --port "$PORT" --data-dir "$WORK/b" 2>&1)
rc=$?
set -e
[[ $rc -eq 1 ]] || fail "second instance exit status $rc, expected 1: $out"
grep -q "cannot listen on 127.0.0.1:$PORT: Address already in use" <<<"$out" \
  || fail "unexpected message: $out"
echo "ok: port in use refused"
