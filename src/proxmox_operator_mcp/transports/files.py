"""The file plane: reading and writing files on a node over SFTP, on the pooled SSH connection.

Every path passes the same checks, twice: as given (absolute, no ``..`` segment, inside an
allowed prefix, outside every denied one) and again after the node resolved its symbolic links,
so a link cannot lead out of the allowed tree. Writes are atomic: the new content goes to a
temporary file in the same directory, which takes the original's mode and owner and then
replaces it with one ``posix-rename``; an optional backup copy keeps the old content. A reader
sees the old file or the new one, never a half-written one.

File contents never travel inside an :class:`~proxmox_operator_mcp.operation.Operation` (it is
logged, audited and shown in dry-runs): the tool stages the bytes here with :func:`stage` and
puts only the token, size and SHA-256 into the operation; the router takes them back with
:func:`take`. One-time passwords travel the same way.
"""

from __future__ import annotations

import fnmatch
import hashlib
import posixpath
import secrets
import stat
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import InvalidArgumentError, NotFoundError, SshError

if TYPE_CHECKING:
    import asyncssh

__all__ = [
    "DEFAULT_FILE_POLICY",
    "FilePolicy",
    "FileRead",
    "FileWritten",
    "check_path",
    "discard",
    "read_file",
    "stage",
    "take",
    "write_file",
]

MiB = 1024 * 1024


@dataclass(frozen=True)
class FilePolicy:
    """Where the file plane may read and write on a node.

    Prefixes are whole path components: ``/etc/pve`` covers ``/etc/pve`` and everything below
    it, not ``/etc/pve-backup``. ``denied`` prefixes and ``denied_names`` (globs on the file
    name) win over the allowed ones, for reads and writes alike.

    Attributes:
        read: prefixes that may be read.
        write: prefixes that may be written.
        denied: prefixes never read or written.
        denied_names: file-name globs never read or written (keys, keyrings, shadow files).
        max_read: largest read, in bytes.
        max_write: largest write, in bytes.
    """

    read: tuple[str, ...]
    write: tuple[str, ...]
    denied: tuple[str, ...] = ()
    denied_names: tuple[str, ...] = ()
    max_read: int = 8 * MiB
    max_write: int = 8 * MiB


DEFAULT_FILE_POLICY = FilePolicy(
    read=(
        "/etc/pve",
        "/etc/network",
        "/etc/hosts",
        "/etc/hostname",
        "/etc/resolv.conf",
        "/etc/apt",
        "/etc/vzdump.conf",
        "/etc/default",
        "/etc/modprobe.d",
        "/etc/sysctl.d",
        "/etc/systemd",
        "/etc/corosync/corosync.conf",
        "/etc/frr",
        "/etc/lvm/lvm.conf",
        "/var/lib/vz",
        "/var/log",
        "/proc",
    ),
    write=(
        "/etc/pve",
        "/var/lib/vz/snippets",
        "/var/lib/vz/template",
        "/etc/network/interfaces",
        "/etc/network/interfaces.d",
        "/etc/hosts",
        "/etc/apt/sources.list.d",
        "/etc/sysctl.d",
        "/etc/modprobe.d",
        "/etc/vzdump.conf",
    ),
    denied=(
        "/etc/pve/priv",
        "/etc/pve/authkey.pub.old",
        "/etc/corosync/authkey",
        "/root/.ssh",
        "/etc/ssh",
        "/etc/shadow",
        "/etc/gshadow",
        "/var/lib/pve-cluster",
    ),
    denied_names=("*.key", "*.pem.key", "*keyring*", "authkey*", "shadow*", "gshadow*", "*_key", "id_*"),
)
"""The built-in policy: PVE configuration, network and storage trees; no key material."""


def _under(path: str, prefix: str) -> bool:
    prefix = prefix.rstrip("/") or "/"
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


def check_path(path: str, policy: FilePolicy, *, write: bool) -> str:
    """The normalised absolute path, if ``policy`` allows reading (or writing) it.

    Raises:
        InvalidArgumentError: a relative path, a ``..`` segment, a NUL byte, or a path outside
            the allowed prefixes or inside a denied one (the message says which).
    """
    if not isinstance(path, str) or not path:
        raise InvalidArgumentError("a file path is required")
    if "\x00" in path:
        raise InvalidArgumentError("the file path contains a NUL byte")
    if not path.startswith("/"):
        raise InvalidArgumentError(f"{path!r} is not an absolute path", hint="Give the full path, e.g. /etc/pve/datacenter.cfg.")
    if any(seg in ("..", ".") for seg in path.split("/")):
        raise InvalidArgumentError(f"{path!r}: '.' and '..' segments are refused (path traversal)")
    norm = "/" + posixpath.normpath(path).lstrip("/")
    what = "written" if write else "read"
    for prefix in policy.denied:
        if _under(norm, prefix):
            raise InvalidArgumentError(f"{norm} may not be {what}: {prefix} is a denied prefix (key material)")
    name = posixpath.basename(norm)
    for pattern in policy.denied_names:
        if fnmatch.fnmatchcase(name, pattern):
            raise InvalidArgumentError(f"{norm} may not be {what}: file names like {pattern!r} are denied")
    allowed = policy.write if write else policy.read
    if not any(_under(norm, prefix) for prefix in allowed):
        raise InvalidArgumentError(
            f"{norm} is outside the prefixes that may be {what}",
            hint=f"{'Writable' if write else 'Readable'}: " + ", ".join(allowed),
        )
    return norm


# --------------------------------------------------------------------------- staging


_STAGED: dict[str, bytes] = {}
_STAGED_LOCK = threading.Lock()


def stage(data: bytes) -> str:
    """Keep ``data`` for the router under an opaque token (it never enters an Operation)."""
    token = "staged:" + secrets.token_urlsafe(12)
    with _STAGED_LOCK:
        _STAGED[token] = bytes(data)
    return token


def take(token: object) -> bytes:
    """The staged bytes of ``token``, removed from the store.

    Raises:
        InvalidArgumentError: no such token (taken already, or never staged).
    """
    with _STAGED_LOCK:
        data = _STAGED.pop(token, None) if isinstance(token, str) else None
    if data is None:
        raise InvalidArgumentError("the staged content of this operation is gone (each operation runs once)")
    return data


def discard(token: str) -> None:
    """Drop a staged payload that was not taken (the gate refused, or the call failed)."""
    with _STAGED_LOCK:
        _STAGED.pop(token, None)


# --------------------------------------------------------------------------- SFTP


@dataclass(frozen=True)
class FileRead:
    """A file read from a node."""

    path: str
    size: int
    data: bytes
    truncated: bool
    mode: int
    uid: int | None
    gid: int | None
    mtime: int | None


@dataclass(frozen=True)
class FileWritten:
    """The outcome of an atomic write."""

    path: str
    size: int
    sha256: str
    created: bool
    mode: int
    backup_path: str | None


def _sftp_errors() -> tuple[type[BaseException], ...]:
    import asyncssh

    return (asyncssh.SFTPError, OSError)


async def _resolve(sftp: asyncssh.SFTPClient, norm: str, policy: FilePolicy, *, write: bool) -> str:
    """Resolve symbolic links on the node (the directory, then the file itself) and re-check."""
    import asyncssh

    parent, name = posixpath.split(norm)
    try:
        real_parent = await sftp.realpath(parent or "/")
    except asyncssh.SFTPNoSuchFile:
        raise NotFoundError(f"directory {parent} does not exist on the node") from None
    resolved = posixpath.join(str(real_parent), name)
    try:
        attrs = await sftp.lstat(resolved)
    except asyncssh.SFTPNoSuchFile:
        attrs = None
    if attrs is not None and attrs.permissions is not None and stat.S_ISLNK(attrs.permissions):
        resolved = str(await sftp.realpath(resolved))
    if resolved != norm:
        check_path(resolved, policy, write=write)
    return resolved


async def read_file(sftp: asyncssh.SFTPClient, path: str, policy: FilePolicy, *, max_bytes: int) -> FileRead:
    """Read up to ``max_bytes`` of a regular file.

    Raises:
        InvalidArgumentError: refused by ``policy``, or not a regular file.
        NotFoundError: no such file.
        SshError: the SFTP request failed.
    """
    import asyncssh

    norm = check_path(path, policy, write=False)
    max_bytes = max(1, min(max_bytes, policy.max_read))
    try:
        resolved = await _resolve(sftp, norm, policy, write=False)
        try:
            attrs = await sftp.stat(resolved)
        except asyncssh.SFTPNoSuchFile:
            raise NotFoundError(f"{norm} does not exist on the node") from None
        if attrs.permissions is not None and not stat.S_ISREG(attrs.permissions):
            raise InvalidArgumentError(f"{resolved} is not a regular file")
        async with sftp.open(resolved, "rb") as f:
            data = await f.read(max_bytes + 1)
    except asyncssh.SFTPPermissionDenied:
        raise SshError(f"permission denied reading {norm} on the node") from None
    except asyncssh.SFTPError as exc:
        raise SshError(f"cannot read {norm}: {exc.reason}") from None
    truncated = len(data) > max_bytes
    size = attrs.size if attrs.size else len(data)  # /proc files report size 0
    return FileRead(
        path=resolved,
        size=max(size, len(data)),
        data=data[:max_bytes],
        truncated=truncated,
        mode=stat.S_IMODE(attrs.permissions or 0),
        uid=attrs.uid,
        gid=attrs.gid,
        mtime=attrs.mtime,
    )


# pmxcfs (/etc/pve) fixes owner and mode of every file itself and refuses chmod/chown.
_FIXED_PERMISSIONS = ("/etc/pve",)


async def write_file(
    sftp: asyncssh.SFTPClient,
    path: str,
    data: bytes,
    policy: FilePolicy,
    *,
    backup: bool = False,
    mode: int | None = None,
    expect_sha256: str | None = None,
) -> FileWritten:
    """Replace (or create) a file atomically: temp file in the same directory, original mode
    and owner applied, optional backup copy of the old content, then ``posix-rename``.

    Args:
        mode: permission bits of a new file (default 0644); an existing file keeps its own.
        expect_sha256: refuse unless the current content has this SHA-256 (optimistic lock);
            ``""`` means the file must not exist yet.

    Raises:
        InvalidArgumentError: refused by ``policy``, too large, not a regular file, or the
            current content is not the expected one.
        NotFoundError: the directory does not exist.
        SshError: an SFTP request failed (the temporary file is removed).
    """
    import asyncssh

    norm = check_path(path, policy, write=True)
    if len(data) > policy.max_write:
        raise InvalidArgumentError(f"{len(data)} bytes is more than the {policy.max_write} bytes a write may carry")
    resolved = await _resolve(sftp, norm, policy, write=True)
    directory, name = posixpath.split(resolved)
    try:
        try:
            old = await sftp.stat(resolved)
        except asyncssh.SFTPNoSuchFile:
            old = None
        if old is not None and old.permissions is not None and not stat.S_ISREG(old.permissions):
            raise InvalidArgumentError(f"{resolved} exists and is not a regular file")
        old_data: bytes | None = None
        if old is not None and (backup or expect_sha256 is not None):
            async with sftp.open(resolved, "rb") as f:
                old_data = await f.read()
        if expect_sha256 is not None:
            current = "" if old_data is None else hashlib.sha256(old_data).hexdigest()
            if current != expect_sha256.lower():
                raise InvalidArgumentError(
                    f"{resolved} changed since it was read (sha256 {current or 'none: the file does not exist'})",
                    hint="Read it again, apply the change to the current content, and write with its sha256.",
                )
    except asyncssh.SFTPError as exc:
        raise SshError(f"cannot read {resolved} before writing it: {exc.reason}") from None

    fixed = any(_under(resolved, p) for p in _FIXED_PERMISSIONS)
    want_mode = stat.S_IMODE(old.permissions) if old is not None and old.permissions is not None else (mode or 0o644)
    tmp = posixpath.join(directory, f".{name}.pmcp-{secrets.token_hex(6)}.tmp")
    backup_path = None
    try:
        attrs = asyncssh.SFTPAttrs(permissions=want_mode) if not fixed else asyncssh.SFTPAttrs()
        async with sftp.open(tmp, "xb", attrs) as f:
            await f.write(data)
            try:
                await f.fsync()
            except asyncssh.SFTPOpUnsupported:
                pass
        if not fixed:
            got = await sftp.stat(tmp)
            if got.permissions is not None and stat.S_IMODE(got.permissions) != want_mode:
                await sftp.chmod(tmp, want_mode)  # the node's umask cut the mode of the new file
            if old is not None and (old.uid, old.gid) != (got.uid, got.gid):
                try:
                    await sftp.chown(tmp, uid=old.uid, gid=old.gid)
                except asyncssh.SFTPError as exc:
                    raise SshError(
                        f"cannot give the new {resolved} its owner {old.uid}:{old.gid} back ({exc.reason}); "
                        "nothing was replaced",
                        hint="Connect as root (PROXMOX_SHELL_SSH_USERNAME) to write files owned by others.",
                    ) from None
        if backup and old_data is not None:
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            backup_path = f"{resolved}.pmcp-backup-{stamp}"
            async with sftp.open(backup_path, "wb", asyncssh.SFTPAttrs(permissions=want_mode)) as f:
                await f.write(old_data)
        await sftp.posix_rename(tmp, resolved)
    except asyncssh.SFTPOpUnsupported:
        await _remove_quietly(sftp, tmp)
        raise SshError(
            "the node's SFTP server cannot rename atomically (no posix-rename extension); nothing was replaced"
        ) from None
    except asyncssh.SFTPPermissionDenied:
        await _remove_quietly(sftp, tmp)
        raise SshError(f"permission denied writing {resolved} on the node; nothing was replaced") from None
    except asyncssh.SFTPError as exc:
        await _remove_quietly(sftp, tmp)
        raise SshError(f"cannot write {resolved}: {exc.reason}; nothing was replaced") from None
    except BaseException:
        await _remove_quietly(sftp, tmp)
        raise
    return FileWritten(
        path=resolved,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        created=old is None,
        mode=want_mode,
        backup_path=backup_path,
    )


async def _remove_quietly(sftp: asyncssh.SFTPClient, path: str) -> None:
    import anyio

    with anyio.move_on_after(5, shield=True):
        try:
            await sftp.remove(path)
        except _sftp_errors():
            pass


def sha256_hex(data: bytes) -> str:
    """SHA-256 of ``data`` as 64 hex digits."""
    return hashlib.sha256(data).hexdigest()


def is_under(path: str, prefixes: Sequence[str]) -> bool:
    """True when ``path`` is one of ``prefixes`` or below one (whole path components)."""
    return any(_under(path, p) for p in prefixes)
