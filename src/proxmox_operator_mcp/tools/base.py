"""What a tool is: data (name, title, annotations, toolset, input and output models) plus a thin
async handler that turns validated input into Operations and shapes the result.

Handlers never reach Proxmox themselves: they call :meth:`ToolContext.api`, which builds an
:class:`~proxmox_operator_mcp.operation.Operation` and submits it to the policy gate.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from ..errors import InvalidArgumentError
from ..operation import Operation, api_op

if TYPE_CHECKING:
    from ..config import ClusterConfig, Settings
    from ..policy.gate import Confirmer, Gate

__all__ = [
    "Input",
    "NodeName",
    "Output",
    "ToolContext",
    "ToolSpec",
    "VmId",
    "clean_text",
    "compact_schema",
    "tool",
]

# Values that become part of a URL path are constrained here, before anything else sees them.
NodeName = Annotated[
    str,
    Field(
        pattern=r"^[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?$",
        max_length=63,
    ),
]
# No descriptions: the names and bounds say it all, and these two appear in most tools' schemas.
VmId = Annotated[int, Field(ge=100, le=999_999_999)]


class Input(BaseModel):
    """Base of every tool input: unknown arguments are refused, never ignored."""

    model_config = ConfigDict(extra="forbid", str_max_length=4096)


class Output(BaseModel):
    """Base of every tool output (structured content)."""

    model_config = ConfigDict(extra="allow")


InT = TypeVar("InT", bound=Input)
OutT = TypeVar("OutT", bound=Output)

_CONTROL_RE = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]")


def clean_text(value: Any, max_len: int = 2000) -> Any:
    """Strip control and bidi characters from text that comes from guests or users of the cluster
    (descriptions, notes, names) so it cannot reorder or hide what a human reads."""
    if not isinstance(value, str):
        return value
    out = _CONTROL_RE.sub("", value)
    if not out.isascii():  # format characters (bidi controls, zero-width ...) are never ASCII
        out = "".join(ch for ch in out if unicodedata.category(ch) != "Cf")
    if len(out) > max_len:
        out = out[:max_len] + f"…[truncated {len(out) - max_len} chars]"
    return out


def compact_schema(schema: Any) -> Any:
    """Drop the auto-generated ``title`` of every schema node (pydantic adds one per field and model):
    they repeat the property names and cost context on every tools/list."""
    if isinstance(schema, dict):
        out = {}
        for k, v in schema.items():
            if k == "title" and isinstance(v, str):
                continue
            if k in ("properties", "$defs", "definitions") and isinstance(v, dict):
                out[k] = {name: compact_schema(sub) for name, sub in v.items()}
            else:
                out[k] = compact_schema(v)
        return out
    if isinstance(schema, list):
        return [compact_schema(x) for x in schema]
    return schema


def _non_null(schema: Any) -> Any:
    """``anyOf: [T, null], default: null`` says just ``T`` (not required): structured content is
    dumped with ``exclude_none``, so an optional output field is absent rather than null, and an
    optional input is simply left out (an explicit null is still accepted)."""
    if isinstance(schema, list):
        return [_non_null(x) for x in schema]
    if not isinstance(schema, dict):
        return schema
    # additionalProperties: true is JSON Schema's default; saying it costs bytes on every object.
    out = {k: _non_null(v) for k, v in schema.items() if not (k == "additionalProperties" and v is True)}
    alts = out.get("anyOf")
    if isinstance(alts, list) and {"type": "null"} in alts:
        rest = [a for a in alts if a != {"type": "null"}]
        del out["anyOf"]
        if out.get("default", 0) is None:
            del out["default"]
        out.update(rest[0] if len(rest) == 1 else {"anyOf": rest})
    return out


def _drop_descriptions(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_drop_descriptions(x) for x in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for k, v in schema.items():
        if k == "description" and isinstance(v, str):
            continue
        if k in ("properties", "$defs") and isinstance(v, dict):
            out[k] = {name: _drop_descriptions(sub) for name, sub in v.items()}
        else:
            out[k] = _drop_descriptions(v)
    return out


@dataclass(frozen=True)
class ToolSpec(Generic[InT, OutT]):
    """A tool declared as data. Registration and filtering happen in one place (server.app)."""

    name: str
    title: str
    description: str
    toolset: str
    input_model: type[InT]
    output_model: type[OutT]
    handler: Callable[[ToolContext, InT], Awaitable[OutT]]
    read_only: bool
    destructive: bool = False
    idempotent: bool = False
    open_world: bool = False
    planes: tuple[str, ...] = ("api",)
    render: Callable[[OutT], str] | None = None
    # Adjusts the tool for an access mode (e.g. proxmox_api_call becomes GET-only and read-only
    # in read-only mode). Returns None to hide the tool.
    adapt: Callable[[ToolSpec[Any, Any], str], ToolSpec[Any, Any] | None] | None = None
    input_schema_override: dict[str, Any] | None = field(default=None, compare=False)

    def with_changes(self, **changes: Any) -> ToolSpec[Any, Any]:
        return replace(self, **changes)

    def input_schema(self) -> dict[str, Any]:
        return _non_null(compact_schema(self.input_schema_override or self.input_model.model_json_schema()))

    def output_schema(self) -> dict[str, Any]:
        # Field descriptions of outputs are for maintainers (they stay in the models and in
        # docs/tools.md); the model reads the data itself, so tools/list carries the shape only.
        schema = _drop_descriptions(_non_null(compact_schema(self.output_model.model_json_schema())))
        defs = schema.get("$defs")
        if defs:
            schema["$defs"] = {name: NESTED_SCHEMAS.get(name, sub) for name, sub in defs.items()}
        return schema


# Shorter listed schemas of models that many tools nest (the task of every action tool): the
# fields a client branches on, with the rest allowed. The model's full schema is listed where it
# is the tool's own output (job_get, job_wait) and in docs/tools.md; the structured content
# always carries every field.
NESTED_SCHEMAS: dict[str, dict[str, Any]] = {}


def tool(
    *,
    name: str,
    title: str,
    toolset: str,
    input_model: type[InT],
    output_model: type[OutT],
    read_only: bool,
    destructive: bool = False,
    idempotent: bool = False,
    open_world: bool = False,
    planes: tuple[str, ...] = ("api",),
    render: Callable[[OutT], str] | None = None,
    adapt: Callable[[ToolSpec[Any, Any], str], ToolSpec[Any, Any] | None] | None = None,
) -> Callable[[Callable[[ToolContext, InT], Awaitable[OutT]]], ToolSpec[InT, OutT]]:
    """Declare a tool; the handler's docstring is the description the model reads."""

    def wrap(fn: Callable[[ToolContext, InT], Awaitable[OutT]]) -> ToolSpec[InT, OutT]:
        doc = " ".join((fn.__doc__ or "").split())
        return ToolSpec(
            name=name,
            title=title,
            description=doc,
            toolset=toolset,
            input_model=input_model,
            output_model=output_model,
            handler=fn,
            read_only=read_only,
            destructive=destructive,
            idempotent=idempotent,
            open_world=open_world,
            planes=planes,
            render=render,
            adapt=adapt,
        )

    return wrap


ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]


class ToolContext:
    """What a handler may use: the cluster it acts on, and the gate to act through."""

    def __init__(
        self,
        *,
        settings: Settings,
        gate: Gate,
        tool_name: str,
        cluster: str | None = None,
        progress: ProgressFn | None = None,
        principal: Mapping[str, Any] | None = None,
        confirmer: Confirmer | None = None,
        call_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.gate = gate
        self.tool_name = tool_name
        self._cluster_name = cluster
        self._progress = progress
        self.principal = dict(principal or {})
        self.confirmer = confirmer
        self.call_id = call_id
        # Set by the server for a call with dry_run: true (see policy/dryrun.py).
        self.dry_run = False

    def for_cluster(self, name: str) -> ToolContext:
        """The same context acting on cluster ``name`` (job ids name their cluster).

        Raises:
            InvalidArgumentError: no such cluster is configured.
        """
        sub = ToolContext(
            settings=self.settings,
            gate=self.gate,
            tool_name=self.tool_name,
            cluster=name,
            progress=self._progress,
            principal=self.principal,
            confirmer=self.confirmer,
            call_id=self.call_id,
        )
        sub.dry_run = self.dry_run
        sub.cluster  # noqa: B018  (fails early on an unknown cluster)
        return sub

    @property
    def cluster(self) -> ClusterConfig:
        return self.settings.cluster(self._cluster_name)

    @property
    def access(self) -> str:
        return self.settings.access_for(self.cluster)

    def default_node(self, node: str | None) -> str:
        """The node to act on: the argument, else the configured default node.

        Raises:
            InvalidArgumentError: when neither is set.
        """
        if node:
            return node
        if self.cluster.default_node:
            return self.cluster.default_node
        raise InvalidArgumentError(
            "no node given and no default node configured",
            hint="Pass `node` (see proxmox_node_list) or set PROXMOX_DEFAULT_NODE.",
        )

    async def api(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        node: str | None = None,
        destructive: bool = False,
        targets: tuple[str, ...] = (),
    ) -> Any:
        """Submit one REST operation through the gate and return PVE's ``data``."""
        op = api_op(
            self.cluster.name,
            method,
            path,
            params,
            node=node,
            destructive=destructive,
            targets=targets,
            tool=self.tool_name,
        )
        return await self.submit(op)

    async def submit(self, op: Operation) -> Any:
        """Submit any Operation (every plane) through the gate, with this call's principal, its
        human consent and its call id (so the audit ties the operation to the tool call).

        Raises:
            DryRunStop: in a dry run, at the first operation that would change something; it
                carries the plan (the operation, the policy decision, the confirmation text).
        """
        if self.dry_run and not op.read_only:
            from ..policy.confirm import build_confirmation
            from ..policy.dryrun import DryRunStop, plan_of
            from ..secrets.redact import REDACTOR

            decision = self.gate.decide(op, self.principal)
            confirmation = None
            if decision.verdict == "confirm":
                confirmation = build_confirmation([op], mode=self.gate.mode_for(op, self.principal)).message
            raise DryRunStop(plan_of(op, decision, confirmation, redact=REDACTOR))
        return await self.gate.submit(op, principal=self.principal, confirmer=self.confirmer, call_id=self.call_id)

    async def progress(self, done: float, total: float | None = None, message: str | None = None) -> None:
        if self._progress is not None:
            await self._progress(done, total, message)
