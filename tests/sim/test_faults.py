"""Fault injection: latency, failing paths, an error rate, nodes that are down."""

from __future__ import annotations

import time

import httpx2
import pytest

from proxmox_operator_mcp.sim import SimCluster, SimOptions

from .conftest import client_for, root_headers

pytestmark = pytest.mark.anyio


async def test_latency_delays_every_answer(api: httpx2.AsyncClient, cluster: SimCluster) -> None:
    cluster.faults.latency = 0.05
    t0 = time.monotonic()
    assert (await api.get("/version")).status_code == 200
    assert time.monotonic() - t0 >= 0.05
    cluster.faults.latency = 0.0
    t0 = time.monotonic()
    await api.get("/version")
    assert time.monotonic() - t0 < 0.05


async def test_failing_paths_answer_500_and_others_do_not(api: httpx2.AsyncClient, cluster: SimCluster) -> None:
    cluster.faults.fail_paths = [r"^/nodes/pve2/"]
    bad = await api.get("/nodes/pve2/qemu")
    assert bad.status_code == 500
    assert "fault injection" in bad.json()["message"]
    assert (await api.get("/nodes/pve1/qemu")).status_code == 200
    cluster.faults.fail_paths = []
    assert (await api.get("/nodes/pve2/qemu")).status_code == 200


async def test_an_error_rate_fails_that_share_of_requests() -> None:
    cluster = SimCluster(SimOptions(error_rate=1.0))
    async with client_for(cluster, root_headers(cluster)) as c:
        assert (await c.get("/version")).status_code == 500
        cluster.faults.error_rate = 0.5
        codes = [(await c.get("/version")).status_code for _ in range(60)]
    assert 10 < codes.count(500) < 50 and codes.count(200) + codes.count(500) == 60


async def test_a_down_node_answers_595_and_shows_offline(api: httpx2.AsyncClient, cluster: SimCluster) -> None:
    cluster.faults.down_nodes.add("pve2")
    r = await api.get("/nodes/pve2/qemu")
    assert r.status_code == 595 and r.content == b""
    nodes = {n["node"]: n for n in (await api.get("/nodes")).json()["data"]}
    assert nodes["pve2"]["status"] == "offline" and nodes["pve1"]["status"] == "online"
    status = {e["id"]: e for e in (await api.get("/cluster/status")).json()["data"]}
    assert status["node/pve2"]["online"] == 0 and status["cluster"]["quorate"] == 1
    guests = [
        e for e in (await api.get("/cluster/resources", params={"type": "vm"})).json()["data"] if e["node"] == "pve2"
    ]
    assert guests and {g["status"] for g in guests} == {"unknown"}
    assert (await api.get("/nodes/pve1/qemu")).status_code == 200
    cluster.faults.down_nodes.add("pve3")
    status = {e["id"]: e for e in (await api.get("/cluster/status")).json()["data"]}
    assert status["cluster"]["quorate"] == 0
