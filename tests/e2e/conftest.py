"""End-to-end fixtures: Node 22 and the npm tools from scripts/setup-node.sh, and a real
oauth2-mock-server issuing client_credentials tokens.

Nothing here skips: a missing install fails with what to run.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx2
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

ROOT = Path(__file__).resolve().parents[2]
_ARCH = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower(), "x64")
NODE_BIN = ROOT / ".cache" / "node22" / "node_modules" / f"node-linux-{_ARCH}" / "bin"
NODE_MODULES = ROOT / ".cache" / "npm" / "node_modules"
PINNED = {
    "oauth2-mock-server": "9.3.0",
    "@modelcontextprotocol/inspector": "2.12.0",
    "@modelcontextprotocol/conformance": "0.1.16",
}
INSPECTOR = NODE_MODULES / "@modelcontextprotocol" / "inspector" / "clients" / "launcher" / "build" / "index.js"
CONFORMANCE = NODE_MODULES / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
OIDC_MOCK = ROOT / "scripts" / "oidc-mock.mjs"
BASELINE = Path(__file__).with_name("conformance-baseline.yaml")

_SETUP_HINT = (
    "run scripts/setup.sh --test (it runs scripts/setup-node.sh: Node 22 and the npm tools, from the npm registry)"
)


@pytest.fixture(scope="session")
def node() -> Path:
    """The Node 22 binary, after checking every pinned npm tool is installed."""
    binary = NODE_BIN / "node"
    if not binary.is_file():
        pytest.fail(f"Node 22 is not installed at {binary}: {_SETUP_HINT}", pytrace=False)
    problems = []
    for name, version in PINNED.items():
        manifest = NODE_MODULES / name / "package.json"
        found = json.loads(manifest.read_text())["version"] if manifest.is_file() else None
        if found != version:
            problems.append(f"{name}@{version} (found {found or 'nothing'})")
    if problems:
        pytest.fail(f"missing npm tools in .cache/npm: {', '.join(problems)}: {_SETUP_HINT}", pytrace=False)
    return binary


@pytest.fixture
def node_env(node: Path, tmp_path: Path) -> dict[str, str]:
    """Environment for the npm tools: Node 22 first on PATH, state kept in the test's temp dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROXMOX_", "MCP_"))}
    env.update(
        PATH=f"{node.parent}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(tmp_path),
        MCP_CATALOG_PATH=str(tmp_path / "inspector-catalog.json"),
        NO_UPDATE_NOTIFIER="1",
        NODE_NO_WARNINGS="1",
    )
    return env


@dataclass
class MockIssuer:
    """A running oauth2-mock-server (scripts/oidc-mock.mjs)."""

    url: str
    process: anyio.abc.Process
    lines: BufferedByteReceiveStream

    async def token(
        self, resource: str, scope: str = "pve.read", *, client_id: str = "e2e-client", **extra: str
    ) -> str:
        """A client_credentials access token for ``resource``."""
        form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "scope": scope,
            "resource": resource,
            **extra,
        }
        async with httpx2.AsyncClient(timeout=10) as client:
            resp = await client.post(self.url + "/token", data=form)
        resp.raise_for_status()
        return str(resp.json()["access_token"])

    async def jwks(self) -> dict[str, Any]:
        async with httpx2.AsyncClient(timeout=10) as client:
            resp = await client.get(self.url + "/jwks")
        resp.raise_for_status()
        return resp.json()  # type: ignore[no-any-return]

    async def rotate(self) -> str:
        """Publish a new signing key; returns its kid."""
        assert self.process.stdin is not None
        await self.process.stdin.send(b"rotate\n")
        with anyio.fail_after(10):
            return str(json.loads(await self.lines.receive_until(b"\n", 65536))["rotated"])


@pytest.fixture
async def oauth2_mock(node: Path, node_env: dict[str, str]) -> AsyncIterator[MockIssuer]:
    process = await anyio.open_process([str(node), str(OIDC_MOCK)], env=node_env, cwd=ROOT)
    assert process.stdout is not None and process.stdin is not None
    lines = BufferedByteReceiveStream(process.stdout)
    try:
        with anyio.fail_after(30):
            first = json.loads(await lines.receive_until(b"\n", 65536))
        yield MockIssuer(url=first["issuer"], process=process, lines=lines)
    finally:
        await process.stdin.aclose()  # EOF: the script stops its server and exits
        with anyio.move_on_after(10) as waited:
            await process.wait()
        if waited.cancelled_caught:
            process.kill()
            await process.wait()
        await process.aclose()
