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


# --- secrets by reference -------------------------------------------------------------------

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
VAULT = {
    "PROXMOX_MCP_SECRET_BACKEND": "vault",
    "PROXMOX_MCP_SECRET_VAULT_ADDR": "http://127.0.0.1:8200",
    "PROXMOX_MCP_SECRET_VAULT_PATH": "secret/proxmox",
    "VAULT_TOKEN": "hvs.not-contacted-at-load",
}
IDENTITY = {"PROXMOX_HOST": "pve1", "PROXMOX_API_TOKEN_USER": "root", "PROXMOX_API_TOKEN_ID": "mcp"}


def secret_file(tmp_path: Path, text: str = "", name: str = "secrets.toml") -> Path:
    f = tmp_path / name
    f.write_text(text)
    f.chmod(0o600)
    return f


def test_the_env_block_with_the_vault_backend_reads_its_token_secret_from_the_vault_path() -> None:
    from proxmox_operator_mcp.secrets import SecretRef, VaultBackend

    s = load_settings({**IDENTITY, **VAULT})
    (c,) = s.clusters
    assert c.token_secret is None and c.token_full_id == "root@pam!mcp"
    assert c.refs() == {"token_secret_ref": SecretRef("vault", "secret/proxmox", "PROXMOX_API_TOKEN_SECRET")}
    assert isinstance(s.resolver.backend("vault"), VaultBackend)
    assert c.secrets.resolver is s.resolver


def test_a_secret_left_in_the_environment_next_to_another_backend_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({**IDENTITY, **VAULT, "PROXMOX_API_TOKEN_SECRET": "left-behind-secret"})
    text = err.value.to_text()
    assert "PROXMOX_API_TOKEN_SECRET is set in the environment" in text and "PROXMOX_MCP_SECRET_BACKEND=vault" in text
    assert "left-behind-secret" not in text


def test_secret_backend_problems_are_listed_with_the_other_problems() -> None:
    env = {**IDENTITY, **VAULT, "PROXMOX_API_PORT": "x"}
    del env["VAULT_TOKEN"], env["PROXMOX_MCP_SECRET_VAULT_PATH"]
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    text = err.value.to_text()
    assert "PROXMOX_API_PORT" in text and "VAULT_TOKEN" in text and "PROXMOX_MCP_SECRET_VAULT_PATH is not set" in text


def test_an_env_block_naming_nobody_reads_its_identity_from_the_backend() -> None:
    from proxmox_operator_mcp.secrets import SecretRef

    c = load_settings({"PROXMOX_HOST": "pve1", **VAULT}).clusters[0]
    assert c.secrets.deferred and c.secrets.known_identity() is None
    assert c.password_ref == SecretRef("vault", "secret/proxmox", "PROXMOX_PASSWORD")
    assert c.auth_label == "read from vault:secret/proxmox on first use"


def test_ticket_auth_with_the_file_backend_refers_to_the_top_level_password(tmp_path: Path) -> None:
    from proxmox_operator_mcp.secrets import SecretRef

    f = secret_file(tmp_path)
    env = {"PROXMOX_HOST": "pve1", "PROXMOX_USERNAME": "ops@pve", "PROXMOX_MCP_SECRET_BACKEND": "file",
           "PROXMOX_MCP_SECRET_FILE_PATH": str(f)}
    c = load_settings(env).clusters[0]
    assert c.auth_kind == "ticket" and c.refs() == {"password_ref": SecretRef("file", None, "PROXMOX_PASSWORD")}


def test_each_file_cluster_gets_its_own_vault_path_from_secret_path(tmp_path: Path) -> None:
    from proxmox_operator_mcp.secrets import SecretRef

    f = tmp_path / "c.toml"
    f.write_text(
        """
[[clusters]]
name = "home"
endpoints = ["pve1"]
token_user = "root"
token_id = "mcp"
secret_path = "secret/proxmox/home"
[[clusters]]
name = "prod"
endpoints = ["pve9"]
username = "ops@pve"
secret_path = "/secret/proxmox/prod/"
[[clusters]]
name = "lab"
endpoints = ["lab1"]
token_secret_ref = "vault:secret/shared#LAB_TOKEN"
token_user = "root"
token_id = "lab"
"""
    )
    env = {"PROXMOX_MCP_CONFIG": str(f), **VAULT}
    home, prod, lab = load_settings(env).clusters
    assert home.token_secret_ref == SecretRef("vault", "secret/proxmox/home", "PROXMOX_API_TOKEN_SECRET")
    assert home.password_ref is None
    assert prod.password_ref == SecretRef("vault", "secret/proxmox/prod", "PROXMOX_PASSWORD")
    assert lab.token_secret_ref == SecretRef("vault", "secret/shared", "LAB_TOKEN")


def test_file_clusters_with_the_file_backend_default_to_their_own_section(tmp_path: Path) -> None:
    from proxmox_operator_mcp.secrets import SecretRef

    f = tmp_path / "c.toml"
    f.write_text('[[clusters]]\nname="home"\nendpoints=["pve1"]\ntoken_user="root"\ntoken_id="mcp"\n')
    env = {"PROXMOX_MCP_CONFIG": str(f), "PROXMOX_MCP_SECRET_BACKEND": "file",
           "PROXMOX_MCP_SECRET_FILE_PATH": str(secret_file(tmp_path))}
    (c,) = load_settings(env).clusters
    assert c.token_secret_ref == SecretRef("file", "home", "PROXMOX_API_TOKEN_SECRET")


@pytest.mark.parametrize(
    ("cluster", "backend_env", "needle"),
    [
        ('token_secret = "inline"\ntoken_secret_ref = "env:T"', {}, "token_secret and token_secret_ref are both set"),
        ('token_secret_ref = "vault:secret/x#T"', {}, "refers to the vault backend"),
        ('token_secret_ref = "aws:x#T"', {}, "token_secret_ref"),
        ('secret_path = "secret/x"', {}, "secret_path needs PROXMOX_MCP_SECRET_BACKEND=file or vault"),
        ('secret_path = "has space"', VAULT, "write a Vault path"),
    ],
)
def test_bad_secret_references_are_clear_config_errors(
    tmp_path: Path, cluster: str, backend_env: dict[str, str], needle: str
) -> None:
    f = tmp_path / "c.toml"
    f.write_text(f'[[clusters]]\nname="a"\nendpoints=["h"]\ntoken_user="u"\ntoken_id="i"\n{cluster}\n')
    with pytest.raises(ConfigError) as err:
        load_settings({"PROXMOX_MCP_CONFIG": str(f), **backend_env})
    assert needle in err.value.to_text()


def test_an_env_reference_works_with_every_backend(tmp_path: Path) -> None:
    from proxmox_operator_mcp.secrets import SecretRef

    f = tmp_path / "c.toml"
    f.write_text('[[clusters]]\nname="a"\nendpoints=["h"]\ntoken_user="u"\ntoken_id="i"\ntoken_secret_ref="env:A_TOKEN"\n')
    s = load_settings({"PROXMOX_MCP_CONFIG": str(f), **VAULT})
    assert s.clusters[0].token_secret_ref == SecretRef("env", None, "A_TOKEN")
    assert set(s.resolver.backends) == {"vault", "env"}


def test_the_ssh_key_of_the_env_block_comes_from_the_backend_when_no_key_file_is_given() -> None:
    from proxmox_operator_mcp.secrets import SecretRef

    env = {**IDENTITY, **VAULT, "PROXMOX_DEFAULT_NODE": "pve1", "PROXMOX_SHELL_SSH_EXPECTED_HOST_KEY": HOST_KEY}
    c = load_settings(env).clusters[0]
    target = c.ssh["pve1"]
    assert target.client_key is None and target.client_key_path is None
    assert c.ssh_private_key_ref == SecretRef("vault", "secret/proxmox", "PROXMOX_SHELL_SSH_PRIVATE_KEY")
    assert c.ssh_passphrase_ref == SecretRef("vault", "secret/proxmox", "PROXMOX_SHELL_SSH_PRIVATE_KEY_PASSPHRASE")


def test_the_ssh_key_of_a_file_cluster_comes_from_its_secret_path(tmp_path: Path) -> None:
    from proxmox_operator_mcp.secrets import SecretRef

    f = tmp_path / "c.toml"
    f.write_text(
        f"""
[[clusters]]
name = "home"
endpoints = ["pve1"]
token_user = "root"
token_id = "mcp"
secret_path = "secret/proxmox/home"
[clusters.ssh]
username = "root"
[clusters.ssh.nodes.pve1]
host = "10.0.0.1"
host_keys = ["{HOST_KEY}"]
[clusters.ssh.nodes.pve2]
host = "10.0.0.2"
host_keys = ["{HOST_KEY}"]
private_key_path = "{f}"
"""
    )
    (c,) = load_settings({"PROXMOX_MCP_CONFIG": str(f), **VAULT}).clusters
    assert c.ssh["pve1"].client_key is None and c.ssh["pve2"].client_key_path == f
    assert c.ssh_private_key_ref == SecretRef("vault", "secret/proxmox/home", "PROXMOX_SHELL_SSH_PRIVATE_KEY")


def test_loading_settings_with_vault_neither_contacts_vault_nor_imports_hvac() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from proxmox_operator_mcp.config import load_settings\n"
        f"s = load_settings({ {**IDENTITY, **VAULT, 'PROXMOX_MCP_SECRET_VAULT_ADDR': 'http://192.0.2.1:9'} !r})\n"
        "assert s.clusters[0].token_secret_ref is not None\n"
        "print('hvac' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
