"""Snapshots, clone, template, create and destroy of VMs and containers."""

from __future__ import annotations

import httpx2
import pytest

from proxmox_operator_mcp.sim import SimCluster

from .conftest import log_of, wait_task

pytestmark = pytest.mark.anyio


async def _run(api: httpx2.AsyncClient, method: str, path: str, **data: object) -> dict:
    r = (
        await api.request(method, path, data=data or None)
        if method != "DELETE"
        else await api.delete(path, params=data)
    )
    assert r.status_code == 200, r.text
    return await wait_task(api, r.json()["data"])


async def _snapshots(api: httpx2.AsyncClient, path: str) -> dict[str, dict]:
    return {s["name"]: s for s in (await api.get(f"{path}/snapshot")).json()["data"]}


async def test_a_snapshot_is_created_listed_rolled_back_to_and_deleted(api: httpx2.AsyncClient) -> None:
    vm = "/nodes/pve1/qemu/101"
    snaps = await _snapshots(api, vm)
    assert snaps["current"]["parent"] == "before-patch" and snaps["current"]["description"] == "You are here!"
    st = await _run(api, "POST", f"{vm}/snapshot", snapname="exp1", description="experiment")
    assert st["exitstatus"] == "OK" and st["type"] == "qmsnapshot"
    snaps = await _snapshots(api, vm)
    assert snaps["exp1"]["parent"] == "before-patch" and snaps["current"]["parent"] == "exp1"
    await api.put(f"{vm}/config", data={"cores": 7})
    assert (await _run(api, "POST", f"{vm}/snapshot/exp1/rollback"))["exitstatus"] == "OK"
    assert (await api.get(f"{vm}/config")).json()["data"]["cores"] != 7
    assert (await _run(api, "DELETE", f"{vm}/snapshot/exp1"))["exitstatus"] == "OK"
    snaps = await _snapshots(api, vm)
    assert "exp1" not in snaps and snaps["current"]["parent"] == "before-patch"


async def test_a_used_snapshot_name_ends_in_task_error(api: httpx2.AsyncClient) -> None:
    st = await _run(api, "POST", "/nodes/pve1/qemu/101/snapshot", snapname="pre-upgrade")
    assert st["exitstatus"] == "snapshot name 'pre-upgrade' already used"


async def test_rollback_to_a_missing_snapshot_ends_in_task_error(api: httpx2.AsyncClient) -> None:
    st = await _run(api, "POST", "/nodes/pve1/qemu/101/snapshot/nope/rollback")
    assert st["exitstatus"] == "snapshot 'nope' does not exist"


async def test_a_snapshot_with_ram_of_a_running_vm_keeps_it_running_after_rollback(api: httpx2.AsyncClient) -> None:
    vm = "/nodes/pve1/qemu/100"
    await _run(api, "POST", f"{vm}/snapshot", snapname="live", vmstate=1)
    assert (await _snapshots(api, vm))["live"]["vmstate"] == 1
    assert (await _run(api, "POST", f"{vm}/snapshot/live/rollback"))["exitstatus"] == "OK"
    assert (await api.get(f"{vm}/status/current")).json()["data"]["status"] == "running"


async def test_container_snapshots_work_the_same_way(api: httpx2.AsyncClient) -> None:
    ct = "/nodes/pve1/lxc/105"
    assert "initial" in await _snapshots(api, ct)
    st = await _run(api, "POST", f"{ct}/snapshot", snapname="second")
    assert st["type"] == "vzsnapshot" and st["exitstatus"] == "OK"
    assert (await _snapshots(api, ct))["second"]["parent"] == "initial"


async def test_a_linked_clone_of_a_template_appears_locked_then_ready(
    api: httpx2.AsyncClient, cluster: SimCluster
) -> None:
    r = await api.post("/nodes/pve1/qemu/103/clone", data={"newid": 200, "name": "from-template"})
    upid = r.json()["data"]
    assert ":qmclone:103:" in upid
    assert cluster.state.guests[200].lock == "clone"
    assert (await wait_task(api, upid))["exitstatus"] == "OK"
    conf = (await api.get("/nodes/pve1/qemu/200/config")).json()["data"]
    assert "lock" not in conf and conf["name"] == "from-template"
    assert conf["scsi0"].startswith("local-lvm:base-103-disk-0/vm-200-disk-0,")
    src = (await api.get("/nodes/pve1/qemu/103/config")).json()["data"]
    assert conf["net0"] != src["net0"] and conf["smbios1"] != src["smbios1"]
    assert (await api.get("/nodes/pve1/qemu/200/status/current")).json()["data"]["status"] == "stopped"
    assert any(line.startswith("create linked clone of drive scsi0") for line in await log_of(api, upid))


async def test_a_full_clone_copies_the_disks(api: httpx2.AsyncClient) -> None:
    st = await _run(api, "POST", "/nodes/pve1/qemu/100/clone", newid=201, full=1)
    assert st["exitstatus"] == "OK"
    conf = (await api.get("/nodes/pve1/qemu/201/config")).json()["data"]
    assert conf["scsi0"].startswith("local-lvm:vm-201-disk-0,") and conf["name"].startswith("Copy-of-VM-")


async def test_clone_refusals(api: httpx2.AsyncClient) -> None:
    used = await api.post("/nodes/pve1/qemu/103/clone", data={"newid": 100})
    assert used.status_code == 500 and used.json()["message"] == "VM 100 already exists on node 'pve1'\n"
    linked = await api.post("/nodes/pve1/qemu/102/clone", data={"newid": 202, "full": 0})
    assert linked.status_code == 500 and "Linked clone feature is not supported" in linked.json()["message"]
    elsewhere = await api.post("/nodes/pve1/qemu/103/clone", data={"newid": 203, "target": "pve2"})
    assert elsewhere.status_code == 500 and "uses local storage" in elsewhere.json()["message"]


async def test_a_vm_becomes_a_template_with_base_volumes(api: httpx2.AsyncClient) -> None:
    st = await _run(api, "POST", "/nodes/pve1/qemu/102/template")
    assert st["exitstatus"] == "OK" and st["type"] == "qmtemplate"
    conf = (await api.get("/nodes/pve1/qemu/102/config")).json()["data"]
    assert conf["template"] == 1 and conf["scsi0"].startswith("local-lvm:base-102-disk-0")
    again = await api.post("/nodes/pve1/qemu/102/template")
    assert again.status_code == 500 and again.json()["message"] == "you can't convert a template to a template\n"
    running = await api.post("/nodes/pve1/qemu/100/template")
    assert running.json()["message"] == "you can't convert a VM to template if VM is running\n"


async def test_destroying_a_running_vm_is_refused(api: httpx2.AsyncClient, cluster: SimCluster) -> None:
    r = await api.delete("/nodes/pve1/qemu/100")
    assert r.status_code == 500
    assert r.json()["message"] == "VM 100 is running - destroy failed\n"
    assert 100 in cluster.state.guests


async def test_destroying_a_stopped_vm_removes_it_and_its_volumes(api: httpx2.AsyncClient, cluster: SimCluster) -> None:
    st = await _run(api, "DELETE", "/nodes/pve1/qemu/102", purge=1)
    assert st["exitstatus"] == "OK" and st["type"] == "qmdestroy"
    assert 102 not in cluster.state.guests
    gone = await api.get("/nodes/pve1/qemu/102/status/current")
    assert gone.status_code == 500
    vols = (await api.get("/nodes/pve1/storage/local-lvm/content")).json()["data"]
    assert not [v for v in vols if v.get("vmid") == 102]


async def test_a_protected_vm_cannot_be_destroyed(api: httpx2.AsyncClient) -> None:
    await api.put("/nodes/pve1/qemu/102/config", data={"protection": 1})
    r = await api.delete("/nodes/pve1/qemu/102")
    assert r.status_code == 500 and r.json()["message"] == "can't remove VM 102 - protection mode enabled\n"


async def test_a_template_with_linked_clones_cannot_be_destroyed(api: httpx2.AsyncClient) -> None:
    await _run(api, "POST", "/nodes/pve1/qemu/103/clone", newid=204)
    st = await _run(api, "DELETE", "/nodes/pve1/qemu/103")
    assert st["exitstatus"] == "base volume 'local-lvm:base-103-disk-0' is still in use by linked cloned"


async def test_creating_a_vm_allocates_disks_and_takes_the_vmid(api: httpx2.AsyncClient) -> None:
    nextid = (await api.get("/cluster/nextid")).json()["data"]
    assert nextid == "118"
    r = await api.post(
        "/nodes/pve2/qemu",
        data={
            "vmid": nextid,
            "name": "new-vm",
            "memory": "2048",
            "scsi0": "local-lvm:32,iothread=1",
            "net0": "virtio,bridge=vmbr0",
            "start": 1,
        },
    )
    assert r.status_code == 200, r.text
    upid = r.json()["data"]
    assert upid.startswith("UPID:pve2:") and ":qmcreate:118:" in upid
    assert (await api.get("/cluster/nextid")).json()["data"] == "119"
    assert (await wait_task(api, upid))["exitstatus"] == "OK"
    conf = (await api.get("/nodes/pve2/qemu/118/config")).json()["data"]
    assert conf["scsi0"] == "local-lvm:vm-118-disk-0,iothread=1,size=32G"
    assert conf["boot"] == "order=scsi0;net0"
    assert (await api.get("/nodes/pve2/qemu/118/status/current")).json()["data"]["status"] == "running"
    dup = await api.post("/nodes/pve1/qemu", data={"vmid": 118})
    assert dup.status_code == 500 and dup.json()["message"] == "VM 118 already exists on node 'pve2'\n"


async def test_nextid_with_a_used_vmid_is_a_parameter_error(api: httpx2.AsyncClient) -> None:
    r = await api.get("/cluster/nextid", params={"vmid": 100})
    assert r.status_code == 400 and r.json()["errors"] == {"vmid": "VM 100 already exists"}
    assert (await api.get("/cluster/nextid", params={"vmid": 5000})).json()["data"] == "5000"


async def test_creating_a_container_from_a_template(api: httpx2.AsyncClient) -> None:
    tmpl = "local:vztmpl/debian-13-standard_13.1-2_amd64.tar.zst"
    r = await api.post(
        "/nodes/pve1/lxc",
        data={
            "vmid": 300,
            "ostemplate": tmpl,
            "rootfs": "local-lvm:8",
            "hostname": "ct-new",
            "net0": "name=eth0,bridge=vmbr0,ip=dhcp",
        },
    )
    assert r.status_code == 200, r.text
    assert (await wait_task(api, r.json()["data"]))["exitstatus"] == "OK"
    conf = (await api.get("/nodes/pve1/lxc/300/config")).json()["data"]
    assert conf["rootfs"] == "local-lvm:vm-300-disk-0,size=8G" and conf["ostype"] == "debian"
    assert "hwaddr=BC:24:11:" in conf["net0"]
    missing = await api.post("/nodes/pve1/lxc", data={"vmid": 301, "ostemplate": "local:vztmpl/nope.tar.zst"})
    assert (
        missing.status_code == 500
        and missing.json()["message"] == "volume 'local:vztmpl/nope.tar.zst' does not exist\n"
    )


async def test_a_running_container_is_destroyed_only_with_force(api: httpx2.AsyncClient, cluster: SimCluster) -> None:
    refused = await api.delete("/nodes/pve1/lxc/104")
    assert refused.status_code == 500 and refused.json()["message"] == "CT 104 is running - destroy failed\n"
    st = await _run(api, "DELETE", "/nodes/pve1/lxc/104", force=1)
    assert st["exitstatus"] == "OK" and 104 not in cluster.state.guests
