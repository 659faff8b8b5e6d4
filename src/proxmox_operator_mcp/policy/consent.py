"""How one tool call gets a human's consent for the operations the policy marks ``confirm``.

In order:

1. the call carries an approval id: the approval must be granted, unexpired, and bound to
   this principal, tool and arguments; it is consumed and then covers the rest of the call;
2. the client can ask its user (MCP elicitation): the user must type the expected text
   (the guest's name, the path ...), see :mod:`~proxmox_operator_mcp.policy.confirm`;
3. out-of-band approvals are configured: a pending approval is recorded and the call fails
   with :class:`ApprovalRequired`, which tells the model the id to retry with once an
   operator ran ``proxmox-mcp approve ID``;
4. otherwise the operation is denied.

Nothing the model sends counts as consent: not ``confirm: true``, not an approval id that no
human approved. The MCP side only supplies ``ask`` (a wrapper around elicitation).

On MCP 2026-07-28 connections elicitation is not a request in the middle of the call but a round
trip: the call ends with the question (``InputRequiredResult``) and the client calls again with
the answer. :class:`ConfirmationRounds` keeps that honest: ``ask`` raises
:class:`ConfirmationPending` at the first unanswered question (before the gate sends anything),
the next round's state is sealed with an HMAC that binds it to the exact call (tool, arguments,
principal) and to the question asked, and each state is accepted once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import PolicyDenied, ProxmoxMCPError
from ..secrets.redact import REDACTOR
from .approvals import APPROVAL_ARG, ApprovalStore
from .confirm import ConfirmationRequest, check_typed_answer

if TYPE_CHECKING:
    from ..operation import Operation
    from .rules import Decision

__all__ = [
    "ApprovalRequired",
    "CallConsent",
    "ConfirmationPending",
    "ConfirmationRound",
    "ConfirmationRounds",
    "Confirmer",
    "ElicitationUnavailable",
]


class ApprovalRequired(ProxmoxMCPError):
    """The operation waits for an out-of-band approval; nothing was sent."""

    code = "approval_required"

    def __init__(self, approval_id: str, summary: str, ttl: float) -> None:
        self.approval_id = approval_id
        minutes = max(1, int(ttl // 60))
        super().__init__(
            "This needs a human's approval, and this client cannot ask its user. Nothing was sent to Proxmox.\n"
            f"{summary}\nApproval id: {approval_id} (valid for {minutes} min).",
            hint=f"Ask an operator to run `proxmox-mcp approve {approval_id}`, then call the tool again with the "
            f"same arguments plus {APPROVAL_ARG}={approval_id!r}.",
        )


class ElicitationUnavailable(Exception):
    """Raised by ``ask`` when the client cannot ask its user (no capability, stateless HTTP,
    a protocol revision without elicitation)."""


class ConfirmationPending(ProxmoxMCPError):
    """The human has to be asked first (MCP 2026-07-28): the call stops here, nothing was sent,
    and the server answers with the question; the client calls again with the answer."""

    code = "input_required"

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.question = message
        super().__init__("Waiting for the user's confirmation. Nothing was sent to Proxmox.")


class Confirmer(Protocol):
    """Asks a human about one operation of one tool call.

    Returns how they agreed, for the audit (``elicited``, ``approved:<id>``).

    Raises:
        PolicyDenied: they did not agree, or nobody can be asked.
        ApprovalRequired: an out-of-band approval is now pending.
    """

    async def __call__(self, op: Operation, decision: Decision, request: ConfirmationRequest) -> str: ...


Ask = Callable[[str], Awaitable[str | None]]
"""Shows the message to the user and returns what they typed, or None when they declined or
cancelled. Raises :class:`ElicitationUnavailable` when the client cannot ask."""


class CallConsent:
    """The :class:`Confirmer` of one tool call.

    Args:
        tool: the tool's name.
        arguments: the call's arguments as the client sent them (an approval id among them is
            ignored by the binding).
        principal: who calls (``sub``).
        approval_id: the approval id the call carries, if any.
        ask: elicitation, or None when the client cannot ask.
        approvals: the approval store, or None when out-of-band approvals are off.
        ttl: seconds a new approval request stays valid.
    """

    def __init__(
        self,
        *,
        tool: str,
        arguments: Mapping[str, Any],
        principal: Mapping[str, Any],
        approval_id: str | None = None,
        ask: Ask | None = None,
        approvals: ApprovalStore | None = None,
        ttl: float = 900.0,
    ) -> None:
        self.tool = tool
        self.arguments = {k: v for k, v in arguments.items() if k != APPROVAL_ARG}
        self.principal = dict(principal)
        self.approval_id = approval_id
        self._ask = ask
        self._approvals = approvals
        self._ttl = ttl
        self._approved = False
        self.sent = False  # a change of this call (this round) went to Proxmox
        self.pending: ConfirmationPending | None = None  # the question that ends this round
        self.outcome: str | None = None  # how the call was confirmed, for its tool-call record

    def note_sent(self) -> None:
        """The gate is about to send a change of this call.

        Raises:
            PolicyDenied: this round already waits for a confirmation (a handler went on after
                the question, e.g. with another cluster): nothing more is sent before the answer.
        """
        if self.pending is not None:
            raise PolicyDenied(
                "Not sent: this call waits for the user's confirmation of another operation first.",
                hint="The client asks its user and calls again; nothing to do.",
            )
        self.sent = True

    async def __call__(self, op: Operation, decision: Decision, request: ConfirmationRequest) -> str:
        if self.approval_id is not None:
            return self._use_approval()
        if self._ask is not None:
            try:
                typed = await self._ask(request.message)
            except ElicitationUnavailable:
                pass
            except ConfirmationPending as exc:
                if self.sent:
                    # Asking means ending this round and running the handler again with the
                    # answer, which would repeat what was already sent: stop instead.
                    self.outcome = "unavailable:after-change"
                    raise PolicyDenied(
                        f"Refused: {decision.reason}. This call already sent a change to Proxmox before it reached "
                        "this confirmation, and this client asks its user between calls (resuming would send it "
                        "again), so the rest was not run.",
                        hint="Check the result of what was done, then do the remaining step in a call of its own.",
                    ) from None
                self.outcome = "asked"
                if self.pending is None:
                    self.pending = exc
                raise
            else:
                if check_typed_answer(request.expected, typed):
                    self.outcome = "elicited"
                    return "elicited"
                self.outcome = "declined"
                raise PolicyDenied(
                    "Not confirmed: " + ("the user declined." if typed is None else
                                         f"the user typed {typed.strip()[:60]!r}, not {request.expected!r}.")
                    + " Nothing was sent to Proxmox.",
                    hint="Nothing to do unless the user wants it after all: then call again.",
                )
        if self._approvals is not None:
            approval = self._approvals.request(
                self.principal,
                self.tool,
                self.arguments,
                list(request.lines),
                self._ttl,
                display_arguments=REDACTOR.redact_obj(self.arguments),
                extra={"message": request.message, "decision": decision.to_dict()},
            )
            self.outcome = f"pending:{approval.id}"
            raise ApprovalRequired(approval.id, "\n".join(f"- {line}" for line in request.lines), self._ttl)
        self.outcome = "unavailable"
        raise PolicyDenied(
            f"Refused: {decision.reason}, and this client cannot ask its user. Nothing was sent to Proxmox.",
            hint="Use a client that supports elicitation, or have an operator set PROXMOX_MCP_APPROVALS_DIR for "
            "out-of-band approvals (`proxmox-mcp approve ID`).",
        )

    def _use_approval(self) -> str:
        assert self.approval_id is not None
        outcome = f"approved:{self.approval_id}"
        if self._approved:  # one approval covers every operation of the call it was granted for
            return outcome
        if self._approvals is None:
            raise PolicyDenied(
                f"{APPROVAL_ARG} was given, but out-of-band approvals are off on this server. Nothing was sent.",
                hint="Call without it; an operator can turn approvals on with PROXMOX_MCP_APPROVALS_DIR.",
            )
        result = self._approvals.consume(self.approval_id, self.principal, self.tool, self.arguments)
        if not result:
            self.outcome = f"refused:{self.approval_id}"
            raise PolicyDenied(
                f"Approval {self.approval_id} does not allow this call: {result.reason}. Nothing was sent to Proxmox.",
                hint="An approval covers one call with exactly the arguments it was requested for, once, before it "
                "expires; call without it to request a new one.",
            )
        self._approved = True
        self.outcome = outcome
        return outcome


# --- confirmation across rounds (MCP 2026-07-28) ----------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str).encode()


def question_digest(message: str) -> str:
    """Pins an answer to the exact question the human was shown."""
    return _b64(hashlib.sha256(message.encode("utf-8", "surrogatepass")).digest()[:18])


@dataclass
class ConfirmationRound:
    """One round of a call on a connection that asks between calls.

    ``answers`` are the typed answers (None: declined, cancelled or unreadable) keyed by the
    digest of their question: those recorded in earlier rounds, plus those arriving now for the
    questions asked last round (``asked``: wire key to question digest). ``pending`` is the
    question that ends this round, if any.
    """

    binding: str
    asked: dict[str, str] = field(default_factory=dict)
    answers: dict[str, str | None] = field(default_factory=dict)
    responses: dict[str, str | None] = field(default_factory=dict)
    pending: tuple[str, str] | None = None

    async def ask(self, message: str) -> str | None:
        """An :data:`Ask`: the recorded answer to ``message``, else :class:`ConfirmationPending`."""
        q = question_digest(message)
        if q in self.answers:
            return self.answers[q]
        key = "confirm-" + q[:16]
        # an answer counts only for the question this server asked (and sealed) last round
        if key in self.responses and self.asked.get(key) == q:
            typed = self.responses[key]
            self.answers[q] = typed
            return typed
        if self.pending is None:  # one question per round: the first one asked
            self.pending = (key, message)
        raise ConfirmationPending(key, message)


class ConfirmationRounds:
    """Seals and opens the ``request_state`` of calls that ask between rounds.

    The SDK already encrypts ``request_state`` at its boundary and binds it to the tool, the
    arguments and (with OAuth) the token's principal. This adds our own binding on top, for
    every transport: an HMAC (a per-process key) over the tool, the arguments, the approval id,
    the principal and the questions asked, an expiry, and a nonce that is accepted once, so a
    state cannot be replayed for another call nor twice for the same one.
    """

    def __init__(self, *, ttl: float = 600.0, key: bytes | None = None) -> None:
        self._key = key or os.urandom(32)
        self._ttl = ttl
        self._used: dict[str, float] = {}  # nonce -> expiry

    @staticmethod
    def binding(tool: str, arguments: Mapping[str, Any], principal: Mapping[str, Any],
                approval_id: str | None = None) -> str:
        who = {k: principal.get(k) for k in ("sub", "client_id", "auth", "iss")}
        body = {"tool": tool, "args": dict(arguments), "approval": approval_id, "who": who}
        return _b64(hashlib.sha256(_canonical(body)).digest())

    def _mac(self, body: Mapping[str, Any]) -> str:
        return _b64(hmac.new(self._key, _canonical(body), hashlib.sha256).digest())

    def open(self, state: str | None, binding: str, responses: Mapping[str, str | None]) -> ConfirmationRound:
        """The round for a call carrying ``state`` (None on the first round).

        Raises:
            PolicyDenied: the state was not minted here for this very call, has expired, or was
                used before.
        """
        if not state:
            return ConfirmationRound(binding)

        def refuse(why: str) -> PolicyDenied:
            return PolicyDenied(
                f"Refused: the confirmation state of this call {why}. Nothing was sent to Proxmox.",
                hint="Call the tool again without request_state; the user will be asked again.",
            )

        try:
            outer = json.loads(state)
            body, mac = outer["b"], outer["m"]
            if not isinstance(body, dict) or not isinstance(mac, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise refuse("is not one this server issued") from None
        if not hmac.compare_digest(mac, self._mac(body)):
            raise refuse("is not one this server issued")
        if body.get("bind") != binding:
            raise refuse("was issued for another call (other tool, arguments or principal)")
        now = time.time()
        exp = body.get("exp")
        if not isinstance(exp, int | float) or now >= exp:
            raise refuse("has expired")
        nonce = str(body.get("n", ""))
        self._used = {n: e for n, e in self._used.items() if e > now}
        if nonce in self._used:
            raise refuse("was already used")
        self._used[nonce] = float(exp)
        asked = body.get("asked") or {}
        answers = body.get("answers") or {}
        return ConfirmationRound(
            binding,
            asked={str(k): str(v) for k, v in asked.items()},
            answers={str(k): (v if isinstance(v, str) else None) for k, v in answers.items()},
            responses=dict(responses),
        )

    def seal(self, rnd: ConfirmationRound) -> str:
        """The state for the next round: the question pending now and the answers so far."""
        asked = {rnd.pending[0]: question_digest(rnd.pending[1])} if rnd.pending else {}
        body = {
            "v": 1,
            "bind": rnd.binding,
            "n": _b64(os.urandom(16)),
            "exp": time.time() + self._ttl,
            "asked": asked,
            "answers": rnd.answers,
        }
        return json.dumps({"b": body, "m": self._mac(body)}, separators=(",", ":"))
