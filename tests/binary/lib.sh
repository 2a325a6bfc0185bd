# Helpers for tests that start the real binary. Source this file.
set -euo pipefail

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; for f in "$WORK"/*.log; do [[ -f $f ]] && { echo "--- $f"; tail -20 "$f"; }; done; exit 1; }

# start_mitos NAME ARGS...: starts the binary on a free port, logging to
# $WORK/NAME.log; sets PID and PORT once it reports it is listening.
start_mitos() {
  local name=$1; shift
  "$MITOS" --host 127.0.0.1 --port 0 "$@" >"$WORK/$name.log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  PORT=""
  for _ in $(seq 1 500); do
    PORT=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$WORK/$name.log" | head -1)
    [[ -n $PORT ]] && break
    kill -0 "$PID" 2>/dev/null || fail "$name exited during start-up"
    sleep 0.01
  done
  [[ -n $PORT ]] || fail "$name did not report its port"
  wait_ready
}

# dev_token DATA_DIR [SCOPE]: a development token (auth.mode: dev) of the
# instance with that data directory, for subject "admin" with SCOPE
# (default: every admin scope).
dev_token() {
  "$MITOS" --data-dir "$1" auth dev-token --sub admin \
    --scope "${2:-users:admin orders:admin products:admin}"
}

wait_ready() {
  for _ in $(seq 1 500); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz") == 200 ]] && return 0
    sleep 0.01
  done
  fail "not ready on port $PORT"
}

# wait_exit PID SECONDS: waits for the process to end; sets RC.
wait_exit() {
  local pid=$1 secs=$2
  for _ in $(seq 1 $((secs * 100))); do
    if ! kill -0 "$pid" 2>/dev/null; then
      set +e; wait "$pid"; RC=$?; set -e
      return 0
    fi
    sleep 0.01
  done
  fail "process $pid still running after ${secs}s"
}
