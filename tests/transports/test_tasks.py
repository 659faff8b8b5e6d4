"""wait_for_task and task_log against a scripted PVE task (httpx2.MockTransport)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import anyio
import httpx2
import pytest

from proxmox_operator_mcp.errors import InvalidArgumentError
from proxmox_operator_mcp.transports.rest import RestClient
from proxmox_operator_mcp.transports.tasks import (
    FAST_MAX,
    FAST_WINDOW,
    POLL_INITIAL,
    POLL_MAX,
    TaskStatus,
    next_poll_delay,
    task_log,
    wait_for_task,
)
from proxmox_operator_mcp.transports.upid import Upid

from .fakes import pve_json, token_cluster

pytestmark = pytest.mark.anyio

UPID = "UPID:pve2:0000A1B2:0001C3D4:65F0A0B1:qmstart:101:root@pam!mcp:"
ENCODED = "UPID%3Apve2%3A0000A1B2%3A0001C3D4%3A65F0A0B1%3Aqmstart%3A101%3Aroot%40pam%21mcp%3A"


class FakeTask:
    """A task on pve2 that runs for ``running_polls`` status polls (or until ``ends_at``)."""

    def __init__(
        self,
        *,
        running_polls: int | None = 2,
        ends_at: float | None = None,
        exitstatus: str = "OK",
        log: list[str] | None = None,
    ) -> None:
        self.running_polls = running_polls
        self.ends_at = ends_at
        self.exitstatus = exitstatus
        self.log = (
            log
            if log is not None
            else [
                "starting VM 101",
                "boot ok",
                f"TASK {exitstatus}" if exitstatus == "OK" else f"TASK ERROR: {exitstatus}",
            ]
        )
        self.status_calls = 0
        self.stopped_seen_at: float | None = None
        self.requests: list[httpx2.Request] = []

    def running(self) -> bool:
        if self.ends_at is not None:
            return anyio.current_time() < self.ends_at
        return self.running_polls is None or self.status_calls <= self.running_polls

    def visible(self) -> list[str]:
        if not self.running():
            return self.log
        return self.log[: min(len(self.log) - 1, self.status_calls)]

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        path = unquote(request.url.path)
        assert path.startswith(f"/api2/json/nodes/pve2/tasks/{UPID}/"), path
        if path.endswith("/status"):
            self.status_calls += 1
            data: dict[str, Any] = {
                "upid": UPID,
                "node": "pve2",
                "pid": 0xA1B2,
                "pstart": 0x1C3D4,
                "starttime": 0x65F0A0B1,
                "type": "qmstart",
                "id": "101",
                "user": "root@pam!mcp",
            }
            if self.running():
                data["status"] = "running"
            else:
                data.update(status="stopped", exitstatus=self.exitstatus)
                if self.stopped_seen_at is None:
                    self.stopped_seen_at = anyio.current_time()
            return pve_json(data)
        if path.endswith("/log"):
            start = int(request.url.params["start"])
            limit = int(request.url.params["limit"])
            lines = self.visible()
            if not lines:
                return pve_json([{"n": 1, "t": "no content"}], total=1)
            page = [{"n": i + 1, "t": t} for i, t in enumerate(lines)][start : start + limit]
            return pve_json(page, total=len(lines))
        raise AssertionError(f"unexpected {request.method} {path}")


def client_for(task: FakeTask) -> RestClient:
    return RestClient(token_cluster(), transport=httpx2.MockTransport(task), retry_base_delay=0)


async def test_waiting_returns_the_ok_status_once_the_task_stops() -> None:
    task = FakeTask(running_polls=2)
    async with client_for(task) as client:
        with anyio.fail_after(5):
            status = await wait_for_task(client, UPID, timeout=30)
    assert status.ok and not status.running and status.status == "stopped"
    assert status.exitstatus == "OK"
    assert (status.node, status.type, status.id, status.user) == ("pve2", "qmstart", "101", "root@pam!mcp")
    assert status.starttime == 0x65F0A0B1
    assert task.status_calls == 3
    assert task.requests[0].url.raw_path == f"/api2/json/nodes/pve2/tasks/{ENCODED}/status".encode()
    assert all(r.method == "GET" for r in task.requests)


async def test_a_failed_task_is_reported_with_its_exit_status() -> None:
    task = FakeTask(running_polls=1, exitstatus="VM quit/powerdown failed - got timeout")
    async with client_for(task) as client:
        with anyio.fail_after(5):
            status = await wait_for_task(client, Upid.parse(UPID), timeout=30)
    assert not status.ok and status.failed and not status.warnings
    assert status.exitstatus == "VM quit/powerdown failed - got timeout"


async def test_on_update_gets_each_new_log_line_once_in_order_and_a_final_call() -> None:
    log = ["starting VM 101", "no content", "line 3", "line 4", "TASK OK"]
    task = FakeTask(running_polls=3, log=log)
    calls: list[tuple[str, list[str]]] = []

    async def on_update(status: TaskStatus, lines: list[str]) -> None:
        calls.append((status.status, lines))

    async with client_for(task) as client:
        with anyio.fail_after(5):
            status = await wait_for_task(client, UPID, timeout=30, on_update=on_update)
    assert status.ok
    assert [line for _, lines in calls for line in lines] == log
    assert calls[-1][0] == "stopped"
    assert all(s == "running" for s, _ in calls[:-1])
    assert all(lines for _, lines in calls[:-1])  # running updates only when there is news


async def test_the_empty_log_placeholder_is_not_reported_as_a_line() -> None:
    task = FakeTask(running_polls=1, log=["TASK OK"])
    seen: list[str] = []

    async def on_update(status: TaskStatus, lines: list[str]) -> None:
        seen.extend(lines)

    async with client_for(task) as client:
        with anyio.fail_after(5):
            await wait_for_task(client, UPID, timeout=30, on_update=on_update)
        assert await task_log(client, UPID) == ["TASK OK"]
    assert seen == ["TASK OK"]


async def test_a_long_log_is_read_to_the_end_when_the_task_stops() -> None:
    log = [f"line {i}" for i in range(1, 1201)] + ["TASK OK"]
    task = FakeTask(running_polls=0, log=log)
    seen: list[str] = []

    async def on_update(status: TaskStatus, lines: list[str]) -> None:
        seen.extend(lines)

    async with client_for(task) as client:
        with anyio.fail_after(5):
            await wait_for_task(client, UPID, timeout=30, on_update=on_update)
    assert seen == log


async def test_running_out_of_time_returns_the_running_status_without_stopping_the_task() -> None:
    task = FakeTask(running_polls=None)
    async with client_for(task) as client:
        with anyio.fail_after(5):
            began = anyio.current_time()
            status = await wait_for_task(client, UPID, timeout=0.3)
            waited = anyio.current_time() - began
    assert status.running and status.exitstatus is None and not status.ok
    assert 0.3 <= waited < 1.0
    assert all(r.method == "GET" for r in task.requests)  # nothing was stopped or deleted


async def test_a_zero_timeout_polls_once() -> None:
    task = FakeTask(running_polls=None)
    async with client_for(task) as client:
        status = await wait_for_task(client, UPID, timeout=0)
    assert status.running and task.status_calls == 1


async def test_cancelling_the_wait_stops_polling_cleanly() -> None:
    task = FakeTask(running_polls=None)
    async with client_for(task) as client:
        with anyio.fail_after(5):
            with anyio.move_on_after(0.2) as scope:
                await wait_for_task(client, UPID, timeout=None)
        assert scope.cancelled_caught
        polls = task.status_calls
        assert polls >= 1
        # The client is still usable, and nothing kept polling in the background.
        assert await task_log(client, UPID) == ["starting VM 101", "boot ok"]
        assert task.status_calls == polls


async def test_an_invalid_upid_is_refused_before_any_request() -> None:
    task = FakeTask()
    async with client_for(task) as client:
        with pytest.raises(InvalidArgumentError):
            await wait_for_task(client, "UPID:pve2:nope", timeout=1)
        with pytest.raises(InvalidArgumentError):
            await task_log(client, "not-a-upid")
    assert task.requests == []


async def test_an_inline_wait_returns_within_100_ms_of_a_quick_task_ending() -> None:
    gaps = []
    for end_after in (0.15, 1.2):
        task = FakeTask(ends_at=anyio.current_time() + end_after)
        async with client_for(task) as client:
            with anyio.fail_after(5):
                await wait_for_task(client, UPID, timeout=10)
                returned = anyio.current_time()
        assert task.ends_at is not None
        gaps.append(returned - task.ends_at)
    assert max(gaps) <= 0.1, gaps


def test_polling_starts_at_50ms_stays_fast_for_the_fast_window_then_backs_off_to_1s() -> None:
    elapsed, delay, delays = 0.0, None, []
    while elapsed < FAST_WINDOW + 10:
        delay = next_poll_delay(delay, elapsed)
        delays.append((elapsed, delay))
        elapsed += delay
    assert delays[0] == (0.0, POLL_INITIAL)
    assert delays[1][1] == pytest.approx(POLL_INITIAL * 1.5)
    assert all(d <= FAST_MAX for t, d in delays if t < FAST_WINDOW)
    late = [d for t, d in delays if t >= FAST_WINDOW]
    assert late == sorted(late)  # grows again after the fast window
    assert late[-1] == POLL_MAX and max(late) == POLL_MAX
    assert late[0] == pytest.approx(FAST_MAX * 1.5)


def test_task_status_distinguishes_ok_warnings_and_failure() -> None:
    u = Upid.parse(UPID)
    ok = TaskStatus.from_api(u, {"status": "stopped", "exitstatus": "OK", "endtime": "1710268600"})
    warn = TaskStatus.from_api(u, {"status": "stopped", "exitstatus": "WARNINGS: 2"})
    bad = TaskStatus.from_api(u, {"status": "stopped", "exitstatus": "command 'qm' failed"})
    running = TaskStatus.from_api(u, {"status": "running"})
    assert ok.ok and not ok.failed and ok.endtime == 1710268600
    assert warn.warnings and not warn.ok and not warn.failed
    assert bad.failed and not bad.ok
    assert running.running and not running.failed and running.node == "pve2"
