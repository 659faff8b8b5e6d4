"""Task lists, task logs, stopping a task."""

from __future__ import annotations

import httpx2
import pytest

from proxmox_operator_mcp.sim import ManualClock, SimCluster

from .conftest import auditor_headers, client_for, log_of, task_of

pytestmark = pytest.mark.anyio


async def test_a_task_log_grows_while_it_runs_and_ends_with_task_ok(
    mapi: httpx2.AsyncClient, clock: ManualClock
) -> None:
    upid = (await mapi.post("/nodes/pve1/qemu/103/clone", data={"newid": 250, "full": 1})).json()["data"]
    assert await log_of(mapi, upid) == ["no content"]
    clock.advance(0.5)
    early = await log_of(mapi, upid)
    assert early and early[0] == "create full clone of drive scsi0 (local-lvm:base-103-disk-0)"
    clock.advance(2.0)
    done = await log_of(mapi, upid)
    assert done[: len(early)] == early and done[-1] == "TASK OK"
    r = await mapi.get(f"/nodes/pve1/tasks/{upid}/log", params={"start": 1, "limit": 2})
    body = r.json()
    assert [line["n"] for line in body["data"]] == [2, 3]
    assert body["total"] == len(done)


async def test_an_empty_log_reads_no_content(mapi: httpx2.AsyncClient) -> None:
    upid = (await mapi.post("/nodes/pve1/qemu/102/status/start")).json()["data"]
    r = await mapi.get(f"/nodes/pve1/tasks/{upid}/log")
    assert r.json() == {"data": [{"n": 1, "t": "no content"}], "total": 1}


async def test_stopping_a_running_task_interrupts_it_without_its_effect(
    mapi: httpx2.AsyncClient, mcluster: SimCluster, clock: ManualClock
) -> None:
    upid = (await mapi.post("/nodes/pve1/qemu/102/status/start")).json()["data"]
    r = await mapi.delete(f"/nodes/pve1/tasks/{upid}")
    assert r.status_code == 200 and r.json() == {"data": None}
    status = await task_of(mapi, upid)
    assert (status["status"], status["exitstatus"]) == ("stopped", "received interrupt")
    assert (await log_of(mapi, upid))[-1] == "TASK ERROR: received interrupt"
    clock.advance(10)
    assert not mcluster.state.guests[102].running


async def test_an_interrupted_clone_leaves_no_half_made_guest(mapi: httpx2.AsyncClient, mcluster: SimCluster) -> None:
    upid = (await mapi.post("/nodes/pve1/qemu/103/clone", data={"newid": 251})).json()["data"]
    assert 251 in mcluster.state.guests
    await mapi.delete(f"/nodes/pve1/tasks/{upid}")
    assert 251 not in mcluster.state.guests


async def test_the_task_list_shows_finished_tasks_newest_first_with_filters(
    mapi: httpx2.AsyncClient, clock: ManualClock
) -> None:
    ok = (await mapi.post("/nodes/pve1/qemu/102/status/start")).json()["data"]
    clock.advance(3)
    bad = (await mapi.post("/nodes/pve1/qemu/100/status/start")).json()["data"]
    running = (await mapi.post("/nodes/pve1/qemu/101/snapshot", data={"snapname": "s1"})).json()["data"]
    clock.advance(1)  # the failed start ends at once, the snapshot still runs
    archive = (await mapi.get("/nodes/pve1/tasks")).json()["data"]
    assert [t["upid"] for t in archive[:2]] == [bad, ok]
    assert running not in {t["upid"] for t in archive}
    assert archive[0]["status"] == "VM 100 already running" and archive[1]["status"] == "OK"
    assert archive[1]["tokenid"] == "mcp" and archive[1]["endtime"] >= archive[1]["starttime"]
    active = (await mapi.get("/nodes/pve1/tasks", params={"source": "active"})).json()["data"]
    assert [(t["upid"], t["status"]) for t in active] == [(running, "RUNNING")]
    errors = (await mapi.get("/nodes/pve1/tasks", params={"errors": 1})).json()["data"]
    assert [t["upid"] for t in errors] == [bad]
    by_vm = (await mapi.get("/nodes/pve1/tasks", params={"vmid": 102})).json()["data"]
    assert ok in [t["upid"] for t in by_vm] and all(t["id"] == "102" for t in by_vm)
    typed = (await mapi.get("/nodes/pve1/tasks", params={"typefilter": "vzdump"})).json()["data"]
    assert typed and all(t["type"] == "vzdump" for t in typed)
    page = (await mapi.get("/nodes/pve1/tasks", params={"start": 1, "limit": 1})).json()
    assert [t["upid"] for t in page["data"]] == [ok] and page["total"] == len(archive)


async def test_the_cluster_task_list_spans_every_node(api: httpx2.AsyncClient) -> None:
    await api.post("/nodes/pve3/qemu/112/status/stop")
    tasks = (await api.get("/cluster/tasks")).json()["data"]
    assert {t["node"] for t in tasks} == {"pve1", "pve2", "pve3"}
    assert all("upid" in t for t in tasks)


async def test_a_task_of_another_user_needs_sys_audit_to_read(cluster: SimCluster, api: httpx2.AsyncClient) -> None:
    upid = (await api.post("/nodes/pve1/qemu/102/status/start")).json()["data"]
    acc = cluster.access
    acc.add_user("vmuser@pve")
    tok = acc.add_token("vmuser@pve", "tok", privsep=False)
    acc.grant("/vms", "vmuser@pve", "PVEVMUser")
    async with client_for(cluster, {"Authorization": f"PVEAPIToken=vmuser@pve!tok={tok.secret}"}) as c:
        r = await c.get(f"/nodes/pve1/tasks/{upid}/status")
        assert r.status_code == 403 and r.json()["message"] == "Permission check failed (/nodes/pve1, Sys.Audit)\n"
        assert upid not in [t["upid"] for t in (await c.get("/nodes/pve1/tasks")).json()["data"]]
    async with client_for(cluster, auditor_headers(cluster)) as ro:
        assert (await ro.get(f"/nodes/pve1/tasks/{upid}/status")).status_code == 200


async def test_an_unknown_or_malformed_upid_is_a_parameter_error(api: httpx2.AsyncClient) -> None:
    r = await api.get("/nodes/pve1/tasks/not-a-upid/status")
    assert r.status_code == 400 and r.json()["errors"] == {"upid": "unable to parse worker upid"}
    r = await api.get("/nodes/pve1/tasks/UPID:pve1:00000001:00000002:00000003:qmstart:100:root@pam:/status")
    assert r.status_code == 400 and r.json()["errors"] == {"upid": "no such task"}
