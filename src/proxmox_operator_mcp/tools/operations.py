"""Changes outside a single guest's life cycle: node power, backups, downloads to storage, console
tickets, PCI mappings; and what the QEMU guest agent and cloud-init can tell about a VM."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..errors import ProxmoxMCPError
from .base import Input, NodeName, Output, ToolContext, ToolSpec, VmId, clean_text, tool
from .common import TaskOut, WaitField, locate_guest, number, started
from .domain import DataOut, act, require

__all__ = ["TOOLS"]

StorageId = Field(max_length=64, pattern=r"^[a-zA-Z][a-zA-Z0-9\-_.]*$")
NodeOpt = Field(None, description="Default: the configured default node (or the guest's node).")


class NodeActionIn(Input):
    action: Literal["reboot", "shutdown", "startall", "stopall"]
    node: NodeName


class NodeActionOut(Output):
    node: str
    action: str
    task: TaskOut | None = None


async def node_action(ctx: ToolContext, args: NodeActionIn) -> NodeActionOut:
    """Reboot or shut down a node (every guest on it goes down), or start/stop all its guests."""
    nodes = {str(n.get("node")): n.get("status") for n in await ctx.api("GET", "/nodes") or []}
    require(args.node in nodes, f"node {args.node} is not in the cluster", "See proxmox_node_list.")
    require(nodes[args.node] == "online", f"node {args.node} is {nodes[args.node]}")
    if args.action in ("reboot", "shutdown"):
        await act(ctx, "POST", f"/nodes/{args.node}/status", {"command": args.action}, node=args.node,
                  target=f"node {args.node}")
        return NodeActionOut(node=args.node, action=args.action)
    upid = await act(ctx, "POST", f"/nodes/{args.node}/{args.action}", {}, node=args.node, target=f"node {args.node}")
    return NodeActionOut(node=args.node, action=args.action, task=await started(ctx, upid, False, args.action))


class BackupStartIn(Input):
    vmids: list[VmId] = Field(min_length=1, max_length=100, description="Guests to back up (on node).")
    node: NodeName | None = NodeOpt
    storage: str = StorageId
    mode: Literal["snapshot", "suspend", "stop"] = "snapshot"
    compress: Literal["zstd", "lzo", "gzip", "0"] = "zstd"
    notes: str | None = Field(None, max_length=256, description="notes-template, e.g. {{guestname}}.")
    wait: bool | float = WaitField


async def backup_start(ctx: ToolContext, args: BackupStartIn) -> NodeActionOut:
    """Back up guests now (vzdump) to a backup storage. Returns a job."""
    node = ctx.default_node(args.node)
    here = {number(r.get("vmid")) for r in await ctx.api("GET", "/cluster/resources", {"type": "vm"}) or []
            if r.get("node") == node}
    missing = [v for v in args.vmids if v not in here]
    require(not missing, f"not on {node}: {', '.join(map(str, missing))}", "Back up each node's guests separately.")
    params: dict[str, Any] = {"vmid": ",".join(map(str, args.vmids)), "storage": args.storage, "mode": args.mode,
                              "compress": args.compress}
    if args.notes:
        params["notes-template"] = args.notes
    upid = await act(ctx, "POST", f"/nodes/{node}/vzdump", params, node=node, target=f"backup of {params['vmid']}")
    return NodeActionOut(node=node, action="vzdump", task=await started(ctx, upid, args.wait, "backup"))


class DownloadIn(Input):
    url: str = Field(max_length=2048, pattern=r"^https?://", description="http(s) URL of the file.")
    filename: str = Field(max_length=255, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._\-]*$")
    content: Literal["iso", "vztmpl", "import"]
    storage: str = StorageId
    node: NodeName | None = NodeOpt
    checksum: str | None = Field(None, max_length=256, pattern=r"^[0-9a-fA-F]+$")
    checksum_algorithm: Literal["md5", "sha1", "sha224", "sha256", "sha384", "sha512"] | None = None
    wait: bool | float = WaitField


async def download_url(ctx: ToolContext, args: DownloadIn) -> NodeActionOut:
    """Download an ISO, container template or import image from a URL onto a storage. Returns a job."""
    node = ctx.default_node(args.node)
    stores = {s.get("storage"): s for s in await ctx.api("GET", f"/nodes/{node}/storage", node=node) or []}
    require(args.storage in stores, f"storage {args.storage} is not available on {node}", "See proxmox_storage_list.")
    require(args.content in str(stores[args.storage].get("content", "")).split(","),
            f"storage {args.storage} does not hold {args.content}")
    require((args.checksum is None) == (args.checksum_algorithm is None), "checksum and checksum_algorithm go together")
    params: dict[str, Any] = {"url": args.url, "filename": args.filename, "content": args.content}
    if args.checksum:
        params.update({"checksum": args.checksum, "checksum-algorithm": args.checksum_algorithm})
    upid = await act(ctx, "POST", f"/nodes/{node}/storage/{args.storage}/download-url", params, node=node,
                     target=f"{args.storage}:{args.content}/{args.filename} on {node}")
    return NodeActionOut(node=node, action="download", task=await started(ctx, upid, args.wait, "download"))


class ConsoleIn(Input):
    vmid: VmId | None = Field(None, description="Guest console; omit for the node's shell.")
    kind: Literal["vm", "lxc"] = "vm"
    node: NodeName | None = NodeOpt


# A console ticket lives this long as an artifact (PVE's own are short-lived too).
CONSOLE_TICKET_TTL = 60.0


class ConsoleOut(Output):
    node: str
    port: int | None = None
    user: str | None = None
    websocket_path: str = Field(description="Open it with &vncticket=<the URL-encoded ticket> appended.")
    upid: str | None = None
    artifact: str = Field(description="JSON: port, ticket, user, cert, websocket_path; for 60 s, to you only.")


async def console_ticket(ctx: ToolContext, args: ConsoleIn) -> ConsoleOut:
    """A VNC/terminal ticket for a guest console or the node shell, for a noVNC or xterm.js client. The
    ticket is only in `artifact`. Anything can be typed into such a console."""
    import json
    from urllib.parse import quote

    from ..artifacts import publish_artifact

    if args.vmid is None:
        node = ctx.default_node(args.node)
        path, target, params = f"/nodes/{node}/termproxy", f"node {node} shell", {}
        ws = f"/api2/json/nodes/{node}/vncwebsocket"
    else:
        kind = "qemu" if args.kind == "vm" else "lxc"
        node, res = await locate_guest(ctx, args.vmid, kind, args.node)
        require(res.get("status") == "running", f"guest {args.vmid} is not running", "Start it first.")
        path, target = f"/nodes/{node}/{kind}/{args.vmid}/vncproxy", f"guest {args.vmid} console"
        params = {"websocket": 1}  # a ticket for vncwebsocket (noVNC), as the PVE GUI asks
        ws = f"/api2/json/nodes/{node}/{kind}/{args.vmid}/vncwebsocket"
    data = await act(ctx, "POST", path, params, node=node, target=target) or {}
    require(bool(data.get("ticket")), "PVE answered without a console ticket")
    ws = f"{ws}?port={quote(str(data.get('port', '')), safe='')}"
    secret = {k: data[k] for k in ("port", "ticket", "user", "cert") if k in data}
    secret["websocket_path"] = f"{ws}&vncticket={quote(str(data['ticket']), safe='')}"
    uri = publish_artifact(ctx, json.dumps(secret), "application/json", redact=False, ttl=CONSOLE_TICKET_TTL)
    return ConsoleOut(node=node, port=data.get("port"), user=clean_text(data.get("user")), websocket_path=ws,
                      upid=data.get("upid"), artifact=uri)


class PciMapIn(Input):
    id: str = Field(max_length=64, pattern=r"^[a-zA-Z][a-zA-Z0-9\-_.]*$")
    map: list[str] | None = Field(None, max_length=64,
                                  description="Per node: 'node=pve1,path=0000:01:00.0,id=10de:2204'.")
    description: str | None = Field(None, max_length=4096)
    mdev: bool | None = None


class PciDeleteIn(Input):
    id: str = Field(max_length=64, pattern=r"^[a-zA-Z][a-zA-Z0-9\-_.]*$")


async def _mapping_ids(ctx: ToolContext) -> set[str]:
    return {str(m.get("id")) for m in await ctx.api("GET", "/cluster/mapping/pci") or []}


def _pci_params(args: PciMapIn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if args.map is not None:
        out["map"] = args.map
    if args.description is not None:
        out["description"] = args.description
    if args.mdev is not None:
        out["mdev"] = int(args.mdev)
    return out


async def pci_mapping_create(ctx: ToolContext, args: PciMapIn) -> DataOut:
    """Create a cluster-wide PCI mapping (a name for a device on each node) for passthrough."""
    require(args.id not in await _mapping_ids(ctx), f"PCI mapping {args.id} already exists", "Use update.")
    require(bool(args.map), "map is required to create a mapping")
    await act(ctx, "POST", "/cluster/mapping/pci", {"id": args.id, **_pci_params(args)}, target=f"PCI mapping {args.id}")
    return DataOut(data={"id": args.id, "created": True})


async def pci_mapping_update(ctx: ToolContext, args: PciMapIn) -> DataOut:
    """Change a PCI mapping's device map, description or mdev flag."""
    require(args.id in await _mapping_ids(ctx), f"no PCI mapping {args.id}", "See proxmox_pci_mapping_list.")
    params = _pci_params(args)
    require(bool(params), "nothing to change")
    await act(ctx, "PUT", f"/cluster/mapping/pci/{args.id}", params, target=f"PCI mapping {args.id}")
    return DataOut(data={"id": args.id, "updated": sorted(params)})


async def pci_mapping_delete(ctx: ToolContext, args: PciDeleteIn) -> DataOut:
    """Delete a PCI mapping (guests that use it can no longer start with it)."""
    require(args.id in await _mapping_ids(ctx), f"no PCI mapping {args.id}", "See proxmox_pci_mapping_list.")
    await act(ctx, "DELETE", f"/cluster/mapping/pci/{args.id}", {}, target=f"PCI mapping {args.id}")
    return DataOut(data={"id": args.id, "deleted": True})


class VmIn(Input):
    vmid: VmId
    node: NodeName | None = NodeOpt


class CloudInitIn(VmIn):
    type: Literal["user", "network", "meta"] = "user"


class TextOut(Output):
    vmid: int
    node: str
    text: str
    text_uri: str | None = None


async def cloud_init_dump(ctx: ToolContext, args: CloudInitIn) -> TextOut:
    """The generated cloud-init user, network or meta data of a VM (may hold passwords and keys)."""
    node, _ = await locate_guest(ctx, args.vmid, "qemu", args.node)
    text = await act(ctx, "GET", f"/nodes/{node}/qemu/{args.vmid}/cloudinit/dump", {"type": args.type}, node=node,
                     target=f"cloud-init {args.type} data of VM {args.vmid}")
    from ..artifacts import cap_text

    shown, uri = cap_text(ctx, str(clean_text(str(text or ""), 8_000_000)), 16_000)
    return TextOut(vmid=args.vmid, node=node, text=shown, text_uri=uri)


async def _agent(ctx: ToolContext, args: VmIn, command: str) -> tuple[str, Any]:
    node, res = await locate_guest(ctx, args.vmid, "qemu", args.node)
    require(res.get("status") == "running", f"VM {args.vmid} is not running", "The guest agent answers only then.")
    method = "POST" if command == "ping" else "GET"
    data = await act(ctx, method, f"/nodes/{node}/qemu/{args.vmid}/agent/{command}", {}, node=node,
                     target=f"VM {args.vmid}")
    return node, (data or {}).get("result")


class AgentOut(Output):
    vmid: int
    node: str
    result: Any = None


async def agent_ping(ctx: ToolContext, args: VmIn) -> AgentOut:
    """Is the QEMU guest agent of a running VM answering?"""
    node, _ = await _agent(ctx, args, "ping")
    return AgentOut(vmid=args.vmid, node=node, result={"answered": True})


async def agent_info(ctx: ToolContext, args: VmIn) -> AgentOut:
    """Guest agent version, OS, hostname and IP addresses of a running VM."""
    node, info = await _agent(ctx, args, "info")
    out: dict[str, Any] = {"version": (info or {}).get("version")}
    for cmd, key in (("get-osinfo", "os"), ("get-host-name", "hostname"), ("network-get-interfaces", "interfaces")):
        try:
            out[key] = (await _agent(ctx, args, cmd))[1]
        except ProxmoxMCPError as exc:
            out[key] = {"error": exc.message}
    if isinstance(out.get("interfaces"), list):
        out["interfaces"] = [
            {"name": clean_text(i.get("name")), "ips": [a.get("ip-address") for a in i.get("ip-addresses") or []]}
            for i in out["interfaces"]
        ]
    return AgentOut(vmid=args.vmid, node=node, result=_clean_tree(out))


def _clean_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean_tree(v) for v in value]
    return clean_text(value, 4000)


class GuestExecIn(VmIn):
    command: list[str] = Field(min_length=1, max_length=64, description="argv, e.g. [\"systemctl\",\"status\",\"nginx\"].")
    input: str | None = Field(None, max_length=65536, description="stdin.")
    timeout: float = Field(30, gt=0, le=300, description="Seconds to wait for the command to exit.")


async def guest_exec(ctx: ToolContext, args: GuestExecIn) -> AgentOut:
    """Run a command inside a running VM through the guest agent and return exit code, stdout, stderr."""
    import anyio

    node, res = await locate_guest(ctx, args.vmid, "qemu", args.node)
    require(res.get("status") == "running", f"VM {args.vmid} is not running")
    base = f"/nodes/{node}/qemu/{args.vmid}/agent"
    params: dict[str, Any] = {"command": args.command}
    if args.input is not None:
        params["input-data"] = args.input
    pid = (await act(ctx, "POST", f"{base}/exec", params, node=node, target=f"VM {args.vmid}") or {}).get("pid")
    st: dict[str, Any] = {}
    with anyio.move_on_after(args.timeout):
        delay = 0.05
        while not st.get("exited"):
            st = await ctx.api("GET", f"{base}/exec-status", {"pid": pid}, node=node) or {}
            if not st.get("exited"):
                await anyio.sleep(delay)
                delay = min(delay * 1.5, 1.0)
    out = {"pid": pid, "exited": bool(st.get("exited"))}
    for k in ("exitcode", "out-data", "err-data", "out-truncated", "err-truncated"):
        if k in st:
            out[k.replace("-", "_")] = clean_text(st[k], 60_000)
    return AgentOut(vmid=args.vmid, node=node, result=out)


class DiagnoseOut(Output):
    vmid: int
    node: str
    verdict: Literal["ok", "problem"]
    checks: list[dict[str, Any]]
    next_steps: list[str]


async def guest_agent_diagnose(ctx: ToolContext, args: VmIn) -> DiagnoseOut:
    """Why the guest agent of a VM does (not) work: enabled in config, VM running, agent answering, version;
    says what to fix."""
    node, res = await locate_guest(ctx, args.vmid, "qemu", args.node)
    conf = await ctx.api("GET", f"/nodes/{node}/qemu/{args.vmid}/config", node=node) or {}
    agent = str(conf.get("agent", "0"))
    enabled = agent.split(",")[0] in ("1", "enabled=1") or "enabled=1" in agent
    checks: list[dict[str, Any]] = [{"check": "enabled in config", "ok": enabled, "value": agent}]
    steps: list[str] = []
    if not enabled:
        steps.append("Enable it: proxmox_vm_update_config set agent=1, then restart the VM (full stop/start).")
    running = res.get("status") == "running"
    checks.append({"check": "VM running", "ok": running, "value": res.get("status")})
    if not running:
        steps.append("Start the VM; the agent answers only while it runs.")
    if enabled and running:
        try:
            _, info = await _agent(ctx, args, "info")
            checks.append({"check": "agent answering", "ok": True, "value": clean_text((info or {}).get("version"))})
        except ProxmoxMCPError as exc:
            checks.append({"check": "agent answering", "ok": False, "value": clean_text(exc.message, 300)})
            steps.append("Install and start qemu-guest-agent inside the guest (apt install qemu-guest-agent; "
                         "systemctl enable --now qemu-guest-agent); check the VM has the virtio-serial device.")
    ok = all(c["ok"] for c in checks)
    return DiagnoseOut(vmid=args.vmid, node=node, verdict="ok" if ok else "problem", checks=checks, next_steps=steps)


TOOLS: list[ToolSpec[Any, Any]] = [
    tool(name="proxmox_node_action", title="Node power and bulk guest actions", toolset="cluster",
         input_model=NodeActionIn, output_model=NodeActionOut, read_only=False, destructive=True)(node_action),
    tool(name="proxmox_backup_start", title="Back up guests now", toolset="backup", input_model=BackupStartIn,
         output_model=NodeActionOut, read_only=False)(backup_start),
    tool(name="proxmox_storage_download_url", title="Download a file to a storage", toolset="storage",
         input_model=DownloadIn, output_model=NodeActionOut, read_only=False, open_world=True)(download_url),
    tool(name="proxmox_console_ticket", title="Console ticket for a guest or node", toolset="console",
         input_model=ConsoleIn, output_model=ConsoleOut, read_only=False, destructive=True)(console_ticket),
    tool(name="proxmox_pci_mapping_create", title="Create a PCI mapping", toolset="pci", input_model=PciMapIn,
         output_model=DataOut, read_only=False)(pci_mapping_create),
    tool(name="proxmox_pci_mapping_update", title="Update a PCI mapping", toolset="pci", input_model=PciMapIn,
         output_model=DataOut, read_only=False, idempotent=True)(pci_mapping_update),
    tool(name="proxmox_pci_mapping_delete", title="Delete a PCI mapping", toolset="pci", input_model=PciDeleteIn,
         output_model=DataOut, read_only=False, destructive=True, idempotent=True)(pci_mapping_delete),
    tool(name="proxmox_vm_cloud_init_dump", title="Dump a VM's cloud-init data", toolset="cloudinit",
         input_model=CloudInitIn, output_model=TextOut, read_only=False, destructive=True,
         idempotent=True)(cloud_init_dump),
    tool(name="proxmox_vm_agent_ping", title="Ping a VM's guest agent", toolset="agent", input_model=VmIn,
         output_model=AgentOut, read_only=False, idempotent=True)(agent_ping),
    tool(name="proxmox_vm_agent_info", title="Guest agent info of a VM", toolset="agent", input_model=VmIn,
         output_model=AgentOut, read_only=True, idempotent=True)(agent_info),
    tool(name="proxmox_vm_guest_exec", title="Run a command in a VM (guest agent)", toolset="agent",
         input_model=GuestExecIn, output_model=AgentOut, read_only=False, destructive=True)(guest_exec),
    tool(name="proxmox_vm_guest_agent_diagnose", title="Diagnose a VM's guest agent", toolset="agent",
         input_model=VmIn, output_model=DiagnoseOut, read_only=True, idempotent=True)(guest_agent_diagnose),
]
