"""The gate end to end: policy, elicitation, out-of-band approval and audit, through the
official MCP client against the simulated cluster."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.types import ElicitResult

from proxmox_operator_mcp.config import load_settings
from proxmox_operator_mcp.policy.approvals import ApprovalStore
from proxmox_operator_mcp.policy.audit import verify
from proxmox_operator_mcp.server.app import build_server
from proxmox_operator_mcp.sim import SimCluster, SimOptions, create_app

from .conftest import SIM_ENV

pytestmark = pytest.mark.anyio

ANSWER: dict[str, str | None] = {}


@pytest.fixture(autouse=True)
def _reset_answer() -> None:
    ANSWER.clear()


@asynccontextmanager
async def server(tmp_path: Path, answer: str | None, **env: str) -> AsyncIterator[tuple[Client, SimCluster, list[str]]]:
    cluster = SimCluster(SimOptions(nodes=1, vms_per_node=2, cts_per_node=0, task_seconds=0.05))
    asked: list[str] = []

    async def elicit(context: Any, params: Any) -> ElicitResult:
        asked.append(params.message)
        typed = ANSWER.get("typed", answer)
        if typed is None:
            return ElicitResult(action="decline")
        return ElicitResult(action="accept", content={"confirm": typed})

    settings = load_settings({**SIM_ENV, "PROXMOX_API_TOKEN_SECRET": cluster.token_secret,
                              "PROXMOX_MCP_ACCESS": "admin", "PROXMOX_MCP_AUDIT_PATH": str(tmp_path / "audit.jsonl"),
                              **env})
    srv = build_server(settings, rest_transport=httpx2.ASGITransport(app=create_app(cluster)))
    # legacy: the 2025-11-25 handshake, where the server can ask in the middle of a call
    kwargs: dict[str, Any] = {"elicitation_callback": elicit} if answer != "no-elicitation" else {}
    async with Client(srv, mode="legacy", **kwargs) as client:
        yield client, cluster, asked


async def running_vm(client: Client) -> dict[str, Any]:
    res = await client.call_tool("proxmox_vm_list", {})
    vms = res.structured_content["items"]
    for vm in vms:
        if vm["status"] == "running":
            return vm
    res = await client.call_tool("proxmox_vm_action", {"vmid": vms[0]["vmid"], "action": "start", "wait": 5})
    assert not res.is_error
    return vms[0]


def records(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]


async def test_a_hard_stop_runs_after_the_user_types_the_name(tmp_path: Path) -> None:
    async with server(tmp_path, answer=None) as (client, _, asked):
        vm = await running_vm(client)
        expected = vm.get("name") or str(vm["vmid"])
        ANSWER["typed"] = expected
        res = await client.call_tool("proxmox_vm_action", {"vmid": vm["vmid"], "action": "stop", "wait": 5})
        assert not res.is_error, res.content
        assert "Hard power-off of VM" in asked[0] and f"Type {expected} to confirm" in asked[0]
    recs = records(tmp_path)
    stop = [r for r in recs if r.get("path", "").endswith("/status/stop")]
    assert [r["phase"] for r in stop] == ["intent", "result"]
    assert stop[0]["confirmation"] == "elicited" and stop[1]["upid"].startswith("UPID:")
    assert recs[-1]["kind"] == "tool_call" and recs[-1]["confirmation"] == "elicited"
    assert verify(tmp_path / "audit.jsonl").ok


async def test_a_declined_confirmation_sends_nothing(tmp_path: Path) -> None:
    async with server(tmp_path, answer=None) as (client, _, asked):
        vm = await running_vm(client)
        res = await client.call_tool("proxmox_vm_action", {"vmid": vm["vmid"], "action": "stop"})
        assert res.is_error and "Not confirmed" in res.content[0].text
        assert asked
    assert not any(r.get("phase") == "intent" and r["path"].endswith("/stop") for r in records(tmp_path))


async def test_without_elicitation_an_approval_id_comes_back_and_the_approved_retry_runs(tmp_path: Path) -> None:
    env = {"PROXMOX_MCP_APPROVALS_DIR": str(tmp_path / "approvals")}
    async with server(tmp_path, answer="no-elicitation", **env) as (client, _, _):
        vm = await running_vm(client)
        args = {"vmid": vm["vmid"], "action": "stop"}
        res = await client.call_tool("proxmox_vm_action", args)
        assert res.is_error and "proxmox-mcp approve" in res.content[0].text
        (pending,) = ApprovalStore(tmp_path / "approvals").list_pending()
        early = await client.call_tool("proxmox_vm_action", {**args, "approval_id": pending.id})
        assert early.is_error and "not approved yet" in early.content[0].text
        ApprovalStore(tmp_path / "approvals").approve(pending.id, "bob")
        changed = await client.call_tool("proxmox_vm_action", {**args, "action": "reset", "approval_id": pending.id})
        assert changed.is_error and "arguments changed" in changed.content[0].text
        ok = await client.call_tool("proxmox_vm_action", {**args, "approval_id": pending.id})
        assert not ok.is_error, ok.content
        reuse = await client.call_tool("proxmox_vm_action", {**args, "approval_id": pending.id})
        assert reuse.is_error
    assert verify(tmp_path / "audit.jsonl").ok


async def test_without_elicitation_or_approvals_a_destructive_call_is_denied(tmp_path: Path) -> None:
    async with server(tmp_path, answer="no-elicitation") as (client, _, _):
        vm = await running_vm(client)
        res = await client.call_tool("proxmox_vm_action", {"vmid": vm["vmid"], "action": "stop"})
        assert res.is_error and "cannot ask its user" in res.content[0].text


async def test_an_unwritable_audit_refuses_changes_but_not_reads(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("")
    cluster_env = {"PROXMOX_MCP_AUDIT_PATH": str(tmp_path / "blocker" / "audit.jsonl")}
    async with server(tmp_path, answer=None, **cluster_env) as (client, _, _):
        listed = await client.call_tool("proxmox_vm_list", {"status": "running"})
        assert not listed.is_error
        vm = listed.structured_content["items"][0]
        res = await client.call_tool("proxmox_vm_action", {"vmid": vm["vmid"], "action": "reboot"})
        assert res.is_error and "audit log" in res.content[0].text and "refused" in res.content[0].text


async def test_a_deny_rule_stops_the_raw_api_call_too(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[[rules]]\nid = "no-reboot"\naction = "deny"\npath = "/nodes/*/qemu/*/status/reboot"\n')
    async with server(tmp_path, answer=None, PROXMOX_MCP_POLICY_FILE=str(policy)) as (client, _, _):
        listed = await client.call_tool("proxmox_vm_list", {"status": "running"})
        vm = listed.structured_content["items"][0]
        for name, args in (
            ("proxmox_vm_action", {"vmid": vm["vmid"], "action": "reboot"}),
            ("proxmox_api_call", {"method": "POST", "path": f"/nodes/{vm['node']}/qemu/{vm['vmid']}/status/reboot"}),
        ):
            res = await client.call_tool(name, args)
            assert res.is_error and "no-reboot" in res.content[0].text, (name, res.content)


async def test_the_principals_mode_caps_the_clusters(tmp_path: Path) -> None:
    from proxmox_operator_mcp.operation import api_op
    from proxmox_operator_mcp.policy.gate import Gate

    settings = load_settings({**SIM_ENV, "PROXMOX_API_TOKEN_SECRET": "x" * 36, "PROXMOX_MCP_ACCESS": "admin"})
    gate = Gate(settings, router=None)  # type: ignore[arg-type]  # decide() never routes
    start = api_op("default", "POST", "/nodes/pve1/qemu/101/status/start")
    assert gate.decide(start, {"sub": "ci", "mode": "operator"}).verdict == "allow"
    assert gate.decide(start, {"sub": "ro", "mode": "read-only"}).verdict == "deny"
    assert gate.decide(start, {"sub": "nobody", "mode": "none"}).verdict == "deny"
    stop = api_op("default", "POST", "/nodes/pve1/qemu/101/status/stop")
    assert gate.decide(stop, {"sub": "ci", "mode": "operator"}).verdict == "deny"
    assert gate.decide(stop, {"sub": "root"}).verdict == "confirm"
