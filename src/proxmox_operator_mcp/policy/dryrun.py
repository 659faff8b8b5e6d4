"""Dry-run: the same path as a real call, stopped before the first change leaves the process.

A mutating tool called with ``dry_run: true`` runs its reads (so targets are found and states
checked, as for a real call), and at the first operation that would change something the gate's
decision is taken and returned as the plan instead of sending it: the exact request or command
(secrets masked), the policy decision, and the confirmation a human would be asked. Nothing
changes. Operations after that first change depend on its result, so they are not part of the plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ProxmoxMCPError
from ..operation import Operation

__all__ = ["DRY_RUN_ARG", "DRY_RUN_SCHEMA", "DryRunStop", "plan_of", "with_dry_run"]

DRY_RUN_ARG = "dry_run"

# The structured content of a dry-run answer; mutating tools' output schemas accept it beside
# their own output (anyOf), so clients that validate structured content accept both.
DRY_RUN_SCHEMA: dict[str, Any] = {"properties": {"dry_run": {"const": True}}, "required": ["dry_run"]}


class DryRunStop(ProxmoxMCPError):
    """Raised by the tool context at the first change of a dry run; carries the plan."""

    code = "dry_run"

    def __init__(self, plan: dict[str, Any]) -> None:
        super().__init__("dry run: stopped before the first change")
        self.plan = plan


def plan_of(op: Operation, decision: Any, confirmation: str | None, *, redact: Any) -> dict[str, Any]:
    """The structured plan for ``op`` (values redacted by ``redact``, a Redactor)."""
    step: dict[str, Any] = {"plane": op.plane, "operation": op.describe()}
    if op.node:
        step["node"] = op.node
    if op.params:
        step["params"] = redact.redact_obj(dict(op.params))
    if op.targets:
        step["targets"] = list(op.targets)
    return {
        "dry_run": True,
        "plan": [step],
        "decision": getattr(decision, "verdict", None),
        "reason": getattr(decision, "reason", None),
        "required_mode": getattr(decision, "required_mode", None),
        "confirmation": confirmation,
        "note": "Nothing was sent to Proxmox. Call again without dry_run to run it.",
    }


def with_dry_run(input_schema: Mapping[str, Any], output_schema: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A mutating tool's schemas with the ``dry_run`` argument and the plan as an alternative output."""
    inp = dict(input_schema)
    props = dict(inp.get("properties", {}))
    # Explained once in the server instructions rather than on every tool (context budget).
    props[DRY_RUN_ARG] = {"type": "boolean"}
    inp["properties"] = props
    out = {"type": "object", "anyOf": [dict(output_schema), DRY_RUN_SCHEMA]}
    if "$defs" in output_schema:
        # $refs inside the tool's own schema resolve from the document root
        out["$defs"] = output_schema["$defs"]
        out["anyOf"][0] = {k: v for k, v in output_schema.items() if k != "$defs"}
    return inp, out
