"""Identical GETs in flight are joined; changes, failures and other URLs are not; metrics count
every request PVE answered (or did not)."""

from __future__ import annotations

from typing import Any

import anyio
import httpx2
import pytest

from proxmox_operator_mcp.errors import ProxmoxConnectionError
from proxmox_operator_mcp.server.metrics import METRICS
from proxmox_operator_mcp.transports.rest import RestClient

from .fakes import pve_json, token_cluster

pytestmark = pytest.mark.anyio


class Gated:
    """A fake PVE whose GETs wait for ``release``; counts what it received."""

    def __init__(self, *, fail_first_get: bool = False) -> None:
        self.release = anyio.Event()
        self.gets: list[str] = []
        self.writes: list[str] = []
        self.version = 0
        self.fail_first_get = fail_first_get
        self.arrived = anyio.Event()

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        if request.method != "GET":
            self.writes.append(request.url.path)
            self.version += 1
            return pve_json(None)
        self.gets.append(str(request.url))
        seen = self.version  # the state when the GET arrived
        self.arrived.set()
        await self.release.wait()
        if self.fail_first_get and len(self.gets) == 1:
            raise httpx2.ConnectError("connection reset by peer", request=request)
        return pve_json({"status": "running", "version": seen, "tags": ["a"]})


def client(pve: Gated) -> RestClient:
    return RestClient(token_cluster(), transport=httpx2.MockTransport(pve), retries=0, retry_base_delay=0)


async def release_when_blocked(pve: Gated) -> None:
    """Answer once every caller waits (the first at PVE, the others on it, or each at PVE)."""
    await anyio.wait_all_tasks_blocked()
    pve.release.set()


async def test_identical_gets_in_flight_share_one_request_and_each_caller_gets_its_own_data() -> None:
    pve = Gated()
    c = client(pve)
    results: list[Any] = [None] * 5

    async def one(i: int) -> None:
        results[i] = await c.get("/nodes/pve1/status")

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for i in range(5):
                tg.start_soon(one, i)
            tg.start_soon(release_when_blocked, pve)
    assert len(pve.gets) == 1 and c.coalesced == 4
    assert all(r == {"status": "running", "version": 0, "tags": ["a"]} for r in results)
    results[0]["tags"].append("changed by one caller")
    assert results[1]["tags"] == ["a"]  # parsed per caller: nothing shared
    assert len({id(r) for r in results}) == 5
    await c.aclose()


async def test_gets_of_other_urls_or_params_are_not_joined() -> None:
    pve = Gated()
    c = client(pve)
    results: list[Any] = [None] * 3

    async def one(i: int, path: str, params: dict[str, Any] | None) -> None:
        results[i] = await c.get(path, params)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(one, 0, "/nodes/pve1/status", None)
            tg.start_soon(one, 1, "/nodes/pve2/status", None)
            tg.start_soon(one, 2, "/nodes/pve1/status", {"full": 1})
            tg.start_soon(release_when_blocked, pve)
    assert len(pve.gets) == 3 and c.coalesced == 0
    await c.aclose()


async def test_a_get_after_a_change_never_joins_one_sent_before_it() -> None:
    pve = Gated()
    c = client(pve)
    late: dict[str, Any] = {}

    async def early() -> None:
        late["early"] = await c.get("/nodes/pve1/qemu/100/status/current")

    async def after_change() -> None:
        await c.request("POST", "/nodes/pve1/qemu/100/status/start")
        late["after"] = await c.get("/nodes/pve1/qemu/100/status/current")

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(early)
            await pve.arrived.wait()  # the first GET is at PVE, sent before the change
            tg.start_soon(after_change)
            while len(pve.gets) < 2:  # the second GET must reach PVE itself
                await anyio.sleep(0)
            pve.release.set()
    assert pve.writes == ["/api2/json/nodes/pve1/qemu/100/status/start"]
    assert late["early"]["version"] == 0 and late["after"]["version"] == 1
    assert c.coalesced == 0
    await c.aclose()


async def test_a_change_over_ssh_counts_too() -> None:
    c = client(Gated())
    before = c._changes
    c.note_change()
    assert c._changes == before + 1
    await c.aclose()


async def test_a_get_that_got_no_answer_fails_for_its_joiners_too_without_asking_again() -> None:
    pve = Gated(fail_first_get=True)
    c = client(pve)
    outcomes: list[Any] = [None] * 3

    async def one(i: int) -> None:
        try:
            outcomes[i] = await c.get("/cluster/resources")
        except ProxmoxConnectionError as exc:
            outcomes[i] = exc

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for i in range(3):
                tg.start_soon(one, i)
            await anyio.wait_all_tasks_blocked()
            pve.release.set()
    assert all(isinstance(o, ProxmoxConnectionError) for o in outcomes)
    assert len({id(o) for o in outcomes}) == 3  # each caller its own copy of the error
    assert len(pve.gets) == 1  # a node that does not answer is not asked once more per caller
    assert (await c.get("/cluster/resources"))["status"] == "running"  # nothing remembered
    await c.aclose()


async def test_a_cancelled_leader_does_not_cancel_the_callers_that_joined_it() -> None:
    pve = Gated()
    c = client(pve)
    got: list[Any] = []

    async def joiner() -> None:
        got.append(await c.get("/version"))

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            leader_scope = anyio.CancelScope()

            async def leader() -> None:
                with leader_scope:
                    await c.get("/version")

            tg.start_soon(leader)
            await pve.arrived.wait()
            tg.start_soon(joiner)
            await anyio.wait_all_tasks_blocked()
            leader_scope.cancel()
            while len(pve.gets) < 2:
                await anyio.sleep(0)
            pve.release.set()
    assert got == [{"status": "running", "version": 0, "tags": ["a"]}]
    assert len(pve.gets) == 2
    await c.aclose()


async def test_every_answer_and_every_failure_is_counted_by_cluster_method_and_status() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/missing"):
            return pve_json(None, 501, message="Method 'GET /missing' not implemented")
        if request.url.path.endswith("/down"):
            raise httpx2.ConnectError("connection refused", request=request)
        return pve_json({"ok": 1})

    c = RestClient(token_cluster(), transport=httpx2.MockTransport(handler), retries=0, retry_base_delay=0)
    ok_before = METRICS.proxmox_requests.value(cluster="lab", method="GET", status="200")
    nf_before = METRICS.proxmox_requests.value(cluster="lab", method="GET", status="501")
    down_before = METRICS.proxmox_requests.value(cluster="lab", method="GET", status="connect_error")
    post_before = METRICS.proxmox_requests.value(cluster="lab", method="POST", status="200")
    timed_before = METRICS.proxmox_duration.count(cluster="lab")
    await c.get("/version")
    await c.request("POST", "/nodes/pve1/qemu/100/status/start")
    with pytest.raises(Exception):
        await c.get("/missing")
    with pytest.raises(ProxmoxConnectionError):
        await c.get("/down")
    assert METRICS.proxmox_requests.value(cluster="lab", method="GET", status="200") == ok_before + 1
    assert METRICS.proxmox_requests.value(cluster="lab", method="POST", status="200") == post_before + 1
    assert METRICS.proxmox_requests.value(cluster="lab", method="GET", status="501") == nf_before + 1
    assert METRICS.proxmox_requests.value(cluster="lab", method="GET", status="connect_error") == down_before + 1
    assert METRICS.proxmox_duration.count(cluster="lab") == timed_before + 3
    text = METRICS.render()
    assert 'proxmox_mcp_proxmox_requests_total{cluster="lab",method="GET",status="200"}' in text
    await c.aclose()


async def test_the_next_free_guest_id_is_never_joined() -> None:
    pve = Gated()
    c = client(pve)

    async def one() -> None:
        await c.get("/cluster/nextid")

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(one)
            tg.start_soon(one)
            tg.start_soon(release_when_blocked, pve)
    assert len(pve.gets) == 2 and c.coalesced == 0
    await c.aclose()


async def test_a_get_sent_while_a_change_was_in_flight_is_not_joined_after_it() -> None:
    state = {"v": 0}
    change_at_pve = anyio.Event()
    finish_change = anyio.Event()
    get_at_pve = anyio.Event()
    finish_get = anyio.Event()
    gets: list[int] = []

    async def handler(request: httpx2.Request) -> httpx2.Response:
        if request.method == "PUT":
            change_at_pve.set()
            await finish_change.wait()
            state["v"] = 1
            return pve_json(None)
        seen = state["v"]
        gets.append(seen)
        get_at_pve.set()
        if len(gets) == 1:
            await finish_get.wait()
        return pve_json({"v": seen})

    c = RestClient(token_cluster(), transport=httpx2.MockTransport(handler), retries=0, retry_base_delay=0)
    got: dict[str, Any] = {}

    async def writer_then_reader() -> None:
        await c.request("PUT", "/nodes/pve1/qemu/100/config", {"memory": 2048})
        got["A"] = await c.get("/nodes/pve1/qemu/100/config")
        finish_get.set()

    async def other_reader() -> None:
        got["B"] = await c.get("/nodes/pve1/qemu/100/config")

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(writer_then_reader)
            await change_at_pve.wait()
            tg.start_soon(other_reader)  # sent while the change is in flight: sees the old state
            await get_at_pve.wait()
            finish_change.set()
    assert got == {"B": {"v": 0}, "A": {"v": 1}}
    assert gets == [0, 1]
    await c.aclose()


async def test_a_task_seen_stopped_ends_joining_of_gets_sent_before() -> None:
    c = client(Gated())
    before = c._changes
    answer = c._task_seen(
        "/nodes/pve1/tasks/UPID%3Apve1%3A1/status",
        type("A", (), {"data": {"status": "stopped", "exitstatus": "OK"}})(),  # type: ignore[arg-type]
    )
    assert c._changes == before + 1 and answer.data["status"] == "stopped"
    c._task_seen("/nodes/pve1/tasks/UPID%3Apve1%3A1/status", type("A", (), {"data": {"status": "running"}})())  # type: ignore[arg-type]
    assert c._changes == before + 1
    await c.aclose()


async def test_a_change_over_the_ssh_planes_counts_when_it_starts_and_when_it_ends_even_failing() -> None:
    from proxmox_operator_mcp.config import load_settings
    from proxmox_operator_mcp.errors import ProxmoxMCPError
    from proxmox_operator_mcp.operation import Operation
    from proxmox_operator_mcp.transports.router import Router

    settings = load_settings(
        {"PROXMOX_HOST": "127.0.0.1", "PROXMOX_API_TOKEN_USER": "root@pam", "PROXMOX_API_TOKEN_ID": "mcp",
         "PROXMOX_API_TOKEN_SECRET": "00000000-1111-2222-3333-444444444444"}
    )
    router = Router(settings)
    rest = router.rest("default")
    write = Operation(cluster="default", plane="cli", argv=("qm", "start", "100"), node="pve1", read_only=False)
    read = Operation(cluster="default", plane="cli", argv=("qm", "list"), node="pve1")
    with pytest.raises(ProxmoxMCPError):  # no SSH configured: it fails, after it started
        await router.execute(write)
    assert rest._changes == 2
    with pytest.raises(ProxmoxMCPError):
        await router.execute(read)
    assert rest._changes == 2  # reads change nothing
    await rest.aclose()
