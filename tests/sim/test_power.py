"""Power actions: UPIDs, tasks running then stopped, the state changing when the task ends."""

from __future__ import annotations

import re

import httpx2
import pytest

from proxmox_operator_mcp.sim import ManualClock, SimCluster

from .conftest import log_of, task_of, wait_task

pytestmark = pytest.mark.anyio

# the decode regex of PVE::Tools::upid_decode (shared notes, pve-wire.md)
UPID_RE = re.compile(
    r"^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):"
    r"([^:\s]+):([^:\s]*):([^:\s]+):$"
)


async def test_starting_a_stopped_vm_returns_a_upid_whose_task_runs_then_stops_ok(
    api: httpx2.AsyncClient, cluster: SimCluster
) -> None:
    r = await api.post("/nodes/pve1/qemu/102/status/start")
    upid = r.json()["data"]
    m = UPID_RE.match(upid)
    assert m, upid
    assert (m.group(1), m.group(6), m.group(7), m.group(8)) == ("pve1", "qmstart", "102", "root@pam!mcp")
    assert int(m.group(5), 16) == pytest.approx(cluster.clock.time(), abs=5)
    status = await wait_task(api, upid)
    assert status["exitstatus"] == "OK"
    assert (status["user"], status["tokenid"], status["type"], status["id"]) == ("root@pam", "mcp", "qmstart", "102")
    current = (await api.get("/nodes/pve1/qemu/102/status/current")).json()["data"]
    assert current["status"] == "running" and current["qmpstatus"] == "running" and current["pid"] > 0


async def test_the_state_changes_only_when_the_task_ends(mapi: httpx2.AsyncClient, clock: ManualClock) -> None:
    upid = (await mapi.post("/nodes/pve1/qemu/102/status/start")).json()["data"]
    assert (await task_of(mapi, upid))["status"] == "running"
    assert (await mapi.get("/nodes/pve1/qemu/102/status/current")).json()["data"]["status"] == "stopped"
    clock.advance(1.9)
    assert (await task_of(mapi, upid))["status"] == "running"
    clock.advance(0.2)
    assert (await task_of(mapi, upid))["exitstatus"] == "OK"
    assert (await mapi.get("/nodes/pve1/qemu/102/status/current")).json()["data"]["status"] == "running"


async def test_starting_a_running_vm_ends_in_task_error_already_running(api: httpx2.AsyncClient) -> None:
    upid = (await api.post("/nodes/pve1/qemu/100/status/start")).json()["data"]
    status = await wait_task(api, upid)
    assert status["exitstatus"] == "VM 100 already running"
    assert (await log_of(api, upid))[-1] == "TASK ERROR: VM 100 already running"


async def test_stopping_a_stopped_vm_ends_ok_without_change(api: httpx2.AsyncClient) -> None:
    upid = (await api.post("/nodes/pve1/qemu/102/status/stop")).json()["data"]
    assert (await wait_task(api, upid))["exitstatus"] == "OK"


async def test_shutdown_stops_a_running_vm_and_applies_its_pending_changes(
    api: httpx2.AsyncClient, cluster: SimCluster
) -> None:
    assert (await api.put("/nodes/pve1/qemu/100/config", data={"cores": "6"})).status_code == 200
    assert cluster.state.guests[100].pending == {"cores": "6"}
    upid = (await api.post("/nodes/pve1/qemu/100/status/shutdown", data={"timeout": 30})).json()["data"]
    assert (await wait_task(api, upid))["exitstatus"] == "OK"
    g = cluster.state.guests[100]
    assert g.status == "stopped" and g.config["cores"] == "6" and not g.pending


async def test_reboot_and_resume_of_a_stopped_vm_are_refused_at_once(api: httpx2.AsyncClient) -> None:
    for action in ("reboot", "resume"):
        r = await api.post(f"/nodes/pve1/qemu/102/status/{action}")
        assert r.status_code == 500
        assert r.json()["message"] == "VM 102 not running\n"


async def test_suspend_pauses_and_resume_continues_a_running_vm(api: httpx2.AsyncClient) -> None:
    upid = (await api.post("/nodes/pve1/qemu/100/status/suspend")).json()["data"]
    assert (await wait_task(api, upid))["exitstatus"] == "OK"
    cur = (await api.get("/nodes/pve1/qemu/100/status/current")).json()["data"]
    assert (cur["status"], cur["qmpstatus"]) == ("running", "paused")
    refused = await api.post("/nodes/pve1/qemu/100/status/shutdown")
    assert refused.status_code == 500 and refused.json()["message"] == "VM is paused - cannot shutdown\n"
    upid = (await api.post("/nodes/pve1/qemu/100/status/resume")).json()["data"]
    assert (await wait_task(api, upid))["exitstatus"] == "OK"
    assert (await api.get("/nodes/pve1/qemu/100/status/current")).json()["data"]["qmpstatus"] == "running"


async def test_a_template_cannot_be_started(api: httpx2.AsyncClient) -> None:
    upid = (await api.post("/nodes/pve1/qemu/103/status/start")).json()["data"]
    assert (await wait_task(api, upid))["exitstatus"] == "you can't start a vm if it's a template"


async def test_container_checks_happen_before_the_task(api: httpx2.AsyncClient, cluster: SimCluster) -> None:
    running = await api.post("/nodes/pve1/lxc/104/status/start")
    assert running.status_code == 500 and running.json()["message"] == "CT 104 already running\n"
    cluster.state.guests[105].status = "stopped"
    stopped = await api.post("/nodes/pve1/lxc/105/status/shutdown")
    assert stopped.status_code == 500 and stopped.json()["message"] == "CT 105 not running\n"
    upid = (await api.post("/nodes/pve1/lxc/105/status/start")).json()["data"]
    assert ":vzstart:105:" in upid
    assert (await wait_task(api, upid))["exitstatus"] == "OK"
    assert (await api.get("/nodes/pve1/lxc/105/status/current")).json()["data"]["status"] == "running"


async def test_tasks_on_one_guest_wait_for_its_lock(mapi: httpx2.AsyncClient, clock: ManualClock) -> None:
    start = (await mapi.post("/nodes/pve1/qemu/102/status/start")).json()["data"]
    stop = (await mapi.post("/nodes/pve1/qemu/102/status/stop")).json()["data"]
    clock.advance(2.5)
    assert (await task_of(mapi, start))["exitstatus"] == "OK"
    assert (await task_of(mapi, stop))["status"] == "running"
    assert (await mapi.get("/nodes/pve1/qemu/102/status/current")).json()["data"]["status"] == "running"
    clock.advance(2.0)
    assert (await task_of(mapi, stop))["exitstatus"] == "OK"
    assert (await log_of(mapi, stop))[:2] == ["trying to acquire lock...", " OK"]
    assert (await mapi.get("/nodes/pve1/qemu/102/status/current")).json()["data"]["status"] == "stopped"


async def test_a_task_waiting_too_long_for_a_lock_fails_with_got_timeout(
    mapi: httpx2.AsyncClient, mcluster: SimCluster, clock: ManualClock
) -> None:
    mcluster.options.task_seconds = 30.0
    await mapi.post("/nodes/pve1/qemu/102/status/start")
    late = (await mapi.post("/nodes/pve1/qemu/102/status/stop")).json()["data"]
    clock.advance(11)
    assert (await task_of(mapi, late))[
        "exitstatus"
    ] == "can't lock file '/var/lock/qemu-server/lock-102.conf' - got timeout"


async def test_a_locked_vm_refuses_a_start_unless_root_skips_the_lock(
    api: httpx2.AsyncClient, cluster: SimCluster
) -> None:
    cluster.state.guests[102].config["lock"] = "backup"
    upid = (await api.post("/nodes/pve1/qemu/102/status/start")).json()["data"]
    assert (await wait_task(api, upid))["exitstatus"] == "VM is locked (backup)"
    refused = await api.post("/nodes/pve1/qemu/102/status/start", data={"skiplock": 1})
    assert refused.status_code == 400  # only root@pam itself, not its token, may skip locks
    assert refused.json()["errors"] == {"skiplock": "Only root may use this option."}
