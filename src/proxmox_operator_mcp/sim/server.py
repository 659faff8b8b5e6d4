"""Serving the simulated cluster over HTTPS on loopback, inside an anyio event loop or a thread.

A small HTTP/1.1 server hosts the ASGI app instead of uvicorn, because PVE puts its error
message in the reason phrase of the status line (``HTTP/1.1 500 VM 101 is running - destroy
failed``) and ASGI servers always send the standard phrase. Like pveproxy it reads bodies by
``Content-Length`` only (chunked bodies get 501) and closes the connection after an error
status.
"""

from __future__ import annotations

import logging
import shutil
import ssl
import tempfile
import threading
from collections.abc import AsyncIterator, MutableMapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import anyio
import anyio.abc
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSListener

from .app import ASGIApp, create_app
from .cluster import SimCluster
from .options import SimOptions
from .tls import TlsFiles, write_tls

if TYPE_CHECKING:
    from .ssh import SimSsh

__all__ = ["SimHandle", "SimThread", "run_sim"]

log = logging.getLogger(__name__)

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_MAX_HEAD = 8 * 1024 + 512
_IDLE_TIMEOUT = 30.0


@dataclass
class SimHandle:
    """A running simulated cluster and everything a client needs to reach it."""

    cluster: SimCluster
    host: str
    port: int
    ca_file: Path
    fingerprint: str
    token_secret: str
    password: str
    token_user: str = "root"
    token_realm: str = "pam"
    token_id: str = "mcp"
    username: str = "root@pam"
    tls: TlsFiles | None = field(default=None, repr=False)
    ssh: SimSsh | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """Base URL of the API: ``https://127.0.0.1:PORT/api2/json``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}/api2/json"

    @property
    def token_full_id(self) -> str:
        return f"{self.token_user}@{self.token_realm}!{self.token_id}"

    @property
    def auth_header(self) -> str:
        """The ``Authorization`` header value of the privileged token."""
        return f"PVEAPIToken={self.token_full_id}={self.token_secret}"

    @property
    def default_node(self) -> str:
        return self.cluster.entry_node

    def env(self) -> dict[str, str]:
        """The ``PROXMOX_*`` environment that points this project's server at the simulator
        (with ``PROXMOX_SHELL_SSH_*`` for the default node when SSH is served)."""
        ssh_env = self.ssh.env(self.default_node) if self.ssh is not None else {}
        return {
            **ssh_env,
            "PROXMOX_HOST": self.host,
            "PROXMOX_API_PORT": str(self.port),
            "PROXMOX_API_TOKEN_USER": self.token_user,
            "PROXMOX_API_TOKEN_REALM": self.token_realm,
            "PROXMOX_API_TOKEN_ID": self.token_id,
            "PROXMOX_API_TOKEN_SECRET": self.token_secret,
            "PROXMOX_TLS_CA_FILE": str(self.ca_file),
            "PROXMOX_TLS_FINGERPRINT": self.fingerprint,
            "PROXMOX_DEFAULT_NODE": self.default_node,
        }


class _QuietTLSListener(TLSListener):
    """A failed handshake (a client that does not trust the CA) is the client's business."""

    @staticmethod
    async def handle_handshake_error(exc: BaseException, stream: anyio.abc.AnyByteStream) -> None:
        await anyio.aclose_forcefully(stream)
        if isinstance(exc, anyio.get_cancelled_exc_class()) or not isinstance(exc, Exception):
            raise exc
        log.debug("TLS handshake with a client failed: %s", exc)


class _BadRequest(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _HttpServer:
    """HTTP/1.1 over any byte stream, hosting one ASGI app."""

    def __init__(self, app: ASGIApp, host: str, port: int) -> None:
        self.app = app
        self.server = (host, port)

    async def handle(self, stream: anyio.abc.ByteStream) -> None:
        buf = bytearray()
        try:
            while True:
                try:
                    with anyio.move_on_after(_IDLE_TIMEOUT) as idle:
                        head = await self._read_head(stream, buf)
                    if idle.cancelled_caught or head is None:
                        return
                    keep_alive = await self._one(stream, buf, head)
                except _BadRequest as bad:
                    await self._write(stream, bad.status, bad.reason, [], b"", keep_alive=False)
                    return
                if not keep_alive:
                    return
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, ssl.SSLError, OSError):
            return
        finally:
            await anyio.aclose_forcefully(stream)

    async def _read_head(self, stream: anyio.abc.ByteStream, buf: bytearray) -> bytes | None:
        while b"\r\n\r\n" not in buf:
            if len(buf) > _MAX_HEAD:
                raise _BadRequest(400, "http header too large")
            try:
                chunk = await stream.receive()
            except anyio.EndOfStream:
                return None
            buf += chunk
        end = buf.index(b"\r\n\r\n")
        head = bytes(buf[:end])
        del buf[: end + 4]
        return head

    async def _one(self, stream: anyio.abc.ByteStream, buf: bytearray, head: bytes) -> bool:
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ")
        except ValueError:
            raise _BadRequest(400, "unable to parse request line") from None
        if not version.startswith("HTTP/1."):
            raise _BadRequest(506, f"http protocol version {version} not supported")
        if len(lines) > 31:
            raise _BadRequest(400, "too many http header lines (> 30)")
        headers: list[tuple[bytes, bytes]] = []
        hmap: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise _BadRequest(506, "unable to parse request header")
            headers.append((name.strip().lower().encode("latin-1"), value.strip().encode("latin-1")))
            hmap[name.strip().lower()] = value.strip()
        if "transfer-encoding" in hmap:
            raise _BadRequest(501, "chunked transfer encoding not supported")
        length = int(hmap.get("content-length", "0") or 0)
        while len(buf) < length:
            buf += await stream.receive()
        body = bytes(buf[:length])
        del buf[:length]
        path, _, query = target.partition("?")
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": version[5:],
            "method": method.upper(),
            "scheme": "https",
            "path": unquote(path),
            "raw_path": path.encode("latin-1"),
            "query_string": query.encode("latin-1"),
            "root_path": "",
            "headers": headers,
            "client": None,
            "server": self.server,
        }
        sent_body = False
        response: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            await anyio.sleep_forever()
            raise AssertionError("unreachable")

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                response.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        status = int(response.get("status", 500))
        keep_alive = status < 300 and hmap.get("connection", "").lower() != "close" and version != "HTTP/1.0"
        await self._write(
            stream, status, response.get("reason"), response.get("headers", []), b"".join(chunks), keep_alive=keep_alive
        )
        return keep_alive

    @staticmethod
    async def _write(
        stream: anyio.abc.ByteStream,
        status: int,
        reason: str | None,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        *,
        keep_alive: bool,
    ) -> None:
        if not reason:
            try:
                reason = HTTPStatus(status).phrase
            except ValueError:
                reason = "Unknown"
        reason = "".join(c if " " <= c <= "~" else "?" for c in reason)
        out = [f"HTTP/1.1 {status} {reason}".encode("latin-1")]
        have_length = False
        for k, v in headers:
            if k.lower() == b"content-length":
                have_length = True
            out.append(k + b": " + v)
        if not have_length:
            out.append(b"content-length: " + str(len(body)).encode())
        out.append(b"connection: " + (b"Keep-Alive" if keep_alive else b"close"))
        await stream.send(b"\r\n".join(out) + b"\r\n\r\n" + body)


@asynccontextmanager
async def run_sim(options: SimOptions | None = None, *, cluster: SimCluster | None = None) -> AsyncIterator[SimHandle]:
    """Serve a simulated cluster over HTTPS on loopback for the duration of the ``async with``.

    The port accepts connections as soon as the block is entered; leaving it stops the server
    and removes the TLS files. With ``options.ssh`` every node also gets an SSH endpoint
    (``handle.ssh``; asyncio only).

    Raises:
        ValueError: ``options.host`` is not a loopback address.
        OSError: the port is taken.
    """
    options = options or SimOptions()
    if options.host not in _LOOPBACK:
        raise ValueError(f"the simulator listens on loopback only (127.0.0.1, ::1, localhost), not {options.host!r}")
    cluster = cluster or SimCluster(options)
    tmp = Path(tempfile.mkdtemp(prefix="pve-sim-"))
    try:
        tls = await anyio.to_thread.run_sync(write_tls, tmp)
        cluster.tls_fingerprint = tls.fingerprint_colons
        host = "127.0.0.1" if options.host == "localhost" else options.host
        listener = await anyio.create_tcp_listener(local_host=host, local_port=options.port)
        port = listener.extra(SocketAttribute.local_port)
        http = _HttpServer(create_app(cluster), host, port)
        tls_listener = _QuietTLSListener(
            listener, tls.server_context(), standard_compatible=False, handshake_timeout=10
        )
        try:
            async with AsyncExitStack() as stack, anyio.create_task_group() as tg:
                tg.start_soon(tls_listener.serve, http.handle, tg)
                try:
                    ssh = None
                    if options.ssh:
                        # Imported only when asked for: asyncssh costs ~300 ms to import.
                        from .ssh import serve_ssh

                        ssh = await stack.enter_async_context(serve_ssh(cluster, host))
                    yield SimHandle(
                        cluster=cluster,
                        host=host,
                        port=port,
                        ca_file=tls.ca_file,
                        fingerprint=tls.fingerprint,
                        token_secret=cluster.token_secret,
                        password=cluster.password,
                        tls=tls,
                        ssh=ssh,
                    )
                finally:
                    tg.cancel_scope.cancel()
        finally:
            await tls_listener.aclose()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class SimThread:
    """A simulated cluster served from a background thread, for synchronous callers.

    ``start()`` returns the :class:`SimHandle` once the port accepts; ``stop()`` shuts it down.
    Also a context manager.
    """

    def __init__(self, options: SimOptions | None = None, *, cluster: SimCluster | None = None) -> None:
        self.options = options or SimOptions()
        self._cluster = cluster
        self._portal_cm: Any = None
        self._cm: Any = None
        self._lock = threading.Lock()
        self.handle: SimHandle | None = None

    def start(self) -> SimHandle:
        with self._lock:
            if self.handle is not None:
                return self.handle
            self._portal_cm = anyio.from_thread.start_blocking_portal()
            portal = self._portal_cm.__enter__()
            try:
                self._cm = portal.wrap_async_context_manager(run_sim(self.options, cluster=self._cluster))
                self.handle = self._cm.__enter__()
            except BaseException:
                self._portal_cm.__exit__(None, None, None)
                raise
            return self.handle

    def stop(self) -> None:
        with self._lock:
            if self._cm is not None:
                self._cm.__exit__(None, None, None)
            if self._portal_cm is not None:
                self._portal_cm.__exit__(None, None, None)
            self._cm = self._portal_cm = self.handle = None

    def __enter__(self) -> SimHandle:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
