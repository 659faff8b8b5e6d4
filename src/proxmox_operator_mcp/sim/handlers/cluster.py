"""``/version``, ``/cluster/...``, ``/nodes``, ``/nodes/{node}/status`` and the task endpoints."""

from __future__ import annotations

from typing import Any

from ..errors import PVEError, param_error
from ..state import GiB, Guest, Node
from ..tasks import Task, decode_upid
from .base import Call, Paged, index, route

PVE_VERSION = "9.2.0"
PVE_RELEASE = "9.2"
REPOID = "3c1f9a6e2b7d4a05"

route("GET", "/")(index("access", "cluster", "nodes", "pools", "storage", "version"))
route("GET", "/cluster")(
    index(
        "acme",
        "backup",
        "backup-info",
        "bulk-action",
        "ceph",
        "config",
        "firewall",
        "ha",
        "jobs",
        "log",
        "mapping",
        "metrics",
        "nextid",
        "notifications",
        "options",
        "replication",
        "resources",
        "sdn",
        "status",
        "tasks",
        key="name",
    )
)


@route("GET", "/version")
def version(call: Call) -> dict[str, Any]:
    return {"version": PVE_VERSION, "release": PVE_RELEASE, "repoid": REPOID, "console": "html5"}


@route("GET", "/cluster/status")
def cluster_status(call: Call) -> list[dict[str, Any]]:
    state = call.cluster.state
    online = [n for n in state.nodes if call.cluster.node_online(n)]
    out: list[dict[str, Any]] = []
    standalone = len(state.nodes) == 1
    if not standalone:
        out.append(
            {
                "type": "cluster",
                "id": "cluster",
                "name": state.cluster_name,
                "nodes": len(state.nodes),
                "quorate": int(len(online) * 2 > len(state.nodes)),
                "version": state.config_version,
            }
        )
    for node in state.nodes.values():
        out.append(
            {
                "type": "node",
                "id": f"node/{node.name}",
                "name": node.name,
                "ip": node.ip,
                "nodeid": 0 if standalone else node.nodeid,
                "online": int(call.cluster.node_online(node.name)),
                "local": int(node.name == call.cluster.entry_node),
                "level": "",
            }
        )
    return out


def node_usage(call: Call, node: Node) -> dict[str, Any]:
    """cpu, mem and disk of a node (guests' load included)."""
    running = [g for g in call.cluster.state.guests_on(node.name) if g.running]
    cpu = node.base_load + sum(g.load * g.cpus(node.maxcpu) for g in running) / node.maxcpu
    mem = 3 * GiB + sum(int(g.maxmem() * g.memfrac) for g in running)
    return {
        "cpu": round(min(cpu, 1.0), 6),
        "mem": min(mem, int(node.maxmem * 0.97)),
        "disk": node.rootfs_used,
        "maxdisk": node.rootfs_total,
        "uptime": int(call.now() - node.booted_at),
    }


def guest_usage(call: Call, g: Guest) -> dict[str, Any]:
    """The vmstatus fields every guest listing shares."""
    node = call.cluster.state.nodes[g.node]
    up = g.uptime(call.now())
    maxmem = g.maxmem()
    maxdisk = g.maxdisk()
    out: dict[str, Any] = {
        "status": g.status,
        "name": g.name,
        "cpus": g.cpus(node.maxcpu),
        "cpu": round(g.load, 6) if g.running else 0,
        "maxmem": maxmem,
        "mem": int(maxmem * g.memfrac) if g.running else 0,
        "maxdisk": maxdisk,
        "disk": int(maxdisk * 0.4) if g.kind == "lxc" and g.running else 0,
        "uptime": up,
        "netin": g.netrate * up,
        "netout": g.netrate * up // 3,
        "diskread": g.diskrate * up // 50,
        "diskwrite": g.diskrate * up // 80,
    }
    if g.kind == "lxc":
        out["maxswap"] = int(g.config.get("swap", "512")) * 1024 * 1024
        out["swap"] = 0
    if g.running and g.pid:
        out["pid"] = g.pid
    if tags := g.config.get("tags"):
        out["tags"] = tags
    if g.template:
        out["template"] = 1
    if g.lock:
        out["lock"] = g.lock
    return out


@route("GET", "/cluster/resources")
def cluster_resources(call: Call) -> list[dict[str, Any]]:
    want = call.param("type")
    cl = call.cluster
    out: list[dict[str, Any]] = []
    if want in (None, "node"):
        for node in cl.state.nodes.values():
            if not call.can(f"/nodes/{node.name}", "Sys.Audit"):
                continue
            entry: dict[str, Any] = {"id": f"node/{node.name}", "type": "node", "node": node.name, "level": ""}
            if cl.node_online(node.name):
                u = node_usage(call, node)
                entry.update(
                    status="online",
                    cpu=u["cpu"],
                    maxcpu=node.maxcpu,
                    mem=u["mem"],
                    maxmem=node.maxmem,
                    disk=u["disk"],
                    maxdisk=u["maxdisk"],
                    uptime=u["uptime"],
                    **{"cgroup-mode": 2},
                )
            else:
                entry["status"] = "offline"
            out.append(entry)
    if want in (None, "vm"):
        for g in sorted(cl.state.guests.values(), key=lambda g: g.vmid):
            if not call.can(f"/vms/{g.vmid}", "VM.Audit"):
                continue
            entry = {"id": f"{g.kind}/{g.vmid}", "type": g.kind, "vmid": g.vmid, "node": g.node}
            if cl.node_online(g.node):
                u = guest_usage(call, g)
                u.pop("pid", None)
                u.pop("maxswap", None)
                u.pop("swap", None)
                u["maxcpu"] = u.pop("cpus")
                u["template"] = int(g.template)
                entry.update(u)
            else:
                entry.update(status="unknown", name=g.name, template=int(g.template))
            out.append(entry)
    if want in (None, "storage"):
        for node in cl.state.nodes.values():
            for sid, sdef in cl.state.storages.items():
                if not call.can(f"/storage/{sid}", "Datastore.Audit", "Datastore.AllocateSpace"):
                    continue
                entry = {
                    "id": f"storage/{node.name}/{sid}",
                    "type": "storage",
                    "storage": sid,
                    "node": node.name,
                    "plugintype": sdef.type,
                    "content": ",".join(sorted(sdef.content)),
                    "shared": sdef.shared,
                }
                if cl.node_online(node.name):
                    total, used = cl.state.storage_usage(node.name, sid)
                    entry.update(status="available", maxdisk=total, disk=used)
                else:
                    entry["status"] = "unknown"
                out.append(entry)
    if want in (None, "sdn"):
        for node in cl.state.nodes.values():
            if not call.can("/sdn/zones/localnetwork", "SDN.Audit"):
                continue
            out.append(
                {
                    "id": f"sdn/{node.name}/localnetwork",
                    "type": "sdn",
                    "sdn": "localnetwork",
                    "node": node.name,
                    "status": "ok" if cl.node_online(node.name) else "unknown",
                }
            )
    return out


@route("GET", "/cluster/nextid")
def nextid(call: Call) -> str:
    vmid = call.param("vmid")
    guests = call.cluster.state.guests
    if vmid is not None:
        if int(vmid) in guests:
            raise param_error({"vmid": f"VM {vmid} already exists"})
        return str(vmid)
    return str(call.cluster.state.next_free_vmid())


@route("GET", "/nodes")
def nodes(call: Call) -> list[dict[str, Any]]:
    cl = call.cluster
    out = []
    for node in cl.state.nodes.values():
        if not call.can(f"/nodes/{node.name}", "Sys.Audit"):
            continue
        fp = cl.tls_fingerprint if node.name == cl.entry_node and cl.tls_fingerprint else node.ssl_fingerprint
        entry: dict[str, Any] = {
            "node": node.name,
            "id": f"node/{node.name}",
            "type": "node",
            "level": "",
            "ssl_fingerprint": fp,
        }
        if cl.node_online(node.name):
            u = node_usage(call, node)
            entry.update(status="online", maxcpu=node.maxcpu, maxmem=node.maxmem, **u)
        else:
            entry["status"] = "offline"
        out.append(entry)
    return out


route("GET", "/nodes/{node}")(
    index(
        "aplinfo",
        "apt",
        "capabilities",
        "ceph",
        "certificates",
        "config",
        "disks",
        "dns",
        "firewall",
        "hardware",
        "hosts",
        "journal",
        "lxc",
        "migrateall",
        "netstat",
        "network",
        "qemu",
        "query-url-metadata",
        "replication",
        "report",
        "rrd",
        "rrddata",
        "scan",
        "sdn",
        "services",
        "spiceshell",
        "startall",
        "status",
        "stopall",
        "storage",
        "subscription",
        "suspendall",
        "syslog",
        "tasks",
        "termproxy",
        "time",
        "version",
        "vncshell",
        "vzdump",
        "wakeonlan",
        key="name",
    )
)


@route("GET", "/nodes/{node}/status")
def node_status(call: Call) -> dict[str, Any]:
    node = call.node
    u = node_usage(call, node)
    load = u["cpu"] * node.maxcpu
    free_mem = node.maxmem - u["mem"]
    return {
        "uptime": u["uptime"],
        "cpu": u["cpu"],
        "wait": 0.0004,
        "idle": 0,
        "loadavg": [f"{load:.2f}", f"{load * 0.9:.2f}", f"{load * 0.8:.2f}"],
        "kversion": f"Linux {node.kernel} #1 SMP PREEMPT_DYNAMIC PMX {node.kernel} (2025-09-02T10:01Z)",
        "pveversion": f"pve-manager/{PVE_VERSION}/{REPOID[:16]}",
        "cpuinfo": {
            "model": node.cpu_model,
            "cpus": node.maxcpu,
            "cores": node.maxcpu // (2 * node.sockets),
            "sockets": node.sockets,
            "mhz": "2800.000",
            "hvm": "1",
            "user_hz": 100,
            "flags": "fpu vme de pse tsc msr",
        },
        "memory": {"total": node.maxmem, "used": u["mem"], "free": free_mem, "available": free_mem},
        "swap": {"total": 8 * GiB, "used": 0, "free": 8 * GiB},
        "rootfs": {
            "total": node.rootfs_total,
            "used": node.rootfs_used,
            "avail": node.rootfs_total - node.rootfs_used,
            "free": node.rootfs_total - node.rootfs_used,
        },
        "ksm": {"shared": 0},
        "boot-info": {"mode": "efi", "secureboot": 0},
        "current-kernel": {
            "sysname": "Linux",
            "release": node.kernel,
            "machine": "x86_64",
            "version": f"#1 SMP PREEMPT_DYNAMIC PMX {node.kernel} (2025-09-02T10:01Z)",
        },
    }


# --- tasks ---------------------------------------------------------------------------------------


def task_entry(task: Task, *, with_status: bool = True) -> dict[str, Any]:
    """A task as PVE lists it: UPID fields, the token id split off ``user``."""
    user, _, tokenid = task.user.partition("!")
    out: dict[str, Any] = {
        "upid": task.upid,
        "node": task.node,
        "pid": task.pid,
        "pstart": task.pstart,
        "starttime": task.starttime,
        "type": task.type,
        "id": task.id,
        "user": user,
    }
    if tokenid:
        out["tokenid"] = tokenid
    if with_status and task.state == "stopped":
        out["endtime"] = task.endtime
        out["status"] = task.exitstatus
    return out


def _status_kind(status: str | None) -> str:
    if status is None:
        return "running"
    if status == "OK":
        return "ok"
    if status.startswith("WARNINGS: "):
        return "warning"
    return "error"


def _owns(call: Call, task: Task) -> bool:
    # a token sees its own tasks, a user sees its own and its tokens' tasks
    return task.user == call.authid or task.user.split("!", 1)[0] == call.authid


@route("GET", "/nodes/{node}/tasks")
def node_tasks(call: Call) -> Paged:
    start = int(call.param("start", 0))
    limit = int(call.param("limit", 50))
    source = call.param("source", "archive")
    errors = call.flag("errors")
    wanted = {"ok", "warning", "error", "unknown", "running"}
    if call.param("statusfilter") and not errors:
        wanted = {s.strip().lower() for s in str(call.param("statusfilter")).replace(";", ",").split(",")}
    elif errors:
        wanted.discard("ok")
    auditor = call.can(f"/nodes/{call.node_name}", "Sys.Audit")
    count = 0
    out: list[dict[str, Any]] = []
    for task in call.cluster.tasks.on_node(call.node_name):
        running = task.state != "stopped"
        if (running and source == "archive") or (not running and source == "active"):
            continue
        if (uf := call.param("userfilter")) and uf.lower() not in task.user.lower():
            continue
        if not (auditor or _owns(call, task)):
            continue
        if (tf := call.param("typefilter")) and task.type != tf:
            continue
        if (vmid := call.param("vmid")) is not None and task.id != str(vmid):
            continue
        if (since := call.param("since")) is not None and task.starttime < int(since):
            continue
        if (until := call.param("until")) is not None and task.starttime > int(until):
            continue
        if _status_kind(task.exitstatus if not running else None) not in wanted and not running:
            continue
        count += 1
        if count <= start or len(out) >= limit:
            continue
        entry = task_entry(task)
        if running:
            entry["status"] = "RUNNING"
        out.append(entry)
    return Paged(out, count)


def _task(call: Call) -> Task:
    upid = call.path_params["upid"]
    if decode_upid(upid) is None:
        raise param_error({"upid": "unable to parse worker upid"})
    task = call.cluster.tasks.tasks.get(upid)
    if task is None or task.node != call.node_name:
        raise param_error({"upid": "no such task"})
    return task


def _task_access(call: Call, task: Task, priv: str) -> None:
    if not _owns(call, task):
        call.cluster.access.check(call.authid, f"/nodes/{call.node_name}", [priv])


route("GET", "/nodes/{node}/tasks/{upid}")(index("log", "status", key="name"))


@route("GET", "/nodes/{node}/tasks/{upid}/status")
def task_status(call: Call) -> dict[str, Any]:
    task = _task(call)
    _task_access(call, task, "Sys.Audit")
    out = task_entry(task, with_status=False)
    out["status"] = "running" if task.state != "stopped" else "stopped"
    if task.state == "stopped":
        out["exitstatus"] = task.exitstatus
    return out


@route("GET", "/nodes/{node}/tasks/{upid}/log")
def task_log(call: Call) -> Paged:
    task = _task(call)
    _task_access(call, task, "Sys.Audit")
    if call.flag("download"):
        raise PVEError(501, "task log download (not simulated)")
    start = int(call.param("start", 0))
    limit = int(call.param("limit", 50))
    lines = task.visible_log(call.cluster.clock.monotonic())
    if not lines:
        return Paged([{"n": 1, "t": "no content"}], 1)
    out = [{"n": i + 1, "t": t} for i, t in enumerate(lines) if i >= start][:limit]
    return Paged(out, len(lines))


@route("DELETE", "/nodes/{node}/tasks/{upid}")
def task_stop(call: Call) -> None:
    task = _task(call)
    _task_access(call, task, "Sys.Modify")
    call.cluster.tasks.stop(task.upid)
    return None


@route("GET", "/cluster/tasks")
def cluster_tasks(call: Call) -> list[dict[str, Any]]:
    everything = call.can("/", "Sys.Audit")
    out = []
    for node in call.cluster.state.nodes:
        for task in call.cluster.tasks.on_node(node)[:50]:
            if everything or _owns(call, task):
                entry = task_entry(task)
                if task.state == "stopped":
                    entry["saved"] = "1"
                out.append(entry)
    out.sort(key=lambda e: e["starttime"], reverse=True)
    return out
