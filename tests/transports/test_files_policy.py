"""The file plane's path policy and the staging of contents and passwords — pure, no server."""

from __future__ import annotations

import pytest

from proxmox_operator_mcp.errors import InvalidArgumentError
from proxmox_operator_mcp.transports.files import (
    DEFAULT_FILE_POLICY,
    FilePolicy,
    check_path,
    discard,
    stage,
    take,
)


@pytest.mark.parametrize(
    "path",
    ["/etc/pve/storage.cfg", "/etc/pve/nodes/pve1/qemu-server/101.conf", "/etc/network/interfaces",
     "/var/lib/vz/snippets/user-data.yaml", "/var/log/syslog", "/etc/hosts", "//etc//pve/datacenter.cfg"],
)  # fmt: skip
def test_configuration_and_storage_paths_may_be_read(path: str) -> None:
    assert check_path(path, DEFAULT_FILE_POLICY, write=False).startswith("/")


def test_paths_are_normalised() -> None:
    assert check_path("//etc//pve/datacenter.cfg", DEFAULT_FILE_POLICY, write=False) == "/etc/pve/datacenter.cfg"


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("etc/pve/storage.cfg", "not an absolute path"),
        ("/etc/pve/../shadow", "path traversal"),
        ("/var/lib/vz/snippets/./x", "path traversal"),
        ("/etc/pve/priv/authkey.key", "denied prefix"),
        ("/etc/pve/nodes/pve1/pve-ssl.key", "file names like"),
        ("/root/.ssh/id_ed25519", "denied prefix"),
        ("/etc/ssh/ssh_host_ed25519_key", "denied prefix"),
        ("/etc/shadow", "denied prefix"),
        ("/etc/ceph/ceph.client.admin.keyring", "file names like"),
        ("/etc/passwd", "outside the prefixes"),
        ("/etc/pve-backup/x", "outside the prefixes"),  # a prefix is whole path components
        ("/etc/pve/\x00x", "NUL"),
        ("", "required"),
    ],
)
def test_paths_outside_the_policy_are_refused_with_the_reason(path: str, why: str) -> None:
    with pytest.raises(InvalidArgumentError, match=why):
        check_path(path, DEFAULT_FILE_POLICY, write=False)


def test_writes_have_their_own_narrower_prefixes() -> None:
    assert check_path("/var/lib/vz/snippets/a.yaml", DEFAULT_FILE_POLICY, write=True)
    with pytest.raises(InvalidArgumentError, match="may be written"):
        check_path("/var/log/syslog", DEFAULT_FILE_POLICY, write=True)


def test_denied_prefixes_win_over_allowed_ones() -> None:
    policy = FilePolicy(read=("/",), write=("/",), denied=("/secret",))
    assert check_path("/elsewhere", policy, write=True) == "/elsewhere"
    with pytest.raises(InvalidArgumentError, match="denied prefix"):
        check_path("/secret/x", policy, write=False)


def test_staged_content_is_taken_once_and_discarding_is_harmless() -> None:
    token = stage(b"\x00secret\xff")
    assert "secret" not in token
    assert take(token) == b"\x00secret\xff"
    with pytest.raises(InvalidArgumentError, match="gone"):
        take(token)
    discard(token)
    other = stage(b"x")
    discard(other)
    with pytest.raises(InvalidArgumentError):
        take(other)
