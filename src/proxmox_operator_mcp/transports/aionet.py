"""An httpcore2 network backend on asyncio's own transports (TCP, then TLS with ``loop.start_tls``).

httpx2 reaches the network through httpcore2, whose default backend wraps every socket in anyio
streams: TLS through ``anyio.streams.tls`` (an ``SSLObject`` pumped in Python), and a cancel
scope around each read and write. asyncio's transports do the same work with fewer layers; on
this project's 2-core CI machine a keep-alive HTTPS GET to the simulated cluster costs about a
quarter less CPU (``bench/bench_http.py`` shows what that is worth under load).

Semantics kept from the anyio backend: timeouts raise httpcore2's ``ConnectTimeout`` /
``ReadTimeout`` / ``WriteTimeout``, socket errors ``ConnectError`` / ``ReadError`` /
``WriteError`` (httpx2 maps them to its own); end of stream reads as ``b""``; ``is_readable``
tells the pool that an idle keep-alive connection was closed by the server; socket options are
applied. Reads are bounded (``_HIGH_WATER``): the transport pauses when the buffer is full;
writes wait while the kernel buffer is full. Only for asyncio event loops (the server's); the
REST client falls back to httpcore2's own backend elsewhere.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable
from typing import Any

from httpcore2 import (
    ConnectError,
    ConnectTimeout,
    ReadError,
    ReadTimeout,
    WriteError,
    WriteTimeout,
)
from httpcore2._backends.base import AsyncNetworkBackend, AsyncNetworkStream

__all__ = ["AsyncioBackend", "install"]

# Pause reading from the socket when this much is buffered and unread (a big API answer is read
# by httpcore2 in 64 KiB pieces; the buffer never grows past this plus one socket read).
_HIGH_WATER = 256 * 1024
# Seconds a closing TLS connection waits for the peer's close_notify before the socket is dropped.
_TLS_SHUTDOWN_TIMEOUT = 2.0


class _Protocol(asyncio.Protocol):
    """Buffers what arrives and wakes the one reader; tracks end of stream and write pauses."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.reader: asyncio.Future[None] | None = None
        self.writable: asyncio.Future[None] | None = None
        self.reading_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) >= _HIGH_WATER and self.transport is not None and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake_reader()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake_reader()
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)

    def pause_writing(self) -> None:
        if self.writable is None or self.writable.done():
            self.writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)

    def _wake_reader(self) -> None:
        if self.reader is not None and not self.reader.done():
            self.reader.set_result(None)


class AsyncioStream(AsyncNetworkStream):
    """One connection: its current transport (plain, then TLS) and the protocol behind it."""

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        p = self._protocol
        if not p.buffer and not p.eof:
            p.reader = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(timeout):
                    await p.reader
            except TimeoutError:
                raise ReadTimeout(f"no data within {timeout} s") from None
            finally:
                p.reader = None
        if p.buffer:
            data = bytes(p.buffer[:max_bytes])
            del p.buffer[:max_bytes]
            if p.reading_paused and len(p.buffer) < _HIGH_WATER // 2:
                p.reading_paused = False
                self._transport.resume_reading()
            return data
        if p.error is not None:
            raise ReadError(str(p.error) or type(p.error).__name__)
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        p = self._protocol
        if self._transport.is_closing() or p.error is not None:
            raise WriteError("the connection is closed")
        self._transport.write(buffer)
        if p.writable is not None and not p.writable.done():
            try:
                async with asyncio.timeout(timeout):
                    await asyncio.shield(p.writable)  # shared: a timed-out wait must not cancel it
            except TimeoutError:
                raise WriteTimeout(f"could not send within {timeout} s") from None
            if p.error is not None:
                raise WriteError(str(p.error) or type(p.error).__name__)

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                tls = await loop.start_tls(
                    self._transport,
                    self._protocol,
                    ssl_context,
                    server_hostname=server_hostname,
                    # asyncio's own handshake limit (60 s) must not cut a longer connect timeout
                    ssl_handshake_timeout=timeout if timeout else None,
                    # a peer that never answers close_notify must not hold the socket for 30 s
                    ssl_shutdown_timeout=_TLS_SHUTDOWN_TIMEOUT,
                )
        except TimeoutError:
            self._transport.close()
            raise ConnectTimeout(f"TLS handshake not done within {timeout} s") from None
        except (ssl.SSLError, OSError) as exc:
            self._transport.close()
            raise ConnectError(str(exc)) from exc
        if tls is None:  # the connection closed during the handshake
            self._transport.close()
            raise ConnectError("the server closed the connection during the TLS handshake")
        assert isinstance(tls, asyncio.Transport)
        self._transport = tls
        self._protocol.transport = tls
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # httpcore2 asks before reusing an idle keep-alive connection: anything to read on an
            # idle HTTP/1.1 connection means the server closed it (or sent garbage).
            p = self._protocol
            return bool(p.buffer) or p.eof or self._transport.is_closing()
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        return None


class AsyncioBackend(AsyncNetworkBackend):
    """Opens :class:`AsyncioStream` connections (TCP; httpcore2 asks for TLS after)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_connection(
                    _Protocol, host, port, local_addr=(local_address, 0) if local_address else None
                )
        except TimeoutError:
            raise ConnectTimeout(f"no connection to {host}:{port} within {timeout} s") from None
        except OSError as exc:
            raise ConnectError(str(exc) or type(exc).__name__) from exc
        assert isinstance(transport, asyncio.Transport)
        sock = transport.get_extra_info("socket")
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
        except OSError as exc:
            transport.close()
            raise ConnectError(f"socket option refused: {exc}") from exc
        return AsyncioStream(transport, protocol)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> AsyncNetworkStream:
        raise ConnectError("Unix sockets are not used to reach Proxmox")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def install(transport: Any) -> bool:
    """Make an ``httpx2.AsyncHTTPTransport`` use :class:`AsyncioBackend`. False (and nothing
    changed) when its connection pool does not have the expected shape (another httpx2)."""
    pool = getattr(transport, "_pool", None)
    if pool is None or not hasattr(pool, "_network_backend"):
        return False
    pool._network_backend = AsyncioBackend()
    return True
