"""SshPool against an in-process asyncssh server: host keys, auth, pooling, drops, timeouts."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import anyio.abc
import asyncssh
import pytest
from pydantic import SecretStr

from proxmox_operator_mcp.errors import (
    CommandTimeoutError,
    HostKeyChangedError,
    HostKeyUnknownError,
    SshError,
)
from proxmox_operator_mcp.transports.ssh import SshPool, scan_host_key

from . import sshd

pytestmark = pytest.mark.anyio


def _pem(key: asyncssh.SSHKey, passphrase: str | None = None, fmt: str = "openssh") -> SecretStr:
    # 16 bcrypt rounds, as ssh-keygen writes (asyncssh's default of 128 takes seconds).
    extra = {"rounds": 16, "ignore_few_rounds": True} if fmt == "openssh" and passphrase else {}
    return SecretStr(key.export_private_key(fmt, passphrase, **extra).decode())


# -- host keys


async def test_a_pinned_host_key_connects_and_runs_the_command(fake_node: sshd.FakeNode) -> None:
    async with SshPool() as pool:
        with anyio.fail_after(10):
            result = await pool.run(fake_node.target(), ["echo", "a b", "$HOME"], timeout=5)
    assert result.ok
    assert json.loads(result.stdout) == ["a b", "$HOME"]
    assert result.stderr == ""
    assert result.duration > 0


async def test_a_pinned_fingerprint_connects(fake_node: sshd.FakeNode) -> None:
    target = fake_node.target(host_keys=(fake_node.host_key.get_fingerprint("sha256"),))
    async with SshPool() as pool:
        with anyio.fail_after(10):
            result = await pool.run(target, ["echo"], timeout=5)
    assert result.ok


async def test_an_unpinned_host_key_is_refused_showing_its_fingerprint(fake_node: sshd.FakeNode) -> None:
    fp = fake_node.host_key.get_fingerprint("sha256")
    async with SshPool() as pool:
        with anyio.fail_after(10), pytest.raises(HostKeyUnknownError) as info:
            await pool.run(fake_node.target(host_keys=()), ["echo"], timeout=5)
    err = info.value
    assert fp in err.message and "ssh-ed25519" in err.message
    assert "PROXMOX_SHELL_SSH_EXPECTED_HOST_KEY='ssh-ed25519 AAAA" in (err.hint or "")
    assert f"proxmox-mcp hostkey pin fake1 {fp}" in (err.hint or "")
    assert fake_node.auth_attempts == 0  # refused during key exchange: no credential was offered
    assert fake_node.executed == []


async def test_a_changed_host_key_is_refused_as_changed(fake_node: sshd.FakeNode) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519")
    other_line = other.export_public_key("openssh").decode().strip()
    async with SshPool() as pool:
        with anyio.fail_after(10), pytest.raises(HostKeyChangedError) as info:
            await pool.run(fake_node.target(host_keys=(other_line,)), ["echo"], timeout=5)
    msg = info.value.message
    assert msg.startswith("HOST KEY CHANGED for node fake1")
    assert other.get_fingerprint("sha256") in msg
    assert fake_node.host_key.get_fingerprint("sha256") in msg
    assert "verify out of band" in msg
    assert fake_node.auth_attempts == 0


async def test_a_wrong_fingerprint_pin_is_refused_as_changed(fake_node: sshd.FakeNode) -> None:
    wrong = asyncssh.generate_private_key("ssh-ed25519").get_fingerprint("sha256")
    async with SshPool() as pool:
        with anyio.fail_after(10), pytest.raises(HostKeyChangedError):
            await pool.run(fake_node.target(host_keys=(wrong,)), ["echo"], timeout=5)
    assert fake_node.auth_attempts == 0


async def test_a_node_offering_no_key_of_the_pinned_type_is_refused_as_changed() -> None:
    node = sshd.new_fake_node(host_key=asyncssh.generate_private_key("ecdsa-sha2-nistp256"))
    await node.start()
    try:
        pinned = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode().strip()
        async with SshPool() as pool:
            with anyio.fail_after(10), pytest.raises(HostKeyChangedError, match="no host key of the pinned type"):
                await pool.run(node.target(host_keys=(pinned,)), ["echo"], timeout=5)
    finally:
        await node.stop()
    assert node.auth_attempts == 0


async def test_a_known_hosts_file_pins_the_key(fake_node: sshd.FakeNode, tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    line = fake_node.host_key.export_public_key("openssh").decode().strip()
    kh.write_text(f"[127.0.0.1]:{fake_node.port} {line}\n")
    async with SshPool() as pool:
        with anyio.fail_after(10):
            result = await pool.run(fake_node.target(host_keys=(), known_hosts_file=kh), ["echo"], timeout=5)
    assert result.ok


async def test_a_known_hosts_file_without_this_host_leaves_it_unpinned(
    fake_node: sshd.FakeNode, tmp_path: Path
) -> None:
    kh = tmp_path / "known_hosts"
    line = fake_node.host_key.export_public_key("openssh").decode().strip()
    kh.write_text(f"[127.0.0.1]:{fake_node.port + 1} {line}\n")
    async with SshPool() as pool:
        with anyio.fail_after(10), pytest.raises(HostKeyUnknownError):
            await pool.run(fake_node.target(host_keys=(), known_hosts_file=kh), ["echo"], timeout=5)


async def test_scanning_returns_the_offered_key_without_authenticating(fake_node: sshd.FakeNode) -> None:
    with anyio.fail_after(10):
        scanned = await scan_host_key("127.0.0.1", fake_node.port)
    assert scanned.key_type == "ssh-ed25519"
    assert scanned.fingerprint == fake_node.host_key.get_fingerprint("sha256")
    assert scanned.openssh_line == fake_node.host_key.export_public_key("openssh").decode().strip()
    assert fake_node.auth_attempts == 0


# -- client keys


async def test_a_wrong_client_key_is_refused_with_a_hint(fake_node: sshd.FakeNode) -> None:
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    async with SshPool() as pool:
        with anyio.fail_after(10), pytest.raises(SshError) as info:
            await pool.run(fake_node.target(client_key=_pem(stranger)), ["echo"], timeout=5)
    assert "authentication as root was refused" in info.value.message
    assert "authorized_keys" in (info.value.hint or "")
    assert fake_node.executed == []


@pytest.mark.parametrize("fmt", ["openssh", "pkcs8-pem"])
async def test_a_passphrase_protected_client_key_works(fake_node: sshd.FakeNode, fmt: str) -> None:
    # "openssh" is what ssh-keygen writes by default; its bcrypt KDF needs the bcrypt package.
    key = asyncssh.generate_private_key("ssh-ed25519")
    fake_node.authorized.append(key)
    target = fake_node.target(client_key=_pem(key, "s3cret", fmt), passphrase=SecretStr("s3cret"))
    async with SshPool() as pool:
        with anyio.fail_after(10):
            result = await pool.run(target, ["echo", "ok"], timeout=5)
    assert result.ok


@pytest.mark.parametrize(
    ("passphrase", "message"), [(None, "no passphrase is configured"), ("wrong", "does not decrypt")]
)
async def test_an_encrypted_client_key_without_its_passphrase_is_refused_before_connecting(
    fake_node: sshd.FakeNode, passphrase: str | None, message: str
) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    target = fake_node.target(
        client_key=_pem(key, "s3cret"), passphrase=SecretStr(passphrase) if passphrase is not None else None
    )
    async with SshPool() as pool:
        with anyio.fail_after(10), pytest.raises(SshError, match=message) as info:
            await pool.run(target, ["echo"], timeout=5)
    assert "s3cret" not in info.value.to_text()
    assert fake_node.connections == []


# -- pooling and concurrency


async def test_commands_reuse_one_pooled_connection(fake_node: sshd.FakeNode) -> None:
    async with SshPool() as pool:
        with anyio.fail_after(10):
            for i in range(5):
                assert (await pool.run(fake_node.target(), ["echo", str(i)], timeout=5)).ok
    assert len(fake_node.connections) == 1
    assert fake_node.auth_attempts == 1


async def test_fifty_concurrent_commands_all_complete_within_the_per_node_limit(fake_node: sshd.FakeNode) -> None:
    limit = 8
    fake_node.gate_at = limit
    target = fake_node.target()
    results = []

    async with SshPool(max_sessions=limit) as pool:

        async def one() -> None:
            results.append(await pool.run(target, ["hold"], timeout=10))

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                for _ in range(50):
                    tg.start_soon(one)
                await fake_node.hold_reached.wait()  # 8 commands run on the node at once ...
                assert pool.stats(target) == (True, limit, 50 - limit)  # ... and 42 wait their turn
                fake_node.gate.set()
    assert len(results) == 50 and all(r.ok for r in results)
    assert fake_node.max_active == limit
    assert len(fake_node.connections) == 1


async def test_a_queued_command_times_out_without_running_when_no_channel_frees_up(fake_node: sshd.FakeNode) -> None:
    fake_node.gate_at = 10**6  # "hold" never returns in this test
    async with SshPool(max_sessions=1) as pool:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: pool.run(fake_node.target(), ["hold"], timeout=3))
                await fake_node.hold_started.wait()
                with pytest.raises(CommandTimeoutError, match="nothing was run"):
                    await pool.run(fake_node.target(), ["echo"], timeout=0.2)
                fake_node.gate.set()
    assert [a[0] for a in fake_node.executed] == ["hold"]


async def test_an_idle_connection_is_closed(fake_node: sshd.FakeNode) -> None:
    async with SshPool(idle_timeout=0.05) as pool:
        with anyio.fail_after(10):
            assert (await pool.run(fake_node.target(), ["echo"], timeout=5)).ok
            await fake_node.connection_events[0].wait()
            assert (await pool.run(fake_node.target(), ["echo"], timeout=5)).ok
    assert len(fake_node.connections) == 2


# -- drops


async def test_a_connection_dropped_before_the_command_started_is_replaced_once(fake_node: sshd.FakeNode) -> None:
    async with SshPool() as pool:
        with anyio.fail_after(10):
            assert (await pool.run(fake_node.target(), ["echo", "1"], timeout=5)).ok
            fake_node.drop_next_open = True  # the server kills the connection at the next channel open
            result = await pool.run(fake_node.target(), ["echo", "2"], timeout=5)
    assert result.ok and json.loads(result.stdout) == ["2"]
    assert [a for a in fake_node.executed] == [["echo", "1"], ["echo", "2"]]
    assert len(fake_node.connections) == 2


async def test_a_connection_the_node_closed_while_idle_is_replaced(fake_node: sshd.FakeNode) -> None:
    async with SshPool() as pool:
        with anyio.fail_after(10):
            assert (await pool.run(fake_node.target(), ["echo", "1"], timeout=5)).ok
            fake_node.connections[0].abort()
            await fake_node.connection_events[0].wait()
            result = await pool.run(fake_node.target(), ["echo", "2"], timeout=5)
    assert result.ok
    assert fake_node.executed == [["echo", "1"], ["echo", "2"]]


async def test_a_connection_dropped_mid_command_raises_and_is_not_rerun(fake_node: sshd.FakeNode) -> None:
    async with SshPool() as pool:
        with anyio.fail_after(10):
            with pytest.raises(SshError, match="may or may not have completed, so it was not run again"):
                await pool.run(fake_node.target(), ["drop"], timeout=5)
            assert fake_node.executed == [["drop"]]
            result = await pool.run(fake_node.target(), ["echo", "after"], timeout=5)
    assert result.ok
    assert len(fake_node.connections) == 2


async def test_a_channel_closed_without_exit_status_is_an_error(fake_node: sshd.FakeNode) -> None:
    async with SshPool() as pool:
        with anyio.fail_after(10), pytest.raises(SshError, match="without an exit status"):
            await pool.run(fake_node.target(), ["noexit"], timeout=5)


# -- timeouts, output


async def test_a_command_over_its_timeout_is_killed_and_reported(fake_node: sshd.FakeNode) -> None:
    async with SshPool(kill_grace=0.2) as pool:
        with anyio.fail_after(10):
            result = await pool.run(fake_node.target(), ["hang"], timeout=0.3)
            assert result.timed_out and not result.ok
            assert 0.3 <= result.duration < 5
            await fake_node.hung_closed.wait()  # the server saw the channel go away
            assert (await pool.run(fake_node.target(), ["echo"], timeout=5)).ok
    assert len(fake_node.connections) == 1


async def test_a_cancelled_caller_does_not_leave_the_command_running(fake_node: sshd.FakeNode) -> None:
    async with SshPool() as pool:
        with anyio.fail_after(10):
            with anyio.move_on_after(0.2):
                await pool.run(fake_node.target(), ["hang"], timeout=60)
            await fake_node.hung_closed.wait()


async def test_huge_output_is_capped_with_a_marker_and_the_exit_status_kept(fake_node: sshd.FakeNode) -> None:
    total = 5_000_000
    async with SshPool() as pool:
        with anyio.fail_after(30):
            result = await pool.run(fake_node.target(), ["big", str(total)], timeout=20, max_output=1024 * 1024)
    assert result.exit_status == 0 and result.truncated
    assert result.stdout.startswith("y" * 1024)
    assert result.stdout.endswith(f"\n…[truncated {total - 1024 * 1024} bytes]…")


async def test_stderr_and_exit_status_are_returned(fake_node: sshd.FakeNode) -> None:
    async with SshPool() as pool:
        with anyio.fail_after(10):
            result = await pool.run(fake_node.target(), ["fail"], timeout=5)
    assert (result.exit_status, result.stderr, result.ok) == (3, "boom\n", False)


async def test_stdin_reaches_the_command_and_ends_with_eof(fake_node: sshd.FakeNode) -> None:
    async with SshPool() as pool:
        with anyio.fail_after(10):
            with_input = await pool.run(fake_node.target(), ["cat"], timeout=5, stdin=b"line 1\nline 2\n")
            without = await pool.run(fake_node.target(), ["cat"], timeout=5)
    assert with_input.stdout == "line 1\nline 2\n"
    assert without.ok and without.stdout == ""


async def test_a_closed_pool_refuses_new_commands(fake_node: sshd.FakeNode) -> None:
    pool = SshPool()
    await pool.aclose()
    with pytest.raises(SshError, match="closed"):
        await pool.run(fake_node.target(), ["echo"], timeout=5)


async def test_an_unreachable_node_is_a_clear_error() -> None:
    node = sshd.new_fake_node()
    await node.start()
    target = node.target()
    await node.stop()  # nothing listens on that port any more
    async with SshPool() as pool:
        with anyio.fail_after(15), pytest.raises(SshError, match="cannot connect to node fake1"):
            await pool.run(target, ["echo"], timeout=5)


async def test_commands_queued_behind_a_failing_connect_share_its_error() -> None:
    accepted = 0

    async def silent(stream: anyio.abc.SocketStream) -> None:  # accepts, never says a word
        nonlocal accepted
        accepted += 1
        async for _ in stream:
            pass

    node = sshd.new_fake_node()  # only for its keys: nothing of it is started
    errors: list[Exception] = []
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        target = node.target(port=port, connect_timeout=0.5)
        async with anyio.create_task_group() as server:
            server.start_soon(listener.serve, silent)
            async with SshPool() as pool:

                async def one() -> None:
                    try:
                        await pool.run(target, ["echo"], timeout=5)
                    except SshError as exc:
                        errors.append(exc)

                with anyio.fail_after(5):  # 8 sequential connect timeouts would take 4 s
                    async with anyio.create_task_group() as tg:
                        for _ in range(8):
                            tg.start_soon(one)
            server.cancel_scope.cancel()
    assert len(errors) == 8 and all("timed out after 0.5 s connecting" in e.message for e in errors)
    assert accepted == 1
