"""Waiting for PVE worker tasks over REST.

Worker endpoints (start, stop, clone, backup ...) answer at once with a UPID; the work goes on
on the node named inside it. :func:`wait_for_task` polls that node's task status until the
task stops or the caller's time runs out, optionally streaming new log lines.

Polling starts at 50 ms and grows by 1.5x up to 1 s, but stays at or below 80 ms during the
first two seconds, so an inline wait on a quick task returns within about 100 ms of its end.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio

from .rest import RestClient, to_int
from .upid import Upid

__all__ = [
    "FAST_MAX",
    "FAST_WINDOW",
    "POLL_FACTOR",
    "POLL_INITIAL",
    "POLL_MAX",
    "TaskStatus",
    "next_poll_delay",
    "task_log",
    "wait_for_task",
]

POLL_INITIAL = 0.05
POLL_FACTOR = 1.5
POLL_MAX = 1.0
#: While a task is young, poll at least this often (the "return within ~100 ms" promise).
FAST_WINDOW = 60.0
FAST_MAX = 0.08
#: Log lines fetched per request.
LOG_PAGE = 500


@dataclass(frozen=True, slots=True)
class TaskStatus:
    """State of one PVE task.

    Attributes:
        upid: the task's UPID text.
        node: node that runs it.
        status: ``"running"`` or ``"stopped"``.
        exitstatus: ``"OK"``, an error message, or ``"WARNINGS: n"``; None while running.
        type, id, user: from the UPID (or PVE's answer).
        starttime: start, seconds since the epoch.
        endtime: end, when PVE reported it.
        ok: stopped with exit status ``OK``.
    """

    upid: str
    node: str
    status: str
    exitstatus: str | None
    type: str
    id: str
    user: str
    starttime: int
    endtime: int | None
    ok: bool

    @property
    def running(self) -> bool:
        return self.status != "stopped"

    @property
    def warnings(self) -> bool:
        """Stopped with ``WARNINGS: n``: the work was done, with warnings in the log."""
        return not self.running and (self.exitstatus or "").startswith("WARNINGS")

    @property
    def failed(self) -> bool:
        """Stopped with an error (neither OK nor warnings)."""
        return not self.running and not self.ok and not self.warnings

    @classmethod
    def from_api(cls, upid: Upid, data: Any) -> TaskStatus:
        """Build from ``GET /nodes/{node}/tasks/{upid}/status`` data, falling back to the UPID."""
        d: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
        status = str(d.get("status") or "running")
        exitstatus = d.get("exitstatus")
        exitstatus = None if exitstatus is None else str(exitstatus)
        return cls(
            upid=str(upid),
            node=str(d.get("node") or upid.node),
            status=status,
            exitstatus=exitstatus,
            type=str(d.get("type") or upid.type),
            id=str(d.get("id") if d.get("id") is not None else upid.id),
            user=str(d.get("user") or upid.user),
            starttime=to_int(d.get("starttime")) or upid.starttime,
            endtime=to_int(d.get("endtime")),
            ok=status == "stopped" and exitstatus == "OK",
        )


def next_poll_delay(previous: float | None, elapsed: float) -> float:
    """Seconds to wait before the next status poll.

    Args:
        previous: the last delay, or None before the first wait.
        elapsed: seconds since the wait began.
    """
    delay = POLL_INITIAL if previous is None else min(previous * POLL_FACTOR, POLL_MAX)
    if elapsed < FAST_WINDOW:
        delay = min(delay, FAST_MAX)
    return delay


def _as_upid(upid: str | Upid) -> Upid:
    return upid if isinstance(upid, Upid) else Upid.parse(upid)


async def _log_page(client: RestClient, upid: Upid, start: int, limit: int) -> list[tuple[int, str]]:
    data = await client.get(f"/nodes/{upid.node}/tasks/{upid}/log", {"start": start, "limit": limit})
    rows = data if isinstance(data, list) else []
    out: list[tuple[int, str]] = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            continue
        n = to_int(row.get("n"), start + i + 1) or start + i + 1
        out.append((n, str(row.get("t", ""))))
    # PVE answers an empty log with one placeholder line (an ExtJS workaround).
    if start == 0 and len(out) == 1 and out[0][1] == "no content":
        return []
    return out


async def task_log(client: RestClient, upid: str | Upid, start: int = 0, limit: int = 500) -> list[str]:
    """Lines of a task's log, from line ``start`` (0-based), at most ``limit``.

    Raises:
        InvalidArgumentError: ``upid`` is not a UPID.
        TransportError: the request failed.
    """
    u = _as_upid(upid)
    return [t for _, t in await _log_page(client, u, start, limit)]


async def _new_lines(client: RestClient, upid: Upid, start: int, *, drain: bool) -> tuple[list[str], int]:
    lines: list[str] = []
    while True:
        page = await _log_page(client, upid, start, LOG_PAGE)
        lines.extend(t for _, t in page)
        if page:
            start = max(start, page[-1][0])
        if not drain or len(page) < LOG_PAGE:
            return lines, start


async def wait_for_task(
    client: RestClient,
    upid: str | Upid,
    *,
    timeout: float | None,
    on_update: Callable[[TaskStatus, list[str]], Awaitable[None]] | None = None,
) -> TaskStatus:
    """Poll a task until it stops or ``timeout`` seconds pass.

    Args:
        client: REST client of the task's cluster.
        upid: the task; its node is the one asked.
        timeout: seconds to wait; None waits until the task stops (or the caller cancels).
        on_update: called with the status and the log lines that are new since the last call,
            whenever there are new lines, and once more when the task has stopped (with the
            rest of the log).

    Returns:
        The final status, or the still-running one when time ran out. Running out of time
        neither raises nor stops the task.

    Raises:
        InvalidArgumentError: ``upid`` is not a UPID (nothing was sent).
        TransportError: polling failed.
    """
    u = _as_upid(upid)
    status_path = f"/nodes/{u.node}/tasks/{u}/status"
    began = anyio.current_time()
    deadline = None if timeout is None else began + max(0.0, timeout)
    log_pos = 0
    delay: float | None = None
    while True:
        status = TaskStatus.from_api(u, await client.get(status_path))
        if on_update is not None:
            lines, log_pos = await _new_lines(client, u, log_pos, drain=not status.running)
            if lines or not status.running:
                await on_update(status, lines)
        if not status.running:
            return status
        now = anyio.current_time()
        if deadline is not None and now >= deadline:
            return status
        delay = next_poll_delay(delay, now - began)
        await anyio.sleep(delay if deadline is None else min(delay, deadline - now))
