"""Settings and servers for MCP-level tests."""

from __future__ import annotations

from typing import Any

from proxmox_operator_mcp.config import Settings, load_settings

UNREACHABLE = {
    "PROXMOX_HOST": "127.0.0.1",
    "PROXMOX_API_PORT": "9",
    "PROXMOX_API_TOKEN_USER": "root",
    "PROXMOX_API_TOKEN_ID": "test",
    "PROXMOX_API_TOKEN_SECRET": "11111111-2222-3333-4444-555555555555",
    "PROXMOX_MCP_CONNECT_TIMEOUT": "2",
}


def settings(access: str = "read-only", **env: str) -> Settings:
    return load_settings({**UNREACHABLE, "PROXMOX_MCP_ACCESS": access, **env})


def tool_dump(tool: Any) -> dict[str, Any]:
    return tool.model_dump(by_alias=True, exclude_unset=True, mode="json")
