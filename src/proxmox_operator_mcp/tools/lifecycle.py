"""Guest life cycle for VMs and containers: create, clone, destroy, config, template, migrate,
snapshots, and the template catalogue.

One implementation per verb takes the guest kind; :func:`_build` declares the tools users see
(``proxmox_vm_*`` and ``proxmox_lxc_*``). Every change checks the guest first (exists, state
makes sense) and is destructive exactly when the reviewed endpoint table says so.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .base import Input, NodeName, Output, ToolContext, ToolSpec, VmId, clean_text, tool
from .common import (
    GuestKind,
    PageInput,
    TaskOut,
    WaitField,
    locate_guest,
    number,
    started,
)
from .domain import act, is_destructive, require
from .guests import GuestGetIn, GuestGetOut, GuestListIn, GuestListOut, _get, _list

__all__ = ["TOOLS"]

SnapName = Field(pattern=r"^[a-zA-Z][a-zA-Z0-9_\-]{1,39}$", description="Snapshot name, e.g. pre-upgrade.")
ConfigValue = str | int
Options = Field(default_factory=dict, max_length=60,
                description="Other PVE config keys, e.g. {\"agent\":1} (schema-checked).")
NodeOpt = Field(None, description="Found from the cluster when omitted.")


class TaskResult(Output):
    vmid: int
    node: str
    task: TaskOut


class VmCreateIn(Input):
    node: NodeName | None = Field(None, description="Default: the configured default node.")
    vmid: VmId | None = Field(None, description="Default: the next free id.")
    name: str | None = Field(None, max_length=63, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9.\-]*$")
    memory: int = Field(2048, ge=16, description="MiB.")
    cores: int = Field(2, ge=1, le=256)
    disk: str = Field("local-lvm:32", max_length=128, description="STORAGE:SIZE_GB for scsi0.")
    iso: str | None = Field(None, max_length=256, description="ISO volume for ide2, e.g. local:iso/x.iso.")
    options: dict[str, ConfigValue] = Options
    start: bool = False
    wait: bool | float = WaitField


class LxcCreateIn(Input):
    node: NodeName | None = Field(None, description="Default: the configured default node.")
    vmid: VmId | None = Field(None, description="Default: the next free id.")
    ostemplate: str = Field(max_length=256, description="e.g. local:vztmpl/debian-13-standard_13.1-2_amd64.tar.zst")
    hostname: str | None = Field(None, max_length=63, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9.\-]*$")
    memory: int = Field(512, ge=16, description="MiB.")
    cores: int = Field(1, ge=1, le=256)
    rootfs: str = Field("local-lvm:8", max_length=128, description="STORAGE:SIZE_GB.")
    options: dict[str, ConfigValue] = Options
    start: bool = False
    wait: bool | float = WaitField


class CloneIn(Input):
    vmid: VmId = Field(description="Source guest or template.")
    newid: VmId | None = Field(None, description="Default: the next free id.")
    name: str | None = Field(None, max_length=63, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9.\-]*$")
    full: bool | None = Field(None, description="Full copy; default: linked for templates, full otherwise.")
    target: NodeName | None = Field(None, description="Target node (shared storage only).")
    storage: str | None = Field(None, max_length=64, description="Target storage (full clones).")
    node: NodeName | None = NodeOpt
    wait: bool | float = WaitField


class DestroyIn(Input):
    vmid: VmId
    purge: bool = Field(False, description="Also remove it from backup jobs, HA and replication.")
    node: NodeName | None = NodeOpt
    wait: bool | float = WaitField


class UpdateConfigIn(Input):
    vmid: VmId
    set: dict[str, ConfigValue] = Field(default_factory=dict, max_length=60, description="Keys to set.")
    delete: list[str] = Field(default_factory=list, max_length=60, description="Keys to remove.")
    digest: str | None = Field(None, max_length=64, description="Config digest from *_get; refuses if changed since.")
    node: NodeName | None = NodeOpt


class ConfigOut(Output):
    vmid: int
    node: str
    changed: list[str]
    task: TaskOut | None = None


class VmidIn(Input):
    vmid: VmId
    node: NodeName | None = NodeOpt


class MigrateIn(Input):
    vmid: VmId
    target: NodeName
    online: bool = Field(False, description="Live-migrate a running guest (VMs; containers restart).")
    node: NodeName | None = NodeOpt
    wait: bool | float = WaitField


class SnapshotIn(Input):
    vmid: VmId
    action: Literal["create", "rollback", "delete"]
    snapname: str = SnapName
    description: str | None = Field(None, max_length=1024, description="create: a note.")
    node: NodeName | None = NodeOpt
    wait: bool | float = WaitField


class SnapshotListOut(Output):
    vmid: int
    node: str
    current_parent: str | None = Field(None, description="Snapshot the guest now runs from.")
    snapshots: list[dict[str, Any]]


def _label(kind: GuestKind, vmid: int, res: dict[str, Any] | None = None) -> str:
    name = (res or {}).get("name")
    return ("VM" if kind == "qemu" else "CT") + f" {vmid}" + (f" ({clean_text(name, 64)})" if name else "")


async def _nextid(ctx: ToolContext, vmid: int | None) -> int:
    if vmid is not None:
        return vmid
    return int(number(await ctx.api("GET", "/cluster/nextid")) or 0)


async def _free(ctx: ToolContext, vmid: int) -> None:
    for r in await ctx.api("GET", "/cluster/resources", {"type": "vm"}) or []:
        require(number(r.get("vmid")) != vmid, f"guest id {vmid} is taken (by {r.get('name')} on {r.get('node')})",
                "Omit the id to take the next free one.")


def _opts(values: dict[str, ConfigValue]) -> dict[str, Any]:
    return {k: int(v) if isinstance(v, bool) else v for k, v in values.items()}


async def _create(ctx: ToolContext, args: VmCreateIn | LxcCreateIn, kind: GuestKind) -> TaskResult:
    node = ctx.default_node(args.node)
    vmid = await _nextid(ctx, args.vmid)
    await _free(ctx, vmid)
    params: dict[str, Any] = {"vmid": vmid, "memory": args.memory, "cores": args.cores, **_opts(args.options)}
    if isinstance(args, VmCreateIn):
        params.setdefault("scsi0", args.disk)
        params.setdefault("scsihw", "virtio-scsi-single")
        params.setdefault("net0", "virtio,bridge=vmbr0")
        if args.iso:
            params["ide2"] = f"{args.iso},media=cdrom"
        if args.name:
            params["name"] = args.name
    else:
        params.update(ostemplate=args.ostemplate, rootfs=params.get("rootfs", args.rootfs))
        params.setdefault("net0", "name=eth0,bridge=vmbr0,ip=dhcp")
        if args.hostname:
            params["hostname"] = args.hostname
    if args.start:
        params["start"] = 1
    upid = await act(ctx, "POST", f"/nodes/{node}/{kind}", params, node=node, target=f"new {_label(kind, vmid)} on {node}")
    return TaskResult(vmid=vmid, node=node, task=await started(ctx, upid, args.wait, f"create of {vmid}"))


async def _clone(ctx: ToolContext, args: CloneIn, kind: GuestKind) -> TaskResult:
    node, res = await locate_guest(ctx, args.vmid, kind, args.node)
    newid = await _nextid(ctx, args.newid)
    await _free(ctx, newid)
    params: dict[str, Any] = {"newid": newid}
    if args.name:
        params["name" if kind == "qemu" else "hostname"] = args.name
    if args.full is not None:
        params["full"] = int(args.full)
    require(not (args.storage and args.full is False), "storage applies to full clones only", "Drop storage or set full.")
    for key in ("target", "storage"):
        if getattr(args, key):
            params[key] = getattr(args, key)
    upid = await act(ctx, "POST", f"/nodes/{node}/{kind}/{args.vmid}/clone", params, node=node,
                     target=f"{_label(kind, args.vmid, res)} -> {newid}")
    return TaskResult(vmid=newid, node=args.target or node, task=await started(ctx, upid, args.wait, "clone"))


async def _destroy(ctx: ToolContext, args: DestroyIn, kind: GuestKind) -> TaskResult:
    node, res = await locate_guest(ctx, args.vmid, kind, args.node)
    label = _label(kind, args.vmid, res)
    require(res.get("status") != "running", f"{label} is running", "Stop it first (the *_action tool).")
    conf = await ctx.api("GET", f"/nodes/{node}/{kind}/{args.vmid}/config", node=node) or {}
    require(not number(conf.get("protection")), f"{label} is protected", "Unset protection with a config update first.")
    params = {"purge": 1} if args.purge else {}
    upid = await act(ctx, "DELETE", f"/nodes/{node}/{kind}/{args.vmid}", params, node=node, target=f"{label} on {node}")
    return TaskResult(vmid=args.vmid, node=node, task=await started(ctx, upid, args.wait, f"destroy of {label}"))


async def _update_config(ctx: ToolContext, args: UpdateConfigIn, kind: GuestKind) -> ConfigOut:
    node, res = await locate_guest(ctx, args.vmid, kind, args.node)
    require(bool(args.set or args.delete), "nothing to change", "Pass set and/or delete.")
    both = set(args.set) & set(args.delete)
    require(not both, f"keys both set and deleted: {', '.join(sorted(both))}")
    params = _opts(args.set)
    if args.delete:
        params["delete"] = ",".join(args.delete)
    if args.digest:
        params["digest"] = args.digest
    path = f"/nodes/{node}/{kind}/{args.vmid}/config"
    data = await act(ctx, "PUT", path, params, node=node, target=f"{_label(kind, args.vmid, res)} on {node}")
    task = await started(ctx, data, False, "config") if isinstance(data, str) else None
    return ConfigOut(vmid=args.vmid, node=node, changed=sorted([*args.set, *args.delete]), task=task)


async def _template(ctx: ToolContext, args: VmidIn, kind: GuestKind) -> TaskResult:
    node, res = await locate_guest(ctx, args.vmid, kind, args.node)
    label = _label(kind, args.vmid, res)
    require(not number(res.get("template")), f"{label} is already a template")
    require(res.get("status") == "stopped", f"{label} is {res.get('status')}; only a stopped guest can become a template",
            "Shut it down first.")
    data = await act(ctx, "POST", f"/nodes/{node}/{kind}/{args.vmid}/template", {}, node=node, target=f"{label} on {node}")
    if isinstance(data, str):
        return TaskResult(vmid=args.vmid, node=node, task=await started(ctx, data, True, "template"))
    return TaskResult(vmid=args.vmid, node=node, task=TaskOut(upid="", node=node, status="stopped", exitstatus="OK", ok=True))


async def _migrate(ctx: ToolContext, args: MigrateIn, kind: GuestKind) -> TaskResult:
    node, res = await locate_guest(ctx, args.vmid, kind, args.node)
    label = _label(kind, args.vmid, res)
    require(args.target != node, f"{label} is already on {node}")
    members = {str(n.get("node")): n.get("status") for n in await ctx.api("GET", "/nodes") or []}
    require(args.target in members, f"node {args.target} is not in the cluster", "See proxmox_node_list.")
    require(members[args.target] == "online", f"node {args.target} is {members[args.target]}")
    running = res.get("status") == "running"
    params: dict[str, Any] = {"target": args.target}
    if running:
        require(args.online, f"{label} is running", "Pass online=true (VMs live-migrate, containers restart).")
        params["online" if kind == "qemu" else "restart"] = 1
    upid = await act(ctx, "POST", f"/nodes/{node}/{kind}/{args.vmid}/migrate", params, node=node,
                     target=f"{label} {node} -> {args.target}")
    return TaskResult(vmid=args.vmid, node=node, task=await started(ctx, upid, args.wait, f"migrate of {label}"))


async def _snapshots(ctx: ToolContext, args: VmidIn, kind: GuestKind) -> SnapshotListOut:
    node, _ = await locate_guest(ctx, args.vmid, kind, args.node)
    rows = await ctx.api("GET", f"/nodes/{node}/{kind}/{args.vmid}/snapshot", node=node) or []
    current = next((r for r in rows if r.get("name") == "current"), {})
    snaps = [
        {k: clean_text(v, 500) for k, v in r.items() if k in ("name", "description", "parent", "snaptime", "vmstate")}
        for r in rows if r.get("name") != "current"
    ]
    snaps.sort(key=lambda s: number(s.get("snaptime")) or 0)
    return SnapshotListOut(vmid=args.vmid, node=node, current_parent=current.get("parent"), snapshots=snaps)


async def _snapshot(ctx: ToolContext, args: SnapshotIn, kind: GuestKind) -> TaskResult:
    node, res = await locate_guest(ctx, args.vmid, kind, args.node)
    label = _label(kind, args.vmid, res)
    base = f"/nodes/{node}/{kind}/{args.vmid}/snapshot"
    names = {r.get("name") for r in await ctx.api("GET", base, node=node) or []} - {"current"}
    if args.action == "create":
        require(args.snapname not in names, f"{label} already has a snapshot {args.snapname!r}")
        params: dict[str, Any] = {"snapname": args.snapname}
        if args.description:
            params["description"] = args.description
        method, path = "POST", base
    else:
        require(args.snapname in names, f"{label} has no snapshot {args.snapname!r}",
                f"Its snapshots: {', '.join(sorted(map(str, names))) or 'none'}.")
        require(args.description is None, "description applies to create only")
        params = {}
        method, path = ("POST", f"{base}/{args.snapname}/rollback") if args.action == "rollback" else (
            "DELETE", f"{base}/{args.snapname}")
    upid = await act(ctx, method, path, params, node=node, target=f"{label} snapshot {args.snapname}")
    return TaskResult(vmid=args.vmid, node=node, task=await started(ctx, upid, args.wait, f"snapshot {args.action}"))


class TemplateListIn(PageInput):
    node: NodeName | None = Field(None, description="Only templates on this node.")
    tags: list[str] | None = Field(None, max_length=20, description="Only templates carrying all these tags.")
    name: str | None = Field(None, max_length=128, description="Name glob, e.g. debian-*.")


async def _template_list(ctx: ToolContext, args: TemplateListIn) -> GuestListOut:
    """VM templates to clone from (filter by node, tags, name glob; paged)."""
    return await _list(ctx, GuestListIn(**args.model_dump(), template=True), "qemu")


async def _template_get(ctx: ToolContext, args: GuestGetIn) -> GuestGetOut:
    """One VM template's config (refuses a VM that is not a template)."""
    _, res = await locate_guest(ctx, args.vmid, "qemu", args.node)
    require(bool(number(res.get("template"))), f"VM {args.vmid} is not a template", "See proxmox_vm_template_list.")
    return await _get(ctx, args, "qemu")


def _build(kind: GuestKind) -> list[ToolSpec[Any, Any]]:
    noun, label = ("vm", "VM") if kind == "qemu" else ("lxc", "container")
    toolset = "provisioning"

    def spec(verb: str, title: str, doc: str, fn: Any, in_model: Any, out_model: Any, *, read: bool = False,
             destructive: bool = False, idempotent: bool = False, ts: str = toolset) -> ToolSpec[Any, Any]:
        async def handler(ctx: ToolContext, args: Any) -> Any:
            return await fn(ctx, args, kind)

        handler.__doc__ = doc
        return tool(name=f"proxmox_{noun}_{verb}", title=title, toolset=ts, input_model=in_model,
                    output_model=out_model, read_only=read, destructive=destructive,
                    idempotent=idempotent or read)(handler)

    vm_dest = is_destructive("DELETE", f"/nodes/{{node}}/{kind}/{{vmid}}")
    specs = [
        spec("create", f"Create a {label}", f"Create a {label} (next free id unless given). Returns a job; "
             "wait=true waits.", _create, VmCreateIn if kind == "qemu" else LxcCreateIn, TaskResult),
        spec("clone", f"Clone a {label}", f"Clone a {label} or template to a new id. Returns a job.",
             _clone, CloneIn, TaskResult),
        spec("destroy", f"Destroy a {label}", f"Destroy a stopped, unprotected {label} and its disks. Returns a job.",
             _destroy, DestroyIn, TaskResult, destructive=vm_dest),
        spec("migrate", f"Migrate a {label}", f"Move a {label} to another online node; online=true for a running "
             "one. Returns a job.", _migrate, MigrateIn, TaskResult),
        spec("snapshot_list", f"List {label} snapshots", f"Snapshots of a {label}, oldest first, and the current "
             "parent.", _snapshots, VmidIn, SnapshotListOut, read=True, ts="snapshots"),
        spec("snapshot_action", f"Create, roll back or delete a {label} snapshot",
             f"Snapshot a {label} (create), roll back to one (loses later changes) or delete one. Checks the "
             "snapshot exists first. Returns a job.", _snapshot, SnapshotIn, TaskResult, destructive=True,
             ts="snapshots"),
        spec("update_config", f"Update {label} config", f"Set or delete {label} config keys (schema-checked); "
             f"pass digest from proxmox_{noun}_get to refuse if changed meanwhile. Removing a disk key is "
             "destructive.", _update_config, UpdateConfigIn, ConfigOut, destructive=True),
        spec("convert_to_template", f"Convert a {label} to a template", f"Turn a stopped {label} into a template "
             "(irreversible).", _template, VmidIn, TaskResult, destructive=True),
    ]
    if kind == "qemu":
        specs += [
            tool(name="proxmox_vm_template_list", title="List VM templates", toolset=toolset, input_model=TemplateListIn,
                 output_model=GuestListOut, read_only=True, idempotent=True)(_template_list),
            tool(name="proxmox_vm_template_get", title="Get a VM template", toolset=toolset, input_model=GuestGetIn,
                 output_model=GuestGetOut, read_only=True, idempotent=True)(_template_get),
        ]
    return specs


TOOLS: list[ToolSpec[Any, Any]] = _build("qemu") + _build("lxc")
