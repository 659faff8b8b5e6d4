"""The one type every action on Proxmox passes through.

Tools never do I/O themselves: they build :class:`Operation` values and hand them to the
:class:`~proxmox_operator_mcp.policy.gate.Gate`, which decides, audits and passes them to the
router. Because every plane (REST, CLI, shell, file) is described by the same type, the policy,
the audit, dry-run and redaction each have exactly one place to act.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Operation", "Plane", "api_op"]

Plane = Literal["api", "cli", "shell", "file"]

_READ_METHODS = frozenset({"GET"})


@dataclass(frozen=True, slots=True)
class Operation:
    """A fully resolved, plane-neutral description of one action on one cluster.

    Attributes:
        cluster: configured cluster name.
        plane: which plane serves it ("api" for REST).
        method: HTTP method for the api plane (GET/POST/PUT/DELETE).
        path: API path below ``/api2/json`` with concrete values, e.g. ``/nodes/pve1/qemu/101``.
        params: request parameters (query for GET/DELETE, form body otherwise).
        argv: argument vector for the cli/shell planes; never a shell string.
        node: the node the action concerns, when there is one.
        read_only: True when the action changes nothing.
        destructive: True when it may destroy data or interrupt service.
        targets: names to show a human ("VM 101 (web1) on pve1").
        tool: the MCP tool that produced it.
    """

    cluster: str
    plane: Plane
    method: str | None = None
    path: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    argv: tuple[str, ...] | None = None
    node: str | None = None
    read_only: bool = True
    destructive: bool = False
    targets: tuple[str, ...] = ()
    tool: str | None = None

    def describe(self) -> str:
        """One line a human can read: ``GET /nodes/pve1/qemu`` or ``cli: qm list``."""
        if self.plane == "api":
            return f"{self.method} {self.path}"
        if self.argv is not None:
            return f"{self.plane}: " + " ".join(self.argv)
        return f"{self.plane}: {self.path or ''}"


def api_op(
    cluster: str,
    method: str,
    path: str,
    params: Mapping[str, Any] | None = None,
    *,
    node: str | None = None,
    destructive: bool = False,
    targets: tuple[str, ...] = (),
    tool: str | None = None,
) -> Operation:
    """Build a REST :class:`Operation`; read-only is derived from the method."""
    method = method.upper()
    return Operation(
        cluster=cluster,
        plane="api",
        method=method,
        path=path,
        params=dict(params or {}),
        node=node,
        read_only=method in _READ_METHODS,
        destructive=destructive,
        targets=targets,
        tool=tool,
    )
