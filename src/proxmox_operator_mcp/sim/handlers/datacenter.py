"""Datacenter-level areas and node operations the typed tools use: backup jobs and vzdump, PCI
mappings, datacenter options, HA, SDN, Ceph (not installed), firewall, node networks, migration,
console tickets, cloud-init dumps, URL downloads, node power.

Their state lives beside the cluster (:func:`extra`), created on first use, so the core state
model stays as it is. What is not modelled still answers 501.
"""

from __future__ import annotations

import secrets
import weakref
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ..cluster import SimCluster
from ..errors import PVEError, TaskFailure, no_such_node
from ..state import Volume, prop_string
from .base import Call, route

__all__ = ["Extra", "extra"]


@dataclass
class Extra:
    pci: dict[str, dict[str, Any]] = field(default_factory=dict)
    backup_jobs: list[dict[str, Any]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    ha_resources: list[dict[str, Any]] = field(default_factory=list)
    vnets: list[dict[str, Any]] = field(default_factory=list)
    zones: list[dict[str, Any]] = field(default_factory=list)
    fw_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    fw_rules: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


_EXTRA: weakref.WeakKeyDictionary[SimCluster, Extra] = weakref.WeakKeyDictionary()


def extra(cluster: SimCluster) -> Extra:
    """The datacenter state of ``cluster`` (seeded on first use)."""
    ex = _EXTRA.get(cluster)
    if ex is None:
        nodes = list(cluster.state.nodes)
        ex = Extra(
            pci={"gpu0": {"id": "gpu0", "description": "NVIDIA RTX A4000", "type": "pci",
                          "map": [f"node={n},path=0000:01:00.0,id=10de:24b0,iommugroup=14" for n in nodes]}},
            backup_jobs=[{"id": "backup-nightly", "type": "vzdump", "schedule": "02:00", "storage": "local",
                          "all": 1, "mode": "snapshot", "compress": "zstd", "enabled": 1,
                          "next-run": int(cluster.clock.time()) + 3600}],
            options={"keyboard": "en-us", "console": "html5", "migration": "type=secure", "tag-style": "shape=circle"},
            ha_resources=[],
            zones=[{"zone": "localnet", "type": "simple", "ipam": "pve"}],
            vnets=[{"vnet": "vnet100", "zone": "localnet", "tag": 100, "type": "vnet"}],
            fw_options={"cluster": {"enable": 0, "policy_in": "DROP", "policy_out": "ACCEPT"}},
            fw_rules={"cluster": [{"pos": 0, "type": "in", "action": "ACCEPT", "proto": "tcp", "dport": "8006",
                                   "enable": 1, "comment": "web UI"}]},
        )
        _EXTRA[cluster] = ex
    return ex


# --- PCI mappings ------------------------------------------------------------------------------


@route("GET", "/cluster/mapping/pci")
def pci_list(call: Call) -> list[dict[str, Any]]:
    return [dict(m) for m in extra(call.cluster).pci.values()]


def _pci(call: Call) -> dict[str, Any]:
    found = extra(call.cluster).pci.get(call.path_params["id"])
    if found is None:
        raise PVEError(500, f"PCI mapping '{call.path_params['id']}' does not exist")
    return found


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


@route("GET", "/cluster/mapping/pci/{id}")
def pci_get(call: Call) -> dict[str, Any]:
    return {**_pci(call), "digest": "0" * 40}


@route("POST", "/cluster/mapping/pci")
def pci_create(call: Call) -> None:
    pci = extra(call.cluster).pci
    mid = str(call.param("id"))
    if mid in pci:
        raise PVEError(500, f"pci ID '{mid}' already defined")
    pci[mid] = {"id": mid, "type": "pci", "map": _as_list(call.param("map"))}
    for k in ("description", "mdev"):
        if call.param(k) is not None:
            pci[mid][k] = call.param(k)


@route("PUT", "/cluster/mapping/pci/{id}")
def pci_update(call: Call) -> None:
    m = _pci(call)
    if call.param("map") is not None:
        m["map"] = _as_list(call.param("map"))
    for k in ("description", "mdev"):
        if call.param(k) is not None:
            m[k] = call.param(k)


@route("DELETE", "/cluster/mapping/pci/{id}")
def pci_delete(call: Call) -> None:
    _pci(call)
    del extra(call.cluster).pci[call.path_params["id"]]


# --- datacenter reads -------------------------------------------------------------------------


@route("GET", "/cluster/backup")
def backup_jobs(call: Call) -> list[dict[str, Any]]:
    return [dict(j) for j in extra(call.cluster).backup_jobs]


@route("GET", "/cluster/options")
def options(call: Call) -> dict[str, Any]:
    return dict(extra(call.cluster).options)


@route("GET", "/cluster/ha/resources")
def ha_resources(call: Call) -> list[dict[str, Any]]:
    return [dict(r) for r in extra(call.cluster).ha_resources]


@route("GET", "/cluster/ha/status/current")
def ha_current(call: Call) -> list[dict[str, Any]]:
    st = call.cluster.state
    out: list[dict[str, Any]] = [{"id": "quorum", "type": "quorum", "node": call.cluster.entry_node,
                                  "status": "OK", "quorate": 1}]
    out.append({"id": "master", "type": "master", "node": call.cluster.entry_node, "status": "idle"})
    out += [{"id": f"lrm:{n}", "type": "lrm", "node": n, "status": "idle"} for n in st.nodes]
    return out


@route("GET", "/cluster/sdn/zones")
def sdn_zones(call: Call) -> list[dict[str, Any]]:
    return [dict(z) for z in extra(call.cluster).zones]


@route("GET", "/cluster/sdn/vnets")
def sdn_vnets(call: Call) -> list[dict[str, Any]]:
    return [dict(v) for v in extra(call.cluster).vnets]


@route("GET", "/cluster/sdn/controllers")
def sdn_controllers(call: Call) -> list[dict[str, Any]]:
    return []


@route("GET", "/cluster/ceph/status")
def ceph_status(call: Call) -> None:
    # What PVE answers on a cluster without Ceph (pveceph not initialised).
    raise PVEError(500, "binary not installed: /usr/bin/ceph-mon")


def _fw_scope(call: Call) -> str:
    if "vmid" in call.path_params:
        kind = "qemu" if "/qemu/" in call.template else "lxc"
        call.guest(kind)
        return f"guest:{call.vmid}"
    return f"node:{call.node_name}" if "node" in call.path_params else "cluster"


def fw_options(call: Call) -> dict[str, Any]:
    return dict(extra(call.cluster).fw_options.get(_fw_scope(call), {"enable": 0}))


def fw_rules(call: Call) -> list[dict[str, Any]]:
    return [dict(r) for r in extra(call.cluster).fw_rules.get(_fw_scope(call), [])]


for _base in ("/cluster/firewall", "/nodes/{node}/firewall", "/nodes/{node}/qemu/{vmid}/firewall",
              "/nodes/{node}/lxc/{vmid}/firewall"):
    route("GET", f"{_base}/options")(fw_options)
    route("GET", f"{_base}/rules")(fw_rules)


@route("GET", "/nodes/{node}/network")
def network(call: Call) -> list[dict[str, Any]]:
    n = call.node
    return [
        {"iface": "eno1", "type": "eth", "active": 1, "autostart": 1, "method": "manual", "families": ["inet"]},
        {"iface": "vmbr0", "type": "bridge", "active": 1, "autostart": 1, "method": "static", "families": ["inet"],
         "cidr": f"{n.ip}/24", "address": n.ip, "netmask": "24", "gateway": "10.10.10.1",
         "bridge_ports": "eno1", "bridge_stp": "off", "bridge_fd": "0"},
    ]


# --- node operations --------------------------------------------------------------------------


@route("POST", "/nodes/{node}/status")
def node_power(call: Call) -> None:
    # Rebooting the simulated node is not modelled (it would take every guest down with it).
    raise PVEError(501, f"Method 'POST /nodes/{call.node_name}/status' command {call.param('command')} "
                        "not implemented (not simulated)")


@route("POST", "/nodes/{node}/vzdump")
def vzdump(call: Call) -> str:
    ids = [int(v) for v in str(call.param("vmid") or "").replace(";", ",").split(",") if v.strip()]
    if not ids:
        raise PVEError(501, "vzdump without vmid (--all, --pool) not implemented (not simulated)")
    st = call.cluster.state
    storage = str(call.param("storage") or "local")
    sdef = st.storages.get(storage)
    if sdef is None:
        raise PVEError(500, f"storage '{storage}' does not exist")
    if "backup" not in sdef.content:
        raise PVEError(500, f"storage '{storage}' does not support backups")
    guests = []
    for vmid in ids:
        g = st.guests.get(vmid)
        if g is None or g.node != call.node_name:
            raise PVEError(500, f"guest {vmid} is not on node '{call.node_name}'")
        guests.append(g)
    node = call.node_name

    def finish(task: Any) -> None:
        for g in guests:
            ext = "vma.zst" if g.kind == "qemu" else "tar.zst"
            stamp = int(call.now())
            task.say(f"INFO: Starting Backup of VM {g.vmid} ({g.kind})")
            st.files.setdefault((node, storage), []).append(
                Volume(f"{storage}:backup/vzdump-{g.kind}-{g.vmid}-{stamp}.{ext}", "backup", ext,
                       g.maxdisk() // 5, stamp, vmid=g.vmid, notes=g.name))
            task.say(f"INFO: Finished Backup of VM {g.vmid}")

    lines = [f"INFO: starting new backup job: vzdump {' '.join(map(str, ids))} --storage {storage}"]
    return call.cluster.start_task(node, "vzdump", ",".join(map(str, ids)) if len(ids) > 1 else ids[0],
                                   call.authid, lines=lines, finish=finish).upid


def migrate(call: Call, kind: str) -> str:
    g = call.guest(kind)  # type: ignore[arg-type]
    target = str(call.param("target"))
    if target not in call.cluster.state.nodes:
        raise no_such_node(target)
    if target == g.node:
        raise PVEError(400, "target is local node.")
    if not call.cluster.node_online(target):
        raise PVEError(500, f"target node '{target}' is offline")
    if g.running and not (call.flag("online") or call.flag("restart")):
        raise PVEError(500, f"can't migrate running {g.label} without --online" if kind == "qemu"
                       else "CT is running - use online migration or restart mode")

    def finish(task: Any) -> None:
        for k in list(g.config):
            v = g.config[k]
            if k.startswith(("scsi", "virtio", "sata", "ide", "rootfs", "mp")) and "local-lvm:" in v and "cdrom" not in v:
                task.say(f"copying local disk '{prop_string(g.config[k])[0]}' to node '{target}'")
        g.node = target

    lines = [f"starting migration of {g.label} {g.vmid} to node '{target}'", "migration finished successfully"]
    return call.cluster.start_task(g.node, "qmigrate" if kind == "qemu" else "vzmigrate", g.vmid,
                                   call.authid, lines=lines, finish=finish, guest=g).upid


for _kind in ("qemu", "lxc"):
    route("POST", f"/nodes/{{node}}/{_kind}/{{vmid}}/migrate")(partial(migrate, kind=_kind))


def _ticket(call: Call, what: str, vmid: int | None) -> dict[str, Any]:
    task = call.cluster.start_task(call.node_name, what, vmid, call.authid, duration=10.0)
    return {"port": 5900 + (vmid or 0) % 100, "ticket": "PVEVNC:" + secrets.token_hex(16).upper(),
            "user": call.authid, "cert": "-----BEGIN CERTIFICATE-----\n(simulated)\n-----END CERTIFICATE-----",
            "upid": task.upid}


def vncproxy(call: Call, kind: str) -> dict[str, Any]:
    g = call.guest(kind)  # type: ignore[arg-type]
    if not g.running:
        raise PVEError(500, f"{g.label} {g.vmid} not running")
    return _ticket(call, "vncproxy", g.vmid)


for _kind in ("qemu", "lxc"):
    route("POST", f"/nodes/{{node}}/{_kind}/{{vmid}}/vncproxy")(partial(vncproxy, kind=_kind))


@route("POST", "/nodes/{node}/termproxy")
def termproxy(call: Call) -> dict[str, Any]:
    return _ticket(call, "vncshell", None)


@route("GET", "/nodes/{node}/qemu/{vmid}/cloudinit/dump")
def cloudinit_dump(call: Call) -> str:
    g = call.guest("qemu")
    kind = call.param("type")
    if kind == "user":
        user = g.config.get("ciuser", "debian")
        keys = g.config.get("sshkeys", "")
        out = f"#cloud-config\nhostname: {g.name}\nmanage_etc_hosts: true\nuser: {user}\n"
        if g.config.get("cipassword"):
            out += f"password: {g.config['cipassword']}\n"
        if keys:
            out += "ssh_authorized_keys:\n" + "".join(f"  - {k}\n" for k in keys.split("%0A") if k)
        return out + "chpasswd:\n  expire: False\npackage_upgrade: true\n"
    if kind == "network":
        return "version: 1\nconfig:\n    - type: physical\n      name: eth0\n      subnets:\n      - type: dhcp4\n"
    return f"instance-id: {g.digest()}\n"


@route("POST", "/nodes/{node}/storage/{storage}/download-url")
def download_url(call: Call) -> str:
    st = call.cluster.state
    sid = call.path_params["storage"]
    sdef = st.storages.get(sid)
    if sdef is None:
        raise PVEError(500, f"storage '{sid}' does not exist")
    content = str(call.param("content"))
    if content not in sdef.content:
        raise PVEError(500, f"storage '{sid}' does not support content-type '{content}'")
    filename = str(call.param("filename"))
    volid = f"{sid}:{content}/{filename}"
    vols = st.files.setdefault((call.node_name, sid), [])
    if any(v.volid == volid for v in vols):
        raise PVEError(500, f"refusing to override existing file '{filename}'")
    url = str(call.param("url"))

    def finish(task: Any) -> None:
        if "fail" in url:
            raise TaskFailure(f"download failed: 404 Not Found ({url})")
        vols.append(Volume(volid, content, filename.rsplit(".", 1)[-1], 512 * 1024 * 1024, int(call.now())))

    return call.cluster.start_task(call.node_name, "download", None, call.authid,
                                   lines=[f"downloading {url} to /var/lib/vz/{content}/{filename}"], finish=finish).upid
