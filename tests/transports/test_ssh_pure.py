"""The SSH transport's pure parts: pins, configuration, quoting, output capping."""

from __future__ import annotations

import shlex
from pathlib import Path

import asyncssh
import pytest

from proxmox_operator_mcp.errors import ConfigError, InvalidArgumentError
from proxmox_operator_mcp.transports.ssh import (
    SshTarget,
    host_key_fingerprint,
    parse_host_key_pin,
    remote_command,
    render_output,
    ssh_targets_from_config,
    ssh_targets_from_env,
)

KEY = asyncssh.generate_private_key("ssh-ed25519")
KEY_LINE = KEY.export_public_key("openssh").decode().strip()
CLIENT_PEM = asyncssh.generate_private_key("ssh-ed25519").export_private_key("openssh").decode()


# -- pins


def test_a_public_key_line_pin_is_kept_without_its_comment() -> None:
    assert parse_host_key_pin(KEY_LINE + " root@pve1\n") == KEY_LINE


def test_a_fingerprint_pin_is_normalised() -> None:
    fp = KEY.get_fingerprint("sha256")
    assert parse_host_key_pin(f"  {fp}=  ") == fp


def test_our_fingerprint_is_the_one_openssh_and_asyncssh_print() -> None:
    assert host_key_fingerprint(KEY_LINE) == KEY.get_fingerprint("sha256")


@pytest.mark.parametrize(
    ("pin", "why"),
    [
        ("MD5:12:34", "SHA-256"),
        ("SHA256:short", "SHA-256"),
        ("ssh-ed25519 !!!notbase64", "base64"),
        ("ssh-rsa " + KEY_LINE.split()[1], "does not hold a ssh-rsa key"),
        ("pve1 " + KEY_LINE, "drop the leading host name"),
        ("hello", "OpenSSH public key line"),
    ],
)
def test_a_malformed_pin_is_refused_with_the_reason(pin: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_host_key_pin(pin)


# -- configuration from the environment


def test_no_ssh_variables_means_no_ssh_targets() -> None:
    assert ssh_targets_from_env({"PROXMOX_HOST": "10.0.0.1"}, "10.0.0.1") == {}


def test_the_single_node_env_builds_one_pinned_target(tmp_path: Path) -> None:
    key = tmp_path / "id"
    key.write_text(CLIENT_PEM)
    env = {
        "PROXMOX_DEFAULT_NODE": "pve1",
        "PROXMOX_SHELL_SSH_PRIVATE_KEY_PATH": str(key),
        "PROXMOX_SHELL_SSH_EXPECTED_HOST_KEY": f"{KEY_LINE} comment, {KEY.get_fingerprint('sha256')}",
        "PROXMOX_SHELL_SSH_PORT": "2222",
        "PROXMOX_SHELL_SSH_PRIVATE_KEY_PASSPHRASE": "pw",
    }
    targets = ssh_targets_from_env(env, "10.0.0.1")
    t = targets["pve1"]
    assert (t.host, t.port, t.username) == ("10.0.0.1", 2222, "root")
    assert t.host_keys == (KEY_LINE, KEY.get_fingerprint("sha256"))
    assert t.client_key_path == key
    assert t.passphrase is not None and t.passphrase.get_secret_value() == "pw"
    assert "pw" not in repr(t)


def test_a_key_written_on_one_line_with_backslash_n_is_accepted() -> None:
    env = {
        "PROXMOX_SHELL_SSH_HOST": "pve1.example",
        "PROXMOX_SHELL_SSH_PRIVATE_KEY": CLIENT_PEM.replace("\n", "\\n"),
    }
    t = ssh_targets_from_env(env)["pve1.example"]
    assert t.client_key is not None and t.client_key.get_secret_value() == CLIENT_PEM
    assert CLIENT_PEM not in repr(t)


def test_every_env_problem_is_listed_at_once() -> None:
    env = {
        "PROXMOX_SHELL_SSH_PORT": "99999",
        "PROXMOX_SHELL_SSH_EXPECTED_HOST_KEY": "SHA256:nope",
        "PROXMOX_SHELL_SSH_KNOWN_HOSTS": "/nonexistent/known_hosts",
        "PROXMOX_SHELL_SSH_USERNAME": "root\nx",
    }
    with pytest.raises(ConfigError) as info:
        ssh_targets_from_env(env)
    text = "\n".join(info.value.problems)
    for name in (
        "PROXMOX_SHELL_SSH_HOST (or PROXMOX_HOST)",
        "PROXMOX_SHELL_SSH_PORT",
        "PROXMOX_SHELL_SSH_EXPECTED_HOST_KEY",
        "PROXMOX_SHELL_SSH_KNOWN_HOSTS",
        "PROXMOX_SHELL_SSH_USERNAME",
        "PROXMOX_SHELL_SSH_PRIVATE_KEY_PATH",
    ):
        assert name in text
    assert len(info.value.problems) == 6


def test_both_key_sources_at_once_are_refused(tmp_path: Path) -> None:
    key = tmp_path / "id"
    key.write_text(CLIENT_PEM)
    env = {
        "PROXMOX_SHELL_SSH_HOST": "h",
        "PROXMOX_SHELL_SSH_PRIVATE_KEY": CLIENT_PEM,
        "PROXMOX_SHELL_SSH_PRIVATE_KEY_PATH": str(key),
    }
    with pytest.raises(ConfigError, match="both set"):
        ssh_targets_from_env(env)


def test_a_secret_never_appears_in_config_errors() -> None:
    env = {
        "PROXMOX_SHELL_SSH_PRIVATE_KEY": "hunter2-not-a-key",
        "PROXMOX_SHELL_SSH_PRIVATE_KEY_PASSPHRASE": "pw-secret",
    }
    with pytest.raises(ConfigError) as info:
        ssh_targets_from_env(env)
    assert "hunter2" not in info.value.to_text()
    assert "pw-secret" not in info.value.to_text()


# -- configuration file table


def test_a_config_table_gives_one_target_per_node_with_shared_settings(tmp_path: Path) -> None:
    key = tmp_path / "id"
    key.write_text(CLIENT_PEM)
    section = {
        "private_key_path": str(key),
        "username": "root",
        "nodes": {
            "pve1": {"host": "10.0.0.11", "host_keys": [KEY_LINE]},
            "pve2": {"host": "10.0.0.12", "port": 2022, "host_keys": KEY.get_fingerprint("sha256")},
        },
    }
    targets = ssh_targets_from_config(section)
    assert sorted(targets) == ["pve1", "pve2"]
    assert targets["pve2"].port == 2022
    assert targets["pve1"].host_keys == (KEY_LINE,)
    assert targets["pve2"].client_key_path == key


def test_a_config_table_reports_unknown_keys_and_missing_hosts() -> None:
    section = {"colour": "red", "nodes": {"pve1": {"hots": "x"}}}
    with pytest.raises(ConfigError) as info:
        ssh_targets_from_config(section, where="clusters.lab.ssh")
    text = "\n".join(info.value.problems)
    assert "unknown key 'colour'" in text
    assert "clusters.lab.ssh.nodes.pve1: unknown key 'hots'" in text
    assert "clusters.lab.ssh.nodes.pve1.host" in text


# -- quoting and output


NASTY = ["qm", "set", "101", "--description", "$(touch /tmp/x); `id` | rm -rf / && 'q' \"d\" \\ * ~ \n#", "", "ü -x"]


def test_the_remote_command_quotes_every_argument_for_sh() -> None:
    line = remote_command(NASTY)
    assert shlex.split(line) == NASTY


def test_the_remote_command_can_carry_its_own_kill_deadline() -> None:
    line = remote_command(["qm", "list"], kill_after=2.5)
    assert shlex.split(line) == ["exec", "timeout", "-s", "KILL", "2.500s", "qm", "list"]


@pytest.mark.parametrize("argv", [[], "qm list", ["qm", 101], ["qm", "a\x00b"]])
def test_a_command_must_be_a_list_of_plain_strings(argv: object) -> None:
    with pytest.raises(InvalidArgumentError):
        remote_command(argv)  # type: ignore[arg-type]


def test_output_under_the_cap_is_returned_whole() -> None:
    assert render_output("héllo\n".encode(), 0) == "héllo\n"


def test_output_over_the_cap_ends_with_a_visible_marker() -> None:
    assert render_output(b"abc", 997) == "abc\n…[truncated 997 bytes]…"


def test_a_character_cut_by_the_cap_counts_as_dropped() -> None:
    head = "ab€".encode()[:-1]  # the euro sign is 3 bytes; keep 2 of them
    assert render_output(head, 10) == "ab\n…[truncated 12 bytes]…"


def test_a_target_is_hashable_and_shows_no_secrets() -> None:
    from pydantic import SecretStr

    t = SshTarget(node="pve1", host="::1", client_key=SecretStr(CLIENT_PEM), passphrase=SecretStr("pw"))
    assert hash(t) == hash(
        SshTarget(node="pve1", host="::1", client_key=SecretStr(CLIENT_PEM), passphrase=SecretStr("pw"))
    )
    assert t.address == "[::1]:22"
    assert "PRIVATE" not in repr(t) and "pw" not in repr(t)
