"""Property strings: parsing and formatting as pve-common does, without any server."""

from __future__ import annotations

from typing import Any

import pytest

from proxmox_operator_mcp.schema import (
    PropertyStringError,
    format_property_string,
    get_schema,
    parse_property_string,
)
from proxmox_operator_mcp.schema.propstring import default_key, format_from_typetext, parse_boolean


def _format(method: str, template: str, param: str) -> dict[str, Any]:
    endpoint = get_schema().get(method, template)
    assert endpoint is not None
    fmt = endpoint.parameters[param].property_format
    assert fmt is not None
    return fmt


NET = _format("POST", "/nodes/{node}/qemu", "net[n]")
SCSI = _format("POST", "/nodes/{node}/qemu", "scsi[n]")
IDE = _format("POST", "/nodes/{node}/qemu", "ide[n]")
AGENT = _format("POST", "/nodes/{node}/qemu", "agent")
ROOTFS = _format("POST", "/nodes/{node}/lxc", "rootfs")
MP = _format("POST", "/nodes/{node}/lxc", "mp[n]")
LXC_NET = _format("POST", "/nodes/{node}/lxc", "net[n]")

SIMPLE = {
    "file": {"type": "string", "default_key": 1},
    "size": {"type": "string", "format": "disk-size", "optional": 1},
    "volume": {"alias": "file"},
    "backup": {"type": "boolean", "optional": 1},
    "count": {"type": "integer", "optional": 1, "minimum": 1},
}


def test_the_default_key_takes_a_value_without_key() -> None:
    assert parse_property_string("local-lvm:vm-100-disk-0,size=32G", SIMPLE) == {
        "file": "local-lvm:vm-100-disk-0",
        "size": "32G",
    }
    assert default_key(SIMPLE) == "file"


def test_an_alias_stores_its_value_under_the_aliased_key() -> None:
    assert parse_property_string("volume=local:iso/x.iso", SIMPLE) == {"file": "local:iso/x.iso"}


def test_booleans_accept_yes_no_and_integers_are_converted() -> None:
    assert parse_property_string("x,backup=yes,count=3", SIMPLE) == {"file": "x", "backup": 1, "count": 3}
    assert parse_property_string("x,backup=off", SIMPLE)["backup"] == 0
    assert [parse_boolean(v) for v in ("TRUE", "on", "0", "No", "2")] == [1, 1, 0, 0, None]


def test_a_key_alias_combines_two_keys_into_one_part() -> None:
    parsed = parse_property_string("virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1", NET)
    assert parsed == {"model": "virtio", "macaddr": "BC:24:11:00:00:01", "bridge": "vmbr0", "firewall": 1}
    assert format_property_string(parsed, NET) == "virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1"


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1", NET),
        ("e1000,bridge=vmbr1,link_down=1,tag=20", NET),
        ("local-lvm:vm-100-disk-0,discard=on,iothread=1,size=32G", SCSI),
        ("none,media=cdrom", IDE),
        ("1,fstrim_cloned_disks=1", AGENT),
        ("local-lvm:vm-200-disk-0,size=8G", ROOTFS),
        ("local-lvm:vm-200-disk-1,mp=/srv/data,backup=1,size=16G", MP),
        ("name=eth0,bridge=vmbr0,firewall=1,ip=dhcp,ip6=auto", LXC_NET),
    ],
)
def test_canonical_property_strings_round_trip(text: str, fmt: dict[str, Any]) -> None:
    assert format_property_string(parse_property_string(text, fmt), fmt) == text


def test_formatting_puts_the_default_key_first_then_required_keys_then_the_rest_sorted() -> None:
    values = {"tag": 20, "bridge": "vmbr0", "model": "virtio", "firewall": True, "rate": 12.5, "mtu": None}
    assert format_property_string(values, NET) == "virtio,bridge=vmbr0,firewall=1,rate=12.5,tag=20"


def test_formatting_writes_byte_sizes_in_the_largest_exact_unit() -> None:
    assert format_property_string({"file": "x", "size": 34359738368}, SIMPLE) == "x,size=32G"
    assert format_property_string({"file": "x", "size": 1536 * 1024}, SIMPLE) == "x,size=1536K"
    assert format_property_string({"file": "x", "size": "32G"}, SIMPLE) == "x,size=32G"
    assert format_property_string({"file": "x", "size": 1000}, SIMPLE) == "x,size=1000"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"file": "a,b"}, "illegal value with commas for file"),
        ({"file": "x", "colour": "red"}, "invalid key 'colour'"),
        ({"size": "1G"}, "file: property is missing and it is not optional"),
        ({"file": "x", "count": 0}, "count: value must have a minimum value of 1"),
    ],
)
def test_formatting_refuses_values_pve_would_refuse(values: dict[str, Any], message: str) -> None:
    with pytest.raises(PropertyStringError) as info:
        format_property_string(values, SIMPLE)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x,nope=1", "invalid key in comma-separated list property: nope"),
        ("x,size=1G,size=2G", "duplicate key in comma-separated list property: size"),
        ("x,y", "duplicate key in comma-separated list property: file"),
        ("x,size=", "missing key in comma-separated list property"),
        ("size=1G", "format error - file: property is missing and it is not optional"),
        ("x,size=lots", "size: invalid format - value does not look like a valid disk size: lots"),
        ("x,backup=maybe", "backup: type check ('boolean') failed - got 'maybe'"),
        ("x,count=0", "count: value must have a minimum value of 1"),
    ],
)
def test_parsing_errors_use_pve_messages(text: str, message: str) -> None:
    with pytest.raises(PropertyStringError) as info:
        parse_property_string(text, SIMPLE)
    assert message in str(info.value)


def test_a_value_without_key_needs_a_default_key() -> None:
    with pytest.raises(PropertyStringError, match="value without key, but schema does not define a default key"):
        parse_property_string("dhcp", {"ip": {"type": "string", "optional": 1}})


def test_key_errors_are_prefixed_with_the_parameter_path() -> None:
    with pytest.raises(PropertyStringError) as info:
        parse_property_string("virtio,tag=9999", NET, path="net0")
    assert info.value.message == "format error"
    assert info.value.errors == {"net0.tag": "value must have a maximum value of 4094"}


def test_blank_parts_are_ignored() -> None:
    assert parse_property_string("x,,backup=1,", SIMPLE) == {"file": "x", "backup": 1}
    assert parse_property_string("", {"ip": {"type": "string", "optional": 1}}) == {}


def test_a_format_can_be_rebuilt_from_pve_typetext() -> None:
    fmt = format_from_typetext(
        "[[cputype=]<string>] [,flags=<+FLAG[;-FLAG...]>] [,guest-phys-bits=<integer>] [,hidden=<1|0>] "
        "[,phys-bits=<8-64|host>] [,reported-model=<enum>]"
    )
    assert fmt["cputype"] == {"type": "string", "typetext": "<string>", "optional": 1, "default_key": 1}
    assert fmt["hidden"] == {"type": "boolean", "optional": 1}
    assert fmt["guest-phys-bits"]["type"] == "integer"
    assert "enum" not in fmt["phys-bits"]  # "8-64|host" is a description, not an enum
    remote = format_from_typetext(
        "apitoken=<PVEAPIToken=user@realm!token=SECRET> ,host=<ADDRESS> [,fingerprint=<FINGERPRINT>] [,port=<PORT>]"
    )
    assert sorted(remote) == ["apitoken", "fingerprint", "host", "port"]
    assert not remote["apitoken"].get("optional") and remote["port"]["optional"] == 1
    rng = format_from_typetext("[source=]</dev/urandom|/dev/random|/dev/hwrng> [,max_bytes=<integer>]")
    assert rng["source"]["enum"] == ["/dev/urandom", "/dev/random", "/dev/hwrng"]
    assert rng["source"]["default_key"] == 1 and not rng["source"].get("optional")
