"""The principal inside the server: tools/list filtered by scopes and role, calls refused by role.

``ScopedProxmoxMCP`` is the integration proposed for ``server/app.py`` (list_tools and the start of
call_tool, using ``auth.current_principal`` / ``tool_allowed`` / ``check_tool_access``); once it
is merged these tests use ``build_server`` and the subclass goes away.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent
from mcp.types import Tool as MCPTool

from proxmox_operator_mcp.config import Settings
from proxmox_operator_mcp.errors import PolicyDenied
from proxmox_operator_mcp.server.app import ProxmoxMCP
from proxmox_operator_mcp.server.auth import DEFAULT_SCOPES, check_tool_access, current_principal, tool_allowed
from proxmox_operator_mcp.server.http import HttpService

from .helpers import settings
from .oidc import Issuer, mcp_client, running_issuer, serving

pytestmark = pytest.mark.anyio


class ScopedProxmoxMCP(ProxmoxMCP):
    scope_names = DEFAULT_SCOPES

    async def list_tools(self) -> list[MCPTool]:
        principal = current_principal()
        tools = await super().list_tools()
        if principal.auth == "local":
            return tools
        return [
            t
            for t in tools
            if tool_allowed(
                principal,
                read_only=self.visible[t.name].read_only,
                destructive=self.visible[t.name].destructive,
                toolset=self.visible[t.name].toolset,
                names=self.scope_names,
            )
        ]

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult:
        spec = self.visible.get(name)
        if spec is not None:
            try:
                check_tool_access(
                    current_principal(),
                    tool=name,
                    read_only=spec.read_only,
                    destructive=spec.destructive,
                    toolset=spec.toolset,
                    names=self.scope_names,
                )
            except PolicyDenied as exc:
                return CallToolResult(content=[TextContent(type="text", text=exc.to_text())], is_error=True)
        return await super().call_tool(name, arguments, context)


def scoped(pve: Settings, service: HttpService) -> ScopedProxmoxMCP:
    return ScopedProxmoxMCP(pve, **service.server_kwargs())


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
    server = ScopedProxmoxMCP(settings("admin"))
    with anyio.fail_after(30):
        async with Client(server) as client:
            names = {t.name for t in (await client.list_tools()).tools}
    assert {"proxmox_api_call", "proxmox_vm_action"} <= names
