"""Secrets: resolved lazily from env, a file or Vault, rotated without restart, never leaked.

The public surface::

    backend = build_backend(os.environ)          # PROXMOX_MCP_SECRET_BACKEND=env|file|vault
    resolver = SecretResolver(backend)
    async with resolver.running():               # Vault token renewal in the background
        secret = await resolver.get(SecretRef("vault", "secret/proxmox/homelab", "PROXMOX_API_TOKEN_SECRET"))
        ...
        secret = await resolver.refresh(ref)     # after a 401: read again, retry once

a cluster's credentials on top of it (:class:`ClusterSecrets`, ``cluster.secrets``: identity,
token secret or password, the 401 refresh, SSH keys), and the redaction layer
(:data:`REDACTOR`, :class:`Redactor`, :class:`RedactingFilter`) that logs, audit records, errors
and tool outputs share. ``config.load_settings`` builds the resolver (``settings.resolver``);
docs/secrets.md describes the configuration.

Importing this package does not import hvac (a third of a second with requests): the Vault
backend imports it on first use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigError
from .base import BACKEND_NAMES, IDENTITY_FIELDS, SECRET_FIELDS, SecretBackend, SecretNotFound, SecretRef
from .cluster import ClusterSecrets, Identity, SecretLine
from .env import EnvBackend
from .file import FileBackend
from .redact import MASK, REDACTOR, RedactingFilter, Redactor, is_sensitive_key
from .resolver import SecretCheck, SecretResolver
from .vault import ENV_REFERENCE as _VAULT_ENV_REFERENCE
from .vault import VaultBackend, VaultSettings

__all__ = [
    "BACKEND_NAMES",
    "ENV_REFERENCE",
    "IDENTITY_FIELDS",
    "MASK",
    "REDACTOR",
    "SECRET_FIELDS",
    "ClusterSecrets",
    "EnvBackend",
    "FileBackend",
    "Identity",
    "RedactingFilter",
    "Redactor",
    "SecretBackend",
    "SecretCheck",
    "SecretLine",
    "SecretNotFound",
    "SecretRef",
    "SecretResolver",
    "VaultBackend",
    "VaultSettings",
    "build_backend",
    "backend_name",
    "build_resolver",
    "cluster_refs",
    "is_sensitive_key",
    "register_static_secrets",
]

# Documented environment variables of the secrets layer: name -> (meaning, default).
ENV_REFERENCE: dict[str, tuple[str, str]] = {
    "PROXMOX_MCP_SECRET_BACKEND": ("Where secrets come from: `env`, `file` or `vault`.", "env"),
    "PROXMOX_MCP_SECRET_FILE_PATH": (
        "JSON or TOML file of secrets (file backend), keys named like the environment variables, "
        "`[clusters.NAME]` per cluster; must be `chmod 600`.",
        "",
    ),
    "PROXMOX_MCP_SECRET_CACHE_TTL": (
        "Seconds a secret read from Vault is kept before it is read again (env and file are read every time).",
        "300",
    ),
    **_VAULT_ENV_REFERENCE,
}

_DEFAULT_TTL = {"env": 0.0, "file": 0.0, "vault": 300.0}


def build_backend(env: Mapping[str, str] | None = None) -> SecretBackend:
    """The backend chosen by ``PROXMOX_MCP_SECRET_BACKEND`` (default ``env``).

    Nothing is contacted here: Vault is reached on the first read.

    Raises:
        ConfigError: listing every problem found (unknown backend, missing Vault address or
            token, missing or unreadable file ...).
    """
    env = os.environ if env is None else env
    problems: list[str] = []
    explicit = env.get("PROXMOX_MCP_SECRET_BACKEND", "").strip().lower()
    kind = explicit or "env"
    if kind not in BACKEND_NAMES:
        problems.append(f"PROXMOX_MCP_SECRET_BACKEND={explicit!r}: use env, file or vault")

    ttl = _DEFAULT_TTL.get(kind, 0.0)
    raw_ttl = env.get("PROXMOX_MCP_SECRET_CACHE_TTL", "").strip()
    if raw_ttl:
        try:
            ttl = float(raw_ttl)
            if not 0 <= ttl <= 86400:
                raise ValueError
        except ValueError:
            problems.append(f"PROXMOX_MCP_SECRET_CACHE_TTL={raw_ttl!r}: seconds between 0 and 86400")

    if not explicit:
        stray = sorted(
            n for n in env if n.startswith(("PROXMOX_MCP_SECRET_VAULT_", "PROXMOX_MCP_SECRET_FILE_")) and env[n].strip()
        )
        if stray:
            problems.append(
                f"{', '.join(stray)} set but PROXMOX_MCP_SECRET_BACKEND is not: set it to "
                f"{'vault' if 'VAULT' in stray[0] else 'file'} (or unset those variables)"
            )

    backend: SecretBackend | None = None
    if kind == "env":
        backend = EnvBackend(env, cache_ttl=ttl)
    elif kind == "file":
        raw_path = env.get("PROXMOX_MCP_SECRET_FILE_PATH", "").strip()
        if not raw_path:
            problems.append("the file backend needs PROXMOX_MCP_SECRET_FILE_PATH (a JSON or TOML file, chmod 600)")
        elif not Path(raw_path).is_file():
            problems.append(f"PROXMOX_MCP_SECRET_FILE_PATH={raw_path!r}: file not found")
        else:
            backend = FileBackend(raw_path, cache_ttl=ttl)
    elif kind == "vault":
        settings = VaultSettings.from_env(env, problems, cache_ttl=ttl)
        if settings is not None:
            backend = VaultBackend(settings, env=env)
    if problems or backend is None:
        raise ConfigError(problems, hint="See `proxmox-mcp doctor` and docs/configuration.md (secrets).")
    return backend


def backend_name(env: Mapping[str, str] | None = None) -> str:
    """The backend ``PROXMOX_MCP_SECRET_BACKEND`` names (``env`` when unset; unchecked)."""
    env = os.environ if env is None else env
    return env.get("PROXMOX_MCP_SECRET_BACKEND", "").strip().lower() or "env"


def build_resolver(env: Mapping[str, str] | None = None) -> SecretResolver:
    """A :class:`SecretResolver` over :func:`build_backend`'s backend.

    The env backend is always there as well, so an explicit ``env:NAME`` reference works
    whichever backend is chosen.

    Raises:
        ConfigError: as :func:`build_backend`.
    """
    env = os.environ if env is None else env
    backend = build_backend(env)
    if backend.name == "env":
        return SecretResolver(backend)
    return SecretResolver(backend, EnvBackend(env))


def register_static_secrets(resolver: SecretResolver) -> None:
    """Teach :data:`REDACTOR` the backends' own credentials known before any read (the Vault
    token from the environment, an inline AppRole secret_id)."""
    for b in resolver.backends.values():
        static = getattr(b, "static_secrets", None)
        if callable(static):
            REDACTOR.add_all(static())


def cluster_refs(
    backend: str,
    *,
    cluster: str | None = None,
    path: str | None = None,
    fields: tuple[str, ...] = SECRET_FIELDS,
) -> dict[str, SecretRef]:
    """The references of one cluster's credentials, field name -> reference.

    * env: the variables themselves (``cluster``/``path`` unused);
    * file: the ``[clusters.<cluster>]`` section (top level when ``cluster`` is None);
    * vault: ``path`` (``<mount>/<path>``), or ``PROXMOX_MCP_SECRET_VAULT_PATH`` when None.
    """
    if backend == "env":
        return {f: SecretRef("env", None, f) for f in fields}
    if backend == "file":
        return {f: SecretRef("file", cluster, f) for f in fields}
    return {f: SecretRef(backend, path, f) for f in fields}
