"""The MCP conformance suite against our streamable HTTP mode, with the committed baseline of
expected failures (fixture scenarios only; see conformance-baseline.yaml)."""

from __future__ import annotations

import re
from pathlib import Path

import anyio
import pytest

from proxmox_operator_mcp.sim import SimOptions, run_sim

from ..server.helpers import settings
from ..server.oidc import serving
from .conftest import BASELINE, CONFORMANCE

pytestmark = pytest.mark.anyio


def baseline_entries() -> list[str]:
    return re.findall(r"^\s+-\s+([a-z0-9-]+)", BASELINE.read_text(encoding="utf-8"), flags=re.M)


async def test_the_conformance_suite_passes_with_the_committed_baseline(
    node: Path, node_env: dict[str, str], tmp_path: Path
) -> None:
    # Rate limiting is the edge's business, tested elsewhere; the suite fires requests in bursts.
    env = {"PROXMOX_MCP_RATE_LIMIT_PER_MINUTE": "0"}
    async with run_sim(SimOptions(nodes=2, vms_per_node=2, task_seconds=0.05)) as sim:
        async with serving(env, settings("operator", **sim.env())) as svc:
            argv = [
                str(node),
                str(CONFORMANCE),
                "server",
                "--url",
                svc.url,
                "--expected-failures",
                str(BASELINE),
                "--output-dir",
                str(tmp_path / "results"),
            ]
            with anyio.fail_after(300):
                done = await anyio.run_process(argv, env=node_env, cwd=tmp_path, check=False)
    out = done.stdout.decode() + done.stderr.decode()
    assert done.returncode == 0, out[-6000:]
    for always in ("server-initialize", "ping", "tools-list", "tools-call-error", "dns-rebinding-protection"):
        assert re.search(rf"✓ {always}:", out), f"{always} did not pass:\n{out[-4000:]}"


def test_the_baseline_lists_only_fixture_scenarios_and_missing_capabilities() -> None:
    entries = baseline_entries()
    assert len(entries) == len(set(entries))
    core = {
        "server-initialize",
        "ping",
        "tools-list",
        "tools-call-simple-text",
        "tools-call-error",
        "resources-list",
        "prompts-list",
        "server-sse-multiple-streams",
        "dns-rebinding-protection",
    }
    assert not core & set(entries), "a scenario every server must pass is in the baseline"
