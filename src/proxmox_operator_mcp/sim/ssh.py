"""The simulated cluster's SSH endpoints: one asyncssh server per node on loopback.

Each node has its own generated ed25519 host key (published as ``/etc/ssh/ssh_host_ed25519_key.pub``
in the node's simulated files, so a bootstrap can "check it on the console"). Logins are as
``root``: with a key listed in ``/etc/pve/priv/authorized_keys`` (the simulator's generated client
key is there from the start) or with the cluster's root password (for the bootstrap).

Commands run :mod:`.pvecli` in a worker thread: ``pvesh`` becomes a request to the same ASGI
app the REST plane talks to (as ``root@pam``, with a ticket), so a command over SSH changes the
state the REST tools see. SFTP serves :class:`~proxmox_operator_mcp.sim.files.SimFilesystem`.

asyncssh runs on asyncio only; it is imported when an endpoint starts.
"""

from __future__ import annotations

import hmac
import logging
import posixpath
import shlex
import stat
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.from_thread
import asyncssh
import httpx2
from pydantic import SecretStr

from ..transports.ssh import SshTarget, host_key_fingerprint
from . import pvecli
from .app import create_app
from .cluster import SimCluster
from .files import SimFilesystem

__all__ = ["SimSsh", "SshEndpoint", "serve_ssh"]

log = logging.getLogger(__name__)

_KILL_PREFIX = ["exec", "timeout", "-s", "KILL"]


@dataclass(frozen=True)
class SshEndpoint:
    """One node's SSH server."""

    node: str
    host: str
    port: int
    host_key_line: str

    @property
    def fingerprint(self) -> str:
        return host_key_fingerprint(self.host_key_line)


@dataclass
class SimSsh:
    """The running SSH endpoints and the client credentials that reach them.

    Attributes:
        endpoints: node name -> endpoint.
        client_key: the authorized client private key (OpenSSH text).
        client_key_line: its public key line.
        username: the login user (``root``).
        password: root's password (also the REST ticket password), for password logins.
        connections: how many SSH connections each node accepted so far.
    """

    endpoints: dict[str, SshEndpoint]
    client_key: SecretStr = field(repr=False)
    client_key_line: str
    password: SecretStr = field(repr=False)
    username: str = "root"
    connections: dict[str, int] = field(default_factory=dict)

    def target(self, node: str, **overrides: Any) -> SshTarget:
        """A pinned :class:`SshTarget` for ``node``."""
        ep = self.endpoints[node]
        fields: dict[str, Any] = {
            "node": node,
            "host": ep.host,
            "port": ep.port,
            "username": self.username,
            "host_keys": (ep.host_key_line,),
            "client_key": self.client_key,
            "connect_timeout": 10.0,
        }
        fields.update(overrides)
        return SshTarget(**fields)

    def env(self, node: str) -> dict[str, str]:
        """The ``PROXMOX_SHELL_SSH_*`` variables for ``node`` (host key pinned)."""
        ep = self.endpoints[node]
        return {
            "PROXMOX_SHELL_SSH_HOST": ep.host,
            "PROXMOX_SHELL_SSH_PORT": str(ep.port),
            "PROXMOX_SHELL_SSH_USERNAME": self.username,
            "PROXMOX_SHELL_SSH_PRIVATE_KEY": self.client_key.get_secret_value(),
            "PROXMOX_SHELL_SSH_EXPECTED_HOST_KEY": ep.host_key_line,
        }


class _Api:
    """REST calls to the simulator's ASGI app as root@pam (a ticket, renewed on 401)."""

    def __init__(self, cluster: SimCluster) -> None:
        self._cluster = cluster
        self._client = httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=create_app(cluster)), base_url="https://sim/api2/json"
        )
        self._auth: dict[str, str] | None = None
        self._lock = anyio.Lock()

    async def _login(self) -> dict[str, str]:
        async with self._lock:
            if self._auth is None:
                r = await self._client.post(
                    "/access/ticket", data={"username": "root@pam", "password": self._cluster.password}
                )
                data = r.json()["data"]
                self._auth = {
                    "Cookie": f"PVEAuthCookie={data['ticket']}",
                    "CSRFPreventionToken": data["CSRFPreventionToken"],
                }
            return self._auth

    async def call(self, method: str, path: str, params: Mapping[str, Any] | None) -> Any:
        pairs = [(k, str(x)) for k, v in (params or {}).items() for x in (v if isinstance(v, list) else [v])]
        for attempt in (1, 2):
            headers = await self._login()
            if method in ("GET", "DELETE"):
                r = await self._client.request(method, path, params=pairs, headers=headers)
            else:
                r = await self._client.request(method, path, data=_group(pairs), headers=headers)
            if r.status_code == 401 and attempt == 1:
                self._auth = None
                continue
            break
        if r.status_code >= 400:
            message = r.reason_phrase
            try:
                message = r.json().get("message") or message
            except ValueError:
                pass
            raise pvecli.ApiError(r.status_code, str(message))
        return r.json().get("data")

    async def aclose(self) -> None:
        await self._client.aclose()


def _group(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            old = out[k]
            out[k] = [*old, v] if isinstance(old, list) else [old, v]
        else:
            out[k] = v
    return out


class _Backend:
    """:class:`pvecli.Backend` for a command running in a worker thread."""

    def __init__(self, node: str, api: _Api, fs: SimFilesystem) -> None:
        self.node = node
        self._api = api
        self._fs = fs

    def api(self, method: str, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return anyio.from_thread.run(self._api.call, method, path, params)

    def read_file(self, path: str) -> bytes:
        return self._fs.read(self.node, path if path.startswith("/") else posixpath.join("/root", path))

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def _command_argv(command: str) -> list[str]:
    argv = shlex.split(command)
    if argv[:4] == _KILL_PREFIX and len(argv) > 5:
        argv = argv[5:]  # the pool's own `exec timeout -s KILL Ns` wrapper
    return argv


class _Server(asyncssh.SSHServer):
    def __init__(self, sim: _Node) -> None:
        self._sim = sim

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._sim.open.add(conn)
        self._sim.ssh.connections[self._sim.node] = self._sim.ssh.connections.get(self._sim.node, 0) + 1

    def connection_lost(self, exc: Exception | None) -> None:
        self._sim.open.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        if username != "root":
            return False
        for line in self._sim.fs.authorized_keys():
            try:
                if asyncssh.import_public_key(line).public_data == key.public_data:
                    return True
            except (asyncssh.KeyImportError, ValueError):
                continue
        return False

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == "root" and hmac.compare_digest(password.encode(), self._sim.cluster.password.encode())


@dataclass
class _Node:
    node: str
    cluster: SimCluster
    fs: SimFilesystem
    api: _Api
    ssh: SimSsh
    open: set[asyncssh.SSHServerConnection] = field(default_factory=set)

    async def handle(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        try:
            if not process.command:
                process.stderr.write(b"interactive shells are not simulated; run a command\n")
                process.exit(1)
                return
            try:
                argv = _command_argv(process.command)
            except ValueError as exc:
                process.stderr.write(f"sh: 1: Syntax error: {exc}\n".encode())
                process.exit(2)
                return
            stdin = await process.stdin.read()
            backend = _Backend(self.node, self.api, self.fs)
            result = await anyio.to_thread.run_sync(pvecli.run, argv, backend, stdin)
            process.stdout.write(result.stdout.encode())
            process.stderr.write(result.stderr.encode())
            process.exit(result.status)
        except (asyncssh.Error, BrokenPipeError, ConnectionError):
            pass  # the client went away (timeout, cancellation)


class _Sftp(asyncssh.SFTPServer):
    """SFTP over the node's in-memory files (SFTPv3, plus posix-rename and fsync)."""

    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], sim: _Node) -> None:
        super().__init__(chan)
        self._sim = sim

    @property
    def _fs(self) -> SimFilesystem:
        return self._sim.fs

    def _path(self, path: bytes) -> str:
        p = path.decode("utf-8", "surrogateescape")
        return posixpath.normpath(p if p.startswith("/") else posixpath.join("/root", p or "."))

    def _attrs(self, entry: Any) -> asyncssh.SFTPAttrs:
        return asyncssh.SFTPAttrs(
            type=asyncssh.FILEXFER_TYPE_DIRECTORY if entry.kind == "dir" else asyncssh.FILEXFER_TYPE_REGULAR,
            size=len(entry.data) if entry.kind == "file" else (len(entry.target) if entry.kind == "link" else 4096),
            uid=entry.uid,
            gid=entry.gid,
            permissions=entry.st_mode,
            atime=int(entry.mtime),
            mtime=int(entry.mtime),
        )

    def _do(self, fn: Any, *args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except FileNotFoundError as exc:
            raise asyncssh.SFTPNoSuchFile(f"No such file: {exc}") from None
        except FileExistsError as exc:
            raise asyncssh.SFTPFailure(f"File exists: {exc}") from None
        except (PermissionError, IsADirectoryError, NotADirectoryError) as exc:
            raise asyncssh.SFTPPermissionDenied(str(exc) or "Permission denied") from None
        except OSError as exc:
            raise asyncssh.SFTPFailure(str(exc)) from None

    def realpath(self, path: bytes) -> bytes:
        return self._do(self._fs.resolve, self._sim.node, self._path(path)).encode()

    def stat(self, path: bytes) -> asyncssh.SFTPAttrs:
        return self._attrs(self._do(self._fs.entry, self._sim.node, self._path(path)))

    def lstat(self, path: bytes) -> asyncssh.SFTPAttrs:
        return self._attrs(self._do(self._fs.entry, self._sim.node, self._path(path), follow=False))

    def fstat(self, file_obj: object) -> asyncssh.SFTPAttrs:
        return self._attrs(file_obj.entry)  # type: ignore[attr-defined]

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        p = self._path(path)
        node = self._sim.node
        if pflags & asyncssh.FXF_WRITE:
            mode = stat.S_IMODE(attrs.permissions) if attrs.permissions is not None else 0o644
            if pflags & asyncssh.FXF_CREAT:
                entry = self._do(
                    self._fs.create,
                    node,
                    p,
                    mode=mode,
                    exclusive=bool(pflags & asyncssh.FXF_EXCL),
                    truncate=bool(pflags & asyncssh.FXF_TRUNC),
                )
            else:
                entry = self._do(self._fs.entry, node, p)
                if entry.readonly_reason:
                    raise asyncssh.SFTPPermissionDenied(entry.readonly_reason)
                if pflags & asyncssh.FXF_TRUNC:
                    entry.data.clear()
        else:
            entry = self._do(self._fs.entry, node, p)
        if entry.kind == "dir":
            raise asyncssh.SFTPFailure(f"{p} is a directory")
        return _Handle(p, entry, bool(pflags & asyncssh.FXF_APPEND), bool(pflags & asyncssh.FXF_WRITE))

    def read(self, file_obj: object, offset: int, size: int) -> bytes:
        h: _Handle = file_obj  # type: ignore[assignment]
        return bytes(h.entry.data[offset : offset + size])

    def write(self, file_obj: object, offset: int, data: bytes) -> int:
        h: _Handle = file_obj  # type: ignore[assignment]
        with self._fs.lock:
            buf = h.entry.data
            if h.append:
                offset = len(buf)
            if offset > len(buf):
                buf.extend(b"\0" * (offset - len(buf)))
            buf[offset : offset + len(data)] = data
        h.dirty = True
        return len(data)

    def close(self, file_obj: object) -> None:
        h: _Handle = file_obj  # type: ignore[assignment]
        if h.dirty:
            h.entry.mtime = time.time()
            self._fs.changed(self._sim.node, self._fs.resolve(self._sim.node, h.path))

    def fsync(self, file_obj: object) -> None:
        return None

    def setstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        mode = stat.S_IMODE(attrs.permissions) if attrs.permissions is not None else None
        self._do(self._fs.setstat, self._sim.node, self._path(path), mode=mode, uid=attrs.uid, gid=attrs.gid)

    def fsetstat(self, file_obj: object, attrs: asyncssh.SFTPAttrs) -> None:
        self.setstat(file_obj.path.encode(), attrs)  # type: ignore[attr-defined]

    def remove(self, path: bytes) -> None:
        self._do(self._fs.remove, self._sim.node, self._path(path))

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        self._do(self._fs.rename, self._sim.node, self._path(oldpath), self._path(newpath), overwrite=False)

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        self._do(self._fs.rename, self._sim.node, self._path(oldpath), self._path(newpath), overwrite=True)

    def mkdir(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        mode = stat.S_IMODE(attrs.permissions) if attrs.permissions is not None else 0o755
        self._do(self._fs.mkdir, self._sim.node, self._path(path), mode)

    def rmdir(self, path: bytes) -> None:
        raise asyncssh.SFTPOpUnsupported("rmdir is not simulated")

    def readlink(self, path: bytes) -> bytes:
        entry = self._do(self._fs.entry, self._sim.node, self._path(path), follow=False)
        if entry.kind != "link":
            raise asyncssh.SFTPFailure("not a symbolic link")
        return entry.target.encode()

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPOpUnsupported("symlink is not simulated")

    async def scandir(self, path: bytes) -> AsyncIterator[asyncssh.SFTPName]:
        p = self._path(path)
        for name in [".", "..", *self._do(self._fs.listdir, self._sim.node, p)]:
            full = p if name == "." else posixpath.dirname(p) if name == ".." else posixpath.join(p, name)
            try:
                attrs = self.lstat(full.encode())
            except asyncssh.SFTPError:
                continue
            yield asyncssh.SFTPName(name.encode(), attrs=attrs)


@dataclass
class _Handle:
    path: str
    entry: Any
    append: bool
    writable: bool
    dirty: bool = False


@asynccontextmanager
async def serve_ssh(cluster: SimCluster, host: str = "127.0.0.1") -> AsyncIterator[SimSsh]:
    """Serve SSH for every node of ``cluster`` on loopback for the duration of the block.

    The generated client key is added to root's authorized_keys; each node gets its own host key.
    """
    fs = cluster.fs
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    client_line = client_key.export_public_key("openssh").decode().strip()
    existing = fs.authorized_keys()
    if client_line not in existing:
        fs.write(node=cluster.entry_node, path="/etc/pve/priv/authorized_keys",
                 data=("\n".join([*existing, client_line + " sim-client"]) + "\n").encode())  # fmt: skip
    ssh = SimSsh(
        endpoints={},
        client_key=SecretStr(client_key.export_private_key("openssh").decode()),
        client_key_line=client_line,
        password=SecretStr(cluster.password),
    )
    api = _Api(cluster)
    servers: list[asyncssh.SSHAcceptor] = []
    nodes: list[_Node] = []
    async with AsyncExitStack() as stack:
        stack.push_async_callback(api.aclose)
        for name in cluster.state.nodes:
            host_key = asyncssh.generate_private_key("ssh-ed25519")
            line = host_key.export_public_key("openssh").decode().strip()
            fs.set_host_key(name, line)
            sim_node = _Node(name, cluster, fs, api, ssh)
            nodes.append(sim_node)
            server = await asyncssh.create_server(
                lambda n=sim_node: _Server(n),
                host,
                0,
                server_host_keys=[host_key],
                process_factory=sim_node.handle,
                sftp_factory=lambda chan, n=sim_node: _Sftp(chan, n),
                encoding=None,
                config=None,
                gss_host=None,
                allow_scp=False,
                keepalive_interval=0,
            )
            servers.append(server)
            port = server.sockets[0].getsockname()[1]
            ssh.endpoints[name] = SshEndpoint(name, host, port, line)
        try:
            yield ssh
        finally:
            for server in servers:
                server.close()
            for sim_node in nodes:
                for conn in list(sim_node.open):
                    conn.abort()
            with anyio.move_on_after(5, shield=True):
                for server in servers:
                    await server.wait_closed()
