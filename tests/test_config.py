"""Settings: the single-cluster env block, the TOML file, and errors that list every problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxmox_operator_mcp.config import ApiEndpoint, load_settings
from proxmox_operator_mcp.errors import ConfigError, InvalidArgumentError

TOKEN = {
    "PROXMOX_HOST": "pve1.example.net",
    "PROXMOX_API_TOKEN_USER": "root",
    "PROXMOX_API_TOKEN_ID": "mcp",
    "PROXMOX_API_TOKEN_SECRET": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
}


def test_the_env_block_becomes_one_cluster_named_default() -> None:
    s = load_settings({**TOKEN, "PROXMOX_DEFAULT_NODE": "pve1"})
    (c,) = s.clusters
    assert c.name == "default" and c.endpoints == [ApiEndpoint(host="pve1.example.net", port=8006)]
    assert c.token_full_id == "root@pam!mcp" and c.default_node == "pve1"
    assert c.tls_verify is True and s.access == "read-only"


def test_a_token_user_with_a_realm_keeps_it() -> None:
    c = load_settings({**TOKEN, "PROXMOX_API_TOKEN_USER": "mcp@pve"}).clusters[0]
    assert c.token_full_id == "mcp@pve!mcp"


def test_secrets_never_show_in_reprs_or_dumps() -> None:
    s = load_settings(TOKEN)
    assert TOKEN["PROXMOX_API_TOKEN_SECRET"] not in repr(s) + str(s.model_dump()) + s.model_dump_json()


def test_tls_options_are_read_and_the_fingerprint_is_normalised() -> None:
    fp = ":".join(["AB"] * 32)
    c = load_settings({**TOKEN, "PROXMOX_TLS_FINGERPRINT": fp, "PROXMOX_TLS_REJECT_UNAUTHORIZED": "0"}).clusters[0]
    assert c.tls_fingerprint == "ab" * 32 and c.tls_verify is False


def test_ticket_auth_needs_user_with_realm_and_password() -> None:
    c = load_settings({"PROXMOX_HOST": "pve1", "PROXMOX_USERNAME": "root@pam", "PROXMOX_PASSWORD": "pw"}).clusters[0]
    assert c.auth_kind == "ticket"
    with pytest.raises(ConfigError, match="needs a realm"):
        load_settings({"PROXMOX_HOST": "pve1", "PROXMOX_USERNAME": "root", "PROXMOX_PASSWORD": "pw"})


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(
            {
                "PROXMOX_HOST": "pve1",
                "PROXMOX_API_PORT": "x",
                "PROXMOX_API_TOKEN_USER": "root",
                "PROXMOX_TLS_FINGERPRINT": "zz",
                "PROXMOX_MCP_ACCESS": "god",
            }
        )
    text = err.value.to_text()
    assert len(err.value.problems) == 4
    for needle in ("PROXMOX_API_PORT", "PROXMOX_TLS_FINGERPRINT", "token is incomplete", "PROXMOX_MCP_ACCESS"):
        assert needle in text


@pytest.mark.parametrize("host", ["https://pve1:8006/api2/json", "pve1:8006", "[fd00::1]:8006"])
def test_endpoints_accept_urls_and_host_port_forms(host: str) -> None:
    ep = ApiEndpoint.parse(host)
    assert ep.port == 8006 and ep.host in ("pve1", "[fd00::1]")


@pytest.mark.parametrize("host", ["pve1/../x", "a b", "pve1;id"])
def test_hostile_hosts_are_refused(host: str) -> None:
    with pytest.raises(ConfigError):
        load_settings({**TOKEN, "PROXMOX_HOST": host})


def test_a_toml_file_defines_several_clusters(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text(
        """
access = "operator"
[[clusters]]
name = "home"
endpoints = ["pve1:8006", "pve2"]
token_user = "root"
token_id = "mcp"
token_secret = "s1"
default_node = "pve1"
[[clusters]]
name = "prod"
endpoints = ["https://10.0.0.1:8006"]
username = "ops@pve"
password = "pw"
access = "read-only"
"""
    )
    s = load_settings({"PROXMOX_MCP_CONFIG": str(f)})
    assert [c.name for c in s.clusters] == ["home", "prod"]
    assert len(s.cluster("home").endpoints) == 2
    assert s.access_for(s.cluster("prod")) == "read-only" and s.access_for(s.cluster("home")) == "operator"
    with pytest.raises(InvalidArgumentError, match="unknown cluster"):
        s.cluster("nope")


def test_env_and_file_clusters_at_once_are_refused(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[[clusters]]\nname="a"\nendpoints=["h"]\ntoken_user="u"\ntoken_id="i"\ntoken_secret="s"\n')
    with pytest.raises(ConfigError, match="keep one of the two"):
        load_settings({**TOKEN, "PROXMOX_MCP_CONFIG": str(f)})


def test_file_errors_name_the_cluster_and_unknown_keys(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('colour = "blue"\n[[clusters]]\nname="a"\nendpoints=["h"]\ntoken_user="u"\nbogus=1\n')
    with pytest.raises(ConfigError) as err:
        load_settings({"PROXMOX_MCP_CONFIG": str(f)})
    text = err.value.to_text()
    assert "unknown key 'colour'" in text and "cluster a" in text and "bogus" in text


def test_a_missing_or_broken_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings({"PROXMOX_MCP_CONFIG": str(tmp_path / "none.toml")})
    bad = tmp_path / "bad.toml"
    bad.write_text("[[clusters]\n")
    with pytest.raises(ConfigError, match="cannot read TOML"):
        load_settings({"PROXMOX_MCP_CONFIG": str(bad)})


def test_no_cluster_at_all_is_allowed_but_tools_are_told_how_to_configure() -> None:
    s = load_settings({})
    assert s.clusters == []
    with pytest.raises(ConfigError, match="no Proxmox cluster is configured"):
        s.cluster()


def test_ssh_settings_from_env_pin_the_host_key_of_the_default_node(tmp_path: Path) -> None:
    keyfile = tmp_path / "id"
    keyfile.write_text("not read at load time")
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    s = load_settings(
        {
            **TOKEN,
            "PROXMOX_DEFAULT_NODE": "pve1",
            "PROXMOX_SHELL_SSH_USERNAME": "root",
            "PROXMOX_SHELL_SSH_PRIVATE_KEY_PATH": str(keyfile),
            "PROXMOX_SHELL_SSH_EXPECTED_HOST_KEY": key,
        }
    )
    target = s.clusters[0].ssh["pve1"]
    assert target.host == "pve1.example.net" and target.port == 22 and target.host_keys


def test_ssh_problems_are_listed_with_the_other_problems() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(
            {**TOKEN, "PROXMOX_API_PORT": "x", "PROXMOX_SHELL_SSH_USERNAME": "root",
             "PROXMOX_SHELL_SSH_PRIVATE_KEY_PATH": "/nonexistent/key"}
        )
    text = err.value.to_text()
    assert "PROXMOX_SHELL_SSH_PRIVATE_KEY_PATH" in text and "PROXMOX_API_PORT" in text


def test_no_ssh_settings_leave_the_ssh_planes_off() -> None:
    assert load_settings(TOKEN).clusters[0].ssh == {}
