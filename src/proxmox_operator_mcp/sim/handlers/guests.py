"""QEMU VMs (``/nodes/{node}/qemu``) and LXC containers (``/nodes/{node}/lxc``).

Checks that PVE makes in the API call itself answer at once (500 with PVE's message); checks
that PVE makes inside the worker end the task with ``TASK ERROR``. Which is which follows
qemu-server's ``PVE/API2/Qemu.pm`` and pve-container's ``PVE/API2/LXC*.pm``:

* VM start on a running VM: the task fails (``VM 101 already running``); CT start on a running
  CT: 500 at once (``CT 201 already running``).
* VM stop/shutdown of a stopped VM: the task ends OK (nothing to do); CT stop/shutdown of a
  stopped CT: 500 ``CT 201 not running``.
* VM reboot/resume of a stopped VM: 500 ``VM 101 not running``; VM suspend/reset of a stopped
  VM: the task fails with the same text.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

from ..errors import PVEError, TaskFailure, no_such_node, param_error
from ..state import (
    CT_TEMPLATES,
    GiB,
    Guest,
    GuestKind,
    disk_keys,
    drive_volume,
    format_size,
    prop_string,
    typed_config,
)
from ..tasks import Task
from .base import Call, index, route
from .cluster import guest_usage

_RESERVED = {"node", "vmid", "digest", "delete", "revert", "skiplock", "force", "background_delay"}
_QEMU_FAST_PLUG = {
    "name",
    "onboot",
    "shares",
    "startup",
    "description",
    "protection",
    "vmstatestorage",
    "hookscript",
    "tags",
}
_LXC_HOT = {
    "cpulimit",
    "cpuunits",
    "cores",
    "memory",
    "swap",
    "description",
    "onboot",
    "protection",
    "tags",
    "startup",
    "hookscript",
}
_TASK = {
    "qemu": {
        "start": "qmstart",
        "stop": "qmstop",
        "shutdown": "qmshutdown",
        "reboot": "qmreboot",
        "suspend": "qmsuspend",
        "resume": "qmresume",
        "reset": "qmreset",
        "create": "qmcreate",
        "clone": "qmclone",
        "template": "qmtemplate",
        "destroy": "qmdestroy",
        "snapshot": "qmsnapshot",
        "rollback": "qmrollback",
        "delsnapshot": "qmdelsnapshot",
        "config": "qmconfig",
    },
    "lxc": {
        "start": "vzstart",
        "stop": "vzstop",
        "shutdown": "vzshutdown",
        "reboot": "vzreboot",
        "suspend": "vzsuspend",
        "resume": "vzresume",
        "create": "vzcreate",
        "clone": "vzclone",
        "destroy": "vzdestroy",
        "snapshot": "vzsnapshot",
        "rollback": "vzrollback",
        "delsnapshot": "vzdelsnapshot",
    },
}


def _split_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        value = ",".join(map(str, value))
    return [v for v in re.split(r"[,;\s]+", str(value)) if v]


def _check_lock(g: Guest, skiplock: bool = False, *, allow: tuple[str, ...] = ()) -> None:
    lock = g.lock
    if lock and not skiplock and lock not in allow:
        raise TaskFailure(f"{g.label} is locked ({lock})")


def _sync(fn: Callable[[], object]) -> None:
    """Run a worker-style check in the API call: a TaskFailure becomes a 500."""
    try:
        fn()
    except TaskFailure as exc:
        raise PVEError(500, exc.message) from None


def _start(call: Call, g: Guest) -> None:
    """The guest runs: a new pid, uptime from now, pending changes applied (as vm_start does)."""
    node = call.cluster.state.nodes[g.node]
    node.next_pid += 7
    g.status = "running"
    g.paused = False
    g.pid = node.next_pid
    g.started_at = call.cluster.clock.time()
    g.apply_pending()


def _stop(g: Guest) -> None:
    """The guest is off; pending changes are applied (as vm_stop_cleanup does)."""
    g.status = "stopped"
    g.paused = False
    g.pid = None
    g.started_at = None
    g.apply_pending()


def _vmid_unused(call: Call, vmid: int) -> None:
    other = call.cluster.state.guests.get(vmid)
    if other is not None:
        raise PVEError(500, f"{other.label} {vmid} already exists on node '{other.node}'")


def _skiplock(call: Call) -> bool:
    skip = call.flag("skiplock")
    if skip and call.authid != "root@pam":
        raise param_error({"skiplock": "Only root may use this option."})
    return skip


# --- lists, indexes, status ------------------------------------------------------------------


def list_guests(call: Call, kind: GuestKind) -> list[dict[str, Any]]:
    out = []
    for g in sorted(call.cluster.state.guests_on(call.node_name, kind), key=lambda g: g.vmid):
        if not call.can(f"/vms/{g.vmid}", "VM.Audit"):
            continue
        entry = guest_usage(call, g)
        if kind == "qemu":
            entry["vmid"] = g.vmid
            if call.flag("full") and g.running:
                entry["qmpstatus"] = "paused" if g.paused else "running"
                entry["running-machine"] = g.config.get("machine", "pc-i440fx-9.2+pve1")
                entry["running-qemu"] = "9.2.0"
        else:
            entry["vmid"] = str(g.vmid)  # LXC lists carry the vmid as a string, as PVE's do
            entry["type"] = "lxc"
        out.append(entry)
    return out


def guest_index(call: Call, kind: GuestKind) -> list[dict[str, str]]:
    call.guest(kind)
    names = (
        [
            "config",
            "pending",
            "status",
            "unlink",
            "vncproxy",
            "termproxy",
            "migrate",
            "resize",
            "move",
            "rrd",
            "rrddata",
            "monitor",
            "agent",
            "snapshot",
            "spiceproxy",
            "sendkey",
            "firewall",
            "mtunnel",
            "remote_migrate",
        ]
        if kind == "qemu"
        else [
            "config",
            "pending",
            "status",
            "vncproxy",
            "termproxy",
            "vncwebsocket",
            "spiceproxy",
            "migrate",
            "clone",
            "rrd",
            "rrddata",
            "firewall",
            "snapshot",
            "resize",
            "interfaces",
            "mtunnel",
        ]
    )
    return [{"subdir": n} for n in names]


def status_index(call: Call, kind: GuestKind) -> list[dict[str, str]]:
    call.guest(kind)
    names = ["current", "start", "stop", "shutdown", "reboot", "suspend", "resume"]
    if kind == "qemu":
        names.append("reset")
    return [{"subdir": n} for n in names]


def status_current(call: Call, kind: GuestKind) -> dict[str, Any]:
    g = call.guest(kind)
    out = guest_usage(call, g)
    out["vmid"] = g.vmid if kind == "qemu" else str(g.vmid)
    out["ha"] = {"managed": 0}
    if kind == "qemu":
        out["qmpstatus"] = ("paused" if g.paused else "running") if g.running else "stopped"
        if _agent_enabled(g):
            out["agent"] = 1
        if g.running:
            out["running-machine"] = g.config.get("machine", "pc-i440fx-9.2+pve1")
            out["running-qemu"] = "9.2.0"
            out["proxmox-support"] = {"pbs-library-version": "1.5.2", "query-bitmap-info": True}
    else:
        out["type"] = "lxc"
    return out


# --- power -----------------------------------------------------------------------------------


def power(call: Call, kind: GuestKind, action: str) -> str:
    g = call.guest(kind)
    skiplock = _skiplock(call) if "skiplock" in call.params else False
    cl = call.cluster
    label, vmid = g.label, g.vmid
    begin = None
    finish = None

    if kind == "lxc":
        if action == "start" and g.running:
            raise PVEError(500, f"CT {vmid} already running")
        if action != "start" and not g.running:
            raise PVEError(500, f"CT {vmid} not running")
    else:
        if action in ("shutdown", "reboot") and g.running and g.paused and not call.flag("forceStop"):
            raise PVEError(500, "VM is paused - cannot shutdown")
        if action in ("reboot", "resume") and not g.running:
            raise PVEError(500, f"VM {vmid} not running")

    if action == "start":

        def begin(t: Task) -> None:
            if g.template:
                raise TaskFailure(f"you can't start a {'vm' if kind == 'qemu' else 'CT'} if it's a template")
            _check_lock(g, skiplock, allow=("suspended",))
            if g.running:
                raise TaskFailure(f"{label} {vmid} already running")

        def finish(t: Task) -> None:
            if g.lock == "suspended":  # resuming a VM suspended to disk
                del g.config["lock"]
            _start(call, g)

    elif action in ("stop", "shutdown"):

        def begin(t: Task) -> None:
            _check_lock(g, skiplock)

        def finish(t: Task) -> None:
            if g.running:
                _stop(g)

    elif action == "reboot":

        def begin(t: Task) -> None:
            _check_lock(g)

        def finish(t: Task) -> None:
            if g.running:
                _stop(g)
                _start(call, g)

    elif action == "suspend":
        todisk = call.flag("todisk")

        def begin(t: Task) -> None:
            if not g.running:
                raise TaskFailure(f"VM {vmid} not running")
            _check_lock(g, skiplock)

        def finish(t: Task) -> None:
            if todisk:
                _stop(g)
                g.config["lock"] = "suspended"
            else:
                g.paused = True

    elif action == "resume":

        def finish(t: Task) -> None:
            g.paused = False

    elif action == "reset":

        def begin(t: Task) -> None:
            if not g.running:
                raise TaskFailure(f"VM {vmid} not running")
            _check_lock(g, skiplock)

    task = cl.start_task(g.node, _TASK[kind][action], vmid, call.authid, begin=begin, finish=finish, guest=g)
    return task.upid


# --- config ------------------------------------------------------------------------------------


def get_config(call: Call, kind: GuestKind) -> dict[str, Any]:
    g = call.guest(kind)
    snapname = call.param("snapshot")
    if snapname:
        if snapname not in g.snapshots:
            raise PVEError(500, f"snapshot '{snapname}' does not exist")
        conf = dict(g.snapshots[snapname])
    elif call.flag("current"):
        conf = dict(g.config)
    else:
        conf = g.effective_config()
    if "cipassword" in conf:
        conf["cipassword"] = "**********"
    out = typed_config(kind, conf)
    out["digest"] = g.digest()
    return out


def get_pending(call: Call, kind: GuestKind) -> list[dict[str, Any]]:
    g = call.guest(kind)
    cur = typed_config(kind, g.config)
    pend = typed_config(kind, g.pending)
    out: list[dict[str, Any]] = []
    for key in sorted(set(cur) | set(pend) | set(g.pending_delete)):
        item: dict[str, Any] = {"key": key}
        if key in cur:
            item["value"] = cur[key]
        if key in pend:
            item["pending"] = pend[key]
        if key in g.pending_delete:
            item["delete"] = 2 if g.pending_delete[key] else 1
        out.append(item)
    out.append({"key": "digest", "value": g.digest()})
    return out


def _hot(kind: GuestKind, g: Guest, key: str) -> bool:
    """May ``key`` change on the running guest at once, or must it wait (pending)?"""
    if kind == "lxc":
        return key in _LXC_HOT or re.fullmatch(r"net\d+|mp\d+|unused\d+", key) is not None
    if key in _QEMU_FAST_PLUG or key in ("balloon", "cpulimit", "cpuunits") or key.startswith("unused"):
        return True
    hp = g.config.get("hotplug", "network,disk,usb")
    opts = {"network", "disk", "usb", "memory", "cpu"} if hp == "1" else set() if hp == "0" else set(hp.split(","))
    if re.fullmatch(r"net\d+", key):
        return "network" in opts
    if re.fullmatch(r"(scsi|virtio|sata)\d+", key):
        return "disk" in opts
    if re.fullmatch(r"usb\d+", key):
        return "usb" in opts
    if key == "memory":
        return "memory" in opts
    if key == "vcpus":
        return "cpu" in opts
    return False


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _prepare_values(
    call: Call, kind: GuestKind, vmid: int, values: dict[str, Any], existing: dict[str, str]
) -> dict[str, str]:
    """Turn API values into config text: new MACs for NICs, allocated volumes for new disks."""
    out: dict[str, str] = {}
    used = {drive_volume(v)[0] for k, v in existing.items() if k in disk_keys(kind, existing)}
    disk_no = 0
    for key, raw in values.items():
        value = _text(raw)
        if re.fullmatch(r"net\d+", key):
            value = _with_mac(kind, value, call)
        elif _is_disk_key(kind, key):
            vol, opts = prop_string(value)
            if kind == "lxc" and key != "rootfs" and vol is None:
                vol = opts.pop("volume", None)
            m = re.fullmatch(r"([a-z][a-z0-9\-_.]*):(\d+(?:\.\d+)?)", vol or "")
            if m and opts.get("media") != "cdrom":
                storage, size = m.group(1), m.group(2)
                _check_storage(call, storage, "rootdir" if kind == "lxc" else "images")
                while f"{storage}:vm-{vmid}-disk-{disk_no}" in used:
                    disk_no += 1
                volid = f"{storage}:vm-{vmid}-disk-{disk_no}"
                used.add(volid)
                size_txt = format_size(int(float(size) * GiB))
                rest = ",".join(f"{k}={v}" for k, v in opts.items() if k != "size")
                value = ",".join(p for p in (volid, rest, f"size={size_txt}") if p)
                if kind == "lxc" and key != "rootfs":
                    value = f"{volid},{rest}" if rest else volid
                    value += f",size={size_txt}"
        out[key] = value
    return out


def _is_disk_key(kind: GuestKind, key: str) -> bool:
    if kind == "qemu":
        return re.fullmatch(r"(ide|sata|scsi|virtio)\d+|efidisk0|tpmstate0", key) is not None
    return re.fullmatch(r"rootfs|mp\d+", key) is not None


def _with_mac(kind: GuestKind, value: str, call: Call) -> str:
    rng = call.cluster.rng
    mac = "BC:24:11:" + ":".join(f"{rng.randrange(256):02X}" for _ in range(3))
    if kind == "qemu":
        first, _ = prop_string(value)
        if first and "=" not in value.split(",")[0]:
            return f"{first}={mac}" + value[len(first) :]
        return value
    if "hwaddr=" not in value:
        value += f",hwaddr={mac}"
    if "type=" not in value:
        value += ",type=veth"
    return value


def _check_storage(call: Call, storage: str, content: str) -> None:
    sdef = call.cluster.state.storages.get(storage)
    if sdef is None:
        raise PVEError(500, f"storage '{storage}' does not exist")
    if content not in sdef.content:
        what = "container directories" if content == "rootdir" else "VM images"
        raise PVEError(500, f"storage '{storage}' does not support {what}")


def update_config(call: Call, kind: GuestKind, *, asynchronous: bool) -> str | None:
    g = call.guest(kind)
    skiplock = _skiplock(call) if "skiplock" in call.params else False
    deletes = _split_list(call.param("delete"))
    reverts = _split_list(call.param("revert"))
    values = {k: v for k, v in call.params.items() if k not in _RESERVED}
    if not values and not deletes and not reverts:
        raise PVEError(500, "no options specified")
    for key in deletes:
        if key in values:
            raise param_error({"delete": f"you can't use '-{key}' and -delete {key}' at the same time"})
    for key in reverts:
        if key in values or key in deletes:
            raise param_error({"revert": f"you can't use '-{key}' and '-revert {key}' at the same time"})
    force = call.flag("force")
    digest = call.param("digest")
    prepared = _prepare_values(call, kind, g.vmid, values, g.config)

    def apply(t: Task | None = None) -> None:
        if digest and digest != g.digest():
            raise TaskFailure("detected modified configuration - file changed by other user? Try again.")
        _check_lock(g, skiplock)
        for key in reverts:
            g.pending.pop(key, None)
            g.pending_delete.pop(key, None)
        for key in deletes:
            g.pending.pop(key, None)
            g.pending_delete[key] = force
        for key, value in prepared.items():
            g.pending_delete.pop(key, None)
            g.pending[key] = value
        if not g.running:
            g.apply_pending()
            return
        for key in list(g.pending):
            if _hot(kind, g, key):
                g.config[key] = g.pending.pop(key)
        for key in list(g.pending_delete):
            if _hot(kind, g, key):
                g.config.pop(key, None)
                del g.pending_delete[key]

    if not asynchronous:
        _sync(apply)
        return None
    return call.cluster.start_task(g.node, _TASK[kind]["config"], g.vmid, call.authid, finish=apply, guest=g).upid


# --- snapshots ---------------------------------------------------------------------------------


def list_snapshots(call: Call, kind: GuestKind) -> list[dict[str, Any]]:
    g = call.guest(kind)
    out: list[dict[str, Any]] = []
    for name, snap in g.snapshots.items():
        entry: dict[str, Any] = {"name": name, "description": snap.get("description", "")}
        if "snaptime" in snap:
            entry["snaptime"] = int(snap["snaptime"])
        if "parent" in snap:
            entry["parent"] = snap["parent"]
        if kind == "qemu":
            entry["vmstate"] = int(bool(snap.get("vmstate")))
        out.append(entry)
    current: dict[str, Any] = {"name": "current", "description": "You are here!", "digest": g.digest()}
    if kind == "qemu":
        current["running"] = int(g.running)
    if "parent" in g.config:
        current["parent"] = g.config["parent"]
    out.append(current)
    return out


def _snap_volumes(g: Guest) -> list[tuple[str, str]]:
    """(config key, volid) of each volume a snapshot covers."""
    return [(k, drive_volume(g.config[k])[0]) for k in disk_keys(g.kind, g.config) if not k.startswith("unused")]


def create_snapshot(call: Call, kind: GuestKind) -> str:
    g = call.guest(kind)
    name = str(call.param("snapname"))
    if name == "current":
        raise PVEError(500, "unable to use snapshot name 'current' (reserved name)")
    if name.lower() == "pending":
        raise PVEError(500, "unable to use snapshot name 'pending' (reserved name)")
    vmstate = call.flag("vmstate") and kind == "qemu"
    description = call.param("description")
    lines = []
    if vmstate and g.running:
        lines += [
            "saving VM state and RAM using storage 'local-lvm'",
            "completed saving the VM state in 1s, saved 1.23 GiB",
        ]
    for key, vol in _snap_volumes(g):
        volname = vol.partition(":")[2]
        lines += [f"snapshotting 'drive-{key}' ({vol})", f'  Logical volume "snap_{volname}_{name}" created.']

    def begin(t: Task) -> None:
        _check_lock(g)
        if name in g.snapshots:
            raise TaskFailure(f"snapshot name '{name}' already used")
        g.config["lock"] = "snapshot"

    def finish(t: Task) -> None:
        g.config.pop("lock", None)
        snap = {k: v for k, v in g.config.items() if k != "parent"}
        if "parent" in g.config:
            snap["parent"] = g.config["parent"]
        snap["snaptime"] = str(int(call.cluster.clock.time()))
        if description:
            snap["description"] = str(description)
        if vmstate and g.running:
            snap["vmstate"] = f"local-lvm:vm-{g.vmid}-state-{name}"
        g.snapshots[name] = snap
        g.config["parent"] = name

    def abort(t: Task) -> None:
        if g.lock == "snapshot":
            g.config.pop("lock", None)

    return call.cluster.start_task(
        g.node,
        _TASK[kind]["snapshot"],
        g.vmid,
        call.authid,
        lines=lines,
        begin=begin,
        finish=finish,
        abort=abort,
        guest=g,
    ).upid


def _snapshot(g: Guest, name: str) -> dict[str, str]:
    if name not in g.snapshots:
        raise TaskFailure(f"snapshot '{name}' does not exist")
    return g.snapshots[name]


def delete_snapshot(call: Call, kind: GuestKind) -> str:
    g = call.guest(kind)
    name = call.path_params["snapname"]
    force = call.flag("force")
    lines = [f'  Logical volume "snap_{v.partition(":")[2]}_{name}" successfully removed.' for _, v in _snap_volumes(g)]

    def begin(t: Task) -> None:
        _snapshot(g, name)
        if not force:
            _check_lock(g)
        g.config["lock"] = "snapshot-delete"

    def finish(t: Task) -> None:
        g.config.pop("lock", None)
        snap = g.snapshots.pop(name)
        parent = snap.get("parent")
        for other in g.snapshots.values():
            if other.get("parent") == name:
                if parent:
                    other["parent"] = parent
                else:
                    other.pop("parent", None)
        if g.config.get("parent") == name:
            if parent:
                g.config["parent"] = parent
            else:
                g.config.pop("parent", None)

    def abort(t: Task) -> None:
        if g.lock == "snapshot-delete":
            g.config.pop("lock", None)

    return call.cluster.start_task(
        g.node,
        _TASK[kind]["delsnapshot"],
        g.vmid,
        call.authid,
        lines=lines,
        begin=begin,
        finish=finish,
        abort=abort,
        guest=g,
    ).upid


def rollback_snapshot(call: Call, kind: GuestKind) -> str:
    g = call.guest(kind)
    name = call.path_params["snapname"]
    start = call.flag("start")
    lines = []
    for _, vol in _snap_volumes(g):
        volname = vol.partition(":")[2]
        lines += [f'  Logical volume "{volname}" successfully removed.', f'  Logical volume "{volname}" created.']

    def begin(t: Task) -> None:
        _snapshot(g, name)
        _check_lock(g)
        g.config["lock"] = "rollback"

    def finish(t: Task) -> None:
        snap = g.snapshots[name]
        if g.running:
            _stop(g)
        conf = {k: v for k, v in snap.items() if k not in ("snaptime", "description", "vmstate", "parent")}
        conf["parent"] = name
        g.config = conf
        g.pending.clear()
        g.pending_delete.clear()
        if snap.get("vmstate") or start:
            _start(call, g)

    def abort(t: Task) -> None:
        if g.lock == "rollback":
            g.config.pop("lock", None)

    return call.cluster.start_task(
        g.node,
        _TASK[kind]["rollback"],
        g.vmid,
        call.authid,
        lines=lines,
        begin=begin,
        finish=finish,
        abort=abort,
        guest=g,
    ).upid


def snapshot_config(call: Call, kind: GuestKind) -> dict[str, Any]:
    g = call.guest(kind)
    name = call.path_params["snapname"]
    _sync(lambda: _snapshot(g, name))
    return typed_config(kind, g.snapshots[name])


def update_snapshot_config(call: Call, kind: GuestKind) -> None:
    g = call.guest(kind)
    name = call.path_params["snapname"]
    _sync(lambda: _snapshot(g, name))
    if (desc := call.param("description")) is not None:
        g.snapshots[name]["description"] = str(desc)
    return None


# --- create, clone, template, destroy ------------------------------------------------------------


def create_guest(call: Call, kind: GuestKind) -> str:
    cl = call.cluster
    vmid = int(call.param("vmid"))
    node = call.node_name
    if call.param("archive") or call.flag("restore"):
        raise PVEError(501, f"Method 'POST /nodes/{node}/{kind}' with restore not implemented (not simulated)")
    _vmid_unused(call, vmid)
    skip = {
        "vmid",
        "start",
        "storage",
        "pool",
        "force",
        "unique",
        "password",
        "ssh-public-keys",
        "ostemplate",
        "ignore-unpack-errors",
        "live-restore",
        "bwlimit",
        "import-working-storage",
        "ha-managed",
    }
    values = {k: v for k, v in call.params.items() if k not in skip}
    lines: list[str] = []
    if kind == "lxc":
        ostemplate = str(call.param("ostemplate"))
        store, _, volname = ostemplate.partition(":")
        files = {v.volid for v in cl.state.files.get((node, store), [])}
        if ostemplate not in files:
            raise PVEError(500, f"volume '{ostemplate}' does not exist")
        values.setdefault("rootfs", f"{call.param('storage', 'local')}:4")
        values.setdefault("hostname", f"CT{vmid}")
        values.setdefault("arch", "amd64")
        values.setdefault("ostype", next((os for n, _, os in CT_TEMPLATES if volname.endswith(n)), "unmanaged"))
    config = _prepare_values(call, kind, vmid, values, {})
    rng = cl.rng
    if kind == "qemu":
        config.setdefault("smbios1", f"uuid={uuid.UUID(int=rng.getrandbits(128), version=4)}")
        config.setdefault("vmgenid", str(uuid.UUID(int=rng.getrandbits(128), version=4)))
        config["meta"] = f"creation-qemu=9.2.0,ctime={int(cl.clock.time())}"
        if "boot" not in config:
            order = [k for k in disk_keys("qemu", config) if not k.startswith(("efidisk", "tpmstate"))][:1]
            order += [k for k in sorted(config) if re.fullmatch(r"ide\d+", k) and "media=cdrom" in config[k]][:1]
            order += [k for k in sorted(config) if re.fullmatch(r"net\d+", k)][:1]
            if order:
                config["boot"] = "order=" + ";".join(order)
    for key in disk_keys(kind, config):
        volid = drive_volume(config[key])[0]
        if f":vm-{vmid}-" in volid:
            lines.append(f'  Logical volume "{volid.partition(":")[2]}" created.')
            if kind == "qemu":
                lines.append(f"{key}: successfully created disk '{config[key]}'")
    if kind == "lxc":
        lines += [
            "Creating filesystem with 1048576 4k blocks and 262144 inodes",
            f"extracting archive '/var/lib/vz/template/cache/{call.param('ostemplate').partition('/')[2]}'",
            "Total bytes read: 528496640 (505MiB, 232MiB/s)",
            f"Detected container architecture: {config.get('arch', 'amd64')}",
            "Creating SSH host key 'ssh_host_ed25519_key' - this may take some time ...",
        ]
    config["lock"] = "create"
    g = Guest(vmid, kind, node, config, load=rng.uniform(0.01, 0.2), memfrac=rng.uniform(0.2, 0.8))
    cl.state.guests[vmid] = g
    start = call.flag("start")

    def finish(t: Task) -> None:
        g.config.pop("lock", None)
        if start:
            _start(call, g)

    def abort(t: Task) -> None:
        cl.state.guests.pop(vmid, None)

    return cl.start_task(
        node, _TASK[kind]["create"], vmid, call.authid, lines=lines, finish=finish, abort=abort, guest=g
    ).upid


def clone_guest(call: Call, kind: GuestKind) -> str:
    cl = call.cluster
    src = call.guest(kind)
    newid = int(call.param("newid"))
    _vmid_unused(call, newid)
    target = call.param("target")
    if target and target != src.node:
        if target not in cl.state.nodes:
            raise no_such_node(target)
        raise PVEError(500, f"can't clone {src.label} to node '{target}' ({src.label} uses local storage)")
    snapname = call.param("snapname")
    if snapname and snapname not in src.snapshots:
        raise PVEError(500, f"snapshot '{snapname}' does not exist")
    _sync(lambda: _check_lock(src))
    full = call.flag("full") if "full" in call.params else not src.template
    storage = call.param("storage")
    if storage is not None and not full:
        raise PVEError(500, "parameter 'storage' not allowed for linked clones")
    if storage is not None:
        _check_storage(call, storage, "rootdir" if kind == "lxc" else "images")
    base = dict(src.snapshots[snapname]) if snapname else dict(src.config)
    disks = [k for k in disk_keys(kind, base) if not k.startswith("unused")]
    if not full:
        for key in disks:
            if not src.template:
                raise PVEError(500, f"Linked clone feature is not supported for drive '{key}'")
    if kind == "lxc" and full and src.running and not snapname:
        raise PVEError(500, "Cannot do full clones on a running container without snapshots")

    conf = {
        k: v
        for k, v in base.items()
        if k not in ("lock", "template", "parent", "snaptime", "vmstate", "description") and not k.startswith("unused")
    }
    rng = cl.rng
    lines: list[str] = []
    for i, key in enumerate(disks):
        volid, size = drive_volume(base[key])
        store, _, volname = volid.partition(":")
        if "/" in volname:
            volname = volname.split("/", 1)[1]
        new_store = storage or store
        new_vol = f"vm-{newid}-disk-{i}"
        _, opts = prop_string(base[key])
        rest = ",".join(f"{k}={v}" for k, v in opts.items())
        if full:
            new_volid = f"{new_store}:{new_vol}"
            lines += [
                f"create full clone of drive {key} ({volid})",
                f'  Logical volume "{new_vol}" created.',
                f"transferred 0.0 B of {size / GiB:.1f} GiB (0.00%)",
                f"transferred {size / GiB:.1f} GiB of {size / GiB:.1f} GiB (100.00%)",
            ]
        else:
            new_volid = f"{store}:{volname}/{new_vol}"
            lines += [f"create linked clone of drive {key} ({volid})", f'  Logical volume "{new_vol}" created.']
        conf[key] = f"{new_volid},{rest}" if rest else new_volid
    for key in [k for k in conf if re.fullmatch(r"net\d+", k)]:
        mac = "BC:24:11:" + ":".join(f"{rng.randrange(256):02X}" for _ in range(3))
        conf[key] = re.sub(r"([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}", mac, conf[key])
    if kind == "qemu":
        conf["name"] = str(call.param("name") or f"Copy-of-VM-{src.name}")
        conf["smbios1"] = re.sub(
            r"uuid=[0-9a-f-]+", f"uuid={uuid.UUID(int=rng.getrandbits(128), version=4)}", conf.get("smbios1", "uuid=x")
        )
        conf["vmgenid"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    else:
        conf["hostname"] = str(call.param("hostname") or conf.get("hostname", f"CT{newid}"))
    if (desc := call.param("description")) is not None:
        conf["description"] = str(desc)
    conf["lock"] = "clone"
    new = Guest(newid, kind, src.node, conf, load=rng.uniform(0.01, 0.3), memfrac=rng.uniform(0.2, 0.9))
    cl.state.guests[newid] = new

    def finish(t: Task) -> None:
        new.config.pop("lock", None)

    def abort(t: Task) -> None:
        cl.state.guests.pop(newid, None)

    return cl.start_task(
        src.node, _TASK[kind]["clone"], src.vmid, call.authid, lines=lines, finish=finish, abort=abort, guest=new
    ).upid


def make_template(call: Call, kind: GuestKind) -> str | None:
    g = call.guest(kind)
    if g.template and not call.param("disk"):
        raise PVEError(500, "you can't convert a template to a template")
    if g.running:
        raise PVEError(
            500,
            "you can't convert a VM to template if VM is running"
            if kind == "qemu"
            else "you can't convert a CT to template if the CT is running",
        )
    _sync(lambda: _check_lock(g))
    disks = [k for k in disk_keys(kind, g.config) if not k.startswith("unused")]

    def finish(t: Task | None = None) -> None:
        g.config["template"] = "1"
        for key in disks:
            g.config[key] = g.config[key].replace(f"vm-{g.vmid}-", f"base-{g.vmid}-")

    if kind == "lxc":  # pve-container converts synchronously and returns null
        finish()
        return None
    lines = []
    for key in disks:
        volname = drive_volume(g.config[key])[0].partition(":")[2]
        base = volname.replace(f"vm-{g.vmid}-", f"base-{g.vmid}-")
        lines += [f'  Renamed "{volname}" to "{base}" in volume group "pve"', f"  Logical volume pve/{base} changed."]
    return call.cluster.start_task(g.node, "qmtemplate", g.vmid, call.authid, lines=lines, finish=finish, guest=g).upid


def destroy_guest(call: Call, kind: GuestKind) -> str:
    cl = call.cluster
    g = call.guest(kind)
    skiplock = _skiplock(call) if "skiplock" in call.params else False
    _sync(lambda: _check_lock(g, skiplock))
    if g.config.get("protection") in ("1", "on", "yes", "true"):
        raise PVEError(500, f"can't remove {g.label} {g.vmid} - protection mode enabled")
    if g.running and not (kind == "lxc" and call.flag("force")):
        raise PVEError(500, f"{g.label} {g.vmid} is running - destroy failed")
    vols = [drive_volume(g.config[k])[0] for k in disk_keys(kind, g.config)]
    lines = [f'  Logical volume "{v.partition(":")[2].split("/")[-1]}" successfully removed.' for v in vols]
    if call.flag("purge"):
        lines.append(f"purging {g.label} {g.vmid} from related configurations..")

    def begin(t: Task) -> None:
        for other in cl.state.guests.values():
            if other is g:
                continue
            for k in disk_keys(other.kind, other.config):
                vol = drive_volume(other.config[k])[0]
                for mine in vols:
                    if vol.startswith(mine + "/"):
                        raise TaskFailure(f"base volume '{mine}' is still in use by linked cloned")
        if kind == "lxc":
            g.config["lock"] = "destroyed"

    def finish(t: Task) -> None:
        if g.running:
            _stop(g)
        cl.state.guests.pop(g.vmid, None)

    def abort(t: Task) -> None:
        if g.lock == "destroyed":
            g.config.pop("lock", None)

    return cl.start_task(
        g.node,
        _TASK[kind]["destroy"],
        g.vmid,
        call.authid,
        lines=lines,
        begin=begin,
        finish=finish,
        abort=abort,
        guest=g,
    ).upid


# --- QEMU guest agent (a few read commands) ------------------------------------------------------

_AGENT_COMMANDS = ["get-host-name", "get-osinfo", "get-time", "get-timezone", "info", "network-get-interfaces", "ping"]


def _agent_enabled(g: Guest) -> bool:
    first, opts = prop_string(g.config.get("agent", "0"))
    return first == "1" or opts.get("enabled") == "1"


def _agent(call: Call, command: str) -> dict[str, Any]:
    g = call.guest("qemu")
    if not _agent_enabled(g):
        raise PVEError(500, "No QEMU guest agent configured")
    if not g.running:
        raise PVEError(500, f"VM {g.vmid} is not running")
    if g.paused:
        raise PVEError(500, f"VM {g.vmid} is paused - cannot run guest agent command")
    now = call.cluster.clock.time()
    mac = next((prop_string(v)[0] or "" for k, v in sorted(g.config.items()) if k.startswith("net")), "")
    mac = mac.partition("=")[2].lower()
    ip = f"10.20.{g.vmid // 256 % 256}.{g.vmid % 256}"
    results: dict[str, Any] = {
        "ping": {},
        "get-host-name": {"host-name": g.name},
        "get-time": int(now * 1e9),
        "get-timezone": {"zone": "UTC", "offset": 0},
        "info": {
            "version": "9.2.0",
            "supported_commands": [{"name": f"guest-{c}", "enabled": True} for c in _AGENT_COMMANDS],
        },
        "get-osinfo": (
            {
                "id": "mswindows",
                "name": "Microsoft Windows",
                "pretty-name": "Windows 11 Pro",
                "version": "Microsoft Windows 11",
                "kernel-release": "26100",
                "machine": "x86_64",
            }
            if g.config.get("ostype", "").startswith("win")
            else {
                "id": "debian",
                "name": "Debian GNU/Linux",
                "pretty-name": "Debian GNU/Linux 13 (trixie)",
                "version": "13 (trixie)",
                "version-id": "13",
                "kernel-release": "6.12.43+deb13-amd64",
                "kernel-version": "#1 SMP PREEMPT_DYNAMIC Debian 6.12.43-1",
                "machine": "x86_64",
            }
        ),
        "network-get-interfaces": [
            {
                "name": "lo",
                "hardware-address": "00:00:00:00:00:00",
                "ip-addresses": [{"ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8}],
            },
            {
                "name": "eth0",
                "hardware-address": mac,
                "ip-addresses": [{"ip-address": ip, "ip-address-type": "ipv4", "prefix": 24}],
                "statistics": {
                    "rx-bytes": g.netrate * g.uptime(now),
                    "tx-bytes": g.netrate * g.uptime(now) // 3,
                    "rx-packets": 0,
                    "tx-packets": 0,
                    "rx-errs": 0,
                    "tx-errs": 0,
                    "rx-dropped": 0,
                    "tx-dropped": 0,
                },
            },
        ],
    }
    return {"result": results[command]}


def agent_command(call: Call) -> dict[str, Any]:
    command = str(call.param("command"))
    if command not in _AGENT_COMMANDS:
        raise PVEError(501, f"guest agent command '{command}' (not simulated)")
    return _agent(call, command)


def _agent_ready(call: Call) -> Guest:
    g = call.guest("qemu")
    if not _agent_enabled(g):
        raise PVEError(500, "No QEMU guest agent configured")
    if not g.running:
        raise PVEError(500, f"VM {g.vmid} is not running")
    return g


def agent_exec(call: Call) -> dict[str, Any]:
    """``POST .../agent/exec``: run the command in the tiny guest model of :mod:`..pvecli`."""
    from ..pvecli import guest_exec

    g = _agent_ready(call)
    command = call.param("command")
    argv = [str(x) for x in command] if isinstance(command, list) else str(command).split()
    ostype = g.config.get("ostype", "l26")
    facts = {"hostname": g.name, "ostype": "windows" if ostype.startswith("win") else "debian"}
    code, out, err = guest_exec(argv, facts, str(call.param("input-data") or "").encode())
    results = call.cluster.agent_exec_results
    pid = 1000 + len(results)
    results[(g.vmid, pid)] = {"exited": 1, "exitcode": code, "out-data": out, "err-data": err}
    return {"pid": pid}


def agent_exec_status(call: Call) -> dict[str, Any]:
    g = _agent_ready(call)
    found = call.cluster.agent_exec_results.get((g.vmid, int(call.param("pid"))))
    if found is None:
        raise PVEError(500, f"Agent error: GuestExecStatus: no such process (pid {call.param('pid')})")
    return {k: v for k, v in found.items() if v != ""}


# --- routes ------------------------------------------------------------------------------------


def _register() -> None:
    for kind in ("qemu", "lxc"):
        base = f"/nodes/{{node}}/{kind}"
        vm = f"{base}/{{vmid}}"
        route("GET", base)(partial(list_guests, kind=kind))
        route("POST", base)(partial(create_guest, kind=kind))
        route("GET", vm)(partial(guest_index, kind=kind))
        route("DELETE", vm)(partial(destroy_guest, kind=kind))
        route("GET", f"{vm}/status")(partial(status_index, kind=kind))
        route("GET", f"{vm}/status/current")(partial(status_current, kind=kind))
        actions = ["start", "stop", "shutdown", "reboot", "suspend", "resume"] + (["reset"] if kind == "qemu" else [])
        for action in actions:
            route("POST", f"{vm}/status/{action}")(partial(power, kind=kind, action=action))
        route("GET", f"{vm}/config")(partial(get_config, kind=kind))
        route("PUT", f"{vm}/config")(partial(update_config, kind=kind, asynchronous=False))
        if kind == "qemu":
            route("POST", f"{vm}/config")(partial(update_config, kind=kind, asynchronous=True))
        route("GET", f"{vm}/pending")(partial(get_pending, kind=kind))
        route("GET", f"{vm}/snapshot")(partial(list_snapshots, kind=kind))
        route("POST", f"{vm}/snapshot")(partial(create_snapshot, kind=kind))
        route("GET", f"{vm}/snapshot/{{snapname}}")(index("config", "rollback", key="cmd"))
        route("DELETE", f"{vm}/snapshot/{{snapname}}")(partial(delete_snapshot, kind=kind))
        route("POST", f"{vm}/snapshot/{{snapname}}/rollback")(partial(rollback_snapshot, kind=kind))
        route("GET", f"{vm}/snapshot/{{snapname}}/config")(partial(snapshot_config, kind=kind))
        route("PUT", f"{vm}/snapshot/{{snapname}}/config")(partial(update_snapshot_config, kind=kind))
        route("POST", f"{vm}/clone")(partial(clone_guest, kind=kind))
        route("POST", f"{vm}/template")(partial(make_template, kind=kind))
    agent = "/nodes/{node}/qemu/{vmid}/agent"
    route("GET", agent)(index(*_AGENT_COMMANDS, key="name"))
    route("POST", agent)(agent_command)
    route("POST", f"{agent}/exec")(agent_exec)
    route("GET", f"{agent}/exec-status")(agent_exec_status)
    for command in _AGENT_COMMANDS:
        method = "POST" if command == "ping" else "GET"
        route(method, f"{agent}/{command}")(partial(_agent, command=command))


_register()
