"""Dry-run on every mutating tool: the exact request, the policy decision and the confirmation
that would be asked — and nothing changes."""

from __future__ import annotations

from typing import Any

import pytest

from ..tools.conftest import harness

pytestmark = pytest.mark.anyio


async def _no_human(context: Any, params: Any) -> Any:
    raise AssertionError("a dry run must not ask anyone")


async def test_every_mutating_tool_offers_dry_run_and_read_tools_do_not() -> None:
    async with harness("admin", human=_no_human) as h:
        tools = (await h.client.list_tools()).tools
    for t in tools:
        has = "dry_run" in t.input_schema.get("properties", {})
        assert has == (not t.annotations.read_only_hint), t.name  # type: ignore[union-attr]


async def test_a_dry_run_start_shows_the_request_and_sends_nothing() -> None:
    async with harness("operator", human=_no_human) as h:
        vm = (await h.call("proxmox_vm_list", {"status": "stopped", "template": False, "limit": 1}))["items"][0]
        out = await h.call("proxmox_vm_action", {"vmid": vm["vmid"], "action": "start", "dry_run": True})
        assert out["dry_run"] is True and out["decision"] == "allow"
        (step,) = out["plan"]
        assert step["operation"] == f"POST /nodes/{vm['node']}/qemu/{vm['vmid']}/status/start"
        assert h.writes() == []
        after = await h.call("proxmox_vm_get", {"vmid": vm["vmid"]})
        assert after["status"]["status"] == "stopped"


async def test_a_dry_run_of_a_destructive_call_shows_the_confirmation_without_asking() -> None:
    async with harness("admin", human=_no_human) as h:
        vm = (await h.call("proxmox_vm_list", {"status": "running", "limit": 1}))["items"][0]
        out = await h.call("proxmox_vm_action", {"vmid": vm["vmid"], "action": "stop", "dry_run": True})
        assert out["decision"] == "confirm" and "Type" in out["confirmation"]
        assert h.writes() == []


async def test_a_dry_run_reports_a_denial_with_its_reason() -> None:
    async with harness("operator", human=_no_human) as h:
        out = await h.call(
            "proxmox_api_call",
            {"method": "POST", "path": "/nodes/pve1/qemu/100/status/stop", "dry_run": True},
        )
        assert out["decision"] == "deny" and "admin" in out["reason"]
        assert h.writes() == []


async def test_dry_run_plans_mask_secrets() -> None:
    async with harness("admin", human=_no_human) as h:
        out = await h.call(
            "proxmox_api_call",
            {"method": "PUT", "path": "/access/password", "params": {"userid": "alice@pve",
             "password": "canary-pass-4242", "confirmation-password": "canary-pass-4242"}, "dry_run": True},
        )
        assert "canary-pass-4242" not in str(out)
        assert h.writes() == []


async def test_dry_run_is_not_an_argument_of_read_tools() -> None:
    async with harness("operator", human=_no_human) as h:
        text = await h.fail("proxmox_vm_list", {"dry_run": True})
    assert "dry_run: unknown argument" in text
