"""Capabilities, the cluster overview, cluster status, nodes and tasks."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from .. import __version__
from ..errors import InvalidArgumentError, ProxmoxMCPError
from .base import Input, NodeName, Output, ToolContext, ToolSpec, VmId, clean_text, tool
from .common import (
    Page,
    PageInput,
    TaskOut,
    number,
    page_items,
    project,
    task_log_tail,
    task_out,
    task_status,
)

__all__ = ["TOOLS"]


class NoInput(Input):
    pass


class ClusterCaps(Output):
    name: str
    endpoints: list[str]
    auth: str
    access: str
    default_node: str | None = None
    reachable: bool
    pve_version: str | None = None
    error: str | None = None


class CapabilitiesOut(Output):
    server_version: str
    planes: list[str]
    clusters: list[ClusterCaps]
    tools: list[str] = Field(description="Tools this session may call.")


async def capabilities(ctx: ToolContext, args: NoInput) -> CapabilitiesOut:
    """What this server can do here: clusters (reachability, PVE version, access mode, auth kind), planes and the
    tools this session may call. Call first when unsure what is possible."""
    clusters = []
    for c in ctx.settings.clusters:
        sub = ToolContext(settings=ctx.settings, gate=ctx.gate, tool_name=ctx.tool_name, cluster=c.name)
        info = ClusterCaps(
            name=c.name,
            endpoints=[f"{e.host}:{e.port}" for e in c.endpoints],
            auth=f"token {c.token_full_id}" if c.auth_kind == "token" else f"ticket {c.username}",
            access=ctx.settings.access_for(c),
            default_node=c.default_node,
            reachable=False,
        )
        try:
            v = await sub.api("GET", "/version")
            info.reachable = True
            info.pve_version = str((v or {}).get("version"))
        except ProxmoxMCPError as exc:
            info.error = exc.message
        clusters.append(info)
    return CapabilitiesOut(
        server_version=__version__,
        planes=["api"],
        clusters=clusters,
        tools=list(ctx.principal.get("visible_tools", [])),
    )


class NodeCount(Output):
    node: str
    status: str | None = None
    cpu: float | None = None
    mem_used_pct: float | None = None
    vms_running: int = 0
    vms_total: int = 0
    cts_running: int = 0
    cts_total: int = 0


class StorageUse(Output):
    storage: str
    node: str
    used_pct: float | None = None
    status: str | None = None


class OverviewOut(Output):
    cluster: str = Field(description="`all` when every cluster was asked.")
    nodes_online: int
    nodes_total: int
    vms_running: int
    vms_total: int
    cts_running: int
    cts_total: int
    templates: int
    nodes: list[NodeCount]
    storage_over_80pct: list[StorageUse] = Field(description="Storages more than 80% full (at most 20).")
    clusters: list[dict[str, Any]] | None = Field(
        None, description="For `all`: each cluster's counts, or its error. Nodes are then CLUSTER/NODE."
    )


def _pct(used: Any, total: Any) -> float | None:
    u, t = number(used), number(total)
    if not u or not t:
        return 0.0 if t else None
    return round(100.0 * float(u) / float(t), 1)


async def inventory_overview(ctx: ToolContext, args: NoInput) -> OverviewOut:
    """A small summary of the whole cluster at any size: nodes (online, load, guests), guest counts by state,
    and storages over 80% full (every cluster at once when several and no `cluster`). Start here; then list or
    get what needs a closer look."""
    from .clusters import fan_out, fans_out

    if not fans_out(ctx):
        return await _overview(ctx)
    results = await fan_out(ctx, _overview)
    parts: list[dict[str, Any]] = []
    nodes: list[NodeCount] = []
    storage: list[StorageUse] = []
    sums = dict.fromkeys(("vms_running", "vms_total", "cts_running", "cts_total", "templates"), 0)
    for r in results:
        o = r.value
        if o is None:
            parts.append({"cluster": r.cluster, "ok": False, "error": r.error, "seconds": r.seconds})
            continue
        parts.append(
            {"cluster": r.cluster, "ok": True, "seconds": r.seconds,
             **o.model_dump(include={"nodes_online", "nodes_total", "vms_running", "vms_total", "cts_running",
                                     "cts_total", "templates"})}
        )
        for key in sums:
            sums[key] += getattr(o, key)
        nodes += [n.model_copy(update={"node": f"{r.cluster}/{n.node}"}) for n in o.nodes]
        storage += [s.model_copy(update={"node": f"{r.cluster}/{s.node}"}) for s in o.storage_over_80pct]
    storage.sort(key=lambda s: -(s.used_pct or 0))
    return OverviewOut(
        cluster="all",
        nodes_online=sum(1 for n in nodes if n.status == "online"),
        nodes_total=len(nodes),
        nodes=nodes,
        storage_over_80pct=storage[:20],
        clusters=parts,
        **sums,
    )


async def _overview(ctx: ToolContext) -> OverviewOut:
    res = await ctx.api("GET", "/cluster/resources")
    nodes: dict[str, NodeCount] = {}
    storage: list[StorageUse] = []
    totals = {"vr": 0, "vt": 0, "cr": 0, "ct": 0, "tpl": 0}
    for r in res or []:
        t = r.get("type")
        if t == "node":
            n = nodes.setdefault(str(r.get("node")), NodeCount(node=str(r.get("node"))))
            n.status = r.get("status")
            n.cpu = number(r.get("cpu"))
            n.mem_used_pct = _pct(r.get("mem"), r.get("maxmem"))
        elif t in ("qemu", "lxc"):
            n = nodes.setdefault(str(r.get("node")), NodeCount(node=str(r.get("node"))))
            if number(r.get("template")):
                totals["tpl"] += 1
                continue
            running = r.get("status") == "running"
            if t == "qemu":
                n.vms_total += 1
                n.vms_running += running
                totals["vt"] += 1
                totals["vr"] += running
            else:
                n.cts_total += 1
                n.cts_running += running
                totals["ct"] += 1
                totals["cr"] += running
        elif t == "storage":
            pct = _pct(r.get("disk"), r.get("maxdisk"))
            if pct is not None and pct > 80:
                storage.append(
                    StorageUse(storage=str(r.get("storage")), node=str(r.get("node")), used_pct=pct, status=r.get("status"))
                )
    storage.sort(key=lambda s: -(s.used_pct or 0))
    ordered = [nodes[k] for k in sorted(nodes)]
    return OverviewOut(
        cluster=ctx.cluster.name,
        nodes_online=sum(1 for n in ordered if n.status == "online"),
        nodes_total=len(ordered),
        vms_running=totals["vr"],
        vms_total=totals["vt"],
        cts_running=totals["cr"],
        cts_total=totals["ct"],
        templates=totals["tpl"],
        nodes=ordered,
        storage_over_80pct=storage[:20],
    )


class ClusterNode(Output):
    name: str
    online: bool
    ip: str | None = None
    nodeid: int | None = None
    local: bool | None = None


class ClusterStatusOut(Output):
    cluster_name: str | None = Field(None, description="Null for a standalone node.")
    quorate: bool | None = None
    nodes: list[ClusterNode]
    version: int | None = None


async def cluster_status(ctx: ToolContext, args: NoInput) -> ClusterStatusOut:
    """Cluster membership and quorum: cluster name, whether it is quorate, each node online or not with its IP."""
    rows = await ctx.api("GET", "/cluster/status")
    out = ClusterStatusOut(nodes=[])
    for r in rows or []:
        if r.get("type") == "cluster":
            out.cluster_name = r.get("name")
            out.quorate = bool(number(r.get("quorate")))
            out.version = number(r.get("version"))  # type: ignore[assignment]
        elif r.get("type") == "node":
            out.nodes.append(
                ClusterNode(
                    name=str(r.get("name")),
                    online=bool(number(r.get("online"))),
                    ip=r.get("ip"),
                    nodeid=number(r.get("nodeid")),  # type: ignore[arg-type]
                    local=bool(number(r.get("local"))) if r.get("local") is not None else None,
                )
            )
    if out.cluster_name is None and out.quorate is None and out.nodes:
        out.quorate = True  # a standalone node is its own quorum
    return out


class NodeListOut(Output):
    nodes: list[dict[str, Any]]


async def node_list(ctx: ToolContext, args: NoInput) -> NodeListOut:
    """Nodes of the cluster with status, CPU load, memory and uptime."""
    rows = await ctx.api("GET", "/nodes")
    keep = ("node", "status", "cpu", "maxcpu", "mem", "maxmem", "disk", "maxdisk", "uptime", "level")
    nodes = [{k: r[k] for k in keep if k in r} for r in rows or []]
    nodes.sort(key=lambda n: str(n.get("node")))
    return NodeListOut(nodes=nodes)


class NodeGetIn(Input):
    node: NodeName | None = Field(None, description="Defaults to the configured default node.")


class NodeGetOut(Output):
    node: str
    status: dict[str, Any]


async def node_get(ctx: ToolContext, args: NodeGetIn) -> NodeGetOut:
    """One node's status: CPU, memory, swap, root disk, load average, uptime, kernel and PVE versions."""
    node = ctx.default_node(args.node)
    st = await ctx.api("GET", f"/nodes/{node}/status", node=node)
    return NodeGetOut(node=node, status={k: clean_text(v) for k, v in (st or {}).items()})


class TaskListIn(PageInput):
    node: NodeName | None = Field(None, description="Only this node's tasks; all nodes when omitted.")
    vmid: VmId | None = Field(None, description="Only tasks of this guest.")
    type: str | None = Field(None, max_length=64, pattern=r"^[a-z0-9_\-]+$", description="Task type, e.g. qmstart.")
    errors: bool = Field(False, description="Only failed tasks.")
    running: bool = Field(False, description="Only running tasks.")


class TaskListOut(Page):
    items: list[dict[str, Any]]


async def task_list(ctx: ToolContext, args: TaskListIn) -> TaskListOut:
    """Recent tasks (newest first) with type, guest, user, status and result. Filter by node, guest, type,
    failed or running only."""
    if args.node:
        params: dict[str, Any] = {"limit": 1000}
        if args.vmid:
            params["vmid"] = args.vmid
        if args.type:
            params["typefilter"] = args.type
        if args.errors:
            params["errors"] = 1
        if args.running:
            params["source"] = "active"
        rows = await ctx.api("GET", f"/nodes/{args.node}/tasks", params, node=args.node)
    else:
        rows = await ctx.api("GET", "/cluster/tasks")
    items = []
    for r in rows or []:
        st = r.get("status")
        running = st is None and not r.get("endtime")
        if args.vmid and str(r.get("id")) != str(args.vmid):
            continue
        if args.type and r.get("type") != args.type:
            continue
        if args.errors and (running or st == "OK"):
            continue
        if args.running and not running:
            continue
        items.append(
            {
                "upid": r.get("upid"),
                "node": r.get("node"),
                "type": r.get("type"),
                "id": clean_text(r.get("id")),
                "user": r.get("user"),
                "starttime": number(r.get("starttime")),
                "endtime": number(r.get("endtime")),
                "status": "running" if running else clean_text(st),
            }
        )
    items.sort(key=lambda i: -(i.get("starttime") or 0))
    chunk, total, nxt = page_items(items, args.limit, args.cursor)
    return TaskListOut(items=project(chunk, args.fields), total=total, next_cursor=nxt)


class TaskGetIn(Input):
    upid: str = Field(max_length=512, description="Task ID (UPID:node:...:), as returned by action tools.")
    log_lines: int = Field(20, ge=0, le=500, description="How many of the last log lines to include.")


async def task_get(ctx: ToolContext, args: TaskGetIn) -> TaskOut:
    """One task's status, exit status and the last lines of its log."""
    from ..transports.upid import Upid

    try:
        node = Upid.parse(args.upid).node
    except ProxmoxMCPError:
        raise
    except ValueError as exc:
        raise InvalidArgumentError(f"not a UPID: {exc}") from None
    st = await task_status(ctx, node, args.upid)
    tail = await task_log_tail(ctx, node, args.upid, args.log_lines) if args.log_lines else None
    return task_out(args.upid, node, st, tail)


TOOLS: list[ToolSpec[Any, Any]] = [
    tool(name="proxmox_capabilities", title="Server capabilities", toolset="inventory", input_model=NoInput,
         output_model=CapabilitiesOut, read_only=True, idempotent=True)(capabilities),
    tool(name="proxmox_inventory_overview", title="Cluster overview", toolset="inventory", input_model=NoInput,
         output_model=OverviewOut, read_only=True, idempotent=True)(inventory_overview),
    tool(name="proxmox_cluster_status", title="Cluster status and quorum", toolset="inventory", input_model=NoInput,
         output_model=ClusterStatusOut, read_only=True, idempotent=True)(cluster_status),
    tool(name="proxmox_node_list", title="List nodes", toolset="inventory", input_model=NoInput,
         output_model=NodeListOut, read_only=True, idempotent=True)(node_list),
    tool(name="proxmox_node_get", title="Get node status", toolset="inventory", input_model=NodeGetIn,
         output_model=NodeGetOut, read_only=True, idempotent=True)(node_get),
    tool(name="proxmox_task_list", title="List tasks", toolset="tasks", input_model=TaskListIn,
         output_model=TaskListOut, read_only=True, idempotent=True)(task_list),
    tool(name="proxmox_task_get", title="Get task status and log", toolset="tasks", input_model=TaskGetIn,
         output_model=TaskOut, read_only=True, idempotent=True)(task_get),
]

