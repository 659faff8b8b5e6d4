"""A tamper-evident audit log: one hash-chained JSON line per tool call and per operation.

Each record carries ``seq`` (1, 2, 3 ...), ``prev`` (the previous record's hash; 64 zeros for
the first record ever) and ``hash``: SHA-256, or HMAC-SHA256 when a key is configured, of the
record's canonical JSON without ``hash`` (sorted keys, no spaces, ASCII). ``alg`` says which.
Each line is written with one ``os.write`` on an ``O_APPEND`` descriptor and flushed to disk
(``fdatasync``) before :meth:`AuditLog.append` returns.

Chaining alone cannot see a missing *last* record or a cut-off final line, so every append
also updates a small sidecar, ``<path>.head``, with the last ``seq`` and ``hash`` (and an HMAC
of both when keyed), fsynced after the log line. :func:`verify` checks the log against it.

Rotation: when a record would take the file past ``max_bytes``, the file is renamed to
``<path>.1`` (older ones shift to ``.2``, ``.3`` ...); the first record of the new file chains
to the last record of the old one and says so in ``rotated_from``.

Several processes may append to one log (the server and ``proxmox-mcp approve``): appends are
serialised by ``flock`` on ``<path>.lock``, and each appender re-reads the head when the file
changed under it. Within a process a lock serialises threads; from async code call
:meth:`AuditLog.append_async` (it runs the write in a worker thread).

What this protects against, honestly: edits, deletions, reordering and truncation by anyone
who cannot also recompute the chain. Without an HMAC key, someone who can write the files can
rewrite the whole chain; with a key kept outside the host (the secrets backend), they cannot
forge records, but can still delete whole files. Ship the records off the host as well
(``also_stderr``/``also_syslog``) when that matters.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import hmac
import json
import os
import stat
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from ..errors import ProxmoxMCPError
from ..secrets.redact import REDACTOR

if TYPE_CHECKING:
    from ..operation import Operation
    from .rules import Decision

__all__ = [
    "GENESIS",
    "AuditError",
    "AuditLog",
    "BadRecord",
    "VerifyResult",
    "canonical_json",
    "operation_record",
    "tool_call_record",
    "verify",
]

GENESIS = "0" * 64
RESERVED = frozenset({"ts", "seq", "prev", "hash", "alg", "rotated_from"})
_TAIL_CHUNK = 64 * 1024
# The head file holds two fixed-size slots, written alternately in place (seq % 2): a write
# torn by a crash damages only the slot being written, and the other still holds the record
# before. Far cheaper than write-temp-fsync-rename.
_HEAD_SLOT = 256


class AuditError(ProxmoxMCPError):
    """The audit log cannot be written (or is damaged): mutating calls must be refused."""

    code = "audit_unavailable"


def canonical_json(obj: Any) -> str:
    """The one serialisation hashed and written: sorted keys, no spaces, ASCII only.

    Values JSON cannot hold (datetimes, paths ...) become strings.
    """
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    except TypeError:
        # keys of mixed types cannot be sorted: make them the strings JSON turns them into
        plain = json.loads(json.dumps(obj, default=str))
        return json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _digest(body: str, key: bytes | None) -> str:
    data = body.encode("ascii")
    if key is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def _head_mac(seq: int, digest: str, key: bytes) -> str:
    return hmac.new(key, f"head:{seq}:{digest}".encode("ascii"), hashlib.sha256).hexdigest()


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class _Tail(NamedTuple):
    record: dict[str, Any] | None  # the last complete record, parsed
    good_end: int  # offset just after its newline
    torn: int  # bytes after the last newline (a cut-off write)


def _read_tail(path: Path) -> _Tail:
    """The last complete line of ``path`` and how many bytes follow it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return _Tail(None, 0, 0)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return _Tail(None, 0, 0)
        buf = b""
        pos = size
        while pos > 0:
            step = min(_TAIL_CHUNK, pos)
            pos -= step
            buf = os.pread(fd, step, pos) + buf
            # the last newline, then the one before it, bound the last complete line
            last_nl = buf.rfind(b"\n")
            if last_nl == -1:
                continue
            before = buf.rfind(b"\n", 0, last_nl)
            if before == -1 and pos > 0:
                continue
            line = buf[before + 1 : last_nl]
            torn = len(buf) - last_nl - 1
            try:
                record = json.loads(line)
            except ValueError:
                record = {"_unparsable": True}
            if not isinstance(record, dict):
                record = {"_unparsable": True}
            return _Tail(record, size - torn, torn)
        return _Tail(None, 0, size)  # no newline at all: one torn line
    finally:
        os.close(fd)


def _slot_check(slot: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json({k: v for k, v in slot.items() if k != "check"}).encode()).hexdigest()[:16]


def _head_slot(seq: int, digest: str, mac: str | None) -> bytes:
    """One head slot: the canonical JSON of ``{check, hash, [mac,] seq}``, padded to a fixed
    size. Formatted by hand (the values are an int and hex strings): this runs on every append."""
    body = f'"hash":"{digest}",' + (f'"mac":"{mac}",' if mac is not None else "") + f'"seq":{seq}'
    check = hashlib.sha256(("{" + body + "}").encode("ascii")).hexdigest()[:16]
    return ('{"check":"' + check + '",' + body + "}").encode("ascii").ljust(_HEAD_SLOT - 1) + b"\n"


def _read_head(path: Path) -> dict[str, Any] | None:
    """The head file's newest valid slot: ``{"seq", "hash"[, "mac"]}``. None when there is no
    head file; ``{"seq": 0, ...}`` when it holds no record yet; ``{"_unparsable": True}`` when
    neither slot is valid."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        return {"_unparsable": True}
    best: dict[str, Any] | None = None
    for k in range(2):
        chunk = data[k * _HEAD_SLOT : (k + 1) * _HEAD_SLOT].strip(b"\x00 \n")
        if not chunk:
            continue
        try:
            slot = json.loads(chunk)
        except ValueError:
            continue
        if (
            isinstance(slot, dict)
            and isinstance(slot.get("seq"), int)
            and isinstance(slot.get("hash"), str)
            and slot.get("check") == _slot_check(slot)
            and (best is None or slot["seq"] > best["seq"])
        ):
            best = slot
    if best is None:
        if not data.strip(b"\x00 \n"):
            return {"seq": 0, "hash": GENESIS}
        return {"_unparsable": True}
    return best


def _record_ok(record: Mapping[str, Any], key: bytes | None) -> bool:
    digest = record.get("hash")
    if not isinstance(digest, str):
        return False
    body = canonical_json({k: v for k, v in record.items() if k != "hash"})
    return hmac.compare_digest(_digest(body, key), digest)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class AuditLog:
    """Append-only, hash-chained, fsynced JSON lines.

    Args:
        path: the live log (``PROXMOX_MCP_AUDIT_PATH``); its directory is created (0700) if missing.
        hmac_key: sign records with HMAC-SHA256 instead of plain SHA-256.
        also_stderr: also write each line to ``stderr`` (or ``stream``), for log pipelines.
        also_syslog: also send each line to syslog (facility AUTHPRIV, ident ``proxmox-mcp-audit``).
        max_bytes: rotate before a record would take the file past this size.
        keep: how many rotated files to keep (None keeps all).
        clock: seconds since the epoch (injectable for tests).
        stream: where ``also_stderr`` writes.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        hmac_key: bytes | None = None,
        also_stderr: bool = False,
        also_syslog: bool = False,
        max_bytes: int | None = None,
        keep: int | None = None,
        clock: Callable[[], float] = time.time,
        stream: IO[str] | None = None,
    ) -> None:
        if hmac_key is not None and len(hmac_key) < 16:
            raise ValueError("the audit HMAC key must be at least 16 bytes")
        if max_bytes is not None and max_bytes < 1024:
            raise ValueError("max_bytes must be at least 1024")
        if keep is not None and keep < 1:
            raise ValueError("keep must be at least 1")
        self.path = Path(path)
        self.head_path = self.path.with_name(self.path.name + ".head")
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._key = hmac_key
        self._alg = "hmac-sha256" if hmac_key is not None else "sha256"
        self._also_stderr = also_stderr
        self._also_syslog = also_syslog
        self._max_bytes = max_bytes
        self._keep = keep
        self._clock = clock
        self._stream = stream
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._head_fd: int | None = None
        self._lock_fd: int | None = None
        self._seq = 0
        self._hash = GENESIS
        self._size = -1  # size of the file after our last write; -1: state not loaded
        self._ino = -1
        self._rotated_from: dict[str, Any] | None = None
        self._pending: list[dict[str, Any]] = []  # records the next append writes first
        self._syslog: Any = None

    def __repr__(self) -> str:
        return f"<AuditLog {self.path} seq={self._seq}>"

    # --- public ------------------------------------------------------------------------

    def append(self, record: Mapping[str, Any]) -> str:
        """Write one record; return its hash once it is on disk.

        Adds ``ts`` (RFC 3339, UTC), ``seq``, ``prev``, ``alg`` and ``hash``.

        Raises:
            ValueError: ``record`` uses a reserved key (ts, seq, prev, hash, alg, rotated_from).
            AuditError: the log cannot be written, or its end does not match its head (the
                record is then not written; mutating calls must be refused).
        """
        clash = RESERVED.intersection(record)
        if clash:
            raise ValueError(f"audit records may not set {', '.join(sorted(clash))}: the log sets them")
        # normalise once, so the hash is computed over exactly what a reader will parse back
        body = json.loads(canonical_json(dict(record)))
        with self._lock:
            try:
                lock_fd = self._open_lock()
                fcntl.flock(lock_fd, fcntl.LOCK_EX)
            except OSError as exc:
                raise self._error("lock", exc) from None
            try:
                self._sync()
                for pending in self._pending:
                    self._write(pending)
                self._pending.clear()
                line = self._write(body)
            except OSError as exc:
                self._forget()
                raise self._error("write", exc) from None
            finally:
                fcntl.flock(lock_fd, fcntl.LOCK_UN)
            digest = self._hash
        self._mirror(line)
        return digest

    async def append_async(self, record: Mapping[str, Any]) -> str:
        """:meth:`append` from async code, in a worker thread (fsync blocks).

        Raises:
            ValueError, AuditError: as :meth:`append`.
        """
        import anyio  # imported here: only async callers need it

        return await anyio.to_thread.run_sync(self.append, record)

    def close(self) -> None:
        with self._lock:
            self._forget()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals -----------------------------------------------------------------------

    def _error(self, what: str, exc: OSError) -> AuditError:
        where = f" on {exc.filename}" if exc.filename else ""
        return AuditError(
            f"The audit log {self.path} cannot be written ({what}: {exc.strerror or exc}{where}); "
            "changes are refused rather than run unaudited.",
            hint="Fix the file system or permissions of PROXMOX_MCP_AUDIT_PATH (free space, a read-only mount, "
            "the owner), then retry.",
        )

    def _open_lock(self) -> int:
        if self._lock_fd is None:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._lock_fd

    def _forget(self) -> None:
        for fd in (self._fd, self._head_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._fd = self._head_fd = None
        self._size = -1
        self._ino = -1

    def _open_log(self) -> None:
        # O_NOFOLLOW: the log is a regular file of ours, never a link to somewhere else
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise OSError(errno.EINVAL, "not a regular file")
        if st.st_mode & 0o077:
            os.fchmod(fd, 0o600)
        self._fd, self._ino, self._size = fd, st.st_ino, st.st_size

    def _sync(self) -> None:
        """Make our idea of the chain's end match the files (another process may have appended
        or rotated since our last write)."""
        if self._fd is not None:
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                st = None
            if st is not None and st.st_ino == self._ino and st.st_size == self._size:
                return
            self._forget()
        self._open_log()
        self._load_state()

    def _damaged(self, why: str) -> AuditError:
        self._forget()
        return AuditError(
            f"The audit log {self.path} is damaged: {why}. Nothing more is written to it, and changes are refused.",
            hint="Run `proxmox-mcp audit verify` to see the first bad record, keep the files as evidence, then move "
            f"{self.path.name} and {self.head_path.name} aside to start a new log.",
        )

    def _load_state(self) -> None:
        tail = _read_tail(self.path)
        head = _read_head(self.head_path)
        if head is not None and (head.get("_unparsable") or not isinstance(head.get("seq"), int)):
            raise self._damaged(f"its head file {self.head_path.name} is unreadable")
        last = tail.record
        if last is not None and not last.get("_unparsable") and last.get("alg") != self._alg:
            raise self._damaged(
                f"it is signed with {last.get('alg')} but this server uses {self._alg} "
                "(the HMAC key was added or removed)"
            )
        if head is not None and self._key is not None and head["seq"] > 0:
            if not hmac.compare_digest(str(head.get("mac", "")), _head_mac(head["seq"], str(head["hash"]), self._key)):
                raise self._damaged("its head file does not carry a valid HMAC (edited, or another key)")
        self._rotated_from = None

        if last is None:
            previous = self._last_of_rotated()
            if head is None and previous is None:
                self._seq, self._hash = 0, GENESIS
                self._write_head()  # a log never exists without its head
            elif previous is not None and head is not None and head["seq"] == previous["seq"]:
                # rotated, and the process stopped before the first record of the new file (the
                # head, which rotation leaves in place, still names the old file's last record)
                self._seq, self._hash = previous["seq"], previous["hash"]
                self._rotated_from = {"file": self.path.name + ".1", "seq": previous["seq"]}
            elif head is None:
                raise self._damaged(f"it is empty, older files exist, and its head file {self.head_path.name} is "
                                    "missing: records may have been removed")
            else:
                raise self._damaged(f"it is empty but its head records seq {head.get('seq')}: truncated")
        else:
            if last.get("_unparsable") or not isinstance(last.get("seq"), int):
                raise self._damaged("its last complete line is not a record")
            if not _record_ok(last, self._key):
                raise self._damaged(f"its last record (seq {last['seq']}) does not match its hash")
            if head is None:
                raise self._damaged(
                    f"its head file {self.head_path.name} is missing: a cut-off end cannot be ruled out"
                )
            if head["seq"] > last["seq"]:
                raise self._damaged(f"it ends at seq {last['seq']} but its head records seq {head['seq']}: truncated")
            if head["seq"] == last["seq"] and head.get("hash") != last["hash"]:
                raise self._damaged(f"its last record (seq {last['seq']}) differs from the one its head records")
            if head["seq"] < last["seq"] and not (
                last["seq"] == head["seq"] + 1 and last.get("prev") == head.get("hash")
            ):
                raise self._damaged(f"its head (seq {head['seq']}) is behind the log (seq {last['seq']})")
            self._seq, self._hash = last["seq"], last["hash"]

        if tail.torn:
            # A write cut short by a crash: the head never recorded it. Cut it off and say so.
            if head is not None and tail.record is not None and head["seq"] > tail.record["seq"]:
                raise self._damaged("its last line is cut short")
            os.truncate(self.path, tail.good_end)
            self._size = tail.good_end
            self._pending.insert(0, {"event": "audit_recovered", "dropped_bytes": tail.torn,
                                     "reason": "the last line was cut short (a write interrupted by a crash)"})
        if head is not None and head["seq"] != self._seq:
            self._write_head()  # it was one behind: catch up

    def _last_of_rotated(self) -> dict[str, Any] | None:
        tail = _read_tail(self.path.with_name(self.path.name + ".1"))
        rec = tail.record
        if rec is None or rec.get("_unparsable") or not isinstance(rec.get("seq"), int):
            return None
        return rec

    def _write(self, body: dict[str, Any]) -> str:
        assert self._fd is not None
        record = dict(body)
        record["ts"] = _rfc3339(self._clock())
        record["seq"] = self._seq + 1
        record["prev"] = self._hash
        record["alg"] = self._alg
        text = canonical_json(record)
        # the line is the text plus the hash field (76 bytes) and a newline
        if self._max_bytes is not None and self._size > 0 and self._size + len(text) + 100 > self._max_bytes:
            self._rotate()
        if self._rotated_from is not None:
            record["rotated_from"] = self._rotated_from
            text = canonical_json(record)
        digest = _digest(text, self._key)
        record["hash"] = digest
        line = canonical_json(record) + "\n"
        data = line.encode("ascii")
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        os.fdatasync(self._fd)
        self._size += len(data)
        self._seq, self._hash = record["seq"], digest
        self._rotated_from = None
        self._write_head()
        return line

    def _write_head(self) -> None:
        mac = _head_mac(self._seq, self._hash, self._key) if self._key is not None else None
        data = _head_slot(self._seq, self._hash, mac)
        if self._head_fd is None:
            self._head_fd = os.open(self.head_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.pwrite(self._head_fd, data, (self._seq % 2) * _HEAD_SLOT)
        os.fdatasync(self._head_fd)

    def _rotate(self) -> None:
        assert self._fd is not None
        os.close(self._fd)
        self._fd = None
        base = self.path
        n = 1
        while base.with_name(f"{base.name}.{n}").exists():
            n += 1
        for k in range(n - 1, 0, -1):
            src = base.with_name(f"{base.name}.{k}")
            if self._keep is not None and k + 1 > self._keep:
                src.unlink()
            else:
                os.replace(src, base.with_name(f"{base.name}.{k + 1}"))
        os.replace(base, base.with_name(f"{base.name}.1"))
        _fsync_dir(base.parent)
        self._open_log()
        self._rotated_from = {"file": f"{base.name}.1", "seq": self._seq}

    def _mirror(self, line: str) -> None:
        if self._also_stderr:
            stream = self._stream or sys.stderr
            with contextlib.suppress(OSError, ValueError):
                stream.write(line)
                stream.flush()
        if self._also_syslog:
            with contextlib.suppress(OSError):
                if self._syslog is None:
                    import syslog  # imported here: POSIX only, and only when configured

                    syslog.openlog("proxmox-mcp-audit", 0, syslog.LOG_AUTHPRIV)
                    self._syslog = syslog
                self._syslog.syslog(self._syslog.LOG_INFO, line.rstrip("\n"))


# --- what the gate writes ------------------------------------------------------------------------


def _who(principal: Mapping[str, Any] | str | None) -> str:
    if isinstance(principal, str):
        return principal
    return str((principal or {}).get("sub", "local"))


def tool_call_record(
    tool: str,
    arguments: Mapping[str, Any],
    *,
    principal: Mapping[str, Any] | str | None,
    outcome: str,
    call_id: str,
    seconds: float | None = None,
    cluster: str | None = None,
    confirmation: str | None = None,
) -> dict[str, Any]:
    """The record of one tool call (written when it ends, denied and failed calls too).

    ``outcome`` is ``ok``, ``denied``, ``dry-run``, ``pending-approval`` or ``error:<code>``;
    ``confirmation`` is ``elicited``, ``declined``, ``approved:<id>`` or None.
    """
    record: dict[str, Any] = {
        "kind": "tool_call",
        "call": call_id,
        "principal": _who(principal),
        "tool": tool,
        "arguments": REDACTOR.redact_obj(dict(arguments)),
        "outcome": outcome,
    }
    if cluster is not None:
        record["cluster"] = cluster
    if confirmation is not None:
        record["confirmation"] = confirmation
    if seconds is not None:
        record["ms"] = round(seconds * 1000, 3)
    return record


def operation_record(
    op: Operation,
    decision: Decision,
    *,
    principal: Mapping[str, Any] | str | None,
    outcome: str,
    call_id: str | None = None,
    seconds: float | None = None,
    confirmation: str | None = None,
    upid: str | None = None,
    phase: str | None = None,
) -> dict[str, Any]:
    """The record of one plane operation under a tool call: what, the policy's decision, the
    confirmation, the result. Parameters and argv are redacted.

    ``phase`` is ``intent`` for the record written before a change is sent (if it cannot be
    written, the change is not sent) and ``result`` for the one written after it.
    """
    record: dict[str, Any] = {
        "kind": "operation",
        "principal": _who(principal),
        "tool": op.tool,
        "cluster": op.cluster,
        "plane": op.plane,
        "decision": decision.to_dict(),
        "outcome": outcome,
    }
    if call_id is not None:
        record["call"] = call_id
    if phase is not None:
        record["phase"] = phase
    if op.node:
        record["node"] = op.node
    if op.plane == "api":
        record["method"] = op.method
        record["path"] = op.path
        if op.params:
            record["params"] = REDACTOR.redact_obj(dict(op.params))
    elif op.argv is not None:
        record["argv"] = REDACTOR.redact_argv(op.argv)
    if op.plane == "file":
        record["file"] = op.path
        record["method"] = op.method
    if confirmation is not None:
        record["confirmation"] = confirmation
    if upid is not None:
        record["upid"] = upid
    if seconds is not None:
        record["ms"] = round(seconds * 1000, 3)
    return record


# --- verification ------------------------------------------------------------------------------


class BadRecord(NamedTuple):
    """Where verification first failed: file, 1-based line, and the seq expected or found there."""

    file: str
    line: int
    seq: int | None


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of :func:`verify`.

    Attributes:
        ok: every record verifies, the chain is unbroken and the end matches the head.
        records: how many records were checked (up to the first bad one).
        first_bad: where it first failed.
        reason: why, or a one-line summary when ok.
        files: the files checked, oldest first.
        first_seq, last_seq: the range of good records.
        complete: the chain starts at seq 1 (False when old rotated files were removed).
        warnings: things that are not tampering (a head one record behind after a crash).
    """

    ok: bool
    records: int
    first_bad: BadRecord | None
    reason: str
    files: tuple[str, ...] = ()
    first_seq: int | None = None
    last_seq: int | None = None
    complete: bool = True
    warnings: tuple[str, ...] = field(default_factory=tuple)


def _family(path: Path) -> list[Path]:
    """The live log and its rotated files, oldest first."""
    rotated = []
    n = 1
    while True:
        p = path.with_name(f"{path.name}.{n}")
        if not p.exists():
            break
        rotated.append(p)
        n += 1
    return list(reversed(rotated)) + ([path] if path.exists() else [])


def _find_log(directory: Path) -> Path:
    heads = sorted(directory.glob("*.head"))
    if len(heads) == 1:
        return heads[0].with_name(heads[0].name[: -len(".head")])
    names = [p for p in directory.iterdir() if p.is_file() and not p.name.endswith((".head", ".lock", ".tmp"))
             and not p.name.rsplit(".", 1)[-1].isdigit()]
    if len(names) == 1:
        return names[0]
    raise ValueError(
        f"{directory} holds {'no' if not names else 'several'} audit logs; name the log file "
        "(PROXMOX_MCP_AUDIT_PATH) instead of the directory"
    )


def verify(target: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
           hmac_key: bytes | None = None) -> VerifyResult:
    """Check an audit log: every record's hash, the chain across rotated files, and the end
    against the head file.

    Args:
        target: the live log path (its rotated ``.1``, ``.2`` ... files are included), a
            directory holding one log, or an explicit list of files, oldest first.
        hmac_key: the key the log was signed with. With a key, records without an HMAC fail
            (a rewrite without the key); without one, an HMAC-signed log cannot be checked.

    Raises:
        ValueError: ``target`` names no log.
    """
    head_path: Path | None
    if isinstance(target, (str, os.PathLike)):
        p = Path(target)
        if p.is_dir():
            p = _find_log(p)
        files = _family(p)
        if not files:
            raise ValueError(f"{p}: no audit log there")
        head_path = p.with_name(p.name + ".head")
    else:
        files = [Path(t) for t in target]
        if not files:
            raise ValueError("no audit files given")
        candidate = files[-1].with_name(files[-1].name + ".head")
        head_path = candidate if candidate.exists() else None

    names = tuple(str(f) for f in files)
    count = 0
    first_seq: int | None = None
    last_seq: int | None = None
    last_hash: str | None = None
    complete = True
    warnings: list[str] = []

    def bad(file: Path, line: int, seq: int | None, reason: str) -> VerifyResult:
        return VerifyResult(False, count, BadRecord(str(file), line, seq), reason, names, first_seq, last_seq,
                            complete, tuple(warnings))

    for index, file in enumerate(files):
        try:
            data = file.read_bytes()
        except OSError as exc:
            return bad(file, 0, None if last_seq is None else last_seq + 1, f"cannot read the file: {exc.strerror}")
        lines = data.split(b"\n")
        cut = lines.pop()  # b"" when the file ends with a newline
        first_of_file = True
        for n, raw in enumerate(lines, 1):
            expect = None if last_seq is None else last_seq + 1
            try:
                rec = json.loads(raw)
                if not isinstance(rec, dict):
                    raise ValueError
            except ValueError:
                return bad(file, n, expect, "not a JSON record: edited or corrupted")
            seq = rec.get("seq")
            if not isinstance(seq, int) or not isinstance(rec.get("hash"), str) or not isinstance(rec.get("prev"), str):
                return bad(file, n, expect, "the record lacks seq, prev or hash: edited")
            alg = rec.get("alg")
            if hmac_key is None and alg == "hmac-sha256":
                return bad(file, n, seq, "the log is signed with HMAC-SHA256: give its key to verify it")
            if hmac_key is not None and alg != "hmac-sha256":
                return bad(file, n, seq, f"the record is not HMAC-signed ({alg}): rewritten without the key?")
            if alg not in ("sha256", "hmac-sha256"):
                return bad(file, n, seq, f"unknown hash algorithm {alg!r}")
            if not _record_ok(rec, hmac_key):
                what = "edited, or verified with another HMAC key" if hmac_key else "edited"
                return bad(file, n, seq, f"the hash does not match the record: {what}")
            if last_seq is None:
                if seq == 1 and rec["prev"] == GENESIS:
                    pass
                elif "rotated_from" in rec:
                    complete = False
                    warnings.append(f"the chain starts at seq {seq}: older rotated files are not there")
                else:
                    return bad(file, n, seq,
                               f"the first record is seq {seq} and does not start a log: earlier records deleted")
            else:
                if seq <= last_seq:
                    return bad(file, n, seq, f"seq {seq} after seq {last_seq}: records reordered or duplicated")
                if seq > last_seq + 1:
                    gap = seq - last_seq - 1
                    return bad(file, n, last_seq + 1,
                               f"seq jumps from {last_seq} to {seq}: {gap} record{'s' if gap > 1 else ''} deleted")
                if rec["prev"] != last_hash:
                    return bad(file, n, seq, "prev does not chain to the record before: deleted, reordered or inserted")
                if first_of_file and index > 0 and "rotated_from" not in rec:
                    return bad(file, n, seq, "the file does not start with a rotation record: files mixed up")
            first_of_file = False
            if first_seq is None:
                first_seq = seq
            last_seq, last_hash = seq, rec["hash"]
            count += 1
        if cut:
            return bad(file, len(lines) + 1, None if last_seq is None else last_seq + 1,
                       "the last line is cut short: truncated")

    live = files[-1]
    if head_path is None:
        return VerifyResult(True, count, None, f"{count} records verify (no head file given: the end is not checked)",
                            names, first_seq, last_seq, complete, tuple(warnings))
    head = _read_head(head_path)
    n_lines = sum(1 for _ in live.open("rb")) if live.exists() else 0
    if head is None:
        return bad(live, n_lines + 1, None if last_seq is None else last_seq + 1,
                   f"the head file {head_path.name} is missing: a truncated end cannot be ruled out")
    if head.get("_unparsable") or not isinstance(head.get("seq"), int):
        return bad(live, n_lines + 1, None, f"the head file {head_path.name} is unreadable")
    if hmac_key is not None and head["seq"] > 0 and not hmac.compare_digest(
        str(head.get("mac", "")), _head_mac(head["seq"], str(head.get("hash")), hmac_key)
    ):
        return bad(live, n_lines + 1, None, "the head file does not carry a valid HMAC: edited")
    end = last_seq or 0
    if head["seq"] > end:
        missing = head["seq"] - end
        return bad(live, n_lines + 1, end + 1,
                   f"the log ends at seq {end} but its head records seq {head['seq']}: truncated "
                   f"({missing} record{'s' if missing > 1 else ''} missing)")
    if head["seq"] == end and head.get("hash") != (last_hash or GENESIS):
        return bad(live, n_lines, end, "the last record differs from the one the head records: edited or replaced")
    if head["seq"] < end:
        if end == head["seq"] + 1:
            warnings.append("the head is one record behind (the process stopped between the two writes)")
        else:
            return bad(live, n_lines, head["seq"] + 1,
                       f"the log goes on after seq {head['seq']}, where its head ends: records appended by "
                       "something else")
    summary = f"{count} records verify" + (f" (seq {first_seq}-{last_seq})" if count else "") + f" in {len(files)} file"
    summary += "s" if len(files) != 1 else ""
    return VerifyResult(True, count, None, summary, names, first_seq, last_seq, complete, tuple(warnings))
