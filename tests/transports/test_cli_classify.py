"""What a CLI command does (read / write / destructive), which node commands count as read-only,
and how a terminal command line is split — pure tables, no server."""

from __future__ import annotations

import pytest

from proxmox_operator_mcp.errors import InvalidArgumentError
from proxmox_operator_mcp.transports.cli import (
    ALLOWED_BINARIES,
    NODE_COMMANDS,
    classify_argv,
    split_command_line,
    validate_node_command,
)

READS = [
    "qm list --full 1",
    "qm config 101 --current 1",
    "qm status 101 --verbose",
    "qm pending 101",
    "qm listsnapshot 101",
    "qm showcmd 101",
    "qm guest exec-status 101 4242",
    "pct list",
    "pct config 200",
    "pct status 200",
    "pct df 200",
    "pvesh get /nodes/pve1/qemu --output-format json",
    "pvesh ls /nodes",
    "pvesm status",
    "pvesm list local",
    "pvesm path local:iso/debian.iso",
    "pveam list local",
    "pveam available",
    "pvecm status",
    "pvecm nodes",
    "ha-manager status",
    "ha-manager config",
    "ceph status",
    "ceph health detail",
    "ceph df",
    "ceph -s",
    "ceph osd tree",
    "pvenode config get",
    "pvenode task list",
    "pveum user list",
    "pveum acl list",
]

WRITES = [
    "qm start 101",
    "qm shutdown 101 --timeout 60",
    "qm set 101 --memory 4096 --delete description",
    "qm snapshot 101 before-upgrade",
    "qm migrate 101 pve2 --online",
    "qm disk import 101 /var/lib/vz/import/disk.qcow2 local-lvm",
    "qm resize 101 scsi0 +10G",
    "qm cloudinit dump 101 user",  # shows secrets: not a read
    "pct start 200",
    "pct set 200 --memory 1024",
    "pvesh create /nodes/pve1/qemu/101/status/start",
    "pvesh set /nodes/pve1/qemu/101/config --memory 2048",
    "pvesh get /nodes/pve1/qemu/101/agent/file-read --file /etc/shadow",  # a secret read
    "vzdump 101 --storage local",
    "pveam download local debian-13-standard_13.1-2_amd64.tar.zst",
    "ha-manager add vm:101",
    "ceph osd pool create rbd2",
    "pvenode config set --description x",
    "qm frobnicate 101",  # unknown subcommands of known programs are writes
]

DESTRUCTIVE = [
    "qm destroy 101 --purge 1",
    "qm stop 101",
    "qm reset 101",
    "qm rollback 101 before-upgrade",
    "qm delsnapshot 101 before-upgrade",
    "qm unlink 101 --idlist scsi1",
    "qm disk unlink 101 --idlist scsi1",
    "qm set 101 --delete scsi1",
    "qm shutdown 101 --forceStop 1",
    "qm resize 101 scsi0 8G",
    "qm guest exec 101 -- rm -rf /",
    "qm monitor 101",
    "pct destroy 200",
    "pct stop 200",
    "pct exec 200 -- ls",
    "pct set 200 --delete mp0",
    "pvesh delete /nodes/pve1/qemu/101",
    "pvesh create /nodes/pve1/qemu/101/status/stop",
    "pvesh create /nodes/pve1/qemu/101/snapshot/s1/rollback",
    "pvesh create /nodes/pve1/qemu/101/agent/exec --command id",
    "pvesh create /nodes/pve1/qemu/101/status/shutdown --forceStop=1",
    "pvesm free local:iso/x.iso",
    "pvesm prune-backups local",
    "pveam remove local:vztmpl/x.tar.zst",
    "pvecm delnode pve3",
    "pvecm add 10.0.0.1",
    "pveum user delete bob@pve",
    "pveum acl modify / --roles Administrator --users bob@pve",  # access control fails closed
    "ceph osd destroy 3",
    "ceph osd pool delete rbd rbd --yes-i-really-really-mean-it",
    "ha-manager crm-command stop vm:101 0",
    "pvenode stopall",
    "bash -c id",  # not a Proxmox program
    "/usr/sbin/qm list",
]


@pytest.mark.parametrize("line", READS)
def test_read_subcommands_are_reads(line: str) -> None:
    assert classify_argv(line.split()) == "read"


@pytest.mark.parametrize("line", WRITES)
def test_other_changes_are_writes(line: str) -> None:
    assert classify_argv(line.split()) == "write"


@pytest.mark.parametrize("line", DESTRUCTIVE)
def test_destroying_stopping_and_executing_commands_are_destructive(line: str) -> None:
    assert classify_argv(line.split()) == "destructive"


def test_an_empty_or_string_argv_is_destructive() -> None:
    assert classify_argv([]) == "destructive"
    assert classify_argv("qm list") == "destructive"  # type: ignore[arg-type]


def test_every_allowed_program_has_a_classification_row() -> None:
    from proxmox_operator_mcp.transports.cli import _CLASSES

    assert set(_CLASSES) == set(ALLOWED_BINARIES)


@pytest.mark.parametrize(
    "line",
    [
        "pveversion -v",
        "uptime",
        "hostname -f",
        "uname -a",
        "date +%s",
        "df -h /var/lib/vz",
        "free -m",
        "ip -br addr",
        "ip route show",
        "ss -tlnp",
        "journalctl -u pveproxy -n 50 --no-pager",
        "systemctl status pveproxy",
        "systemctl is-active corosync",
        "dmesg -T",
        "zpool status -x",
        "zfs list -t snapshot",
        "lvs -a",
        "smartctl -a /dev/sda",
        "corosync-quorumtool -s",
        "qm list",
        "pvecm status",
        "ha-manager status",
    ],
)
def test_read_only_node_commands_are_accepted(line: str) -> None:
    validate_node_command(line.split())
    assert classify_argv(line.split()) == "read"


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("qm stop 101", "not a read-only command"),
        ("pvesh set /nodes/pve1/config --description x", "not a read-only command"),
        ("bash -c id", "not one of the read-only node commands"),
        ("rm -rf /", "not one of the read-only node commands"),
        ("hostname evil", "takes no arguments"),
        ("date 010100002030", "sets the clock"),
        ("date -s tomorrow", "changes something"),
        ("date -us tomorrow", "changes something"),
        ("ip addr add 10.0.0.9/24 dev vmbr0", "changes something"),
        ("ip link set vmbr0 down", "changes something"),
        ("ip netns exec x sh", "not one of the read-only forms"),
        ("ip -batch /tmp/cmds", "changes something"),
        ("ss -K dst 10.0.0.1", "changes something"),
        ("journalctl --vacuum-size=1", "changes something"),
        ("journalctl --rotate", "changes something"),
        ("systemctl restart pveproxy", "not one of the read-only forms"),
        ("dmesg -C", "changes something"),
        ("zpool destroy tank", "not one of the read-only forms"),
        ("smartctl -t long /dev/sda", "changes something"),
        ("pveversion --frob", "not allowed"),
        ("corosync-quorumtool -e 1", "not allowed"),
    ],
)
def test_node_commands_that_change_something_are_refused(line: str, why: str) -> None:
    with pytest.raises(InvalidArgumentError, match=why):
        validate_node_command(line.split())
    assert classify_argv(line.split()) != "read"


def test_node_commands_and_proxmox_programs_do_not_overlap() -> None:
    assert not set(NODE_COMMANDS) & set(ALLOWED_BINARIES)


def test_a_command_line_splits_like_sh_without_expanding_anything() -> None:
    assert split_command_line("journalctl -u 'pve proxy' -n \"50\" $HOME *") == [
        "journalctl", "-u", "pve proxy", "-n", "50", "$HOME", "*",
    ]  # fmt: skip
    assert split_command_line('echo "a|b;c>d"') == ["echo", "a|b;c>d"]


@pytest.mark.parametrize("line", ["ls | head", "a; b", "a && b", "x > y", "cat < f", "(id)", "a &"])
def test_shell_operators_in_a_command_line_are_refused(line: str) -> None:
    with pytest.raises(InvalidArgumentError, match="shell operator"):
        split_command_line(line)


@pytest.mark.parametrize("line", ["", "   ", "echo 'unbalanced"])
def test_an_empty_or_unbalanced_command_line_is_refused(line: str) -> None:
    with pytest.raises(InvalidArgumentError):
        split_command_line(line)
