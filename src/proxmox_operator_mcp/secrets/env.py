"""Secrets from environment variables (``PROXMOX_API_TOKEN_*``, ``PROXMOX_SHELL_SSH_*`` ...)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from pydantic import SecretStr

from ..errors import SecretError
from .base import SecretNotFound, SecretRef

__all__ = ["EnvBackend"]


class EnvBackend:
    """Reads ``ref.field`` as the name of an environment variable.

    The mapping is read at each call (``os.environ`` by default), so nothing is copied at
    start-up. An empty variable counts as unset.
    """

    name = "env"

    def __init__(self, env: Mapping[str, str] | None = None, *, cache_ttl: float = 0.0) -> None:
        self._env = os.environ if env is None else env
        self.cache_ttl = cache_ttl

    async def read(self, ref: SecretRef) -> SecretStr:
        """Raises:
        SecretError: the reference has a path (env has none).
        SecretNotFound: the variable is unset or empty.
        """
        if ref.path is not None:
            raise SecretError(
                f"secret reference {ref} has a path, but the env backend has none",
                hint=f"write env:{ref.field} (the field is the environment variable's name)",
            )
        value = self._env.get(ref.field, "")
        if value == "":
            raise SecretNotFound(
                f"environment variable {ref.field} is not set",
                hint=f"set {ref.field} in the server's environment, or choose another backend with "
                "PROXMOX_MCP_SECRET_BACKEND=file|vault",
            )
        return SecretStr(value)

    async def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "ok": True}

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        yield

    async def aclose(self) -> None:
        return None
