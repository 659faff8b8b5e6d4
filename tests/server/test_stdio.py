"""The real thing: `python -m proxmox_operator_mcp serve` as a subprocess, over stdio."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import anyio
import pytest
from mcp import Client, StdioServerParameters

from proxmox_operator_mcp.sim import SimOptions, run_sim

from .helpers import UNREACHABLE

pytestmark = pytest.mark.anyio


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PROXMOX_", "VAULT_"))}


def _params(env: dict[str, str]) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "proxmox_operator_mcp", "serve"], env={**_base_env(), **env}
    )


async def test_a_stdio_client_lists_and_calls_tools_against_the_simulated_cluster_over_https() -> None:
    async with run_sim(SimOptions(nodes=2, vms_per_node=3, task_seconds=0.05)) as sim:
        env = {**sim.env(), "PROXMOX_MCP_ACCESS": "operator"}
        with anyio.fail_after(60):
            async with Client(_params(env)) as client:
                names = {t.name for t in (await client.list_tools()).tools}
                assert {"proxmox_inventory_overview", "proxmox_vm_action", "proxmox_api_call"} <= names
                res = await client.call_tool("proxmox_inventory_overview", {})
                assert not res.is_error, res.content
                assert res.structured_content and res.structured_content["nodes_total"] == 2
                vms = await client.call_tool("proxmox_vm_list", {"status": "stopped", "template": False})
                vmid = vms.structured_content["items"][0]["vmid"]  # type: ignore[index]
                started = await client.call_tool("proxmox_vm_action", {"vmid": vmid, "action": "start", "wait": 10})
                assert not started.is_error, started.content
                assert started.structured_content["task"]["ok"] is True  # type: ignore[index]


async def test_the_server_starts_and_answers_when_proxmox_is_down() -> None:
    with anyio.fail_after(60):
        async with Client(_params(UNREACHABLE)) as client:
            tools = (await client.list_tools()).tools
            assert tools
            with anyio.fail_after(15):
                res = await client.call_tool("proxmox_node_list", {})
            assert res.is_error
            text = res.content[0].text  # type: ignore[union-attr]
            assert "127.0.0.1" in text and "Traceback" not in text
            caps = await client.call_tool("proxmox_capabilities", {})
            assert not caps.is_error
            assert caps.structured_content["clusters"][0]["reachable"] is False  # type: ignore[index]


def test_stdout_carries_only_protocol_messages() -> None:
    msgs = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "proxmox_node_list", "arguments": {}}},
    ]
    env = {**_base_env(), **UNREACHABLE, "PROXMOX_MCP_LOG_LEVEL": "DEBUG"}
    proc = subprocess.run(
        [sys.executable, "-m", "proxmox_operator_mcp", "serve"],
        input="".join(json.dumps(m) + "\n" for m in msgs),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 3, proc.stdout
    for line in lines:
        assert json.loads(line)["jsonrpc"] == "2.0"
    assert UNREACHABLE["PROXMOX_API_TOKEN_SECRET"] not in proc.stdout + proc.stderr


def test_invalid_configuration_lists_every_problem_on_stderr_and_exits_2() -> None:
    env = {
        **_base_env(),
        "PROXMOX_HOST": "pve1",
        "PROXMOX_API_PORT": "eighty",
        "PROXMOX_API_TOKEN_USER": "root",
        "PROXMOX_TLS_FINGERPRINT": "nope",
        "PROXMOX_MCP_ACCESS": "superuser",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "proxmox_operator_mcp", "serve"],
        input="",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    for needle in ("PROXMOX_API_PORT", "PROXMOX_TLS_FINGERPRINT", "PROXMOX_MCP_ACCESS"):
        assert needle in proc.stderr
    assert "Traceback" not in proc.stderr
