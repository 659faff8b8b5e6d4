"""Simulated PVE worker tasks: UPIDs, their life cycle and their logs.

A task does not run on a thread or in a background coroutine. It is a record with a start and
an end on the simulator's clock, and :meth:`TaskManager.advance` (called before every request)
moves every task whose time has come: a queued task starts when the guest lock it waits for is
free (its ``begin`` hook checks preconditions, as a real worker does first), a running task
finishes when its duration is over (its ``finish`` hook applies the effect on the cluster
state). Seen through the API this is the same as a real worker: the state changes once the task
has stopped OK, log lines appear while it runs, and a failure ends with ``TASK ERROR: <msg>``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from .errors import TaskFailure

__all__ = [
    "UPID_RE",
    "Clock",
    "ManualClock",
    "SystemClock",
    "Task",
    "TaskManager",
    "decode_upid",
    "encode_upid",
]

# The decode regex of pve-common's PVE::Tools::upid_decode (see shared notes/pve-wire.md).
UPID_RE = re.compile(
    r"^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):"
    r"([0-9A-Fa-f]{8}):([^:\s]+):([^:\s]*):([^:\s]+):$"
)

LOCK_TIMEOUT = 10.0  # seconds a worker waits for a guest's config lock (PVE's default)


class Clock(Protocol):
    """Where the simulator reads time: a monotonic clock for durations, wall time for UPIDs."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...


class SystemClock:
    """The real clocks."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told to: deterministic tests without waiting."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._wall0 = start
        self._now = 0.0

    def monotonic(self) -> float:
        return self._now

    def time(self) -> float:
        return self._wall0 + self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``."""
        self._now += seconds


def encode_upid(node: str, pid: int, pstart: int, starttime: int, dtype: str, vmid: str, user: str) -> str:
    """PVE's ``upid_encode``: ``UPID:node:PID:PSTART:STARTTIME:type:id:user:``."""
    return f"UPID:{node}:{pid:08X}:{pstart:08X}:{starttime:08X}:{dtype}:{vmid}:{user}:"


def decode_upid(upid: str) -> dict[str, str | int] | None:
    """PVE's ``upid_decode``, or None when ``upid`` is not one."""
    m = UPID_RE.match(upid)
    if not m:
        return None
    return {
        "node": m.group(1),
        "pid": int(m.group(3), 16),
        "pstart": int(m.group(4), 16),
        "starttime": int(m.group(5), 16),
        "type": m.group(6),
        "id": m.group(7),
        "user": m.group(8),
    }


Hook = Callable[["Task"], None]


@dataclass(eq=False)
class Task:
    """One worker. ``lines`` are (seconds after start, text) shown while it runs."""

    upid: str
    node: str
    pid: int
    pstart: int
    starttime: int
    type: str
    id: str
    user: str
    created_at: float
    duration: float
    lock: str | None = None
    lock_file: str | None = None
    lines: list[tuple[float, str]] = field(default_factory=list)
    begin: Hook | None = None
    finish: Hook | None = None
    abort: Hook | None = None
    state: str = "queued"  # queued | running | stopped
    start_at: float | None = None
    end_at: float | None = None
    exitstatus: str | None = None
    endtime: int | None = None
    log: list[str] = field(default_factory=list)
    warnings: int = 0
    waited: bool = False

    def say(self, text: str) -> None:
        """Add a log line now (used by hooks)."""
        self.log.append(text)

    def warn(self, text: str) -> None:
        """Add a ``WARN:`` line; the task then ends with ``WARNINGS: n`` instead of ``OK``."""
        self.warnings += 1
        self.log.append(f"WARN: {text}")

    @property
    def running(self) -> bool:
        return self.state != "stopped"

    def visible_log(self, now: float) -> list[str]:
        """The log as a reader sees it at ``now``."""
        if self.state == "stopped":
            return list(self.log)
        out = list(self.log)
        if self.state == "running" and self.start_at is not None:
            out += [text for at, text in self.lines if self.start_at + at <= now]
        return out


class TaskManager:
    """Every task of the cluster, per node, plus the guest locks they serialise on."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.tasks: dict[str, Task] = {}
        self._order: list[Task] = []
        self._live: list[Task] = []  # queued or running, in creation order
        self._lock_free_at: dict[str, float] = {}
        self._lock_holder: dict[str, Task] = {}

    # -- creation ---------------------------------------------------------------------------

    def add(self, task: Task) -> Task:
        """Register a new task and start it at once when its lock is free."""
        self.tasks[task.upid] = task
        self._order.append(task)
        self._live.append(task)
        self._try_start(task, self.clock.monotonic())
        return task

    def add_finished(self, task: Task, exitstatus: str, endtime: int, log: list[str]) -> Task:
        """Register a task of the past (history seeded by the state generator)."""
        task.state = "stopped"
        task.exitstatus = exitstatus
        task.endtime = endtime
        task.log = [*log, "TASK OK" if exitstatus == "OK" else f"TASK ERROR: {exitstatus}"]
        self.tasks[task.upid] = task
        self._order.append(task)
        return task

    # -- time -------------------------------------------------------------------------------

    def advance(self) -> None:
        """Start and finish every task whose time has come, in time order."""
        now = self.clock.monotonic()
        while True:
            event = self._next_event(now)
            if event is None:
                return
            at, kind, task = event
            if kind == "finish":
                self._finish(task, at)
            elif kind == "timeout":
                task.say("trying to acquire lock...")
                self._stop(task, at, f"can't lock file '{task.lock_file}' - got timeout")
            else:
                self._start(task, at)

    def _next_event(self, now: float) -> tuple[float, str, Task] | None:
        best: tuple[float, str, Task] | None = None
        for task in list(self._live):
            if task.state == "running":
                cand = (task.end_at or 0.0, "finish", task)
            else:
                free = self._lock_start_time(task)
                deadline = task.created_at + LOCK_TIMEOUT
                if free is None or free > deadline:
                    cand = (deadline, "timeout", task)
                else:
                    cand = (max(free, task.created_at), "start", task)
            if cand[0] <= now and (best is None or cand[0] < best[0]):
                best = cand
        return best

    def _lock_start_time(self, task: Task) -> float | None:
        """When ``task`` may take its lock: None while another task holds it."""
        if task.lock is None:
            return task.created_at
        holder = self._lock_holder.get(task.lock)
        if holder is not None and holder is not task and holder.state != "stopped":
            return None
        # FIFO: an earlier queued task on the same lock goes first
        for other in self._live:
            if other is task:
                break
            if other.lock == task.lock and other.state == "queued":
                return None
        return self._lock_free_at.get(task.lock, task.created_at)

    def _try_start(self, task: Task, now: float) -> None:
        at = self._lock_start_time(task)
        if at is not None and at <= now:
            self._start(task, max(at, task.created_at))
        elif task.lock is not None:
            task.waited = True

    def _start(self, task: Task, at: float) -> None:
        task.state = "running"
        task.start_at = at
        task.end_at = at + task.duration
        if task.lock is not None:
            self._lock_holder[task.lock] = task
        if task.waited:
            task.say("trying to acquire lock...")
            task.say(" OK")
        if task.begin is not None:
            try:
                task.begin(task)
            except TaskFailure as exc:
                self._stop(task, at, exc.message)

    def _finish(self, task: Task, at: float) -> None:
        task.log += [text for _, text in task.lines]
        error: str | None = None
        if task.finish is not None:
            try:
                task.finish(task)
            except TaskFailure as exc:
                error = exc.message
        self._stop(task, at, error)

    def _stop(self, task: Task, at: float, error: str | None) -> None:
        if task.state == "stopped":
            return
        if error is not None and task.abort is not None:
            task.abort(task)
        task.state = "stopped"
        task.end_at = at
        started = task.start_at if task.start_at is not None else at
        task.endtime = task.starttime + max(0, round(at - task.created_at))
        if error is not None:
            task.exitstatus = error
            task.log.append(f"TASK ERROR: {error}")
        elif task.warnings:
            task.exitstatus = f"WARNINGS: {task.warnings}"
            task.log.append(f"TASK WARNINGS: {task.warnings}")
        else:
            task.exitstatus = "OK"
            task.log.append("TASK OK")
        if task in self._live:
            self._live.remove(task)
        if task.lock is not None and self._lock_holder.get(task.lock) is task:
            self._lock_free_at[task.lock] = max(at, started)
            del self._lock_holder[task.lock]

    def stop(self, upid: str) -> None:
        """Stop a running task as ``DELETE /nodes/{node}/tasks/{upid}`` does (SIGTERM)."""
        task = self.tasks[upid]
        if task.state == "stopped":
            return
        now = self.clock.monotonic()
        task.log += task.visible_log(now)[len(task.log) :]
        task.lines = []
        task.say("received interrupt")
        self._stop(task, now, "received interrupt")

    # -- queries ----------------------------------------------------------------------------

    def on_node(self, node: str) -> list[Task]:
        """The node's tasks: running first (newest first), then finished (last ended first)."""
        mine = [t for t in self._order if t.node == node]
        active = [t for t in mine if t.state != "stopped"]
        done = [t for t in mine if t.state == "stopped"]
        active.sort(key=lambda t: (t.starttime, t.pid), reverse=True)
        done.sort(key=lambda t: (t.endtime or 0, t.starttime, t.pid), reverse=True)
        return active + done

    def all(self) -> list[Task]:
        return list(self._order)
