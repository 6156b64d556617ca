#!/usr/bin/env bash
# Sandbox: install os-vif-accel in a private virtualenv and run a real
# plug/unplug round trip through os_vif.initialize()/os_vif.plug() against
# the embedded agent emulator (and, when available, the SPP emulator + etcd).
# Safe to run repeatedly; everything it starts is stopped and removed at exit.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
venv=${SANDBOX_VENV:-$top/.sandbox-venv}
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  # venv for the sandbox itself; etcd for the SPP round trip (optional:
  # the vRouter part does not need it).
  need=""
  for p in python3-venv etcd-server iproute2; do
    dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
  done
  if [ -n "$need" ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need) \
      >/dev/null 2>&1 || echo "sandbox: could not install$need" >&2
  fi
fi
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --upgrade pip >/dev/null
"$venv/bin/pip" install -q -e "$top"
exec "$venv/bin/os-vif-accel-sandbox" "$@"
