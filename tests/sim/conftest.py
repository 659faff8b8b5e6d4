"""Fixtures: a simulated cluster in process, clients for its ASGI app, a way to wait for tasks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import pytest

from proxmox_operator_mcp.sim import ManualClock, SimCluster, SimOptions, create_app

BASE = "https://pve1.sim:8006/api2/json"


def root_headers(cluster: SimCluster) -> dict[str, str]:
    return {"Authorization": f"PVEAPIToken={cluster.token_id}={cluster.token_secret}"}


def auditor_headers(cluster: SimCluster) -> dict[str, str]:
    return {"Authorization": f"PVEAPIToken={cluster.readonly_token_id}={cluster.readonly_token_secret}"}


@asynccontextmanager
async def client_for(cluster: SimCluster, headers: dict[str, str] | None = None) -> AsyncIterator[httpx2.AsyncClient]:
    transport = httpx2.ASGITransport(app=create_app(cluster))
    async with httpx2.AsyncClient(transport=transport, base_url=BASE, headers=headers or {}) as client:
        yield client


async def wait_task(client: httpx2.AsyncClient, upid: str, timeout: float = 5.0) -> dict[str, Any]:
    """Poll a task's status until it has stopped (real clock)."""
    node = upid.split(":")[1]
    with anyio.fail_after(timeout):
        while True:
            r = await client.get(f"/nodes/{node}/tasks/{upid}/status")
            assert r.status_code == 200, r.text
            data = r.json()["data"]
            if data["status"] == "stopped":
                return data
            await anyio.sleep(0.005)


@pytest.fixture
def cluster() -> SimCluster:
    """3 nodes x (4 VMs + 2 CTs), tasks of 20 ms on the real clock."""
    return SimCluster(SimOptions(task_seconds=0.02))


@pytest.fixture
async def api(cluster: SimCluster) -> AsyncIterator[httpx2.AsyncClient]:
    """A client with the privileged token root@pam!mcp."""
    async with client_for(cluster, root_headers(cluster)) as c:
        yield c


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def mcluster(clock: ManualClock) -> SimCluster:
    """The same cluster on a manual clock: tasks move only when the test advances time."""
    return SimCluster(SimOptions(task_seconds=2.0), clock=clock)


@pytest.fixture
async def mapi(mcluster: SimCluster) -> AsyncIterator[httpx2.AsyncClient]:
    async with client_for(mcluster, root_headers(mcluster)) as c:
        yield c


async def task_of(client: httpx2.AsyncClient, upid: str) -> dict[str, Any]:
    node = upid.split(":")[1]
    r = await client.get(f"/nodes/{node}/tasks/{upid}/status")
    assert r.status_code == 200, r.text
    return r.json()["data"]


async def log_of(client: httpx2.AsyncClient, upid: str) -> list[str]:
    node = upid.split(":")[1]
    r = await client.get(f"/nodes/{node}/tasks/{upid}/log", params={"limit": 500})
    assert r.status_code == 200, r.text
    return [line["t"] for line in r.json()["data"]]
