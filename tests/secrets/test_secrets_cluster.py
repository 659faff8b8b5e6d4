"""ClusterSecrets: a cluster's identity and credentials from its configuration or its secret
backend (a real secrets file here), the 401 refresh, and what reaches the redactor."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from proxmox_operator_mcp.config import Settings, load_settings
from proxmox_operator_mcp.errors import SecretError
from proxmox_operator_mcp.secrets import REDACTOR, Identity, SecretRef

pytestmark = pytest.mark.anyio

TOKEN = "PROXMOX_API_TOKEN_SECRET"


def file_settings(tmp_path: Path, secrets: str, **env: str) -> tuple[Settings, Path]:
    path = tmp_path / "secrets.toml"
    write(path, secrets)
    base = {"PROXMOX_HOST": "pve1", "PROXMOX_MCP_SECRET_BACKEND": "file", "PROXMOX_MCP_SECRET_FILE_PATH": str(path)}
    return load_settings({**base, **env}), path


def write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(text)
    tmp.chmod(0o600)
    os.replace(tmp, path)


async def test_inline_credentials_need_no_backend_and_never_refresh() -> None:
    s = load_settings({"PROXMOX_HOST": "pve1", "PROXMOX_API_TOKEN_USER": "root", "PROXMOX_API_TOKEN_ID": "mcp",
                       "PROXMOX_API_TOKEN_SECRET": "inline-secret-value"})
    cs = s.cluster().secrets
    assert cs.known_identity() == Identity("token", "root@pam", "mcp") and not cs.refreshable
    assert (await cs.secret()).get_secret_value() == "inline-secret-value"
    assert await cs.refresh() is False
    assert cs.source() == "inline"


async def test_the_identity_read_from_the_file_is_not_masked_in_outputs(tmp_path: Path) -> None:
    s, _ = file_settings(
        tmp_path,
        f'PROXMOX_API_TOKEN_USER = "root"\nPROXMOX_API_TOKEN_ID = "mcp"\n{TOKEN} = "file-secret-value"\n',
    )
    cs = s.cluster().secrets
    with anyio.fail_after(10):
        assert await cs.identity() == Identity("token", "root@pam", "mcp")
        await cs.secret()
    assert REDACTOR.redact("task of root@pam!mcp") == "task of root@pam!mcp"
    assert REDACTOR.redact("x file-secret-value y") == "x *** y"
    assert s.cluster().token_full_id == "root@pam!mcp" and s.cluster().auth_label == "token root@pam!mcp"


@pytest.mark.parametrize(
    ("secrets", "needle"),
    [
        (f'PROXMOX_API_TOKEN_ID = "mcp"\n{TOKEN} = "s"\n', "is set but file:PROXMOX_API_TOKEN_USER is not"),
        ('PROXMOX_USERNAME = "ops"\nPROXMOX_PASSWORD = "p"\n', "needs a realm"),
        (f'{TOKEN} = "s"\n', "has neither PROXMOX_API_TOKEN_ID nor PROXMOX_USERNAME"),
    ],
)
async def test_an_incomplete_identity_in_the_backend_is_a_clear_error(
    tmp_path: Path, secrets: str, needle: str
) -> None:
    s, _ = file_settings(tmp_path, secrets)
    with anyio.fail_after(10), pytest.raises(SecretError) as err:
        await s.cluster().secrets.identity()
    assert needle in err.value.to_text() and "cluster 'default'" in err.value.to_text()


async def test_refresh_says_whether_the_secret_changed(tmp_path: Path) -> None:
    s, path = file_settings(tmp_path, f'{TOKEN} = "first"\n', PROXMOX_API_TOKEN_USER="root", PROXMOX_API_TOKEN_ID="mcp")
    cs = s.cluster().secrets
    with anyio.fail_after(10):
        await cs.secret()
        assert await cs.refresh() is False
        write(path, f'{TOKEN} = "second"\n')
        assert await cs.refresh() is True
        assert (await cs.secret()).get_secret_value() == "second"


async def test_a_refresh_done_by_another_request_is_not_repeated(tmp_path: Path) -> None:
    s, path = file_settings(tmp_path, f'{TOKEN} = "first"\n', PROXMOX_API_TOKEN_USER="root", PROXMOX_API_TOKEN_ID="mcp")
    cs = s.cluster().secrets
    with anyio.fail_after(10):
        await cs.secret()
        seen = cs.generation
        await cs.refresh()  # another request's
        path.unlink()  # a read now would fail
        assert await cs.refresh(seen) is True


async def test_a_missing_secret_names_the_cluster_and_the_reference(tmp_path: Path) -> None:
    s, _ = file_settings(tmp_path, "", PROXMOX_USERNAME="ops@pve")
    with anyio.fail_after(10), pytest.raises(SecretError) as err:
        await s.cluster().secrets.secret()
    text = err.value.to_text()
    assert "Cannot get the password of cluster 'default' (file:PROXMOX_PASSWORD)" in text
    assert "Nothing was sent to Proxmox" in text and "Hint: add PROXMOX_PASSWORD" in text


async def test_a_model_copy_gets_its_own_credentials(tmp_path: Path) -> None:
    s, _ = file_settings(tmp_path, f'{TOKEN} = "x"\n', PROXMOX_API_TOKEN_USER="root", PROXMOX_API_TOKEN_ID="mcp")
    original = s.cluster()
    copy = original.model_copy(update={"token_id": "other"})
    assert copy.secrets is not original.secrets
    assert copy.secrets.known_identity() == Identity("token", "root@pam", "other")
    assert copy.token_secret_ref == SecretRef("file", None, TOKEN)
