"""proxmox-operator-mcp: an MCP server to operate Proxmox VE clusters safely."""

__version__ = "0.1.0"
__all__ = ["__version__"]
