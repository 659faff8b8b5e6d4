"""The CLI, shell and file tools end to end against a real OpenSSH sshd on 127.0.0.1, whose fake
pvesh/qm/pct talk to a running simulated cluster: the MCP client calls a tool, the router runs it
over the pooled, pinned connection, and REST sees what the CLI changed."""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import pwd
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import asyncssh
import pytest
from mcp import Client

from proxmox_operator_mcp.cli import build_parser
from proxmox_operator_mcp.config import load_settings
from proxmox_operator_mcp.hostkey import hostkey_main
from proxmox_operator_mcp.server.app import build_server
from proxmox_operator_mcp.sim import SimHandle, SimOptions, run_sim
from proxmox_operator_mcp.transports.files import FilePolicy
from proxmox_operator_mcp.transports.ssh import SshPool

from ..tools.nodeaccess_harness import consenting_human
from . import sshd

pytestmark = pytest.mark.anyio

LITERAL = "$(touch PWNED) `touch PWNED`; | && > PWNED 'q' \"d\" \\b * ~root $HOME !! #c ünï"


@dataclass
class Setup:
    client: Client
    sim: SimHandle
    sshd: sshd.Sshd
    files: Path

    async def call(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        res = await self.client.call_tool(name, args)
        assert not res.is_error, res.content[0].text if res.content else res  # type: ignore[union-attr]
        return res.structured_content or {}

    async def fail(self, name: str, args: dict[str, Any]) -> str:
        res = await self.client.call_tool(name, args)
        assert res.is_error, f"expected an error from {name}, got {res.structured_content}"
        return res.content[0].text  # type: ignore[union-attr]


@asynccontextmanager
async def planes(
    server_sshd: sshd.Sshd, tmp_path: Path, access: str = "admin", shell: bool = False, **ssh_env: str
) -> AsyncIterator[Setup]:
    """The MCP server with REST to a running simulator and SSH to the real sshd."""
    account = pwd.getpwnam(server_sshd.user)
    files = server_sshd.dir / f"files-{tmp_path.name}"
    files.mkdir()
    os.chown(files, account.pw_uid, account.pw_gid)
    async with run_sim(SimOptions(nodes=1, vms_per_node=3, cts_per_node=1, task_seconds=0.05)) as sim:
        server_sshd.use_sim(sim)
        env = {
            **sim.env(),
            "PROXMOX_MCP_ACCESS": access,
            "PROXMOX_SHELL_SSH_HOST": "127.0.0.1",
            "PROXMOX_SHELL_SSH_PORT": str(server_sshd.port),
            "PROXMOX_SHELL_SSH_USERNAME": server_sshd.user,
            "PROXMOX_SHELL_SSH_PRIVATE_KEY_PATH": str(server_sshd.client_key_path),
            "PROXMOX_SHELL_SSH_EXPECTED_HOST_KEY": server_sshd.host_key_line,
            **({"PROXMOX_MCP_ENABLE_SHELL": "1"} if shell else {}),
        }
        env.update(ssh_env)
        server = build_server(load_settings({k: v for k, v in env.items() if v}))
        router = server.gate.router
        router.cli_bare_names = True  # the fakes are on the test sshd's PATH, not in /usr/sbin
        router.file_policy = FilePolicy(read=(str(files),), write=(str(files),), denied=(str(files / "secret"),))
        async with Client(server, mode="legacy", elicitation_callback=consenting_human) as client:
            yield Setup(client, sim, server_sshd, files)


async def test_pvesh_over_openssh_changes_the_cluster_and_arguments_arrive_literally(
    sim_sshd: sshd.Sshd, tmp_path: Path
) -> None:
    async with planes(sim_sshd, tmp_path, "operator") as s:
        with anyio.fail_after(60):
            out = await s.call(
                "proxmox_cli_run",
                {"argv": ["pvesh", "set", "/nodes/pve1/qemu/101/config", f"--description={LITERAL}"]},
            )
            vm = await s.call("proxmox_vm_get", {"vmid": 101})
    assert out["ok"] and out["kind"] == "write", out
    assert vm["config"]["description"] == LITERAL
    assert not (Path(pwd.getpwnam(sim_sshd.user).pw_dir) / "PWNED").exists()


async def test_qm_over_openssh_starts_a_vm_that_rest_then_sees_running(sim_sshd: sshd.Sshd, tmp_path: Path) -> None:
    async with planes(sim_sshd, tmp_path, "operator") as s:
        with anyio.fail_after(60):
            started = await s.call("proxmox_cli_run", {"argv": ["qm", "start", "101"]})
            status = await s.call("proxmox_node_terminal_run", {"command": "qm status 101"})
            vm = await s.call("proxmox_vm_get", {"vmid": 101})
    assert started["exit_status"] == 0 and status["stdout"] == "status: running\n"
    assert vm["status"]["status"] == "running"


async def test_a_binary_file_round_trips_over_openssh_sftp_keeping_its_mode_and_a_backup(
    sim_sshd: sshd.Sshd, tmp_path: Path
) -> None:
    blob = bytes(range(256)) * 64 + b"\x00\xff\r\n"
    async with planes(sim_sshd, tmp_path) as s:
        path = s.files / "blob.bin"
        with anyio.fail_after(60):
            await s.call("proxmox_file_write", {"path": str(path), "content": "old\n", "mode": "0600"})
            written = await s.call(
                "proxmox_file_write",
                {"path": str(path), "content": base64.b64encode(blob).decode(), "encoding": "base64", "backup": True},
            )
            read = await s.call("proxmox_file_read", {"path": str(path), "max_bytes": 1 << 20})
    assert base64.b64decode(read["content"]) == blob == path.read_bytes()
    assert read["sha256"] == written["sha256"] == hashlib.sha256(blob).hexdigest()
    assert (written["mode"], oct(path.stat().st_mode & 0o777)) == ("0600", "0o600")
    assert path.stat().st_uid == pwd.getpwnam(sim_sshd.user).pw_uid
    assert Path(written["backup_path"]).read_bytes() == b"old\n"
    assert sorted(p.name for p in s.files.iterdir() if ".tmp" in p.name) == []


async def test_paths_outside_the_allowed_prefixes_are_refused_even_through_a_symlink(
    sim_sshd: sshd.Sshd, tmp_path: Path
) -> None:
    async with planes(sim_sshd, tmp_path) as s:
        (s.files / "passwd-link").symlink_to("/etc/passwd")
        with anyio.fail_after(60):
            outside = await s.fail("proxmox_file_read", {"path": "/etc/passwd"})
            linked = await s.fail("proxmox_file_read", {"path": str(s.files / "passwd-link")})
            denied = await s.fail("proxmox_file_write", {"path": str(s.files / "secret" / "x"), "content": "x"})
            traversal = await s.fail("proxmox_file_read", {"path": str(s.files / ".." / "client_key")})
    assert "outside the prefixes" in outside
    assert "/etc/passwd is outside the prefixes" in linked  # resolved by the node, then checked again
    assert "denied prefix" in denied and "path traversal" in traversal


async def test_a_command_over_its_timeout_is_killed_and_reported(
    sim_sshd: sshd.Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROXMOX_MCP_ENABLE_SHELL", "1")
    async with planes(sim_sshd, tmp_path, shell=True) as s:
        with anyio.fail_after(60):
            out = await s.call("proxmox_shell_run", {"command": "echo started; sleep 30", "timeout": 1})
    assert out["timed_out"] and out.get("exit_status") is None and not out["ok"]
    assert out["stdout"] == "started\n" and 900 <= out["duration_ms"] < 10_000


async def test_a_connection_dropped_mid_command_is_reported_and_the_next_command_reconnects(
    sim_sshd: sshd.Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROXMOX_MCP_ENABLE_SHELL", "1")
    # $PPID is `timeout`; its parent is the sshd process serving this connection.
    kill_session = "echo before; kill -KILL $(cut -d' ' -f4 /proc/$PPID/stat); sleep 5"
    async with planes(sim_sshd, tmp_path, shell=True) as s:
        with anyio.fail_after(60):
            text = await s.fail("proxmox_shell_run", {"command": kill_session})
            after = await s.call("proxmox_cli_run", {"argv": ["qm", "status", "100"]})
    assert "was lost while `sh` was running" in text and "not run again" in text
    assert after["stdout"] == "status: running\n"


async def test_very_large_output_is_capped_with_a_marker(
    sim_sshd: sshd.Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROXMOX_MCP_ENABLE_SHELL", "1")
    async with planes(sim_sshd, tmp_path, shell=True) as s:
        with anyio.fail_after(60):
            out = await s.call("proxmox_shell_run", {"command": "bigout 5000000", "max_output": 65536})
    assert out["ok"] and out["truncated"]
    # The node side keeps max_output bytes and marks the rest as dropped; inline, the answer keeps
    # the last 16,000 characters and names the artifact that holds everything received.
    assert out["stdout"].endswith(f"…[truncated {5000000 - 65536} bytes]…")
    assert out["stdout"].startswith("…[truncated ") and out["output_uri"] in out["stdout"]
    assert len(out["stdout"]) < 16_200


async def test_an_unpinned_host_key_is_refused_and_the_error_says_how_to_pin_it(
    sim_sshd: sshd.Sshd, tmp_path: Path
) -> None:
    fp = asyncssh.import_public_key(sim_sshd.host_key_line).get_fingerprint("sha256")
    async with planes(sim_sshd, tmp_path, "read-only", PROXMOX_SHELL_SSH_EXPECTED_HOST_KEY="") as s:
        with anyio.fail_after(60):
            text = await s.fail("proxmox_node_terminal_run", {"command": "uptime"})
    assert "host key is not pinned" in text and fp in text
    assert f"proxmox-mcp hostkey pin pve1 {fp}" in text


async def test_a_changed_host_key_or_a_wrong_client_key_is_refused(sim_sshd: sshd.Sshd, tmp_path: Path) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519")
    stranger = tmp_path / "stranger"
    stranger.write_bytes(other.export_private_key("openssh"))
    changed = {"PROXMOX_SHELL_SSH_EXPECTED_HOST_KEY": other.export_public_key("openssh").decode().strip()}
    async with planes(sim_sshd, tmp_path, "read-only", **changed) as s:
        with anyio.fail_after(60):
            changed_text = await s.fail("proxmox_node_terminal_run", {"command": "uptime"})
    (tmp_path / "b").mkdir()
    async with planes(sim_sshd, tmp_path / "b", "read-only", PROXMOX_SHELL_SSH_PRIVATE_KEY_PATH=str(stranger)) as s:
        with anyio.fail_after(60):
            auth_text = await s.fail("proxmox_node_terminal_run", {"command": "uptime"})
    assert "HOST KEY CHANGED" in changed_text and "verify out of band" in changed_text
    assert f"authentication as {sim_sshd.user} was refused" in auth_text


async def test_hostkey_scan_shows_the_key_and_pin_writes_it_only_when_the_fingerprint_matches(
    sim_sshd: sshd.Sshd, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fp = asyncssh.import_public_key(sim_sshd.host_key_line).get_fingerprint("sha256")
    known = tmp_path / "known_hosts"
    env = {"PROXMOX_SHELL_SSH_KNOWN_HOSTS": str(known)}

    def args(command: str, *extra: str) -> argparse.Namespace:  # as `proxmox-mcp hostkey …` parses them
        return build_parser().parse_args(["hostkey", command, f"127.0.0.1:{sim_sshd.port}", *extra])

    with anyio.fail_after(60):
        assert await hostkey_main(args("scan"), env) == 0
        scanned = capsys.readouterr().out
        wrong = "SHA256:" + "B" * 43
        assert await hostkey_main(args("pin", wrong), env) == 1
        refused = capsys.readouterr().err
        assert not known.exists()
        assert await hostkey_main(args("pin", fp), env) == 0
        assert await hostkey_main(args("pin", fp + "="), env) == 0  # idempotent; a trailing '=' is fine
        async with SshPool() as pool:
            target = sim_sshd.target(host_keys=(), known_hosts_file=known)
            result = await pool.run(target, ["hostname"], timeout=10)
    assert fp in scanned and f"PROXMOX_SHELL_SSH_EXPECTED_HOST_KEY='{sim_sshd.host_key_line}'" in scanned
    assert "NOT pinned" in refused and fp in refused
    assert known.read_text() == f"[127.0.0.1]:{sim_sshd.port} {sim_sshd.host_key_line}\n"
    assert result.ok

