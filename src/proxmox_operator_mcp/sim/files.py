"""The simulated nodes' file systems, in memory, served over SFTP by :mod:`.ssh`.

``/etc/pve`` is one tree shared by every node, like pmxcfs: guest config files there are views
of the simulated state (``/etc/pve/nodes/pve1/qemu-server/101.conf`` renders VM 101), and
``/etc/pve/local``, ``/etc/pve/qemu-server`` and ``/etc/pve/lxc`` link to the reading node's own
directory. Like pmxcfs, it fixes owner and mode itself (``chmod``/``chown`` are refused). The
rest is per node: ``/etc/hostname``, ``/etc/network/interfaces``, ``/var/lib/vz/snippets`` (whose
files are the ``snippets`` content of storage ``local``, so a snippet written over SFTP shows up
in the REST storage listing), ``/root/.ssh/authorized_keys`` (a link into ``/etc/pve/priv``, as
on PVE, read by the SSH endpoint to authorize client keys) and so on.
"""

from __future__ import annotations

import posixpath
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .state import Volume

if TYPE_CHECKING:
    from .cluster import SimCluster

__all__ = ["Entry", "SimFilesystem"]

_WWW_DATA = 33
_SNIPPETS = "/var/lib/vz/snippets"
_NODE_LINKS = {"local": "nodes/{node}", "qemu-server": "nodes/{node}/qemu-server", "lxc": "nodes/{node}/lxc"}


@dataclass
class Entry:
    """A file, directory or symbolic link."""

    kind: str  # "file" | "dir" | "link"
    data: bytearray = field(default_factory=bytearray)
    target: str = ""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: float = field(default_factory=time.time)
    readonly_reason: str | None = None  # a view of the state: writes are refused

    @property
    def st_mode(self) -> int:
        kind = {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "link": stat.S_IFLNK}[self.kind]
        return kind | self.mode


class SimFilesystem:
    """Every node's files. Paths are absolute and normalised; methods take the node reading.

    Raises (from its methods): FileNotFoundError, FileExistsError, NotADirectoryError,
    IsADirectoryError, PermissionError (with the reason as message) — the SFTP server maps them.
    """

    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster
        self.lock = threading.RLock()
        self._shared: dict[str, Entry] = {}
        self._nodes: dict[str, dict[str, Entry]] = {}
        self._seed()

    # -- lookup

    def _table(self, node: str, path: str) -> dict[str, Entry]:
        if path == "/etc/pve" or path.startswith("/etc/pve/"):
            return self._shared
        return self._nodes.setdefault(node, {})

    def _dynamic(self, node: str, path: str) -> Entry | None:
        state = self.cluster.state
        parts = path.split("/")
        # /etc/pve/<link> -> nodes/<node>/...
        if len(parts) == 4 and parts[:3] == ["", "etc", "pve"] and parts[3] in _NODE_LINKS:
            return Entry("link", target=_NODE_LINKS[parts[3]].format(node=node), mode=0o777, gid=_WWW_DATA)
        # /etc/pve/nodes/<n>/(qemu-server|lxc)[/<vmid>.conf]
        if len(parts) >= 6 and parts[:4] == ["", "etc", "pve", "nodes"] and parts[4] in state.nodes:
            sub = parts[5]
            if sub not in ("qemu-server", "lxc"):
                return None
            kind = "qemu" if sub == "qemu-server" else "lxc"
            if len(parts) == 6:
                return Entry("dir", mode=0o755, gid=_WWW_DATA)
            if len(parts) == 7 and parts[6].endswith(".conf") and parts[6][:-5].isdigit():
                g = state.guests.get(int(parts[6][:-5]))
                if g is not None and g.kind == kind and g.node == parts[4]:
                    return Entry(
                        "file",
                        bytearray(g.render().encode()),
                        mode=0o640,
                        gid=_WWW_DATA,
                        readonly_reason="guest configs are changed through the API in the simulator",
                    )
        return None

    def _get(self, node: str, path: str) -> Entry | None:
        dyn = self._dynamic(node, path)
        if dyn is not None:
            return dyn
        return self._table(node, path).get(path)

    def resolve(self, node: str, path: str, *, follow: bool = True, _depth: int = 0) -> str:
        """The path with every symbolic link resolved (the last one only with ``follow``)."""
        if _depth > 40:
            raise OSError("too many levels of symbolic links")
        parts = [p for p in path.split("/") if p]
        out = "/"
        for i, part in enumerate(parts):
            if part == ".":
                continue
            if part == "..":
                out = posixpath.dirname(out) or "/"
                continue
            cand = posixpath.join(out, part)
            entry = self._get(node, cand)
            last = i == len(parts) - 1
            if entry is not None and entry.kind == "link" and (follow or not last):
                target = entry.target if entry.target.startswith("/") else posixpath.join(out, entry.target)
                out = self.resolve(node, target, follow=True, _depth=_depth + 1)
            else:
                if entry is not None and entry.kind != "dir" and not last:
                    raise NotADirectoryError(cand)
                out = cand
        return out

    def entry(self, node: str, path: str, *, follow: bool = True) -> Entry:
        with self.lock:
            real = self.resolve(node, path, follow=follow)
            entry = self._get(node, real)
            if entry is None:
                raise FileNotFoundError(path)
            return entry

    def listdir(self, node: str, path: str) -> list[str]:
        with self.lock:
            real = self.resolve(node, path)
            entry = self._get(node, real)
            if entry is None:
                raise FileNotFoundError(path)
            if entry.kind != "dir":
                raise NotADirectoryError(path)
            prefix = real.rstrip("/") + "/"
            names = {p[len(prefix) :] for p in self._table(node, prefix) if p.startswith(prefix) and "/" not in p[len(prefix) :]}
            if real == "/etc":
                names.add("pve")
            if real == "/etc/pve":
                names |= set(_NODE_LINKS)
            parts = real.split("/")
            if len(parts) == 5 and parts[:4] == ["", "etc", "pve", "nodes"]:
                names |= {"qemu-server", "lxc"}
            if len(parts) == 6 and parts[:4] == ["", "etc", "pve", "nodes"] and parts[5] in ("qemu-server", "lxc"):
                kind = "qemu" if parts[5] == "qemu-server" else "lxc"
                names |= {f"{g.vmid}.conf" for g in self.cluster.state.guests_on(parts[4], kind)}  # type: ignore[arg-type]
            return sorted(n for n in names if n)

    # -- reads and writes

    def read(self, node: str, path: str) -> bytes:
        entry = self.entry(node, path)
        if entry.kind == "dir":
            raise IsADirectoryError(path)
        return bytes(entry.data)

    def create(self, node: str, path: str, *, mode: int = 0o644, exclusive: bool = False, truncate: bool = False) -> Entry:
        """The file at ``path`` (links followed), created if missing."""
        with self.lock:
            real = self.resolve(node, path)
            self._writable(node, real)
            entry = self._get(node, real)
            if entry is not None:
                if exclusive:
                    raise FileExistsError(path)
                if entry.kind == "dir":
                    raise IsADirectoryError(path)
                if entry.readonly_reason:
                    raise PermissionError(entry.readonly_reason)
                if truncate:
                    entry.data.clear()
                    entry.mtime = time.time()
                return entry
            parent = self._get(node, posixpath.dirname(real))
            if parent is None or parent.kind != "dir":
                raise FileNotFoundError(posixpath.dirname(real))
            pmx = self._table(node, real) is self._shared
            entry = Entry("file", mode=0o640 if pmx else mode & 0o7777, gid=_WWW_DATA if pmx else 0)
            self._table(node, real)[real] = entry
            return entry

    def write(self, node: str, path: str, data: bytes, *, mode: int = 0o644) -> None:
        """Create or replace the whole content of a file (not atomic: a test helper)."""
        entry = self.create(node, path, mode=mode, truncate=True)
        entry.data[:] = data
        self.changed(node, path)

    def mkdir(self, node: str, path: str, mode: int = 0o755) -> None:
        with self.lock:
            real = self.resolve(node, path, follow=False)
            self._writable(node, real)
            if self._get(node, real) is not None:
                raise FileExistsError(path)
            parent = self._get(node, posixpath.dirname(real))
            if parent is None or parent.kind != "dir":
                raise FileNotFoundError(posixpath.dirname(real))
            self._table(node, real)[real] = Entry("dir", mode=mode & 0o7777)

    def symlink(self, node: str, path: str, target: str) -> None:
        """Create a symbolic link (tests build link tricks with it)."""
        with self.lock:
            real = self.resolve(node, path, follow=False)
            if self._get(node, real) is not None:
                raise FileExistsError(path)
            self._table(node, real)[real] = Entry("link", target=target, mode=0o777)

    def remove(self, node: str, path: str) -> None:
        with self.lock:
            real = self.resolve(node, path, follow=False)
            self._writable(node, real)
            table = self._table(node, real)
            entry = table.get(real)
            if entry is None:
                raise FileNotFoundError(path)
            if entry.kind == "dir":
                raise IsADirectoryError(path)
            del table[real]
        self.changed(node, real)

    def rename(self, node: str, old: str, new: str, *, overwrite: bool) -> None:
        with self.lock:
            src = self.resolve(node, old, follow=False)
            dst = self.resolve(node, new, follow=False)
            self._writable(node, src)
            self._writable(node, dst)
            src_table, dst_table = self._table(node, src), self._table(node, dst)
            entry = src_table.get(src)
            if entry is None:
                raise FileNotFoundError(old)
            existing = self._get(node, dst)
            if existing is not None:
                if not overwrite:
                    raise FileExistsError(new)
                if existing.kind == "dir" or existing.readonly_reason:
                    raise PermissionError(existing.readonly_reason or f"{new} is a directory")
            if entry.kind == "dir":
                raise PermissionError("renaming directories is not simulated")
            parent = self._get(node, posixpath.dirname(dst))
            if parent is None or parent.kind != "dir":
                raise FileNotFoundError(posixpath.dirname(dst))
            del src_table[src]
            dst_table[dst] = entry
            entry.mtime = time.time()
        self.changed(node, src)
        self.changed(node, dst)

    def setstat(self, node: str, path: str, *, mode: int | None = None, uid: int | None = None, gid: int | None = None) -> None:
        with self.lock:
            real = self.resolve(node, path)
            entry = self._get(node, real)
            if entry is None:
                raise FileNotFoundError(path)
            if self._table(node, real) is self._shared and (mode is not None or uid is not None or gid is not None):
                raise PermissionError("pmxcfs does not support chmod or chown")
            if mode is not None:
                entry.mode = mode & 0o7777
            if uid is not None:
                entry.uid = uid
            if gid is not None:
                entry.gid = gid

    def _writable(self, node: str, real: str) -> None:
        dyn = self._dynamic(node, real)
        if dyn is not None and (dyn.readonly_reason or dyn.kind != "file"):
            raise PermissionError(dyn.readonly_reason or f"{real} is managed by pmxcfs")

    # -- hooks into the simulated state

    def changed(self, node: str, path: str) -> None:
        """Called after a write: keeps storage ``local``'s snippets in step with the directory."""
        if posixpath.dirname(path) == _SNIPPETS and node in self.cluster.state.nodes:
            self._sync_snippets(node)

    def _sync_snippets(self, node: str) -> None:
        with self.lock:
            table = self._nodes.get(node, {})
            files = {
                posixpath.basename(p): e
                for p, e in table.items()
                if posixpath.dirname(p) == _SNIPPETS and e.kind == "file" and not posixpath.basename(p).startswith(".")
            }
            vols = self.cluster.state.files.setdefault((node, "local"), [])
            vols[:] = [v for v in vols if v.content != "snippets"]
            for name, e in sorted(files.items()):
                vols.append(Volume(f"local:snippets/{name}", "snippets", "snippet", len(e.data), int(e.mtime)))

    def authorized_keys(self) -> list[str]:
        """The lines of root's authorized_keys (``/etc/pve/priv/authorized_keys``, cluster-wide)."""
        entry = self._shared.get("/etc/pve/priv/authorized_keys")
        if entry is None:
            return []
        return [line for line in entry.data.decode("utf-8", "replace").splitlines() if line.strip()]

    def walk(self, node: str) -> Iterator[tuple[str, Entry]]:
        """Every stored (not computed) entry a node sees, for tests and debugging."""
        yield from sorted({**self._shared, **self._nodes.get(node, {})}.items())

    # -- initial content

    def _seed(self) -> None:
        state = self.cluster.state
        sh = self._shared

        def put(table: dict[str, Entry], path: str, text: str | bytes, mode: int = 0o644, gid: int = 0) -> None:
            data = text.encode() if isinstance(text, str) else text
            table[path] = Entry("file", bytearray(data), mode=mode, gid=gid)

        def mkdirs(table: dict[str, Entry], *paths: str, mode: int = 0o755, gid: int = 0) -> None:
            for p in paths:
                table[p] = Entry("dir", mode=mode, gid=gid)

        mkdirs(sh, "/etc/pve", "/etc/pve/nodes", "/etc/pve/firewall", "/etc/pve/sdn", "/etc/pve/virtual-guest", gid=_WWW_DATA)
        mkdirs(sh, "/etc/pve/priv", mode=0o700, gid=_WWW_DATA)
        pmx: Callable[[str, str], None] = lambda p, t: put(sh, p, t, 0o640, _WWW_DATA)
        pmx("/etc/pve/datacenter.cfg", "keyboard: en-us\n")
        storage = []
        for s in state.storages.values():
            storage.append(f"{s.type}: {s.storage}")
            cfg = s.config()
            for k, v in cfg.items():
                if k not in ("storage", "type"):
                    storage.append(f"\t{k} {v}")
            storage.append("")
        pmx("/etc/pve/storage.cfg", "\n".join(storage))
        pmx("/etc/pve/user.cfg", "user:root@pam:1:0:::root@sim.lan:::\nuser:auditor@pve:1:0::::::\n")
        pmx("/etc/pve/firewall/cluster.fw", "[OPTIONS]\n\nenable: 0\n")
        pmx("/etc/pve/corosync.conf", f"totem {{\n  cluster_name: {state.cluster_name}\n  version: 2\n}}\n")
        pmx("/etc/pve/pve-root-ca.pem", "-----BEGIN CERTIFICATE-----\n(simulated)\n-----END CERTIFICATE-----\n")
        pmx("/etc/pve/priv/authkey.key", "-----BEGIN PRIVATE KEY-----\n(simulated)\n-----END PRIVATE KEY-----\n")
        pmx("/etc/pve/priv/authorized_keys", "")
        for i, n in enumerate(state.nodes.values()):
            base = f"/etc/pve/nodes/{n.name}"
            mkdirs(sh, base, f"{base}/priv", gid=_WWW_DATA)
            pmx(f"{base}/pve-ssl.pem", "-----BEGIN CERTIFICATE-----\n(simulated)\n-----END CERTIFICATE-----\n")
            pmx(f"{base}/pve-ssl.key", "-----BEGIN PRIVATE KEY-----\n(simulated)\n-----END PRIVATE KEY-----\n")
            t = self._nodes.setdefault(n.name, {})
            mkdirs(t, "/", "/etc", "/etc/network", "/etc/ssh", "/etc/apt", "/etc/apt/sources.list.d", "/root",
                   "/tmp", "/var", "/var/lib", "/var/lib/vz", _SNIPPETS, "/var/lib/vz/template",
                   "/var/lib/vz/template/iso", "/var/lib/vz/template/cache", "/var/lib/vz/dump", "/var/log")  # fmt: skip
            t["/tmp"].mode = 0o1777
            mkdirs(t, "/root/.ssh", mode=0o700)
            t["/root/.ssh/authorized_keys"] = Entry("link", target="/etc/pve/priv/authorized_keys", mode=0o777)
            put(t, "/etc/hostname", f"{n.name}\n")
            put(t, "/etc/hosts", f"127.0.0.1 localhost.localdomain localhost\n{n.ip} {n.name}.sim.lan {n.name}\n")
            put(t, "/etc/resolv.conf", "search sim.lan\nnameserver 10.10.10.1\n")
            put(
                t,
                "/etc/network/interfaces",
                "auto lo\niface lo inet loopback\n\niface eno1 inet manual\n\nauto vmbr0\niface vmbr0 inet static\n"
                f"\taddress {n.ip}/24\n\tgateway 10.10.10.1\n\tbridge-ports eno1\n\tbridge-stp off\n\tbridge-fd 0\n\n"
                "source /etc/network/interfaces.d/*\n",
            )
            put(t, "/etc/apt/sources.list.d/pve-no-subscription.list",
                "deb http://download.proxmox.com/debian/pve trixie pve-no-subscription\n")  # fmt: skip
            put(t, "/etc/ssh/sshd_config", "PermitRootLogin yes\nPasswordAuthentication yes\n")
            put(t, "/var/log/syslog", f"{n.name} systemd[1]: Started pveproxy.service - PVE API Proxy Server.\n")
            put(
                t,
                f"{_SNIPPETS}/user-data.yaml",
                "#cloud-config\nhostname: web\npackage_update: true\npackages:\n  - qemu-guest-agent\n"
                f"# simulated snippet on {n.name} ({i + 1})\n",
            )
            self._sync_snippets(n.name)

    def set_host_key(self, node: str, public_line: str) -> None:
        """Publish the node's SSH host key where ``ssh-keygen -lf`` would look for it."""
        with self.lock:
            t = self._nodes.setdefault(node, {})
            t["/etc/ssh/ssh_host_ed25519_key.pub"] = Entry("file", bytearray((public_line + "\n").encode()))
            t["/etc/ssh/ssh_host_ed25519_key"] = Entry(
                "file", bytearray(b"-----BEGIN OPENSSH PRIVATE KEY-----\n(simulated)\n"), mode=0o600
            )
