"""Human confirmation through the official client in both protocol eras.

``mode="legacy"`` (2025-11-25): the server asks in the middle of the call. ``mode="auto"``
(2026-07-28): the call ends with an ``InputRequiredResult`` carrying the question and a sealed
``request_state``; the client asks its user and calls again with the answer.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import ElicitResult, InputRequiredResult

from proxmox_operator_mcp.config import load_settings
from proxmox_operator_mcp.policy.audit import verify
from proxmox_operator_mcp.server.app import build_server
from proxmox_operator_mcp.sim import SimCluster, SimOptions, create_app

from ..tools.conftest import SIM_ENV

pytestmark = pytest.mark.anyio

MODES = ["auto", "legacy"]


@dataclass
class Human:
    """Answers each confirmation with ``answer``: "name" (types what is asked), a literal
    string to type, "decline" or "cancel"."""

    answer: str = "name"
    asked: list[str] = field(default_factory=list)

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        self.asked.append(params.message)
        if self.answer in ("decline", "cancel"):
            return ElicitResult(action=self.answer)
        if self.answer == "name":
            typed = params.message.rsplit("Type ", 1)[1].removesuffix(" to confirm; anything else cancels.")
        else:
            typed = self.answer
        return ElicitResult(action="accept", content={"confirm": typed})


@dataclass
class Setup:
    client: Client
    human: Human
    requests: list[tuple[str, str]]
    audit: Path

    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] != "GET"]

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.audit.read_text().splitlines()]


@asynccontextmanager
async def connected(tmp_path: Path, mode: str, human: Human | None = None) -> AsyncIterator[Setup]:
    cluster = SimCluster(SimOptions(nodes=1, vms_per_node=2, cts_per_node=0, task_seconds=0.05))
    app = create_app(cluster)
    seen: list[tuple[str, str]] = []

    async def recording_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append((scope["method"], scope["path"]))
        await app(scope, receive, send)

    audit = tmp_path / "audit.jsonl"
    settings = load_settings({**SIM_ENV, "PROXMOX_API_TOKEN_SECRET": cluster.token_secret,
                              "PROXMOX_MCP_ACCESS": "admin", "PROXMOX_MCP_AUDIT_PATH": str(audit)})
    server = build_server(settings, rest_transport=httpx2.ASGITransport(app=recording_app))
    human = human or Human()
    async with Client(server, mode=mode, elicitation_callback=human, read_timeout_seconds=20) as client:
        yield Setup(client=client, human=human, requests=seen, audit=audit)


async def running_vm(s: Setup) -> dict[str, Any]:
    res = await s.client.call_tool("proxmox_vm_list", {})
    for vm in res.structured_content["items"]:
        if vm["status"] == "running":
            return vm
    raise AssertionError("the simulated cluster has no running VM")


def stops(s: Setup) -> list[tuple[str, str]]:
    return [w for w in s.writes() if w[1].endswith("/status/stop")]


@pytest.mark.parametrize("mode", MODES)
async def test_a_hard_stop_runs_once_after_the_user_types_the_name(tmp_path: Path, mode: str) -> None:
    async with connected(tmp_path, mode) as s:
        vm = await running_vm(s)
        with anyio.fail_after(30):
            res = await s.client.call_tool("proxmox_vm_action", {"vmid": vm["vmid"], "action": "stop", "wait": 5})
        assert not res.is_error, res.content
        assert len(s.human.asked) == 1 and "Hard power-off of VM" in s.human.asked[0]
        assert len(stops(s)) == 1
    recs = s.records()
    intent = [r for r in recs if r.get("phase") == "intent"]
    assert len(intent) == 1 and intent[0]["confirmation"] == "elicited"
    assert recs[-1]["kind"] == "tool_call" and recs[-1]["confirmation"] == "elicited"
    assert verify(s.audit).ok


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("answer", ["decline", "cancel", "web-wrong"])
async def test_a_declined_cancelled_or_mistyped_confirmation_sends_nothing(
    tmp_path: Path, mode: str, answer: str
) -> None:
    async with connected(tmp_path, mode, Human(answer)) as s:
        vm = await running_vm(s)
        with anyio.fail_after(30):
            res = await s.client.call_tool("proxmox_vm_action", {"vmid": vm["vmid"], "action": "stop"})
        assert res.is_error and "Not confirmed" in res.content[0].text
        assert len(s.human.asked) == 1
        assert s.writes() == []
    assert not any(r.get("phase") == "intent" for r in s.records())


async def test_on_2026_07_28_the_first_round_returns_the_question_and_sends_nothing(tmp_path: Path) -> None:
    async with connected(tmp_path, "auto") as s:
        vm = await running_vm(s)
        first = await s.client.session.call_tool(
            "proxmox_vm_action", {"vmid": vm["vmid"], "action": "stop"}, allow_input_required=True
        )
        assert isinstance(first, InputRequiredResult)
        [(key, request)] = first.input_requests.items()
        assert key.startswith("confirm-") and "Hard power-off of VM" in request.params.message
        assert request.params.requested_schema["required"] == ["confirm"]
        assert first.request_state and s.writes() == []


async def first_round(s: Setup, args: dict[str, Any]) -> tuple[InputRequiredResult, dict[str, ElicitResult]]:
    first = await s.client.session.call_tool("proxmox_vm_action", args, allow_input_required=True)
    assert isinstance(first, InputRequiredResult)
    [(key, request)] = first.input_requests.items()
    answer = await s.human(None, request.params)
    return first, {key: answer}


async def test_a_request_state_for_other_arguments_is_refused(tmp_path: Path) -> None:
    async with connected(tmp_path, "auto") as s:
        vm = await running_vm(s)
        first, answers = await first_round(s, {"vmid": vm["vmid"], "action": "stop"})
        other = {"vmid": vm["vmid"], "action": "stop", "wait": 1}
        with pytest.raises(MCPError, match="requestState"):
            await s.client.session.call_tool(
                "proxmox_vm_action", other, input_responses=answers, request_state=first.request_state
            )
        assert s.writes() == []


async def test_a_tampered_request_state_is_refused(tmp_path: Path) -> None:
    async with connected(tmp_path, "auto") as s:
        vm = await running_vm(s)
        args = {"vmid": vm["vmid"], "action": "stop"}
        first, answers = await first_round(s, args)
        assert first.request_state is not None
        forged = first.request_state[:-4] + ("AAAA" if not first.request_state.endswith("AAAA") else "BBBB")
        with pytest.raises(MCPError, match="requestState"):
            await s.client.session.call_tool("proxmox_vm_action", args, input_responses=answers,
                                             request_state=forged)
        assert s.writes() == []


async def test_a_replayed_request_state_is_refused_and_the_stop_is_sent_once(tmp_path: Path) -> None:
    async with connected(tmp_path, "auto") as s:
        vm = await running_vm(s)
        args = {"vmid": vm["vmid"], "action": "stop"}
        first, answers = await first_round(s, args)
        done = await s.client.session.call_tool("proxmox_vm_action", args, input_responses=answers,
                                                request_state=first.request_state)
        assert not done.is_error, done.content
        again = await s.client.session.call_tool("proxmox_vm_action", args, input_responses=answers,
                                                 request_state=first.request_state)
        assert again.is_error and "already used" in again.content[0].text
        assert len(stops(s)) == 1


async def test_answers_without_a_request_state_count_for_nothing(tmp_path: Path) -> None:
    async with connected(tmp_path, "auto") as s:
        vm = await running_vm(s)
        args = {"vmid": vm["vmid"], "action": "stop"}
        _, answers = await first_round(s, args)
        res = await s.client.session.call_tool("proxmox_vm_action", args, input_responses=answers,
                                               allow_input_required=True)
        assert isinstance(res, InputRequiredResult)
        assert s.writes() == []


async def test_a_model_supplied_confirm_argument_is_refused_in_both_eras(tmp_path: Path) -> None:
    for mode in MODES:
        async with connected(tmp_path / mode, mode, Human("decline")) as s:
            vm = await running_vm(s)
            res = await s.client.call_tool("proxmox_vm_action", {"vmid": vm["vmid"], "action": "stop",
                                                                 "confirm": True})
            assert res.is_error and s.writes() == [] and s.human.asked == []
