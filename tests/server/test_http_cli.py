"""`proxmox-mcp serve --transport http|both` as a real process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream
from mcp import Client, StdioServerParameters

from .helpers import UNREACHABLE
from .oidc import bearer, mcp_client

pytestmark = pytest.mark.anyio


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PROXMOX_", "VAULT_", "MCP_"))}
    return {**base, **UNREACHABLE, **extra}


async def test_serve_transport_http_answers_the_official_client_and_stops_on_sigterm() -> None:
    port = _free_port()
    env = _env(PROXMOX_MCP_HTTP_PORT=str(port), PROXMOX_MCP_LOG_LEVEL="INFO")
    argv = [sys.executable, "-m", "proxmox_operator_mcp", "serve", "--transport", "http"]
    async with await anyio.open_process(argv, env=env, stdin=subprocess.DEVNULL) as proc:
        assert proc.stderr is not None
        lines = BufferedByteReceiveStream(proc.stderr)
        try:
            with anyio.fail_after(60):
                while b"serving MCP over streamable HTTP at" not in await lines.receive_until(b"\n", 65536):
                    pass
                async with mcp_client(f"http://127.0.0.1:{port}/mcp", None) as client:
                    res = await client.call_tool("proxmox_capabilities", {})
                async with bearer(None) as raw:
                    health = await raw.get(f"http://127.0.0.1:{port}/healthz")
        finally:
            proc.terminate()
            with anyio.fail_after(20):
                code = await proc.wait()
    assert not res.is_error and health.status_code == 200
    assert code in (0, -15)  # uvicorn stops gracefully, then re-raises the signal it caught


def test_an_invalid_remote_configuration_exits_2_listing_every_problem() -> None:
    env = _env(PROXMOX_MCP_HTTP_HOST="0.0.0.0", PROXMOX_MCP_AUTH_MODE="oidc")
    proc = subprocess.run(
        [sys.executable, "-m", "proxmox_operator_mcp", "serve", "--transport", "http"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "PROXMOX_MCP_OIDC_ISSUER" in proc.stderr and "PROXMOX_MCP_HTTP_PUBLIC_BASE_URL" in proc.stderr
    assert proc.stdout == ""


async def test_serve_transport_both_serves_stdio_and_http_from_one_process() -> None:
    port = _free_port()
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "proxmox_operator_mcp", "serve", "--transport", "both"],
        env=_env(PROXMOX_MCP_HTTP_PORT=str(port)),
    )
    with anyio.fail_after(60):
        async with Client(params) as local:
            # The listener is bound before stdio is served: this connects even if uvicorn is a beat behind.
            async with mcp_client(f"http://127.0.0.1:{port}/mcp", None) as remote:
                over_http = await remote.call_tool("proxmox_capabilities", {})
            over_stdio = await local.call_tool("proxmox_capabilities", {})
    assert not over_http.is_error and not over_stdio.is_error
