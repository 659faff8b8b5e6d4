"""Fixtures: the MCP server, through the official client, against the simulated cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from mcp import Client

from proxmox_operator_mcp.config import load_settings
from proxmox_operator_mcp.server.app import build_server
from proxmox_operator_mcp.sim import SimCluster, SimOptions, create_app


@dataclass
class Harness:
    client: Client
    cluster: SimCluster
    requests: list[tuple[str, str]]
    statuses: list[tuple[str, str, int]]

    async def call(self, name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        res = await self.client.call_tool(name, args or {})
        assert not res.is_error, res.content[0].text if res.content else res  # type: ignore[union-attr]
        return res.structured_content or {}

    async def fail(self, name: str, args: dict[str, Any] | None = None) -> str:
        res = await self.client.call_tool(name, args or {})
        assert res.is_error, f"expected an error from {name}, got {res.structured_content}"
        return res.content[0].text  # type: ignore[union-attr]

    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] != "GET"]


SIM_ENV = {
    "PROXMOX_HOST": "127.0.0.1",
    "PROXMOX_API_TOKEN_USER": "root",
    "PROXMOX_API_TOKEN_REALM": "pam",
    "PROXMOX_API_TOKEN_ID": "mcp",
    "PROXMOX_DEFAULT_NODE": "pve1",
}


@asynccontextmanager
async def harness(
    access: str = "operator",
    *,
    options: SimOptions | None = None,
    token: tuple[str, str, str] | None = None,
    extra_env: dict[str, str] | None = None,
    human: Any = "consenting",
) -> AsyncIterator[Harness]:
    """The server against a fresh simulated cluster, through the official client.

    ``human`` answers confirmations: by default a human who types what is asked (so destructive
    tools run, as after a real confirmation); ``None`` for a client that cannot elicit.
    """
    cluster = SimCluster(options or SimOptions(nodes=2, vms_per_node=4, cts_per_node=2, task_seconds=0.05))
    app = create_app(cluster)
    seen: list[tuple[str, str]] = []
    statuses: list[tuple[str, str, int]] = []

    async def recording_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        seen.append((scope["method"], scope["path"]))

        async def recording_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                statuses.append((scope["method"], scope["path"], message["status"]))
            await send(message)

        await app(scope, receive, recording_send)

    env = dict(SIM_ENV)
    user, token_id, secret = token or ("root", "mcp", cluster.token_secret)
    env.update(
        {
            "PROXMOX_API_TOKEN_USER": user,
            "PROXMOX_API_TOKEN_ID": token_id,
            "PROXMOX_API_TOKEN_SECRET": secret,
            "PROXMOX_MCP_ACCESS": access,
            **(extra_env or {}),
        }
    )
    settings = load_settings(env)
    server = build_server(settings, rest_transport=httpx2.ASGITransport(app=recording_app))
    if human == "consenting":
        from .nodeaccess_harness import consenting_human

        human = consenting_human
    kwargs: dict[str, Any] = {"mode": "legacy", "elicitation_callback": human} if human is not None else {}
    async with Client(server, **kwargs) as client:
        yield Harness(client=client, cluster=cluster, requests=seen, statuses=statuses)


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    async with harness("operator") as hh:
        yield hh
