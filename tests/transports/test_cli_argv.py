"""The CLI plane's pure parts: pvesh argv building, argv checks, pvesh output parsing."""

from __future__ import annotations

import json

import pytest

from proxmox_operator_mcp.errors import InvalidArgumentError, SshError
from proxmox_operator_mcp.transports.cli import (
    ALLOWED_BINARIES,
    MAX_ARG_BYTES,
    MAX_ARGV_BYTES,
    build_pvesh_argv,
    method_to_pvesh_verb,
    parse_pvesh_output,
    resolve_argv,
    validate_argv,
)

UPID = "UPID:pve1:0000ABCD:00112233:65000000:qmstart:101:root@pam:"


@pytest.mark.parametrize(("method", "verb"), [("GET", "get"), ("post", "create"), ("PUT", "set"), ("Delete", "delete")])
def test_http_methods_map_to_pvesh_verbs(method: str, verb: str) -> None:
    assert method_to_pvesh_verb(method) == verb


def test_an_unknown_method_has_no_pvesh_verb() -> None:
    with pytest.raises(InvalidArgumentError):
        method_to_pvesh_verb("PATCH")


def test_pvesh_argv_encodes_params_like_the_rest_api() -> None:
    argv = build_pvesh_argv(
        "set",
        "/nodes/pve1/qemu/101/config",
        {"onboot": True, "balloon": False, "memory": 2048, "delete": "net1,ide2", "skip": None, "tags": ["a", "b"]},
    )
    assert argv == [
        "pvesh",
        "set",
        "/nodes/pve1/qemu/101/config",
        "--onboot=1",
        "--balloon=0",
        "--memory=2048",
        "--delete=net1,ide2",
        "--tags=a",
        "--tags=b",
        "--output-format",
        "json",
    ]


def test_a_value_that_looks_like_an_option_stays_bound_to_its_key() -> None:
    argv = build_pvesh_argv("set", "/nodes/pve1/qemu/101/config", {"description": "--delete everything; $(id)"})
    assert argv[3] == "--description=--delete everything; $(id)"


def test_worker_paths_with_upids_are_accepted() -> None:
    assert build_pvesh_argv("get", f"/nodes/pve1/tasks/{UPID}/status")[2] == f"/nodes/pve1/tasks/{UPID}/status"


@pytest.mark.parametrize("path", ["nodes", "/nodes/../etc", "/nodes/pve1 --x", "/nodes/pve1;id", "/a//b", "/x\n"])
def test_a_path_outside_the_api_tree_is_refused(path: str) -> None:
    with pytest.raises(InvalidArgumentError):
        build_pvesh_argv("get", path)


@pytest.mark.parametrize(
    "params", [{"bad key": 1}, {"-x": 1}, {"key\n": 1}, {"output-format": "text"}, {"conf": {"a": 1}}, {"x": [[1]]}]
)
def test_bad_parameters_are_refused(params: dict[str, object]) -> None:
    with pytest.raises(InvalidArgumentError):
        build_pvesh_argv("get", "/nodes", params)


def test_allowed_programs_resolve_to_their_full_paths_on_a_node() -> None:
    assert resolve_argv(["qm", "start", "101"]) == ["/usr/sbin/qm", "start", "101"]
    assert resolve_argv(["pvesh", "get", "/version"]) == ["/usr/bin/pvesh", "get", "/version"]
    assert resolve_argv(["pct", "list"], bare_names=True) == ["pct", "list"]
    assert set(ALLOWED_BINARIES) == {
        "pvesh", "qm", "pct", "pvesm", "pveam", "vzdump", "ha-manager", "pvecm", "pveum", "pvenode", "ceph",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "why"),
    [
        (["bash", "-c", "id"], "not a Proxmox command"),
        (["/usr/sbin/qm", "list"], "not a Proxmox command"),
        ("qm list", "not a string"),
        ([], "non-empty"),
        (["qm", 101], "not a string"),
        (["qm", "a\x00b"], "NUL"),
        (["qm", "x" * (MAX_ARG_BYTES + 1)], "bytes long"),
        (["qm", *["x" * MAX_ARG_BYTES] * 5], "the command is"),
        (["qm", "\ud800"], "not valid Unicode"),
    ],
)
def test_argv_checks_refuse_what_the_cli_plane_must_not_run(argv: object, why: str) -> None:
    with pytest.raises(InvalidArgumentError, match=why):
        validate_argv(argv)  # type: ignore[arg-type]
    assert MAX_ARGV_BYTES < 5 * MAX_ARG_BYTES


def test_pvesh_json_parses_to_the_rest_data_shape() -> None:
    data = [{"vmid": 101, "status": "running"}]
    assert parse_pvesh_output(json.dumps(data) + "\n") == data


def test_empty_pvesh_output_is_null() -> None:
    assert parse_pvesh_output("") is None
    assert parse_pvesh_output("\n") is None


def test_a_worker_call_yields_the_upid_after_the_task_output() -> None:
    out = 'Requesting HA start for VM 101\n{"weird": log line\n' + json.dumps(UPID) + "\n"
    assert parse_pvesh_output(out) == UPID


def test_pretty_printed_json_after_task_output_is_found_whole() -> None:
    value = {"a": [1, 2, {"b": None}], "c": "x"}
    out = "INFO: starting\n[not json\n" + json.dumps(value, indent=3) + "\n"
    assert parse_pvesh_output(out) == value


def test_output_without_json_is_an_error() -> None:
    with pytest.raises(SshError, match="did not print JSON"):
        parse_pvesh_output("┌──────┐\n│ node │\n")
