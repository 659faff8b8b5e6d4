"""Toolsets, include and exclude lists: one filter chain, unknown names fail start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from mcp import Client

from proxmox_operator_mcp.errors import ConfigError
from proxmox_operator_mcp.server.app import build_server

from .helpers import UNREACHABLE, settings, tool_dump

pytestmark = pytest.mark.anyio


async def _names(**env: str) -> set[str]:
    async with Client(build_server(settings("admin", **env))) as client:
        return {t.name for t in (await client.list_tools()).tools}


async def test_default_toolsets_leave_the_optional_domains_off() -> None:
    names = await _names()
    assert "proxmox_vm_list" in names and "job_get" in names
    assert "proxmox_storage_list" not in names and "proxmox_pci_mapping_list" not in names


async def test_naming_toolsets_offers_exactly_those() -> None:
    names = await _names(PROXMOX_MCP_TOOLSETS="storage,tasks")
    assert "proxmox_storage_list" in names and "proxmox_task_list" in names
    assert "proxmox_vm_list" not in names


async def test_include_adds_a_tool_and_exclude_wins_over_everything() -> None:
    names = await _names(
        PROXMOX_MCP_TOOLSETS="inventory",
        PROXMOX_MCP_TOOLS="proxmox_storage_list,proxmox_vm_get",
        PROXMOX_MCP_EXCLUDE_TOOLS="proxmox_vm_get,proxmox_node_list",
    )
    assert "proxmox_storage_list" in names
    assert "proxmox_vm_get" not in names and "proxmox_node_list" not in names


async def test_a_hidden_tool_called_anyway_is_refused_clearly() -> None:
    async with Client(build_server(settings("admin", PROXMOX_MCP_EXCLUDE_TOOLS="proxmox_vm_list"))) as client:
        res = await client.call_tool("proxmox_vm_list", {})
    assert res.is_error and "not enabled" in res.content[0].text  # type: ignore[union-attr]


def test_unknown_toolset_or_tool_names_fail_with_every_problem_listed() -> None:
    with pytest.raises(ConfigError) as err:
        settings(PROXMOX_MCP_TOOLSETS="vm,storag", PROXMOX_MCP_EXCLUDE_TOOLS="proxmox_vm_lsit")
    text = err.value.to_text()
    assert "storag" in text and "proxmox_vm_lsit" in text


async def test_all_toolsets_stay_under_90_kb_in_admin_mode() -> None:
    async with Client(build_server(settings("admin", PROXMOX_MCP_TOOLSETS="all"))) as client:
        tools = [tool_dump(t) for t in (await client.list_tools()).tools]
    assert len(json.dumps(tools, separators=(",", ":"))) <= 90_000


async def test_default_tools_list_stays_under_40_kb_in_every_mode() -> None:
    for mode in ("read-only", "operator", "admin"):
        async with Client(build_server(settings(mode))) as client:
            tools = [tool_dump(t) for t in (await client.list_tools()).tools]
        assert len(json.dumps(tools, separators=(",", ":"))) <= 40_000, mode


def test_serve_refuses_an_unknown_toolset_from_the_command_line() -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PROXMOX_")}, **UNREACHABLE}
    proc = subprocess.run(
        [sys.executable, "-m", "proxmox_operator_mcp", "serve", "--toolsets", "nope"],
        input="", capture_output=True, text=True, env=env, timeout=60,
    )
    assert proc.returncode == 2 and "unknown toolset 'nope'" in proc.stderr and proc.stdout == ""
