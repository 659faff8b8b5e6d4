"""The policy gate: the one choke point every Operation passes before any plane sees it.

It decides (allow or deny, by the cluster's access mode), records each decision, and hands
allowed operations to the router. Dry-run stops here and returns the plan instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..errors import PolicyDenied, ProxmoxMCPError
from ..operation import Operation

if TYPE_CHECKING:
    from ..config import Settings
    from ..transports.router import Router

__all__ = ["Decision", "Gate"]

log = logging.getLogger("proxmox_operator_mcp.audit")

_MODE_RANK = {"read-only": 0, "operator": 1, "admin": 2}


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Literal["allow", "deny"]
    reason: str
    required_mode: str


def required_mode(op: Operation) -> str:
    """The least access mode that may run ``op``."""
    if op.read_only:
        return "read-only"
    if op.destructive or op.plane in ("shell", "file"):
        return "admin"
    return "operator"


class Gate:
    """Decide, audit, route. Tools only ever call :meth:`submit`."""

    def __init__(self, settings: Settings, router: Router) -> None:
        self.settings = settings
        self.router = router

    def decide(self, op: Operation) -> Decision:
        cluster = self.settings.cluster(op.cluster)
        mode = self.settings.access_for(cluster)
        need = required_mode(op)
        if _MODE_RANK[mode] >= _MODE_RANK[need]:
            return Decision("allow", f"access mode {mode} allows {need} operations", need)
        return Decision(
            "deny",
            f"cluster {cluster.name!r} is in {mode} mode; {op.describe()} needs {need} mode",
            need,
        )

    async def submit(self, op: Operation, *, principal: Mapping[str, Any] | None = None) -> Any:
        """Run ``op`` if the policy allows it.

        Raises:
            PolicyDenied: the access mode does not allow the operation; nothing was sent.
            ProxmoxMCPError: whatever the plane raised.
        """
        decision = self.decide(op)
        if decision.verdict == "deny":
            self._record(op, decision, "denied", 0.0, principal)
            raise PolicyDenied(
                f"Refused: {decision.reason}. Nothing was sent to Proxmox.",
                hint=(
                    f"An operator can allow this by setting PROXMOX_MCP_ACCESS={decision.required_mode} "
                    "(or `access` for this cluster in the configuration file)."
                ),
            )
        start = time.perf_counter()
        try:
            result = await self.router.execute(op)
        except ProxmoxMCPError as exc:
            self._record(op, decision, f"error:{exc.code}", time.perf_counter() - start, principal)
            raise
        self._record(op, decision, "ok", time.perf_counter() - start, principal)
        return result

    def _record(
        self,
        op: Operation,
        decision: Decision,
        outcome: str,
        seconds: float,
        principal: Mapping[str, Any] | None,
    ) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        who = (principal or {}).get("sub", "local")
        log.info(
            "op cluster=%s tool=%s plane=%s %s decision=%s outcome=%s ms=%.1f principal=%s",
            op.cluster,
            op.tool,
            op.plane,
            op.describe(),
            decision.verdict,
            outcome,
            seconds * 1000,
            who,
        )
