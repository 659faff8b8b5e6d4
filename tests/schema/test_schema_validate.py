"""Validating parameters the way PVE's JSONSchema does, with PVE's messages."""

from __future__ import annotations

from typing import Any

import pytest

from proxmox_operator_mcp.errors import SchemaValidationError, UnknownEndpointError
from proxmox_operator_mcp.schema import ValidatedRequest, get_schema

QEMU = "/nodes/pve1/qemu"
CONFIG = "/nodes/pve1/qemu/100/config"
START = "/nodes/pve1/qemu/100/status/start"
NOT_DEFINED = "property is not defined in schema and the schema does not allow additional properties"


def errors_of(method: str, path: str, params: dict[str, Any] | None) -> dict[str, str]:
    with pytest.raises(SchemaValidationError) as info:
        get_schema().validate(method, path, params)
    return info.value.errors


def ok(method: str, path: str, params: dict[str, Any] | None) -> ValidatedRequest:
    return get_schema().validate(method, path, params)


def test_a_valid_request_comes_back_resolved_and_normalised_for_the_wire() -> None:
    req = ok("POST", START, {"skiplock": True, "timeout": "30", "migration_type": "secure"})
    assert req.endpoint.path == "/nodes/{node}/qemu/{vmid}/status/start"
    assert req.method == "POST"
    assert req.path == START
    assert req.path_params == {"node": "pve1", "vmid": "100"}
    assert req.params == {"skiplock": 1, "timeout": 30, "migration_type": "secure"}


def test_no_parameters_at_all_is_fine_when_none_are_required() -> None:
    assert ok("GET", "/nodes/pve1/qemu/100/status/current", None).params == {}
    assert ok("GET", "/version", {}).params == {}


def test_unknown_parameter_is_rejected_with_pve_message() -> None:
    assert errors_of("POST", START, {"bogus": 1}) == {"bogus": NOT_DEFINED}


def test_unknown_parameter_is_rejected_on_an_endpoint_without_properties() -> None:
    assert errors_of("GET", "/version", {"full": 1}) == {"full": NOT_DEFINED}


def test_endpoints_that_allow_additional_properties_accept_them() -> None:
    assert ok("GET", "/nodes/pve1/qemu/100/agent", {"anything": "x"}).params == {"anything": "x"}


def test_missing_required_parameter_is_reported_as_not_optional() -> None:
    assert errors_of("POST", QEMU, {"cores": 2}) == {"vmid": "property is missing and it is not optional"}


def test_all_problems_are_reported_together() -> None:
    errors = errors_of("POST", QEMU, {"cores": "many", "bogus": 1, "ostype": "dos"})
    assert set(errors) == {"vmid", "cores", "bogus", "ostype"}
    assert errors["cores"] == "type check ('integer') failed - got 'many'"


def test_path_parameter_repeated_in_the_body_is_a_duplicate() -> None:
    assert errors_of("POST", START, {"vmid": 100}) == {"vmid": "duplicate parameter (already defined in URI)"}
    assert errors_of("POST", START, {"node": "pve1"}) == {"node": "duplicate parameter (already defined in URI)"}


def test_none_values_count_as_absent() -> None:
    assert ok("POST", START, {"timeout": None}).params == {}
    assert ok("POST", START, {"vmid": None}).params == {}
    assert errors_of("POST", QEMU, {"vmid": None}) == {"vmid": "property is missing and it is not optional"}


@pytest.mark.parametrize(("given", "sent"), [(5, 5), ("5", 5), ("+5", 5), ("-0", 0), (5.0, 5)])
def test_integers_accept_numbers_and_numeric_strings(given: Any, sent: int) -> None:
    assert ok("POST", START, {"timeout": given}).params == {"timeout": sent}


@pytest.mark.parametrize(("given", "shown"), [("abc", "abc"), ("1.5", "1.5"), (1.5, "1.5"), (True, "true"), ("", "")])
def test_integers_reject_anything_else_with_a_type_check_message(given: Any, shown: str) -> None:
    assert errors_of("POST", START, {"timeout": given}) == {"timeout": f"type check ('integer') failed - got '{shown}'"}


def test_numbers_accept_decimal_and_exponent_notation_and_are_sent_as_floats() -> None:
    assert ok("POST", QEMU, {"vmid": 101, "cpulimit": "0.5"}).params["cpulimit"] == 0.5
    assert ok("POST", QEMU, {"vmid": 101, "cpulimit": 2}).params["cpulimit"] == 2.0
    assert errors_of("POST", QEMU, {"vmid": 101, "cpulimit": "fast"}) == {
        "cpulimit": "type check ('number') failed - got 'fast'"
    }
    assert ok("POST", QEMU, {"vmid": 101, "cpulimit": "1e0"}).params["cpulimit"] == 1.0


@pytest.mark.parametrize(
    ("given", "sent"),
    [(True, 1), (False, 0), (1, 1), (0, 0), ("1", 1), ("0", 0), ("true", 1), ("False", 0), ("yes", 1),
     ("no", 0), ("on", 1), ("OFF", 0)],
)
def test_booleans_accept_the_usual_spellings_and_are_sent_as_0_or_1(given: Any, sent: int) -> None:
    assert ok("POST", START, {"skiplock": given}).params == {"skiplock": sent}


@pytest.mark.parametrize("given", ["maybe", 2, "", " 1"])
def test_booleans_reject_other_values(given: Any) -> None:
    errors = errors_of("POST", START, {"skiplock": given})
    assert errors["skiplock"].startswith("type check ('boolean') failed - got ")


def test_strings_reject_objects_and_booleans() -> None:
    assert errors_of("POST", QEMU, {"vmid": 101, "name": {"a": 1}}) == {
        "name": "type check ('string') failed - got HASH"
    }
    assert "type check ('string') failed" in errors_of("POST", QEMU, {"vmid": 101, "name": True})["name"]


def test_numbers_given_for_strings_are_sent_as_text() -> None:
    assert ok("POST", QEMU, {"vmid": 101, "description": 42}).params["description"] == "42"


def test_enum_violation_uses_pve_message() -> None:
    assert errors_of("POST", START, {"migration_type": "fast"}) == {
        "migration_type": "value 'fast' does not have a value in the enumeration 'secure, insecure'"
    }


def test_minimum_and_maximum_use_pve_messages() -> None:
    assert errors_of("POST", QEMU, {"vmid": 101, "cores": 0}) == {"cores": "value must have a minimum value of 1"}
    assert errors_of("POST", QEMU, {"vmid": 101, "cpulimit": 200}) == {
        "cpulimit": "value must have a maximum value of 128"
    }
    assert errors_of("POST", QEMU, {"vmid": 99}) == {"vmid": "invalid format - value does not look like a valid VM ID"}


def test_max_length_uses_pve_message() -> None:
    errors = errors_of("POST", "/nodes/pve1/qemu/100/snapshot", {"snapname": "s" * 41})
    assert errors == {"snapname": "value may only be 40 characters long"}


def test_pattern_mismatch_uses_pve_message() -> None:
    path = "/cluster/backup"
    base = {"storage": "local", "all": 1}
    assert errors_of("POST", path, {**base, "starttime": "7.30"}) == {
        "starttime": "value does not match the regex pattern"
    }
    assert ok("POST", path, {**base, "starttime": "7:30"}).params["starttime"] == "7:30"


def test_patterns_are_anchored_exactly_as_pve_pastes_them() -> None:
    # PVE checks m/^$pattern$/ without grouping, so a top-level alternation "X|none" means
    # "starts with X, or ends with none" - quirky, but it is what the server accepts.
    path = "/cluster/jobs/realm-sync/job1"
    base = {"schedule": "daily"}
    assert ok("PUT", path, {**base, "remove-vanished": "acl;entry"}).params["remove-vanished"] == "acl;entry"
    assert ok("PUT", path, {**base, "remove-vanished": "acl;bogus"}).params["remove-vanished"] == "acl;bogus"
    assert errors_of("PUT", path, {**base, "remove-vanished": "bogus"}) == {
        "remove-vanished": "value does not match the regex pattern"
    }


def test_property_string_keys_with_patterns_are_checked() -> None:
    assert ok("POST", QEMU, {"vmid": 101, "machine": "pc-q35-9.2+pve1"}).params["machine"] == "pc-q35-9.2+pve1"
    errors = errors_of("POST", QEMU, {"vmid": 101, "machine": "pc-i440fx-foo"})
    assert errors == {"machine": "invalid format - format error - machine.type: value does not match the regex pattern"}


def test_perl_case_insensitive_groups_in_patterns_are_honoured() -> None:
    # tags pattern uses (?^i:...) in the schema
    path = "/cluster/options"
    assert ok("PUT", path, {"registered-tags": "Prod;web"}).params["registered-tags"] == "Prod;web"
    assert errors_of("PUT", path, {"registered-tags": "bad tag!"}) == {
        "registered-tags": "value does not match the regex pattern"
    }


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [
        ("delete", "1bad", "invalid format - invalid configuration ID '1bad'"),
        ("tags", "good;b@d", "invalid format - invalid characters in tag"),
        ("hotplug", "network,gpu", "invalid format - invalid hotplug feature 'gpu'"),
        ("startup", "first", "invalid format - unable to parse startup options"),
        ("nameserver", "192.0.2.1 b@d", "invalid format - value does not look like a valid address: b@d"),
        ("bootdisk", "scsi31", "invalid format - invalid drive name 'scsi31'"),
        ("bootdisk", "efidisk0", "value does not match the regex pattern"),
    ],
)
def test_named_formats_are_checked_with_pve_messages(param: str, value: str, message: str) -> None:
    assert errors_of("PUT", CONFIG, {param: value}) == {param: message}


def test_list_formats_split_like_pve_and_accept_python_lists() -> None:
    assert ok("PUT", CONFIG, {"delete": "net1,ide0;scsi3 sata1"}).params["delete"] == "net1,ide0;scsi3 sata1"
    assert ok("PUT", CONFIG, {"delete": ["net1", "ide0"]}).params["delete"] == "net1,ide0"
    assert ok("PUT", CONFIG, {"delete": ""}).params["delete"] == ""


def test_array_parameters_take_a_list_or_a_single_value_and_check_each_item() -> None:
    path = "/cluster/bulk-action/guest/start"
    assert ok("POST", path, {"vms": [100, "101"]}).params == {"vms": ["100", "101"]}
    assert ok("POST", path, {"vms": 100}).params == {"vms": ["100"]}
    assert errors_of("POST", path, {"vms": [100, 42]}) == {
        "vms[1]": "invalid format - value does not look like a valid VM ID"
    }


def test_unknown_named_formats_accept_any_string() -> None:
    path = "/cluster/backup"
    params = {"schedule": "any text at all", "storage": "local", "all": 1}
    assert ok("POST", path, params).params["schedule"] == "any text at all"


def test_requires_reports_the_missing_companion_parameter() -> None:
    errors = errors_of("PUT", "/nodes/pve1/network/vmbr0", {"type": "bridge", "address": "192.0.2.10"})
    assert errors == {"netmask": "missing property - 'address' requires this property"}


def test_indexed_parameters_accept_concrete_names_within_their_bound() -> None:
    req = ok("PUT", CONFIG, {"net0": "virtio,bridge=vmbr0", "net31": "e1000", "scsi30": "local-lvm:vm-100-disk-1"})
    assert set(req.params) == {"net0", "net31", "scsi30"}


@pytest.mark.parametrize("name", ["net32", "scsi31", "ide4", "net[n]", "net01", "net"])
def test_indexed_parameters_out_of_bound_or_by_schema_name_are_unknown(name: str) -> None:
    errors = errors_of("PUT", CONFIG, {name: "virtio"})
    assert errors[name].startswith(NOT_DEFINED)


def test_an_out_of_range_index_gets_a_hint_with_the_valid_range() -> None:
    assert errors_of("PUT", CONFIG, {"net32": "virtio"}) == {"net32": f"{NOT_DEFINED} (use net0 .. net31)"}


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1"),
        ("net1", "model=virtio,bridge=vmbr1,tag=20,firewall=yes"),
        ("scsi0", "local-lvm:32,iothread=1,discard=on,ssd=1"),
        ("ide2", "none,media=cdrom"),
        ("ide2", "local:iso/debian-12.iso,media=cdrom"),
        ("agent", "1"),
        ("agent", "enabled=1,fstrim_cloned_disks=1,type=virtio"),
        ("ipconfig0", "ip=dhcp"),
        ("ipconfig0", "ip=192.0.2.10/24,gw=192.0.2.1,ip6=auto"),
        ("boot", "order=scsi0;ide2;net0"),
        ("cpu", "host,flags=+aes;-pcid"),
        ("memory", "4096"),
        ("efidisk0", "local-lvm:1,efitype=4m,pre-enrolled-keys=1"),
        ("serial0", "socket"),
        ("usb0", "host=1-1.2,usb3=1"),
    ],
)
def test_vm_property_strings_that_pve_accepts_pass(param: str, value: str) -> None:
    assert ok("PUT", CONFIG, {param: value}).params == {param: value}


@pytest.mark.parametrize(
    ("param", "value", "fragment"),
    [
        ("net0", "virtio,bridge=vmbr0,firewall=maybe", "net0.firewall: type check ('boolean') failed - got 'maybe'"),
        ("net0", "virtio,brige=vmbr0", "invalid key in comma-separated list property: brige"),
        ("net0", "bridge=vmbr0", "net0.model: property is missing and it is not optional"),
        ("net0", "virtio=01:00:00:00:00:00", "net0.macaddr: invalid format - value does not look like a valid unicast"),
        ("net0", "virtio,tag=5000", "net0.tag: value must have a maximum value of 4094"),
        ("net0", "virtio,virtio", "duplicate key in comma-separated list property: model"),
        ("scsi0", "local-lvm:32,cache=fast", "scsi0.cache: value 'fast' does not have a value"),
        ("ide2", "media=cdrom", "ide2.file: property is missing and it is not optional"),
        ("ipconfig0", "gw=192.0.2.1", "missing property - 'ipconfig0.gw' requires this property"),
        ("ipconfig0", "ip=192.0.2.10", "ipconfig0.ip: invalid format - value does not look like a valid ipv4"),
        ("boot", "order=scsi0;floppy0", "invalid boot device 'floppy0'"),
        ("memory", "8", "memory.current: value must have a minimum value of 16"),
        ("agent", "enabled=1,bogus=1", "invalid key in comma-separated list property: bogus"),
        ("cpu", "host,hidden=maybe", "cpu.hidden: type check ('boolean') failed - got 'maybe'"),
    ],
)
def test_vm_property_strings_are_checked_key_by_key(param: str, value: str, fragment: str) -> None:
    errors = errors_of("PUT", CONFIG, {param: value})
    assert list(errors) == [param]
    assert errors[param].startswith("invalid format - ")
    assert fragment in errors[param]


def test_container_property_strings_are_checked() -> None:
    path = "/nodes/pve1/lxc"
    params = {
        "vmid": 200,
        "ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
        "rootfs": "local-lvm:8",
        "mp0": "local-lvm:16,mp=/srv/data,backup=1",
        "net0": "name=eth0,bridge=vmbr0,ip=dhcp,ip6=auto",
        "features": "nesting=1,keyctl=1",
    }
    assert ok("POST", path, params).params["mp0"] == "local-lvm:16,mp=/srv/data,backup=1"
    errors = errors_of("POST", path, {**params, "net0": "bridge=vmbr0", "rootfs": "local-lvm:8,size=big"})
    assert "net0.name: property is missing and it is not optional" in errors["net0"]
    assert "rootfs.size: invalid format - value does not look like a valid disk size: big" in errors["rootfs"]


def test_property_strings_may_be_given_as_dicts_and_are_formatted_canonically() -> None:
    value = {"bridge": "vmbr0", "model": "virtio", "macaddr": "BC:24:11:00:00:01", "firewall": True}
    assert ok("PUT", CONFIG, {"net0": value}).params == {"net0": "virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1"}
    errors = errors_of("PUT", CONFIG, {"net0": {"model": "virtio", "colour": "red"}})
    assert errors == {"net0": "invalid format - invalid key 'colour'"}


def test_one_of_parameters_follow_their_type_property() -> None:
    path = "/cluster/sdn/fabrics/fabric/fab1"
    assert ok("PUT", path, {"protocol": "openfabric", "delete": ["hello_interval"]}).params["delete"] == [
        "hello_interval"
    ]
    errors = errors_of("PUT", path, {"protocol": "openfabric", "delete": ["area"]})
    assert "delete[0]" in errors and "does not have a value in the enumeration" in errors["delete[0]"]


def test_the_validated_path_has_plain_values_and_url_path_has_them_percent_encoded() -> None:
    upid = "UPID:pve1:0000C1D5:0006D7CE:65A0B1C2:qmstart:100:root@pam!mcp:"
    req = ok("GET", f"/nodes/pve1/tasks/{upid}/status", {})
    assert req.path_params["upid"] == upid
    assert req.path == f"/nodes/pve1/tasks/{upid}/status"
    assert req.url_path == (
        "/nodes/pve1/tasks/UPID%3Apve1%3A0000C1D5%3A0006D7CE%3A65A0B1C2%3Aqmstart%3A100%3Aroot%40pam%21mcp%3A/status"
    )
    again = ok("GET", req.url_path, {})
    assert again.path == req.path and again.path_params == req.path_params

    volume = ok("DELETE", "/nodes/pve1/storage/local/content/local:iso%2Fdebian-12.iso", {})
    assert volume.path_params["volume"] == "local:iso/debian-12.iso"
    assert volume.url_path == "/nodes/pve1/storage/local/content/local%3Aiso%2Fdebian-12.iso"


def test_an_unencoded_slash_in_a_value_gets_a_hint() -> None:
    with pytest.raises(UnknownEndpointError) as info:
        get_schema().resolve("GET", "/nodes/pve1/storage/local/content/local:iso/debian-12.iso")
    assert "%2F" in (info.value.hint or "")


def test_the_error_carries_method_path_and_a_hint() -> None:
    with pytest.raises(SchemaValidationError) as info:
        get_schema().validate("post", START, {"bogus": 1})
    err = info.value
    assert (err.method, err.path, err.code) == ("POST", START, "invalid_parameters")
    assert err.message == f"Parameter verification failed for POST {START}: bogus: {NOT_DEFINED}"
    assert err.to_dict()["errors"] == {"bogus": NOT_DEFINED}


def test_parameters_must_be_a_mapping_with_string_keys() -> None:
    with pytest.raises(SchemaValidationError):
        get_schema().validate("POST", START, ["skiplock"])  # type: ignore[arg-type]
    assert errors_of("POST", START, {"bad key": 1}) == {"bad key": "invalid parameter name"}
