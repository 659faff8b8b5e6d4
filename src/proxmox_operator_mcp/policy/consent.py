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
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import PolicyDenied, ProxmoxMCPError
from ..secrets.redact import REDACTOR
from .approvals import APPROVAL_ARG, ApprovalStore
from .confirm import ConfirmationRequest, check_typed_answer

if TYPE_CHECKING:
    from ..operation import Operation
    from .rules import Decision

__all__ = ["ApprovalRequired", "CallConsent", "Confirmer", "ElicitationUnavailable"]


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
        self.outcome: str | None = None  # how the call was confirmed, for its tool-call record

    async def __call__(self, op: Operation, decision: Decision, request: ConfirmationRequest) -> str:
        if self.approval_id is not None:
            return self._use_approval()
        if self._ask is not None:
            try:
                typed = await self._ask(request.message)
            except ElicitationUnavailable:
                pass
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
