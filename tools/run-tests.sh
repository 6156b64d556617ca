#!/usr/bin/env bash
# The test command: installs what the tests need (Debian packages from
# bindep.txt when run as root, tox from PyPI) and runs the tox envs.
# Functional tests need root (privsep daemons, network namespaces).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  pkgs=$(sed -n 's/^\([a-z0-9.+-]*\) \[.*test.*\].*/\1/p' bindep.txt)
  missing=""
  for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
  fi
fi
python3 -m pip install -q 'tox>=4'
envs=${TOX_ENVS:-$(python3 - <<'PY'
import configparser
c = configparser.ConfigParser()
c.read('tox.ini')
print(c['tox']['envlist'].replace('\n', '').replace(' ', ''))
PY
)}
exec python3 -m tox -e "$envs" "$@"
