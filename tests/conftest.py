"""Shared test configuration: anyio on asyncio, and no real environment leaking in."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _clean_proxmox_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build their configuration explicitly; a developer's PROXMOX_* env must not leak in."""
    import os

    for name in list(os.environ):
        if name.startswith(("PROXMOX_", "VAULT_")) and not name.startswith("PROXMOX_LIVE_"):
            monkeypatch.delenv(name, raising=False)
