"""Secrets from a JSON or TOML file (``PROXMOX_MCP_SECRET_FILE_PATH``).

The file uses the environment variables' names as keys: top-level keys for the default
cluster, one table per other cluster::

    PROXMOX_API_TOKEN_SECRET = "…"            # default cluster

    [clusters.homelab]
    PROXMOX_API_TOKEN_SECRET = "…"
    PROXMOX_SHELL_SSH_PRIVATE_KEY = '''
    -----BEGIN OPENSSH PRIVATE KEY-----
    …'''

or the same in JSON (``{"PROXMOX_API_TOKEN_SECRET": "…", "clusters": {"homelab": {…}}}``).

A file that group or others may read (or write) is refused. The file is re-read when its
inode, size or modification time changes, so an edit (in place or by rename) is picked up
without a restart; a stat per read costs microseconds, so the resolver does not need to cache.
"""

from __future__ import annotations

import json
import os
import stat
import threading
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread
from pydantic import SecretStr

from ..errors import SecretError
from .base import SecretNotFound, SecretRef

__all__ = ["FileBackend"]

_CLUSTERS = "clusters"


@dataclass(frozen=True, slots=True)
class _Doc:
    signature: tuple[int, int, int, int]
    mode: int
    fmt: str
    top: dict[str, str]
    clusters: dict[str, dict[str, str]]


class FileBackend:
    """Reads secrets from one JSON or TOML file, per cluster section."""

    name = "file"

    def __init__(self, path: str | os.PathLike[str], *, cache_ttl: float = 0.0) -> None:
        self.path = Path(path)
        self.cache_ttl = cache_ttl
        self._doc: _Doc | None = None
        self._lock = threading.Lock()

    async def read(self, ref: SecretRef) -> SecretStr:
        """Raises:
        SecretError: the file is missing, unreadable, too open (chmod 600), malformed, or
            lacks the section.
        SecretNotFound: the section lacks the field.
        """
        doc = await anyio.to_thread.run_sync(self._load)
        if ref.path is None:
            section, where = doc.top, "at the top level"
        else:
            if ref.path not in doc.clusters:
                known = ", ".join(sorted(doc.clusters)) or "none"
                raise SecretError(
                    f"secret file {self.path} has no section for cluster {ref.path!r} (sections: {known})",
                    hint=f'add a [clusters.{ref.path}] table (TOML) or a "clusters": {{"{ref.path}": {{…}}}} '
                    "object (JSON) with the cluster's secrets",
                )
            section, where = doc.clusters[ref.path], f"in [clusters.{ref.path}]"
        value = section.get(ref.field, "")
        if value == "":
            raise SecretNotFound(
                f"secret file {self.path} has no {ref.field} {where}",
                hint=f'add {ref.field} = "…" {where} of {self.path}',
            )
        return SecretStr(value)

    async def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"backend": self.name, "path": str(self.path)}
        try:
            doc = await anyio.to_thread.run_sync(self._load)
        except SecretError as exc:
            out.update(ok=False, error=exc.to_text())
            return out
        out.update(
            ok=True,
            format=doc.fmt,
            mode=f"{doc.mode:04o}",
            fields=sorted(doc.top),
            clusters={name: sorted(fields) for name, fields in sorted(doc.clusters.items())},
        )
        return out

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        yield

    async def aclose(self) -> None:
        return None

    # --- blocking part, run in a worker thread ---------------------------------------------

    def _load(self) -> _Doc:
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            raise SecretError(
                f"secret file {self.path} does not exist",
                hint="create it (chmod 600) or fix PROXMOX_MCP_SECRET_FILE_PATH",
            ) from None
        except OSError as exc:
            raise SecretError(
                f"cannot open secret file {self.path}: {exc.strerror}",
                hint="the server's user must be able to read it (and only that user: chmod 600)",
            ) from None
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise SecretError(
                    f"secret file {self.path} is not a regular file",
                    hint="point PROXMOX_MCP_SECRET_FILE_PATH at a file",
                )
            mode = stat.S_IMODE(st.st_mode)
            if mode & 0o077:
                raise SecretError(
                    f"secret file {self.path} is accessible by group or others (mode {mode:04o}): refused",
                    hint=f"run `chmod 600 {self.path}` (only its owner may read it)",
                )
            signature = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
            with self._lock:
                if self._doc is not None and self._doc.signature == signature:
                    return self._doc
            raw = fh.read()
        doc = self._parse(raw, signature, mode)
        with self._lock:
            self._doc = doc
        return doc

    def _parse(self, raw: bytes, signature: tuple[int, int, int, int], mode: int) -> _Doc:
        suffix = self.path.suffix.lower()
        if suffix == ".json":
            fmt = "json"
        elif suffix == ".toml":
            fmt = "toml"
        else:
            fmt = "json" if raw.lstrip()[:1] == b"{" else "toml"
        try:
            text = raw.decode("utf-8")
            data = json.loads(text) if fmt == "json" else tomllib.loads(text)
        except UnicodeDecodeError:
            raise SecretError(f"secret file {self.path} is not UTF-8 text", hint="save it as UTF-8") from None
        except json.JSONDecodeError as exc:
            # the message has line and column only, never the text around them
            raise SecretError(
                f"secret file {self.path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                hint="fix the file (or give it a .toml name if it is TOML)",
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise SecretError(
                f"secret file {self.path} is not valid TOML: {exc}",
                hint="fix the file (or give it a .json name if it is JSON)",
            ) from None
        if not isinstance(data, dict):
            raise SecretError(f"secret file {self.path} must hold an object/table at the top level")
        problems: list[str] = []
        clusters_raw = data.pop(_CLUSTERS, {})
        top = _section(data, "at the top level", problems)
        clusters: dict[str, dict[str, str]] = {}
        if not isinstance(clusters_raw, dict):
            problems.append("`clusters` must be a table of tables ([clusters.NAME])")
        else:
            for name, section in clusters_raw.items():
                if not isinstance(section, dict):
                    problems.append(f'clusters.{name} must be a table of NAME = "value" pairs')
                    continue
                clusters[str(name)] = _section(section, f"in [clusters.{name}]", problems)
        if problems:
            raise SecretError(
                f"secret file {self.path} is malformed: " + "; ".join(problems),
                hint="each value is a string under the environment variable's name, e.g. "
                'PROXMOX_API_TOKEN_SECRET = "…"',
            )
        return _Doc(signature=signature, mode=mode, fmt=fmt, top=top, clusters=clusters)


def _section(raw: dict[str, Any], where: str, problems: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in raw.items():
        if isinstance(value, str):
            out[str(key)] = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[str(key)] = str(value)
        else:
            # name the key and the type, never the value
            problems.append(f"{key} {where} is a {type(value).__name__}, not a string")
    return out
