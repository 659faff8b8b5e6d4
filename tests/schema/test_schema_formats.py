"""Named formats and PVE pattern translation, checked directly."""

from __future__ import annotations

import pytest

from proxmox_operator_mcp.schema import get_schema
from proxmox_operator_mcp.schema.formats import (
    FORMAT_SAMPLES,
    FormatError,
    check_named_format,
    is_implemented,
    perl_regex,
    split_list,
)

GOOD = [
    ("pve-vmid", "100"),
    ("pve-vmid", "999999999"),
    ("pve-node", "pve1"),
    ("pve-node", "a"),
    ("pve-node", "node-01"),
    ("pve-storage-id", "local-lvm"),
    ("pve-storage-id", "nfs.backup"),
    ("pve-configid", "before-upgrade"),
    ("pve-configid-list", "net0,ide2;scsi1"),
    ("pve-vmid-list", "100,101 102"),
    ("pve-storage-id-list", "local,local-lvm"),
    ("pve-userid", "root@pam"),
    ("pve-userid", "alice.smith@ldap-corp"),
    ("pve-tokenid", "root@pam!mcp"),
    ("pve-groupid", "ops.admins_1"),
    ("pve-realm", "pve"),
    ("pve-poolid", "prod"),
    ("pve-poolid", "prod/web/frontend"),
    ("pve-roleid", "PVEVMAdmin"),
    ("pve-priv-list", "VM.Audit,VM.PowerMgmt Sys.Audit"),
    ("pve-tag-list", "prod;web,db"),
    ("ipv4", "192.0.2.1"),
    ("ipv6", "2001:db8::1"),
    ("ipv6", "::ffff:192.0.2.1"),
    ("ip", "fe80::1"),
    ("CIDR", "10.0.0.0/8"),
    ("CIDRv6", "2001:db8::/32"),
    ("ipv4mask", "255.255.252.0"),
    ("IPorCIDR", "192.0.2.0/24"),
    ("IPorCIDRorAlias", "dc/mynet"),
    ("mac-addr", "BC:24:11:aa:bb:cc"),
    ("dns-name", "pve1.example.com"),
    ("address", "192.0.2.7"),
    ("address", "pve1.example.com"),
    ("email", "first.last+tag@example.com"),
    ("email-opt", ""),
    ("pve-bridge-id", "vmbr0"),
    ("pve-vlan-id-or-range-list", "10,20-30"),
    ("disk-size", "32G"),
    ("disk-size", "1.5T"),
    ("disk-size", "1024"),
    ("pve-hotplug-features", "0"),
    ("pve-hotplug-features", "network,disk,cpu,memory,usb,cloudinit"),
    ("pve-startup-order", "order=1,up=30,down=60"),
    ("pve-startup-order", "3"),
    ("pve-volume-id", "local:iso/debian.iso"),
    ("pve-volume-id-or-qm-path", "cdrom"),
    ("pve-volume-id-or-qm-path", "/dev/sdb"),
    ("pve-storage-portal-dns", "[2001:db8::1]:3260"),
    ("pve-storage-content-list", "images,rootdir"),
    ("storage-pair-list", "local:local-lvm,nfs"),
    ("pve-phys-bits", "host"),
    ("pve-phys-bits", "46"),
    ("pve-ha-resource-or-vm-id", "ct:200"),
    ("urlencoded", "a%20b"),
]

BAD = [
    ("pve-vmid", "99", "value does not look like a valid VM ID"),
    ("pve-vmid", "0100", "value does not look like a valid VM ID"),
    ("pve-node", "pve_1", "value does not look like a valid node name"),
    ("pve-node", "-pve", "value does not look like a valid node name"),
    ("pve-storage-id", "1local", "storage ID '1local' contains illegal characters"),
    ("pve-storage-id", "local-", "storage ID 'local-' contains illegal characters"),
    ("pve-configid", "a", "invalid configuration ID 'a'"),
    ("pve-configid-list", "net0,1bad", "invalid configuration ID '1bad'"),
    ("pve-vmid-list", "100,1", "value does not look like a valid VM ID"),
    ("pve-userid", "root", "value 'root' does not look like a valid user name"),
    ("pve-userid", "a@", "user name 'a@' is too short"),
    ("pve-userid", "bad:name@pam", "does not look like a valid user name"),
    ("pve-tokenid", "root@pam", "value 'root@pam' does not look like a valid token ID"),
    ("pve-groupid", "ops admins", "group name 'ops admins' contains invalid characters"),
    ("pve-realm", "1pve", "value does not look like a valid realm"),
    ("pve-poolid", "a/b/c/d", "pool name 'a/b/c/d' nested too deeply (max levels = 3)"),
    ("pve-poolid", "a b", "pool name 'a b' contains invalid characters"),
    ("pve-priv-list", "VM.Audit,VM.Fly", "invalid privilege 'VM.Fly'"),
    ("pve-tag-list", "ok;not-ok!", "invalid characters in tag"),
    ("ipv4", "192.0.2.256", "value does not look like a valid IPv4 address"),
    ("ipv6", "2001:db8:::1", "value does not look like a valid IPv6 address"),
    ("CIDR", "10.0.0.0/4", "value does not look like a valid CIDR network"),
    ("CIDRv4", "10.0.0.0", "value does not look like a valid IPv4 CIDR network"),
    ("ipv4mask", "255.0.255.0", "value does not look like a valid IP netmask"),
    ("IPorCIDR", "192.0.2.1/24", "has host bits set"),
    ("mac-addr", "01:00:5e:00:00:01", "value does not look like a valid unicast MAC address"),
    ("dns-name", "-bad.example.com", "value does not look like a valid DNS name"),
    ("email", "no-at-sign", "value does not look like a valid email address"),
    ("pve-vlan-id-or-range-list", "10,30-20", "VLAN range must go from lower to higher tag '30-20'"),
    ("pve-vlan-id-or-range-list", "1", "invalid VLAN tag '1'"),
    ("disk-size", "32GB", "value does not look like a valid disk size: 32GB"),
    ("pve-hotplug-features", "network,gpu", "invalid hotplug feature 'gpu'"),
    ("pve-startup-order", "order=first", "unable to parse startup options"),
    ("pve-volume-id", "debian.iso", "unable to parse volume ID 'debian.iso'"),
    ("pve-storage-content-list", "images,movies", "invalid content type 'movies'"),
    ("pve-phys-bits", "7", "value must be an integer between 8 and 64 or 'host'"),
    ("urlencoded", "a b", "invalid urlencoded string: a b"),
]


@pytest.mark.parametrize(("fmt", "value"), GOOD)
def test_valid_values_pass_their_named_format(fmt: str, value: str) -> None:
    check_named_format(fmt, value)


@pytest.mark.parametrize(("fmt", "value", "message"), BAD)
def test_invalid_values_fail_with_the_pve_message(fmt: str, value: str, message: str) -> None:
    with pytest.raises(FormatError) as info:
        check_named_format(fmt, value)
    assert message in str(info.value)


def test_unknown_named_formats_accept_anything() -> None:
    check_named_format("pve-calendar-event", "any text at all")
    check_named_format("no-such-format-list", "x,y")
    assert not is_implemented("pve-calendar-event")
    assert is_implemented("pve-vmid-list") and is_implemented("email-opt")


def test_every_format_sample_passes_its_own_format() -> None:
    for fmt, sample in FORMAT_SAMPLES.items():
        check_named_format(fmt, sample)


def test_split_list_splits_like_pve_tools() -> None:
    assert split_list("a,b;c d\te") == ["a", "b", "c", "d", "e"]
    assert split_list("  ,a,,") == ["a"]
    assert split_list("") == []
    assert split_list("a b\0c") == ["a b", "c"]


def test_perl_stringified_regexes_translate_to_python() -> None:
    assert perl_regex("(?^i:[a-z]+)").search("ABC")
    assert perl_regex("(?^u:[a-zA-Z0-9]{1,12})").search("vendor42")
    assert not perl_regex("(?^:^(0x)[0-9a-fA-F]{16})").search("0x123")
    assert perl_regex("[A-Za-z0-9\\-_\\s]{,8}").search("ab cd")
    assert not perl_regex("[A-Za-z0-9\\-_\\s]{,8}").search("abcdefghi")
    # anchored like m/^$pattern$/: the alternation is not grouped
    assert perl_regex("/dev/parport\\d+|/dev/usb/lp\\d+").search("/dev/parport0-anything")


def test_every_schema_pattern_compiles() -> None:
    patterns: set[str] = set()

    def collect(schema: object) -> None:
        if isinstance(schema, dict):
            if isinstance(schema.get("pattern"), str):
                patterns.add(schema["pattern"])
            for key in ("items", "additionalProperties"):
                collect(schema.get(key))
            for alt in schema.get("oneOf") or []:
                collect(alt)
            fmt = schema.get("format")
            if isinstance(fmt, dict):
                for sub in fmt.values():
                    collect(sub)

    for endpoint in get_schema().endpoints:
        for param in endpoint.parameters.values():
            collect(dict(param.raw))
    assert len(patterns) > 60
    for pattern in patterns:
        perl_regex(pattern)
