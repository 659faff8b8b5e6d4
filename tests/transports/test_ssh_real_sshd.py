"""SshPool against a real OpenSSH sshd on 127.0.0.1 (a /bin/sh user with fakes on PATH)."""

from __future__ import annotations

import json
import pwd
from pathlib import Path

import anyio
import asyncssh
import pytest

from proxmox_operator_mcp.errors import HostKeyChangedError, HostKeyUnknownError, SshError
from proxmox_operator_mcp.transports.ssh import SshPool, scan_host_key

from . import sshd

pytestmark = pytest.mark.anyio

# Every shell metacharacter we could think of, plus whitespace, quotes, globs, option look-alikes,
# an empty argument and non-ASCII text: each must reach the program as one literal argument.
LITERAL_ARGS = [
    "$(touch PWNED)",
    "`touch PWNED`",
    "; touch PWNED",
    "| touch PWNED",
    "&& touch PWNED &",
    "> PWNED",
    "a b\tc\nd",
    "'single' \"double\" \\back",
    "*",
    "~root",
    "$HOME ${PATH}",
    "!!",
    "#comment",
    "--force=1",
    "-rf",
    "",
    "ünïcødé ✓",
]


async def test_a_pinned_host_key_is_accepted_and_the_command_runs(real_sshd: sshd.Sshd) -> None:
    async with SshPool() as pool:
        with anyio.fail_after(20):
            result = await pool.run(real_sshd.target(), ["qm", "list", "--full", "1"], timeout=10)
    assert result.ok, result
    assert json.loads(result.stdout) == ["list", "--full", "1"]
    assert result.stderr == ""


async def test_shell_metacharacters_in_arguments_arrive_literally(real_sshd: sshd.Sshd) -> None:
    async with SshPool() as pool:
        with anyio.fail_after(20):
            result = await pool.run(real_sshd.target(), ["qm", *LITERAL_ARGS], timeout=10)
    assert result.ok, result
    assert json.loads(result.stdout) == LITERAL_ARGS
    assert not (Path(pwd.getpwnam(real_sshd.user).pw_dir) / "PWNED").exists()  # the remote cwd


async def test_an_unpinned_host_key_is_refused_with_the_real_fingerprint(real_sshd: sshd.Sshd) -> None:
    fp = await anyio.to_thread.run_sync(
        lambda: asyncssh.import_public_key(real_sshd.host_key_line).get_fingerprint("sha256")
    )
    async with SshPool() as pool:
        with anyio.fail_after(20), pytest.raises(HostKeyUnknownError) as info:
            await pool.run(real_sshd.target(host_keys=()), ["qm", "list"], timeout=10)
    assert fp in info.value.message
    assert real_sshd.host_key_line in (info.value.hint or "")


async def test_a_changed_host_key_is_refused(real_sshd: sshd.Sshd) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode().strip()
    async with SshPool() as pool:
        with anyio.fail_after(20), pytest.raises(HostKeyChangedError, match="HOST KEY CHANGED for node pve1"):
            await pool.run(real_sshd.target(host_keys=(other,)), ["qm", "list"], timeout=10)


async def test_a_fingerprint_pin_or_a_known_hosts_file_is_accepted(real_sshd: sshd.Sshd, tmp_path: Path) -> None:
    scanned = await scan_host_key("127.0.0.1", real_sshd.port)
    assert scanned.openssh_line == real_sshd.host_key_line
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{real_sshd.port} {real_sshd.host_key_line}\n")
    async with SshPool() as pool:
        with anyio.fail_after(20):
            by_fp = await pool.run(real_sshd.target(host_keys=(scanned.fingerprint,)), ["qm"], timeout=10)
            by_file = await pool.run(real_sshd.target(host_keys=(), known_hosts_file=kh), ["qm"], timeout=10)
    assert by_fp.ok and by_file.ok


async def test_a_wrong_client_key_is_refused(real_sshd: sshd.Sshd, tmp_path: Path) -> None:
    key = tmp_path / "stranger"
    key.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key("openssh"))
    async with SshPool() as pool:
        with anyio.fail_after(20), pytest.raises(SshError, match="authentication as pvetest was refused"):
            await pool.run(real_sshd.target(client_key_path=key), ["qm", "list"], timeout=10)


@pytest.mark.parametrize("mechanism", ["signal", "remote timeout"])
async def test_a_timed_out_command_and_its_children_are_killed_on_the_node(
    real_sshd: sshd.Sshd, mechanism: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pidfile = real_sshd.state / f"sleeper-{mechanism.replace(' ', '-')}.pid"
    if mechanism == "signal":
        pool = SshPool(remote_kill=False)  # only the SSH "signal" request can kill it
    else:
        pool = SshPool(remote_kill=True, kill_grace=5)
        monkeypatch.setattr(SshPool, "_kill", staticmethod(lambda chan: None))  # no signal is sent
    async with pool:
        with anyio.fail_after(20):
            result = await pool.run(real_sshd.target(), ["sleeper", str(pidfile)], timeout=1.0)
            assert result.timed_out and result.exit_status is None
            shell_pid, sleep_pid = (int(p) for p in pidfile.read_text().split())
            await sshd.wait_process_gone(shell_pid)
            await sshd.wait_process_gone(sleep_pid)  # the grandchild too: the whole group died
            assert (await pool.run(real_sshd.target(), ["qm", "after"], timeout=10)).ok


async def test_very_large_output_is_capped_and_counted(real_sshd: sshd.Sshd) -> None:
    total = 8 * 1024 * 1024
    async with SshPool() as pool:
        with anyio.fail_after(60):
            result = await pool.run(real_sshd.target(), ["bigout", str(total)], timeout=50, max_output=1024 * 1024)
    assert result.exit_status == 0 and result.truncated
    assert result.stdout.endswith(f"\n…[truncated {total - 1024 * 1024} bytes]…")
    assert len(result.stdout.encode()) < 1024 * 1024 + 100


async def test_fifty_concurrent_commands_share_one_connection(real_sshd: sshd.Sshd) -> None:
    target = real_sshd.target()
    results = []
    async with SshPool(max_sessions=8) as pool:

        async def one(i: int) -> None:
            results.append(await pool.run(target, ["qm", str(i)], timeout=30))

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for i in range(50):
                    tg.start_soon(one, i)
        assert pool.stats(target) == (True, 0, 0)
    assert sorted(json.loads(r.stdout)[0] for r in results) == sorted(str(i) for i in range(50))


async def test_sftp_uses_the_pooled_connection(real_sshd: sshd.Sshd) -> None:
    target = real_sshd.target()
    async with SshPool() as pool:
        with anyio.fail_after(20):
            assert (await pool.run(target, ["qm"], timeout=10)).ok
            async with pool.sftp(target) as sftp:
                names = await sftp.listdir(str(real_sshd.fakebin))
                with pytest.raises(asyncssh.SFTPNoSuchFile):
                    await sftp.stat(str(real_sshd.dir / "missing"))
            assert pool.stats(target) == (True, 0, 0)
    assert {"pvesh", "qm", "pct"} <= set(names)
