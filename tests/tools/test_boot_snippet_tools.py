"""proxmox_vm_boot_diagnose and the cloud-init snippet tools, through the official MCP client
against the simulated cluster (snippet reads and writes over its SFTP endpoint)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from proxmox_operator_mcp import tools as tools_pkg
from proxmox_operator_mcp.sim import SimOptions

from .conftest import Harness, harness
from .nodeaccess_harness import node_harness

pytestmark = pytest.mark.anyio

OPTS = SimOptions(nodes=1, vms_per_node=3, cts_per_node=0, task_seconds=0.05)


@pytest.fixture(autouse=True)
def _all_toolsets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in tools_pkg.TOOLSETS:
        monkeypatch.setitem(tools_pkg.TOOLSETS, name, True)


@pytest.fixture
async def a() -> AsyncIterator[Harness]:
    async with harness("admin", options=OPTS) as hh:
        yield hh


async def _vm(h: Harness, **filters: object) -> dict:
    return (await h.call("proxmox_vm_list", {"limit": 1, "template": False, **filters}))["items"][0]


def _check(out: dict, name: str) -> dict:
    return next(c for c in out["checks"] if c["check"] == name)


# --- boot diagnose ----------------------------------------------------------------------------


async def test_boot_diagnose_of_a_running_vm_says_ok_with_its_start_log(a: Harness) -> None:
    vm = await _vm(a, status="stopped")
    with anyio.fail_after(10):
        await a.call("proxmox_vm_action", {"vmid": vm["vmid"], "action": "start", "wait": 5})
        out = await a.call("proxmox_vm_boot_diagnose", {"vmid": vm["vmid"]})
    assert out["verdict"] == "ok", out["checks"]
    assert _check(out, "last start task")["value"] == "OK" and out["start_log"][-1] == "TASK OK"
    assert any("proxmox_console_ticket" in s for s in out["next_steps"])
    assert not a.writes() or all(m == "POST" and p.endswith("/status/start") for m, p in a.writes())


async def test_boot_diagnose_names_a_failed_start_a_lock_and_a_missing_disk(a: Harness) -> None:
    vm = await _vm(a, status="stopped")
    guest = a.cluster.state.guests[vm["vmid"]]
    guest.config["lock"] = "backup"
    text = await a.call("proxmox_vm_action", {"vmid": vm["vmid"], "action": "start", "wait": 5})
    assert text["task"]["ok"] is False
    guest.config["scsi5"] = f"local-lvm:vm-{vm['vmid']}-disk-9,size=1G"
    a.cluster.state.guests[vm["vmid"]].config["boot"] = "order=virtio7;net0"
    with anyio.fail_after(10):
        out = await a.call("proxmox_vm_boot_diagnose", {"vmid": vm["vmid"]})
    assert out["verdict"] == "problem"
    assert not _check(out, "not locked")["ok"] and not _check(out, "last start task")["ok"]
    assert not _check(out, "boot order")["ok"]
    assert any("locked" in line for line in out["start_log"])
    assert any("qm unlock" in s for s in out["next_steps"])


async def test_boot_diagnose_refuses_a_container_and_an_unknown_vm(a: Harness) -> None:
    async with harness("admin", options=SimOptions(nodes=1, vms_per_node=1, cts_per_node=1)) as h:
        ct = (await h.call("proxmox_lxc_list", {"limit": 1}))["items"][0]
        assert "container" in await h.fail("proxmox_vm_boot_diagnose", {"vmid": ct["vmid"]})
    assert "does not exist" in await a.fail("proxmox_vm_boot_diagnose", {"vmid": 99999})


async def test_the_boot_diagnosis_is_listed_in_read_only_mode_once_its_toolset_is_on() -> None:
    async with harness("read-only", options=OPTS) as h:
        names = {t.name for t in (await h.client.list_tools()).tools}
    assert "proxmox_vm_boot_diagnose" in names and "proxmox_cloud_init_snippet_put" not in names


# --- snippets -----------------------------------------------------------------------------------


async def test_a_snippet_put_over_sftp_is_listed_read_back_and_deleted_over_rest() -> None:
    async with node_harness("admin", options=OPTS) as h:
        with anyio.fail_after(20):
            put = await h.call("proxmox_cloud_init_snippet_put",
                               {"name": "web.yaml", "content": "#cloud-config\nhostname: web\n", "expect_sha256": ""})
            assert put["volid"] == "local:snippets/web.yaml"
            listed = await h.call("proxmox_cloud_init_snippet_list", {})
            assert "local:snippets/web.yaml" in [i["volid"] for i in listed["items"]]
            got = await h.call("proxmox_cloud_init_snippet_get", {"name": "web.yaml"})
            assert got["content"] == "#cloud-config\nhostname: web\n" and got["sha256"] == put["sha256"]
            gone = await h.call("proxmox_cloud_init_snippet_delete", {"name": "web.yaml"})
            assert gone["ok"] is True
            listed = await h.call("proxmox_cloud_init_snippet_list", {})
            assert "local:snippets/web.yaml" not in [i["volid"] for i in listed["items"]]
            assert await h.fail("proxmox_cloud_init_snippet_get", {"name": "web.yaml"})


async def test_a_snippet_put_refuses_a_stale_sha_and_a_storage_without_snippets() -> None:
    async with node_harness("admin", options=OPTS) as h:
        with anyio.fail_after(20):
            text = await h.fail("proxmox_cloud_init_snippet_put",
                                {"name": "user-data.yaml", "content": "x", "expect_sha256": "0" * 64})
            assert "sha256" in text.lower() or "changed" in text.lower()
            text = await h.fail("proxmox_cloud_init_snippet_put", {"name": "a.yaml", "content": "x",
                                                                  "storage": "local-lvm"})
            assert "does not hold snippets" in text


async def test_snippet_names_with_path_segments_are_refused_before_anything_is_sent(a: Harness) -> None:
    before = len(a.requests)
    text = await a.fail("proxmox_cloud_init_snippet_delete", {"name": "../../etc/passwd"})
    assert "name" in text and len(a.requests) == before


async def test_deleting_a_snippet_that_does_not_exist_is_refused_clearly(a: Harness) -> None:
    text = await a.fail("proxmox_cloud_init_snippet_delete", {"name": "nope.yaml"})
    assert "no snippet local:snippets/nope.yaml" in text
    assert not a.writes()
