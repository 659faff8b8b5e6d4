"""What a human reads before confirming, and what they must type."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from proxmox_operator_mcp.operation import Operation, api_op
from proxmox_operator_mcp.policy.confirm import (
    Confirm,
    build_confirmation,
    check_typed_answer,
    expected_answer,
    impact_line,
    target_label,
)

STOP = api_op("prod", "POST", "/nodes/pve1/qemu/101/status/stop", node="pve1",
              targets=("VM 101 (web1) on pve1",), tool="proxmox_vm_action", destructive=True)
STOP_UNNAMED = api_op("prod", "POST", "/nodes/pve1/qemu/102/status/stop", node="pve1",
                      targets=("VM 102 on pve1",), destructive=True)
RAW_DELETE = api_op("prod", "DELETE", "/nodes/pve1/qemu/103", targets=("/nodes/pve1/qemu/103",))
ACL = api_op("prod", "PUT", "/access/acl", {"path": "/", "roles": "Administrator", "users": "eve@pve"})


def test_a_hard_stop_names_the_guest_and_the_cost() -> None:
    assert impact_line(STOP) == "Hard power-off of VM 101 (web1) on pve1: unsaved data in the guest is lost"


def test_the_guest_is_named_from_the_path_when_the_tool_gave_no_target() -> None:
    assert target_label(RAW_DELETE) == "VM 103 on pve1"
    assert target_label(RAW_DELETE, names={103: "db1"}) == "VM 103 (db1) on pve1"
    ct = api_op("prod", "POST", "/nodes/pve2/lxc/200/status/stop")
    assert impact_line(ct) == "Hard power-off of container 200 on pve2: unsaved data in the guest is lost"


def test_the_human_types_the_guests_name_or_its_vmid() -> None:
    assert expected_answer([STOP]) == "web1"
    assert expected_answer([STOP_UNNAMED]) == "102"
    assert expected_answer([RAW_DELETE], names={103: "db1"}) == "db1"


def test_the_human_types_the_path_for_api_calls_without_a_guest() -> None:
    assert expected_answer([ACL]) == "/access/acl"
    assert impact_line(ACL).startswith("Changes access control lists")


def test_node_wide_commands_and_files_name_the_node_and_the_file() -> None:
    shell = Operation("prod", "shell", argv=("sh", "-c", "reboot"), node="pve3", read_only=False)
    assert expected_answer([shell]) == "pve3"
    assert impact_line(shell) == "Runs a shell command as root on node pve3"
    write = Operation("prod", "file", method="PUT", path="/etc/hosts", node="pve1", read_only=False)
    assert expected_answer([write]) == "/etc/hosts"
    assert impact_line(write) == "Writes the file /etc/hosts on pve1"
    reboot = api_op("prod", "POST", "/nodes/pve2/status", {"command": "reboot"})
    assert impact_line(reboot) == "Reboots or shuts down node pve2: every guest on it goes down"


def test_guest_names_cannot_smuggle_control_characters_into_the_prompt() -> None:
    sneaky = api_op("prod", "POST", "/nodes/pve1/qemu/104/status/stop",
                    targets=("VM 104 (web\u202e1\x1b[2J) on pve1",))
    assert expected_answer([sneaky]) == "web1[2J"
    assert "\u202e" not in impact_line(sneaky) and "\x1b" not in impact_line(sneaky)


def test_the_message_lists_every_operation_and_what_to_type() -> None:
    request = build_confirmation([STOP, STOP_UNNAMED], mode="admin")
    assert request.expected == "web1 102"
    assert request.message.splitlines() == [
        "Confirm on cluster prod (admin mode):",
        "- Hard power-off of VM 101 (web1) on pve1: unsaved data in the guest is lost",
        "  POST /nodes/pve1/qemu/101/status/stop",
        "- Hard power-off of VM 102 on pve1: unsaved data in the guest is lost",
        "  POST /nodes/pve1/qemu/102/status/stop",
        "Type web1 102 to confirm; anything else cancels.",
    ]


def test_nothing_to_confirm_is_an_error() -> None:
    with pytest.raises(ValueError):
        build_confirmation([])


@pytest.mark.parametrize(
    ("expected", "given", "ok"),
    [
        ("web1", "web1", True),
        ("web1", "  web1\n", True),
        ("web1", "Web1", False),
        ("web1", "web", False),
        ("web1", "yes", False),
        ("web1", "true", False),
        ("web1", "", False),
        ("web1", None, False),
        ("", "", False),
        ("café", "cafe\u0301", True),
    ],
)
def test_the_typed_answer_must_match_exactly(expected: str, given: str | None, ok: bool) -> None:
    assert check_typed_answer(expected, given) is ok


def test_the_elicited_answer_is_one_flat_string_field() -> None:
    schema = Confirm.model_json_schema()
    assert set(schema["properties"]) == {"confirm"}
    assert schema["properties"]["confirm"]["type"] == "string"
    with pytest.raises(ValidationError):
        Confirm.model_validate({"confirm": True})
    with pytest.raises(ValidationError):
        Confirm.model_validate({"confirm": "web1", "approved": True})
