"""CliRunner against the real sshd with fake pvesh/qm/pct on its PATH."""

from __future__ import annotations

import json

import anyio
import pytest

from proxmox_operator_mcp.errors import InvalidArgumentError, ProxmoxServerError
from proxmox_operator_mcp.transports.cli import CliRunner
from proxmox_operator_mcp.transports.ssh import SshPool

from . import sshd

pytestmark = pytest.mark.anyio


@pytest.fixture
async def cli(real_sshd: sshd.Sshd):  # type: ignore[no-untyped-def]
    async with SshPool() as pool:
        yield CliRunner(pool, bare_names=True)


async def test_pvesh_get_returns_parsed_json_with_params_passed_literally(cli: CliRunner, real_sshd: sshd.Sshd) -> None:
    with anyio.fail_after(20):
        data = await cli.pvesh(
            real_sshd.target(), "GET", "/cluster/resources", {"type": "vm", "note": "a b; $(id)"}, timeout=10
        )
    assert data == {"argv": ["get", "/cluster/resources", "--type=vm", "--note=a b; $(id)", "--output-format", "json"]}


async def test_pvesh_worker_call_returns_the_upid(cli: CliRunner, real_sshd: sshd.Sshd) -> None:
    with anyio.fail_after(20):
        upid = await cli.pvesh(real_sshd.target(), "POST", "/nodes/pve1/qemu/101/status/start", timeout=10)
    assert upid == "UPID:pve1:0000ABCD:00112233:65000000:qmstart:101:root@pam:"


async def test_pvesh_set_returning_nothing_is_null(cli: CliRunner, real_sshd: sshd.Sshd) -> None:
    with anyio.fail_after(20):
        assert (
            await cli.pvesh(real_sshd.target(), "PUT", "/nodes/pve1/qemu/101/config", {"onboot": True}, timeout=10)
            is None
        )


async def test_pretty_json_after_task_output_is_parsed(cli: CliRunner, real_sshd: sshd.Sshd) -> None:
    with anyio.fail_after(20):
        data = await cli.pvesh(real_sshd.target(), "GET", "/pretty", timeout=10)
    assert data["nested"] == {"a": [1, 2]}


async def test_a_failing_pvesh_raises_an_api_error_with_its_message(cli: CliRunner, real_sshd: sshd.Sshd) -> None:
    with anyio.fail_after(20), pytest.raises(ProxmoxServerError) as info:
        await cli.pvesh(real_sshd.target(), "DELETE", "/fail", timeout=10)
    err = info.value
    assert (err.status, err.pve_message, err.method, err.path) == (500, "VM 999 not running", "DELETE", "/fail")
    assert "exit status 255" in (err.hint or "")


async def test_cli_run_returns_status_output_and_duration(cli: CliRunner, real_sshd: sshd.Sshd) -> None:
    with anyio.fail_after(20):
        result = await cli.run(real_sshd.target(), ["pct", "exec", "200", "--", "sh", "-c", "echo $HOME"], timeout=10)
    assert result.ok and result.duration > 0
    assert json.loads(result.stdout) == ["exec", "200", "--", "sh", "-c", "echo $HOME"]


async def test_cli_run_refuses_programs_outside_the_allow_list(cli: CliRunner, real_sshd: sshd.Sshd) -> None:
    with pytest.raises(InvalidArgumentError, match="not a Proxmox command"):
        await cli.run(real_sshd.target(), ["sleeper", "/tmp/x"], timeout=10)
