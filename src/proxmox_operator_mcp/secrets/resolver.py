"""The resolver: references in, ``SecretStr`` out, with a TTL cache and shared reads."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from pydantic import SecretStr

from ..errors import SecretError
from .base import SecretBackend, SecretNotFound, SecretRef
from .redact import REDACTOR, Redactor

__all__ = ["SecretCheck", "SecretResolver"]


@dataclass(slots=True)
class _Flight:
    done: anyio.Event = field(default_factory=anyio.Event)
    value: SecretStr | None = None
    error: SecretError | None = None


@dataclass(frozen=True, slots=True)
class SecretCheck:
    """Whether one reference resolved (for ``proxmox-mcp doctor``). Never holds the value."""

    ref: SecretRef
    resolved: bool
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ref": str(self.ref), "resolved": self.resolved}
        if self.error:
            out["error"] = self.error
        return out


class SecretResolver:
    """Resolves :class:`SecretRef` values through their backends.

    * Values are cached per reference for the backend's ``cache_ttl`` (or ``ttl`` if given);
      after that the next :meth:`get` reads the backend again, so a rotated secret is picked up
      without a restart. Errors are not cached.
    * Concurrent gets of the same reference share one backend read.
    * :meth:`invalidate` / :meth:`refresh` drop cached values: call them when Proxmox answers
      401 with a secret, then retry once with the fresh value.
    * Every value read is registered with the redactor, so it never shows in logs or outputs.
    """

    def __init__(
        self,
        *backends: SecretBackend,
        ttl: float | None = None,
        redactor: Redactor | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._backends: dict[str, SecretBackend] = {}
        for b in backends:
            if b.name in self._backends:
                raise ValueError(f"two secret backends named {b.name!r}")
            self._backends[b.name] = b
        self._ttl = ttl
        self._redactor = redactor if redactor is not None else REDACTOR
        self._clock = clock
        self._cache: dict[SecretRef, tuple[SecretStr, float]] = {}
        self._inflight: dict[SecretRef, _Flight] = {}

    @property
    def backends(self) -> Mapping[str, SecretBackend]:
        return dict(self._backends)

    def backend(self, name: str) -> SecretBackend:
        """The backend serving references to ``name``.

        Raises:
            SecretError: no such backend is configured.
        """
        try:
            return self._backends[name]
        except KeyError:
            configured = ", ".join(self._backends) or "none"
            raise SecretError(
                f"secret backend {name!r} is not configured (configured: {configured})",
                hint=f"set PROXMOX_MCP_SECRET_BACKEND={name} or refer to the {configured} backend",
            ) from None

    async def get(self, ref: SecretRef, *, sensitive: bool = True) -> SecretStr:
        """The current value of ``ref`` (from the cache while it is fresh).

        ``sensitive=False`` is for identity fields (token user and id, user name) read through
        the same references: they are not registered with the redactor.

        Raises:
            SecretNotFound: the backend answered and has no such field.
            SecretError: the backend could not provide it (what, why and the fix; no value).
        """
        while True:
            hit = self._cache.get(ref)
            if hit is not None and self._clock() < hit[1]:
                return hit[0]
            flight = self._inflight.get(ref)
            if flight is None:
                break
            await flight.done.wait()
            if flight.error is not None:
                raise type(flight.error)(flight.error.message, hint=flight.error.hint)
            if flight.value is not None:
                return flight.value
            # the reading task was cancelled (or failed oddly): read ourselves

        backend = self.backend(ref.backend)
        flight = _Flight()
        self._inflight[ref] = flight
        try:
            value = await backend.read(ref)
            if not isinstance(value, SecretStr):
                raise TypeError(f"{type(backend).__name__}.read returned {type(value).__name__}, not SecretStr")
            if sensitive:
                self._redactor.add(value)
            ttl = self._ttl if self._ttl is not None else backend.cache_ttl
            # a read overtaken by invalidate() serves its waiters but does not fill the cache
            if ttl > 0 and self._inflight.get(ref) is flight:
                self._cache[ref] = (value, self._clock() + ttl)
            flight.value = value
            return value
        except SecretError as exc:
            flight.error = exc
            raise
        finally:
            if self._inflight.get(ref) is flight:
                del self._inflight[ref]
            flight.done.set()

    async def get_optional(self, ref: SecretRef, *, sensitive: bool = True) -> SecretStr | None:
        """Like :meth:`get`, but None when the field is not there (an optional passphrase).

        Raises:
            SecretError: the backend could not answer (down, denied, malformed ...).
        """
        try:
            return await self.get(ref, sensitive=sensitive)
        except SecretNotFound:
            return None

    async def refresh(self, ref: SecretRef) -> SecretStr:
        """Drop the cached value of ``ref`` and read it again (the 401 path).

        Raises:
            SecretError: as :meth:`get`.
        """
        self.invalidate(ref)
        return await self.get(ref)

    def invalidate(self, ref: SecretRef | None = None) -> None:
        """Forget the cached value of ``ref`` (all values when None). A read already under way
        for it is left to finish but no longer shared with new callers nor cached."""
        if ref is None:
            self._cache.clear()
            self._inflight.clear()
        else:
            self._cache.pop(ref, None)
            self._inflight.pop(ref, None)

    def cached(self, ref: SecretRef) -> bool:
        """True while a fresh value of ``ref`` is cached."""
        hit = self._cache.get(ref)
        return hit is not None and self._clock() < hit[1]

    async def check(self, ref: SecretRef) -> SecretCheck:
        """Read ``ref`` afresh and say whether it resolved; never raises a SecretError."""
        try:
            await self.refresh(ref)
        except SecretError as exc:
            return SecretCheck(ref, False, self._redactor.redact(exc.to_text()))
        return SecretCheck(ref, True)

    async def report(self, clusters: Mapping[str, Mapping[str, SecretRef]]) -> dict[str, Any]:
        """Non-secret status for ``proxmox-mcp doctor``: each backend's :meth:`describe`, and per
        cluster, per credential, whether it resolved.

        ``clusters`` maps a cluster name to its credentials (label -> reference), e.g.
        ``{"homelab": {"token_secret": SecretRef("vault", "secret/proxmox/homelab", "PROXMOX_API_TOKEN_SECRET")}}``.
        """
        backends = {name: self._redactor.redact_obj(await b.describe()) for name, b in self._backends.items()}
        out_clusters: dict[str, Any] = {}
        for cluster, refs in clusters.items():
            checks = {label: (await self.check(ref)).to_dict() for label, ref in refs.items()}
            names = sorted({ref.backend for ref in refs.values()})
            out_clusters[cluster] = {"backend": ", ".join(names), "secrets": checks}
        return {"backends": backends, "clusters": out_clusters}

    @asynccontextmanager
    async def running(self) -> AsyncIterator[SecretResolver]:
        """Run every backend's background work (Vault token renewal) for the block, then close them."""
        async with AsyncExitStack() as stack:
            stack.push_async_callback(self.aclose)
            for b in self._backends.values():
                await stack.enter_async_context(b.running())
            yield self

    async def aclose(self) -> None:
        """Close every backend and forget cached values."""
        self.invalidate()
        for b in self._backends.values():
            await b.aclose()
