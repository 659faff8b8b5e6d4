"""The typed tools, one module per Proxmox domain. ``all_tools()`` collects their specs."""

from __future__ import annotations

from functools import cache
from typing import Any

from .base import ToolSpec

__all__ = ["TOOLSETS", "all_tools"]

# Toolsets and whether they are on by default. The node-access sets (cli, shell, files) are on:
# their tools need SSH configured for the node and say how when it is not, and the dangerous
# ones are filtered by access mode (lxc_exec, file_write, bootstrap: admin) and by
# PROXMOX_MCP_ENABLE_SHELL (shell_run), not by toolset.
TOOLSETS: dict[str, bool] = {
    "inventory": True,
    "vm": True,
    "lxc": True,
    "tasks": True,
    "api": True,
    "cli": True,
    "shell": True,
    "files": True,
    # Typed domain toolsets: jobs on (small, and every task-returning tool points to it); the
    # rest off by default to keep tools/list small (enable with the toolset setting).
    "jobs": True,
    "provisioning": False,
    "snapshots": False,
    "storage": False,
    "backup": False,
    "network": False,
    "access": False,
    "cluster": False,
    "pci": False,
    "console": False,
    "cloudinit": False,
    "agent": False,
    "diagnose": False,
}


@cache
def all_tools() -> tuple[ToolSpec[Any, Any], ...]:
    """Every tool this build has, in a stable order."""
    from . import (
        api,
        cluster,
        clusters,
        diagnose,
        files,
        guests,
        inventory,
        jobs,
        lifecycle,
        nodeaccess,
        operations,
        snippets,
    )

    specs = [*inventory.TOOLS, *clusters.TOOLS, *guests.TOOLS, *api.TOOLS, *nodeaccess.TOOLS, *files.TOOLS]
    specs += [*jobs.TOOLS, *lifecycle.TOOLS, *cluster.TOOLS, *operations.TOOLS]
    specs += [*snippets.TOOLS, *diagnose.TOOLS]
    names = [s.name for s in specs]
    assert len(names) == len(set(names)), "duplicate tool names"
    return tuple(specs)
