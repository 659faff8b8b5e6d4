"""The schema-generated corpus, replayed through proxmox_api_call against the simulated cluster:
every invalid call is refused before anything is sent; every valid call reaches the cluster and
is not refused there as invalid (our wire encoding and the simulator's validation agree)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from proxmox_operator_mcp.schema import get_schema

from ..schema.corpus import generate_corpus
from .conftest import harness

pytestmark = pytest.mark.anyio


def _wire(params: dict[str, Any]) -> dict[str, Any]:
    """The corpus holds Python values; the tool takes JSON scalars or lists of them."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        out[k] = [str(x) if not isinstance(x, bool | int | float) else x for x in v] if isinstance(v, list) else v
    return out


async def test_every_invalid_corpus_call_is_refused_before_sending() -> None:
    _, invalid = generate_corpus(get_schema(), seed=0)
    assert len(invalid) >= 300
    async with harness("admin") as h:
        for call in invalid:
            res = await h.client.call_tool(
                "proxmox_api_call", {"method": call.method, "path": call.path, "params": _wire(call.params)}
            )
            assert res.is_error, f"accepted invalid call ({call.reason}): {call.method} {call.path} {call.params}"
        assert h.requests == [], f"{len(h.requests)} invalid calls reached the cluster: {h.requests[:5]}"


async def test_every_valid_corpus_call_reaches_the_cluster_and_passes_its_validation(tmp_path: Path) -> None:
    valid, _ = generate_corpus(get_schema(), seed=0)
    assert len({(c.method, c.path) for c in valid}) >= 300
    refused = []
    # Destructive calls need a human's confirmation by default; this test is about the wire.
    policy = tmp_path / "allow-all.toml"
    policy.write_text('[[rules]]\nid = "test-allow-all"\naction = "allow"\n')
    async with harness("admin", extra_env={"PROXMOX_MCP_POLICY_FILE": str(policy)}) as h:
        for call in valid:
            before = len(h.statuses)
            res = await h.client.call_tool(
                "proxmox_api_call", {"method": call.method, "path": call.path, "params": _wire(call.params)}
            )
            text = res.content[0].text if res.content else ""  # type: ignore[union-attr]
            assert len(h.statuses) > before, f"valid call not sent: {call.method} {call.path}: {text}"
            # A 400 may be PVE's answer about the cluster's state ("VM 100 already exists"), but
            # never one of the schema checks: those we must have caught before sending.
            if h.statuses[before][2] == 400 and any(m in text for m in SCHEMA_MESSAGES):
                refused.append(f"{call.method} {call.path} {call.params}: {text}")
    assert refused == []


SCHEMA_MESSAGES = (
    "type check",
    "property is not defined",
    "property is missing",
    "invalid format",
    "does not have a value in the enumeration",
    "must have a minimum value",
    "must have a maximum value",
    "value may only be",
    "does not match the regex pattern",
    "duplicate",
)
