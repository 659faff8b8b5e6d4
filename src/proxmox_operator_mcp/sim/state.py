"""The cluster model: nodes, guests with their config files, storages.

Pure data and pure functions, no I/O: everything is generated from a seed, so the same
:class:`~proxmox_operator_mcp.sim.options.SimOptions` always give the same cluster, and a big one
(3 nodes x 500 guests) is built in milliseconds.

Guest configuration is kept as PVE keeps it, as text values of a config file (``memory:
"2048"``); :func:`typed_config` converts it for output the way ``parse_vm_config`` /
``check_type`` do: integer and boolean keys become JSON numbers, ``number`` keys stay strings.
"""

from __future__ import annotations

import hashlib
import random
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from .options import SimOptions

__all__ = [
    "ClusterState",
    "Guest",
    "GuestKind",
    "Node",
    "StorageDef",
    "Volume",
    "disk_keys",
    "generate",
    "parse_size",
    "typed_config",
]

KiB, MiB, GiB, TiB = 1024, 1024**2, 1024**3, 1024**4

GuestKind = Literal["qemu", "lxc"]

# Non-string keys of the GET .../config return schemas (PVE 9.2); the rest are strings.
_QEMU_INT = {"balloon", "cores", "cpuunits", "migrate_speed", "shares", "smp", "snaptime", "sockets", "vcpus"}
_QEMU_BOOL = {
    "acpi",
    "allow-ksm",
    "autostart",
    "ciupgrade",
    "freeze",
    "keephugepages",
    "kvm",
    "localtime",
    "numa",
    "onboot",
    "protection",
    "reboot",
    "tablet",
    "tdf",
    "template",
}
_LXC_INT = {"cores", "cpuunits", "memory", "swap", "tty", "snaptime"}
_LXC_BOOL = {"console", "debug", "onboot", "protection", "template", "unprivileged"}

_QEMU_DISK_RE = re.compile(r"^(ide|sata|scsi|virtio)\d+$|^efidisk0$|^tpmstate0$|^unused\d+$")
_LXC_DISK_RE = re.compile(r"^rootfs$|^mp\d+$|^unused\d+$")


def _to_bool(v: str) -> int:
    return 1 if v.strip().lower() in {"1", "on", "yes", "true"} else 0


def typed_config(kind: GuestKind, conf: dict[str, str]) -> dict[str, Any]:
    """Config values as PVE's JSON has them: integers and 0/1 booleans as numbers, the rest text."""
    ints, bools = (_QEMU_INT, _QEMU_BOOL) if kind == "qemu" else (_LXC_INT, _LXC_BOOL)
    out: dict[str, Any] = {}
    for k, v in conf.items():
        if k in bools:
            out[k] = _to_bool(v)
        elif k in ints and re.fullmatch(r"\d+", v):
            out[k] = int(v)
        else:
            out[k] = v
    return out


def parse_size(text: str) -> int:
    """``32G`` / ``512M`` / ``1T`` / bytes -> bytes."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)", text.strip())
    if not m:
        return 0
    mult = {"": 1, "K": KiB, "M": MiB, "G": GiB, "T": TiB}[m.group(2)]
    return int(float(m.group(1)) * mult)


def format_size(nbytes: int) -> str:
    """Bytes -> PVE's size suffix (``32G``)."""
    for suffix, mult in (("T", TiB), ("G", GiB), ("M", MiB), ("K", KiB)):
        if nbytes % mult == 0 and nbytes >= mult:
            return f"{nbytes // mult}{suffix}"
    return str(nbytes)


def prop_string(value: str) -> tuple[str | None, dict[str, str]]:
    """Split a property string ``vol,key=v,...`` into its default key value and the rest."""
    first: str | None = None
    opts: dict[str, str] = {}
    for i, part in enumerate(value.split(",")):
        if "=" in part:
            k, _, v = part.partition("=")
            opts[k] = v
        elif i == 0:
            first = part
    return first, opts


def disk_keys(kind: GuestKind, conf: dict[str, str]) -> list[str]:
    """Config keys that hold a volume (cdroms excluded), in PVE's drive order."""
    rx = _QEMU_DISK_RE if kind == "qemu" else _LXC_DISK_RE
    out = []
    for k, v in conf.items():
        if not rx.match(k):
            continue
        first, _, rest = v.partition(",")
        if kind == "qemu" and ("media=cdrom" in rest or first in ("none", "cdrom")):
            continue
        if "=" in first:  # a mount point given as volume=...
            first = prop_string(v)[1].get("volume", "")
        if ":" in first:
            out.append(k)
    out.sort(key=_disk_order)
    return out


_ORDER = {"rootfs": 0, "scsi": 1, "virtio": 2, "sata": 3, "ide": 4, "efidisk": 5, "tpmstate": 6, "mp": 7, "unused": 8}
_KEY_RE = re.compile(r"^([a-z]+?)(\d*)$")


def _disk_order(key: str) -> tuple[int, int]:
    m = _KEY_RE.match(key)
    if not m:
        return (99, 0)
    return (_ORDER.get(m.group(1), 99), int(m.group(2) or 0))


def drive_volume(value: str) -> tuple[str, int]:
    """(volid, size in bytes) of a drive or mount point value."""
    vol, opts = prop_string(value)
    vol = vol or opts.get("volume", "")
    return vol, parse_size(opts.get("size", "0"))


@dataclass
class Node:
    name: str
    nodeid: int
    ip: str
    maxcpu: int
    sockets: int
    cpu_model: str
    maxmem: int
    booted_at: float
    next_pid: int
    base_load: float
    rootfs_total: int
    rootfs_used: int
    kernel: str = "6.14.8-2-pve"
    ssl_fingerprint: str = ""


@dataclass
class StorageDef:
    """An entry of ``/etc/pve/storage.cfg`` (present on every node)."""

    storage: str
    type: str
    content: list[str]
    settings: dict[str, str]
    total: int
    shared: int = 0

    def config(self) -> dict[str, Any]:
        out: dict[str, Any] = {"storage": self.storage, "type": self.type, "content": ",".join(sorted(self.content))}
        out.update(self.settings)
        if self.shared:
            out["shared"] = 1
        return out


@dataclass
class Volume:
    """A file on a ``dir`` storage (ISO, container template, backup, snippet)."""

    volid: str
    content: str
    format: str
    size: int
    ctime: int
    vmid: int | None = None
    notes: str | None = None
    protected: int = 0


@dataclass
class Guest:
    """A VM or container: its config file (text values) plus its run state."""

    vmid: int
    kind: GuestKind
    node: str
    config: dict[str, str]
    pending: dict[str, str] = field(default_factory=dict)
    pending_delete: dict[str, bool] = field(default_factory=dict)
    snapshots: dict[str, dict[str, str]] = field(default_factory=dict)
    status: str = "stopped"
    paused: bool = False
    started_at: float | None = None
    pid: int | None = None
    load: float = 0.05
    memfrac: float = 0.5
    netrate: int = 20_000
    diskrate: int = 50_000

    @property
    def name(self) -> str:
        key = "name" if self.kind == "qemu" else "hostname"
        return self.config.get(key) or (f"VM {self.vmid}" if self.kind == "qemu" else f"CT{self.vmid}")

    @property
    def template(self) -> bool:
        return _to_bool(self.config.get("template", "0")) == 1

    @property
    def lock(self) -> str | None:
        return self.config.get("lock")

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def label(self) -> str:
        """``VM`` or ``CT``, as PVE's messages name them."""
        return "VM" if self.kind == "qemu" else "CT"

    @property
    def conf_path(self) -> str:
        """The config file path PVE's messages use."""
        sub = "qemu-server" if self.kind == "qemu" else "lxc"
        return f"nodes/{self.node}/{sub}/{self.vmid}.conf"

    def maxmem(self) -> int:
        mem = self.config.get("memory", "2048" if self.kind == "qemu" else "512")
        m = re.search(r"(\d+)", mem)
        return int(m.group(1)) * MiB if m else 0

    def cpus(self, node_cpus: int) -> int | float:
        """vmstatus' ``cpus``: CT cpulimit or cores; VM vcpus or sockets x cores, at most the node's."""
        if self.kind == "lxc":
            limit = float(self.config.get("cpulimit") or 0)
            if limit:
                return int(limit) if limit.is_integer() else limit
            return int(self.config.get("cores") or node_cpus)
        if self.config.get("vcpus"):
            return int(self.config["vcpus"])
        n = int(self.config.get("sockets", "1")) * int(self.config.get("cores", "1"))
        return min(n, node_cpus)

    def maxdisk(self) -> int:
        """Size of the root disk (LXC) or the boot disk (QEMU: first in the boot order)."""
        if self.kind == "lxc":
            return drive_volume(self.config.get("rootfs", ""))[1]
        m = re.search(r"order=([^,]+)", self.config.get("boot", ""))
        for k in m.group(1).split(";") if m else ():
            v = self.config.get(k)
            if v and "media=cdrom" not in v and not k.startswith("net"):
                return drive_volume(v)[1]
        keys = [k for k in disk_keys("qemu", self.config) if not k.startswith("unused")]
        return drive_volume(self.config[keys[0]])[1] if keys else 0

    def digest(self) -> str:
        """SHA-1 of the config file as :meth:`render` writes it (PVE's ``digest``)."""
        return hashlib.sha1(self.render().encode()).hexdigest()

    def render(self) -> str:
        """The config file text (main section, ``[PENDING]``, one section per snapshot)."""

        def section(conf: dict[str, str]) -> list[str]:
            desc = conf.get("description")
            out = [f"#{line}" for line in desc.split("\n")] if desc is not None else []
            return out + [f"{k}: {v}" for k, v in sorted(conf.items()) if k != "description"]

        lines = section(self.config)
        if self.pending or self.pending_delete:
            pend = dict(self.pending)
            if self.pending_delete:
                pend["delete"] = ",".join(("!" if force else "") + k for k, force in self.pending_delete.items())
            lines += ["", "[PENDING]", *section(pend)]
        for name, snap in self.snapshots.items():
            lines += ["", f"[{name}]", *section(snap)]
        return "\n".join(lines) + "\n"

    def effective_config(self) -> dict[str, str]:
        """Config with pending values applied (what GET .../config shows by default)."""
        conf = dict(self.config)
        conf.update(self.pending)
        for k in self.pending_delete:
            conf.pop(k, None)
        return conf

    def apply_pending(self) -> None:
        """Write pending changes into the config (on start/stop, as PVE does)."""
        self.config.update(self.pending)
        for k in self.pending_delete:
            self.config.pop(k, None)
        self.pending.clear()
        self.pending_delete.clear()

    def uptime(self, now_wall: float) -> int:
        return int(now_wall - self.started_at) if self.running and self.started_at is not None else 0


@dataclass
class ClusterState:
    """Everything the simulated cluster knows."""

    cluster_name: str
    nodes: dict[str, Node]
    guests: dict[int, Guest]
    storages: dict[str, StorageDef]
    files: dict[tuple[str, str], list[Volume]]  # (node, storage) -> volumes on dir storages
    config_version: int = 3

    def guests_on(self, node: str, kind: GuestKind | None = None) -> list[Guest]:
        return [g for g in self.guests.values() if g.node == node and (kind is None or g.kind == kind)]

    def next_free_vmid(self, lower: int = 100) -> int:
        vmid = lower
        while vmid in self.guests:
            vmid += 1
        return vmid

    def storage_usage(self, node: str, storage: str) -> tuple[int, int]:
        """(total, used) bytes of ``storage`` on ``node``."""
        sdef = self.storages[storage]
        if sdef.type == "dir":
            used = sum(v.size for v in self.files.get((node, storage), []))
            used += self.nodes[node].rootfs_used  # a dir storage shares the root file system
        else:  # thin pool: about a third of what is provisioned is written
            used = sum(size for _, size, _, _ in self.images(node, storage)) // 3
        return sdef.total, min(used, int(sdef.total * 0.98))

    def images(self, node: str, storage: str) -> list[tuple[str, int, Guest, str]]:
        """(volid, size, owner, config key) of every guest volume on ``storage`` of ``node``."""
        out = []
        for g in self.guests.values():
            if g.node != node:
                continue
            for k in disk_keys(g.kind, g.config):
                volid, size = drive_volume(g.config[k])
                if volid.startswith(f"{storage}:"):
                    out.append((volid, size, g, k))
            for snap in g.snapshots.values():
                state = snap.get("vmstate")
                if state and state.startswith(f"{storage}:"):
                    out.append((state, g.maxmem() * 2, g, "vmstate"))
        return out


# --- generator ---------------------------------------------------------------------------------

_ROLES = [
    "web",
    "db",
    "cache",
    "api",
    "worker",
    "proxy",
    "mail",
    "dns",
    "ci",
    "git",
    "mon",
    "log",
    "vpn",
    "ldap",
    "kafka",
    "redis",
    "pg",
    "mysql",
    "nginx",
    "k8s-master",
    "k8s-node",
    "elastic",
    "grafana",
    "jenkins",
    "minio",
]
_CT_ROLES = ["dns", "proxy", "pihole", "unifi", "nginx", "syslog", "ntp", "samba", "mqtt", "redis", "cron", "vault"]
_TAGS = ["prod", "staging", "dev", "linux", "k8s", "db", "frontend", "backend", "critical", "backup", "monitoring"]
_OWNERS = ["team-platform", "team-data", "team-web", "team-sre", "team-security"]
_CPU_MODELS = [
    ("AMD EPYC 7543P 32-Core Processor", 64, 1),
    ("Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", 64, 2),
    ("AMD Ryzen 9 7950X 16-Core Processor", 32, 1),
    ("Intel(R) Xeon(R) E-2388G CPU @ 3.20GHz", 16, 1),
]
ISOS = [
    ("debian-13.1.0-amd64-netinst.iso", 783 * MiB),
    ("ubuntu-24.04.3-live-server-amd64.iso", 3 * GiB + 27 * MiB),
    ("virtio-win-0.1.271.iso", 708 * MiB),
]
CT_TEMPLATES = [
    ("debian-13-standard_13.1-2_amd64.tar.zst", 132 * MiB, "debian"),
    ("ubuntu-24.04-standard_24.04-2_amd64.tar.zst", 141 * MiB, "ubuntu"),
    ("alpine-3.22-default_20250617_amd64.tar.xz", 3 * MiB, "alpine"),
]


def _mac(rng: random.Random) -> str:
    return "BC:24:11:" + ":".join(f"{rng.randrange(256):02X}" for _ in range(3))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _tags(rng: random.Random) -> str | None:
    n = rng.choice([0, 0, 1, 1, 2, 3])
    return ";".join(sorted(rng.sample(_TAGS, n))) if n else None


def generate(options: SimOptions, now_wall: float) -> ClusterState:
    """Build the cluster described by ``options`` (deterministic for a seed, up to ``now_wall``)."""
    rng = random.Random(options.seed)
    nodes: dict[str, Node] = {}
    for i in range(1, max(1, options.nodes) + 1):
        model, cpus, sockets = _CPU_MODELS[(i - 1 + options.seed) % len(_CPU_MODELS)]
        name = f"pve{i}"
        uptime = rng.randrange(3 * 86400, 90 * 86400)
        nodes[name] = Node(
            name=name,
            nodeid=i,
            ip=f"10.10.10.{10 + i}",
            maxcpu=cpus,
            sockets=sockets,
            cpu_model=model,
            maxmem=rng.choice([128, 256, 512]) * GiB,
            booted_at=now_wall - uptime,
            next_pid=rng.randrange(100_000, 900_000),
            base_load=rng.uniform(0.02, 0.12),
            rootfs_total=94 * GiB + rng.randrange(4 * GiB),
            rootfs_used=rng.randrange(6 * GiB, 30 * GiB),
            ssl_fingerprint=":".join(f"{rng.randrange(256):02X}" for _ in range(32)),
        )

    storages = {
        "local": StorageDef(
            "local",
            "dir",
            ["iso", "vztmpl", "backup", "snippets"],
            {"path": "/var/lib/vz", "prune-backups": "keep-all=1"},
            total=94 * GiB,
        ),
        "local-lvm": StorageDef(
            "local-lvm",
            "lvmthin",
            ["images", "rootdir"],
            {"thinpool": "data", "vgname": "pve"},
            total=3600 * GiB,
        ),
    }

    guests: dict[int, Guest] = {}
    files: dict[tuple[str, str], list[Volume]] = {}
    vmid = 100
    ctime = int(now_wall) - 30 * 86400
    for node in nodes.values():
        node_vms = []
        for j in range(options.vms_per_node):
            g = _make_vm(rng, vmid, node.name, j, ctime)
            guests[vmid] = g
            node_vms.append(g)
            vmid += 1
        for j in range(options.cts_per_node):
            guests[vmid] = _make_ct(rng, vmid, node.name, j, ctime)
            vmid += 1
        vols = [Volume(f"local:iso/{n}", "iso", "iso", size, ctime + k) for k, (n, size) in enumerate(ISOS)]
        vols += [
            Volume(f"local:vztmpl/{n}", "vztmpl", "txz" if n.endswith(".xz") else "tzst", size, ctime)
            for n, size, _ in CT_TEMPLATES
        ]
        vols.append(Volume("local:snippets/user-data.yaml", "snippets", "snippet", 1_537, ctime))
        for g in node_vms[:2]:
            day = 20 + g.vmid % 5
            vols.append(
                Volume(
                    f"local:backup/vzdump-qemu-{g.vmid}-2026_01_{day:02d}-02_00_0{g.vmid % 10}.vma.zst",
                    "backup",
                    "vma.zst",
                    g.maxdisk() // 5,
                    ctime + day * 3600,
                    vmid=g.vmid,
                    notes=g.name,
                )
            )
        files[(node.name, "local")] = vols

    state = ClusterState(options.cluster_name, nodes, guests, storages, files)
    _specials(state, rng, now_wall)
    for g in state.guests.values():
        if g.running:
            node = state.nodes[g.node]
            g.started_at = now_wall - rng.randrange(600, int(now_wall - node.booted_at))
            g.pid = node.next_pid = node.next_pid + rng.randrange(1, 400)
    return state


def _make_vm(rng: random.Random, vmid: int, node: str, idx: int, ctime: int) -> Guest:
    role = rng.choice(_ROLES)
    windows = rng.random() < 0.12
    name = f"{'win-' if windows else ''}{role}-{idx + 1:02d}"
    mem = rng.choice([1024, 2048, 2048, 4096, 4096, 8192, 16384])
    disk = rng.choice([16, 32, 32, 64, 128])
    conf: dict[str, str] = {
        "boot": "order=scsi0;ide2;net0",
        "cores": str(rng.choice([1, 2, 2, 4, 8])),
        "cpu": "x86-64-v2-AES",
        "ide2": "none,media=cdrom",
        "memory": str(mem),
        "meta": f"creation-qemu=9.2.0,ctime={ctime + vmid}",
        "name": name,
        "net0": f"virtio={_mac(rng)},bridge=vmbr0,firewall=1",
        "numa": "0",
        "ostype": "win11" if windows else "l26",
        "scsi0": f"local-lvm:vm-{vmid}-disk-0,iothread=1,size={disk}G",
        "scsihw": "virtio-scsi-single",
        "smbios1": f"uuid={_uuid(rng)}",
        "sockets": "1",
        "vmgenid": _uuid(rng),
    }
    if rng.random() < 0.4:
        conf["agent"] = "1"
    if rng.random() < 0.5:
        conf["onboot"] = "1"
    if tags := _tags(rng):
        conf["tags"] = tags
    if rng.random() < 0.3:
        conf["description"] = f"{role} server\nOwner: {rng.choice(_OWNERS)}"
    if windows:
        conf["efidisk0"] = f"local-lvm:vm-{vmid}-disk-1,efitype=4m,pre-enrolled-keys=1,size=4M"
        conf["bios"] = "ovmf"
        conf["machine"] = "pc-q35-9.2"
    status = "running" if rng.random() < 0.65 else "stopped"
    return Guest(
        vmid,
        "qemu",
        node,
        conf,
        status=status,
        load=rng.uniform(0.005, 0.35),
        memfrac=rng.uniform(0.2, 0.9),
        netrate=rng.randrange(2_000, 400_000),
        diskrate=rng.randrange(10_000, 2_000_000),
    )


def _make_ct(rng: random.Random, vmid: int, node: str, idx: int, ctime: int) -> Guest:
    role = rng.choice(_CT_ROLES)
    tmpl = rng.choice(CT_TEMPLATES)
    conf: dict[str, str] = {
        "arch": "amd64",
        "cores": str(rng.choice([1, 1, 2, 4])),
        "features": "nesting=1",
        "hostname": f"ct-{role}-{idx + 1:02d}",
        "memory": str(rng.choice([256, 512, 512, 1024, 2048])),
        "net0": f"name=eth0,bridge=vmbr0,firewall=1,hwaddr={_mac(rng)},ip=dhcp,type=veth",
        "ostype": tmpl[2],
        "rootfs": f"local-lvm:vm-{vmid}-disk-0,size={rng.choice([4, 8, 8, 16])}G",
        "swap": "512",
        "unprivileged": "1",
    }
    if rng.random() < 0.5:
        conf["onboot"] = "1"
    if tags := _tags(rng):
        conf["tags"] = tags
    status = "running" if rng.random() < 0.7 else "stopped"
    return Guest(
        vmid,
        "lxc",
        node,
        conf,
        status=status,
        load=rng.uniform(0.001, 0.1),
        memfrac=rng.uniform(0.1, 0.6),
        netrate=rng.randrange(500, 50_000),
        diskrate=rng.randrange(1_000, 200_000),
    )


def _specials(state: ClusterState, rng: random.Random, now_wall: float) -> None:
    """Guarantee the cases every demo and test needs, whatever the seed."""
    first = state.nodes[next(iter(state.nodes))]
    vms = [g for g in state.guests_on(first.name, "qemu")]
    cts = [g for g in state.guests_on(first.name, "lxc")]
    if vms:
        agent = vms[0]  # running, with the guest agent
        agent.config["agent"] = "1"
        agent.status = "running"
    if len(vms) >= 2:
        snap_vm = vms[1]  # stopped, with two snapshots
        snap_vm.status = "stopped"
        base = dict(snap_vm.config)
        t0 = int(now_wall) - 14 * 86400
        snap_vm.snapshots["pre-upgrade"] = {
            **base,
            "description": "before the distribution upgrade",
            "snaptime": str(t0),
        }
        snap_vm.snapshots["before-patch"] = {
            **base,
            "description": "monthly patch window",
            "parent": "pre-upgrade",
            "snaptime": str(t0 + 7 * 86400),
        }
        snap_vm.config["parent"] = "before-patch"
    if len(vms) >= 3:
        tmpl = vms[-1]  # a template to clone from
        tmpl.status = "stopped"
        tmpl.config["template"] = "1"
        tmpl.config["name"] = "tmpl-debian-13"
        tmpl.config.pop("onboot", None)
        tmpl.config["tags"] = "template"
        for k in disk_keys("qemu", tmpl.config):
            tmpl.config[k] = tmpl.config[k].replace(f"vm-{tmpl.vmid}-", f"base-{tmpl.vmid}-")
    if len(vms) >= 4:
        vms[2].status = "stopped"
    if cts:
        cts[0].status = "running"
        snap_ct = cts[-1]
        snap_ct.snapshots["initial"] = {
            **snap_ct.config,
            "description": "fresh install",
            "snaptime": str(int(now_wall) - 5 * 86400),
        }
        snap_ct.config["parent"] = "initial"
