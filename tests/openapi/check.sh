#!/usr/bin/env bash
# GET /openapi.json, checked with a real OpenAPI 3.1 validator from npm: on
# an instance of every module, and on a gateway in front of it, whose
# document must cover the same module paths.
#
#   bash tests/openapi/check.sh MITOS_BIN WORK_DIR
set -euo pipefail
bin=$1
work=$2
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
command -v npm >/dev/null || bash "$here/../../.ci/deps.sh" nodejs npm
if [[ ! -d $work/node_modules/@seriousme ]]; then
  cp "$here/package.json" "$here/package-lock.json" "$work/"
  (cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
cp "$here/validate.mjs" "$work/"

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# Starts mitos with the given flags; sets $port once it is ready.
start() {
  local log=$tmp/$1.log; shift
  "$bin" --host 127.0.0.1 --port 0 --data-dir "$tmp/data-$RANDOM" \
    --set shutdown.drain_delay_ms=0 --set auth.mode=off "$@" >"$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    port=$(grep -o '"msg":"listening"[^}]*"port":[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    if [[ -n $port ]] && curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "mitos did not start:"; cat "$log"; return 1
}

start all
all=$port
remotes=()
for m in $("$bin" modules --json | python3 -c 'import json,sys; print(" ".join(m["name"] for m in json.load(sys.stdin) if m["name"] != "gateway"))'); do
  remotes+=(--set "remotes.$m.url=http://127.0.0.1:$all")
done
start gateway --modules=gateway "${remotes[@]}"
gw=$port

curl -sf "http://127.0.0.1:$all/openapi.json" >"$work/all.json"
curl -sf "http://127.0.0.1:$gw/openapi.json" >"$work/gateway.json"
(cd "$work" && node validate.mjs all.json gateway.json)
python3 - "$work/all.json" "$work/gateway.json" <<'PY'
import json, sys
all_doc, gw_doc = (json.load(open(p)) for p in sys.argv[1:])
module_paths = {p for p in all_doc["paths"] if not p.startswith(("/livez", "/readyz", "/health", "/metrics", "/modules", "/openapi.json"))}
assert module_paths, "the instance of every module documents no module path"
missing = module_paths - set(gw_doc["paths"])
assert not missing, "the gateway's document lacks %s" % sorted(missing)
print("ok: the gateway documents the %d module paths it routes" % len(module_paths))
PY
