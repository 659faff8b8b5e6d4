"""``proxmox-mcp doctor`` on secrets: per cluster the backend, whether each secret resolved and
the Vault token's remaining TTL, never a value; against a real OpenBao and real files."""

from __future__ import annotations

import re
import socket
import uuid
from pathlib import Path

import anyio
import pytest

from proxmox_operator_mcp.config import load_settings
from proxmox_operator_mcp.doctor import run_doctor
from proxmox_operator_mcp.sim import SimOptions, run_sim

from .openbao import OpenBao

pytestmark = pytest.mark.anyio

TOKEN = "PROXMOX_API_TOKEN_SECRET"


def sim_identity(env: dict[str, str]) -> dict[str, str]:
    """The simulator's environment without its token secret (that goes into the backend)."""
    return {k: v for k, v in env.items() if k != TOKEN}


async def doctor(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with anyio.fail_after(60):
        code = await run_doctor(load_settings(env))
    return code, capsys.readouterr().out


async def test_doctor_shows_the_vault_backend_the_token_ttl_and_each_secret_resolved(
    bao: OpenBao, capsys: pytest.CaptureFixture[str]
) -> None:
    root = bao.client()
    path = f"secret/doctor-{uuid.uuid4().hex[:8]}"
    policy = f"doctor-{uuid.uuid4().hex[:8]}"
    root.sys.create_or_update_policy(policy, f'path "secret/data/{path[7:]}" {{ capabilities = ["read"] }}')
    vault_token = root.auth.token.create(policies=[policy], ttl="1h")["auth"]["client_token"]
    async with run_sim(SimOptions(nodes=1, vms_per_node=1, cts_per_node=0)) as sim:
        root.secrets.kv.v2.create_or_update_secret(
            path=path[7:], secret={TOKEN: sim.token_secret}, mount_point="secret"
        )
        env = {
            **sim_identity(sim.env()),
            "PROXMOX_MCP_SECRET_BACKEND": "vault",
            "PROXMOX_MCP_SECRET_VAULT_ADDR": bao.addr,
            "PROXMOX_MCP_SECRET_VAULT_PATH": path,
            "VAULT_TOKEN": vault_token,
        }
        code, out = await doctor(env, capsys)
    assert code == 0, out
    assert f"backend   : vault {bao.addr} (token auth, default path {path})" in out
    ttl = re.search(r"token TTL (\d+) s left, renewable", out)
    assert ttl is not None and 3000 < int(ttl.group(1)) <= 3600
    assert re.search(rf"{TOKEN}\s+vault:{path}#{TOKEN}\s+resolved", out)
    assert "auth      : API token root@pam!mcp" in out and "All clusters OK" in out
    assert sim.token_secret not in out and vault_token not in out


async def test_doctor_with_vault_down_says_which_secret_did_not_resolve_and_why(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        addr = f"http://127.0.0.1:{s.getsockname()[1]}"
    async with run_sim(SimOptions(nodes=1, vms_per_node=1, cts_per_node=0)) as sim:
        env = {
            **sim_identity(sim.env()),
            "PROXMOX_MCP_SECRET_BACKEND": "vault",
            "PROXMOX_MCP_SECRET_VAULT_ADDR": addr,
            "PROXMOX_MCP_SECRET_VAULT_PATH": "secret/proxmox",
            "VAULT_TOKEN": "doctor-vault-token-never-printed",
        }
        code, out = await doctor(env, capsys)
    assert code == 1
    assert f"backend   : vault {addr} (token auth, default path secret/proxmox): FAILED: cannot reach Vault" in out
    assert re.search(rf"{TOKEN}\s+vault:secret/proxmox#{TOKEN}\s+NOT resolved: cannot reach Vault", out)
    assert "API       : not tried" in out
    assert "doctor-vault-token-never-printed" not in out


async def test_doctor_shows_the_secrets_file_and_its_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secrets = tmp_path / "secrets.toml"
    async with run_sim(SimOptions(nodes=1, vms_per_node=1, cts_per_node=0)) as sim:
        secrets.write_text(f'{TOKEN} = "{sim.token_secret}"\n')
        secrets.chmod(0o600)
        env = {
            **sim_identity(sim.env()),
            "PROXMOX_MCP_SECRET_BACKEND": "file",
            "PROXMOX_MCP_SECRET_FILE_PATH": str(secrets),
        }
        code, out = await doctor(env, capsys)
    assert code == 0, out
    assert f"backend   : file {secrets} (toml, mode 0600)" in out
    assert re.search(rf"{TOKEN}\s+file:{TOKEN}\s+resolved", out)
    assert sim.token_secret not in out


async def test_doctor_with_inline_secrets_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    async with run_sim(SimOptions(nodes=1, vms_per_node=1, cts_per_node=0)) as sim:
        code, out = await doctor(sim.env(), capsys)
    assert code == 0, out
    assert "backend   : env; this cluster's credentials are inline" in out
    assert re.search(rf"{TOKEN}\s+inline\s+resolved", out)
    assert sim.token_secret not in out


def test_every_secrets_variable_is_documented_in_the_configuration_reference() -> None:
    from proxmox_operator_mcp.secrets import ENV_REFERENCE

    docs = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    section = docs.split("## Secrets", 1)[1]
    assert [name for name in ENV_REFERENCE if f"`{name}`" not in section] == []
