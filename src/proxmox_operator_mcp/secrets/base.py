"""The small protocol every secret backend implements, and the reference type it resolves."""

from __future__ import annotations

import re
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from pydantic import SecretStr

from ..errors import SecretError

__all__ = ["BACKEND_NAMES", "IDENTITY_FIELDS", "SECRET_FIELDS", "SecretBackend", "SecretNotFound", "SecretRef"]

BACKEND_NAMES = ("env", "file", "vault")

# The field names a cluster's credentials use in every backend: the names of the environment
# variables they replace, so an env block moves into a file or into Vault unchanged.
SECRET_FIELDS = (
    "PROXMOX_API_TOKEN_SECRET",
    "PROXMOX_PASSWORD",
    "PROXMOX_SHELL_SSH_PRIVATE_KEY",
    "PROXMOX_SHELL_SSH_PRIVATE_KEY_PASSPHRASE",
)

# Fields that name who logs in rather than a secret. They may live next to the secrets (an env
# block moved into Vault unchanged) and are read through the same references, but never
# registered with the redactor: masking "root" in every output would protect nothing.
IDENTITY_FIELDS = (
    "PROXMOX_API_TOKEN_USER",
    "PROXMOX_API_TOKEN_REALM",
    "PROXMOX_API_TOKEN_ID",
    "PROXMOX_USERNAME",
)

_FIELD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$")


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Where one secret lives: which backend, which path in it, which field.

    ``path`` means, per backend:

    * ``env``: unused (``None``); ``field`` is the environment variable's name.
    * ``file``: the cluster section (``[clusters.<path>]``); ``None`` is the top level.
    * ``vault``: ``<mount>/<path>`` of the KV secret (e.g. ``secret/proxmox/homelab``);
      ``None`` is ``PROXMOX_MCP_SECRET_VAULT_PATH``.

    The text form, accepted by :meth:`parse` and shown in messages, is
    ``backend:[path#]field``, e.g. ``vault:secret/proxmox#PROXMOX_API_TOKEN_SECRET``.
    A reference is never a secret itself.
    """

    backend: str
    path: str | None
    field: str

    def __post_init__(self) -> None:
        if self.backend not in BACKEND_NAMES:
            raise ValueError(f"secret backend {self.backend!r} is not one of {', '.join(BACKEND_NAMES)}")
        if not _FIELD_RE.match(self.field):
            raise ValueError(f"secret field {self.field!r} must be a name like PROXMOX_API_TOKEN_SECRET")
        if self.path is not None and (not self.path.strip() or self.path != self.path.strip()):
            raise ValueError(f"secret path {self.path!r} must not be empty or padded with spaces")

    @classmethod
    def parse(cls, text: str) -> SecretRef:
        """Parse ``backend:[path#]field`` (``env:MY_VAR``, ``file:homelab#PROXMOX_PASSWORD``,
        ``vault:secret/proxmox/homelab#PROXMOX_API_TOKEN_SECRET``).

        Raises:
            ValueError: the text is not a reference.
        """
        backend, sep, rest = text.strip().partition(":")
        if not sep:
            raise ValueError(f"{text!r} is not a secret reference: write backend:[path#]field, e.g. env:MY_VAR")
        path, hash_, field = rest.rpartition("#")
        if not hash_:
            path, field = "", rest
        return cls(backend=backend.strip(), path=path.strip() or None, field=field.strip())

    def __str__(self) -> str:
        return f"{self.backend}:{self.path}#{self.field}" if self.path else f"{self.backend}:{self.field}"

    def with_field(self, field: str) -> SecretRef:
        """The reference to another field at the same place (``PROXMOX_API_TOKEN_ID`` next to the secret)."""
        return SecretRef(self.backend, self.path, field)


class SecretNotFound(SecretError):
    """The backend answered, and the field (or variable) is not there.

    Distinct from other :class:`SecretError`s (backend down, denied, malformed) so that optional
    fields (a key's passphrase, identity fields) can be looked up without hiding real failures.
    """


@runtime_checkable
class SecretBackend(Protocol):
    """Resolves references to secret values. Implementations: env, file, vault.

    ``cache_ttl`` is how long :class:`~proxmox_operator_mcp.secrets.SecretResolver` may keep a
    value read from this backend (seconds; 0 means read every time, for backends whose reads
    are local and cheap).
    """

    name: str
    cache_ttl: float

    async def read(self, ref: SecretRef) -> SecretStr:
        """Read the current value of ``ref``.

        Raises:
            SecretError: it could not be read; the message says what, why and how to fix it,
                and never contains a secret.
        """
        ...

    async def describe(self) -> dict[str, Any]:
        """Non-secret status for ``proxmox-mcp doctor`` (backend, address, auth method, token
        TTL ...). Never raises for a backend problem: reports it under ``error``."""
        ...

    def running(self) -> AbstractAsyncContextManager[None]:
        """Run the backend's background work (Vault token renewal) for the duration of the block."""
        ...

    async def aclose(self) -> None:
        """Release connections (and tokens the backend obtained itself)."""
        ...
