"""The simulated cluster's SSH endpoints: pinned host keys, key and password logins, the Proxmox
commands acting on the same state as REST, and SFTP over the in-memory files."""

from __future__ import annotations

import re

import anyio
import asyncssh
import pytest
from pydantic import SecretStr

from proxmox_operator_mcp.config import load_settings
from proxmox_operator_mcp.errors import (
    HostKeyChangedError,
    HostKeyUnknownError,
    SshError,
)
from proxmox_operator_mcp.sim import SimCluster, SimOptions, run_sim
from proxmox_operator_mcp.sim.pvecli import guest_exec
from proxmox_operator_mcp.sim.ssh import serve_ssh
from proxmox_operator_mcp.transports.cli import CliRunner
from proxmox_operator_mcp.transports.ssh import (
    SshPool,
    install_authorized_key,
    scan_host_key,
)

pytestmark = pytest.mark.anyio


def _cluster() -> SimCluster:
    return SimCluster(SimOptions(nodes=2, vms_per_node=3, cts_per_node=1, task_seconds=0.05))


async def test_each_node_has_its_own_pinned_host_key_published_in_its_files() -> None:
    cluster = _cluster()
    async with serve_ssh(cluster) as ssh, SshPool() as pool:
        with anyio.fail_after(20):
            scanned = await scan_host_key("127.0.0.1", ssh.endpoints["pve2"].port)
            out = await pool.run(ssh.target("pve2"), ["cat", "/etc/ssh/ssh_host_ed25519_key.pub"], timeout=10)
    assert scanned.openssh_line == ssh.endpoints["pve2"].host_key_line != ssh.endpoints["pve1"].host_key_line
    assert out.stdout.strip() == ssh.endpoints["pve2"].host_key_line


async def test_an_unpinned_or_changed_host_key_is_refused_before_logging_in() -> None:
    cluster = _cluster()
    async with serve_ssh(cluster) as ssh, SshPool() as pool:
        with anyio.fail_after(20):
            with pytest.raises(HostKeyUnknownError, match=re.escape(ssh.endpoints["pve1"].fingerprint)):
                await pool.run(ssh.target("pve1", host_keys=()), ["hostname"], timeout=10)
            with pytest.raises(HostKeyChangedError):
                await pool.run(ssh.target("pve1", host_keys=(ssh.endpoints["pve2"].host_key_line,)), ["hostname"], timeout=10)
    assert ssh.connections == {"pve1": 2}  # connected, then refused during key exchange


async def test_only_keys_in_roots_authorized_keys_may_log_in() -> None:
    cluster = _cluster()
    stranger = SecretStr(asyncssh.generate_private_key("ssh-ed25519").export_private_key("openssh").decode())
    async with serve_ssh(cluster) as ssh, SshPool() as pool:
        with anyio.fail_after(20), pytest.raises(SshError, match="authentication as root was refused"):
            await pool.run(ssh.target("pve1", client_key=stranger), ["hostname"], timeout=10)


async def test_a_password_login_pinned_to_another_key_sends_nothing_and_the_right_one_installs_a_key() -> None:
    cluster = _cluster()
    newcomer = asyncssh.generate_private_key("ssh-ed25519")
    line = newcomer.export_public_key("openssh").decode().strip() + " ops"
    async with serve_ssh(cluster) as ssh:
        target = ssh.target("pve1", client_key=SecretStr(newcomer.export_private_key("openssh").decode()))
        with anyio.fail_after(20):
            with pytest.raises(HostKeyChangedError, match="the password neither"):
                await install_authorized_key(
                    target, password=ssh.password, fingerprint=ssh.endpoints["pve2"].fingerprint, public_key=line
                )
            done = await install_authorized_key(
                target, password=ssh.password, fingerprint=ssh.endpoints["pve1"].fingerprint, public_key=line
            )
    assert done.added and done.key_login_works and done.path == "/root/.ssh/authorized_keys"
    assert cluster.fs.authorized_keys()[-1] == line  # written through the link into /etc/pve/priv


async def test_qm_and_pct_over_ssh_act_on_the_state_rest_serves() -> None:
    async with run_sim(SimOptions(nodes=2, vms_per_node=3, cts_per_node=1, task_seconds=0.05, ssh=True)) as sim:
        assert sim.ssh is not None
        target = sim.ssh.target("pve1")
        async with SshPool() as pool:
            cli = CliRunner(pool)
            with anyio.fail_after(30):
                started = await cli.run(target, ["qm", "start", "101"], timeout=10)
                status = await cli.pvesh(target, "GET", "/nodes/pve1/qemu/101/status/current", timeout=10)
                upid = await cli.pvesh(target, "POST", "/nodes/pve1/qemu/101/status/stop", timeout=10)
                elsewhere = await cli.run(target, ["qm", "status", "104"], timeout=10)  # VM 104 is on pve2
                ct = await cli.run(target, ["pct", "exec", "103", "--", "hostname"], timeout=10)
                unknown = await pool.run(target, ["pveceph", "status"], timeout=10)
    assert started.ok and status["status"] == "running"
    assert upid.startswith("UPID:pve1:") and sim.cluster.state.guests[101].status == "stopped"
    assert elsewhere.exit_status == 255
    assert elsewhere.stderr == "Configuration file 'nodes/pve1/qemu-server/104.conf' does not exist\n"
    assert ct.stdout == sim.cluster.state.guests[103].config["hostname"] + "\n"
    assert unknown.exit_status == 127 and "not found" in unknown.stderr


async def test_the_handle_env_points_a_server_at_the_ssh_endpoint_with_the_key_pinned() -> None:
    async with run_sim(SimOptions(nodes=1, vms_per_node=1, cts_per_node=0, ssh=True)) as sim:
        env = sim.env()
        settings = load_settings(env)
    target = settings.cluster().ssh["pve1"]
    assert sim.ssh is not None
    assert (target.port, target.username) == (sim.ssh.endpoints["pve1"].port, "root")
    assert target.host_keys == (sim.ssh.endpoints["pve1"].host_key_line,)
    assert env["PROXMOX_SHELL_SSH_EXPECTED_HOST_KEY"].startswith("ssh-ed25519 ")


async def test_sftp_writes_are_atomic_renames_and_pmxcfs_refuses_chmod() -> None:
    cluster = _cluster()
    async with serve_ssh(cluster) as ssh, SshPool() as pool:
        with anyio.fail_after(20):
            async with pool.sftp(ssh.target("pve1")) as sftp:
                async with sftp.open("/tmp/a", "xb") as f:
                    await f.write(b"new")
                with pytest.raises(asyncssh.SFTPFailure):
                    await sftp.open("/tmp/a", "xb")
                with pytest.raises(asyncssh.SFTPFailure):
                    await sftp.rename("/tmp/a", "/etc/hostname")  # SFTPv3 rename never replaces
                await sftp.posix_rename("/tmp/a", "/etc/hostname")
                with pytest.raises(asyncssh.SFTPPermissionDenied, match="pmxcfs"):
                    await sftp.chmod("/etc/pve/datacenter.cfg", 0o600)
                names = await sftp.listdir("/etc/pve/local/qemu-server")
    assert cluster.fs.read("pve1", "/etc/hostname") == b"new"
    assert {f"{g.vmid}.conf" for g in cluster.state.guests_on("pve1", "qemu")} <= set(names)


def test_the_tiny_guest_model_answers_like_a_container() -> None:
    facts = {"hostname": "ct-dns-01", "ostype": "alpine"}
    assert guest_exec(["hostname"], facts) == (0, "ct-dns-01\n", "")
    assert guest_exec(["sh", "-c", "echo a; false"], facts) == (1, "a\n", "")
    status, out, _ = guest_exec(["cat", "/etc/os-release", "/nope"], facts)
    assert status == 1 and "Alpine" in out
    assert guest_exec(["vim"], facts)[0] == 127
