"""tests/live: the same scenarios against a real Proxmox VE cluster.

Runs only with ENABLE_LIVE_PROXMOX_TESTS=1 and the usual PROXMOX_* variables (PROXMOX_HOST,
PROXMOX_API_TOKEN_* or PROXMOX_USERNAME/PASSWORD, TLS options, PROXMOX_DEFAULT_NODE). Read-only
unless PROXMOX_LIVE_WRITE_VMID names a disposable, stopped VM the tests may start and stop.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp import Client

# Captured at import: the suite-wide autouse fixture removes PROXMOX_* from the environment of
# every test so that a developer's configuration never leaks into the simulated-cluster tests.
LIVE_ENV = {k: v for k, v in os.environ.items() if k.startswith("PROXMOX_")}
ENABLED = os.environ.get("ENABLE_LIVE_PROXMOX_TESTS") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if ENABLED and LIVE_ENV.get("PROXMOX_HOST"):
        return
    why = (
        "live Proxmox tests are off: set ENABLE_LIVE_PROXMOX_TESTS=1 and PROXMOX_HOST plus credentials"
        if not ENABLED
        else "ENABLE_LIVE_PROXMOX_TESTS=1 but PROXMOX_HOST is not set"
    )
    for item in items:
        if "tests/live" in str(item.fspath):
            item.add_marker(pytest.mark.skip(reason=why))


@pytest.fixture
async def live() -> AsyncIterator[Any]:
    from proxmox_operator_mcp.config import load_settings
    from proxmox_operator_mcp.server.app import build_server

    access = "operator" if LIVE_ENV.get("PROXMOX_LIVE_WRITE_VMID") else "read-only"
    settings = load_settings({**LIVE_ENV, "PROXMOX_MCP_ACCESS": access})
    async with Client(build_server(settings)) as client:
        yield client
