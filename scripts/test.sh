#!/usr/bin/env bash
# Set up everything the tests need, then run every test (tests/live skips itself unless
# ENABLE_LIVE_PROXMOX_TESTS=1). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
exec .venv/bin/python -m pytest -q "$@"
