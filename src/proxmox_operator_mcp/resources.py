"""MCP resources: artifacts (large tool outputs) and read-only views of the cluster.

* ``proxmox://artifacts/{id}``: an artifact of the caller (:mod:`.artifacts`; TTL, size cap,
  per-principal: another principal's id reads as "not found").
* ``proxmox://clusters/{cluster}/resources``: ``GET /cluster/resources`` of a configured cluster.
* ``proxmox://nodes/{node}/status``: ``GET /nodes/{node}/status`` (default cluster).
* ``proxmox://vms/{vmid}/config``: the config of VM ``vmid`` (default cluster).

Cluster reads go through the policy gate like a read tool does, with the caller's principal and
its mode, so the audit shows them and read-only access applies.

Register them with :func:`register_resources` on the server built by ``server.app.build_server``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver.exceptions import ResourceError

from .artifacts import ArtifactStore, default_store, owner_of
from .errors import ProxmoxMCPError

if TYPE_CHECKING:
    from .server.app import ProxmoxMCP
    from .tools.base import ToolContext

__all__ = ["register_resources"]


def _caller(server: ProxmoxMCP) -> dict[str, Any]:
    from .server.auth import current_principal, principal_mode

    p = current_principal()
    return {**p.audit(), "mode": principal_mode(p, names=server.scope_names)}


def _ctx(server: ProxmoxMCP, what: str, cluster: str | None = None) -> ToolContext:
    from .tools.base import ToolContext

    return ToolContext(settings=server.pve_settings, gate=server.gate, tool_name=f"resource:{what}",
                       cluster=cluster, principal=_caller(server))


async def _json(fn: Callable[[], Awaitable[Any]]) -> str:
    try:
        data = await fn()
    except ProxmoxMCPError as exc:
        raise ResourceError(exc.to_text() if hasattr(exc, "to_text") else exc.message) from None
    return json.dumps(data, indent=1, sort_keys=True, default=str)


def register_resources(server: ProxmoxMCP, *, store: ArtifactStore | None = None) -> None:
    """Add the artifact and read-only cluster resource templates to ``server``."""
    artifacts = store or default_store()

    @server.resource("proxmox://artifacts/{artifact_id}", name="artifact", title="Tool output artifact",
                     description="Full output of a tool whose answer was capped (task log, file, dump); "
                                 "only for the caller that produced it, for a limited time.")
    def read_artifact(artifact_id: str) -> str | bytes:
        try:
            art = artifacts.get(artifact_id, owner_of(_caller(server)))
        except ProxmoxMCPError as exc:
            raise ResourceError(exc.message) from None
        if art.mime.startswith("text/") or art.mime.endswith("json"):
            return art.data.decode("utf-8", errors="replace")
        return art.data

    @server.resource("proxmox://clusters/{cluster}/resources", name="cluster-resources", title="Cluster resources",
                     description="Nodes, guests and storages of a configured cluster (GET /cluster/resources).",
                     mime_type="application/json")
    async def cluster_resources(cluster: str) -> str:
        async def get() -> Any:
            from .tools.base import clean_text

            rows = await _ctx(server, "cluster-resources", cluster).api("GET", "/cluster/resources")
            return [{k: clean_text(v, 500) for k, v in r.items()} for r in rows or []]

        return await _json(get)

    @server.resource("proxmox://nodes/{node}/status", name="node-status", title="Node status",
                     description="CPU, memory, load, uptime and versions of a node (default cluster).",
                     mime_type="application/json")
    async def node_status(node: str) -> str:
        async def get() -> Any:
            from .tools.domain import require

            require(_valid_node(node), f"{node!r} is not a node name")
            return await _ctx(server, "node-status").api("GET", f"/nodes/{node}/status", node=node)

        return await _json(get)

    @server.resource("proxmox://vms/{vmid}/config", name="vm-config", title="VM config",
                     description="The configuration of a VM (default cluster).", mime_type="application/json")
    async def vm_config(vmid: str) -> str:
        async def get() -> Any:
            from .tools.common import locate_guest
            from .tools.domain import clean_row, require

            require(vmid.isdigit() and 100 <= int(vmid) <= 999_999_999, f"{vmid!r} is not a guest id")
            ctx = _ctx(server, "vm-config")
            node, _ = await locate_guest(ctx, int(vmid), "qemu", None)
            conf = await ctx.api("GET", f"/nodes/{node}/qemu/{int(vmid)}/config", node=node) or {}
            return {"vmid": int(vmid), "node": node, "config": clean_row(conf)}

        return await _json(get)


def _valid_node(node: str) -> bool:
    import re

    return bool(re.fullmatch(r"[a-zA-Z0-9]([a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?", node))
