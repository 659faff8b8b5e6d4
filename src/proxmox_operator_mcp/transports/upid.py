"""PVE task identifiers (UPIDs): parse and format, no I/O.

A UPID names one worker task: ``UPID:<node>:<pid>:<pstart>:<starttime>:<type>:<id>:<user>:``
with pid and starttime as 8 hex digits, pstart as 8 or 9 (it passes 32 bits after 497 days of
uptime) and a trailing colon. PVE finds the task's log file from the UPID *text*, so a parsed
UPID formats back to exactly the text it came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..errors import InvalidArgumentError

__all__ = ["Upid", "is_upid"]

# pve-common PVE::Tools::upid_decode, anchored with fullmatch (Perl's `$` would also accept a
# trailing newline).
_UPID_RE = re.compile(
    r"UPID:([a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?)"
    r":([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8})"
    r":([^:\s]+):([^:\s]*):([^:\s]+):"
)
_SHOWN_MAX = 120
_HINT = "Pass the UPID exactly as PVE returned it (from the call that started the task, or the node's task list)."


@dataclass(frozen=True)
class Upid:
    """One parsed UPID. ``str(upid)`` gives the PVE text back.

    Attributes:
        node: the node that runs the task (the one to ask about it).
        pid: process id of the worker.
        pstart: process start time in clock ticks since boot.
        starttime: task start, seconds since the epoch.
        type: task type, e.g. ``qmstart``, ``vzdump``.
        id: the object the task works on (often a VMID); may be empty.
        user: who started it, ``user@realm`` or a token ``user@realm!tokenid``.
    """

    node: str
    pid: int
    pstart: int
    starttime: int
    type: str
    id: str
    user: str
    # The text it was parsed from, so that non-canonical spellings (lowercase hex, a zero-padded
    # 9-digit pstart) survive a round trip; empty for UPIDs built field by field.
    _text: str = field(default="", repr=False, compare=False)

    @classmethod
    def parse(cls, text: str) -> Upid:
        """Parse a UPID.

        Raises:
            InvalidArgumentError: ``text`` is not a UPID; the message says what is wrong.
        """
        if not isinstance(text, str):
            raise InvalidArgumentError(f"a UPID must be a string, not {type(text).__name__}", hint=_HINT)
        m = _UPID_RE.fullmatch(text)
        if m is None:
            shown = text if len(text) <= _SHOWN_MAX else text[:_SHOWN_MAX] + "..."
            if _UPID_RE.fullmatch(text + ":"):
                reason = "it lacks the trailing ':' that every UPID ends with"
            elif not text.startswith("UPID:"):
                reason = "it does not start with 'UPID:'"
            else:
                reason = (
                    "expected UPID:<node>:<pid>:<pstart>:<starttime>:<type>:<id>:<user>: with pid and "
                    "starttime as 8 hex digits, pstart as 8 or 9, and no spaces"
                )
            raise InvalidArgumentError(f"{shown!r} is not a PVE task id (UPID): {reason}", hint=_HINT)
        node, pid, pstart, starttime, typ, ident, user = m.groups()
        return cls(
            node=node,
            pid=int(pid, 16),
            pstart=int(pstart, 16),
            starttime=int(starttime, 16),
            type=typ,
            id=ident,
            user=user,
            _text=text,
        )

    @property
    def started(self) -> datetime:
        """Task start as an aware UTC datetime."""
        return datetime.fromtimestamp(self.starttime, tz=UTC)

    def __str__(self) -> str:
        if self._text:
            return self._text
        return (
            f"UPID:{self.node}:{self.pid:08X}:{self.pstart:08X}:{self.starttime:08X}:{self.type}:{self.id}:{self.user}:"
        )


def is_upid(text: object) -> bool:
    """True when ``text`` is a string in UPID form."""
    return isinstance(text, str) and _UPID_RE.fullmatch(text) is not None
