"""Mapping concrete paths to endpoint templates, and refusing paths that are not API paths."""

from __future__ import annotations

from typing import Any

import pytest

from proxmox_operator_mcp.errors import SchemaValidationError, UnknownEndpointError
from proxmox_operator_mcp.schema import ApiSchema, Endpoint, Param, get_schema

# One valid value per path-parameter schema, to build a concrete path for every template.
_VALUES_BY_NAME = {
    "node": "pve1",
    "node_id": "pve1",
    "vmid": "100",
    "storage": "local",
    "upid": "UPID:pve1:0000C1D5:0006D7CE:65A0B1C2:qmstart:100:root@pam:",
    "volume": "local:iso%2Fdebian-12.iso",
    "cidr": "10.0.0.0%2F24",
    "pos": "0",
    "osdid": "3",
    "order": "10",
    "userid": "alice@pve",
    "tokenid": "mcp",
    "realm": "pve",
    "groupid": "admins",
    "roleid": "PVEAuditor",
    "poolid": "prod",
    "sid": "vm:100",
    "subnet": "zone1-10.0.0.0-24",
    "fabric": "fab1",
    "fabric_id": "fab1",
    "iface": "vmbr0",
    "snapname": "before-upgrade",
    "url_seq": "10",
}


def _value_for(endpoint: Endpoint, name: str) -> str:
    param = endpoint.parameters[name]
    if param.enum:
        return str(param.enum[0])
    if param.format == "pve-replication-job-id":
        return "100-0"
    if name in _VALUES_BY_NAME:
        return _VALUES_BY_NAME[name]
    if param.pattern == "[a-zA-Z0-9]([a-zA-Z0-9\\-]*[a-zA-Z0-9])?":
        return "mon1"
    return "example"


def _concrete(endpoint: Endpoint) -> str:
    segments = []
    for seg in endpoint.path.split("/"):
        segments.append(_value_for(endpoint, seg[1:-1]) if seg.startswith("{") else seg)
    return "/".join(segments)


def test_every_endpoint_resolves_from_a_concrete_path_built_from_its_template() -> None:
    schema = get_schema()
    for endpoint in schema.endpoints:
        concrete = _concrete(endpoint)
        found, params = schema.resolve(endpoint.method, concrete)
        assert found is endpoint, (endpoint, concrete, found)
        assert set(params) == set(endpoint.path_params)


def test_resolve_returns_decoded_path_parameters() -> None:
    endpoint, params = get_schema().resolve("GET", "/nodes/pve1/storage/local/content/local:iso%2Fdebian-12.iso")
    assert endpoint.path == "/nodes/{node}/storage/{storage}/content/{volume}"
    assert params == {"node": "pve1", "storage": "local", "volume": "local:iso/debian-12.iso"}


def test_upid_path_parameter_resolves_with_colons_and_at_sign() -> None:
    upid = "UPID:pve1:0000C1D5:0006D7CE:65A0B1C2:qmstart:100:root@pam!mcp:"
    endpoint, params = get_schema().resolve("GET", f"/nodes/pve1/tasks/{upid}/status")
    assert endpoint.path == "/nodes/{node}/tasks/{upid}/status"
    assert params["upid"] == upid


def _ep(method: str, path: str, **param_schemas: dict[str, Any]) -> Endpoint:
    params = {name: Param.from_schema(name, s) for name, s in param_schemas.items()}
    return Endpoint(
        method=method,
        path=path,
        description="",
        parameters=params,
        returns={},
        returns_task="no",
        permissions=None,
        allowtoken=True,
        protected=False,
        proxyto=None,
        path_params=tuple(seg[1:-1] for seg in path.split("/") if seg.startswith("{")),
    )


def test_literal_segments_take_precedence_over_parameter_segments() -> None:
    literal = _ep("GET", "/items/special")
    by_id = _ep("GET", "/items/{id}", id={"type": "string"})
    for order in ([literal, by_id], [by_id, literal]):
        schema = ApiSchema("test", order)
        assert schema.resolve("GET", "/items/special") == (literal, {})
        assert schema.resolve("GET", "/items/other") == (by_id, {"id": "other"})


def test_a_literal_branch_that_dead_ends_falls_back_to_the_parameter_branch() -> None:
    deep_literal = _ep("GET", "/items/special/a")
    by_id = _ep("GET", "/items/{id}/b", id={"type": "string"})
    schema = ApiSchema("test", [deep_literal, by_id])
    assert schema.resolve("GET", "/items/special/b") == (by_id, {"id": "special"})
    assert schema.resolve("GET", "/items/special/a") == (deep_literal, {})


@pytest.mark.parametrize(
    ("path", "param", "message"),
    [
        ("/nodes/pve1/qemu/99/status/current", "vmid", "invalid format - value does not look like a valid VM ID"),
        ("/nodes/pve1/qemu/abc/status/current", "vmid", "type check ('integer') failed - got 'abc'"),
        (
            "/nodes/pve1/qemu/1000000000/status/current",
            "vmid",
            "invalid format - value does not look like a valid VM ID",
        ),
        ("/nodes/-pve1/qemu/100/status/current", "node", "invalid format - value does not look like a valid node name"),
        ("/nodes/pve_1/status", "node", "invalid format - value does not look like a valid node name"),
        ("/nodes/pve1/services/nope/state", "service", "value 'nope' does not have a value in the enumeration"),
        ("/nodes/pve1/qemu/100/snapshot/1bad", "snapname", "invalid format - invalid configuration ID '1bad'"),
    ],
)
def test_path_parameter_values_are_checked_against_their_own_schema(path: str, param: str, message: str) -> None:
    with pytest.raises(SchemaValidationError) as info:
        get_schema().resolve("GET", path)
    assert message in info.value.errors[param]


def test_a_template_placeholder_left_in_the_path_is_reported() -> None:
    with pytest.raises(SchemaValidationError) as info:
        get_schema().resolve("GET", "/nodes/{node}/qemu")
    assert "placeholder '{node}'" in info.value.errors["node"]


@pytest.mark.parametrize(
    ("path", "hint"),
    [
        ("/api2/json/nodes", "below /api2/json"),
        ("/api2/json/nodes/pve1/status", "below /api2/json"),
        ("nodes/pve1/status", "start with '/'"),
        ("/nodes//status", "empty segment"),
        ("/nodes/pve1/status/", "empty segment"),
        ("/nodes/pve1/../../etc/passwd", "'..'"),
        ("/nodes/./pve1", "'..'"),
        ("/nodes/pve1/%2e%2e/status", "'..'"),
        ("/nodes/pve1/status?full=1", "'?'"),
        ("/nodes/pve1/status#x", "'#'"),
        ("/nodes/pve 1/status", "spaces"),
        ("/nodes/pve1\n/status", "control characters"),
        ("/nodes\\pve1", "'\\'"),
        ("/nodes/pve1/tasks/%ff/status", "percent-encoding"),
        ("/", "top-level paths: /access, /cluster, /nodes, /pools, /storage, /version"),
    ],
)
def test_paths_that_could_escape_the_api_are_refused_with_a_hint(path: str, hint: str) -> None:
    with pytest.raises(UnknownEndpointError) as info:
        get_schema().resolve("GET", path)
    assert info.value.hint is not None and hint in info.value.hint


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/nodes/pve1/storage/local/content/local:iso%2F..%2F..%2Fetc", "volume"),
        ("/nodes/pve1/storage/local/content/local%20x", "volume"),
        ("/nodes/pve1/storage/local/content/local%0Ax", "volume"),
    ],
)
def test_decoded_path_parameters_may_not_smuggle_traversal_or_whitespace(path: str, param: str) -> None:
    with pytest.raises(SchemaValidationError) as info:
        get_schema().resolve("GET", path)
    assert param in info.value.errors


def test_an_unknown_method_on_a_known_path_names_the_methods_it_has() -> None:
    with pytest.raises(UnknownEndpointError) as info:
        get_schema().resolve("GET", "/nodes/pve1/qemu/100/status/start")
    assert info.value.hint == "/nodes/{node}/qemu/{vmid}/status/start supports POST"
    assert info.value.code == "unknown_endpoint"
    assert "GET /nodes/pve1/qemu/100/status/start is not an endpoint" in info.value.message


def test_an_unknown_path_hints_at_what_exists_near_it() -> None:
    with pytest.raises(UnknownEndpointError) as info:
        get_schema().resolve("GET", "/nodes/pve1/qemu/100/sttus/current")
    hint = info.value.hint or ""
    assert "below /nodes/{node}/qemu/{vmid} there is:" in hint
    assert "/nodes/{node}/qemu/{vmid}/status/current" in hint


def test_methods_are_case_insensitive_and_pvesh_verbs_are_understood() -> None:
    schema = get_schema()
    assert schema.resolve("post", "/nodes/pve1/qemu/100/status/start")[0].method == "POST"
    assert schema.resolve("create", "/nodes/pve1/qemu/100/snapshot")[0].method == "POST"
    assert schema.resolve("set", "/nodes/pve1/qemu/100/config")[0].method == "PUT"
    assert schema.resolve("delete", "/nodes/pve1/qemu/100")[0].method == "DELETE"
    with pytest.raises(UnknownEndpointError):
        schema.resolve("PATCH", "/nodes/pve1/qemu/100/config")


def test_methods_for_accepts_templates_and_concrete_paths() -> None:
    schema = get_schema()
    assert schema.methods_for("/nodes/{node}/qemu/{vmid}/config") == ["GET", "POST", "PUT"]
    assert schema.methods_for("/nodes/pve1/qemu/100/config") == ["GET", "POST", "PUT"]
    assert schema.methods_for("/nodes/{node}/qemu/{vmid}") == ["GET", "DELETE"]
    assert schema.methods_for("/nodes/pve1/nonexistent") == []
    assert schema.methods_for("/api2/json/nodes") == []
    assert schema.methods_for("/cluster/notifications/targets/{name}") == []  # a directory without methods
