"""The proxmox-mcp command: version, doctor, demo, sim — as subprocesses, like a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys

import anyio
import pytest

from proxmox_operator_mcp import __version__
from proxmox_operator_mcp.sim import SimOptions, run_sim

pytestmark = pytest.mark.anyio
CMD = [sys.executable, "-m", "proxmox_operator_mcp"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROXMOX_", "VAULT_"))}
    env.update(extra)
    return env


def test_version_prints_the_package_version() -> None:
    out = subprocess.run([*CMD, "version"], capture_output=True, text=True, env=_env(), timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == f"proxmox-operator-mcp {__version__}"


async def test_doctor_reports_a_healthy_cluster_without_printing_the_secret() -> None:
    async with run_sim(SimOptions(nodes=2, vms_per_node=1, cts_per_node=0)) as sim:
        with anyio.fail_after(60):
            proc = await anyio.run_process([*CMD, "doctor"], env=_env(**sim.env()), check=False)
    out = proc.stdout.decode()
    assert proc.returncode == 0, out + proc.stderr.decode()
    assert "PVE 9." in out and "pve1, pve2" in out and "All clusters OK" in out
    assert sim.token_secret not in out + proc.stderr.decode()


async def test_doctor_names_the_problem_when_the_token_is_wrong() -> None:
    async with run_sim(SimOptions(nodes=1, vms_per_node=1, cts_per_node=0)) as sim:
        env = _env(**{**sim.env(), "PROXMOX_API_TOKEN_SECRET": "00000000-0000-0000-0000-000000000000"})
        with anyio.fail_after(60):
            proc = await anyio.run_process([*CMD, "doctor"], env=env, check=False)
    out = proc.stdout.decode()
    assert proc.returncode == 1
    assert "401" in out and "00000000-0000-0000-0000-000000000000" not in out


async def test_doctor_refuses_a_certificate_that_does_not_match_the_pin() -> None:
    async with run_sim(SimOptions(nodes=1, vms_per_node=1, cts_per_node=0)) as sim:
        env = {**sim.env(), "PROXMOX_TLS_FINGERPRINT": "ab" * 32}
        env.pop("PROXMOX_TLS_CA_FILE", None)
        with anyio.fail_after(60):
            proc = await anyio.run_process([*CMD, "doctor"], env=_env(**env), check=False)
    out = proc.stdout.decode()
    assert proc.returncode == 1 and "fingerprint" in out.lower()
    assert sim.fingerprint[:16] in out.replace(":", "").lower()


def test_demo_prints_a_client_configuration_and_an_inspector_command() -> None:
    out = subprocess.run([*CMD, "demo"], capture_output=True, text=True, env=_env(), timeout=60)
    assert out.returncode == 0
    assert '"mcpServers"' in out.stdout and '"--stdio"' in out.stdout
    assert "@modelcontextprotocol/inspector --cli" in out.stdout


def test_demo_tour_starts_a_vm_through_a_real_stdio_session() -> None:
    out = subprocess.run(
        [*CMD, "demo", "--tour", "--nodes", "2", "--guests", "3", "--task-seconds", "0.1"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Tour finished: the VM started and its task ended OK." in out.stdout
    assert "already running" in out.stdout


def test_sim_help_lists_its_knobs() -> None:
    out = subprocess.run([*CMD, "sim", "--help"], capture_output=True, text=True, env=_env(), timeout=60)
    assert out.returncode == 0 and "--task-seconds" in out.stdout and "--fail-path" in out.stdout
