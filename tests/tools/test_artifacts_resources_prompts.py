"""Artifacts (TTL, per-principal access, size caps), the resources that serve them and read-only
cluster data, and the operator prompts, through the official MCP client against the simulator."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from proxmox_operator_mcp.artifacts import (
    ArtifactStore,
    cap_text,
    owner_of,
    publish_artifact,
)
from proxmox_operator_mcp.config import load_settings
from proxmox_operator_mcp.errors import NotFoundError
from proxmox_operator_mcp.prompts import register_prompts
from proxmox_operator_mcp.resources import register_resources
from proxmox_operator_mcp.server.app import build_server
from proxmox_operator_mcp.sim import SimCluster, SimOptions, create_app

from .conftest import SIM_ENV

pytestmark = pytest.mark.anyio

LOCAL = {"sub": "local", "client_id": "local", "auth": "local"}  # stdio and in-memory clients


class _Ctx:
    def __init__(self, principal: dict[str, Any]) -> None:
        self.principal = principal


@asynccontextmanager
async def served(store: ArtifactStore) -> AsyncIterator[tuple[Client, SimCluster]]:
    cluster = SimCluster(SimOptions(nodes=2, vms_per_node=2, cts_per_node=1, task_seconds=0.05))
    env = {**SIM_ENV, "PROXMOX_API_TOKEN_SECRET": cluster.token_secret, "PROXMOX_MCP_ACCESS": "read-only"}
    server = build_server(load_settings(env), rest_transport=httpx2.ASGITransport(app=create_app(cluster)))
    register_resources(server, store=store)
    register_prompts(server)
    async with Client(server) as client:
        yield client, cluster


# --- the store ------------------------------------------------------------------------------------


def test_an_artifact_expires_after_its_ttl() -> None:
    now = [0.0]
    store = ArtifactStore(ttl=10, clock=lambda: now[0])
    art = store.put("log", "text/plain", "o")
    assert store.get(art.id, "o").data == b"log"
    now[0] = 10.5
    with pytest.raises(NotFoundError):
        store.get(art.id, "o")


def test_an_artifact_is_not_found_for_another_principal() -> None:
    store = ArtifactStore()
    art = store.put(b"\x00secret", "application/octet-stream", owner_of({"sub": "alice", "client_id": "c"}))
    with pytest.raises(NotFoundError):
        store.get(art.id, owner_of({"sub": "bob", "client_id": "c"}))


def test_size_caps_cut_one_artifact_and_drop_the_oldest_when_full() -> None:
    store = ArtifactStore(max_bytes=4, max_total=8)
    a = store.put("123456", "text/plain", "o")
    assert a.data == b"1234" and a.truncated and a.size == 6
    store.put("abcd", "text/plain", "o")
    store.put("wxyz", "text/plain", "o")
    with pytest.raises(NotFoundError):
        store.get(a.id, "o")


def test_cap_text_keeps_short_text_and_marks_long_text_with_the_artifact_uri() -> None:
    store = ArtifactStore()
    ctx = _Ctx(LOCAL)
    assert cap_text(ctx, "short", 10, store=store) == ("short", None)  # type: ignore[arg-type]
    shown, uri = cap_text(ctx, "x" * 50 + "END", 10, store=store)  # type: ignore[arg-type]
    assert uri and uri.startswith("proxmox://artifacts/")
    assert shown.startswith("…[truncated 43 chars; full output: proxmox://artifacts/") and shown.endswith("END")


# --- resources ------------------------------------------------------------------------------------


async def test_the_caller_reads_its_artifact_as_a_resource_and_an_unknown_id_is_an_error() -> None:
    store = ArtifactStore()
    uri = publish_artifact(_Ctx(LOCAL), "full task log\n", "text/plain", store=store)  # type: ignore[arg-type]
    async with served(store) as (client, _):
        with anyio.fail_after(10):
            res = await client.read_resource(uri)
            assert res.contents[0].text == "full task log\n"  # type: ignore[union-attr]
            with pytest.raises(Exception, match="does not exist or has expired"):
                await client.read_resource("proxmox://artifacts/nope")


async def test_another_principals_artifact_reads_as_not_found() -> None:
    store = ArtifactStore()
    uri = publish_artifact(_Ctx({"sub": "alice", "client_id": "web"}), "hers", "text/plain", store=store)  # type: ignore[arg-type]
    async with served(store) as (client, _):
        with anyio.fail_after(10), pytest.raises(Exception, match="does not exist"):
            await client.read_resource(uri)


async def test_resource_templates_serve_cluster_node_and_vm_data_read_only() -> None:
    async with served(ArtifactStore()) as (client, _):
        with anyio.fail_after(10):
            templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
            assert {"proxmox://artifacts/{artifact_id}", "proxmox://clusters/{cluster}/resources",
                    "proxmox://nodes/{node}/status", "proxmox://vms/{vmid}/config"} <= templates
            rows = json.loads((await client.read_resource("proxmox://clusters/default/resources")).contents[0].text)  # type: ignore[union-attr]
            vm = next(r for r in rows if r.get("type") == "qemu")
            status = json.loads((await client.read_resource("proxmox://nodes/pve1/status")).contents[0].text)  # type: ignore[union-attr]
            assert "memory" in status
            conf = json.loads((await client.read_resource(f"proxmox://vms/{vm['vmid']}/config")).contents[0].text)  # type: ignore[union-attr]
            assert conf["vmid"] == vm["vmid"] and conf["node"] == vm["node"] and "memory" in conf["config"]


async def test_resource_reads_of_unknown_things_fail_clearly() -> None:
    async with served(ArtifactStore()) as (client, _):
        with anyio.fail_after(10):
            with pytest.raises(Exception, match="does not exist"):
                await client.read_resource("proxmox://vms/99999/config")
            with pytest.raises(Exception, match="unknown cluster"):
                await client.read_resource("proxmox://clusters/elsewhere/resources")


# --- prompts --------------------------------------------------------------------------------------


async def test_the_operator_prompts_are_listed_and_name_the_tools_to_use() -> None:
    async with served(ArtifactStore()) as (client, _):
        with anyio.fail_after(10):
            names = {p.name for p in (await client.list_prompts()).prompts}
            assert names >= {"troubleshoot_vm_boot", "capacity_report", "pre_upgrade_check"}
            got = await client.get_prompt("troubleshoot_vm_boot", {"vmid": "101"})
            assert "proxmox_vm_boot_diagnose" in got.messages[0].content.text  # type: ignore[union-attr]
            got = await client.get_prompt("pre_upgrade_check", {"node": "pve2"})
            assert "proxmox://nodes/pve2/status" in got.messages[0].content.text  # type: ignore[union-attr]


async def test_a_prompt_without_its_required_argument_is_refused() -> None:
    async with served(ArtifactStore()) as (client, _):
        with anyio.fail_after(10), pytest.raises(MCPError):  # the SDK hides the reason (missing vmid)
            await client.get_prompt("troubleshoot_vm_boot", {})
