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
from .base import Input, Output, ToolContext, clean_text

__all__ = [
    "GuestKind",
    "Page",
    "PageInput",
    "TaskOut",
    "WaitField",
    "encode_cursor",
    "locate_guest",
    "number",
    "page_items",
    "project",
    "task_out",
    "wait_seconds",
    "wait_task",
]

GuestKind = Literal["qemu", "lxc"]

WaitField = Field(
    default=False,
    description="false: return the task at once; true: wait up to 120 s; a number: wait that many seconds (max 900).",
)


class PageInput(Input):
    limit: int = Field(50, ge=1, le=500, description="Items per page.")
    cursor: str | None = Field(None, max_length=64, description="next_cursor of the previous page.")
    fields: list[str] | None = Field(
        None, max_length=40, description="Return only these fields of each item (e.g. [\"vmid\",\"name\"])."
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


class TaskOut(Output):
    upid: str
    node: str
    type: str | None = None
    id: str | None = None
    user: str | None = None
    status: Literal["running", "stopped"]
    exitstatus: str | None = Field(None, description="OK on success; PVE's error text otherwise.")
    ok: bool | None = Field(None, description="True when stopped with OK; null while running.")
    starttime: int | None = None
    endtime: int | None = None
    log_tail: list[str] | None = Field(None, description="Last log lines, when the task failed.")


def task_out(upid: str, node: str, st: Mapping[str, Any], log_tail: list[str] | None = None) -> TaskOut:
    status = "stopped" if st.get("status") == "stopped" else "running"
    exitstatus = st.get("exitstatus") if status == "stopped" else None
    return TaskOut(
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


async def wait_task(ctx: ToolContext, upid: str, seconds: float) -> TaskOut:
    """Poll the task until it stops or ``seconds`` pass (the poll schedule of
    :func:`~proxmox_operator_mcp.transports.tasks.next_poll_delay`: at most 80 ms apart for the
    first minute, so the answer comes within ~100 ms of the task's end; then backing off to 1 s).

    Returns the last status (still running if the wait ran out: the task is not touched).
    """
    from ..transports.tasks import next_poll_delay
    from ..transports.upid import Upid

    node = Upid.parse(upid).node
    start = time.monotonic()
    deadline = start + seconds
    delay: float | None = None
    while True:
        st = await task_status(ctx, node, upid)
        now = time.monotonic()
        if st.get("status") == "stopped" or now >= deadline:
            break
        await ctx.progress(now - start, seconds, f"task {st.get('type', '')} running")
        delay = next_poll_delay(delay, now - start)
        await anyio.sleep(min(delay, max(0.0, deadline - now)))
    tail = None
    if st.get("status") == "stopped" and st.get("exitstatus") != "OK":
        tail = await task_log_tail(ctx, node, upid)
    return task_out(upid, node, st, tail)

