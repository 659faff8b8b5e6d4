"""Container (LXC) life-cycle paths the domain tests cover only for VMs -- migrate, clone, config
update -- and the artifact round trip of a large cloud-init dump, through the official MCP client
against the simulated cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from proxmox_operator_mcp import tools as tools_pkg
from proxmox_operator_mcp.artifacts import URI_PREFIX, default_store, owner_of
from proxmox_operator_mcp.errors import NotFoundError

from .conftest import Harness, harness

pytestmark = pytest.mark.anyio

@pytest.fixture
async def a(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    """Admin mode with every toolset enabled (as in test_domain_tools)."""
    for name in tools_pkg.TOOLSETS:
        monkeypatch.setitem(tools_pkg.TOOLSETS, name, True)
    async with harness("admin") as hh:
        yield hh


async def _ct(h: Harness, **filters: object) -> dict:
    return (await h.call("proxmox_lxc_list", {"limit": 1, **filters}))["items"][0]


async def _stopped_ct(h: Harness, node: str = "pve1") -> dict:
    """A container on ``node``, stopped through the power tool (the simulator starts them running)."""
    ct = await _ct(h, node=node)
    if ct["status"] != "stopped":
        out = await h.call("proxmox_lxc_action", {"vmid": ct["vmid"], "action": "stop", "wait": 5})
        assert out["task"]["ok"] is True
    return ct


# --- migrate --------------------------------------------------------------------------------


async def test_lxc_migrate_refuses_the_same_node_an_unknown_node_and_a_running_ct_before_sending(a: Harness) -> None:
    ct = await _ct(a, node="pve1", status="running")
    assert "already on pve1" in await a.fail("proxmox_lxc_migrate", {"vmid": ct["vmid"], "target": "pve1"})
    assert "not in the cluster" in await a.fail("proxmox_lxc_migrate", {"vmid": ct["vmid"], "target": "pve9"})
    text = await a.fail("proxmox_lxc_migrate", {"vmid": ct["vmid"], "target": "pve2"})
    assert "is running" in text and "online=true" in text
    assert a.writes() == []
    assert (await a.call("proxmox_lxc_get", {"vmid": ct["vmid"]}))["node"] == "pve1"


async def test_lxc_migrate_moves_a_stopped_container_to_the_target_node(a: Harness) -> None:
    ct = await _stopped_ct(a, "pve1")
    out = await a.call("proxmox_lxc_migrate", {"vmid": ct["vmid"], "target": "pve2", "wait": 5})
    assert out["task"]["ok"] is True and out["task"]["type"] == "vzmigrate"
    got = await a.call("proxmox_lxc_get", {"vmid": ct["vmid"]})
    assert got["node"] == "pve2" and got["status"]["status"] == "stopped"
    on_target = await a.call("proxmox_lxc_list", {"node": "pve2", "limit": 500})
    assert ct["vmid"] in [c["vmid"] for c in on_target["items"]]
    assert "already on pve2" in await a.fail("proxmox_lxc_migrate", {"vmid": ct["vmid"], "target": "pve2"})


async def test_lxc_migrate_of_a_running_container_with_online_uses_restart_mode(a: Harness) -> None:
    ct = await _ct(a, node="pve1", status="running")
    out = await a.call("proxmox_lxc_migrate", {"vmid": ct["vmid"], "target": "pve2", "online": True, "wait": 5})
    assert out["task"]["ok"] is True  # the simulator refuses a running CT without restart=1 (as PVE does)
    got = await a.call("proxmox_lxc_get", {"vmid": ct["vmid"]})
    assert got["node"] == "pve2" and got["status"]["status"] == "running"


# --- clone ----------------------------------------------------------------------------------


async def test_lxc_clone_of_a_stopped_container_makes_a_new_one_with_the_hostname(a: Harness) -> None:
    src = await _stopped_ct(a, "pve2")
    out = await a.call("proxmox_lxc_clone", {"vmid": src["vmid"], "newid": 150, "name": "ct-copy", "wait": 5})
    assert out["vmid"] == 150 and out["node"] == "pve2" and out["task"]["ok"] is True
    got = await a.call("proxmox_lxc_get", {"vmid": 150})
    assert got["config"]["hostname"] == "ct-copy" and "lock" not in got["config"]
    assert got["config"]["rootfs"].startswith("local-lvm:vm-150-disk-0")
    orig = await a.call("proxmox_lxc_get", {"vmid": src["vmid"]})
    assert orig["config"]["hostname"] == src["name"]  # the source is untouched


async def test_lxc_clone_of_a_template_container_defaults_to_a_linked_clone(a: Harness) -> None:
    src = await _stopped_ct(a, "pve1")
    await a.call("proxmox_api_call", {"method": "POST", "path": f"/nodes/pve1/lxc/{src['vmid']}/template"})
    assert (await _ct(a, node="pve1", template=True))["vmid"] == src["vmid"]
    out = await a.call("proxmox_lxc_clone", {"vmid": src["vmid"], "newid": 151, "name": "from-tmpl", "wait": 5})
    assert out["task"]["ok"] is True
    cfg = (await a.call("proxmox_lxc_get", {"vmid": 151}))["config"]
    assert cfg["hostname"] == "from-tmpl" and f"base-{src['vmid']}-disk-0/vm-151-disk-0" in cfg["rootfs"]


async def test_lxc_clone_refuses_a_taken_id_and_storage_for_a_linked_clone_before_sending(a: Harness) -> None:
    src, other = (await a.call("proxmox_lxc_list", {"limit": 2}))["items"]
    text = await a.fail("proxmox_lxc_clone", {"vmid": src["vmid"], "newid": other["vmid"]})
    assert f"guest id {other['vmid']} is taken" in text
    text = await a.fail("proxmox_lxc_clone", {"vmid": src["vmid"], "full": False, "storage": "local-lvm"})
    assert "full clones" in text
    assert a.writes() == []


async def test_lxc_full_clone_of_a_running_container_fails_with_pves_message(a: Harness) -> None:
    src = await _ct(a, status="running")
    before = (await a.call("proxmox_lxc_list", {"limit": 500}))["total"]
    text = await a.fail("proxmox_lxc_clone", {"vmid": src["vmid"], "name": "nope"})
    assert "running container" in text
    assert (await a.call("proxmox_lxc_list", {"limit": 500}))["total"] == before


# --- config update --------------------------------------------------------------------------


async def _lxc_update_tool(h: Harness) -> None:
    names = {t.name for t in (await h.client.list_tools()).tools}
    assert "proxmox_lxc_update_config" in names, "no config update tool for containers"


async def test_lxc_update_config_sets_keys_that_lxc_get_reads_back(a: Harness) -> None:
    await _lxc_update_tool(a)
    ct = await _ct(a, node="pve1")
    cfg = (await a.call("proxmox_lxc_get", {"vmid": ct["vmid"]}))["config"]
    out = await a.call("proxmox_lxc_update_config", {
        "vmid": ct["vmid"], "set": {"memory": 1024, "cores": 3, "description": "web tier"}, "digest": cfg["digest"]})
    assert out["changed"] == ["cores", "description", "memory"] and out["node"] == "pve1"
    got = (await a.call("proxmox_lxc_get", {"vmid": ct["vmid"]}))["config"]
    assert (got["memory"], got["cores"], got["description"]) == (1024, 3, "web tier")
    assert ("PUT", f"/api2/json/nodes/pve1/lxc/{ct['vmid']}/config") in a.writes()


async def test_lxc_update_config_refuses_qemu_only_keys_and_bad_values_before_sending(a: Harness) -> None:
    await _lxc_update_tool(a)
    ct = await _ct(a)
    assert "not defined in schema" in await a.fail(
        "proxmox_lxc_update_config", {"vmid": ct["vmid"], "set": {"sockets": 2}})  # a VM key, not a CT one
    assert "type check" in await a.fail("proxmox_lxc_update_config", {"vmid": ct["vmid"], "set": {"memory": "lots"}})
    assert a.writes() == []


async def test_lxc_update_config_of_a_missing_container_or_a_vm_id_says_so(a: Harness) -> None:
    await _lxc_update_tool(a)
    assert "does not exist" in await a.fail("proxmox_lxc_update_config", {"vmid": 999, "set": {"cores": 2}})
    vm = (await a.call("proxmox_vm_list", {"limit": 1}))["items"][0]
    assert "is a VM, not a container" in await a.fail(
        "proxmox_lxc_update_config", {"vmid": vm["vmid"], "set": {"cores": 2}})
    assert a.writes() == []


# --- cloud-init dump artifact ---------------------------------------------------------------


async def test_a_large_cloud_init_dump_is_capped_inline_and_whole_in_its_artifact(a: Harness) -> None:
    vm = (await a.call("proxmox_vm_list", {"limit": 1, "template": False}))["items"][0]
    keys = [f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{i:06d}xyz user{i}@example.org" for i in range(300)]
    guest = a.cluster.state.guests[vm["vmid"]]  # > 4096 chars: too long for one config value of the tools
    guest.config["sshkeys"] = "%0A".join(keys)
    guest.config["cipassword"] = "Sup3r-S3cret-Pw"

    out = await a.call("proxmox_vm_cloud_init_dump", {"vmid": vm["vmid"]})
    uri = out["text_uri"]
    assert uri and uri.startswith(URI_PREFIX)
    marker, _, tail = out["text"].partition("\n")
    assert marker.startswith("…[truncated ") and f"full output: {uri}]" in marker
    assert len(tail) == 16_000 and keys[-1] in tail and keys[0] not in tail
    assert tail.endswith("package_upgrade: true\n")

    res = await a.client.read_resource(uri)
    whole = res.contents[0].text  # type: ignore[union-attr]
    assert whole.startswith(f"#cloud-config\nhostname: {vm['name']}\n") and whole.endswith(tail)
    assert all(f"  - {k}\n" in whole for k in keys)
    assert "Sup3r-S3cret-Pw" not in whole and "password: ***" in whole  # artifacts pass the redaction layer

    artifact_id = uri.removeprefix(URI_PREFIX)
    with pytest.raises(NotFoundError):
        default_store().get(artifact_id, owner_of({"sub": "mallory", "client_id": "elsewhere"}))


async def test_a_small_cloud_init_dump_publishes_no_artifact(a: Harness) -> None:
    vm = (await a.call("proxmox_vm_list", {"limit": 1, "template": False}))["items"][0]
    out = await a.call("proxmox_vm_cloud_init_dump", {"vmid": vm["vmid"]})
    assert out.get("text_uri") is None and "truncated" not in out["text"]
