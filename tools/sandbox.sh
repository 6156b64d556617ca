#!/usr/bin/env bash
# Sandbox: install os-vif-accel in a private virtualenv and run a real
# plug/unplug round trip through os_vif.initialize()/os_vif.plug() against
# the embedded agent emulator (and, when available, the SPP emulator + etcd).
# Safe to run repeatedly; everything it starts is stopped and removed at exit.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
venv=${SANDBOX_VENV:-$top/.sandbox-venv}
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && ! command -v etcd >/dev/null 2>&1; then
  # etcd is optional for the vRouter part; the SPP part uses it when present.
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server iproute2) \
    >/dev/null 2>&1 || echo "sandbox: could not install etcd-server; the SPP round trip will be skipped" >&2
fi
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --upgrade pip >/dev/null
"$venv/bin/pip" install -q -e "$top"
exec "$venv/bin/os-vif-accel-sandbox" "$@"
