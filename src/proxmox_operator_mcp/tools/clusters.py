"""Several clusters: the cluster list, node discovery and the fan-out of reads across clusters.

With more than one cluster configured every tool takes an optional ``cluster`` argument (added
in one place, :func:`~proxmox_operator_mcp.server.filters.add_cluster_param`). A tool called
without it acts on the first cluster, except the cross-cluster reads (``proxmox_cluster_list``
and ``proxmox_inventory_overview``), which ask every cluster at once: :func:`fan_out` runs one
task per cluster with its own time limit, so a dead or slow cluster costs its own time limit and
never holds the others; its entry says what went wrong.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

import anyio
from pydantic import Field

from ..errors import ProxmoxMCPError
from .base import Input, Output, ToolContext, ToolSpec, clean_text, tool
from .common import number

__all__ = [
    "FANOUT_TIMEOUT",
    "TOOLS",
    "ClusterResult",
    "discover_nodes",
    "fan_out",
    "requested_cluster",
    "ssh_following_discovery",
]

FANOUT_TIMEOUT = 20.0
"""Seconds each cluster gets in a cross-cluster read (its part of the answer then says it timed out)."""

T = TypeVar("T")


@dataclasses.dataclass
class ClusterResult(Generic[T]):
    """One cluster's part of a fan-out: its value, or what went wrong."""

    cluster: str
    value: T | None = None
    error: str | None = None
    seconds: float = 0.0


def requested_cluster(ctx: ToolContext) -> str | None:
    """The cluster the caller named (the ``cluster`` argument), or None."""
    return ctx._cluster_name


def fans_out(ctx: ToolContext) -> bool:
    """A cross-cluster read asks every cluster: several are configured and none was named."""
    return requested_cluster(ctx) is None and len(ctx.settings.clusters) > 1


async def fan_out(
    ctx: ToolContext,
    fn: Callable[[ToolContext], Awaitable[T]],
    *,
    timeout: float | None = None,
) -> list[ClusterResult[T]]:
    """Run ``fn`` once per configured cluster, concurrently, each within ``timeout`` seconds.

    Results come back in configuration order. A cluster that fails or runs out of time has
    ``error`` set (the others are unaffected); nothing is raised for it.
    """
    limit = FANOUT_TIMEOUT if timeout is None else timeout
    names = [c.name for c in ctx.settings.clusters]
    results = {n: ClusterResult[T](cluster=n) for n in names}

    async def one(name: str) -> None:
        res = results[name]
        started = time.perf_counter()
        try:
            with anyio.fail_after(limit):
                res.value = await fn(ctx.for_cluster(name))
        except TimeoutError:
            res.error = f"no answer within {limit:g} s (the cluster is slow or unreachable)"
        except ProxmoxMCPError as exc:
            res.error = exc.message
        finally:
            res.seconds = round(time.perf_counter() - started, 3)

    async with anyio.create_task_group() as tg:
        for name in names:
            tg.start_soon(one, name)
    return [results[n] for n in names]


# --------------------------------------------------------------------------- node discovery


def discover_nodes(rows: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(cluster row, node rows)`` of a ``/cluster/status`` answer (the cluster row is empty for
    a standalone node)."""
    cluster: dict[str, Any] = {}
    nodes = []
    for r in rows or []:
        if not isinstance(r, Mapping):
            continue
        if r.get("type") == "cluster":
            cluster = dict(r)
        elif r.get("type") == "node":
            nodes.append(dict(r))
    nodes.sort(key=lambda r: str(r.get("name")))
    return cluster, nodes


def _known_hosts_names(path: Path) -> tuple[set[str], list[tuple[bytes, bytes]]]:
    """Plain host patterns and hashed ``(salt, digest)`` entries of a known_hosts file."""
    plain: set[str] = set()
    hashed: list[tuple[bytes, bytes]] = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return plain, hashed
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3 or fields[0].startswith("#"):
            continue
        names = fields[1] if fields[0].startswith("@") else fields[0]
        if fields[0].startswith("@revoked"):
            continue
        for name in names.split(","):
            if name.startswith("|1|"):
                try:
                    salt, digest = (base64.b64decode(x) for x in name[3:].split("|", 1))
                except ValueError:
                    continue
                hashed.append((salt, digest))
            else:
                plain.add(name)
    return plain, hashed


def _pinned_in(path: Path, host: str, port: int) -> bool:
    """Does the known_hosts file at ``path`` hold a key for ``host`` (at ``port``)?"""
    plain, hashed = _known_hosts_names(path)
    wanted = host if port == 22 else f"[{host}]:{port}"
    if wanted in plain:
        return True
    return any(hmac.compare_digest(hmac.new(salt, wanted.encode(), hashlib.sha1).digest(), digest)
               for salt, digest in hashed)


def ssh_following_discovery(ssh: Mapping[str, Any], nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """SSH targets after node discovery.

    A configured target is kept as it is (its address was chosen; the discovered one may be a
    cluster network the server cannot reach). A discovered node without a target gets one, at its
    discovered address and with the login of a configured target, only when a host key is pinned
    for that address in the known_hosts file of that target (PVE keeps one for every node in
    ``/etc/pve/priv/known_hosts``). Anything else gets no target: discovery never creates trust.
    """
    out = dict(ssh)
    templates = [t for t in ssh.values() if getattr(t, "known_hosts_file", None) is not None]
    for n in nodes:
        name, ip = str(n.get("name")), n.get("ip")
        if name in out or not ip:
            continue
        for t in templates:
            if _pinned_in(Path(t.known_hosts_file), str(ip), t.port):
                out[name] = dataclasses.replace(t, node=name, host=str(ip), host_keys=())
                break
    return out


# --------------------------------------------------------------------------- proxmox_cluster_list


class NoInput(Input):
    pass


class ClusterEntry(Output):
    name: str
    tags: list[str] = Field(default_factory=list)
    access: str
    default_node: str | None = None
    endpoints: list[dict[str, Any]] = Field(description="endpoint, healthy, failures, retry_in (s), last_error.")
    reachable: bool
    pve_version: str | None = None
    pve_cluster_name: str | None = None
    quorate: bool | None = None
    nodes: list[dict[str, Any]] = Field([], description="From /cluster/status: name, online, ip, local, ssh.")
    error: str | None = None
    seconds: float | None = None


class ClusterListOut(Output):
    clusters: list[ClusterEntry]


def _endpoint_states(ctx: ToolContext) -> list[dict[str, Any]]:
    router = getattr(ctx.gate, "router", None)
    rest = getattr(router, "_rest", {}).get(ctx.cluster.name) if router is not None else None
    if rest is not None:
        return [{k: v for k, v in e.items() if v is not None} for e in rest.endpoint_health()]
    return [{"endpoint": f"{e.host}:{e.port}", "healthy": True, "failures": 0} for e in ctx.cluster.endpoints]


async def _cluster_entry(ctx: ToolContext) -> ClusterEntry:
    c = ctx.cluster
    version = await ctx.api("GET", "/version")
    status = await ctx.api("GET", "/cluster/status")
    crow, nodes = discover_nodes(status)
    if c.ssh:
        before = set(c.ssh)
        c.ssh = ssh_following_discovery(c.ssh, nodes)
        c._discovered_ssh |= set(c.ssh) - before
    quorate = bool(number(crow.get("quorate"))) if crow else (True if nodes else None)
    return ClusterEntry(
        name=c.name,
        tags=list(c.tags),
        access=ctx.access,
        default_node=c.default_node,
        endpoints=_endpoint_states(ctx),
        reachable=True,
        pve_version=str((version or {}).get("version")) if version else None,
        pve_cluster_name=crow.get("name"),
        quorate=quorate,
        nodes=[
            {
                "name": str(n.get("name")),
                "online": bool(number(n.get("online"))),
                "ip": clean_text(n.get("ip")),
                "local": bool(number(n.get("local"))),
                "ssh": _ssh_state(c.ssh, c._discovered_ssh, str(n.get("name"))),
            }
            for n in nodes
        ],
    )


def _ssh_state(ssh: Mapping[str, Any], discovered: set[str], node: str) -> str:
    """``configured``, ``discovered`` (added by discovery: a host key is pinned for its address) or ``none``."""
    if node not in (ssh or {}):
        return "none"
    return "discovered" if node in discovered else "configured"


async def cluster_list(ctx: ToolContext, args: NoInput) -> ClusterListOut:
    """Configured clusters (all at once, or the one named by `cluster`): reachability, PVE version, quorum,
    nodes discovered with addresses, health of each API endpoint. A dead or slow cluster shows its error."""
    if requested_cluster(ctx) is not None:
        results = [ClusterResult[ClusterEntry](cluster=ctx.cluster.name)]
        started = time.perf_counter()
        try:
            results[0].value = await _cluster_entry(ctx)
        except ProxmoxMCPError as exc:
            results[0].error = exc.message
        results[0].seconds = round(time.perf_counter() - started, 3)
    else:
        results = await fan_out(ctx, _cluster_entry)
    out = []
    for r in results:
        if r.value is not None:
            r.value.seconds = r.seconds
            out.append(r.value)
            continue
        sub = ctx.for_cluster(r.cluster)
        c = sub.cluster
        out.append(
            ClusterEntry(
                name=c.name,
                tags=list(c.tags),
                access=sub.access,
                default_node=c.default_node,
                endpoints=_endpoint_states(sub),
                reachable=False,
                error=r.error,
                seconds=r.seconds,
            )
        )
    return ClusterListOut(clusters=out)


TOOLS: list[ToolSpec[Any, Any]] = [
    tool(name="proxmox_cluster_list", title="List configured clusters", toolset="inventory", input_model=NoInput,
         output_model=ClusterListOut, read_only=True, idempotent=True)(cluster_list),
]
