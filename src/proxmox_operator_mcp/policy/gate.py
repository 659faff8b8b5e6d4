"""The policy gate: the one choke point every Operation passes before any plane sees it.

It decides (allow, deny or confirm, by the operator's rules over the built-in classification
and the cluster's access mode), asks a human when the policy says confirm, writes the audit
records, and hands allowed operations to the router. (There is no dry-run of tool calls yet;
``proxmox-mcp policy explain`` shows the decision for an operation without running it.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import PolicyDenied, ProxmoxMCPError
from ..operation import Operation
from .audit import AuditError, AuditLog, operation_record
from .classify import mode_rank
from .confirm import build_confirmation
from .consent import ApprovalRequired, Confirmer
from .rules import DEFAULT_POLICY, Decision, Policy, load_policy

if TYPE_CHECKING:
    from ..config import Settings
    from ..transports.router import Router

__all__ = ["ApprovalRequired", "Confirmer", "Decision", "Gate"]

log = logging.getLogger("proxmox_operator_mcp.audit")


class Gate:
    """Decide, confirm, audit, route. Tools only ever call :meth:`submit`.

    Raises:
        ConfigError: the policy file (``PROXMOX_MCP_POLICY_FILE``) is invalid.
    """

    def __init__(
        self,
        settings: Settings,
        router: Router,
        *,
        policy: Policy | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self.settings = settings
        self.router = router
        if policy is None:
            policy = load_policy(settings.policy_file) if settings.policy_file else DEFAULT_POLICY
        self.policy = policy
        self._audit = audit
        self._audit_ready = audit is not None or settings.audit_path is None

    def mode_for(self, op: Operation, principal: Mapping[str, Any] | None = None) -> str:
        """The cluster's access mode, capped by the principal's (``principal["mode"]``, from
        ``server.auth.principal_mode``; ``none`` acts like read-only here and is refused by the
        server before any tool runs)."""
        mode = self.settings.access_for(self.settings.cluster(op.cluster))
        cap = (principal or {}).get("mode")
        if cap in ("read-only", "operator", "admin"):
            return min(mode, cap, key=mode_rank)
        if cap == "none":
            return "read-only"
        return mode

    def decide(self, op: Operation, principal: Mapping[str, Any] | None = None) -> Decision:
        return self.policy.decide(op, self.mode_for(op, principal))

    async def submit(
        self,
        op: Operation,
        *,
        principal: Mapping[str, Any] | None = None,
        confirmer: Confirmer | None = None,
        call_id: str | None = None,
    ) -> Any:
        """Run ``op`` if the policy allows it (after a human agreed, when it says confirm).

        Raises:
            PolicyDenied: the policy refused, or no human confirmed; nothing was sent.
            ApprovalRequired: an out-of-band approval is pending; nothing was sent.
            AuditError: a change could not be audited, so it was not sent.
            ProxmoxMCPError: whatever the plane raised.
        """
        decision = self.decide(op, principal)
        if decision.verdict == "deny":
            await self._record(op, decision, principal, call_id, outcome="denied")
            raise PolicyDenied(f"Refused: {decision.reason}. Nothing was sent to Proxmox.", hint=decision.hint)
        confirmation = None
        if decision.verdict == "confirm":
            if confirmer is None:
                await self._record(op, decision, principal, call_id, outcome="denied", confirmation="unavailable")
                raise PolicyDenied(
                    f"Refused: {decision.reason}, and no human can be asked here. Nothing was sent to Proxmox.",
                    hint="Use a client that supports elicitation, or have an operator set PROXMOX_MCP_APPROVALS_DIR "
                    "for out-of-band approvals (`proxmox-mcp approve ID`).",
                )
            try:
                request = build_confirmation([op], mode=self.mode_for(op, principal))
                confirmation = await confirmer(op, decision, request)
            except ProxmoxMCPError as exc:
                await self._record(op, decision, principal, call_id, outcome=f"not-confirmed:{exc.code}")
                raise
        mutating = decision.op_class != "read"
        if mutating:
            # A confirmer that asks between rounds (MCP 2026-07-28) must know a change went out:
            # it must not pause (and so re-run) the call after this, and it refuses a change
            # while a question of this round waits for its answer.
            note_sent = getattr(confirmer, "note_sent", None)
            if note_sent is not None:
                try:
                    note_sent()
                except ProxmoxMCPError as exc:
                    await self._record(op, decision, principal, call_id, outcome=f"not-confirmed:{exc.code}")
                    raise
            # written before the change is sent: a change that cannot be audited is not made
            await self._record(op, decision, principal, call_id, outcome="started", confirmation=confirmation,
                               phase="intent", required=True)
        start = time.perf_counter()
        try:
            result = await self.router.execute(op)
        except ProxmoxMCPError as exc:
            await self._record(op, decision, principal, call_id, outcome=f"error:{exc.code}",
                               seconds=time.perf_counter() - start, confirmation=confirmation,
                               phase="result" if mutating else None)
            raise
        upid = result if isinstance(result, str) and result.startswith("UPID:") else None
        await self._record(op, decision, principal, call_id, outcome="ok", seconds=time.perf_counter() - start,
                           confirmation=confirmation, upid=upid, phase="result" if mutating else None)
        return result

    @property
    def audit_enabled(self) -> bool:
        """False only when no audit log is configured (records would go nowhere)."""
        return not (self._audit_ready and self._audit is None)

    async def audit_append(self, record: Mapping[str, Any], *, required: bool = False) -> None:
        """Append a record (tool calls, approvals). Raises AuditError only when ``required``.

        Raises:
            AuditError: ``required`` and the record could not be written.
        """
        try:
            audit = await self._audit_log()
            if audit is not None:
                await audit.append_async(record)
        except AuditError:
            if required:
                raise
            log.warning("audit record not written", exc_info=True)

    async def _audit_log(self) -> AuditLog | None:
        if self._audit_ready:
            return self._audit
        path = self.settings.audit_path
        assert path is not None
        key = None
        if self.settings.audit_hmac_key_ref:
            # imported here: only a keyed audit needs it
            from ..secrets import SecretRef

            try:
                secret = await self.settings.resolver.get(SecretRef.parse(self.settings.audit_hmac_key_ref))
            except ProxmoxMCPError as exc:
                raise AuditError(
                    f"The audit HMAC key {self.settings.audit_hmac_key_ref} cannot be read: {exc.message}; "
                    "changes are refused rather than run unaudited.",
                    hint=exc.hint,
                ) from None
            key = secret.get_secret_value().encode()
        self._audit = AuditLog(
            path,
            hmac_key=key,
            also_stderr=self.settings.audit_stderr,
            also_syslog=self.settings.audit_syslog,
            max_bytes=self.settings.audit_max_bytes,
        )
        self._audit_ready = True
        return self._audit

    async def _record(
        self,
        op: Operation,
        decision: Decision,
        principal: Mapping[str, Any] | None,
        call_id: str | None,
        *,
        outcome: str,
        seconds: float | None = None,
        confirmation: str | None = None,
        upid: str | None = None,
        phase: str | None = None,
        required: bool = False,
    ) -> None:
        if log.isEnabledFor(logging.INFO):
            log.info(
                "op cluster=%s tool=%s plane=%s %s decision=%s outcome=%s ms=%.1f principal=%s",
                op.cluster, op.tool, op.plane, op.describe(), decision.verdict, outcome, (seconds or 0) * 1000,
                (principal or {}).get("sub", "local"),
            )
        if not self.audit_enabled:
            return
        record = operation_record(op, decision, principal=principal, outcome=outcome, call_id=call_id,
                                  seconds=seconds, confirmation=confirmation, upid=upid, phase=phase)
        await self.audit_append(record, required=required)
