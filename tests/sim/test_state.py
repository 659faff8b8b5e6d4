"""The generated cluster: deterministic, cheap at scale, with the cases demos and tests need."""

from __future__ import annotations

import time

import httpx2
import pytest

from proxmox_operator_mcp.sim import ManualClock, SimCluster, SimOptions

pytestmark = pytest.mark.anyio


def _snapshot(cluster: SimCluster) -> dict:
    return {vmid: (g.kind, g.node, g.status, dict(g.config)) for vmid, g in cluster.state.guests.items()}


def test_the_same_seed_builds_the_same_cluster_and_another_seed_another() -> None:
    a = SimCluster(SimOptions(seed=7), clock=ManualClock())
    b = SimCluster(SimOptions(seed=7), clock=ManualClock())
    c = SimCluster(SimOptions(seed=8), clock=ManualClock())
    assert _snapshot(a) == _snapshot(b)
    assert _snapshot(a) != _snapshot(c)


def test_a_cluster_of_1500_guests_is_built_in_well_under_a_second() -> None:
    t0 = time.perf_counter()
    cluster = SimCluster(SimOptions(nodes=3, vms_per_node=500, cts_per_node=0))
    assert time.perf_counter() - t0 < 1.0
    assert len(cluster.state.guests) == 1500
    names = {g.name for g in cluster.state.guests.values()}
    assert len(names) > 100


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_every_cluster_has_an_agent_vm_a_template_snapshots_and_both_storages(seed: int) -> None:
    cluster = SimCluster(SimOptions(seed=seed))
    guests = list(cluster.state.guests.values())
    assert any(g.config.get("agent") == "1" and g.running for g in guests)
    assert any(g.template for g in guests)
    assert sum(len(g.snapshots) for g in guests) >= 2
    assert any(g.running for g in guests) and any(not g.running for g in guests)
    assert {s.storage: s.type for s in cluster.state.storages.values()} == {"local": "dir", "local-lvm": "lvmthin"}
    assert set(cluster.state.storages["local"].content) == {"iso", "vztmpl", "backup", "snippets"}
    assert set(cluster.state.storages["local-lvm"].content) == {"images", "rootdir"}


async def test_resources_filter_by_type(api: httpx2.AsyncClient) -> None:
    by_type = {}
    for t in ("vm", "node", "storage", "sdn"):
        by_type[t] = (await api.get("/cluster/resources", params={"type": t})).json()["data"]
    assert {e["type"] for e in by_type["vm"]} == {"qemu", "lxc"} and len(by_type["vm"]) == 18
    assert [e["id"] for e in by_type["node"]] == ["node/pve1", "node/pve2", "node/pve3"]
    assert {e["id"] for e in by_type["storage"]} >= {"storage/pve1/local", "storage/pve3/local-lvm"}
    assert {e["sdn"] for e in by_type["sdn"]} == {"localnetwork"}
    everything = (await api.get("/cluster/resources")).json()["data"]
    assert len(everything) == sum(len(v) for v in by_type.values())
    template = next(e for e in by_type["vm"] if e["vmid"] == 103)
    assert template["template"] == 1 and template["status"] == "stopped"


async def test_node_status_and_storage_status_have_pve_shapes(api: httpx2.AsyncClient) -> None:
    st = (await api.get("/nodes/pve1/status")).json()["data"]
    assert {"cpu", "cpuinfo", "memory", "rootfs", "loadavg", "pveversion", "current-kernel", "boot-info"} <= set(st)
    assert st["pveversion"].startswith("pve-manager/9.2")
    store = (await api.get("/nodes/pve1/storage/local/status")).json()["data"]
    assert store["type"] == "dir" and store["total"] == store["used"] + store["avail"]
    isos = (await api.get("/nodes/pve1/storage/local/content", params={"content": "iso"})).json()["data"]
    assert isos and all(v["volid"].startswith("local:iso/") and v["format"] == "iso" for v in isos)
    cfg = (await api.get("/storage/local-lvm")).json()["data"]
    assert (cfg["type"], cfg["thinpool"], cfg["vgname"]) == ("lvmthin", "data", "pve")


async def test_a_standalone_node_reports_no_cluster_entry() -> None:
    from .conftest import client_for, root_headers

    cluster = SimCluster(SimOptions(nodes=1))
    async with client_for(cluster, root_headers(cluster)) as c:
        status = (await c.get("/cluster/status")).json()["data"]
    assert [e["type"] for e in status] == ["node"] and status[0]["local"] == 1


async def test_the_guest_agent_answers_for_a_running_vm_with_the_agent_enabled(api: httpx2.AsyncClient) -> None:
    r = await api.get("/nodes/pve1/qemu/100/agent/network-get-interfaces")
    assert r.status_code == 200
    ifaces = r.json()["data"]["result"]
    assert [i["name"] for i in ifaces] == ["lo", "eth0"]
    assert (await api.post("/nodes/pve1/qemu/100/agent/ping")).json() == {"data": {"result": {}}}
    off = await api.get("/nodes/pve1/qemu/102/agent/get-osinfo")
    assert off.status_code == 500
