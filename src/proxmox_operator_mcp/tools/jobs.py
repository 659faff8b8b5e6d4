"""Jobs: PVE tasks named by a stateless handle.

A job id is the urlsafe base64 of ``cluster|UPID`` (:func:`~.common.encode_job`): any replica
of this server, and the same one after a restart, answers for it by asking PVE, with nothing
stored here. ``job_wait`` reports MCP progress from the task's status and newest log line; when
the client cancels the request the wait stops and the task goes on (``job_cancel`` stops it).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ..errors import InvalidArgumentError
from .base import Input, Output, ToolContext, ToolSpec, clean_text, tool
from .common import TaskOut, decode_job, task_log_tail, task_out, task_status, wait_task

__all__ = ["TOOLS"]

JobField = Field(min_length=8, max_length=700, description="Job id (the `job` field of a returned task).")


class JobIn(Input):
    job: str = JobField


class JobGetIn(JobIn):
    log_lines: int = Field(10, ge=0, le=200, description="Last log lines to include.")


class JobWaitIn(JobIn):
    timeout: float = Field(120, gt=0, le=900, description="Seconds to wait; the job is untouched when they run out.")


# A whole log (whole=true) is read in one request of at most this many lines.
WHOLE_LOG_LINES = 50_000


class JobLogsIn(JobIn):
    start: int = Field(0, ge=0, description="First line (0-based); pass next_start to read on.")
    limit: int = Field(200, ge=1, le=2000)
    whole: bool = Field(False, description="For a long log: its last `limit` lines here, all of it as `artifact`.")


class JobLogsOut(Output):
    job: str
    lines: list[str]
    next_start: int = Field(description="Pass as start to read on.")
    running: bool
    artifact: str | None = None


def _open(ctx: ToolContext, job: str) -> tuple[ToolContext, str, str]:
    from ..transports.upid import Upid

    cluster, upid = decode_job(job)
    return ctx.for_cluster(cluster), upid, Upid.parse(upid).node


async def job_get(ctx: ToolContext, args: JobGetIn) -> TaskOut:
    """Status of a job (a PVE task): running or stopped, exit status, and its last log lines."""
    sub, upid, node = _open(ctx, args.job)
    st = await task_status(sub, node, upid)
    tail = await task_log_tail(sub, node, upid, args.log_lines) if args.log_lines else None
    return task_out(upid, node, st, tail, sub.cluster.name)


async def job_wait(ctx: ToolContext, args: JobWaitIn) -> TaskOut:
    """Wait for a job to finish, with progress notifications (status and newest log line). Returns the
    final status, or the running one when timeout passes. Cancelling the request stops waiting, not the job."""
    sub, upid, _ = _open(ctx, args.job)
    return await wait_task(sub, upid, args.timeout, follow_log=True)


async def job_logs(ctx: ToolContext, args: JobLogsIn) -> JobLogsOut:
    """A job's log lines from `start`, paged. Lines are cleaned of control characters."""
    sub, upid, node = _open(ctx, args.job)
    st = await task_status(sub, node, upid)
    running = st.get("status") != "stopped"
    if args.whole:
        return await _whole_log(sub, args, upid, node, running)
    rows = await sub.api(
        "GET", f"/nodes/{node}/tasks/{upid}/log", {"start": args.start, "limit": args.limit}, node=node
    )
    lines = [clean_text(r.get("t", ""), 1000) for r in rows or []]
    return JobLogsOut(job=args.job, lines=lines, next_start=args.start + len(lines), running=running)


async def _whole_log(sub: ToolContext, args: JobLogsIn, upid: str, node: str, running: bool) -> JobLogsOut:
    """The whole log (up to WHOLE_LOG_LINES lines) in one read: its last ``limit`` lines inline after
    a visible marker, all of it as an artifact when it does not fit."""
    from ..artifacts import publish_artifact

    rows = await sub.api(
        "GET", f"/nodes/{node}/tasks/{upid}/log", {"start": 0, "limit": WHOLE_LOG_LINES}, node=node
    )
    full = [str(clean_text(r.get("t", ""), 100_000)) for r in rows or []]
    lines = [str(clean_text(t, 1000)) for t in full[-args.limit :]]
    uri = None
    if len(full) > args.limit:
        uri = publish_artifact(sub, "\n".join(full) + "\n", "text/plain")
        more = "; more from next_start" if len(full) >= WHOLE_LOG_LINES else ""
        lines.insert(0, f"…[truncated {len(full) - args.limit} lines; full log: {uri}{more}]…")
    return JobLogsOut(job=args.job, lines=lines, next_start=len(full), running=running, artifact=uri)


async def job_cancel(ctx: ToolContext, args: JobIn) -> TaskOut:
    """Stop a running job (the PVE task is killed; what it already did stays done)."""
    sub, upid, node = _open(ctx, args.job)
    st = await task_status(sub, node, upid)
    if st.get("status") == "stopped":
        raise InvalidArgumentError(
            f"job already finished ({clean_text(st.get('exitstatus'))})", hint="Nothing to cancel; see job_get."
        )
    await sub.api("DELETE", f"/nodes/{node}/tasks/{upid}", node=node, targets=(f"task {upid}",))
    st = await task_status(sub, node, upid)
    return task_out(upid, node, st, None, sub.cluster.name)


TOOLS: list[ToolSpec[Any, Any]] = [
    tool(name="job_get", title="Get job status", toolset="jobs", input_model=JobGetIn, output_model=TaskOut,
         read_only=True, idempotent=True)(job_get),
    tool(name="job_wait", title="Wait for a job", toolset="jobs", input_model=JobWaitIn, output_model=TaskOut,
         read_only=True, idempotent=True)(job_wait),
    tool(name="job_logs", title="Read a job's log", toolset="jobs", input_model=JobLogsIn, output_model=JobLogsOut,
         read_only=True, idempotent=True)(job_logs),
    tool(name="job_cancel", title="Cancel a running job", toolset="jobs", input_model=JobIn, output_model=TaskOut,
         read_only=False, idempotent=True)(job_cancel),
]
