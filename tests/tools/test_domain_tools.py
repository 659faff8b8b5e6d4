"""The domain tools (jobs, life cycle, snapshots, storage, backup, network, cluster, PCI, agent,
console, cloud-init) through the official MCP client against the simulated cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from proxmox_operator_mcp import tools as tools_pkg

from .conftest import Harness, harness

pytestmark = pytest.mark.anyio


@pytest.fixture
async def a(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    """Admin mode with every toolset enabled."""
    for name in tools_pkg.TOOLSETS:
        monkeypatch.setitem(tools_pkg.TOOLSETS, name, True)
    async with harness("admin") as hh:
        yield hh


async def _vm(h: Harness, **filters: object) -> dict:
    return (await h.call("proxmox_vm_list", {"limit": 1, "template": False, **filters}))["items"][0]


# --- jobs -----------------------------------------------------------------------------------


async def test_an_action_returns_a_job_that_job_wait_finishes_with_progress(a: Harness) -> None:
    vm = await _vm(a, status="stopped")
    out = await a.call("proxmox_vm_action", {"vmid": vm["vmid"], "action": "start"})
    job = out["task"]["job"]
    seen: list[tuple[float, float | None, str | None]] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        seen.append((done, total, message))

    with anyio.fail_after(10):
        res = await a.client.call_tool("job_wait", {"job": job, "timeout": 5}, progress_callback=progress)
    assert not res.is_error
    assert res.structured_content["ok"] is True and res.structured_content["job"] == job
    assert seen and all(m and "running" in m for _, _, m in seen)


async def test_job_get_and_job_logs_answer_from_the_job_id_alone(a: Harness) -> None:
    vm = await _vm(a, status="stopped")
    job = (await a.call("proxmox_vm_action", {"vmid": vm["vmid"], "action": "start", "wait": 5}))["task"]["job"]
    got = await a.call("job_get", {"job": job})
    assert got["status"] == "stopped" and got["upid"].startswith(f"UPID:{vm['node']}:")
    logs = await a.call("job_logs", {"job": job})
    assert logs["lines"][-1] == "TASK OK" and logs["running"] is False
    assert logs["next_start"] == len(logs["lines"])


async def test_a_job_id_that_is_not_ours_is_refused(a: Harness) -> None:
    text = await a.fail("job_get", {"job": "bm90LWEtam9iLWlk"})
    assert "job id" in text


async def test_a_job_of_an_unknown_cluster_is_refused(a: Harness) -> None:
    from proxmox_operator_mcp.tools.common import encode_job

    text = await a.fail("job_get", {"job": encode_job("elsewhere", "UPID:pve1:00000001:00000001:00000001:x::root@pam:")})
    assert "unknown cluster" in text


async def test_job_cancel_stops_a_running_task_and_refuses_a_finished_one() -> None:
    from proxmox_operator_mcp.sim import SimOptions

    async with harness("admin", options=SimOptions(nodes=1, vms_per_node=4, cts_per_node=1, task_seconds=30)) as h:
        vm = await _vm(h, status="stopped")
        job = (await h.call("proxmox_vm_action", {"vmid": vm["vmid"], "action": "start"}))["task"]["job"]
        out = await h.call("job_cancel", {"job": job})
        assert out["status"] == "stopped" and out["ok"] is False
        text = await h.fail("job_cancel", {"job": job})
        assert "already finished" in text


async def test_cancelling_job_wait_stops_the_wait_not_the_task() -> None:
    from proxmox_operator_mcp.sim import SimOptions

    async with harness("operator", options=SimOptions(nodes=1, vms_per_node=4, cts_per_node=1, task_seconds=30)) as h:
        vm = await _vm(h, status="stopped")
        job = (await h.call("proxmox_vm_action", {"vmid": vm["vmid"], "action": "start"}))["task"]["job"]
        polled = anyio.Event()

        async def progress(done: float, total: float | None, message: str | None) -> None:
            polled.set()

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:

                async def waiter() -> None:
                    await h.client.call_tool("job_wait", {"job": job, "timeout": 60}, progress_callback=progress)

                tg.start_soon(waiter)
                await polled.wait()
                tg.cancel_scope.cancel()
        still = await h.call("job_get", {"job": job})
        assert still["status"] == "running"


# --- life cycle -----------------------------------------------------------------------------


async def test_vm_create_takes_the_next_free_id_and_waits(a: Harness) -> None:
    out = await a.call("proxmox_vm_create", {"name": "new-vm", "memory": 1024, "wait": 5})
    assert out["task"]["ok"] is True
    got = await a.call("proxmox_vm_get", {"vmid": out["vmid"]})
    assert got["config"]["name"] == "new-vm"


async def test_vm_create_refuses_a_taken_id_before_sending(a: Harness) -> None:
    vm = await _vm(a)
    text = await a.fail("proxmox_vm_create", {"vmid": vm["vmid"]})
    assert "taken" in text and a.writes() == []


async def test_vm_create_refuses_an_unknown_argument(a: Harness) -> None:
    text = await a.fail("proxmox_vm_create", {"name": "x", "ram": 5})
    assert "unknown argument" in text


async def test_lxc_create_from_a_template_and_destroy_it(a: Harness) -> None:
    out = await a.call("proxmox_lxc_create", {
        "ostemplate": "local:vztmpl/debian-13-standard_13.1-2_amd64.tar.zst", "hostname": "ct-new", "wait": 5})
    assert out["task"]["ok"] is True
    gone = await a.call("proxmox_lxc_destroy", {"vmid": out["vmid"], "wait": 5})
    assert gone["task"]["ok"] is True
    await a.fail("proxmox_lxc_get", {"vmid": out["vmid"]})


async def test_lxc_create_with_a_missing_template_fails_with_pves_message(a: Harness) -> None:
    text = await a.fail("proxmox_lxc_create", {"ostemplate": "local:vztmpl/nope.tar.zst"})
    assert "does not exist" in text


async def test_destroying_a_running_vm_is_refused_before_sending(a: Harness) -> None:
    vm = await _vm(a, status="running")
    text = await a.fail("proxmox_vm_destroy", {"vmid": vm["vmid"]})
    assert "running" in text and a.writes() == []


async def test_destroy_needs_admin_mode() -> None:
    async with harness("operator") as h:
        tools = {t.name for t in (await h.client.list_tools()).tools}
        assert "proxmox_vm_destroy" not in tools or True  # toolset may be off; the gate decides below
        text = await h.fail("proxmox_vm_destroy", {"vmid": 100})
        assert "not enabled" in text or "admin" in text


async def test_clone_a_template_to_a_new_vm(a: Harness) -> None:
    tmpl = (await a.call("proxmox_vm_template_list"))["items"][0]
    got = await a.call("proxmox_vm_template_get", {"vmid": tmpl["vmid"]})
    assert got["config"]["template"] in (1, "1")
    out = await a.call("proxmox_vm_clone", {"vmid": tmpl["vmid"], "name": "from-tmpl", "wait": 5})
    assert out["task"]["ok"] is True and out["vmid"] != tmpl["vmid"]


async def test_template_get_refuses_a_plain_vm(a: Harness) -> None:
    vm = await _vm(a)
    assert "not a template" in await a.fail("proxmox_vm_template_get", {"vmid": vm["vmid"]})


async def test_clone_with_storage_of_a_linked_clone_is_refused(a: Harness) -> None:
    tmpl = (await a.call("proxmox_vm_template_list"))["items"][0]
    text = await a.fail("proxmox_vm_clone", {"vmid": tmpl["vmid"], "full": False, "storage": "local-lvm"})
    assert "full clones" in text


async def test_update_config_sets_and_deletes_keys_and_checks_the_digest(a: Harness) -> None:
    vm = await _vm(a, status="stopped")
    cfg = (await a.call("proxmox_vm_get", {"vmid": vm["vmid"]}))["config"]
    out = await a.call("proxmox_vm_update_config", {"vmid": vm["vmid"], "set": {"cores": 3}, "digest": cfg["digest"]})
    assert out["changed"] == ["cores"]
    assert (await a.call("proxmox_vm_get", {"vmid": vm["vmid"]}))["config"]["cores"] == 3
    text = await a.fail("proxmox_vm_update_config", {"vmid": vm["vmid"], "set": {"cores": 2}, "digest": cfg["digest"]})
    assert "digest" in text.lower() or "changed" in text.lower()


async def test_update_config_with_nothing_to_change_is_refused(a: Harness) -> None:
    vm = await _vm(a)
    assert "nothing to change" in await a.fail("proxmox_vm_update_config", {"vmid": vm["vmid"]})


async def test_convert_to_template_needs_a_stopped_vm(a: Harness) -> None:
    running = await _vm(a, status="running")
    assert "stopped" in await a.fail("proxmox_vm_convert_to_template", {"vmid": running["vmid"]})
    stopped = await _vm(a, status="stopped")
    out = await a.call("proxmox_vm_convert_to_template", {"vmid": stopped["vmid"]})
    assert out["task"]["ok"] is True
    assert "already a template" in await a.fail("proxmox_vm_convert_to_template", {"vmid": stopped["vmid"]})


async def test_migrate_moves_a_stopped_vm_and_refuses_bad_targets(a: Harness) -> None:
    vm = await _vm(a, status="stopped", node="pve1")
    assert "already on" in await a.fail("proxmox_vm_migrate", {"vmid": vm["vmid"], "target": "pve1"})
    assert "not in the cluster" in await a.fail("proxmox_vm_migrate", {"vmid": vm["vmid"], "target": "pve9"})
    out = await a.call("proxmox_vm_migrate", {"vmid": vm["vmid"], "target": "pve2", "wait": 5})
    assert out["task"]["ok"] is True
    assert (await a.call("proxmox_vm_get", {"vmid": vm["vmid"]}))["node"] == "pve2"


async def test_migrating_a_running_vm_needs_online(a: Harness) -> None:
    vm = await _vm(a, status="running", node="pve1")
    assert "online=true" in await a.fail("proxmox_vm_migrate", {"vmid": vm["vmid"], "target": "pve2"})


# --- snapshots ------------------------------------------------------------------------------


async def test_snapshot_create_list_rollback_delete(a: Harness) -> None:
    vm = await _vm(a, status="stopped")
    made = await a.call("proxmox_vm_snapshot_action",
                        {"vmid": vm["vmid"], "action": "create", "snapname": "t1", "description": "x", "wait": 5})
    assert made["task"]["ok"] is True
    snaps = await a.call("proxmox_vm_snapshot_list", {"vmid": vm["vmid"]})
    assert "t1" in [s["name"] for s in snaps["snapshots"]]
    assert (await a.call("proxmox_vm_snapshot_action",
                         {"vmid": vm["vmid"], "action": "rollback", "snapname": "t1", "wait": 5}))["task"]["ok"]
    assert (await a.call("proxmox_vm_snapshot_action",
                         {"vmid": vm["vmid"], "action": "delete", "snapname": "t1", "wait": 5}))["task"]["ok"]


async def test_snapshot_rollback_of_a_missing_snapshot_lists_the_existing_ones(a: Harness) -> None:
    vm = await _vm(a)
    text = await a.fail("proxmox_vm_snapshot_action", {"vmid": vm["vmid"], "action": "rollback", "snapname": "nope"})
    assert "no snapshot" in text and a.writes() == []


async def test_snapshot_create_twice_is_refused(a: Harness) -> None:
    ct = (await a.call("proxmox_lxc_list", {"limit": 1}))["items"][0]
    await a.call("proxmox_lxc_snapshot_action", {"vmid": ct["vmid"], "action": "create", "snapname": "s1", "wait": 5})
    assert "already has" in await a.fail(
        "proxmox_lxc_snapshot_action", {"vmid": ct["vmid"], "action": "create", "snapname": "s1"})


# --- storage, backup ------------------------------------------------------------------------


async def test_storage_list_and_get(a: Harness) -> None:
    out = await a.call("proxmox_storage_list", {"fields": ["storage", "type"]})
    assert {"storage": "local", "type": "dir"} in out["items"]
    got = await a.call("proxmox_storage_get", {"storage": "local"})
    assert got["data"]["config"]["type"] == "dir" and got["data"]["status"]["total"] > 0
    assert "does not exist" in await a.fail("proxmox_storage_get", {"storage": "nope"})


async def test_backup_start_adds_a_backup_that_backup_list_shows(a: Harness) -> None:
    vm = await _vm(a, node="pve1")
    before = (await a.call("proxmox_backup_list", {"vmid": vm["vmid"]}))["total"]
    out = await a.call("proxmox_backup_start", {"vmids": [vm["vmid"]], "storage": "local", "wait": 5})
    assert out["task"]["ok"] is True
    assert (await a.call("proxmox_backup_list", {"vmid": vm["vmid"]}))["total"] == before + 1
    jobs = await a.call("proxmox_backup_jobs")
    assert jobs["items"][0]["id"] == "backup-nightly"


async def test_backup_start_refuses_a_guest_on_another_node_and_a_non_backup_storage(a: Harness) -> None:
    other = await _vm(a, node="pve2")
    assert "not on pve1" in await a.fail("proxmox_backup_start", {"vmids": [other["vmid"]], "storage": "local"})
    mine = await _vm(a, node="pve1")
    assert "backup" in await a.fail("proxmox_backup_start", {"vmids": [mine["vmid"]], "storage": "local-lvm"})


async def test_download_url_to_storage(a: Harness) -> None:
    out = await a.call("proxmox_storage_download_url", {
        "url": "https://example.org/x.iso", "filename": "x.iso", "content": "iso", "storage": "local", "wait": 5})
    assert out["task"]["ok"] is True
    assert "does not hold" in await a.fail("proxmox_storage_download_url", {
        "url": "https://example.org/x.iso", "filename": "y.iso", "content": "iso", "storage": "local-lvm"})
    assert "url" in await a.fail("proxmox_storage_download_url", {
        "url": "file:///etc/shadow", "filename": "y.iso", "content": "iso", "storage": "local"})


# --- network, access, cluster ---------------------------------------------------------------


async def test_network_firewall_sdn_users(a: Harness) -> None:
    net = await a.call("proxmox_network_list", {"node": "pve2"})
    assert "vmbr0" in [i["iface"] for i in net["items"]]
    fw = await a.call("proxmox_firewall_get")
    assert fw["data"]["rules"][0]["dport"] == "8006"
    vm = await _vm(a)
    assert (await a.call("proxmox_firewall_get", {"scope": "vm", "vmid": vm["vmid"]}))["data"]["rules"] == []
    assert "vmid is required" in await a.fail("proxmox_firewall_get", {"scope": "vm"})
    sdn = await a.call("proxmox_sdn_list")
    assert sdn["items"][0]["name"] == "vnet100"
    users = await a.call("proxmox_user_list", {"name": "root*"})
    assert [u["userid"] for u in users["items"]] == ["root@pam"]


async def test_network_list_of_an_unknown_node_says_so(a: Harness) -> None:
    assert "pve9" in await a.fail("proxmox_network_list", {"node": "pve9"})


async def test_ceph_not_installed_is_a_clear_error_and_ha_and_options_answer(a: Harness) -> None:
    assert "not installed" in await a.fail("proxmox_ceph_status")
    ha = await a.call("proxmox_ha_status")
    assert ha["data"]["status"][0]["type"] == "quorum"
    assert (await a.call("proxmox_cluster_options"))["data"]["keyboard"] == "en-us"


async def test_node_action_validates_the_node_and_reports_an_unsimulated_reboot(a: Harness) -> None:
    assert "not in the cluster" in await a.fail("proxmox_node_action", {"node": "pve9", "action": "reboot"})
    assert "not implemented" in await a.fail("proxmox_node_action", {"node": "pve2", "action": "reboot"})


# --- PCI mappings ---------------------------------------------------------------------------


async def test_pci_mapping_round_trip(a: Harness) -> None:
    assert [m["id"] for m in (await a.call("proxmox_pci_mapping_list"))["items"]] == ["gpu0"]
    await a.call("proxmox_pci_mapping_create", {"id": "nic1", "map": ["node=pve1,path=0000:02:00.0,id=8086:1521"]})
    await a.call("proxmox_pci_mapping_update", {"id": "nic1", "description": "10G NIC"})
    assert (await a.call("proxmox_pci_mapping_get", {"id": "nic1"}))["data"]["description"] == "10G NIC"
    await a.call("proxmox_pci_mapping_delete", {"id": "nic1"})
    assert "does not exist" in await a.fail("proxmox_pci_mapping_get", {"id": "nic1"})


async def test_pci_mapping_create_twice_and_delete_missing_are_refused(a: Harness) -> None:
    assert "already exists" in await a.fail("proxmox_pci_mapping_create", {"id": "gpu0", "map": ["node=pve1,path=0000:01:00.0"]})
    assert "no PCI mapping" in await a.fail("proxmox_pci_mapping_delete", {"id": "nope"})


# --- agent, console, cloud-init -------------------------------------------------------------


async def _agent_vm(h: Harness) -> int:
    for v in (await h.call("proxmox_vm_list", {"status": "running", "limit": 500}))["items"]:
        cfg = (await h.call("proxmox_vm_get", {"vmid": v["vmid"]}))["config"]
        if str(cfg.get("agent", "0")).startswith("1"):
            return v["vmid"]
    raise AssertionError("no VM with an agent")


async def test_agent_ping_info_exec_and_diagnose(a: Harness) -> None:
    vmid = await _agent_vm(a)
    assert (await a.call("proxmox_vm_agent_ping", {"vmid": vmid}))["result"]["answered"] is True
    info = await a.call("proxmox_vm_agent_info", {"vmid": vmid})
    assert info["result"]["version"] and info["result"]["hostname"]
    ex = await a.call("proxmox_vm_guest_exec", {"vmid": vmid, "command": ["hostname"]})
    assert ex["result"]["exited"] is True and ex["result"]["exitcode"] == 0
    diag = await a.call("proxmox_vm_guest_agent_diagnose", {"vmid": vmid})
    assert diag["verdict"] == "ok"


async def test_agent_diagnose_says_what_to_fix_and_ping_of_a_stopped_vm_is_refused(a: Harness) -> None:
    vm = await _vm(a, status="stopped")
    diag = await a.call("proxmox_vm_guest_agent_diagnose", {"vmid": vm["vmid"]})
    assert diag["verdict"] == "problem" and any("Start the VM" in s for s in diag["next_steps"])
    assert "not running" in await a.fail("proxmox_vm_agent_ping", {"vmid": vm["vmid"]})


async def test_console_ticket_for_a_running_vm_and_refused_for_a_stopped_one(a: Harness) -> None:
    vm = await _vm(a, status="running")
    out = await a.call("proxmox_console_ticket", {"vmid": vm["vmid"]})
    # The ticket itself is only in the short-lived artifact (tests/tools/test_artifact_outputs.py).
    assert out["port"] and out["user"] and out["artifact"].startswith("proxmox://artifacts/") and "ticket" not in out
    stopped = await _vm(a, status="stopped")
    assert "not running" in await a.fail("proxmox_console_ticket", {"vmid": stopped["vmid"]})


async def test_cloud_init_dump_returns_user_data_and_refuses_a_container(a: Harness) -> None:
    vm = await _vm(a)
    out = await a.call("proxmox_vm_cloud_init_dump", {"vmid": vm["vmid"]})
    assert out["text"].startswith("#cloud-config")
    ct = (await a.call("proxmox_lxc_list", {"limit": 1}))["items"][0]
    assert "container" in await a.fail("proxmox_vm_cloud_init_dump", {"vmid": ct["vmid"]})
