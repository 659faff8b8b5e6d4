"""The asyncio network backend under httpx2, against real sockets on 127.0.0.1 (plain HTTP here;
TLS through the simulated cluster)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import httpx2
import pytest

from proxmox_operator_mcp.config import load_settings
from proxmox_operator_mcp.sim import SimOptions, run_sim
from proxmox_operator_mcp.transports.aionet import AsyncioBackend, install
from proxmox_operator_mcp.transports.rest import RestClient

pytestmark = pytest.mark.anyio

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def http_server(handler: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    """A raw HTTP/1.1 server; yields its base URL and a list counting accepted connections."""
    accepted: list[int] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", accepted
    finally:
        server.close()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def answer(body: bytes, *, close: bool = False) -> bytes:
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nContent-Type: text/plain\r\n"
    return (head + ("Connection: close\r\n" if close else "") + "\r\n").encode() + body


def client(base: str, timeout: float = 5.0) -> httpx2.AsyncClient:
    transport = httpx2.AsyncHTTPTransport()
    assert install(transport)
    return httpx2.AsyncClient(transport=transport, base_url=base, timeout=timeout)


async def test_keep_alive_is_used_and_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    async def one_answer_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(b"first"))  # keep-alive offered ...
        await writer.drain()
        # ... then closed while idle: the client must notice and not send on it

    async with http_server(one_answer_then_close) as (base, accepted), client(base) as c:
        with anyio.fail_after(10):
            assert (await c.get("/a")).text == "first"
            (conn,) = c._transport._pool.connections  # type: ignore[attr-defined]
            with anyio.fail_after(2):  # well before httpx2's 5 s keep-alive expiry
                while not conn.has_expired():  # the pool asks the stream: is_readable once the FIN is in
                    await anyio.sleep(0)
            assert (await c.get("/b")).text == "first"
    assert len(accepted) == 2


async def test_several_requests_reuse_one_connection() -> None:
    async def keep_answering(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(3):
            await read_request(reader)
            writer.write(answer(b"ok"))
            await writer.drain()

    async with http_server(keep_answering) as (base, accepted), client(base) as c:
        with anyio.fail_after(10):
            for _ in range(3):
                assert (await c.get("/x")).text == "ok"
    assert len(accepted) == 1


async def test_a_large_body_arrives_whole_through_the_read_pause() -> None:
    big = bytes(range(256)) * (3 * 4096)  # 3 MiB: far over the read buffer's high-water mark

    async def send_big(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(big, close=True))
        await writer.drain()

    async with http_server(send_big) as (base, _), client(base) as c:
        with anyio.fail_after(20):
            r = await c.get("/big")
    assert r.content == big


async def test_a_silent_server_is_a_read_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reader.read()  # never answers; ends when the client gives up and closes

    async with http_server(silent) as (base, _), client(base, timeout=0.3) as c:
        with anyio.fail_after(10), pytest.raises(httpx2.ReadTimeout):
            await c.get("/slow")


async def test_a_closed_port_is_a_connect_error() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    async with client(f"http://127.0.0.1:{port}") as c:
        with anyio.fail_after(10), pytest.raises(httpx2.ConnectError):
            await c.get("/")


async def test_a_server_that_hangs_up_mid_answer_is_a_read_error() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        await writer.drain()

    async with http_server(hang_up) as (base, _), client(base) as c:
        with anyio.fail_after(10), pytest.raises(httpx2.RemoteProtocolError):
            await c.get("/cut")


async def test_the_rest_client_reaches_the_simulated_cluster_over_tls_with_it() -> None:
    async with run_sim(SimOptions(nodes=1, vms_per_node=1, cts_per_node=0)) as sim:
        settings = load_settings(sim.env())
        rest = RestClient(settings.cluster(settings.cluster_names[0]))
        with anyio.fail_after(20):
            version = await rest.get("/version")
            again = await rest.get("/version")
        (http,) = rest._clients.values()
        backend = http._transport._pool._network_backend  # type: ignore[attr-defined]
        await rest.aclose()
    assert isinstance(backend, AsyncioBackend)
    assert version["release"] and again == version


async def test_rest_requests_go_straight_to_the_clients_transport() -> None:
    from proxmox_operator_mcp.transports import rest as rest_module

    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json={"data": {"ok": 1}})

    client = httpx2.AsyncClient(transport=httpx2.MockTransport(handler), headers={"User-Agent": "t"})
    assert isinstance(client._transport, httpx2.AsyncBaseTransport)  # the shape _send_direct relies on
    request = client.build_request("GET", "https://pve.example:8006/api2/json/version")
    response = await rest_module._send_direct(client, request)
    await client.aclose()
    assert response.json() == {"data": {"ok": 1}} and response.request is request
    assert seen[0].headers["user-agent"] == "t"  # the client's headers, as with client.send
