"""The typed tools, one module per Proxmox domain. ``all_tools()`` collects their specs."""

from __future__ import annotations

from functools import cache
from typing import Any

from .base import ToolSpec

__all__ = ["TOOLSETS", "all_tools"]

# Toolsets and whether they are on by default.
TOOLSETS: dict[str, bool] = {
    "inventory": True,
    "vm": True,
    "lxc": True,
    "tasks": True,
    "api": True,
}


@cache
def all_tools() -> tuple[ToolSpec[Any, Any], ...]:
    """Every tool this build has, in a stable order."""
    from . import api, guests, inventory

    specs = [*inventory.TOOLS, *guests.TOOLS, *api.TOOLS]
    names = [s.name for s in specs]
    assert len(names) == len(set(names)), "duplicate tool names"
    return tuple(specs)
