"""Envelopes, error shapes, request parsing and schema validation, as PVE has them on the wire."""

from __future__ import annotations

import httpx2
import pytest

from proxmox_operator_mcp.schema import get_schema
from proxmox_operator_mcp.sim import SimCluster
from proxmox_operator_mcp.sim.handlers import ROUTES

pytestmark = pytest.mark.anyio


async def test_a_success_answer_is_data_in_an_envelope_with_pve_content_type(api: httpx2.AsyncClient) -> None:
    r = await api.get("/version")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json;charset=UTF-8"
    assert r.headers["server"] == "pve-api-daemon/3.0"
    assert r.json() == {
        "data": {"version": "9.2.0", "release": "9.2", "repoid": r.json()["data"]["repoid"], "console": "html5"}
    }


async def test_a_paged_list_carries_total_beside_data(api: httpx2.AsyncClient) -> None:
    r = await api.get("/nodes/pve1/tasks", params={"limit": 1})
    body = r.json()
    assert len(body["data"]) == 1
    assert body["total"] > 1


async def test_an_operation_error_has_status_message_and_null_data(api: httpx2.AsyncClient) -> None:
    r = await api.get("/nodes/pve1/qemu/999/config")
    assert r.status_code == 500
    assert r.json() == {
        "data": None,
        "message": "Configuration file 'nodes/pve1/qemu-server/999.conf' does not exist\n",
    }


async def test_a_path_outside_the_api_answers_501_not_implemented(api: httpx2.AsyncClient) -> None:
    r = await api.get("/nodes/pve1/no-such-thing")
    assert r.status_code == 501
    assert r.json()["message"] == "Method 'GET /nodes/pve1/no-such-thing' not implemented\n"


async def test_an_endpoint_that_is_not_simulated_says_so_with_501(api: httpx2.AsyncClient) -> None:
    r = await api.get("/nodes/pve1/ceph/status")
    assert r.status_code == 501
    assert r.json()["message"] == "Method 'GET /nodes/pve1/ceph/status' not implemented (not simulated)\n"


async def test_a_wrong_method_on_a_known_path_answers_501(api: httpx2.AsyncClient) -> None:
    r = await api.put("/version")
    assert r.status_code == 501
    assert "not implemented" in r.json()["message"]


async def test_invalid_parameters_answer_400_with_per_parameter_errors(api: httpx2.AsyncClient) -> None:
    r = await api.post("/nodes/pve1/qemu/102/status/start", data={"timeout": "soon", "bogus": "1"})
    assert r.status_code == 400
    body = r.json()
    assert body["message"] == "Parameter verification failed.\n"
    assert body["errors"]["timeout"] == "type check ('integer') failed - got 'soon'"
    assert "bogus" in body["errors"]


async def test_a_path_parameter_of_the_wrong_type_answers_400(api: httpx2.AsyncClient) -> None:
    r = await api.get("/nodes/pve1/qemu/abc/status/current")
    assert r.status_code == 400
    assert "vmid" in r.json()["errors"]


async def test_a_path_parameter_repeated_with_another_value_is_refused(api: httpx2.AsyncClient) -> None:
    r = await api.post("/nodes/pve1/qemu/102/status/start", data={"vmid": "103"})
    assert r.status_code == 400
    assert r.json()["errors"] == {"vmid": "duplicate parameter (already defined in URI) with conflicting values!"}
    same = await api.post("/nodes/pve1/qemu/102/status/start", data={"vmid": "102"})
    assert same.status_code == 200


async def test_json_bodies_work_like_form_bodies(api: httpx2.AsyncClient) -> None:
    r = await api.put("/nodes/pve1/qemu/102/config", json={"description": "from json", "onboot": True})
    assert r.status_code == 200, r.text
    conf = (await api.get("/nodes/pve1/qemu/102/config")).json()["data"]
    assert conf["description"] == "from json"
    assert conf["onboot"] == 1


async def test_a_body_on_a_get_request_is_refused(api: httpx2.AsyncClient) -> None:
    r = await api.request(
        "GET", "/version", content=b"a=1", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 501
    assert r.reason_phrase != "OK"


async def test_config_values_are_typed_as_pve_types_them(api: httpx2.AsyncClient) -> None:
    vm = (await api.get("/nodes/pve1/qemu/100/config")).json()["data"]
    assert isinstance(vm["cores"], int) and isinstance(vm["sockets"], int)
    assert isinstance(vm["memory"], str)  # a property string in PVE 9: "2048"
    assert vm["numa"] in (0, 1)
    assert len(vm["digest"]) == 40
    ct = (await api.get("/nodes/pve1/lxc/104/config")).json()["data"]
    assert isinstance(ct["memory"], int) and ct["unprivileged"] == 1


async def test_container_lists_carry_the_vmid_as_a_string_and_vm_lists_as_a_number(api: httpx2.AsyncClient) -> None:
    cts = (await api.get("/nodes/pve1/lxc")).json()["data"]
    vms = (await api.get("/nodes/pve1/qemu")).json()["data"]
    assert {c["vmid"] for c in cts} == {"104", "105"}
    assert {v["vmid"] for v in vms} == {100, 101, 102, 103}


async def test_localhost_stands_for_the_node_answering(api: httpx2.AsyncClient) -> None:
    r = await api.get("/nodes/localhost/qemu")
    assert r.status_code == 200
    assert {v["vmid"] for v in r.json()["data"]} == {100, 101, 102, 103}


async def test_an_unknown_node_is_a_hostname_lookup_failure(api: httpx2.AsyncClient) -> None:
    r = await api.get("/nodes/pve9/qemu")
    assert r.status_code == 500
    assert r.json()["message"].startswith("hostname lookup 'pve9' failed")


def test_every_simulated_route_is_an_endpoint_of_the_schema() -> None:
    schema = get_schema()
    assert len(ROUTES) >= 80
    assert [r for r in ROUTES if r[1] != "/" and schema.get(*r) is None] == []


async def test_the_api_root_lists_the_top_level_directories(api: httpx2.AsyncClient, cluster: SimCluster) -> None:
    r = await api.get("/")
    assert {e["subdir"] for e in r.json()["data"]} >= {"cluster", "nodes", "version", "access", "storage"}
