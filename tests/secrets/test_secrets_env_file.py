"""The env and file backends."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from proxmox_operator_mcp.errors import SecretError
from proxmox_operator_mcp.secrets import EnvBackend, FileBackend, SecretRef

pytestmark = pytest.mark.anyio

TOKEN = "PROXMOX_API_TOKEN_SECRET"
KEY = "PROXMOX_SHELL_SSH_PRIVATE_KEY"

TOML = f'''
{TOKEN} = "top-level-secret"

[clusters.homelab]
{TOKEN} = "homelab-secret"
{KEY} = """
-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjE
-----END OPENSSH PRIVATE KEY-----
"""

[clusters.lab2]
PROXMOX_PASSWORD = "lab2-password"
'''


def write_secret_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)
    return path


# --- env ------------------------------------------------------------------------------------


async def test_env_backend_reads_the_variable_named_by_the_field() -> None:
    backend = EnvBackend({TOKEN: "from-env"})
    value = await backend.read(SecretRef("env", None, TOKEN))
    assert value.get_secret_value() == "from-env"


async def test_env_backend_sees_changes_to_the_mapping_without_restart() -> None:
    env = {TOKEN: "one"}
    backend = EnvBackend(env)
    ref = SecretRef("env", None, TOKEN)
    assert (await backend.read(ref)).get_secret_value() == "one"
    env[TOKEN] = "two"
    assert (await backend.read(ref)).get_secret_value() == "two"


async def test_env_backend_names_the_missing_variable() -> None:
    backend = EnvBackend({TOKEN: ""})
    with pytest.raises(SecretError, match=f"environment variable {TOKEN} is not set"):
        await backend.read(SecretRef("env", None, TOKEN))


async def test_env_backend_refuses_a_reference_with_a_path() -> None:
    with pytest.raises(SecretError, match="has a path"):
        await EnvBackend({}).read(SecretRef("env", "homelab", TOKEN))


# --- file -----------------------------------------------------------------------------------


async def test_file_backend_reads_top_level_and_cluster_sections_from_toml(tmp_path: Path) -> None:
    backend = FileBackend(write_secret_file(tmp_path / "secrets.toml", TOML))
    assert (await backend.read(SecretRef("file", None, TOKEN))).get_secret_value() == "top-level-secret"
    assert (await backend.read(SecretRef("file", "homelab", TOKEN))).get_secret_value() == "homelab-secret"
    key = (await backend.read(SecretRef("file", "homelab", KEY))).get_secret_value()
    assert key.strip().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert (await backend.read(SecretRef("file", "lab2", "PROXMOX_PASSWORD"))).get_secret_value() == "lab2-password"


async def test_file_backend_reads_json(tmp_path: Path) -> None:
    doc = {TOKEN: "json-top", "clusters": {"homelab": {TOKEN: "json-homelab"}}}
    backend = FileBackend(write_secret_file(tmp_path / "secrets.json", json.dumps(doc)))
    assert (await backend.read(SecretRef("file", None, TOKEN))).get_secret_value() == "json-top"
    assert (await backend.read(SecretRef("file", "homelab", TOKEN))).get_secret_value() == "json-homelab"


async def test_file_backend_detects_json_by_content_without_an_extension(tmp_path: Path) -> None:
    backend = FileBackend(write_secret_file(tmp_path / "secrets", json.dumps({TOKEN: "sniffed"})))
    assert (await backend.read(SecretRef("file", None, TOKEN))).get_secret_value() == "sniffed"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
async def test_file_readable_by_group_or_others_is_refused_with_chmod_600(tmp_path: Path, mode: int) -> None:
    path = write_secret_file(tmp_path / "secrets.toml", TOML, mode)
    with pytest.raises(SecretError) as info:
        await FileBackend(path).read(SecretRef("file", None, TOKEN))
    text = info.value.to_text()
    assert f"chmod 600 {path}" in text
    assert f"{mode:04o}" in text
    assert "top-level-secret" not in text


async def test_file_with_mode_400_is_accepted(tmp_path: Path) -> None:
    path = write_secret_file(tmp_path / "secrets.toml", TOML, 0o400)
    assert (await FileBackend(path).read(SecretRef("file", None, TOKEN))).get_secret_value() == "top-level-secret"


async def test_file_edited_in_place_is_picked_up_without_restart(tmp_path: Path) -> None:
    path = write_secret_file(tmp_path / "secrets.toml", f'{TOKEN} = "first-value"\n')
    backend = FileBackend(path)
    ref = SecretRef("file", None, TOKEN)
    assert (await backend.read(ref)).get_secret_value() == "first-value"
    before = path.stat()
    path.write_text(f'{TOKEN} = "second-value"\n', encoding="utf-8")  # same size, same inode
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    assert (await backend.read(ref)).get_secret_value() == "second-value"


async def test_file_replaced_by_rename_is_picked_up_without_restart(tmp_path: Path) -> None:
    path = write_secret_file(tmp_path / "secrets.toml", f'{TOKEN} = "first-value"\n')
    backend = FileBackend(path)
    ref = SecretRef("file", None, TOKEN)
    assert (await backend.read(ref)).get_secret_value() == "first-value"
    new = write_secret_file(tmp_path / "secrets.toml.new", f'{TOKEN} = "third-value"\n')
    os.utime(new, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))  # same mtime: the inode tells
    os.replace(new, path)
    assert (await backend.read(ref)).get_secret_value() == "third-value"


async def test_malformed_file_error_gives_the_position_never_the_content(tmp_path: Path) -> None:
    path = write_secret_file(tmp_path / "secrets.toml", f'{TOKEN} = "very-secret-value\n')
    with pytest.raises(SecretError, match="not valid TOML") as info:
        await FileBackend(path).read(SecretRef("file", None, TOKEN))
    assert "very-secret-value" not in info.value.to_text()
    assert "line 1" in info.value.to_text()


async def test_malformed_json_error_never_shows_the_content(tmp_path: Path) -> None:
    path = write_secret_file(tmp_path / "s.json", '{"PROXMOX_PASSWORD": "very-secret-value",}')
    with pytest.raises(SecretError, match="not valid JSON") as info:
        await FileBackend(path).read(SecretRef("file", None, "PROXMOX_PASSWORD"))
    assert "very-secret-value" not in info.value.to_text()


async def test_a_file_fixed_after_an_error_is_read_again(tmp_path: Path) -> None:
    path = write_secret_file(tmp_path / "secrets.toml", "not toml at all ===")
    backend = FileBackend(path)
    ref = SecretRef("file", None, TOKEN)
    with pytest.raises(SecretError):
        await backend.read(ref)
    path.write_text(f'{TOKEN} = "fixed"\n', encoding="utf-8")
    assert (await backend.read(ref)).get_secret_value() == "fixed"


async def test_non_string_values_are_named_by_key_not_value(tmp_path: Path) -> None:
    path = write_secret_file(tmp_path / "s.json", json.dumps({TOKEN: ["very-secret-value"]}))
    with pytest.raises(SecretError, match=f"{TOKEN} at the top level is a list") as info:
        await FileBackend(path).read(SecretRef("file", None, TOKEN))
    assert "very-secret-value" not in info.value.to_text()


async def test_missing_cluster_section_and_field_are_named(tmp_path: Path) -> None:
    backend = FileBackend(write_secret_file(tmp_path / "secrets.toml", TOML))
    with pytest.raises(SecretError, match=r"no section for cluster 'prod' \(sections: homelab, lab2\)"):
        await backend.read(SecretRef("file", "prod", TOKEN))
    with pytest.raises(SecretError, match=r"has no PROXMOX_PASSWORD in \[clusters.homelab\]"):
        await backend.read(SecretRef("file", "homelab", "PROXMOX_PASSWORD"))


async def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="does not exist"):
        await FileBackend(tmp_path / "nope.toml").read(SecretRef("file", None, TOKEN))


async def test_file_describe_lists_field_names_never_values(tmp_path: Path) -> None:
    backend = FileBackend(write_secret_file(tmp_path / "secrets.toml", TOML))
    status = await backend.describe()
    assert status["ok"] is True
    assert status["format"] == "toml"
    assert status["mode"] == "0600"
    assert status["fields"] == [TOKEN]
    assert status["clusters"] == {"homelab": sorted([KEY, TOKEN]), "lab2": ["PROXMOX_PASSWORD"]}
    dumped = json.dumps(status)
    for value in ("top-level-secret", "homelab-secret", "lab2-password", "b3BlbnNzaC1rZXktdjE"):
        assert value not in dumped


async def test_file_describe_reports_a_refused_file(tmp_path: Path) -> None:
    backend = FileBackend(write_secret_file(tmp_path / "secrets.toml", TOML, 0o644))
    status = await backend.describe()
    assert status["ok"] is False
    assert "chmod 600" in status["error"]
