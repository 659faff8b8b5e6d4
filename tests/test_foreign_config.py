"""Configurations of other Proxmox MCP servers load to the same effective configuration as their
TOML equivalents; two shapes at once are refused; `config show` and `config migrate`."""

from __future__ import annotations

import argparse
import json
import stat
from pathlib import Path

import pytest

from proxmox_operator_mcp.config import load_settings
from proxmox_operator_mcp.configcmd import add_parser, effective, run, to_toml
from proxmox_operator_mcp.errors import ConfigError

SECRET = "0d9e1b56-1111-2222-3333-444455556666"
OTHER = "7a7a7a7a-aaaa-bbbb-cccc-ddddeeeeffff"


def _same(foreign_env: dict[str, str], toml_text: str, tmp_path: Path) -> None:
    cfg = tmp_path / "equivalent.toml"
    cfg.write_text(toml_text)
    got = effective(load_settings(foreign_env), reveal=True)
    want = effective(load_settings({"PROXMOX_MCP_CONFIG": str(cfg)}), reveal=True)
    assert got == want


# --------------------------------------------------------------------------- the hybrid server


def test_hybrid_env_block_loads_like_its_toml_equivalent(tmp_path: Path) -> None:
    env = {
        "PROXMOX_HOST": "pve.lan:8006",
        "PROXMOX_USER": "root@pam",
        "PROXMOX_TOKEN_ID": "mcp",
        "PROXMOX_PASSWORD": SECRET,
        "PROXMOX_VERIFY_SSL": "false",
        "MCP_ALLOWED_HOSTS": "mcp.example.com",
    }
    _same(env, f'''
[[clusters]]
name = "default"
endpoints = ["pve.lan:8006"]
token_user = "root@pam"
token_id = "mcp"
token_secret = "{SECRET}"
tls_verify = false
''', tmp_path)
    assert load_settings(env).shape == "hybrid"


def test_hybrid_password_is_the_token_secret_only_when_its_user_or_token_is_set() -> None:
    ours = load_settings({"PROXMOX_HOST": "pve.lan", "PROXMOX_USERNAME": "root@pam", "PROXMOX_PASSWORD": SECRET})
    c = ours.clusters[0]
    assert ours.shape == "native" and c.auth_kind == "ticket" and c.password.get_secret_value() == SECRET
    theirs = load_settings({"PROXMOX_HOST": "pve.lan", "PROXMOX_USER": "root@pam", "PROXMOX_TOKEN_ID": "mcp",
                            "PROXMOX_PASSWORD": SECRET})
    c = theirs.clusters[0]
    assert c.auth_kind == "token" and c.token_full_id == "root@pam!mcp" and c.token_secret.get_secret_value() == SECRET
    assert c.password is None


def test_hybrid_clusters_json_loads_like_its_toml_equivalent(tmp_path: Path) -> None:
    data = {"clusters": {
        "lab": {"url": "10.0.0.5:8006", "user": "root@pam", "token_id": "mcp", "token_secret": SECRET,
                "verify_ssl": False},
        "prod": {"url": "https://pve.example.com:8006", "user": "api@pve", "token_id": "ro", "token_secret": OTHER},
    }}
    path = tmp_path / "clusters.json"
    path.write_text(json.dumps(data))
    _same({"PROXMOX_MCP_CONFIG": str(path)}, f'''
[[clusters]]
name = "lab"
endpoints = ["10.0.0.5:8006"]
token_user = "root@pam"
token_id = "mcp"
token_secret = "{SECRET}"
tls_verify = false

[[clusters]]
name = "prod"
endpoints = ["pve.example.com"]
token_user = "api@pve"
token_id = "ro"
token_secret = "{OTHER}"
''', tmp_path)


def test_clusters_json_with_an_unknown_key_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "clusters.json"
    path.write_text(json.dumps({"clusters": {"lab": {"url": "pve.lan", "user": "root@pam", "token_id": "mcp",
                                                     "token_secret": SECRET, "colour": "red"}}}))
    with pytest.raises(ConfigError) as err:
        load_settings({"PROXMOX_MCP_CONFIG": str(path)})
    assert any("'colour'" in p for p in err.value.problems)


# --------------------------------------------------------------------------- the JWT/RBAC server


def test_jwt_rbac_nodes_with_fallback_and_per_node_tokens_load_like_their_toml_equivalent(tmp_path: Path) -> None:
    env = {
        "PROXMOX_NODES": "pve1:10.0.0.11:8006,pve2:10.0.0.12:8007",
        "PROXMOX_TOKEN_ID": "root@pam!mcp",
        "PROXMOX_TOKEN_SECRET": SECRET,
        "PROXMOX_NODE_TOKENS": f"pve2:ops@pve!auto:{OTHER}",
        "VERIFY_TLS": "false",
    }
    _same(env, f'''
[[clusters]]
name = "pve1"
endpoints = ["10.0.0.11:8006"]
token_user = "root@pam"
token_id = "mcp"
token_secret = "{SECRET}"
tls_verify = false

[[clusters]]
name = "pve2"
endpoints = ["10.0.0.12:8007"]
token_user = "ops@pve"
token_id = "auto"
token_secret = "{OTHER}"
tls_verify = false
''', tmp_path)


def test_a_node_without_any_token_is_refused_by_name() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({"PROXMOX_NODES": "pve1:10.0.0.11:8006"})
    assert any("pve1" in p and "PROXMOX_NODE_TOKENS" in p for p in err.value.problems)


# --------------------------------------------------------------------------- the TypeScript block


def test_the_typescript_block_loads_like_its_toml_equivalent(tmp_path: Path) -> None:
    env = {
        "PROXMOX_HOST": "pve.lan",
        "PROXMOX_API_PORT": "8443",
        "PROXMOX_API_TOKEN_USER": "root",
        "PROXMOX_API_TOKEN_REALM": "pam",
        "PROXMOX_API_TOKEN_ID": "mcp",
        "PROXMOX_API_TOKEN_SECRET": SECRET,
        "PROXMOX_DEFAULT_NODE": "pve1",
        "PROXMOX_MCP_ACCESS": "operator",
    }
    toml = f'''
access = "operator"
[[clusters]]
name = "default"
endpoints = ["pve.lan:8443"]
token_user = "root"
token_realm = "pam"
token_id = "mcp"
token_secret = "{SECRET}"
default_node = "pve1"
'''
    _same(env, toml, tmp_path)


# --------------------------------------------------------------------------- conflicts


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"PROXMOX_HOST": "pve.lan", "PROXMOX_USER": "root@pam", "PROXMOX_TOKEN_ID": "mcp",
          "PROXMOX_PASSWORD": SECRET, "PROXMOX_API_TOKEN_SECRET": SECRET}, ("hybrid", "PROXMOX_API_TOKEN_SECRET")),
        ({"PROXMOX_NODES": "pve1:10.0.0.1:8006", "PROXMOX_TOKEN_ID": "root@pam!mcp", "PROXMOX_TOKEN_SECRET": SECRET,
          "PROXMOX_HOST": "pve.lan"}, ("PROXMOX_NODES", "PROXMOX_HOST")),
        ({"PROXMOX_NODES": "pve1:10.0.0.1:8006", "PROXMOX_TOKEN_ID": "root@pam!mcp", "PROXMOX_TOKEN_SECRET": SECRET,
          "PROXMOX_API_TOKEN_USER": "root"}, ("PROXMOX_NODES", "PROXMOX_API_TOKEN_USER")),
    ],
    ids=["hybrid-and-typescript", "nodes-and-host", "nodes-and-typescript-token"],
)
def test_two_env_shapes_at_once_are_refused_naming_both(env: dict[str, str], names: tuple[str, str]) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    text = "\n".join(err.value.problems)
    assert "two configuration shapes" in text and all(n in text for n in names), text


def test_an_env_shape_next_to_a_clusters_file_is_refused_naming_both(tmp_path: Path) -> None:
    path = tmp_path / "clusters.json"
    path.write_text(json.dumps({"clusters": {"lab": {"url": "pve.lan", "user": "root@pam", "token_id": "mcp",
                                                     "token_secret": SECRET}}}))
    env = {"PROXMOX_MCP_CONFIG": str(path), "PROXMOX_HOST": "pve.lan", "PROXMOX_USER": "root@pam",
           "PROXMOX_TOKEN_ID": "mcp", "PROXMOX_PASSWORD": SECRET}
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    text = "\n".join(err.value.problems)
    assert "hybrid server's block" in text and "clusters.json" in text


# --------------------------------------------------------------------------- config show / migrate


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_parser(p.add_subparsers(dest="command"))
    return p.parse_args(["config", *argv])


HYBRID = {"PROXMOX_HOST": "pve.lan", "PROXMOX_USER": "root@pam", "PROXMOX_TOKEN_ID": "mcp",
          "PROXMOX_PASSWORD": SECRET, "PROXMOX_VERIFY_SSL": "0"}


def test_config_show_masks_secrets_and_says_where_each_value_came_from(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(_args("show"), HYBRID) == 0
    out = capsys.readouterr().out
    assert SECRET not in out
    assert "# PROXMOX_PASSWORD" in out and "# PROXMOX_USER" in out and "# PROXMOX_VERIFY_SSL" in out
    assert "hybrid" in out.splitlines()[0]


def test_config_show_refuses_a_conflict_with_exit_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(_args("show"), {**HYBRID, "PROXMOX_USERNAME": "root@pam"}) == 2
    assert "two configuration shapes" in capsys.readouterr().err


@pytest.mark.anyio
async def test_config_migrate_writes_toml_that_loads_to_the_same_configuration(tmp_path: Path) -> None:
    out = tmp_path / "migrated.toml"
    assert run(_args("migrate", "-o", str(out)), HYBRID) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    text = out.read_text()
    assert SECRET not in text and 'token_secret_ref = "env:PROXMOX_PASSWORD"' in text
    migrated = load_settings({"PROXMOX_MCP_CONFIG": str(out), "PROXMOX_PASSWORD": SECRET})
    before = effective(load_settings(HYBRID), reveal=True)
    after = effective(migrated, reveal=True)
    for d in (before, after):
        for c in d["clusters"]:
            c.pop("token_secret"), c.pop("token_secret_ref")
    assert before == after
    assert (await migrated.clusters[0].secrets.secret()).get_secret_value() == SECRET
    assert run(_args("migrate", "-o", str(out)), HYBRID) == 1, "an existing file is kept without --force"


def test_config_migrate_of_a_json_file_inlines_its_secrets_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "clusters.json"
    path.write_text(json.dumps({"clusters": {"lab": {"url": "pve.lan:8006", "user": "root@pam", "token_id": "mcp",
                                                     "token_secret": SECRET, "verify_ssl": False}}}))
    settings = load_settings({"PROXMOX_MCP_CONFIG": str(path)})
    toml = tmp_path / "c.toml"
    toml.write_text(to_toml(settings))
    assert effective(load_settings({"PROXMOX_MCP_CONFIG": str(toml)}), reveal=True) == effective(settings, reveal=True)
