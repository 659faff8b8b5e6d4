"""Operations for ``proxmox-mcp policy explain TOOL ARGS`` without a cluster.

The escape-hatch tools map their arguments straight onto one Operation, so the policy can be
explained for them offline. Typed tools first read the cluster (where is VM 101? is it
running?) before they know their operations: explaining those needs the gate's dry-run
against a cluster or the simulator, which the server side provides.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidArgumentError
from ..operation import Operation, api_op
from .classify import classify_cli

__all__ = ["RAW_TOOLS", "operations_for"]

RAW_TOOLS = ("proxmox_api_call", "proxmox_cli_run", "proxmox_shell_run", "proxmox_file_read", "proxmox_file_write")


def _argv(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        raise InvalidArgumentError(f"{what} is a list of arguments, not a string", hint='e.g. ["qm", "stop", "101"]')
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(a, str) for a in value):
        raise InvalidArgumentError(f"{what} must be a non-empty list of strings")
    return tuple(value)


def operations_for(tool: str, arguments: Mapping[str, Any], *, cluster: str = "default") -> list[Operation]:
    """The operations an escape-hatch tool call would submit.

    Raises:
        InvalidArgumentError: another tool, or arguments that do not describe an operation.
    """
    node = arguments.get("node")
    if node is not None and not isinstance(node, str):
        raise InvalidArgumentError("`node` must be a string")
    if tool == "proxmox_api_call":
        method, path = arguments.get("method", "GET"), arguments.get("path")
        if not isinstance(method, str) or not isinstance(path, str):
            raise InvalidArgumentError('proxmox_api_call needs {"method": "GET|POST|PUT|DELETE", "path": "/..."}')
        params = arguments.get("params") or {}
        if not isinstance(params, Mapping):
            raise InvalidArgumentError("`params` must be an object")
        return [api_op(cluster, method, path, params, node=node, tool=tool)]
    if tool == "proxmox_cli_run":
        argv = _argv(arguments.get("argv", arguments.get("command")), "`argv`")
        # A raw command's tool cannot know what it does: the classification says it. (The
        # policy would raise a read to a write if the tool claimed read_only=False.)
        read_only = classify_cli(argv, node).kind == "read"
        return [Operation(cluster=cluster, plane="cli", argv=argv, node=node, read_only=read_only, tool=tool)]
    if tool == "proxmox_shell_run":
        raw = arguments.get("argv", arguments.get("command"))
        argv = ("sh", "-c", raw) if isinstance(raw, str) else _argv(raw, "`command`")
        return [Operation(cluster=cluster, plane="shell", argv=argv, node=node, read_only=False, destructive=True,
                          tool=tool)]
    if tool in ("proxmox_file_read", "proxmox_file_write"):
        path = arguments.get("path")
        if not isinstance(path, str):
            raise InvalidArgumentError("`path` must be a string")
        write = tool == "proxmox_file_write"
        return [Operation(cluster=cluster, plane="file", method="PUT" if write else "GET", path=path, node=node,
                          read_only=not write, destructive=write, tool=tool)]
    raise InvalidArgumentError(
        f"{tool} reads the cluster before it knows its operations; offline explain covers {', '.join(RAW_TOOLS)}",
        hint="Run the call with dry_run=true against the cluster (or `proxmox-mcp demo`) to see its plan.",
    )
