"""Consent for one tool call: elicitation, then out-of-band approval, else denial; the
approval flow end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from proxmox_operator_mcp.errors import PolicyDenied
from proxmox_operator_mcp.operation import api_op
from proxmox_operator_mcp.policy.approvals import APPROVAL_ARG, ApprovalStore
from proxmox_operator_mcp.policy.confirm import build_confirmation
from proxmox_operator_mcp.policy.consent import ApprovalRequired, CallConsent, ElicitationUnavailable
from proxmox_operator_mcp.policy.rules import DEFAULT_POLICY

ALICE = {"sub": "alice"}
TOOL = "proxmox_vm_action"
ARGS: dict[str, Any] = {"vmid": 101, "action": "stop"}
STOP = api_op("prod", "POST", "/nodes/pve1/qemu/101/status/stop", targets=("VM 101 (web1) on pve1",), tool=TOOL)


class Clock:
    now = 5_000_000.0

    def __call__(self) -> float:
        return self.now


async def confirm(consent: CallConsent) -> str:
    return await consent(STOP, DEFAULT_POLICY.decide(STOP, "admin"), build_confirmation([STOP], mode="admin"))


def answers(*typed: str | None) -> Any:
    queue = list(typed)
    shown: list[str] = []

    async def ask(message: str) -> str | None:
        shown.append(message)
        return queue.pop(0)

    ask.shown = shown  # type: ignore[attr-defined]
    return ask


async def cannot_ask(message: str) -> str | None:
    raise ElicitationUnavailable


@pytest.mark.anyio
async def test_the_user_typing_the_name_confirms() -> None:
    ask = answers("web1")
    consent = CallConsent(tool=TOOL, arguments=ARGS, principal=ALICE, ask=ask)
    assert await confirm(consent) == "elicited"
    assert "Hard power-off of VM 101 (web1) on pve1" in ask.shown[0]
    assert ask.shown[0].endswith("Type web1 to confirm; anything else cancels.")


@pytest.mark.anyio
@pytest.mark.parametrize("typed", [None, "yes", "true", "WEB1", "101"])
async def test_anything_but_the_expected_text_denies(typed: str | None) -> None:
    consent = CallConsent(tool=TOOL, arguments=ARGS, principal=ALICE, ask=answers(typed))
    with pytest.raises(PolicyDenied, match="Not confirmed"):
        await confirm(consent)
    assert consent.outcome == "declined"


@pytest.mark.anyio
async def test_a_model_supplied_confirm_flag_is_no_consent() -> None:
    consent = CallConsent(tool=TOOL, arguments={**ARGS, "confirm": True}, principal=ALICE)
    with pytest.raises(PolicyDenied, match="cannot ask its user"):
        await confirm(consent)


@pytest.mark.anyio
async def test_without_elicitation_or_approvals_the_default_is_deny() -> None:
    consent = CallConsent(tool=TOOL, arguments=ARGS, principal=ALICE, ask=cannot_ask)
    with pytest.raises(PolicyDenied) as info:
        await confirm(consent)
    assert "PROXMOX_MCP_APPROVALS_DIR" in (info.value.hint or "")


@pytest.mark.anyio
async def test_an_approval_id_nobody_approved_is_no_consent(tmp_path: Path) -> None:
    store = ApprovalStore(tmp_path)
    consent = CallConsent(tool=TOOL, arguments={**ARGS, APPROVAL_ARG: "x" * 24}, principal=ALICE,
                          approval_id="x" * 24, approvals=store)
    with pytest.raises(PolicyDenied, match="unknown approval id"):
        await confirm(consent)


@pytest.mark.anyio
async def test_the_approval_flow_end_to_end(tmp_path: Path) -> None:
    clock = Clock()
    store = ApprovalStore(tmp_path / "approvals", clock=clock)

    # 1. the client cannot ask: a pending approval, and nothing runs
    first = CallConsent(tool=TOOL, arguments=ARGS, principal=ALICE, ask=cannot_ask, approvals=store, ttl=600)
    with pytest.raises(ApprovalRequired) as info:
        await confirm(first)
    aid = info.value.approval_id
    assert f"proxmox-mcp approve {aid}" in (info.value.hint or "")
    (pending,) = store.list_pending()
    assert pending.summary == ("Hard power-off of VM 101 (web1) on pve1: unsaved data in the guest is lost",)

    # 2. the retry before a human approved does not run
    early = CallConsent(tool=TOOL, arguments={**ARGS, APPROVAL_ARG: aid}, principal=ALICE, approval_id=aid,
                        approvals=store)
    with pytest.raises(PolicyDenied, match="not approved yet"):
        await confirm(early)

    # 3. an operator approves; the retry with changed arguments does not run
    store.approve(aid, "bob")
    changed = CallConsent(tool=TOOL, arguments={"vmid": 102, "action": "stop", APPROVAL_ARG: aid},
                          principal=ALICE, approval_id=aid, approvals=store)
    with pytest.raises(PolicyDenied, match="arguments changed"):
        await confirm(changed)
    other = CallConsent(tool=TOOL, arguments={**ARGS, APPROVAL_ARG: aid}, principal={"sub": "mallory"},
                        approval_id=aid, approvals=store)
    with pytest.raises(PolicyDenied, match="different principal"):
        await confirm(other)

    # 4. the exact retry runs, and covers every operation of that call
    retry = CallConsent(tool=TOOL, arguments={**ARGS, APPROVAL_ARG: aid}, principal=ALICE, approval_id=aid,
                        approvals=store)
    assert await confirm(retry) == f"approved:{aid}"
    assert await confirm(retry) == f"approved:{aid}"

    # 5. it was single-use
    again = CallConsent(tool=TOOL, arguments={**ARGS, APPROVAL_ARG: aid}, principal=ALICE, approval_id=aid,
                        approvals=store)
    with pytest.raises(PolicyDenied, match="already used"):
        await confirm(again)


@pytest.mark.anyio
async def test_an_approval_expires(tmp_path: Path) -> None:
    clock = Clock()
    store = ApprovalStore(tmp_path, clock=clock)
    with pytest.raises(ApprovalRequired) as info:
        await confirm(CallConsent(tool=TOOL, arguments=ARGS, principal=ALICE, approvals=store, ttl=60))
    aid = info.value.approval_id
    store.approve(aid, "bob")
    clock.now += 61
    late = CallConsent(tool=TOOL, arguments=ARGS, principal=ALICE, approval_id=aid, approvals=store)
    with pytest.raises(PolicyDenied, match="expired"):
        await confirm(late)


@pytest.mark.anyio
async def test_secrets_in_arguments_are_not_shown_to_the_approver(tmp_path: Path) -> None:
    store = ApprovalStore(tmp_path)
    args = {**ARGS, "password": "hunter2hunter2"}
    with pytest.raises(ApprovalRequired):
        await confirm(CallConsent(tool=TOOL, arguments=args, principal=ALICE, approvals=store))
    (pending,) = store.list_pending()
    assert pending.arguments["password"] == "***"
    assert "hunter2" not in "".join(p.read_text() for p in tmp_path.glob("*.json"))
