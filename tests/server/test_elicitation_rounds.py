"""Our own binding of the confirmation state of 2026-07-28 calls (beneath the SDK's seal)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from proxmox_operator_mcp.errors import PolicyDenied
from proxmox_operator_mcp.policy.consent import (
    CallConsent,
    ConfirmationPending,
    ConfirmationRound,
    ConfirmationRounds,
)

pytestmark = pytest.mark.anyio

WHO = {"sub": "alice", "auth": "oidc", "client_id": "c1"}
QUESTION = "Confirm on cluster default:\n- Hard power-off of VM 101 (web1) on pve1\nType web1 to confirm; anything else cancels."


async def asked_state(rounds: ConfirmationRounds, binding: str) -> tuple[str, str]:
    rnd = rounds.open(None, binding, {})
    with pytest.raises(ConfirmationPending) as exc:
        await rnd.ask(QUESTION)
    return exc.value.key, rounds.seal(rnd)


async def test_the_recorded_question_is_answered_by_the_next_round() -> None:
    rounds = ConfirmationRounds()
    binding = rounds.binding("proxmox_vm_action", {"vmid": 101, "action": "stop"}, WHO)
    key, state = await asked_state(rounds, binding)
    rnd = rounds.open(state, binding, {key: "web1"})
    assert await rnd.ask(QUESTION) == "web1"


async def test_an_answer_to_another_question_is_not_taken() -> None:
    rounds = ConfirmationRounds()
    binding = rounds.binding("proxmox_vm_action", {"vmid": 101, "action": "stop"}, WHO)
    key, state = await asked_state(rounds, binding)
    rnd = rounds.open(state, binding, {key: "web1"})
    with pytest.raises(ConfirmationPending):
        await rnd.ask(QUESTION.replace("101", "102"))


@pytest.mark.parametrize(
    "other",
    [
        ("proxmox_vm_action", {"vmid": 102, "action": "stop"}, WHO),
        ("proxmox_vm_delete", {"vmid": 101, "action": "stop"}, WHO),
        ("proxmox_vm_action", {"vmid": 101, "action": "stop"}, {**WHO, "sub": "mallory"}),
    ],
)
async def test_a_state_for_another_call_or_principal_is_refused(other: tuple[str, dict[str, Any], dict[str, Any]]) -> None:
    rounds = ConfirmationRounds()
    key, state = await asked_state(rounds, rounds.binding("proxmox_vm_action", {"vmid": 101, "action": "stop"}, WHO))
    with pytest.raises(PolicyDenied, match="another call"):
        rounds.open(state, rounds.binding(*other), {key: "web1"})


async def test_a_state_with_an_edited_body_or_from_another_process_is_refused() -> None:
    rounds = ConfirmationRounds()
    binding = rounds.binding("proxmox_vm_action", {"vmid": 101, "action": "stop"}, WHO)
    key, state = await asked_state(rounds, binding)
    outer = json.loads(state)
    outer["b"]["answers"] = {"anything": "web1"}
    with pytest.raises(PolicyDenied, match="not one this server issued"):
        rounds.open(json.dumps(outer), binding, {key: "web1"})
    with pytest.raises(PolicyDenied, match="not one this server issued"):
        ConfirmationRounds().open(state, binding, {key: "web1"})
    with pytest.raises(PolicyDenied, match="not one this server issued"):
        rounds.open("not json", binding, {})


async def test_a_state_is_accepted_once_and_not_after_it_expired() -> None:
    rounds = ConfirmationRounds()
    binding = rounds.binding("proxmox_vm_action", {"vmid": 101, "action": "stop"}, WHO)
    key, state = await asked_state(rounds, binding)
    rounds.open(state, binding, {key: "web1"})
    with pytest.raises(PolicyDenied, match="already used"):
        rounds.open(state, binding, {key: "web1"})
    expired = ConfirmationRounds(ttl=-1)
    key, state = await asked_state(expired, binding)
    with pytest.raises(PolicyDenied, match="expired"):
        expired.open(state, binding, {key: "web1"})


async def test_a_call_that_already_sent_a_change_is_refused_rather_than_paused() -> None:
    from proxmox_operator_mcp.policy.confirm import ConfirmationRequest

    class _Decision:
        reason = "a hard stop needs a human"

    request = ConfirmationRequest(QUESTION, "web1", ("Hard power-off",))
    asking = CallConsent(tool="t", arguments={}, principal=WHO, ask=ConfirmationRound("b").ask)
    with pytest.raises(ConfirmationPending):
        await asking(None, _Decision(), request)  # type: ignore[arg-type]
    assert asking.outcome == "asked" and asking.pending is not None

    after_change = CallConsent(tool="t", arguments={}, principal=WHO, ask=ConfirmationRound("b").ask)
    after_change.note_sent()
    with pytest.raises(PolicyDenied, match="already sent a change"):
        await after_change(None, _Decision(), request)  # type: ignore[arg-type]
    assert after_change.pending is None


async def test_no_change_is_sent_while_a_question_of_the_round_waits_for_its_answer() -> None:
    from proxmox_operator_mcp.policy.confirm import ConfirmationRequest

    class _Decision:
        reason = "a hard stop needs a human"

    rnd = ConfirmationRound("b")
    consent = CallConsent(tool="t", arguments={}, principal=WHO, ask=rnd.ask)
    first = ConfirmationRequest(QUESTION, "web1", ("Hard power-off",))
    with pytest.raises(ConfirmationPending):
        await consent(None, _Decision(), first)  # type: ignore[arg-type]
    with pytest.raises(PolicyDenied, match="waits for the user's confirmation"):
        consent.note_sent()
    second = ConfirmationRequest(QUESTION.replace("web1", "web2"), "web2", ("Hard power-off",))
    with pytest.raises(ConfirmationPending):
        await consent(None, _Decision(), second)  # type: ignore[arg-type]
    assert consent.pending is not None and consent.pending.question == QUESTION
    assert rnd.pending == (consent.pending.key, QUESTION)
