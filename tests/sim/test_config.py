"""Guest configuration: digest, delete/revert, pending changes, synchronous PUT and async POST."""

from __future__ import annotations

import httpx2
import pytest

from proxmox_operator_mcp.sim import SimCluster

from .conftest import wait_task

pytestmark = pytest.mark.anyio


async def _config(api: httpx2.AsyncClient, path: str, **params: object) -> dict:
    r = await api.get(f"/nodes/pve1/{path}/config", params=params)
    assert r.status_code == 200, r.text
    return r.json()["data"]


async def test_put_config_changes_a_stopped_vm_at_once_and_changes_the_digest(api: httpx2.AsyncClient) -> None:
    before = await _config(api, "qemu/102")
    r = await api.put("/nodes/pve1/qemu/102/config", data={"memory": "4096", "cores": 3, "digest": before["digest"]})
    assert r.status_code == 200 and r.json() == {"data": None}
    after = await _config(api, "qemu/102")
    assert (after["memory"], after["cores"]) == ("4096", 3)
    assert after["digest"] != before["digest"]


async def test_a_stale_digest_is_refused_and_changes_nothing(api: httpx2.AsyncClient) -> None:
    stale = (await _config(api, "qemu/102"))["digest"]
    await api.put("/nodes/pve1/qemu/102/config", data={"description": "someone else"})
    r = await api.put("/nodes/pve1/qemu/102/config", data={"name": "mine", "digest": stale})
    assert r.status_code == 500
    assert r.json()["message"] == "detected modified configuration - file changed by other user? Try again.\n"
    assert (await _config(api, "qemu/102"))["name"] != "mine"


async def test_post_config_is_a_task_that_applies_at_its_end(api: httpx2.AsyncClient) -> None:
    r = await api.post("/nodes/pve1/qemu/102/config", data={"tags": "blue;green"})
    upid = r.json()["data"]
    assert ":qmconfig:102:" in upid
    assert (await wait_task(api, upid))["exitstatus"] == "OK"
    assert (await _config(api, "qemu/102"))["tags"] == "blue;green"


async def test_post_config_with_a_stale_digest_ends_in_task_error(api: httpx2.AsyncClient) -> None:
    upid = (await api.post("/nodes/pve1/qemu/102/config", data={"tags": "x", "digest": "0" * 40})).json()["data"]
    status = await wait_task(api, upid)
    assert status["exitstatus"] == "detected modified configuration - file changed by other user? Try again."


async def test_memory_of_a_running_vm_stays_pending_until_it_stops(api: httpx2.AsyncClient) -> None:
    cur = await _config(api, "qemu/100", current=1)
    r = await api.put("/nodes/pve1/qemu/100/config", data={"memory": "65536", "name": "renamed"})
    assert r.status_code == 200
    shown = await _config(api, "qemu/100")
    current = await _config(api, "qemu/100", current=1)
    assert shown["memory"] == "65536" and current["memory"] == cur["memory"]
    assert current["name"] == "renamed"  # a name applies at once
    pending = {p["key"]: p for p in (await api.get("/nodes/pve1/qemu/100/pending")).json()["data"]}
    assert pending["memory"] == {"key": "memory", "value": cur["memory"], "pending": "65536"}
    assert "pending" not in pending["name"]
    upid = (await api.post("/nodes/pve1/qemu/100/status/stop")).json()["data"]
    await wait_task(api, upid)
    assert (await _config(api, "qemu/100", current=1))["memory"] == "65536"


async def test_delete_on_a_running_vm_is_pending_and_revert_drops_it(api: httpx2.AsyncClient) -> None:
    await api.put("/nodes/pve1/qemu/100/config", data={"delete": "ostype"})
    pending = {p["key"]: p for p in (await api.get("/nodes/pve1/qemu/100/pending")).json()["data"]}
    assert pending["ostype"]["delete"] == 1
    assert "ostype" not in await _config(api, "qemu/100")
    await api.put("/nodes/pve1/qemu/100/config", data={"revert": "ostype"})
    pending = {p["key"]: p for p in (await api.get("/nodes/pve1/qemu/100/pending")).json()["data"]}
    assert "delete" not in pending["ostype"]


async def test_delete_on_a_stopped_vm_removes_the_key(api: httpx2.AsyncClient) -> None:
    await api.put("/nodes/pve1/qemu/102/config", data={"description": "x"})
    await api.put("/nodes/pve1/qemu/102/config", data={"delete": "description,ide2"})
    conf = await _config(api, "qemu/102")
    assert "description" not in conf and "ide2" not in conf


async def test_setting_and_deleting_one_key_at_once_is_refused(api: httpx2.AsyncClient) -> None:
    r = await api.put("/nodes/pve1/qemu/102/config", data={"name": "a", "delete": "name"})
    assert r.status_code == 400 and "delete" in r.json()["errors"]


async def test_a_new_nic_gets_a_mac_and_a_new_disk_gets_a_volume(api: httpx2.AsyncClient, cluster: SimCluster) -> None:
    r = await api.put("/nodes/pve1/qemu/102/config", data={"net1": "virtio,bridge=vmbr1", "scsi1": "local-lvm:8"})
    assert r.status_code == 200, r.text
    conf = await _config(api, "qemu/102")
    assert conf["net1"].startswith("virtio=BC:24:11:") and conf["net1"].endswith(",bridge=vmbr1")
    assert conf["scsi1"] == "local-lvm:vm-102-disk-1,size=8G"
    vols = (await api.get("/nodes/pve1/storage/local-lvm/content", params={"vmid": 102})).json()["data"]
    assert {v["volid"] for v in vols} == {"local-lvm:vm-102-disk-0", "local-lvm:vm-102-disk-1"}


async def test_container_memory_applies_to_a_running_container_at_once(api: httpx2.AsyncClient) -> None:
    r = await api.put("/nodes/pve1/lxc/104/config", data={"memory": 1536, "hostname": "renamed"})
    assert r.status_code == 200
    current = await _config(api, "lxc/104", current=1)
    assert current["memory"] == 1536 and current["hostname"] != "renamed"
    assert (await _config(api, "lxc/104"))["hostname"] == "renamed"


async def test_a_snapshot_config_is_readable_through_the_config_endpoint(api: httpx2.AsyncClient) -> None:
    conf = await _config(api, "qemu/101", snapshot="pre-upgrade")
    assert conf["description"] == "before the distribution upgrade"
    missing = await api.get("/nodes/pve1/qemu/101/config", params={"snapshot": "nope"})
    assert missing.status_code == 500 and missing.json()["message"] == "snapshot 'nope' does not exist\n"
