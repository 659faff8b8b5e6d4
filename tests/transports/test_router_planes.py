"""The router's plane dispatch and SSH target resolution, without any node."""

from __future__ import annotations

import asyncssh
import pytest

from proxmox_operator_mcp.config import load_settings
from proxmox_operator_mcp.errors import ConfigError, InvalidArgumentError
from proxmox_operator_mcp.operation import Operation
from proxmox_operator_mcp.transports.router import Router, resolve_ssh_target

pytestmark = pytest.mark.anyio

KEY = asyncssh.generate_private_key("ssh-ed25519")
BASE = {
    "PROXMOX_HOST": "10.0.0.1",
    "PROXMOX_API_TOKEN_USER": "root",
    "PROXMOX_API_TOKEN_ID": "mcp",
    "PROXMOX_API_TOKEN_SECRET": "11111111-2222-3333-4444-555555555555",
}
SSH = {
    "PROXMOX_SHELL_SSH_HOST": "127.0.0.1",
    "PROXMOX_SHELL_SSH_PORT": "9",  # nothing listens: any connection attempt would fail loudly
    "PROXMOX_SHELL_SSH_PRIVATE_KEY": KEY.export_private_key("openssh").decode(),
    "PROXMOX_SHELL_SSH_EXPECTED_HOST_KEY": KEY.export_public_key("openssh").decode().strip(),
    "PROXMOX_DEFAULT_NODE": "pve1",
}


def test_the_target_is_the_named_node_else_the_default_else_the_only_one() -> None:
    cluster = load_settings({**BASE, **SSH}).cluster()
    assert resolve_ssh_target(cluster, "pve1").node == "pve1"
    assert resolve_ssh_target(cluster, None).node == "pve1"
    only = load_settings({**BASE, **{k: v for k, v in SSH.items() if k != "PROXMOX_DEFAULT_NODE"}}).cluster()
    assert resolve_ssh_target(only, None).node == "127.0.0.1"


def test_a_cluster_without_ssh_says_how_to_configure_it() -> None:
    cluster = load_settings(BASE).cluster()
    with pytest.raises(ConfigError) as info:
        resolve_ssh_target(cluster, "pve2")
    text = info.value.to_text()
    assert "no SSH access for node pve2" in text
    assert "PROXMOX_SHELL_SSH_HOST" in text and "[clusters.ssh.nodes.pve2]" in text


async def test_a_command_that_changes_something_is_never_run_as_a_read() -> None:
    router = Router(load_settings({**BASE, **SSH}))
    op = Operation(cluster="default", plane="cli", argv=("qm", "start", "101"), node="pve1", read_only=True)
    with pytest.raises(InvalidArgumentError, match="claims to be read-only"):
        await router.execute(op)
    await router.aclose()


async def test_programs_outside_both_allow_lists_are_refused_by_the_router() -> None:
    router = Router(load_settings({**BASE, **SSH}))
    for argv in (("bash", "-c", "id"), ("/usr/sbin/qm", "list"), ("journalctl", "--vacuum-size=1")):
        op = Operation(cluster="default", plane="cli", argv=argv, node="pve1", read_only=False, destructive=True)
        with pytest.raises(InvalidArgumentError):
            await router.execute(op)
    await router.aclose()


async def test_malformed_operations_are_refused_before_any_connection() -> None:
    router = Router(load_settings({**BASE, **SSH}))
    bad = [
        Operation(cluster="default", plane="file", method="DELETE", path="/etc/pve/x", node="pve1"),
        Operation(cluster="default", plane="file", method="GET", node="pve1"),
        Operation(cluster="default", plane="shell", method="RUN", node="pve1", read_only=False),
        Operation(cluster="default", plane="file", method="PUT", path="/etc/pve/x", node="pve1", read_only=True),
        Operation(cluster="default", plane="file", method="PUT", path="/etc/passwd", node="pve1", read_only=False,
                  params={"content": "staged:none", "size": 1}),
    ]  # fmt: skip
    for op in bad:
        with pytest.raises((InvalidArgumentError, ConfigError)):
            await router.execute(op)
    target = resolve_ssh_target(router.settings.cluster(), "pve1")
    assert router.ssh_pool("default").stats(target) == (False, 0, 0)  # never connected
    await router.aclose()
