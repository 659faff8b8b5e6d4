"""Out-of-band approvals: a human approves a pending call from outside the MCP session.

When an operation needs confirmation and the client cannot ask its user (no elicitation), the
server can, if configured, record a pending approval and return its id instead of running
anything. An operator approves it with ``proxmox-mcp approve ID`` (another process, possibly
another replica sharing the directory), and the retried call that carries the id runs, once.

An approval is bound to the exact call: a SHA-256 over the canonical JSON of the principal's
``sub``, the tool and its arguments (without the approval id argument itself). It is
single-use (consuming renames the file away under a lock, so two concurrent retries cannot
both win) and expires. The id is unguessable, but knowing it grants nothing: only a human
with access to the store can approve.

Storage: one JSON file per approval, mode 0600, in a directory of mode 0700, written
atomically (temporary file, fsync, rename) under ``flock`` on ``<directory>/.lock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import stat
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from ..errors import ProxmoxMCPError
from .audit import canonical_json

__all__ = [
    "APPROVAL_ARG",
    "DEFAULT_TTL",
    "Approval",
    "ApprovalError",
    "ApprovalStore",
    "ConsumeResult",
    "binding_hash",
]

APPROVAL_ARG = "approval_id"
"""The argument a retried call carries the approval id in (stripped before binding and before
the tool's input model sees the arguments)."""

DEFAULT_TTL = 15 * 60.0
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

Status = Literal["pending", "approved", "denied"]


class ApprovalError(ProxmoxMCPError):
    """An approval id that cannot be approved or denied (unknown, expired, already decided),
    or an approval store that cannot be used."""

    code = "approval_invalid"


def _sub(principal: Mapping[str, Any] | str) -> str:
    if isinstance(principal, str):
        return principal
    sub = principal.get("sub")
    if not isinstance(sub, str) or not sub:
        raise ValueError("the principal has no `sub`")
    return sub


def binding_hash(principal: Mapping[str, Any] | str, tool: str, arguments: Mapping[str, Any]) -> str:
    """SHA-256 over the canonical JSON of (principal sub, tool, arguments without the approval id)."""
    args = {k: v for k, v in arguments.items() if k != APPROVAL_ARG}
    body = canonical_json({"sub": _sub(principal), "tool": tool, "arguments": args})
    return hashlib.sha256(body.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class Approval:
    """One approval request and its state.

    ``arguments`` is for display (redact before storing); the binding covers the real ones.
    """

    id: str
    principal: str
    tool: str
    binding: str
    summary: tuple[str, ...]
    arguments: Mapping[str, Any]
    created: float
    expires: float
    status: Status = "pending"
    approver: str | None = None
    decided: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def expired(self, now: float) -> bool:
        return now >= self.expires

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["summary"] = list(self.summary)
        out["arguments"] = dict(self.arguments)
        out["extra"] = dict(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Approval:
        """Raises: KeyError, TypeError, ValueError for a malformed record."""
        status = data["status"]
        if status not in ("pending", "approved", "denied"):
            raise ValueError(f"bad status {status!r}")
        return cls(
            id=str(data["id"]),
            principal=str(data["principal"]),
            tool=str(data["tool"]),
            binding=str(data["binding"]),
            summary=tuple(str(s) for s in data["summary"]),
            arguments=dict(data["arguments"]),
            created=float(data["created"]),
            expires=float(data["expires"]),
            status=status,
            approver=data.get("approver"),
            decided=None if data.get("decided") is None else float(data["decided"]),
            extra=dict(data.get("extra") or {}),
        )

    def describe(self, now: float | None = None) -> str:
        """A few lines an approver reads before deciding."""
        left = "" if now is None else f" ({max(0, int(self.expires - now))} s left)"
        lines = [
            f"approval {self.id}: {self.status}{left}",
            f"  requested by {self.principal} through {self.tool}",
        ]
        lines += [f"  - {s}" for s in self.summary]
        if self.arguments:
            lines.append("  arguments: " + json.dumps(self.arguments, sort_keys=True, default=str)[:2000])
        if self.approver:
            lines.append(f"  {self.status} by {self.approver}")
        return "\n".join(lines)


@dataclass(frozen=True)
class ConsumeResult:
    """The answer of :meth:`ApprovalStore.consume`; true only when the call may run."""

    ok: bool
    reason: str
    approval: Approval | None = None

    def __bool__(self) -> bool:
        return self.ok


class ApprovalStore:
    """File-based approvals shared by every process that can read the directory.

    Args:
        directory: ``PROXMOX_MCP_APPROVALS_DIR``; created with mode 0700.
        clock: seconds since the epoch (injectable for tests).

    Raises:
        ApprovalError: the directory cannot be created, or others can read it and it is not
            ours to fix.
    """

    def __init__(self, directory: str | os.PathLike[str], *, clock: Callable[[], float] = time.time) -> None:
        self.directory = Path(directory)
        self._clock = clock
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            st = self.directory.stat()
            if stat.S_IMODE(st.st_mode) & 0o077:
                if st.st_uid != os.geteuid():
                    raise ApprovalError(
                        f"the approvals directory {self.directory} is readable by others and not ours to fix",
                        hint=f"chmod 700 {self.directory}",
                    )
                os.chmod(self.directory, 0o700)
        except OSError as exc:
            raise ApprovalError(
                f"cannot use the approvals directory {self.directory}: {exc.strerror or exc}",
                hint="Check PROXMOX_MCP_APPROVALS_DIR and its permissions.",
            ) from None

    def __repr__(self) -> str:
        return f"<ApprovalStore {self.directory}>"

    # --- requests -------------------------------------------------------------------------

    def request(
        self,
        principal: Mapping[str, Any] | str,
        tool: str,
        arguments: Mapping[str, Any],
        operations_summary: Sequence[str] | str,
        ttl: float = DEFAULT_TTL,
        *,
        display_arguments: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Approval:
        """Record a pending approval for this exact call.

        Args:
            principal: who asks (a mapping with ``sub``, or the sub itself).
            tool: the tool name.
            arguments: the call's arguments (the approval id argument is ignored).
            operations_summary: what would run, one line per operation.
            ttl: seconds until it expires, from now (approved or not).
            display_arguments: what the approver is shown instead of ``arguments`` (pass a
                redacted copy; by default nothing of the arguments is stored, only the binding).
            extra: anything else to keep with it (the confirmation text ...).
        """
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        now = self._clock()
        summary = (operations_summary,) if isinstance(operations_summary, str) else tuple(operations_summary)
        approval = Approval(
            id=secrets.token_urlsafe(18),
            principal=_sub(principal),
            tool=tool,
            binding=binding_hash(principal, tool, arguments),
            summary=summary,
            arguments=dict(display_arguments or {}),
            created=now,
            expires=now + ttl,
            extra=dict(extra or {}),
        )
        with self._locked():
            self._write(approval, exclusive=True)
        return approval

    def get(self, approval_id: str) -> Approval | None:
        """The approval, or None when the id is unknown, malformed or used."""
        if not _ID_RE.match(approval_id or ""):
            return None
        return self._read(approval_id)

    def list_pending(self) -> list[Approval]:
        """Pending approvals that have not expired, oldest first."""
        now = self._clock()
        out = []
        for p in self.directory.glob("*.json"):
            found = self._read(p.stem)
            if found is not None and found.status == "pending" and not found.expired(now):
                out.append(found)
        return sorted(out, key=lambda a: a.created)

    # --- decisions ------------------------------------------------------------------------

    def approve(self, approval_id: str, approver: str) -> Approval:
        """Approve a pending, unexpired approval.

        Raises:
            ApprovalError: unknown, expired, or already decided.
        """
        return self._decide(approval_id, "approved", approver)

    def deny(self, approval_id: str, approver: str | None = None) -> Approval:
        """Deny a pending approval; the retried call then fails with the denial.

        Raises:
            ApprovalError: unknown, expired, or already decided.
        """
        return self._decide(approval_id, "denied", approver or "operator")

    def _decide(self, approval_id: str, status: Status, approver: str) -> Approval:
        if not approver or not approver.strip():
            raise ValueError("an approval needs the approver's name")
        with self._locked():
            found = self.get(approval_id)
            if found is None:
                raise ApprovalError(
                    f"no approval {approval_id!r} is waiting (unknown id, or already used)",
                    hint="`proxmox-mcp approve --list` shows the pending ones.",
                )
            now = self._clock()
            if found.expired(now):
                self._unlink(found.id)
                raise ApprovalError(
                    f"approval {approval_id} expired; nothing was approved",
                    hint="Ask for the call again: it returns a new approval id.",
                )
            if found.status != "pending":
                raise ApprovalError(f"approval {approval_id} was already {found.status} by {found.approver}")
            decided = replace(found, status=status, approver=approver.strip(), decided=now)
            self._write(decided, exclusive=False)
        return decided

    def consume(
        self, approval_id: str, principal: Mapping[str, Any] | str, tool: str, arguments: Mapping[str, Any]
    ) -> ConsumeResult:
        """Use an approval for this call, once.

        True only if it is approved, unexpired, and bound to this principal, tool and
        arguments; it is then gone. A call that does not match leaves the approval as it is
        (the approved call can still run); an expired or denied one is removed.
        """
        if not _ID_RE.match(approval_id or ""):
            return ConsumeResult(False, "not an approval id")
        with self._locked():
            found = self._read(approval_id)
            if found is None:
                return ConsumeResult(False, "unknown approval id, or already used")
            if found.expired(self._clock()):
                self._unlink(found.id)
                return ConsumeResult(False, "the approval expired", found)
            if found.status == "denied":
                self._unlink(found.id)
                return ConsumeResult(False, f"denied by {found.approver}", found)
            if found.status != "approved":
                return ConsumeResult(False, "not approved yet: a human must approve it first", found)
            if found.principal != _sub(principal):
                return ConsumeResult(False, "approved for a different principal", found)
            if found.tool != tool:
                return ConsumeResult(False, f"approved for {found.tool}, not {tool}", found)
            if found.binding != binding_hash(principal, tool, arguments):
                return ConsumeResult(False, "arguments changed since the approval", found)
            path = self._path(found.id)
            claimed = path.with_name(f".{found.id}.used.{os.getpid()}")
            try:
                os.rename(path, claimed)  # the atomic claim: a second consumer finds nothing
            except FileNotFoundError:
                return ConsumeResult(False, "unknown approval id, or already used")
            with contextlib.suppress(OSError):
                claimed.unlink()
        return ConsumeResult(True, f"approved by {found.approver}", found)

    def purge_expired(self) -> int:
        """Remove expired approvals; return how many."""
        now = self._clock()
        removed = 0
        with self._locked():
            for p in self.directory.glob("*.json"):
                found = self._read(p.stem)
                if found is not None and found.expired(now):
                    self._unlink(found.id)
                    removed += 1
        return removed

    # --- files ------------------------------------------------------------------------------

    def _path(self, approval_id: str) -> Path:
        return self.directory / f"{approval_id}.json"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise ApprovalError(f"cannot lock the approvals directory {self.directory}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _read(self, approval_id: str) -> Approval | None:
        try:
            data = json.loads(self._path(approval_id).read_bytes())
            found = Approval.from_dict(data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            return None  # unreadable or malformed: never approves anything
        return found if found.id == approval_id else None

    def _write(self, approval: Approval, *, exclusive: bool) -> None:
        path = self._path(approval.id)
        if exclusive and path.exists():
            raise ApprovalError(f"approval id {approval.id} exists already")
        tmp = path.with_name(f".{approval.id}.tmp")
        data = json.dumps(approval.to_dict(), sort_keys=True, indent=1, default=str).encode()
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as exc:
            raise ApprovalError(f"cannot write to the approvals directory {self.directory}: {exc.strerror}") from None

    def _unlink(self, approval_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(approval_id).unlink()
