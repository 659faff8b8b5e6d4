"""The tool surface: annotations, titles, strict inputs, and a snapshot of tools/list per mode."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from mcp import Client

from proxmox_operator_mcp.server.app import build_server
from proxmox_operator_mcp.tools import all_tools

from .helpers import settings, tool_dump

SNAPSHOTS = Path(__file__).parent / "snapshots"
pytestmark = pytest.mark.anyio


def test_every_tool_has_a_title_a_description_and_complete_annotations() -> None:
    for spec in all_tools():
        assert spec.title, spec.name
        assert len(spec.description) > 40, spec.name
        # job_* keep the names users of the typed TypeScript server already call.
        assert spec.name.startswith(("proxmox_", "job_")), spec.name
        assert isinstance(spec.read_only, bool) and isinstance(spec.destructive, bool)
        assert not (spec.read_only and spec.destructive), spec.name


async def test_listed_tools_carry_all_four_annotation_hints_and_an_output_schema() -> None:
    async with Client(build_server(settings("admin"))) as client:
        tools = (await client.list_tools()).tools
    assert tools
    for t in tools:
        ann = t.annotations
        assert ann is not None, t.name
        for hint in ("read_only_hint", "destructive_hint", "idempotent_hint", "open_world_hint"):
            assert getattr(ann, hint) is not None, (t.name, hint)
        assert t.title
        assert t.output_schema and t.output_schema.get("type") == "object", t.name


def test_every_tool_input_refuses_unknown_arguments() -> None:
    for spec in all_tools():
        schema = spec.input_model.model_json_schema()
        assert schema.get("additionalProperties") is False, spec.name


async def test_read_only_mode_lists_only_read_only_tools() -> None:
    async with Client(build_server(settings("read-only"))) as client:
        tools = (await client.list_tools()).tools
    names = {t.name for t in tools}
    assert "proxmox_vm_action" not in names and "proxmox_lxc_action" not in names
    assert all(t.annotations and t.annotations.read_only_hint for t in tools)
    api_call = next(t for t in tools if t.name == "proxmox_api_call")
    assert api_call.input_schema["properties"]["method"]["const"] == "GET"


@pytest.mark.parametrize(
    ("mode", "toolsets"),
    [("read-only", None), ("operator", None), ("admin", None), ("read-only", "all"), ("admin", "all")],
)
async def test_tools_list_matches_the_reviewed_snapshot(mode: str, toolsets: str | None) -> None:
    env = {"PROXMOX_MCP_TOOLSETS": toolsets} if toolsets else {}
    async with Client(build_server(settings(mode, **env))) as client:
        tools = [tool_dump(t) for t in (await client.list_tools()).tools]
    text = json.dumps(tools, indent=1, sort_keys=True) + "\n"
    path = SNAPSHOTS / (f"tools_{mode}.json" if toolsets is None else f"tools_{mode}_{toolsets}.json")
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.write_text(text)
    assert path.exists(), f"no snapshot yet: run UPDATE_SNAPSHOTS=1 pytest {__file__}"
    assert text == path.read_text(), (
        f"tools/list changed for {mode} mode; review the diff and run with UPDATE_SNAPSHOTS=1 to accept it"
    )


async def test_default_tools_list_stays_under_40_kb() -> None:
    async with Client(build_server(settings("read-only"))) as client:
        tools = [tool_dump(t) for t in (await client.list_tools()).tools]
    assert len(json.dumps(tools, separators=(",", ":"))) <= 40_000
