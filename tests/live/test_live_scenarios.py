"""Foundation scenarios against a real PVE (see conftest.py for how to enable them)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from .conftest import LIVE_ENV

pytestmark = [pytest.mark.anyio, pytest.mark.live]


async def _ok(client: Any, name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    res = await client.call_tool(name, args or {})
    assert not res.is_error, res.content[0].text
    return res.structured_content or {}


async def test_live_capabilities_show_a_reachable_pve(live: Any) -> None:
    out = await _ok(live, "proxmox_capabilities")
    assert out["clusters"][0]["reachable"] is True
    assert out["clusters"][0]["pve_version"].split(".")[0] in ("8", "9")


async def test_live_inventory_nodes_and_guests_agree(live: Any) -> None:
    overview = await _ok(live, "proxmox_inventory_overview")
    nodes = await _ok(live, "proxmox_node_list")
    assert overview["nodes_total"] == len(nodes["nodes"])
    vms = await _ok(live, "proxmox_vm_list", {"limit": 500})
    assert overview["vms_total"] + overview["templates"] >= len([v for v in vms["items"] if not v["template"]])
    status = await _ok(live, "proxmox_cluster_status")
    assert status["nodes"]


async def test_live_node_and_guest_details(live: Any) -> None:
    node = (await _ok(live, "proxmox_node_list"))["nodes"][0]["node"]
    got = await _ok(live, "proxmox_node_get", {"node": node})
    assert "cpu" in got["status"]
    vms = (await _ok(live, "proxmox_vm_list", {"limit": 1}))["items"]
    if vms:
        vm = await _ok(live, "proxmox_vm_get", {"vmid": vms[0]["vmid"]})
        assert "digest" in vm["config"]


async def test_live_tasks_and_raw_api(live: Any) -> None:
    tasks = await _ok(live, "proxmox_task_list", {"limit": 5})
    if tasks["items"]:
        await _ok(live, "proxmox_task_get", {"upid": tasks["items"][0]["upid"]})
    version = await _ok(live, "proxmox_api_call", {"method": "GET", "path": "/version"})
    assert "version" in version["data"]
    bad = await live.call_tool("proxmox_api_call", {"method": "GET", "path": "/nodes/x/not-an-endpoint"})
    assert bad.is_error


async def test_live_start_and_shutdown_of_the_disposable_vm(live: Any) -> None:
    vmid = LIVE_ENV.get("PROXMOX_LIVE_WRITE_VMID")
    if not vmid:
        pytest.skip("set PROXMOX_LIVE_WRITE_VMID to a disposable stopped VM to run the write scenario")
    with anyio.fail_after(300):
        started = await _ok(live, "proxmox_vm_action", {"vmid": int(vmid), "action": "start", "wait": 120})
        assert started["task"]["ok"] is True
        down = await _ok(live, "proxmox_vm_action", {"vmid": int(vmid), "action": "shutdown", "timeout": 120,
                                                     "force_stop": True, "wait": 180})
        assert down["task"]["status"] == "stopped"
