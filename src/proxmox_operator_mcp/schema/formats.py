"""Named string formats of the PVE API schema, and PVE (Perl) regex patterns in Python.

PVE validates ``format => 'pve-vmid'`` and friends with functions registered through
``PVE::JSONSchema::register_format`` across its repositories (pve-common, qemu-server,
pve-container, pve-storage, pve-access-control, pve-firewall, ...). This module re-implements
the common ones with PVE's own regular expressions and error texts. A format name ending in
``-list`` is a list of the base format (split like ``PVE::Tools::split_list``: on commas,
semicolons and whitespace); one ending in ``-opt`` is only checked when non-empty. Named
formats that are not implemented here accept any string (see :data:`UNCHECKED_FORMATS`).

Everything here is pure and compiles its regular expressions lazily.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "FORMAT_SAMPLES",
    "FormatError",
    "IMPLEMENTED_FORMATS",
    "PROPERTY_FORMAT_VALIDATORS",
    "UNCHECKED_FORMATS",
    "add_privileges",
    "check_named_format",
    "is_implemented",
    "named_property_format",
    "perl_regex",
    "split_list",
]


class FormatError(ValueError):
    """A value does not match its named format. ``str(exc)`` is PVE's message."""


# --- Perl regular expressions -------------------------------------------------------------

_PERL_FLAG_GROUP = re.compile(r"\(\?\^([a-z]*):")


def _translate_perl(pattern: str) -> str:
    """Translate the Perl-isms that occur in PVE schema patterns to Python ``re`` syntax.

    ``(?^flags:...)`` (how Perl stringifies ``qr//``) becomes a scoped group with only the
    flags Python knows (``u``, Perl's Unicode flag, is Python's default); ``\\z`` becomes
    ``\\Z``. Python >= 3.11 already shares Perl's atomic groups, possessive quantifiers and
    ``{,n}`` counts (Perl >= 5.34, which PVE 9 ships), and ``$`` matches before a final
    newline in both.
    """

    def flags(m: re.Match[str]) -> str:
        kept = "".join(f for f in m.group(1) if f in "imsx")
        return f"(?{kept}:" if kept else "(?:"

    out = _PERL_FLAG_GROUP.sub(flags, pattern)
    return out.replace(r"\z", r"\Z")


@functools.lru_cache(maxsize=1024)
def perl_regex(pattern: str, anchored: bool = True) -> re.Pattern[str]:
    """Compile a PVE schema ``pattern``.

    With ``anchored`` it is matched the way ``check_prop`` does it: ``m/^$pattern$/``, i.e.
    the anchors are pasted around the pattern *without* a group, exactly as in Perl (so a
    top-level alternation ``a|b`` means "starts with a, or ends with b", as it does in PVE).
    """
    body = _translate_perl(pattern)
    return re.compile(f"^{body}$" if anchored else body)


# --- building blocks from PVE::Tools ------------------------------------------------------

_IPV4OCTET = r"(?:25[0-5]|(?:2[0-4]|1[0-9]|[1-9])?[0-9])"
IPV4RE = rf"(?:(?:{_IPV4OCTET}\.){{3}}{_IPV4OCTET})"
_H16 = r"(?:[0-9a-fA-F]{1,4})"
_LS32 = rf"(?:(?:{IPV4RE}|{_H16}:{_H16}))"
IPV6RE = (
    "(?:"
    rf"(?:(?:(?:{_H16}:){{6}}){_LS32})|"
    rf"(?:(?:::(?:{_H16}:){{5}}){_LS32})|"
    rf"(?:(?:(?:{_H16})?::(?:{_H16}:){{4}}){_LS32})|"
    rf"(?:(?:(?:(?:{_H16}:){{0,1}}{_H16})?::(?:{_H16}:){{3}}){_LS32})|"
    rf"(?:(?:(?:(?:{_H16}:){{0,2}}{_H16})?::(?:{_H16}:){{2}}){_LS32})|"
    rf"(?:(?:(?:(?:{_H16}:){{0,3}}{_H16})?::(?:{_H16}:){{1}}){_LS32})|"
    rf"(?:(?:(?:(?:{_H16}:){{0,4}}{_H16})?::){_LS32})|"
    rf"(?:(?:(?:(?:{_H16}:){{0,5}}{_H16})?::){_H16})|"
    rf"(?:(?:(?:(?:{_H16}:){{0,6}}{_H16})?::))"
    ")"
)
_EMAIL_USER_RE = r"[\w\+\-\~]+(\.[\w\+\-\~]+)*"
_EMAIL_RE = rf"{_EMAIL_USER_RE}@[a-zA-Z0-9\-]+(\.[a-zA-Z0-9\-]+)*"
_DNS_LABEL = r"([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)"
_REALM_RE = r"[A-Za-z][A-Za-z0-9\.\-_]+"
_USER_RE = r"[^\s:/]+"
_TAG_RE = r"[a-z0-9_][a-z0-9_\-\+\.]*"


@functools.lru_cache(maxsize=None)
def _rx(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(pattern, flags)


def _match(pattern: str, value: str, flags: int = 0) -> bool:
    return _rx(pattern, flags).match(value) is not None


def split_list(text: str) -> list[str]:
    """``PVE::Tools::split_list``: NUL-separated if it contains NUL, else split on ``,;`` and whitespace."""
    if "\0" in text:
        return text.split("\0")
    text = re.sub(r"[,;]", " ", text).lstrip()
    return [p for p in re.split(r"\s+", text) if p] if text else []


# --- validators: each takes the value and raises FormatError with PVE's message ------------

Validator = Callable[[str], None]


def _regex_validator(pattern: str, message: str, flags: int = 0) -> Validator:
    def check(value: str) -> None:
        if not _match(pattern, value, flags):
            raise FormatError(message.format(value=value))

    return check


def _verify_ipv4(value: str) -> bool:
    return _match(rf"^(?:{IPV4RE})$", value)


def _verify_ipv6(value: str) -> bool:
    return _match(rf"^(?:{IPV6RE})$", value)


def _verify_ip(value: str) -> bool:
    return _verify_ipv4(value) or _verify_ipv6(value)


def _verify_dns_name(value: str) -> bool:
    return _match(rf"^({_DNS_LABEL}\.)*{_DNS_LABEL}$", value)


def _cidr_prefix(value: str, ipre: str, low: int, high: int) -> bool:
    m = _rx(rf"^(?:{ipre})(?:/(\d+))$").match(value)
    return bool(m) and low < int(m.group(1)) <= high


def _check_ip(value: str) -> None:
    if not _verify_ip(value):
        raise FormatError("value does not look like a valid IP address")


def _check_ipv4(value: str) -> None:
    if not _verify_ipv4(value):
        raise FormatError("value does not look like a valid IPv4 address")


def _check_ipv6(value: str) -> None:
    if not _verify_ipv6(value):
        raise FormatError("value does not look like a valid IPv6 address")


_IPV4_MASKS = frozenset(
    ".".join(str((((0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF) >> shift) & 0xFF) for shift in (24, 16, 8, 0))
    for bits in range(33)
)


def _check_ipv4mask(value: str) -> None:
    if value not in _IPV4_MASKS:
        raise FormatError("value does not look like a valid IP netmask")


def _check_cidrv4(value: str) -> None:
    if not _cidr_prefix(value, IPV4RE, 7, 32):
        raise FormatError("value does not look like a valid IPv4 CIDR network")


def _check_cidrv6(value: str) -> None:
    if not _cidr_prefix(value, IPV6RE, 7, 128):
        raise FormatError("value does not look like a valid IPv6 CIDR network")


def _check_cidr(value: str) -> None:
    if not (_cidr_prefix(value, IPV4RE, 7, 32) or _cidr_prefix(value, IPV6RE, 7, 128)):
        raise FormatError("value does not look like a valid CIDR network")


def _check_full_range_cidr(value: str) -> None:
    if not (_cidr_prefix(value, IPV4RE, -1, 32) or _cidr_prefix(value, IPV6RE, -1, 128)):
        raise FormatError("value does not look like a valid CIDR network")


def _check_ip_or_cidr(value: str) -> None:
    # pve-firewall: the address syntax, then Net::IP, which refuses host bits in a network.
    m = _rx(rf"^(?:{IPV6RE}|{IPV4RE})(/(\d+))?$").match(value)
    if not m:
        raise FormatError("value does not look like a valid IP address or CIDR network")
    import ipaddress  # only needed here; keeps importing this module cheap

    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise FormatError(str(exc)) from None


def _check_ip_or_cidr_or_alias(value: str) -> None:
    if _match(r"^(?:(?:(?:dc|guest|vnet)/)?[A-Za-z][A-Za-z0-9\-\_]+)$", value):
        return
    _check_ip_or_cidr(value)


def _check_ipv4_config(value: str) -> None:
    if not (value in ("dhcp", "manual") or _cidr_prefix(value, IPV4RE, 7, 32)):
        raise FormatError("value does not look like a valid ipv4 network configuration")


def _check_ipv6_config(value: str) -> None:
    if not (value in ("auto", "dhcp", "manual") or _cidr_prefix(value, IPV6RE, 7, 128)):
        raise FormatError("value does not look like a valid ipv6 network configuration")


def _check_address(value: str) -> None:
    if not (_verify_ip(value) or _verify_dns_name(value)):
        raise FormatError(f"value does not look like a valid address: {value}")


def _check_dns_name(value: str) -> None:
    if not _verify_dns_name(value):
        raise FormatError("value does not look like a valid DNS name")


def _check_storage_server(value: str) -> None:
    if not (_verify_ip(value) or _verify_dns_name(value)):
        raise FormatError("value does not look like a valid server name or IP address")


def _check_portal_dns(value: str) -> None:
    # PVE::Tools::parse_host_and_port: IPv4 or host name with optional ":port", "[IPv6]"
    # with optional ":port", or IPv6 with an optional ".port".
    if not (
        _match(rf"^({IPV4RE}|[a-zA-Z0-9\-.]+)(?::(\d+))?$", value)
        or _match(rf"^\[({IPV6RE})\](?::(\d+))?$", value)
        or _match(rf"^({IPV6RE})(?:\.(\d+))?$", value)
    ):
        raise FormatError("value does not look like a valid portal address")


def _check_email(value: str) -> None:
    if not _match(rf"^{_EMAIL_RE}$", value):
        raise FormatError("value does not look like a valid email address")


def _check_email_or_username(value: str) -> None:
    if not (_match(rf"^{_EMAIL_RE}$", value) or _match(rf"^{_EMAIL_USER_RE}$", value)):
        raise FormatError("value does not look like a valid email address or user name")


def _check_userid(value: str) -> None:
    if len(value) < 3:
        raise FormatError(f"user name '{value}' is too short")
    if len(value) > 64:
        raise FormatError(f"user name '{value}' is too long ({len(value)} > 64)")
    if not _match(rf"^({_USER_RE})\@({_REALM_RE})$", value):
        raise FormatError(f"value '{value}' does not look like a valid user name")


def _check_tokenid(value: str) -> None:
    if not _match(rf"^(({_USER_RE})\@({_REALM_RE}))!({_REALM_RE})$", value):
        raise FormatError(f"value '{value}' does not look like a valid token ID")


def _check_poolid(value: str) -> None:
    # pve-access-control (nested pools since PVE 8.1): up to three levels joined by '/'.
    if len(value.split("/")) > 3:
        raise FormatError(f"pool name '{value}' nested too deeply (max levels = 3)")
    if not _match(r"^[A-Za-z0-9\.\-_]+(?:/[A-Za-z0-9\.\-_]+){0,2}$", value):
        raise FormatError(f"pool name '{value}' contains invalid characters")


def _check_startup_order(value: str) -> None:
    ok = bool(value)
    for part in value.split(","):
        if re.match(r"^\s*$", part):
            continue
        if not re.match(r"^(?:(?:order=)?\d+|up=\d+|down=\d+)$", part):
            ok = False
    if not ok:
        raise FormatError("unable to parse startup options")


def _check_disk_size(value: str) -> None:
    if not re.match(r"^(\d+(\.\d+)?)([KMGT])?$", value):
        raise FormatError(f"value does not look like a valid disk size: {value}")


def _check_vlan_id_or_range(value: str) -> None:
    m = re.match(r"^(\d+)(?:-(\d+))?$", value)
    if not m:
        raise FormatError(f"invalid VLAN configuration '{value}'")
    for tag in (m.group(1), m.group(2)):
        if tag is not None and not 2 <= int(tag) <= 4094:
            raise FormatError(f"invalid VLAN tag '{tag}'")
    if m.group(2) and int(m.group(1)) >= int(m.group(2)):
        raise FormatError(f"VLAN range must go from lower to higher tag '{value}'")


_HOTPLUG = frozenset({"network", "disk", "cpu", "memory", "usb", "cloudinit"})


def _check_hotplug(value: str) -> None:
    if value in ("0", "1"):
        return
    for feature in value.split(","):
        if feature not in _HOTPLUG:
            raise FormatError(f"invalid hotplug feature '{feature}'")


_BOOTDEV_MAX = {"ide": 3, "sata": 5, "scsi": 30, "virtio": 15, "net": 31, "usb": 13, "hostpci": 15}


def _check_bootdev(value: str) -> None:
    m = re.match(r"^([a-z]+)(\d+)$", value)
    if not m or m.group(1) not in _BOOTDEV_MAX or int(m.group(2)) > _BOOTDEV_MAX[m.group(1)]:
        raise FormatError(f"invalid boot device '{value}'")


_DRIVE_MAX = {"ide": 3, "sata": 5, "scsi": 30, "virtio": 15, "efidisk": 0, "tpmstate": 0}


def _check_drive_name(value: str) -> None:
    # qemu-server verify_bootdisk -> PVE::QemuServer::Drive::is_valid_drivename
    m = re.match(r"^([a-z]+)(\d+)$", value)
    if not m or m.group(1) not in _DRIVE_MAX or int(m.group(2)) > _DRIVE_MAX[m.group(1)]:
        raise FormatError(f"invalid drive name '{value}'")


def _check_phys_bits(value: str) -> None:
    if value == "host":
        return
    if not re.match(r"^\d+$", value) or not 8 <= int(value) <= 64:
        raise FormatError("value must be an integer between 8 and 64 or 'host'")


_STORAGE_CONTENT = frozenset(
    {"images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import", "none"}
)


def _check_storage_content(value: str) -> None:
    if value not in _STORAGE_CONTENT:
        raise FormatError(f"invalid content type '{value}'")


def _check_volume_id(value: str) -> None:
    if not _match(r"^([a-z][a-z0-9\-\_\.]*[a-z0-9]):(.+)$", value, re.I | re.S):
        raise FormatError(f"unable to parse volume ID '{value}'")


def _check_volume_id_or_qm_path(value: str) -> None:
    if value in ("none", "cdrom") or value.startswith("/"):
        return
    _check_volume_id(value)


def _check_volume_id_or_absolute_path(value: str) -> None:
    if value.startswith("/"):
        return
    _check_volume_id(value)


def _check_storage_path(value: str) -> None:
    if not re.match(r"^/[^;\(\)]+", value):
        raise FormatError("value does not look like a valid absolute path")


def _check_dir_override(value: str) -> None:
    m = re.match(r"^([a-z]+)=([^.]*(?:\.?[^.]+)+)$", value)
    if m and m.group(1) in _STORAGE_CONTENT:
        rel = m.group(2)
        if len(rel) < 1023 and not any(len(p) >= 255 for p in rel.split("/")):
            return
    raise FormatError(f"invalid override '{value}'")


def _check_id_pair(id_check: Validator) -> Validator:
    # storage-pair / bridge-pair: one list entry is '1', 'source:target' or a default target.
    def check(value: str) -> None:
        if value == "1":
            return
        m = re.match(r"^([^:]+):([^:]+)$", value)
        try:
            for part in m.groups() if m else (value,):
                id_check(part)
        except FormatError as exc:
            raise FormatError(f"entry '{value}' contains invalid ID - {exc}") from None

    return check


def _check_privilege(privileges: frozenset[str]) -> Validator:
    def check(value: str) -> None:
        if value not in privileges:
            raise FormatError(f"invalid privilege '{value}'")

    return check


def _check_cpuset(value: str) -> None:
    if not re.match(r"^\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*$", value):
        raise FormatError(f"invalid cpuset '{value}'")


def _check_ha_resource_or_vm_id(value: str) -> None:
    if not re.match(r"^(?:(?:vm|ct):)?[1-9][0-9]{2,8}$|^[a-z]+:\S+$", value):
        raise FormatError(f"unable to parse service id '{value}'")


def _check_ha_node(value: str) -> None:
    if not _match(rf"^{_DNS_LABEL}(?::\d+)?$", value):
        raise FormatError(f"invalid node '{value}'")


_ID = r"^[a-z][a-z0-9\-\_\.]*[a-z0-9]$"

# Privileges of PVE 9 (pve-access-control $privgroups); the loaded schema adds any others it
# names in its permission checks.
_PRIVILEGES: frozenset[str] = frozenset(
    """VM.Allocate VM.Audit VM.Backup VM.Clone VM.Config.CDROM VM.Config.CPU VM.Config.Cloudinit
    VM.Config.Disk VM.Config.HWType VM.Config.Memory VM.Config.Network VM.Config.Options
    VM.Console VM.GuestAgent.Audit VM.GuestAgent.FileRead VM.GuestAgent.FileSystemMgmt
    VM.GuestAgent.FileWrite VM.GuestAgent.Unrestricted VM.Migrate VM.PowerMgmt VM.Replicate
    VM.Snapshot VM.Snapshot.Rollback Sys.AccessNetwork Sys.Audit Sys.Console Sys.Incoming
    Sys.Modify Sys.PowerMgmt Sys.Syslog Datastore.Allocate Datastore.AllocateSpace
    Datastore.AllocateTemplate Datastore.Audit SDN.Allocate SDN.Audit SDN.Use Mapping.Audit
    Mapping.Modify Mapping.Use Pool.Allocate Pool.Audit User.Modify Group.Allocate
    Realm.Allocate Realm.AllocateUser Permissions.Modify""".split()
)


def _build_validators(privileges: frozenset[str]) -> dict[str, Validator]:
    storage_id = _regex_validator(_ID, "storage ID '{value}' contains illegal characters", re.I)
    bridge_id = _regex_validator(r"^[-_.\w\d]+$", "invalid bridge ID '{value}'")
    return {
        "string": lambda value: None,
        "regex": lambda value: None,
        "urlencoded": _regex_validator(r"^[-%a-zA-Z0-9_.!~*'()]*$", "invalid urlencoded string: {value}"),
        "pve-configid": _regex_validator(
            r"^[a-z][a-z0-9_-]+$", "invalid configuration ID '{value}'", re.I
        ),
        "pve-storage-id": storage_id,
        "acme-plugin-id": _regex_validator(_ID, "ACME plugin ID '{value}' contains illegal characters", re.I),
        "pve-bridge-id": bridge_id,
        "pve-bridge": bridge_id,
        "pve-vmid": _regex_validator(r"^[1-9][0-9]{2,8}$", "value does not look like a valid VM ID"),
        "pve-node": _regex_validator(
            r"^([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)$", "value does not look like a valid node name"
        ),
        "pve-ha-node": _check_ha_node,
        "storage-pair": _check_id_pair(storage_id),
        "bridge-pair": _check_id_pair(bridge_id),
        "mac-addr": _regex_validator(
            r"^[a-f0-9][02468ace](?::[a-f0-9]{2}){5}$",
            "value does not look like a valid unicast MAC address",
            re.I,
        ),
        "mac-prefix": _regex_validator(
            r"^[a-f0-9][02468ace](?::[a-f0-9]{2}){0,2}:?$",
            "value is not a valid unicast MAC address prefix",
            re.I,
        ),
        "ipv4": _check_ipv4,
        "ipv6": _check_ipv6,
        "ip": _check_ip,
        "ipv4mask": _check_ipv4mask,
        "CIDRv4": _check_cidrv4,
        "CIDRv6": _check_cidrv6,
        "CIDR": _check_cidr,
        "FullRangeCIDR": _check_full_range_cidr,
        "IPorCIDR": _check_ip_or_cidr,
        "IPorCIDRorAlias": _check_ip_or_cidr_or_alias,
        "pve-ipv4-config": _check_ipv4_config,
        "pve-ipv6-config": _check_ipv6_config,
        "address": _check_address,
        "dns-name": _check_dns_name,
        "email": _check_email,
        "email-or-username": _check_email_or_username,
        "ldap-simple-attr": _regex_validator(
            r"^[a-zA-Z0-9]+$", "value '{value}' does not look like a simple ldap attribute name"
        ),
        "pve-iface": _regex_validator(
            r"^[a-z][a-z0-9_]{1,20}([:\.]\d+)?$", "invalid network interface name '{value}'", re.I
        ),
        "pve-vlan-id-or-range": _check_vlan_id_or_range,
        "pve-vlan-id": _check_vlan_id_or_range,
        "disk-size": _check_disk_size,
        "pve-startup-order": _check_startup_order,
        "pve-tag": _regex_validator(rf"^{_TAG_RE}$", "invalid characters in tag", re.I),
        "pve-task-status-type": _regex_validator(
            r"^(ok|error|warning|unknown)$", "invalid status '{value}'", re.I
        ),
        "pve-day-of-week": _regex_validator(
            r"^(mon|tue|wed|thu|fri|sat|sun)$", "invalid day of week '{value}'"
        ),
        "pve-userid": _check_userid,
        "pve-tokenid": _check_tokenid,
        "pve-realm": _regex_validator(rf"^{_REALM_RE}$", "value does not look like a valid realm"),
        "pve-groupid": _regex_validator(
            r"^[A-Za-z0-9\.\-_]+$", "group name '{value}' contains invalid characters"
        ),
        "pve-roleid": _regex_validator(
            r"^[A-Za-z0-9\.\-_]+$", "role name '{value}' contains invalid characters"
        ),
        "pve-poolid": _check_poolid,
        "pve-priv": _check_privilege(privileges),
        "pve-hotplug-features": _check_hotplug,
        "pve-qm-bootdev": _check_bootdev,
        "pve-qm-bootdisk": _check_drive_name,
        "pve-phys-bits": _check_phys_bits,
        "pve-cpuset": _check_cpuset,
        "pve-ha-resource-or-vm-id": _check_ha_resource_or_vm_id,
        "pve-ha-resource-id": _check_ha_resource_or_vm_id,
        "pve-replication-job-id": _regex_validator(
            r"^(\d+)-(\d+)$", "replication job ID '{value}' invalid"
        ),
        "pve-storage-path": _check_storage_path,
        "pve-storage-server": _check_storage_server,
        "pve-storage-portal-dns": _check_portal_dns,
        "pve-storage-vgname": _regex_validator(
            r"^[a-z0-9][a-z0-9\-\_\.]*[a-z0-9]$", "lvm name '{value}' contains illegal characters", re.I
        ),
        "pve-storage-content": _check_storage_content,
        "pve-storage-options": _regex_validator(r"^\S+$", "invalid options '{value}'"),
        "pve-storage-zfs-blocksize": _regex_validator(
            r"^\d+[kKmM]?$", "invalid block size '{value}'"
        ),
        "pve-volume-id": _check_volume_id,
        "pve-volume-id-or-qm-path": _check_volume_id_or_qm_path,
        "pve-volume-id-or-absolute-path": _check_volume_id_or_absolute_path,
        "pve-dir-override": _check_dir_override,
    }


_validators: dict[str, Validator] | None = None


def _get_validators() -> dict[str, Validator]:
    global _validators
    if _validators is None:
        _validators = _build_validators(_PRIVILEGES)
    return _validators


def add_privileges(names: set[str] | frozenset[str]) -> None:
    """Extend the known privilege set (the loader passes the ones the schema names)."""
    global _PRIVILEGES, _validators
    extra = frozenset(names) - _PRIVILEGES
    if extra:
        _PRIVILEGES = _PRIVILEGES | extra
        _validators = None


IMPLEMENTED_FORMATS: frozenset[str] = frozenset(_build_validators(_PRIVILEGES))

# Named formats used by the 9.2 schema that accept any string here (their PVE validators need
# host state such as zone.tab, or are too intricate to be worth mirroring).
UNCHECKED_FORMATS: frozenset[str] = frozenset(
    {
        "graphite-path",
        "lxc-ip-with-ll-iface",
        "pem-certificate",
        "pem-certificate-chain",
        "pem-string",
        "pve-acme-alias",
        "pve-acme-domain",
        "pve-calendar-event",
        "pve-command-batch",
        "pve-ct-timezone",
        "pve-fw-addr-spec",
        "pve-fw-conntrack-helper",
        "pve-fw-dport-spec",
        "pve-fw-icmp-type-spec",
        "pve-fw-protocol-spec",
        "pve-fw-sport-spec",
        "pve-lxc-dev-string",
        "pve-lxc-mp-string",
        "pve-sdn-bgp-rt",
        "pve-sdn-dhcp-range",
        "pve-sdn-fabric-id",
        "pve-sdn-fabric-wireguard-interface",
        "pve-sdn-isis-net",
        "pve-sdn-prefix-list-id",
        "pve-sdn-route-map-id",
        "pve-sdn-subnet-id",
        "pve-storage-path-in-property-string",
    }
)


def _split_format_name(fmt: str) -> tuple[str, str]:
    m = re.match(r"^(.*?)(?:-(list|opt))?$", fmt)
    assert m is not None
    return m.group(1), m.group(2) or "none"


def is_implemented(fmt: str) -> bool:
    """Whether a named string format is checked (its base name, for ``-list``/``-opt``)."""
    base, _ = _split_format_name(fmt)
    return base in IMPLEMENTED_FORMATS or fmt in IMPLEMENTED_FORMATS


def check_named_format(fmt: str, value: str) -> None:
    """Check ``value`` against the named string format ``fmt`` as ``check_format`` does.

    Raises:
        FormatError: with PVE's message (without the ``invalid format -`` prefix).
    """
    validators = _get_validators()
    if fmt in validators:
        validators[fmt](value)
        return
    base, kind = _split_format_name(fmt)
    check = validators.get(base)
    if check is None:
        return  # not implemented: accept, like an unchecked registered format
    if kind == "list":
        for item in split_list(value):
            check(item)
    elif kind == "opt":
        if value:
            check(value)
    else:
        check(value)


# --- named property-string formats ---------------------------------------------------------

# Named hash formats (registered with a dict, referenced by name) whose dict the API dump does
# not carry. For these the keys come from qemu-server/pve-common; the others are derived from
# the `typetext` PVE generated from the dict (see :func:`propstring.format_from_typetext`).
_MANUAL_PROPERTY_FORMATS: dict[str, dict[str, dict[str, Any]]] = {
    "pve-qm-ipconfig": {
        "ip": {
            "type": "string",
            "format": "pve-ipv4-config",
            "format_description": "IPv4Format/CIDR",
            "description": "IPv4 address in CIDR format.",
            "optional": 1,
        },
        "gw": {
            "type": "string",
            "format": "ipv4",
            "format_description": "GatewayIPv4",
            "description": "Default gateway for IPv4 traffic.",
            "optional": 1,
            "requires": "ip",
        },
        "ip6": {
            "type": "string",
            "format": "pve-ipv6-config",
            "format_description": "IPv6Format/CIDR",
            "description": "IPv6 address in CIDR format.",
            "optional": 1,
        },
        "gw6": {
            "type": "string",
            "format": "ipv6",
            "format_description": "GatewayIPv6",
            "description": "Default gateway for IPv6 traffic.",
            "optional": 1,
            "requires": "ip6",
        },
    },
    "pve-qm-boot": {
        "legacy": {
            "optional": 1,
            "type": "string",
            "default_key": 1,
            "pattern": "[acdn]{1,4}",
            "format_description": "[acdn]{1,4}",
            "description": "Boot on floppy (a), hard disk (c), CD-ROM (d), or network (n). "
            "Deprecated, use 'order=' instead.",
        },
        "order": {
            "optional": 1,
            "type": "string",
            "format": "pve-qm-bootdev-list",
            "format_description": "device[;device...]",
            "description": "The guest will attempt to boot from devices in the order they appear here.",
        },
    },
    "prune-backups": {
        "keep-all": {
            "type": "boolean",
            "optional": 1,
            "description": "Keep all backups. Conflicts with the other options when true.",
        },
        **{
            f"keep-{what}": {
                "type": "integer",
                "minimum": 1,
                "optional": 1,
                "format_description": "N",
                "description": f"Keep the last <N> {what} backups.",
            }
            for what in ("last", "hourly", "daily", "weekly", "monthly", "yearly")
        },
    },
    "pve-tfa-config": {
        "type": {
            "description": "The type of 2nd factor authentication.",
            "format_description": "TFATYPE",
            "type": "string",
            "enum": ["yubico", "oath"],
        },
        "id": {"description": "Yubico API ID.", "format_description": "ID", "type": "string", "optional": 1},
        "key": {"description": "Yubico API Key.", "format_description": "KEY", "type": "string", "optional": 1},
        "url": {"description": "Yubico API URL.", "format_description": "URL", "type": "string", "optional": 1},
        "digits": {
            "description": "TOTP digits.",
            "format_description": "COUNT",
            "type": "integer",
            "minimum": 6,
            "maximum": 8,
            "default": 6,
            "optional": 1,
        },
        "step": {
            "description": "TOTP time period.",
            "format_description": "SECONDS",
            "type": "integer",
            "minimum": 10,
            "default": 30,
            "optional": 1,
        },
    },
    "realm-sync-options": {
        "scope": {
            "description": "Select what to sync.",
            "type": "string",
            "enum": ["users", "groups", "both"],
            "optional": 1,
        },
        "remove-vanished": {
            "description": "A semicolon-separated list of things to remove when they or the user "
            "vanishes during a sync.",
            "type": "string",
            "default": "none",
            "typetext": "([acl];[properties];[entry])|none",
            "pattern": "(?:(?:(?:acl|properties|entry);)*(?:acl|properties|entry))|none",
            "optional": 1,
        },
        "full": {"description": "DEPRECATED: use 'remove-vanished' instead.", "type": "boolean", "optional": 1},
        "enable-new": {
            "description": "Enable newly synced users immediately.",
            "type": "boolean",
            "default": 1,
            "optional": 1,
        },
        "purge": {"description": "DEPRECATED: use 'remove-vanished' instead.", "type": "boolean", "optional": 1},
    },
}

# Validators PVE attaches to a named hash format; they run after the keys are checked.
def _prune_backups_validator(values: Mapping[str, Any]) -> None:
    if str(values.get("keep-all", "0")) == "1" and any(k != "keep-all" for k in values):
        raise FormatError("keep-all cannot be set together with other options.")


PROPERTY_FORMAT_VALIDATORS: dict[str, Callable[[Mapping[str, Any]], None]] = {
    "prune-backups": _prune_backups_validator,
}


@functools.lru_cache(maxsize=None)
def _derived_format(name: str, typetext: str) -> dict[str, dict[str, Any]] | None:
    from .propstring import format_from_typetext  # cycle: propstring uses this module

    return format_from_typetext(typetext)


def named_property_format(name: str, typetext: str | None = None) -> dict[str, dict[str, Any]] | None:
    """The key dictionary of a named property-string format, or ``None`` if it is not one.

    Known dictionaries come first; otherwise the keys are derived from the ``typetext`` the
    schema shows for the parameter (keys, optional flags, the default key, booleans and
    integers; other values are accepted as strings).
    """
    if name in _MANUAL_PROPERTY_FORMATS:
        return _MANUAL_PROPERTY_FORMATS[name]
    if name in IMPLEMENTED_FORMATS or name in UNCHECKED_FORMATS or not typetext or "=" not in typetext:
        return None
    if name.endswith(("-list", "-opt")) and _split_format_name(name)[0] in IMPLEMENTED_FORMATS:
        return None
    return _derived_format(name, typetext)


# --- sample values ------------------------------------------------------------------------

# A valid example per named format (for documentation, the corpus and the simulator).
FORMAT_SAMPLES: dict[str, str] = {
    "string": "example",
    "urlencoded": "example",
    "pve-configid": "example",
    "pve-storage-id": "local-lvm",
    "acme-plugin-id": "standalone",
    "pve-bridge-id": "vmbr0",
    "pve-bridge": "vmbr0",
    "pve-vmid": "100",
    "pve-node": "pve1",
    "pve-ha-node": "pve1:2",
    "storage-pair": "local-lvm:local-zfs",
    "bridge-pair": "vmbr0:vmbr1",
    "mac-addr": "BC:24:11:00:00:01",
    "mac-prefix": "BC:24:11",
    "ipv4": "192.0.2.10",
    "ipv6": "2001:db8::10",
    "ip": "192.0.2.10",
    "ipv4mask": "255.255.255.0",
    "CIDRv4": "192.0.2.0/24",
    "CIDRv6": "2001:db8::/64",
    "CIDR": "192.0.2.0/24",
    "FullRangeCIDR": "192.0.2.0/24",
    "IPorCIDR": "192.0.2.0/24",
    "IPorCIDRorAlias": "192.0.2.10",
    "pve-ipv4-config": "192.0.2.10/24",
    "pve-ipv6-config": "2001:db8::10/64",
    "address": "pve1.example.com",
    "dns-name": "pve1.example.com",
    "email": "admin@example.com",
    "email-or-username": "admin@example.com",
    "ldap-simple-attr": "uid",
    "pve-iface": "eth0",
    "pve-vlan-id-or-range": "100",
    "pve-vlan-id": "100",
    "disk-size": "32G",
    "pve-startup-order": "order=1,up=30",
    "pve-tag": "prod",
    "pve-task-status-type": "ok",
    "pve-day-of-week": "mon",
    "pve-userid": "alice@pve",
    "pve-tokenid": "alice@pve!mcp",
    "pve-realm": "pve",
    "pve-groupid": "admins",
    "pve-roleid": "PVEAuditor",
    "pve-poolid": "prod",
    "pve-priv": "VM.Audit",
    "pve-hotplug-features": "network,disk,usb",
    "pve-qm-bootdev": "scsi0",
    "pve-qm-bootdisk": "scsi0",
    "pve-phys-bits": "host",
    "pve-cpuset": "0-3",
    "pve-ha-resource-or-vm-id": "vm:100",
    "pve-ha-resource-id": "vm:100",
    "pve-replication-job-id": "100-0",
    "pve-storage-path": "/mnt/data",
    "pve-storage-server": "192.0.2.20",
    "pve-storage-portal-dns": "192.0.2.20:3260",
    "pve-storage-vgname": "pve",
    "pve-storage-content": "images",
    "pve-storage-options": "noatime",
    "pve-storage-zfs-blocksize": "16k",
    "pve-volume-id": "local:iso/debian-12.iso",
    "pve-volume-id-or-qm-path": "local-lvm:vm-100-disk-0",
    "pve-volume-id-or-absolute-path": "local:iso/debian-12.iso",
    "pve-dir-override": "iso=isos",
    "pve-calendar-event": "daily",
    "pve-ct-timezone": "UTC",
    "pve-sdn-bgp-rt": "65000:100",
    "pve-sdn-fabric-id": "fabric1",
    "pve-sdn-prefix-list-id": "plist1",
    "pve-sdn-route-map-id": "rmap1",
    "pve-sdn-subnet-id": "zone1-10.0.0.0-24",
    "pve-acme-domain": "pve1.example.com",
    "pve-acme-alias": "_acme-challenge.example.com",
    "pve-fw-addr-spec": "192.0.2.0/24",
    "pve-fw-dport-spec": "22",
    "pve-fw-sport-spec": "1024:65535",
    "pve-fw-protocol-spec": "tcp",
    "pve-fw-icmp-type-spec": "echo-request",
    "pve-fw-conntrack-helper": "ftp",
    "graphite-path": "proxmox",
}
