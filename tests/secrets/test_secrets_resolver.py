"""SecretResolver (cache, shared reads, invalidation), SecretRef, and build_backend."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import SecretStr

from proxmox_operator_mcp.errors import ConfigError, SecretError
from proxmox_operator_mcp.secrets import (
    EnvBackend,
    FileBackend,
    Redactor,
    SecretRef,
    SecretResolver,
    VaultBackend,
    build_backend,
    cluster_refs,
)

TOKEN = "PROXMOX_API_TOKEN_SECRET"
REF = SecretRef("vault", "secret/proxmox", TOKEN)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ScriptedBackend:
    """A backend whose values and failures the test sets, counting reads; ``gate`` holds reads."""

    name = "vault"

    def __init__(self, cache_ttl: float = 60.0) -> None:
        self.cache_ttl = cache_ttl
        self.value = "value-1"
        self.error: SecretError | None = None
        self.reads = 0
        self.gate: anyio.Event | None = None
        self.started = anyio.Event()

    async def read(self, ref: SecretRef) -> SecretStr:
        self.reads += 1
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return SecretStr(self.value)

    async def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "ok": True}

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        yield

    async def aclose(self) -> None:
        return None


# --- SecretRef ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("env:MY_VAR", SecretRef("env", None, "MY_VAR")),
        ("file:homelab#PROXMOX_PASSWORD", SecretRef("file", "homelab", "PROXMOX_PASSWORD")),
        ("file:PROXMOX_PASSWORD", SecretRef("file", None, "PROXMOX_PASSWORD")),
        ("vault:secret/proxmox/homelab#" + TOKEN, SecretRef("vault", "secret/proxmox/homelab", TOKEN)),
        ("vault:#" + TOKEN, SecretRef("vault", None, TOKEN)),
    ],
)
def test_secret_ref_parses_and_prints_its_text_form(text: str, ref: SecretRef) -> None:
    assert SecretRef.parse(text) == ref
    assert SecretRef.parse(str(ref)) == ref


@pytest.mark.parametrize("text", ["nobackend", "aws:x#y", "vault:secret/x#", "env:bad name"])
def test_secret_ref_rejects_malformed_text(text: str) -> None:
    with pytest.raises(ValueError):
        SecretRef.parse(text)


def test_cluster_refs_point_each_backend_at_the_cluster() -> None:
    assert cluster_refs("file", cluster="homelab", fields=(TOKEN,)) == {TOKEN: SecretRef("file", "homelab", TOKEN)}
    assert cluster_refs("vault", path="secret/pve/homelab", fields=(TOKEN,)) == {
        TOKEN: SecretRef("vault", "secret/pve/homelab", TOKEN)
    }
    assert cluster_refs("env", cluster="ignored", fields=(TOKEN,)) == {TOKEN: SecretRef("env", None, TOKEN)}


# --- resolver -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_value_is_cached_until_its_ttl_then_read_again() -> None:
    backend, clock = ScriptedBackend(cache_ttl=60), Clock()
    resolver = SecretResolver(backend, clock=clock, redactor=Redactor())
    assert (await resolver.get(REF)).get_secret_value() == "value-1"
    backend.value = "value-2"
    clock.now += 59
    assert (await resolver.get(REF)).get_secret_value() == "value-1"
    assert backend.reads == 1
    clock.now += 2
    assert (await resolver.get(REF)).get_secret_value() == "value-2"
    assert backend.reads == 2


@pytest.mark.anyio
async def test_refresh_reads_again_at_once_for_the_401_path() -> None:
    backend = ScriptedBackend(cache_ttl=3600)
    resolver = SecretResolver(backend, redactor=Redactor())
    await resolver.get(REF)
    backend.value = "rotated"
    assert (await resolver.refresh(REF)).get_secret_value() == "rotated"
    assert (await resolver.get(REF)).get_secret_value() == "rotated"
    assert backend.reads == 2


@pytest.mark.anyio
async def test_invalidate_all_drops_every_cached_value() -> None:
    backend = ScriptedBackend(cache_ttl=3600)
    resolver = SecretResolver(backend, redactor=Redactor())
    other = SecretRef("vault", "secret/other", TOKEN)
    await resolver.get(REF)
    await resolver.get(other)
    resolver.invalidate()
    assert not resolver.cached(REF) and not resolver.cached(other)


@pytest.mark.anyio
async def test_a_ttl_of_zero_reads_every_time() -> None:
    backend = ScriptedBackend(cache_ttl=0)
    resolver = SecretResolver(backend, redactor=Redactor())
    await resolver.get(REF)
    await resolver.get(REF)
    assert backend.reads == 2


@pytest.mark.anyio
async def test_resolver_ttl_overrides_the_backends() -> None:
    backend = ScriptedBackend(cache_ttl=0)
    resolver = SecretResolver(backend, ttl=60, redactor=Redactor())
    await resolver.get(REF)
    await resolver.get(REF)
    assert backend.reads == 1


@pytest.mark.anyio
async def test_concurrent_gets_of_one_ref_share_one_read() -> None:
    backend = ScriptedBackend()
    backend.gate = anyio.Event()
    resolver = SecretResolver(backend, redactor=Redactor())
    results: list[str] = []

    async def get() -> None:
        results.append((await resolver.get(REF)).get_secret_value())

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(get)
            await backend.started.wait()
            await anyio.wait_all_tasks_blocked()
            backend.gate.set()
    assert results == ["value-1"] * 10
    assert backend.reads == 1


@pytest.mark.anyio
async def test_concurrent_gets_share_the_error_and_errors_are_not_cached() -> None:
    backend = ScriptedBackend()
    backend.gate = anyio.Event()
    backend.error = SecretError("Vault is down", hint="start it")
    resolver = SecretResolver(backend, redactor=Redactor())
    errors: list[str] = []

    async def get() -> None:
        try:
            await resolver.get(REF)
        except SecretError as exc:
            errors.append(exc.to_text())

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(get)
            await backend.started.wait()
            await anyio.wait_all_tasks_blocked()
            backend.gate.set()
    assert errors == ["Vault is down\nHint: start it"] * 3
    assert backend.reads == 1
    backend.error = None
    assert (await resolver.get(REF)).get_secret_value() == "value-1"


@pytest.mark.anyio
async def test_a_waiter_reads_itself_when_the_reading_task_is_cancelled() -> None:
    backend = ScriptedBackend()
    backend.gate = anyio.Event()
    resolver = SecretResolver(backend, redactor=Redactor())
    got: list[str] = []

    async def waiter() -> None:
        got.append((await resolver.get(REF)).get_secret_value())

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            async with anyio.create_task_group() as leader:
                leader.start_soon(resolver.get, REF)
                await backend.started.wait()
                tg.start_soon(waiter)
                await anyio.wait_all_tasks_blocked()
                leader.cancel_scope.cancel()
            backend.gate.set()
    assert got == ["value-1"]
    assert backend.reads == 2


@pytest.mark.anyio
async def test_a_read_overtaken_by_invalidate_is_not_cached() -> None:
    backend = ScriptedBackend(cache_ttl=3600)
    backend.gate = anyio.Event()
    resolver = SecretResolver(backend, redactor=Redactor())
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(resolver.get, REF)
            await backend.started.wait()
            resolver.invalidate(REF)
            backend.gate.set()
    assert not resolver.cached(REF)


@pytest.mark.anyio
async def test_every_value_read_is_registered_with_the_redactor() -> None:
    backend = ScriptedBackend()
    backend.value = "rotated-secret-value"
    redactor = Redactor()
    resolver = SecretResolver(backend, redactor=redactor)
    await resolver.get(REF)
    assert redactor.redact("Authorization uses rotated-secret-value") == "Authorization uses ***"


@pytest.mark.anyio
async def test_a_ref_to_an_unconfigured_backend_names_both() -> None:
    resolver = SecretResolver(EnvBackend({}), redactor=Redactor())
    with pytest.raises(SecretError, match=r"backend 'vault' is not configured \(configured: env\)"):
        await resolver.get(REF)


@pytest.mark.anyio
async def test_report_says_which_secrets_resolved_and_never_a_value() -> None:
    env = {TOKEN: "env-secret-value"}
    resolver = SecretResolver(EnvBackend(env), redactor=Redactor())
    report = await resolver.report(
        {
            "default": {"token_secret": SecretRef("env", None, TOKEN)},
            "lab": {"password": SecretRef("env", None, "LAB_PASSWORD")},
        }
    )
    assert report["backends"] == {"env": {"backend": "env", "ok": True}}
    assert report["clusters"]["default"] == {
        "backend": "env",
        "secrets": {"token_secret": {"ref": f"env:{TOKEN}", "resolved": True}},
    }
    lab = report["clusters"]["lab"]["secrets"]["password"]
    assert lab["resolved"] is False and "LAB_PASSWORD is not set" in lab["error"]
    assert "env-secret-value" not in repr(report)


@pytest.mark.anyio
async def test_running_closes_the_backends_at_the_end() -> None:
    closed: list[str] = []

    class Closing(ScriptedBackend):
        async def aclose(self) -> None:
            closed.append(self.name)

    resolver = SecretResolver(Closing(), redactor=Redactor())
    async with resolver.running():
        await resolver.get(REF)
    assert closed == ["vault"]
    assert not resolver.cached(REF)


# --- build_backend --------------------------------------------------------------------------


def test_default_backend_is_env() -> None:
    backend = build_backend({})
    assert isinstance(backend, EnvBackend)
    assert backend.cache_ttl == 0


def test_file_backend_from_env(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text("")
    os.chmod(path, 0o600)
    backend = build_backend({"PROXMOX_MCP_SECRET_BACKEND": "file", "PROXMOX_MCP_SECRET_FILE_PATH": str(path)})
    assert isinstance(backend, FileBackend) and backend.path == path


def test_vault_backend_from_env_with_cache_ttl() -> None:
    backend = build_backend(
        {
            "PROXMOX_MCP_SECRET_BACKEND": "vault",
            "PROXMOX_MCP_SECRET_VAULT_ADDR": "https://vault.example:8200/",
            "PROXMOX_MCP_SECRET_VAULT_PATH": "secret/proxmox",
            "PROXMOX_MCP_SECRET_CACHE_TTL": "30",
            "VAULT_TOKEN": "s.whatever",
        }
    )
    assert isinstance(backend, VaultBackend)
    assert backend.settings.addr == "https://vault.example:8200"
    assert backend.settings.auth == "token"
    assert backend.cache_ttl == 30


def test_vault_auth_is_inferred_from_the_settings_given() -> None:
    backend = build_backend(
        {
            "PROXMOX_MCP_SECRET_BACKEND": "vault",
            "PROXMOX_MCP_SECRET_VAULT_ADDR": "http://127.0.0.1:8200",
            "PROXMOX_MCP_SECRET_VAULT_ROLE_ID": "role",
            "PROXMOX_MCP_SECRET_VAULT_SECRET_ID": "sid",
        }
    )
    assert isinstance(backend, VaultBackend) and backend.settings.auth == "approle"
    assert "sid" not in repr(backend.settings)


def test_unknown_backend_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="PROXMOX_MCP_SECRET_BACKEND='aws': use env, file or vault"):
        build_backend({"PROXMOX_MCP_SECRET_BACKEND": "aws"})


def test_every_vault_problem_is_listed_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        build_backend(
            {
                "PROXMOX_MCP_SECRET_BACKEND": "vault",
                "PROXMOX_MCP_SECRET_VAULT_PATH": "nomount",
                "PROXMOX_MCP_SECRET_VAULT_CA_FILE": str(tmp_path / "missing.pem"),
                "PROXMOX_MCP_SECRET_VAULT_KV_VERSION": "3",
                "PROXMOX_MCP_SECRET_CACHE_TTL": "soon",
            }
        )
    problems = "\n".join(info.value.problems)
    assert len(info.value.problems) == 6, problems
    for needle in (
        "PROXMOX_MCP_SECRET_VAULT_ADDR is not set",
        "PROXMOX_MCP_SECRET_VAULT_PATH='nomount': write <mount>/<path>",
        "token auth needs a token in VAULT_TOKEN",
        "missing.pem'",
        "KV_VERSION='3'",
        "PROXMOX_MCP_SECRET_CACHE_TTL='soon'",
    ):
        assert needle in problems


def test_approle_and_kubernetes_problems_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        build_backend(
            {
                "PROXMOX_MCP_SECRET_BACKEND": "vault",
                "PROXMOX_MCP_SECRET_VAULT_ADDR": "http://127.0.0.1:8200",
                "PROXMOX_MCP_SECRET_VAULT_AUTH": "approle",
            }
        )
    assert "AppRole auth needs PROXMOX_MCP_SECRET_VAULT_ROLE_ID" in info.value.message
    with pytest.raises(ConfigError) as info:
        build_backend(
            {
                "PROXMOX_MCP_SECRET_BACKEND": "vault",
                "PROXMOX_MCP_SECRET_VAULT_ADDR": "http://127.0.0.1:8200",
                "PROXMOX_MCP_SECRET_VAULT_AUTH": "kubernetes",
                "PROXMOX_MCP_SECRET_VAULT_K8S_JWT_FILE": str(tmp_path / "no-token"),
            }
        )
    assert "K8S_ROLE" in info.value.message and "no-token not found" in info.value.message


def test_the_token_variable_can_be_renamed() -> None:
    env = {
        "PROXMOX_MCP_SECRET_BACKEND": "vault",
        "PROXMOX_MCP_SECRET_VAULT_ADDR": "http://127.0.0.1:8200",
        "PROXMOX_MCP_SECRET_VAULT_TOKEN_ENV": "MY_BAO_TOKEN",
    }
    with pytest.raises(ConfigError, match="needs a token in MY_BAO_TOKEN"):
        build_backend(env)
    backend = build_backend({**env, "MY_BAO_TOKEN": "s.x"})
    assert isinstance(backend, VaultBackend) and backend.settings.token_env == "MY_BAO_TOKEN"


def test_file_backend_without_a_path_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="needs PROXMOX_MCP_SECRET_FILE_PATH"):
        build_backend({"PROXMOX_MCP_SECRET_BACKEND": "file"})


def test_vault_settings_without_choosing_the_backend_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="PROXMOX_MCP_SECRET_VAULT_ADDR set but PROXMOX_MCP_SECRET_BACKEND is not"):
        build_backend({"PROXMOX_MCP_SECRET_VAULT_ADDR": "http://127.0.0.1:8200"})
