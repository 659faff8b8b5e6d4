"""``proxmox-mcp demo``: client configuration to paste, and a scripted tour with the official client."""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from typing import Any

__all__ = ["print_client_config", "run_tour"]


def _command() -> list[str]:
    exe = shutil.which("proxmox-mcp")
    if exe:
        return [os.path.abspath(exe)]
    return [sys.executable, "-m", "proxmox_operator_mcp"]


def print_client_config() -> None:
    cmd = _command()
    config = {"mcpServers": {"proxmox-demo": {"command": cmd[0], "args": [*cmd[1:], "demo", "--stdio"]}}}
    inspector = " ".join(
        ["npx", "@modelcontextprotocol/inspector", "--cli", *cmd, "demo", "--stdio", "--method", "tools/list"]
    )
    print(
        textwrap.dedent(
            """\
            proxmox-operator-mcp demo
            =========================
            `proxmox-mcp demo --stdio` serves MCP over stdio against a simulated 3-node Proxmox VE cluster
            that runs inside the same process (HTTPS on 127.0.0.1, real PVE API shapes, operator mode),
            with an SSH endpoint per node (pinned host keys) for the CLI and file tools.

            1. Paste into your MCP client's configuration (Claude Desktop, Cursor, VS Code, Gemini CLI ...):
            """
        )
    )
    print(textwrap.indent(json.dumps(config, indent=2), "   "))
    print("\n2. Or list the tools with the MCP Inspector CLI (Node 20+):\n")
    print("   " + inspector)
    print("\n3. Or watch a scripted session:  proxmox-mcp demo --tour\n")


def _show(title: str, payload: Any) -> None:
    print(f"\n── {title}")
    text = json.dumps(payload, indent=2, sort_keys=False)
    lines = text.splitlines()
    if len(lines) > 40:
        lines = lines[:40] + [f"   … ({len(lines) - 40} more lines)"]
    print(textwrap.indent("\n".join(lines), "   "))


async def run_tour(options: Any) -> int:
    """Spawn ``proxmox-mcp demo --stdio`` and drive it with the official MCP client over real stdio."""
    from mcp import Client, StdioServerParameters

    cmd = _command()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROXMOX_")}
    env["PROXMOX_MCP_ACCESS"] = "operator"
    params = StdioServerParameters(
        command=cmd[0],
        args=[
            *cmd[1:],
            "demo",
            "--stdio",
            "--nodes",
            str(options.nodes),
            "--guests",
            str(options.vms_per_node),
            "--seed",
            str(options.seed),
            "--task-seconds",
            str(options.task_seconds),
        ],
        env=env,
    )
    print("Starting `proxmox-mcp demo --stdio` (simulated cluster + MCP server over stdio) ...")
    async with Client(params, read_timeout_seconds=60) as client:
        info = client.server_info
        print(f"Connected: {info.name if info else '?'} {info.version if info else ''}, protocol {client.protocol_version}")
        tools = await client.list_tools()
        print(f"{len(tools.tools)} tools: " + ", ".join(t.name for t in tools.tools))

        async def call(name: str, args: dict[str, Any]) -> dict[str, Any]:
            res = await client.call_tool(name, args)
            if res.is_error:
                text = res.content[0].text if res.content else "?"  # type: ignore[union-attr]
                raise RuntimeError(f"{name} failed: {text}")
            return res.structured_content or {}

        overview = await call("proxmox_inventory_overview", {})
        _show("proxmox_inventory_overview {}", overview)
        stopped = await call("proxmox_vm_list", {"status": "stopped", "template": False, "limit": 5,
                                                  "fields": ["vmid", "name", "node", "status"]})
        _show('proxmox_vm_list {"status": "stopped", "limit": 5, "fields": [...]}', stopped)
        if not stopped.get("items"):
            print("No stopped VM to start; the tour ends here.")
            return 0
        vmid = stopped["items"][0]["vmid"]
        started = await call("proxmox_vm_action", {"vmid": vmid, "action": "start", "wait": 30})
        _show(f'proxmox_vm_action {{"vmid": {vmid}, "action": "start", "wait": 30}}', started)
        vm = await call("proxmox_vm_get", {"vmid": vmid})
        _show(f'proxmox_vm_get {{"vmid": {vmid}}}  (status only)', {"status": vm.get("status", {}).get("status"),
                                                                       "name": vm.get("config", {}).get("name")})
        again = await client.call_tool("proxmox_vm_action", {"vmid": vmid, "action": "start"})
        _show("starting it again is refused before anything is sent",
              {"isError": again.is_error, "text": again.content[0].text if again.content else ""})  # type: ignore[union-attr]
        bad = await client.call_tool("proxmox_api_call", {"method": "GET", "path": "/nodes/pve1/qemu/1/status"})
        _show("proxmox_api_call with an invalid path is refused by the schema",
              {"isError": bad.is_error, "text": bad.content[0].text if bad.content else ""})  # type: ignore[union-attr]

        # The CLI plane (pvesh/qm over SSH, pinned host key) sees the same cluster as REST.
        node = vm.get("node") or "pve1"
        status = await call("proxmox_cli_run", {"argv": ["qm", "status", str(vmid)], "node": node})
        _show(f'proxmox_cli_run {{"argv": ["qm", "status", "{vmid}"]}}  (over SSH)',
              {"kind": status.get("kind"), "stdout": status.get("stdout")})
        pvesm = await call("proxmox_node_terminal_run", {"command": "pvesm status", "node": node})
        _show('proxmox_node_terminal_run {"command": "pvesm status"}', (pvesm.get("stdout") or "").splitlines())
        refused = await client.call_tool("proxmox_node_terminal_run", {"command": f"qm stop {vmid}"})
        _show("a command that changes something is refused by the read-only terminal",
              {"isError": refused.is_error, "text": refused.content[0].text if refused.content else ""})  # type: ignore[union-attr]
        # The file plane (SFTP): PVE's own configuration files.
        storage = await call("proxmox_file_read", {"path": "/etc/pve/storage.cfg"})
        _show('proxmox_file_read {"path": "/etc/pve/storage.cfg"}  (over SFTP)',
              {"size": storage.get("size"), "sha256": storage.get("sha256"),
               "content": (storage.get("content") or "").splitlines()})
        cli_ok = "status: running" in (status.get("stdout") or "")
    ok = bool(started.get("task", {}).get("ok"))
    print("\nTour finished: " + ("the VM started and its task ended OK." if ok else "the start task did not end OK."))
    print("Over SSH, qm " + ("also sees it running." if cli_ok else "does NOT see it running."))
    return 0 if ok and cli_ok else 1
