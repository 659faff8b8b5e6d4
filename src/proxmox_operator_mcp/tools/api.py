"""Validated raw access to all ~675 PVE API endpoints, and a way to find them."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field

from ..errors import ProxmoxMCPError
from .base import Input, Output, ToolContext, ToolSpec, tool
from .common import TaskOut, WaitField, task_out, wait_seconds, wait_task

__all__ = ["TOOLS"]

MAX_DATA_CHARS = 60_000

ParamValue = str | int | float | bool | list[str | int | float | bool]


class ApiCallIn(Input):
    method: Literal["GET", "POST", "PUT", "DELETE"]
    path: str = Field(
        max_length=512,
        description="Path below /api2/json with concrete values, e.g. /nodes/pve1/qemu/101/status/current.",
    )
    params: dict[str, ParamValue] = Field(
        default_factory=dict, description="Parameters (query for GET/DELETE, body otherwise). Booleans as true/false."
    )
    wait: bool | float = WaitField


class ApiCallOut(Output):
    method: str
    path: str
    data: Any = Field(None, description="PVE's data (JSON; absent when PVE returned null). A string when truncated is true.")
    truncated: bool = False
    task: TaskOut | None = Field(None, description="Set when the call started a task (UPID).")


def _looks_like_upid(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("UPID:")


async def api_call(ctx: ToolContext, args: ApiCallIn) -> ApiCallOut:
    """Call any Proxmox VE API endpoint. Checked against the official PVE 9.2 schema before sending: an unknown
    path or a bad parameter is refused and nothing is sent. Use proxmox_api_describe to find endpoints and their
    parameters. Prefer the typed tools where one exists."""
    from ..schema import get_schema

    schema = get_schema()
    endpoint, _ = schema.resolve(args.method, args.path)
    destructive = args.method == "DELETE" or any(
        seg in args.path for seg in ("/status/stop", "/status/reset", "/rollback")
    )
    data = await ctx.api(args.method, args.path, args.params, destructive=destructive, targets=(args.path,))
    task = None
    if endpoint.returns_task != "no" and _looks_like_upid(data):
        from ..transports.upid import Upid

        seconds = wait_seconds(args.wait)
        task = (
            await wait_task(ctx, data, seconds)
            if seconds > 0
            else task_out(data, Upid.parse(data).node, {}, cluster=ctx.cluster.name)
        )
    text = json.dumps(data, separators=(",", ":"), default=str)
    if len(text) > MAX_DATA_CHARS:
        return ApiCallOut(
            method=args.method,
            path=args.path,
            data=text[:MAX_DATA_CHARS] + f"…[truncated {len(text) - MAX_DATA_CHARS} chars; narrow the query]",
            truncated=True,
            task=task,
        )
    return ApiCallOut(method=args.method, path=args.path, data=data, task=task)


def _adapt_api_call(spec: ToolSpec[Any, Any], access: str) -> ToolSpec[Any, Any] | None:
    """In read-only mode the tool is offered as what it then is: GET only, read-only."""
    if access != "read-only":
        return spec
    schema = spec.input_model.model_json_schema()
    schema["properties"]["method"] = {"const": "GET", "default": "GET", "type": "string"}
    schema["required"] = [r for r in schema.get("required", []) if r != "method"]
    schema["properties"].pop("wait", None)
    return spec.with_changes(
        read_only=True,
        destructive=False,
        idempotent=True,
        input_schema_override=schema,
        description=spec.description + " This server is read-only: only GET is allowed.",
    )


class ApiDescribeIn(Input):
    query: str = Field(
        max_length=256,
        description="A path (/nodes/{node}/qemu or a concrete one) or keywords (e.g. 'snapshot rollback').",
    )
    method: Literal["GET", "POST", "PUT", "DELETE"] | None = Field(None, description="Only this method.")
    limit: int = Field(10, ge=1, le=50)


class EndpointInfo(Output):
    method: str
    path: str
    description: str
    returns_task: bool
    parameters: dict[str, str] | None = Field(None, description="name -> type, constraints and meaning (exact matches).")
    permissions: str | None = None


class ApiDescribeOut(Output):
    schema_version: str
    endpoints: list[EndpointInfo]


def _param_line(p: Any) -> str:
    bits = [p.type or "any"]
    if p.format and isinstance(p.format, str):
        bits.append(p.format)
    if p.enum:
        bits.append("one of " + "|".join(map(str, p.enum)))
    if p.minimum is not None or p.maximum is not None:
        bits.append(f"range {p.minimum}..{p.maximum}")
    if not p.optional:
        bits.append("required")
    desc = " ".join((p.description or "").split())
    if len(desc) > 160:
        desc = desc[:157] + "..."
    return f"{', '.join(bits)}. {desc}".strip()


async def api_describe(ctx: ToolContext, args: ApiDescribeIn) -> ApiDescribeOut:
    """Find PVE API endpoints by path or keywords and show their parameters, permissions and whether they start a
    task. Works offline (the schema is built in)."""
    from ..schema import get_schema

    schema = get_schema()
    query = args.query.strip()
    exact = []
    if query.startswith("/"):
        for m in schema.methods_for(query):
            if args.method in (None, m):
                try:
                    exact.append(schema.resolve(m, query)[0])
                except ProxmoxMCPError:
                    # A template path such as /nodes/{node}/qemu resolves by methods_for only.
                    exact += [e for e in schema.endpoints if e.path == query and e.method == m]
    if exact:
        found = exact
    else:
        found = schema.search(query, limit=200)
        if args.method:
            found = [e for e in found if e.method == args.method]
    found = found[: args.limit]
    detailed = bool(exact) or len(found) <= 3
    out = []
    for e in found:
        info = EndpointInfo(
            method=e.method,
            path=e.path,
            description=" ".join((e.description or "").split())[:400],
            returns_task=e.returns_task != "no",
        )
        if detailed:
            info.parameters = {name: _param_line(p) for name, p in e.parameters.items()}
            if e.permissions:
                info.permissions = json.dumps(e.permissions, separators=(",", ":"))[:400]
        out.append(info)
    return ApiDescribeOut(schema_version=schema.version, endpoints=out)


TOOLS: list[ToolSpec[Any, Any]] = [
    tool(name="proxmox_api_call", title="Call any PVE API endpoint (validated)", toolset="api",
         input_model=ApiCallIn, output_model=ApiCallOut, read_only=False, destructive=True,
         adapt=_adapt_api_call)(api_call),
    tool(name="proxmox_api_describe", title="Find and describe PVE API endpoints", toolset="api",
         input_model=ApiDescribeIn, output_model=ApiDescribeOut, read_only=True, idempotent=True)(api_describe),
]
