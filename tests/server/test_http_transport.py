"""The MCP transports over HTTP: stateful sessions, stateless replicas, and the legacy SSE endpoint."""

from __future__ import annotations

import itertools

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from proxmox_operator_mcp.sim import SimOptions, run_sim

from .helpers import settings
from .oidc import INITIALIZE, MCP_HEADERS, bearer, mcp_client, serving

pytestmark = pytest.mark.anyio


async def test_stateful_mode_opens_a_session_and_serves_the_official_client() -> None:
    async with serving({}, settings()) as svc:
        async with bearer(None) as raw:
            init = await raw.post(svc.url, json=INITIALIZE, headers=MCP_HEADERS)
        with anyio.fail_after(30):
            async with mcp_client(svc.url, None) as client:
                tools = (await client.list_tools()).tools
                res = await client.call_tool("proxmox_capabilities", {})
    assert init.status_code == 200 and init.headers.get("mcp-session-id")
    assert tools and not res.is_error


async def test_stateless_mode_keeps_no_session_and_no_legacy_sse() -> None:
    async with serving({"PROXMOX_MCP_HTTP_STATELESS": "1"}, settings()) as svc:
        async with bearer(None) as raw:
            init = await raw.post(svc.url, json=INITIALIZE, headers=MCP_HEADERS)
            sse = await raw.get(svc.base_url + "/sse")
        with anyio.fail_after(30):
            async with mcp_client(svc.url, None) as client:
                res = await client.call_tool("proxmox_capabilities", {})
    assert init.status_code == 200 and "mcp-session-id" not in init.headers
    assert sse.status_code == 404
    assert not res.is_error


async def test_older_clients_use_the_legacy_sse_endpoint() -> None:
    async with serving({}, settings()) as svc:
        with anyio.fail_after(30):
            async with Client(sse_client(svc.base_url + "/sse")) as client:
                tools = (await client.list_tools()).tools
                res = await client.call_tool("proxmox_capabilities", {})
    assert {"proxmox_capabilities", "proxmox_node_list"} <= {t.name for t in tools}
    assert not res.is_error


async def test_the_legacy_sse_endpoint_requires_the_token_too() -> None:
    import hashlib

    token = "t" * 40
    env = {
        "PROXMOX_MCP_AUTH_MODE": "static",
        "PROXMOX_MCP_STATIC_TOKENS": f"a:{hashlib.sha256(token.encode()).hexdigest()}:pve.read",
    }
    async with serving(env, settings()) as svc:
        async with bearer(None) as anon:
            refused = await anon.get(svc.base_url + "/sse")
        with anyio.fail_after(30):
            async with Client(sse_client(svc.base_url + "/sse", headers={"Authorization": f"Bearer {token}"})) as c:
                res = await c.call_tool("proxmox_capabilities", {})
    assert refused.status_code == 401
    assert not res.is_error


class RoundRobin(httpx2.AsyncBaseTransport):
    """Sends each request to the next replica, as a round-robin load balancer would."""

    def __init__(self, ports: list[int]) -> None:
        self._ports = itertools.cycle(ports)
        self._inner = httpx2.AsyncHTTPTransport()
        self.seen: list[int] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        port = next(self._ports)
        self.seen.append(port)
        request.url = request.url.copy_with(port=port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_stateless_replicas_serve_one_client_alternately_including_a_task_started_on_the_other() -> None:
    async with run_sim(SimOptions(nodes=2, vms_per_node=2, task_seconds=0.05)) as sim:
        pve = settings("operator", **sim.env())
        env = {"PROXMOX_MCP_HTTP_STATELESS": "1"}
        async with serving(env, pve) as a, serving(env, pve) as b:
            balancer = RoundRobin([a.http.http_port, b.http.http_port])
            async with httpx2.AsyncClient(transport=balancer, timeout=30) as http_client:
                with anyio.fail_after(60):
                    async with Client(streamable_http_client(a.url, http_client=http_client)) as client:
                        vms = await client.call_tool("proxmox_vm_list", {"status": "stopped", "template": False})
                        vmid = vms.structured_content["items"][0]["vmid"]  # type: ignore[index]
                        started = await client.call_tool("proxmox_vm_action", {"vmid": vmid, "action": "start"})
                        assert not started.is_error, started.content
                        upid = started.structured_content["task"]["upid"]  # type: ignore[index]
                        for _ in range(4):
                            task = await client.call_tool("proxmox_task_get", {"upid": upid})
                            assert not task.is_error, task.content
    assert {a.http.http_port, b.http.http_port} == set(balancer.seen)
