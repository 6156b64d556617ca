#!/usr/bin/env bash
# The test command: installs what the tests need (Debian packages from
# bindep.txt when run as root, tox from PyPI into .tox-venv) and runs the
# tox envs of the default envlist (override with TOX_ENVS=a,b).
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
# py311/py312/py313 need those interpreters on PATH.  pyenv's shims only
# answer for its selected versions, so append the bin directory of the
# newest installed 3.x of each one that does not run yet.
if command -v pyenv >/dev/null 2>&1; then
  for v in 3.11 3.12 3.13; do
    "python$v" -c '' >/dev/null 2>&1 && continue
    found=$(pyenv versions --bare | grep -E "^${v//./\\.}\.[0-9]+$" |
            sort -V | tail -1 || true)
    if [ -n "$found" ]; then
      PATH="$PATH:$(pyenv root)/versions/$found/bin"
    fi
  done
  export PATH
fi
# tox lives in its own virtualenv: a distribution's Python may be
# "externally managed" (PEP 668) and refuse pip installs.
if [ ! -x .tox-venv/bin/tox ]; then
  python3 -m venv .tox-venv
  .tox-venv/bin/pip install -q 'tox>=4'
fi
envs=${TOX_ENVS:-$(.tox-venv/bin/python - <<'PY'
import configparser
c = configparser.ConfigParser()
c.read('tox.ini')
print(c['tox']['envlist'].replace('\n', '').replace(' ', ''))
PY
)}
exec .tox-venv/bin/tox -e "$envs" "$@"
