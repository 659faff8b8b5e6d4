"""Read-only views of the cluster's other areas (storage, backups, network, firewall, users, Ceph,
SDN, HA, options, PCI mappings), each one :func:`~.domain.list_tool` or a small handler."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .base import Input, NodeName, Output, ToolContext, ToolSpec, VmId, tool
from .common import locate_guest
from .domain import DataOut, ListIn, NodeListIn, clean_row, list_tool

__all__ = ["TOOLS"]


class BackupListIn(NodeListIn):
    storage: str = Field("local", max_length=64, pattern=r"^[a-zA-Z][a-zA-Z0-9\-_.]*$")
    vmid: VmId | None = Field(None, description="Only backups of this guest.")


class StorageGetIn(Input):
    storage: str = Field(max_length=64, pattern=r"^[a-zA-Z][a-zA-Z0-9\-_.]*$")
    node: NodeName | None = Field(None, description="Node for usage; default: the configured default node.")


async def storage_get(ctx: ToolContext, args: StorageGetIn) -> DataOut:
    """One storage: its definition (type, content, path/pool) and usage on the node."""
    node = ctx.default_node(args.node)
    conf = await ctx.api("GET", f"/storage/{args.storage}")
    status = await ctx.api("GET", f"/nodes/{node}/storage/{args.storage}/status", node=node)
    return DataOut(data={"node": node, "config": clean_row(conf or {}), "status": clean_row(status or {})})


class FirewallIn(Input):
    scope: Literal["cluster", "node", "vm", "lxc"] = "cluster"
    node: NodeName | None = Field(None, description="scope node: the node (default: the configured one).")
    vmid: VmId | None = Field(None, description="scope vm/lxc: the guest.")


async def firewall_get(ctx: ToolContext, args: FirewallIn) -> DataOut:
    """Firewall options and rules of the cluster, a node, or a guest."""
    if args.scope == "cluster":
        base, node = "/cluster/firewall", None
    elif args.scope == "node":
        node = ctx.default_node(args.node)
        base = f"/nodes/{node}/firewall"
    else:
        from ..errors import InvalidArgumentError

        if args.vmid is None:
            raise InvalidArgumentError("vmid is required for scope vm/lxc")
        kind = "qemu" if args.scope == "vm" else "lxc"
        node, _ = await locate_guest(ctx, args.vmid, kind, args.node)
        base = f"/nodes/{node}/{kind}/{args.vmid}/firewall"
    options = await ctx.api("GET", f"{base}/options", node=node)
    rules = await ctx.api("GET", f"{base}/rules", node=node)
    return DataOut(data={"scope": args.scope, "options": clean_row(options or {}),
                         "rules": [clean_row(r) for r in rules or []]})


class CephOut(Output):
    health: str | None = None
    data: dict[str, Any]


async def ceph_status(ctx: ToolContext, args: Input) -> CephOut:
    """Ceph health, monitors, OSDs and usage (when Ceph is installed)."""
    st = await ctx.api("GET", "/cluster/ceph/status") or {}
    keep = {k: st[k] for k in ("health", "monmap", "osdmap", "pgmap", "fsid") if k in st}
    health = (st.get("health") or {}).get("status")
    if "health" in keep:
        keep["health"] = {"status": health, "checks": sorted(st["health"].get("checks") or {})}
    return CephOut(health=health, data=keep)


async def ha_status(ctx: ToolContext, args: Input) -> DataOut:
    """HA manager status and the state of each HA resource."""
    current = await ctx.api("GET", "/cluster/ha/status/current")
    resources = await ctx.api("GET", "/cluster/ha/resources")
    return DataOut(data={"status": [clean_row(r) for r in current or []],
                         "resources": [clean_row(r) for r in resources or []]})


async def cluster_options(ctx: ToolContext, args: Input) -> DataOut:
    """Datacenter options (keyboard, migration, console, HA, tag style...)."""
    return DataOut(data=clean_row(await ctx.api("GET", "/cluster/options") or {}))


class SdnListIn(ListIn):
    kind: Literal["zones", "vnets", "controllers"] = "vnets"


def _sdn_rows(data: Any) -> list[Any]:
    return [{"name": r.get("vnet") or r.get("zone") or r.get("controller"), **r} for r in data or []]


class IdIn(Input):
    id: str = Field(max_length=64, pattern=r"^[a-zA-Z][a-zA-Z0-9\-_.]*$", description="Mapping id.")


async def pci_mapping_get(ctx: ToolContext, args: IdIn) -> DataOut:
    """One PCI mapping: its per-node device map, mdev and description."""
    return DataOut(data=clean_row(await ctx.api("GET", f"/cluster/mapping/pci/{args.id}") or {}))


def _ro(name: str, title: str, toolset: str, fn: Any, in_model: Any, out_model: Any = DataOut) -> ToolSpec[Any, Any]:
    return tool(name=name, title=title, toolset=toolset, input_model=in_model, output_model=out_model,
                read_only=True, idempotent=True)(fn)


TOOLS: list[ToolSpec[Any, Any]] = [
    list_tool(name="proxmox_storage_list", title="List storages", toolset="storage", path="/nodes/{node}/storage",
              key="storage", doc="Storages of a node with type, content and usage (bytes)."),
    _ro("proxmox_storage_get", "Get a storage", "storage", storage_get, StorageGetIn),
    list_tool(name="proxmox_backup_list", title="List backups on a storage", toolset="backup",
              path="/nodes/{node}/storage/{storage}/content", key="volid",
              doc="Backup files on a storage (volid, guest, size, time, notes); filter by vmid or name glob.",
              input_model=BackupListIn,
              params=lambda a: {"content": "backup", **({"vmid": a.vmid} if a.vmid else {})}),
    list_tool(name="proxmox_backup_jobs", title="List backup jobs", toolset="backup", path="/cluster/backup",
              key="id", doc="Scheduled backup jobs: schedule, storage, guests, mode, enabled."),
    list_tool(name="proxmox_network_list", title="List node network interfaces", toolset="network",
              path="/nodes/{node}/network", key="iface",
              doc="Network interfaces of a node: bridges, bonds, VLANs, addresses, pending changes."),
    _ro("proxmox_firewall_get", "Get firewall options and rules", "network", firewall_get, FirewallIn),
    list_tool(name="proxmox_sdn_list", title="List SDN zones, VNets or controllers", toolset="network",
              path="/cluster/sdn/{kind}", key="name", rows=_sdn_rows, doc="SDN zones, VNets or controllers of the cluster.",
              input_model=SdnListIn),
    list_tool(name="proxmox_user_list", title="List users", toolset="access", path="/access/users", key="userid",
              doc="Users with realm, enabled, expiry, groups and token count.", params=lambda a: {"full": 1}),
    _ro("proxmox_ceph_status", "Ceph status", "cluster", ceph_status, Input, CephOut),
    _ro("proxmox_ha_status", "HA status", "cluster", ha_status, Input),
    _ro("proxmox_cluster_options", "Datacenter options", "cluster", cluster_options, Input),
    list_tool(name="proxmox_pci_mapping_list", title="List PCI mappings", toolset="pci", path="/cluster/mapping/pci",
              key="id", doc="Cluster-wide PCI device mappings (id, description, per-node devices)."),
    _ro("proxmox_pci_mapping_get", "Get a PCI mapping", "pci", pci_mapping_get, IdIn),
]
