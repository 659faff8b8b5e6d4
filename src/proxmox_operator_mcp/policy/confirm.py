"""The pure part of a human confirmation: what the human reads, and what they must type.

The gate asks (by elicitation, or through an out-of-band approval) before it runs an
operation the policy marks ``confirm``. The human reads one impact line per operation::

    Hard power-off of VM 101 (web1) on pve1: unsaved data in the guest is lost
      POST /nodes/pve1/qemu/101/status/stop

and confirms by typing the guest's name (its VMID when it has none); for other API calls the
path, for node-wide commands the node, for files the file's path. A model-supplied
``confirm: true`` never counts: the answer must come back through the client's elicitation,
from its user, and match exactly.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from ..operation import Operation
from ..tools.base import clean_text
from .classify import IMPACTS, OperationFacts, inspect_operation

__all__ = [
    "Confirm",
    "ConfirmationRequest",
    "build_confirmation",
    "check_typed_answer",
    "expected_answer",
    "impact_line",
    "target_label",
]

_TARGET = re.compile(r"^(?P<kind>VM|CT|container|LXC) (?P<vmid>\d+)(?: \((?P<name>.*)\))?(?: on (?P<node>\S+))?$")
_MAX_NAME = 128


class Confirm(BaseModel):
    """The elicited answer (a flat object, as MCP elicitation requires)."""

    model_config = ConfigDict(extra="forbid")

    confirm: str = Field(max_length=512, description="Type the text shown in the message to confirm; anything "
                                                      "else cancels.")


@dataclass(frozen=True)
class ConfirmationRequest:
    """What to ask: ``message`` (the whole text), ``expected`` (what must be typed), and the
    impact ``lines`` (one per operation that needs the confirmation)."""

    message: str
    expected: str
    lines: tuple[str, ...]


def _clean(value: str) -> str:
    return " ".join(str(clean_text(value, _MAX_NAME)).split())


def _guest(op: Operation, facts: OperationFacts, names: Mapping[int, str] | None) -> tuple[str, int, str | None] | None:
    """(kind label, vmid, name) of the guest the operation acts on, if it acts on one."""
    for target in op.targets:
        m = _TARGET.match(target)
        if m:
            kind = "VM" if m.group("kind") == "VM" else "container"
            name = m.group("name") or None
            return kind, int(m.group("vmid")), _clean(name) if name else None
    if not facts.vmids:
        return None
    vmid = facts.vmids[0]
    where = facts.template or ""
    kind = "container" if "/lxc/" in where or facts.binary == "pct" else "VM"
    name = (names or {}).get(vmid)
    return kind, vmid, _clean(name) if name else None


def target_label(op: Operation, names: Mapping[int, str] | None = None) -> str:
    """What the operation acts on, for a human: ``VM 101 (web1) on pve1``, ``node pve1``,
    ``/etc/hosts on pve1``, or the API path."""
    facts = inspect_operation(op)
    node = facts.nodes[0] if facts.nodes else None
    on = f" on {node}" if node else ""
    if op.plane == "file":
        return f"{facts.file_path or op.path}{on}"
    guest = _guest(op, facts, names)
    if guest is not None:
        kind, vmid, name = guest
        return f"{kind} {vmid}" + (f" ({name})" if name else "") + on
    if op.plane == "shell" or (facts.template and facts.template.startswith("/nodes/{node}") and node and
                               facts.template.count("/") <= 3):
        return f"node {node}" if node else "the node"
    if facts.path:
        return facts.path
    return op.describe()


def impact_line(op: Operation, names: Mapping[int, str] | None = None) -> str:
    """One sentence on what ``op`` does and what it costs, e.g. "Hard power-off of VM 101
    (web1) on pve1: unsaved data in the guest is lost"."""
    c = inspect_operation(op).classification
    label = target_label(op, names)
    if c.impact:
        text = IMPACTS[c.impact].format(target=label)
    elif c.kind == "read":
        text = f"Reads {label}"
    else:
        text = f"Changes {label}"
    return text[0].upper() + text[1:]


def _expected_for(op: Operation, names: Mapping[int, str] | None) -> str:
    facts = inspect_operation(op)
    guest = _guest(op, facts, names)
    if guest is not None:
        _, vmid, name = guest
        return name or str(vmid)
    if op.plane == "file":
        return facts.file_path or (op.path or "")
    if op.plane == "api":
        return op.path or ""
    if facts.nodes:
        return facts.nodes[0]
    return facts.binary or op.plane


def expected_answer(ops: Sequence[Operation], names: Mapping[int, str] | None = None) -> str:
    """What the human types to confirm ``ops``: the guest's name (its VMID when it has no
    name), else the API path, the file path, or the node. Several different answers are joined
    with spaces, in the order of the operations."""
    answers: list[str] = []
    for op in ops:
        a = _expected_for(op, names)
        if a and a not in answers:
            answers.append(a)
    return " ".join(answers)


def build_confirmation(
    ops: Sequence[Operation],
    *,
    names: Mapping[int, str] | None = None,
    mode: str | None = None,
) -> ConfirmationRequest:
    """The confirmation for ``ops`` (pass the operations the policy said ``confirm`` for).

    Raises:
        ValueError: no operations.
    """
    if not ops:
        raise ValueError("nothing to confirm")
    lines = tuple(impact_line(op, names) for op in ops)
    expected = expected_answer(ops, names)
    clusters = sorted({op.cluster for op in ops})
    head = f"Confirm on cluster {', '.join(clusters)}" + (f" ({mode} mode)" if mode else "") + ":"
    body = []
    for op, line in zip(ops, lines):
        body.append(f"- {line}")
        body.append(f"  {_clean_describe(op)}")
    tail = f"Type {expected} to confirm; anything else cancels."
    return ConfirmationRequest("\n".join([head, *body, tail]), expected, lines)


def _clean_describe(op: Operation) -> str:
    return str(clean_text(op.describe(), 400))


def check_typed_answer(expected: str, given: str | None) -> bool:
    """True when ``given`` is exactly ``expected`` (surrounding spaces and Unicode composition
    aside). An empty expectation never matches."""
    if not expected or given is None:
        return False
    a = unicodedata.normalize("NFC", expected.strip())
    b = unicodedata.normalize("NFC", given.strip())
    return bool(a) and a == b
