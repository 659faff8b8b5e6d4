"""Small shared pieces of the typed tools: paging, projection, guest lookup, task waiting."""

from __future__ import annotations

import base64
import fnmatch
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import anyio
from pydantic import Field

from ..errors import InvalidArgumentError, NotFoundError
from .base import NESTED_SCHEMAS, Input, Output, ToolContext, clean_text

__all__ = [
    "GuestKind",
    "Page",
    "PageInput",
    "TaskOut",
    "WaitField",
    "decode_job",
    "encode_cursor",
    "encode_job",
    "locate_guest",
    "number",
    "page_items",
    "project",
    "started",
    "task_out",
    "wait_seconds",
    "wait_task",
]

GuestKind = Literal["qemu", "lxc"]

WaitField = Field(
    default=False,
    description="true: wait up to 120 s; N: wait N s (max 900).",
)


class PageInput(Input):
    limit: int = Field(50, ge=1, le=500, description="Items per page.")
    cursor: str | None = Field(None, max_length=64, description="next_cursor of the last page.")
    fields: list[str] | None = Field(
        None, max_length=40, description="Only these fields per item."
    )


class Page(Output):
    total: int = Field(description="Items matching the filters, all pages.")
    next_cursor: str | None = Field(None, description="Pass as cursor for the next page; null on the last page.")


def number(value: Any) -> float | int | None:
    """PVE sends numbers as strings where they come from config files; accept both."""
    if value is None or isinstance(value, bool):
        return None if value is None else int(value)
    if isinstance(value, int | float):
        return value
    try:
        f = float(str(value))
    except ValueError:
        return None
    return int(f) if f.is_integer() else f


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if raw.startswith("o:") and raw[2:].isdigit():
            return int(raw[2:])
    except (ValueError, UnicodeDecodeError):
        pass
    raise InvalidArgumentError("cursor is not one this server issued", hint="Omit cursor to start from the first page.")


def page_items(items: Sequence[Any], limit: int, cursor: str | None) -> tuple[list[Any], int, str | None]:
    start = _decode_cursor(cursor)
    chunk = list(items[start : start + limit])
    nxt = encode_cursor(start + limit) if start + limit < len(items) else None
    return chunk, len(items), nxt


def project(items: Iterable[Mapping[str, Any]], fields: Sequence[str] | None) -> list[dict[str, Any]]:
    if not fields:
        return [dict(i) for i in items]
    return [{k: i[k] for k in fields if k in i} for i in items]


def name_matches(name: str | None, pattern: str | None) -> bool:
    if not pattern:
        return True
    return fnmatch.fnmatchcase((name or "").lower(), pattern.lower())


async def locate_guest(ctx: ToolContext, vmid: int, kind: GuestKind, node: str | None) -> tuple[str, dict[str, Any]]:
    """Find the node of guest ``vmid`` (from /cluster/resources) unless ``node`` is given.

    Raises:
        NotFoundError: no such guest of this kind.
    """
    resources = await ctx.api("GET", "/cluster/resources", {"type": "vm"})
    for r in resources or []:
        if number(r.get("vmid")) == vmid:
            if r.get("type") != kind:
                other = "container" if r.get("type") == "lxc" else "VM"
                tool = "proxmox_lxc_" if r.get("type") == "lxc" else "proxmox_vm_"
                raise NotFoundError(
                    f"guest {vmid} is a {other}, not a {'VM' if kind == 'qemu' else 'container'}",
                    hint=f"Use the {tool}* tools for it.",
                )
            found = str(r.get("node"))
            if node and node != found:
                raise NotFoundError(
                    f"guest {vmid} is on node {found}, not {node}", hint=f"Pass node={found!r} or omit node."
                )
            return found, r
    what = "VM" if kind == "qemu" else "container"
    raise NotFoundError(
        f"{what} {vmid} does not exist in cluster {ctx.cluster.name!r}",
        hint=f"List them with proxmox_{'vm' if kind == 'qemu' else 'lxc'}_list.",
    )


def encode_job(cluster: str, upid: str) -> str:
    """A job id: urlsafe base64 of ``cluster|UPID``, so any replica can answer without state."""
    return base64.urlsafe_b64encode(f"{cluster}|{upid}".encode()).decode().rstrip("=")


def decode_job(job: str) -> tuple[str, str]:
    """``(cluster, upid)`` of a job id.

    Raises:
        InvalidArgumentError: not a job id this server issued.
    """
    try:
        raw = base64.urlsafe_b64decode(job + "=" * (-len(job) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raw = ""
    cluster, sep, upid = raw.partition("|")
    if not sep or not cluster or not upid.startswith("UPID:"):
        raise InvalidArgumentError(
            "job is not a job id this server issued",
            hint="Pass the `job` field of a task returned by an action tool (or see proxmox_task_list).",
        )
    return cluster, upid


class TaskOut(Output):
    job: str | None = Field(None, description="For job_get/job_wait/job_logs/job_cancel.")
    upid: str
    node: str
    type: str | None = None
    id: str | None = None
    user: str | None = None
    status: Literal["running", "stopped"]
    exitstatus: str | None = None
    ok: bool | None = Field(None, description="Stopped with exitstatus OK.")
    starttime: int | None = None
    endtime: int | None = None
    log_tail: list[str] | None = Field(None, description="Last log lines if it failed.")


NESTED_SCHEMAS["TaskOut"] = {
    "type": "object",
    "properties": {
        "job": {"type": "string"},
        "status": {"enum": ["running", "stopped"], "type": "string"},
        "ok": {"type": "boolean"},
    },
    "required": ["upid", "node", "status"],
}


def task_out(
    upid: str, node: str, st: Mapping[str, Any], log_tail: list[str] | None = None, cluster: str | None = None
) -> TaskOut:
    status = "stopped" if st.get("status") == "stopped" else "running"
    exitstatus = st.get("exitstatus") if status == "stopped" else None
    return TaskOut(
        job=encode_job(cluster, upid) if cluster else None,
        upid=upid,
        node=node,
        type=st.get("type"),
        id=clean_text(st.get("id")) if st.get("id") is not None else None,
        user=st.get("user"),
        status=status,
        exitstatus=clean_text(exitstatus) if exitstatus is not None else None,
        ok=(exitstatus == "OK") if status == "stopped" else None,
        starttime=number(st.get("starttime")),  # type: ignore[arg-type]
        endtime=number(st.get("endtime")),  # type: ignore[arg-type]
        log_tail=log_tail,
    )


def wait_seconds(wait: bool | float) -> float:
    if wait is True:
        return 120.0
    if wait is False:
        return 0.0
    if wait < 0 or wait > 900:
        raise InvalidArgumentError("wait must be between 0 and 900 seconds", hint="Use job tools for longer waits.")
    return float(wait)


async def task_status(ctx: ToolContext, node: str, upid: str) -> dict[str, Any]:
    return await ctx.api("GET", f"/nodes/{node}/tasks/{upid}/status", node=node) or {}


async def task_log_tail(ctx: ToolContext, node: str, upid: str, lines: int = 20) -> list[str]:
    entries = await ctx.api("GET", f"/nodes/{node}/tasks/{upid}/log", {"start": 0, "limit": 5000}, node=node)
    texts = [clean_text(e.get("t", ""), 500) for e in entries or []]
    return texts[-lines:]


async def wait_task(ctx: ToolContext, upid: str, seconds: float, *, follow_log: bool = False) -> TaskOut:
    """Poll the task until it stops or ``seconds`` pass (the poll schedule of
    :func:`~proxmox_operator_mcp.transports.tasks.next_poll_delay`: at most 80 ms apart for the
    first minute, so the answer comes within ~100 ms of the task's end; then backing off to 1 s).

    Each poll reports progress (elapsed of ``seconds``); with ``follow_log`` the message is the
    task's newest log line. Cancelling the caller (anyio) stops the wait, never the task.

    Returns the last status (still running if the wait ran out: the task is not touched).
    """
    from ..transports.tasks import next_poll_delay
    from ..transports.upid import Upid

    node = Upid.parse(upid).node
    start = time.monotonic()
    deadline = start + seconds
    delay: float | None = None
    seen = 0
    while True:
        st = await task_status(ctx, node, upid)
        now = time.monotonic()
        if st.get("status") == "stopped" or now >= deadline:
            break
        message = f"task {st.get('type', '')} running"
        if follow_log:
            lines = await ctx.api("GET", f"/nodes/{node}/tasks/{upid}/log", {"start": seen, "limit": 500}, node=node)
            if lines:
                seen += len(lines)
                message += ": " + clean_text(lines[-1].get("t", ""), 200)
        await ctx.progress(now - start, seconds, message)
        delay = next_poll_delay(delay, now - start)
        await anyio.sleep(min(delay, max(0.0, deadline - now)))
    tail = None
    if st.get("status") == "stopped" and st.get("exitstatus") != "OK":
        tail = await task_log_tail(ctx, node, upid)
    return task_out(upid, node, st, tail, ctx.cluster.name)


async def started(ctx: ToolContext, upid: Any, wait: bool | float, what: str) -> TaskOut:
    """The answer of a tool that started a PVE task: the job handle at once, or the finished task
    when ``wait`` asks to wait inline.

    Raises:
        InvalidArgumentError: PVE returned no UPID.
    """
    from ..transports.upid import Upid

    if not isinstance(upid, str) or not upid.startswith("UPID:"):
        raise InvalidArgumentError(f"PVE returned no task for {what}")
    seconds = wait_seconds(wait)
    if seconds > 0:
        return await wait_task(ctx, upid, seconds)
    return task_out(upid, Upid.parse(upid).node, {"status": "running"}, cluster=ctx.cluster.name)

