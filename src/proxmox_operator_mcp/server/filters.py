"""The one filter chain that decides which tools a session sees.

Order: toolsets → explicit include list → exclude list (exclude wins) → access-mode adapters
(a tool may reshape itself for a mode, e.g. proxmox_api_call becomes GET-only) → access mode
(read-only shows only read-only tools) → the principal's role, which can only narrow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

__all__ = ["CLUSTER_PARAM", "MODE_RANK", "ToolFilter", "add_cluster_param", "narrowest", "parse_names", "pop_cluster"]

MODE_RANK = {"read-only": 0, "operator": 1, "admin": 2}


def narrowest(*modes: str | None) -> str:
    """The least privileged of the given access modes (None entries ignored)."""
    given = [m for m in modes if m]
    return min(given, key=lambda m: MODE_RANK[m]) if given else "read-only"


def parse_names(value: str | Sequence[str] | None) -> list[str]:
    """``"a, b"`` or ``["a", "b"]`` → ``["a", "b"]``."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [i.strip() for i in items if i and i.strip()]


@dataclass(frozen=True)
class ToolFilter:
    """What an operator configured: toolsets, include and exclude lists."""

    toolsets: tuple[str, ...] | None = None  # None: the default toolsets
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def validate(self, known_toolsets: Iterable[str], known_tools: Iterable[str]) -> None:
        """Unknown names fail start-up.

        Raises:
            ConfigError: listing every unknown toolset or tool name.
        """
        ts, tools = set(known_toolsets), set(known_tools)
        problems = []
        for name in self.toolsets or ():
            if name not in ts and name != "all":
                problems.append(f"PROXMOX_MCP_TOOLSETS: unknown toolset {name!r} (known: {', '.join(sorted(ts))}, all)")
        for label, names in (("PROXMOX_MCP_TOOLS", self.include), ("PROXMOX_MCP_EXCLUDE_TOOLS", self.exclude)):
            for name in names:
                if name not in tools:
                    problems.append(f"{label}: unknown tool {name!r}")
        if problems:
            raise ConfigError(problems, hint="`proxmox-mcp tools` lists every toolset and tool.")

    def selects(self, name: str, toolset: str, defaults: Mapping[str, bool]) -> bool:
        if name in self.exclude:
            return False
        if name in self.include:
            return True
        if self.toolsets is None:
            return defaults.get(toolset, False)
        return "all" in self.toolsets or toolset in self.toolsets

    def apply(self, specs: Iterable[Any], defaults: Mapping[str, bool], access: str) -> dict[str, Any]:
        """The visible specs by name, for a session whose effective access mode is ``access``."""
        out: dict[str, Any] = {}
        for spec in specs:
            if not self.selects(spec.name, spec.toolset, defaults):
                continue
            if spec.adapt is not None:
                spec = spec.adapt(spec, access)
                if spec is None:
                    continue
            if access == "read-only" and not spec.read_only:
                continue
            out[spec.name] = spec
        return out


# --- the `cluster` parameter -----------------------------------------------------------------
#
# With more than one cluster configured, every tool takes an optional `cluster` argument. It is
# added to the advertised schema in one place (add_cluster_param, applied to tools/list) and
# removed from the arguments before input validation (pop_cluster), so no tool's input model
# knows about it.

CLUSTER_PARAM = "cluster"


def add_cluster_param(input_schema: Mapping[str, Any], cluster_names: Sequence[str]) -> dict[str, Any]:
    """``input_schema`` with an optional ``cluster`` property (an enum of ``cluster_names``).

    With fewer than two clusters the schema comes back unchanged (a copy). The input is never
    modified.
    """
    schema = dict(input_schema)
    if len(cluster_names) < 2:
        return schema
    props = dict(schema.get("properties") or {})
    props[CLUSTER_PARAM] = {
        "type": "string",
        "enum": list(cluster_names),
        "description": "Cluster to act on (default: "
        + cluster_names[0]
        + "; overview and cluster list cover every cluster when omitted).",
    }
    schema["properties"] = props
    schema.setdefault("type", "object")
    return schema


def pop_cluster(arguments: Mapping[str, Any] | None, cluster_names: Sequence[str]) -> tuple[str | None, dict[str, Any]]:
    """Split the ``cluster`` argument off ``arguments``: ``(name or None, the other arguments)``.

    With fewer than two clusters nothing is popped (a ``cluster`` argument then reaches the
    tool's input model, which refuses it as unknown).

    Raises:
        InvalidArgumentError: ``cluster`` is not a string or names no configured cluster.
    """
    from ..errors import InvalidArgumentError

    rest = dict(arguments or {})
    if len(cluster_names) < 2 or CLUSTER_PARAM not in rest:
        return None, rest
    name = rest.pop(CLUSTER_PARAM)
    if name is None:
        return None, rest
    if not isinstance(name, str) or name not in cluster_names:
        raise InvalidArgumentError(
            f"unknown cluster {name!r}. Nothing was sent to Proxmox.",
            hint=f"configured clusters: {', '.join(cluster_names)} (proxmox_cluster_list shows them)",
        )
    return name, rest
