"""Shared pieces of the domain modules: acting with the reviewed classification, and one factory
for the many "read a list from one endpoint, filter, page, project" tools.

Whether an operation is destructive is not decided per tool: :func:`act` asks the reviewed
endpoint table (:func:`~proxmox_operator_mcp.policy.classify.classify_api`), so a typed tool and
``proxmox_api_call`` on the same endpoint always meet the same gate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import Field

from ..errors import InvalidArgumentError
from .base import NodeName, Output, ToolContext, ToolSpec, clean_text, tool
from .common import Page, PageInput, name_matches, page_items, project

__all__ = ["ItemsOut", "ListIn", "NodeListIn", "act", "clean_row", "is_destructive", "list_tool", "paged"]


def is_destructive(method: str, path: str, params: Mapping[str, Any] | None = None) -> bool:
    """True when the reviewed table classes the request destructive or as a secret read."""
    from ..policy.classify import classify_api

    c = classify_api(method, path, params)
    return c.kind == "destructive" or c.sensitive


async def act(
    ctx: ToolContext,
    method: str,
    path: str,
    params: Mapping[str, Any] | None = None,
    *,
    node: str | None = None,
    target: str,
) -> Any:
    """Submit one request through the gate, destructive as the reviewed table says."""
    return await ctx.api(
        method, path, params, node=node, destructive=is_destructive(method, path, params), targets=(target,)
    )


def clean_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A PVE row with every text value cleaned (it may come from guests or users)."""
    return {k: clean_text(v, 500) for k, v in row.items()}


class ListIn(PageInput):
    name: str | None = Field(None, max_length=128, description="Glob on the item's name/id, e.g. web-*.")


class NodeListIn(ListIn):
    node: NodeName | None = Field(None, description="Node; default: the configured default node.")


class ItemsOut(Page):
    items: list[dict[str, Any]]


def paged(rows: Sequence[Mapping[str, Any]], args: ListIn, key: str, sort: bool = True) -> ItemsOut:
    """Filter by ``args.name`` on ``key``, sort by it, page and project."""
    kept = [clean_row(r) for r in rows if name_matches(str(r.get(key, "")), args.name)]
    if sort:
        kept.sort(key=lambda r: str(r.get(key, "")))
    chunk, total, nxt = page_items(kept, args.limit, args.cursor)
    return ItemsOut(items=project(chunk, args.fields), total=total, next_cursor=nxt)


def list_tool(
    *,
    name: str,
    title: str,
    toolset: str,
    doc: str,
    path: str,
    key: str,
    params: Callable[[Any], dict[str, Any]] | None = None,
    rows: Callable[[Any], list[Mapping[str, Any]]] | None = None,
    input_model: type[ListIn] = ListIn,
) -> ToolSpec[Any, Any]:
    """A read-only list tool over one GET endpoint. ``path`` may contain ``{node}`` (then the input
    has ``node``); ``rows`` turns PVE's answer into rows when it is not already a list."""

    async def handler(ctx: ToolContext, args: Any) -> ItemsOut:
        node = ctx.default_node(args.node) if "{node}" in path else None
        data = await ctx.api("GET", path.format(**{**args.model_dump(), "node": node}), params(args) if params else None,
                             node=node)
        found = rows(data) if rows else list(data or [])
        return paged(found, args, key)

    handler.__doc__ = doc
    model = NodeListIn if "{node}" in path and input_model is ListIn else input_model
    return tool(name=name, title=title, toolset=toolset, input_model=model, output_model=ItemsOut,
                read_only=True, idempotent=True)(handler)


class DataOut(Output):
    data: dict[str, Any]


def require(cond: bool, message: str, hint: str | None = None) -> None:
    """Refuse before acting.

    Raises:
        InvalidArgumentError: when ``cond`` is false.
    """
    if not cond:
        raise InvalidArgumentError(message, hint=hint)
