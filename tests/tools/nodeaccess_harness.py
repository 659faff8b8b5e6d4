"""The MCP server, through the official client, against the simulated cluster with its SSH endpoints.

Like ``conftest.harness()`` (REST in process through the ASGI app), plus the simulator's SSH
endpoint per node on loopback, pinned and authorized through the ``PROXMOX_SHELL_SSH_*``
environment (one node) or a configuration file (every node).
"""

from __future__ import annotations

import re

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client

from proxmox_operator_mcp.config import load_settings
from proxmox_operator_mcp.server.app import ProxmoxMCP, build_server
from proxmox_operator_mcp.sim import SimCluster, SimOptions, create_app
from proxmox_operator_mcp.sim.ssh import SimSsh, serve_ssh

from .conftest import SIM_ENV


@dataclass
class NodeHarness:
    client: Client
    cluster: SimCluster
    ssh: SimSsh
    server: ProxmoxMCP
    requests: list[tuple[str, str]]

    async def call(self, name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        res = await self.client.call_tool(name, args or {})
        assert not res.is_error, res.content[0].text if res.content else res  # type: ignore[union-attr]
        return res.structured_content or {}

    async def fail(self, name: str, args: dict[str, Any] | None = None) -> str:
        res = await self.client.call_tool(name, args or {})
        assert res.is_error, f"expected an error from {name}, got {res.structured_content}"
        return res.content[0].text  # type: ignore[union-attr]

    async def tool_names(self) -> set[str]:
        return {t.name for t in (await self.client.list_tools()).tools}


def _toml_config(path: Path, ssh: SimSsh, token: tuple[str, str, str], access: str, key_ref: str | None) -> Path:
    key = path / "client_key"
    key.write_text(ssh.client_key.get_secret_value())
    key.chmod(0o600)
    user, token_id, secret = token
    key_line = f"private_key_path = {json.dumps(str(key))}"
    lines = [
        f'access = "{access}"',
        "[[clusters]]",
        'name = "default"',
        'endpoints = ["127.0.0.1"]',
        f'token_user = "{user}"',
        f'token_id = "{token_id}"',
        f'token_secret = "{secret}"',
        'default_node = "pve1"',
        *([f'ssh_private_key_ref = "{key_ref}"'] if key_ref else []),
        "[clusters.ssh]",
        'username = "root"',
        *([] if key_ref else [key_line]),
    ]
    for node, ep in ssh.endpoints.items():
        lines += [f"[clusters.ssh.nodes.{node}]", 'host = "127.0.0.1"', f"port = {ep.port}",
                  f"host_keys = [{json.dumps(ep.host_key_line)}]"]  # fmt: skip
    config = path / "config.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


@asynccontextmanager
async def node_harness(
    access: str = "operator",
    *,
    options: SimOptions | None = None,
    token: tuple[str, str, str | None] | None = None,
    shell: bool = False,
    config_dir: Path | None = None,
    env: dict[str, str] | None = None,
    key_ref: str | None = None,
) -> AsyncIterator[NodeHarness]:
    """The server against a simulated cluster with SSH. ``config_dir``: configure every node's SSH
    endpoint through a configuration file there (else only pve1's, through the environment).
    ``token``: (user, token id, secret); a secret of None takes the simulator's own. ``key_ref``:
    with ``config_dir``, the client key comes from this secret reference (``env:VAR``: the harness
    puts the key into VAR of the settings' environment)."""
    cluster = SimCluster(options or SimOptions(nodes=2, vms_per_node=4, cts_per_node=2, task_seconds=0.05))
    app = create_app(cluster)
    seen: list[tuple[str, str]] = []

    async def recording_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append((scope["method"], scope["path"]))
        await app(scope, receive, send)

    async with serve_ssh(cluster) as ssh:
        user, token_id, secret = token or ("root", "mcp", None)
        if secret is None:  # the simulator's own secret of that token
            userid = user if "@" in user else f"{user}@pam"
            secret = cluster.access.users[userid].tokens[token_id].secret
        tok = (user, token_id, secret)
        if config_dir is not None:
            settings_env = {"PROXMOX_MCP_CONFIG": str(_toml_config(config_dir, ssh, tok, access, key_ref))}
            if key_ref and key_ref.startswith("env:"):
                settings_env[key_ref[4:]] = ssh.client_key.get_secret_value()
        else:
            settings_env = {
                **SIM_ENV,
                "PROXMOX_API_TOKEN_USER": tok[0],
                "PROXMOX_API_TOKEN_ID": tok[1],
                "PROXMOX_API_TOKEN_SECRET": tok[2],
                "PROXMOX_MCP_ACCESS": access,
                **ssh.env("pve1"),
            }
        if shell:
            settings_env["PROXMOX_MCP_ENABLE_SHELL"] = "1"
        settings_env.update(env or {})
        server = build_server(load_settings(settings_env), rest_transport=httpx2.ASGITransport(app=recording_app))
        async with Client(server, mode="legacy", elicitation_callback=consenting_human) as client:
            yield NodeHarness(client=client, cluster=cluster, ssh=ssh, server=server, requests=seen)



async def consenting_human(context: Any, params: Any) -> Any:
    """Confirms whatever is asked, by typing the text the confirmation names."""
    from mcp.types import ElicitResult

    m = re.search(r"Type (.+) to confirm; anything else cancels\.$", params.message)
    return ElicitResult(action="accept", content={"confirm": m.group(1) if m else ""})
