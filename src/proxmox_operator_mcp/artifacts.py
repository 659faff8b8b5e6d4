"""Artifacts: large outputs of tools (task logs, file reads, cloud-init dumps, command output) kept
in memory for a while and served as MCP resources ``proxmox://artifacts/{id}``.

A tool shows a capped part of a large output and publishes the whole of it here
(:func:`publish_artifact`, or :func:`cap_text` which does both and says so in a visible marker).

* **Size caps**: one artifact holds at most ``max_bytes`` (the rest is cut, and the artifact says
  how much was cut); the store holds at most ``max_total`` bytes and drops the oldest first.
* **TTL**: an artifact expires ``ttl`` seconds after it was published (the store's, or a shorter
  one of its own, e.g. 60 s for a console ticket).
* **Per-principal access**: an artifact belongs to the principal of the call that published it
  (issuer, subject and client); anyone else gets "not found", never "forbidden", so ids of
  others' artifacts cannot be probed. Ids are 128 random bits.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import NotFoundError

if TYPE_CHECKING:
    from .tools.base import ToolContext

__all__ = [
    "URI_PREFIX",
    "Artifact",
    "ArtifactStore",
    "cap_text",
    "default_store",
    "owner_of",
    "publish_artifact",
]

URI_PREFIX = "proxmox://artifacts/"
DEFAULT_MAX_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_TOTAL = 64 * 1024 * 1024
DEFAULT_TTL = 3600.0


def owner_of(principal: Mapping[str, Any] | None) -> str:
    """The owner key of a principal (its audit fields): issuer, subject and client."""
    p = principal or {}
    return f"{p.get('iss', '')}|{p.get('sub', '')}|{p.get('client_id', '')}"


@dataclass(frozen=True)
class Artifact:
    id: str
    owner: str
    data: bytes
    mime: str
    created: float
    expires: float
    size: int = 0  # of the original output; more than len(data) when it was cut

    @property
    def uri(self) -> str:
        return URI_PREFIX + self.id

    @property
    def truncated(self) -> bool:
        return self.size > len(self.data)


class ArtifactStore:
    """Artifacts in memory, with TTL, per-principal access and size caps. Thread-safe."""

    def __init__(
        self,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_total: int = DEFAULT_MAX_TOTAL,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_bytes = max_bytes
        self.max_total = max_total
        self.ttl = ttl
        self._clock = clock
        self._items: OrderedDict[str, Artifact] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, data: bytes | str, mime: str, owner: str, *, ttl: float | None = None) -> Artifact:
        """Keep ``data`` for ``owner``; ``ttl`` (seconds) overrides the store's for this artifact."""
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        now = self._clock()
        art = Artifact(
            id=secrets.token_urlsafe(16),
            owner=owner,
            data=raw[: self.max_bytes],
            mime=mime,
            created=now,
            expires=now + (self.ttl if ttl is None else ttl),
            size=len(raw),
        )
        with self._lock:
            self._expire(now)
            self._items[art.id] = art
            total = sum(len(a.data) for a in self._items.values())
            while total > self.max_total and len(self._items) > 1:
                _, old = self._items.popitem(last=False)
                total -= len(old.data)
        return art

    def get(self, artifact_id: str, owner: str) -> Artifact:
        """The artifact, if it exists, has not expired and belongs to ``owner``.

        Raises:
            NotFoundError: otherwise (the same answer in every case).
        """
        with self._lock:
            self._expire(self._clock())
            art = self._items.get(artifact_id)
        if art is None or not secrets.compare_digest(art.owner, owner):
            raise NotFoundError(
                f"artifact {artifact_id!r} does not exist or has expired",
                hint="Artifacts live for a limited time and only for the caller who produced them; run the tool again.",
            )
        return art

    def list(self, owner: str) -> list[Artifact]:
        with self._lock:
            self._expire(self._clock())
            return [a for a in self._items.values() if a.owner == owner]

    def _expire(self, now: float) -> None:
        for key in [k for k, a in self._items.items() if a.expires <= now]:
            del self._items[key]


_STORE = ArtifactStore()


def default_store() -> ArtifactStore:
    """The process's artifact store (what the resources serve)."""
    return _STORE


def publish_artifact(
    ctx: ToolContext,
    data: bytes | str,
    mime: str,
    *,
    store: ArtifactStore | None = None,
    redact: bool = True,
    ttl: float | None = None,
) -> str:
    """Keep ``data`` as an artifact of the calling principal; returns its ``proxmox://artifacts/…`` URI.

    Text passes through the same redaction layer as every tool output before it is kept, unless
    ``redact`` is false: only for a credential the caller asked for and must receive intact (a
    console ticket), which then belongs in an artifact, never in the tool's output. ``ttl``
    (seconds) overrides the store's for this artifact.
    """
    if redact and isinstance(data, str):
        from .secrets.redact import REDACTOR

        data = REDACTOR.redact(data)
    return (store or _STORE).put(data, mime, owner_of(ctx.principal), ttl=ttl).uri


def cap_text(
    ctx: ToolContext, text: str, limit: int, *, mime: str = "text/plain", store: ArtifactStore | None = None
) -> tuple[str, str | None]:
    """``(shown, uri)``: ``text`` itself when it fits in ``limit`` characters; else its last ``limit``
    characters after a visible marker naming the artifact that holds all of it."""
    if len(text) <= limit:
        return text, None
    from .secrets.redact import REDACTOR

    text = REDACTOR.redact(text)  # first, so the count in the marker is that of what is kept
    uri = publish_artifact(ctx, text, mime, store=store, redact=False)  # redacted just above
    cut = len(text) - limit
    return f"…[truncated {cut} chars; full output: {uri}]…\n" + text[-limit:], uri
