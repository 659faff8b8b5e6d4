"""The principal inside the server: tools/list filtered by scopes and role, calls refused by role."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
from mcp import Client

from proxmox_operator_mcp.config import Settings
from proxmox_operator_mcp.server.app import ProxmoxMCP, build_server
from proxmox_operator_mcp.server.http import HttpService

from .helpers import settings
from .oidc import Issuer, mcp_client, running_issuer, serving

pytestmark = pytest.mark.anyio


def scoped(pve: Settings, service: HttpService) -> ProxmoxMCP:
    return build_server(pve, **service.server_kwargs())


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with running_issuer() as iss:
        yield iss


@pytest.fixture
async def admin_mode_server(issuer: Issuer) -> AsyncIterator[HttpService]:
    env = {
        "PROXMOX_MCP_AUTH_MODE": "oidc",
        "PROXMOX_MCP_OIDC_ISSUER": issuer.url,
        "PROXMOX_MCP_OIDC_ROLE_MAP": "viewers=read-only,ops=operator,admins=admin",
    }
    async with serving(env, settings("admin"), server_factory=scoped) as svc:
        yield svc


async def names_for(svc: HttpService, token: str) -> set[str]:
    with anyio.fail_after(30):
        async with mcp_client(svc.url, token) as client:
            return {t.name for t in (await client.list_tools()).tools}


async def test_tools_list_shows_each_principal_only_what_its_scopes_allow(
    issuer: Issuer, admin_mode_server: HttpService
) -> None:
    aud = admin_mode_server.http.resource_url
    reader = await names_for(admin_mode_server, issuer.mint(aud, scope="pve.read", groups=["admins"]))
    writer = await names_for(admin_mode_server, issuer.mint(aud, scope="pve.read pve.write", groups=["admins"]))
    admin = await names_for(
        admin_mode_server, issuer.mint(aud, scope="pve.read pve.write pve.admin", groups=["admins"])
    )
    assert "proxmox_inventory_overview" in reader and "proxmox_vm_action" not in reader
    assert "proxmox_vm_action" in writer and "proxmox_api_call" not in writer
    assert "proxmox_api_call" in admin and reader < writer < admin


async def test_a_group_mapped_to_read_only_caps_a_token_with_write_scope(
    issuer: Issuer, admin_mode_server: HttpService
) -> None:
    token = issuer.mint(admin_mode_server.http.resource_url, scope="pve.read pve.write", groups=["viewers"])
    with anyio.fail_after(30):
        async with mcp_client(admin_mode_server.url, token) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            res = await client.call_tool("proxmox_vm_action", {"vmid": 100, "action": "start"})
    assert "proxmox_vm_action" not in names
    assert res.is_error and "role read-only" in res.content[0].text  # type: ignore[union-attr]


async def test_without_a_token_the_local_principal_sees_the_access_mode_ceiling() -> None:
    server = build_server(settings("admin"))
    with anyio.fail_after(30):
        async with Client(server) as client:
            names = {t.name for t in (await client.list_tools()).tools}
    assert {"proxmox_api_call", "proxmox_vm_action"} <= names
