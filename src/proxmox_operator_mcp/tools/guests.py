"""QEMU VMs and LXC containers: list, get, power actions.

Both kinds share one implementation; the tools users see keep their own names
(proxmox_vm_* and proxmox_lxc_*).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..errors import InvalidArgumentError
from .base import Input, NodeName, Output, ToolContext, ToolSpec, VmId, clean_text, tool
from .common import (
    GuestKind,
    Page,
    PageInput,
    TaskOut,
    WaitField,
    locate_guest,
    name_matches,
    number,
    page_items,
    project,
    started,
)

__all__ = ["TOOLS"]


class GuestListIn(PageInput):
    node: NodeName | None = Field(None, description="Only guests on this node.")
    status: Literal["running", "stopped", "paused"] | None = None
    tags: list[str] | None = Field(None, max_length=20, description="Only guests carrying all these tags.")
    name: str | None = Field(None, max_length=128, description="Name glob, e.g. web-*.")
    template: bool | None = Field(None, description="true: only templates; false: no templates.")


class GuestSummary(Output):
    vmid: int
    name: str | None = None
    node: str
    status: str | None = None
    template: bool = False
    tags: list[str] = []
    cpus: float | None = None
    maxmem: int | None = None
    mem: int | None = None
    maxdisk: int | None = None
    uptime: int | None = None
    cpu: float | None = Field(None, description="CPU load, 0..1 per core count.")


class GuestListOut(Page):
    items: list[dict[str, Any]] = Field(description="GuestSummary items (or the requested fields).")


class GuestGetIn(Input):
    vmid: VmId
    node: NodeName | None = Field(None, description="Found from the cluster when omitted.")


class GuestGetOut(Output):
    vmid: int
    node: str
    status: dict[str, Any]
    config: dict[str, Any]
    pending: list[dict[str, Any]] | None = Field(None, description="Config changes not applied yet (e.g. until reboot).")


_QEMU_ACTIONS = ("start", "stop", "shutdown", "reboot", "suspend", "resume", "reset")
_LXC_ACTIONS = ("start", "stop", "shutdown", "reboot", "suspend", "resume")
_DESTRUCTIVE_ACTIONS = {"stop", "reset"}  # hard power-off: data in guest caches is lost
_NEEDS_RUNNING = {"stop", "shutdown", "reboot", "suspend", "reset"}


class VmActionIn(Input):
    vmid: VmId
    action: Literal["start", "stop", "shutdown", "reboot", "suspend", "resume", "reset"]
    node: NodeName | None = Field(None, description="Found from the cluster when omitted.")
    timeout: int | None = Field(None, ge=1, le=3600, description="shutdown/reboot: seconds before PVE gives up.")
    force_stop: bool | None = Field(None, description="shutdown: hard stop if the guest does not shut down in time.")
    wait: bool | float = WaitField


class LxcActionIn(Input):
    vmid: VmId
    action: Literal["start", "stop", "shutdown", "reboot", "suspend", "resume"]
    node: NodeName | None = Field(None, description="Found from the cluster when omitted.")
    timeout: int | None = Field(None, ge=1, le=3600, description="shutdown/reboot: seconds before PVE gives up.")
    force_stop: bool | None = Field(None, description="shutdown: hard stop if the container does not stop in time.")
    wait: bool | float = WaitField


class ActionOut(Output):
    vmid: int
    node: str
    action: str
    task: TaskOut


def _summary(r: dict[str, Any]) -> dict[str, Any]:
    tags = [t for t in str(r.get("tags") or "").replace(",", ";").split(";") if t]
    out = GuestSummary(
        vmid=int(number(r.get("vmid")) or 0),
        name=clean_text(r.get("name"), 128),
        node=str(r.get("node")),
        status=r.get("status"),
        template=bool(number(r.get("template"))),
        tags=tags,
        cpus=number(r.get("maxcpu")),
        maxmem=number(r.get("maxmem")),  # type: ignore[arg-type]
        mem=number(r.get("mem")),  # type: ignore[arg-type]
        maxdisk=number(r.get("maxdisk")),  # type: ignore[arg-type]
        uptime=number(r.get("uptime")),  # type: ignore[arg-type]
        cpu=number(r.get("cpu")),
    )
    return out.model_dump(exclude_none=True)


async def _list(ctx: ToolContext, args: GuestListIn, kind: GuestKind) -> GuestListOut:
    resources = await ctx.api("GET", "/cluster/resources", {"type": "vm"})
    rows = []
    for r in resources or []:
        if r.get("type") != kind:
            continue
        s = _summary(r)
        if args.node and s["node"] != args.node:
            continue
        if args.status and s.get("status") != args.status:
            continue
        if args.template is not None and s["template"] != args.template:
            continue
        if args.tags and not set(args.tags) <= set(s["tags"]):
            continue
        if not name_matches(s.get("name"), args.name):
            continue
        rows.append(s)
    rows.sort(key=lambda s: s["vmid"])
    chunk, total, nxt = page_items(rows, args.limit, args.cursor)
    return GuestListOut(items=project(chunk, args.fields), total=total, next_cursor=nxt)


def _clean_config(cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: clean_text(v) for k, v in (cfg or {}).items()}


async def _get(ctx: ToolContext, args: GuestGetIn, kind: GuestKind) -> GuestGetOut:
    node, _ = await locate_guest(ctx, args.vmid, kind, args.node)
    base = f"/nodes/{node}/{kind}/{args.vmid}"
    status = await ctx.api("GET", f"{base}/status/current", node=node)
    config = await ctx.api("GET", f"{base}/config", node=node)
    pending_raw = await ctx.api("GET", f"{base}/pending", node=node)
    pending = [
        {k: clean_text(v) for k, v in p.items()}
        for p in pending_raw or []
        if "pending" in p or p.get("delete")
    ]
    st = {k: clean_text(v) for k, v in (status or {}).items() if k not in ("ha",)}
    return GuestGetOut(vmid=args.vmid, node=node, status=st, config=_clean_config(config), pending=pending or None)


async def _action(ctx: ToolContext, args: VmActionIn | LxcActionIn, kind: GuestKind) -> ActionOut:
    node, res = await locate_guest(ctx, args.vmid, kind, args.node)
    what = ("VM" if kind == "qemu" else "container") + f" {args.vmid}"
    name = res.get("name")
    status = res.get("status")
    # Validate before acting: refuse actions that make no sense in the guest's current state.
    if number(res.get("template")):
        raise InvalidArgumentError(f"{what} is a template; templates cannot be powered", hint="Clone it first.")
    if args.action == "start" and status == "running":
        raise InvalidArgumentError(f"{what} is already running", hint="Use reboot to restart it.")
    if args.action in _NEEDS_RUNNING and status == "stopped":
        raise InvalidArgumentError(f"{what} is stopped; {args.action} needs a running guest", hint="Use start.")
    if args.action == "resume" and status == "stopped":
        raise InvalidArgumentError(f"{what} is stopped, not suspended", hint="Use start.")
    params: dict[str, Any] = {}
    if args.timeout is not None:
        if args.action not in ("shutdown", "reboot"):
            raise InvalidArgumentError("timeout applies to shutdown and reboot only")
        params["timeout"] = args.timeout
    if args.force_stop is not None:
        if args.action != "shutdown":
            raise InvalidArgumentError("force_stop applies to shutdown only")
        params["forceStop"] = int(args.force_stop)
    upid = await ctx.api(
        "POST",
        f"/nodes/{node}/{kind}/{args.vmid}/status/{args.action}",
        params,
        node=node,
        destructive=args.action in _DESTRUCTIVE_ACTIONS,
        targets=(f"{what}{f' ({name})' if name else ''} on {node}",),
    )
    task = await started(ctx, upid, args.wait, f"{args.action} of {what}")
    return ActionOut(vmid=args.vmid, node=node, action=args.action, task=task)


def _build(kind: GuestKind) -> list[ToolSpec[Any, Any]]:
    noun = "vm" if kind == "qemu" else "lxc"
    label = "VM" if kind == "qemu" else "container"
    labels = "VMs" if kind == "qemu" else "containers"
    action_in = VmActionIn if kind == "qemu" else LxcActionIn
    actions = ", ".join(_QEMU_ACTIONS if kind == "qemu" else _LXC_ACTIONS)

    async def list_handler(ctx: ToolContext, args: GuestListIn) -> GuestListOut:
        return await _list(ctx, args, kind)

    async def get_handler(ctx: ToolContext, args: GuestGetIn) -> GuestGetOut:
        return await _get(ctx, args, kind)

    async def action_handler(ctx: ToolContext, args: Any) -> ActionOut:
        return await _action(ctx, args, kind)

    list_handler.__doc__ = (
        f"List {labels} across the cluster with node, status, resources and tags. Filter by node, status, tags, "
        "name glob or template; page with limit/cursor; pick fields to keep the answer small."
    )
    get_handler.__doc__ = (
        f"One {label}: live status (cpu, memory, uptime) and its configuration with digest and pending changes."
    )
    action_handler.__doc__ = (
        f"Power action on a {label}: {actions}. Checks the current state first. Returns the PVE task; "
        "wait=true waits for it to finish. stop/reset are hard power-offs."
    )
    return [
        tool(
            name=f"proxmox_{noun}_list",
            title=f"List {labels}",
            toolset=noun if noun == "lxc" else "vm",
            input_model=GuestListIn,
            output_model=GuestListOut,
            read_only=True,
            idempotent=True,
        )(list_handler),
        tool(
            name=f"proxmox_{noun}_get",
            title=f"Get {label} status and config",
            toolset=noun if noun == "lxc" else "vm",
            input_model=GuestGetIn,
            output_model=GuestGetOut,
            read_only=True,
            idempotent=True,
        )(get_handler),
        tool(
            name=f"proxmox_{noun}_action",
            title=f"Power action on a {label}",
            toolset=noun if noun == "lxc" else "vm",
            input_model=action_in,
            output_model=ActionOut,
            read_only=False,
            destructive=True,
            idempotent=False,
        )(action_handler),
    ]


TOOLS: list[ToolSpec[Any, Any]] = _build("qemu") + _build("lxc")
