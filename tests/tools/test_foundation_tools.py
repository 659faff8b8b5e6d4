"""The foundation tools through the official MCP client against the simulated cluster."""

from __future__ import annotations

import anyio
import pytest

from .conftest import Harness, harness

pytestmark = pytest.mark.anyio


async def test_inventory_overview_counts_every_guest_and_node(h: Harness) -> None:
    out = await h.call("proxmox_inventory_overview")
    assert out["nodes_total"] == 2 and out["nodes_online"] == 2
    vms = await h.call("proxmox_vm_list", {"limit": 500})
    cts = await h.call("proxmox_lxc_list", {"limit": 500})
    assert out["vms_total"] + out["templates"] >= vms["total"] - out["templates"]
    assert out["vms_total"] == sum(1 for v in vms["items"] if not v["template"])
    assert out["cts_total"] == sum(1 for c in cts["items"] if not c["template"])
    assert out["vms_running"] == sum(1 for v in vms["items"] if v.get("status") == "running" and not v["template"])


async def test_cluster_status_reports_quorum_and_nodes(h: Harness) -> None:
    out = await h.call("proxmox_cluster_status")
    assert out["quorate"] is True
    assert sorted(n["name"] for n in out["nodes"]) == ["pve1", "pve2"]
    assert all(n["online"] for n in out["nodes"])


async def test_node_list_and_node_get_default_to_the_configured_node(h: Harness) -> None:
    nodes = await h.call("proxmox_node_list")
    assert [n["node"] for n in nodes["nodes"]] == ["pve1", "pve2"]
    node = await h.call("proxmox_node_get")
    assert node["node"] == "pve1" and "cpu" in node["status"]


async def test_vm_list_pages_with_a_cursor_and_projects_fields(h: Harness) -> None:
    first = await h.call("proxmox_vm_list", {"limit": 3, "fields": ["vmid", "name"]})
    assert len(first["items"]) == 3 and set(first["items"][0]) <= {"vmid", "name"}
    assert first["next_cursor"]
    seen = [i["vmid"] for i in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = await h.call("proxmox_vm_list", {"limit": 3, "cursor": cursor, "fields": ["vmid"]})
        seen += [i["vmid"] for i in page["items"]]
        cursor = page.get("next_cursor")
    assert len(seen) == first["total"] == len(set(seen))
    assert seen == sorted(seen)


async def test_vm_list_filters_by_node_and_status(h: Harness) -> None:
    out = await h.call("proxmox_vm_list", {"node": "pve2", "status": "stopped", "limit": 500})
    assert out["items"] and all(i["node"] == "pve2" and i["status"] == "stopped" for i in out["items"])


async def test_a_bad_cursor_is_a_clear_error(h: Harness) -> None:
    text = await h.fail("proxmox_vm_list", {"cursor": "garbage!"})
    assert "cursor" in text


async def test_vm_get_finds_the_node_and_returns_status_and_config_with_digest(h: Harness) -> None:
    vm = (await h.call("proxmox_vm_list", {"limit": 1}))["items"][0]
    out = await h.call("proxmox_vm_get", {"vmid": vm["vmid"]})
    assert out["node"] == vm["node"]
    assert out["status"]["vmid"] == vm["vmid"] or int(out["status"]["vmid"]) == vm["vmid"]
    assert "digest" in out["config"]


async def test_vm_get_of_a_missing_vm_says_so_and_how_to_list(h: Harness) -> None:
    text = await h.fail("proxmox_vm_get", {"vmid": 99999})
    assert "99999 does not exist" in text and "proxmox_vm_list" in text


async def test_vm_get_refuses_a_container_id_and_points_to_the_lxc_tools(h: Harness) -> None:
    ct = (await h.call("proxmox_lxc_list", {"limit": 1}))["items"][0]
    text = await h.fail("proxmox_vm_get", {"vmid": ct["vmid"]})
    assert "container" in text and "proxmox_lxc_" in text


async def test_starting_a_stopped_vm_and_waiting_returns_the_finished_task(h: Harness) -> None:
    vm = (await h.call("proxmox_vm_list", {"status": "stopped", "template": False, "limit": 1}))["items"][0]
    with anyio.fail_after(10):
        out = await h.call("proxmox_vm_action", {"vmid": vm["vmid"], "action": "start", "wait": 5})
    assert out["task"]["status"] == "stopped" and out["task"]["ok"] is True
    assert out["task"]["upid"].startswith(f"UPID:{vm['node']}:")
    after = await h.call("proxmox_vm_get", {"vmid": vm["vmid"]})
    assert after["status"]["status"] == "running"


async def test_an_action_without_wait_returns_the_running_task_at_once(h: Harness) -> None:
    vm = (await h.call("proxmox_vm_list", {"status": "stopped", "template": False, "limit": 1}))["items"][0]
    out = await h.call("proxmox_vm_action", {"vmid": vm["vmid"], "action": "start"})
    assert out["task"]["status"] == "running"
    with anyio.fail_after(10):
        while True:
            task = await h.call("proxmox_task_get", {"upid": out["task"]["upid"]})
            if task["status"] == "stopped":
                break
            await anyio.sleep(0.02)
    assert task["ok"] is True


async def test_starting_a_running_vm_is_refused_before_anything_is_sent(h: Harness) -> None:
    vm = (await h.call("proxmox_vm_list", {"status": "running", "limit": 1}))["items"][0]
    text = await h.fail("proxmox_vm_action", {"vmid": vm["vmid"], "action": "start"})
    assert "already running" in text
    assert h.writes() == []


async def test_hard_stop_needs_admin_mode_and_sends_nothing_in_operator_mode(h: Harness) -> None:
    vm = (await h.call("proxmox_vm_list", {"status": "running", "limit": 1}))["items"][0]
    text = await h.fail("proxmox_vm_action", {"vmid": vm["vmid"], "action": "stop"})
    assert "admin" in text and "Nothing was sent" in text
    assert h.writes() == []


async def test_lxc_shutdown_and_start_round_trip() -> None:
    async with harness("operator") as h:
        ct = (await h.call("proxmox_lxc_list", {"status": "running", "template": False, "limit": 1}))["items"][0]
        with anyio.fail_after(10):
            down = await h.call("proxmox_lxc_action", {"vmid": ct["vmid"], "action": "shutdown", "wait": 5})
            assert down["task"]["ok"] is True
            assert (await h.call("proxmox_lxc_get", {"vmid": ct["vmid"]}))["status"]["status"] == "stopped"
            up = await h.call("proxmox_lxc_action", {"vmid": ct["vmid"], "action": "start", "wait": 5})
        assert up["task"]["ok"] is True
        assert (await h.call("proxmox_lxc_get", {"vmid": ct["vmid"]}))["status"]["status"] == "running"


async def test_unknown_arguments_are_refused_naming_the_accepted_ones(h: Harness) -> None:
    text = await h.fail("proxmox_vm_get", {"vmid": 101, "confirmed": True})
    assert "confirmed: unknown argument" in text and "vmid" in text
    assert h.requests == []


@pytest.mark.parametrize("node", ["../../etc", "pve1;id", "a" * 80, "pve 1"])
async def test_hostile_node_names_never_reach_a_url(h: Harness, node: str) -> None:
    await h.fail("proxmox_node_get", {"node": node})
    assert h.requests == []


@pytest.mark.parametrize("vmid", ["abc", -1, 99, 1_000_000_000])
async def test_invalid_vmids_are_refused(h: Harness, vmid: object) -> None:
    await h.fail("proxmox_vm_get", {"vmid": vmid})
    assert h.requests == []


async def test_a_100_kb_argument_is_refused_without_being_echoed(h: Harness) -> None:
    text = await h.fail("proxmox_vm_list", {"name": "x" * 100_000})
    assert len(text) < 2000


async def test_task_list_shows_the_task_an_action_started(h: Harness) -> None:
    vm = (await h.call("proxmox_vm_list", {"status": "stopped", "template": False, "limit": 1}))["items"][0]
    out = await h.call("proxmox_vm_action", {"vmid": vm["vmid"], "action": "start", "wait": 5})
    tasks = await h.call("proxmox_task_list", {"node": vm["node"], "vmid": vm["vmid"]})
    assert out["task"]["upid"] in [t["upid"] for t in tasks["items"]]
    everywhere = await h.call("proxmox_task_list", {})
    assert out["task"]["upid"] in [t["upid"] for t in everywhere["items"]]


async def test_task_get_rejects_something_that_is_not_a_upid(h: Harness) -> None:
    text = await h.fail("proxmox_task_get", {"upid": "UPID:../../x"})
    assert "UPID" in text
    assert h.requests == []


async def test_read_only_mode_hides_actions_and_the_gate_refuses_writes_through_api_call() -> None:
    async with harness("read-only") as h:
        names = {t.name for t in (await h.client.list_tools()).tools}
        assert "proxmox_vm_action" not in names
        text = await h.fail("proxmox_vm_action", {"vmid": 101, "action": "start"})
        assert "not enabled" in text
        text = await h.fail(
            "proxmox_api_call", {"method": "POST", "path": "/nodes/pve1/qemu/101/status/start", "params": {}}
        )
        assert "read-only" in text and "Nothing was sent" in text
        assert h.writes() == []
        ok = await h.call("proxmox_api_call", {"method": "GET", "path": "/version"})
        assert "version" in ok["data"]


async def test_api_call_refuses_unknown_paths_and_bad_parameters_before_sending(h: Harness) -> None:
    text = await h.fail("proxmox_api_call", {"method": "GET", "path": "/nodes/pve1/nonsense"})
    assert "not an endpoint" in text
    text = await h.fail(
        "proxmox_api_call", {"method": "POST", "path": "/nodes/pve1/qemu/101/status/start", "params": {"bogus": 1}}
    )
    assert "bogus" in text
    text = await h.fail("proxmox_api_call", {"method": "GET", "path": "/api2/json/version"})
    assert h.requests == []


async def test_api_call_starts_a_task_and_waits_for_it(h: Harness) -> None:
    vm = (await h.call("proxmox_vm_list", {"status": "stopped", "template": False, "limit": 1}))["items"][0]
    out = await h.call(
        "proxmox_api_call",
        {"method": "POST", "path": f"/nodes/{vm['node']}/qemu/{vm['vmid']}/status/start", "wait": 5},
    )
    assert out["task"]["ok"] is True


async def test_api_call_reports_pve_errors_with_pve_message(h: Harness) -> None:
    text = await h.fail("proxmox_api_call", {"method": "GET", "path": "/nodes/pve1/qemu/4242/config"})
    assert "from PVE" in text


async def test_api_describe_finds_endpoints_by_keyword_and_by_path(h: Harness) -> None:
    out = await h.call("proxmox_api_describe", {"query": "snapshot rollback"})
    assert any("rollback" in e["path"] for e in out["endpoints"])
    one = await h.call("proxmox_api_describe", {"query": "/nodes/{node}/qemu/{vmid}/status/start", "method": "POST"})
    ep = one["endpoints"][0]
    assert ep["path"] == "/nodes/{node}/qemu/{vmid}/status/start" and ep["returns_task"] is True
    assert "vmid" in ep["parameters"]
    assert h.requests == []


async def test_capabilities_report_the_cluster_version_and_access_mode(h: Harness) -> None:
    out = await h.call("proxmox_capabilities")
    (c,) = out["clusters"]
    assert c["reachable"] is True and c["pve_version"].startswith("9.")
    assert c["access"] == "operator" and "proxmox_vm_action" in out["tools"]
    assert "secret" not in str(out).lower() or h.cluster.token_secret not in str(out)
