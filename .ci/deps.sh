#!/usr/bin/env bash
# Installs the Debian 12 packages needed to build, run and test Mitos.
# Installs only what is missing; uses sudo when not run as root.
set -euo pipefail

packages=(
  g++ cmake make pkg-config git curl iproute2 procps ccache
  libcpp-httplib-dev libsqlitecpp-dev libsqlite3-dev nlohmann-json3-dev
  libcli11-dev libyaml-cpp-dev libgtest-dev libgmock-dev zlib1g-dev libnats-dev
  libpq-dev postgresql libssl-dev openssl
  sqlite3 python3 python3-jinja2 python3-yaml python3-pytest python3-requests
  python3-cryptography
  prometheus nats-server
)
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
