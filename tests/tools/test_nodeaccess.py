"""The CLI and shell tools through the official MCP client, against the simulated cluster's SSH
endpoints: what each access mode lists and allows, and that a CLI command changes the same
state the REST tools read."""

from __future__ import annotations

import logging
from pathlib import Path

import anyio
import asyncssh
import pytest

from proxmox_operator_mcp.sim import SimOptions
from proxmox_operator_mcp.tools import nodeaccess

from .nodeaccess_harness import node_harness

pytestmark = pytest.mark.anyio

NODE_TOOLS = {
    "proxmox_cli_run",
    "proxmox_node_terminal_run",
    "proxmox_lxc_exec",
    "proxmox_shell_run",
    "proxmox_file_read",
    "proxmox_file_write",
    "proxmox_bootstrap_node_access",
}


@pytest.mark.parametrize(
    ("access", "listed"),
    [
        ("read-only", {"proxmox_cli_run", "proxmox_node_terminal_run", "proxmox_file_read"}),
        ("operator", {"proxmox_cli_run", "proxmox_node_terminal_run", "proxmox_file_read"}),
        ("admin", NODE_TOOLS - {"proxmox_shell_run"}),
    ],
)
async def test_each_access_mode_lists_its_node_tools_and_the_shell_only_when_enabled(
    access: str, listed: set[str]
) -> None:
    async with node_harness(access) as h:
        with anyio.fail_after(20):
            tools = {t.name: t for t in (await h.client.list_tools()).tools}
    assert set(tools) & NODE_TOOLS == listed
    cli = tools["proxmox_cli_run"]
    assert cli.annotations is not None
    assert cli.annotations.read_only_hint is (access == "read-only")


async def test_the_shell_tool_is_listed_in_admin_mode_when_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROXMOX_MCP_ENABLE_SHELL", "1")
    async with node_harness("admin", shell=True) as h:
        with anyio.fail_after(20):
            tools = {t.name: t for t in (await h.client.list_tools()).tools}
            out = await h.call("proxmox_shell_run", {"command": "hostname; qm status 100 && echo done"})
    shell = tools["proxmox_shell_run"]
    assert shell.annotations and shell.annotations.destructive_hint and not shell.annotations.read_only_hint
    assert out["ok"] and out["stdout"] == "pve1\nstatus: running\ndone\n"
    assert out["argv"][:2] == ["sh", "-c"]


async def test_a_listed_shell_tool_still_refuses_when_the_settings_disable_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nodeaccess, "shell_listing_hook", lambda: True)
    async with node_harness("admin", shell=False) as h:
        with anyio.fail_after(20):
            assert "proxmox_shell_run" in await h.tool_names()
            text = await h.fail("proxmox_shell_run", {"command": "id"})
    assert "disabled" in text and "Nothing was sent" in text
    assert h.ssh.connections == {}


async def test_read_only_mode_runs_read_subcommands_and_refuses_changes_before_connecting() -> None:
    async with node_harness("read-only") as h:
        with anyio.fail_after(20):
            text = await h.fail("proxmox_cli_run", {"argv": ["qm", "start", "101"]})
            assert h.ssh.connections == {}  # refused by the gate: nothing reached the node
            out = await h.call("proxmox_cli_run", {"argv": ["qm", "status", "101"]})
    assert "read-only mode" in text and "Nothing was sent" in text
    assert h.cluster.state.guests[101].status == "stopped"
    assert out == {**out, "kind": "read", "ok": True, "stdout": "status: stopped\n", "node": "pve1"}


async def test_a_cli_command_changes_the_state_the_rest_tools_see() -> None:
    async with node_harness("operator") as h:
        with anyio.fail_after(30):
            out = await h.call("proxmox_cli_run", {"argv": ["qm", "start", "101"]})
            vm = await h.call("proxmox_vm_get", {"vmid": 101})
            listed = await h.call("proxmox_cli_run", {"argv": ["qm", "list"]})
    assert out["kind"] == "write" and out["exit_status"] == 0
    assert vm["status"]["status"] == "running"
    row = next(line for line in listed["stdout"].splitlines() if line.split()[0] == "101")
    assert "running" in row


async def test_pvesh_over_ssh_returns_what_rest_returns() -> None:
    async with node_harness("operator") as h:
        with anyio.fail_after(30):
            over_ssh = await h.call(
                "proxmox_cli_run",
                {"argv": ["pvesh", "get", "/nodes/pve1/qemu/101/config", "--output-format", "json"]},
            )
            over_rest = await h.call("proxmox_api_call", {"method": "GET", "path": "/nodes/pve1/qemu/101/config"})
    import json

    assert json.loads(over_ssh["stdout"]) == over_rest["data"]


async def test_a_destructive_command_needs_admin_mode() -> None:
    async with node_harness("operator") as h:
        with anyio.fail_after(20):
            text = await h.fail("proxmox_cli_run", {"argv": ["qm", "stop", "100"]})
    assert "needs admin mode" in text
    assert h.cluster.state.guests[100].status == "running"


async def test_a_failing_command_is_a_result_with_its_exit_status_and_message() -> None:
    async with node_harness("operator") as h:
        with anyio.fail_after(20):
            out = await h.call("proxmox_cli_run", {"argv": ["qm", "start", "100"]})
    assert out["ok"] is False and out["exit_status"] == 255
    assert out["stderr"] == "VM 100 already running\n"


async def test_programs_outside_the_allow_list_are_refused_before_anything_is_sent() -> None:
    async with node_harness("admin") as h:
        with anyio.fail_after(20):
            text = await h.fail("proxmox_cli_run", {"argv": ["bash", "-c", "id"]})
    assert "not a Proxmox command" in text and "pvesh" in text
    assert h.ssh.connections == {}


async def test_the_terminal_runs_read_only_command_lines_and_refuses_the_rest() -> None:
    async with node_harness("read-only") as h:
        with anyio.fail_after(20):
            version = await h.call("proxmox_node_terminal_run", {"command": "pveversion"})
            storage = await h.call("proxmox_node_terminal_run", {"command": "pvesm status"})
            piped = await h.fail("proxmox_node_terminal_run", {"command": "qm list | grep running"})
            write = await h.fail("proxmox_node_terminal_run", {"command": "qm start 101"})
            other = await h.fail("proxmox_node_terminal_run", {"command": "rm -rf /"})
    assert version["stdout"].startswith("pve-manager/9.2")
    assert storage["stdout"].splitlines()[0].split()[:3] == ["Name", "Type", "Status"]
    assert "shell operator '|'" in piped
    assert "not a read-only command" in write
    assert "not one of the read-only node commands" in other


async def test_lxc_exec_runs_inside_a_running_container_on_its_node(tmp_path: Path) -> None:
    async with node_harness("admin", config_dir=tmp_path) as h:
        on_pve2 = next(g for g in h.cluster.state.guests.values() if g.kind == "lxc" and g.node == "pve2")
        on_pve2.status = "running"
        with anyio.fail_after(20):
            out = await h.call("proxmox_lxc_exec", {"vmid": on_pve2.vmid, "command": ["cat", "/etc/hostname"]})
            missing = await h.call("proxmox_lxc_exec", {"vmid": on_pve2.vmid, "command": ["nosuch"]})
    assert out["node"] == "pve2" and out["stdout"] == on_pve2.config["hostname"] + "\n"
    assert out["argv"] == ["pct", "exec", str(on_pve2.vmid), "--", "cat", "/etc/hostname"]
    assert missing["exit_status"] == 127 and not missing["ok"]
    assert h.ssh.connections.get("pve2") == 1 and "pve1" not in h.ssh.connections


async def test_a_client_key_from_the_secret_backend_is_read_on_first_connect(tmp_path: Path) -> None:
    async with node_harness("read-only", config_dir=tmp_path, key_ref="env:PMCP_TEST_SSH_KEY") as h:
        assert h.server.pve_settings.cluster().ssh["pve1"].client_key is None  # not read at load
        with anyio.fail_after(20):
            out = await h.call("proxmox_node_terminal_run", {"command": "hostname", "node": "pve2"})
    assert out["stdout"] == "pve2\n"


async def test_lxc_exec_on_a_stopped_container_says_so_before_connecting() -> None:
    async with node_harness("admin") as h:
        ct = next(g for g in h.cluster.state.guests.values() if g.kind == "lxc" and g.node == "pve1")
        ct.status = "stopped"
        with anyio.fail_after(20):
            text = await h.fail("proxmox_lxc_exec", {"vmid": ct.vmid, "command": ["id"]})
    assert f"container {ct.vmid} is stopped" in text and "proxmox_lxc_action" in text
    assert h.ssh.connections == {}


async def test_a_node_without_ssh_access_says_how_to_configure_it() -> None:
    async with node_harness("admin") as h:
        with anyio.fail_after(20):
            text = await h.fail("proxmox_cli_run", {"argv": ["qm", "list"], "node": "pve2"})
    assert "no SSH access for node pve2" in text and "SSH is configured for: pve1" in text
    assert "PROXMOX_SHELL_SSH_HOST" in text and "[clusters.ssh.nodes.pve2]" in text


async def test_a_guest_exec_the_token_may_not_run_is_served_over_the_cli_plane() -> None:
    options = SimOptions(nodes=1, vms_per_node=2, cts_per_node=0, task_seconds=0.05)
    async with node_harness("admin", options=options, token=("auditor@pve", "ro", None)) as h:
        path = "/nodes/pve1/qemu/100/agent"
        with anyio.fail_after(30):
            started = await h.call("proxmox_api_call", {"method": "POST", "path": f"{path}/exec",
                                                       "params": {"command": ["echo", "hi"]}})  # fmt: skip
            status = await h.call("proxmox_api_call", {"method": "GET", "path": f"{path}/exec-status",
                                                      "params": {"pid": started["data"]["pid"]}})  # fmt: skip
            h.server.gate.router.cli_fallback = False
            refused = await h.fail("proxmox_api_call", {"method": "POST", "path": f"{path}/exec",
                                                       "params": {"command": ["id"]}})  # fmt: skip
    assert ("POST", f"/api2/json{path}/exec") in h.requests  # REST was asked first
    assert status["data"]["exitcode"] == 0 and status["data"]["out-data"] == "hi\n"
    assert "403" in refused and "VM.GuestAgent.Unrestricted" in refused


async def test_bootstrap_shows_the_fingerprint_then_installs_our_key_once_confirmed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fresh = asyncssh.generate_private_key("ssh-ed25519")
    fresh_pem = fresh.export_private_key("openssh").decode()
    canary = "canary-Pa55w0rd-7f3e"
    async with node_harness("admin", env={"PROXMOX_SHELL_SSH_PRIVATE_KEY": fresh_pem}) as h:
        seen: list[str] = []

        async def show(name: str, args: dict[str, object]) -> str:
            res = await h.client.call_tool(name, args)
            text = "".join(getattr(c, "text", "") for c in res.content) + repr(res.structured_content)
            seen.append(text)
            return text

        with anyio.fail_after(30):
            refused = await h.fail("proxmox_cli_run", {"argv": ["qm", "list"]})
            first = await h.call("proxmox_bootstrap_node_access", {})
            fp = first["fingerprint"]
            wrong = await show("proxmox_bootstrap_node_access",
                               {"confirm_fingerprint": "SHA256:" + "A" * 43, "password": canary})  # fmt: skip
            bad_pw = await show("proxmox_bootstrap_node_access", {"confirm_fingerprint": fp, "password": canary})
            assert h.cluster.fs.authorized_keys() == [h.ssh.client_key_line + " sim-client"]
            installed = await h.call("proxmox_bootstrap_node_access",
                                     {"confirm_fingerprint": fp, "password": h.cluster.password})  # fmt: skip
            works = await h.call("proxmox_cli_run", {"argv": ["qm", "list"]})
            again = await h.call("proxmox_bootstrap_node_access",
                                 {"confirm_fingerprint": fp, "password": h.cluster.password})  # fmt: skip
    assert "authentication as root was refused" in refused
    assert first["step"] == "confirm" and first["pinned"] == "yes"
    assert fp == h.ssh.endpoints["pve1"].fingerprint and "ssh-keygen -lf" in first["next"]
    assert "now offers" in wrong and "the password neither" in wrong
    assert "password login as root was refused" in bad_pw
    assert installed["step"] == "installed" and installed["key_login_works"] is True
    assert works["ok"]
    assert again["step"] == "already-installed"
    keys = h.cluster.fs.authorized_keys()
    assert len(keys) == 2 and keys[1].startswith(fresh.export_public_key("openssh").decode().strip())
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert canary not in logged and h.cluster.password not in logged
    assert not any(canary in text for text in seen)


async def test_bootstrap_never_uses_a_password_before_the_fingerprint_is_confirmed() -> None:
    async with node_harness("admin") as h:
        with anyio.fail_after(20):
            text = await h.fail("proxmox_bootstrap_node_access", {"password": "canary-123"})
    assert "it was not used" in text and "canary-123" not in text
    assert h.ssh.connections == {}


async def test_long_command_output_is_cut_inline_and_kept_whole_as_an_artifact() -> None:
    from proxmox_operator_mcp.artifacts import default_store, owner_of
    from proxmox_operator_mcp.tools.nodeaccess import INLINE_OUTPUT, _command_out
    from proxmox_operator_mcp.transports.ssh import CommandResult

    class Ctx:
        principal = {"sub": "local"}

    big = "".join(f"line {i}\n" for i in range(10_000))
    out = _command_out(Ctx(), "pve1", ["qm", "list"], CommandResult(0, big, "", 0.01))  # type: ignore[arg-type]
    assert out.output_uri and out.output_uri.startswith("proxmox://artifacts/")
    assert len(out.stdout) < INLINE_OUTPUT + 200 and "truncated" in out.stdout and out.stdout.endswith("line 9999\n")
    art = default_store().get(out.output_uri.rsplit("/", 1)[1], owner_of(Ctx.principal))
    assert art.data.decode() == big
