"""Metrics fed from the transports: the SSH pool gauge is read at scrape time."""

from __future__ import annotations

from proxmox_operator_mcp.config import load_settings
from proxmox_operator_mcp.server.app import build_server
from proxmox_operator_mcp.server.metrics import METRICS

ENV = {
    "PROXMOX_HOST": "127.0.0.1",
    "PROXMOX_API_TOKEN_USER": "root@pam",
    "PROXMOX_API_TOKEN_ID": "mcp",
    "PROXMOX_API_TOKEN_SECRET": "00000000-1111-2222-3333-444444444444",
}


class _Pool:
    def __init__(self, n: int) -> None:
        self.n = n

    def open_connections(self) -> int:
        return self.n


def test_the_ssh_pool_gauge_shows_open_connections_per_cluster_when_scraped() -> None:
    server = build_server(load_settings(ENV))
    router = server.gate.router
    assert 'proxmox_mcp_ssh_pool_connections{cluster="default"}' not in METRICS.render()
    pool = _Pool(2)
    router._pools["default"] = pool  # type: ignore[assignment]
    assert 'proxmox_mcp_ssh_pool_connections{cluster="default"} 2' in METRICS.render()
    pool.n = 0
    assert 'proxmox_mcp_ssh_pool_connections{cluster="default"} 0' in METRICS.render()
