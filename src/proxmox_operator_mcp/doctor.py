"""``proxmox-mcp doctor``: configuration and connectivity, per cluster, without any secret value."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .errors import ProxmoxMCPError

if TYPE_CHECKING:
    from .config import ClusterConfig, Settings

__all__ = ["run_doctor"]


def _tls_mode(c: ClusterConfig) -> str:
    if not c.tls_verify:
        return "verification OFF (insecure)"
    if c.tls_fingerprint:
        return f"pinned fingerprint {c.tls_fingerprint[:16]}…"
    if c.tls_ca_file:
        return f"CA file {c.tls_ca_file}"
    return "system trust store"


async def _check(c: ClusterConfig) -> tuple[bool, list[str]]:
    from .transports.rest import RestClient

    lines = [
        f"  endpoints : {', '.join(f'{e.host}:{e.port}' for e in c.endpoints)}",
        f"  auth      : {'API token ' + str(c.token_full_id) if c.auth_kind == 'token' else 'ticket as ' + str(c.username)}",
        f"  TLS       : {_tls_mode(c)}",
        f"  node      : {c.default_node or '(no default node)'}",
    ]
    ok = True
    async with RestClient(c) as client:
        t0 = time.perf_counter()
        try:
            version = await client.request("GET", "/version")
            ms = (time.perf_counter() - t0) * 1000
            lines.append(f"  API       : OK, PVE {version.get('version')} ({ms:.0f} ms)")
        except ProxmoxMCPError as exc:
            ok = False
            lines.append(f"  API       : FAILED: {exc.to_text()}")
            return ok, lines
        try:
            nodes = await client.request("GET", "/nodes")
            names = sorted(str(n.get("node")) for n in nodes or [])
            lines.append(f"  nodes     : {', '.join(names) or '(none visible: check the token ACLs)'}")
            if c.default_node and c.default_node not in names:
                ok = False
                lines.append(f"  PROBLEM   : default node {c.default_node!r} is not among the nodes")
        except ProxmoxMCPError as exc:
            ok = False
            lines.append(f"  nodes     : FAILED: {exc.to_text()}")
    return ok, lines


async def run_doctor(settings: Settings) -> int:
    """Print a report; exit status 0 when every cluster is reachable and usable, 1 otherwise."""
    from .secrets.redact import REDACTOR
    from .server.app import register_secrets

    register_secrets(settings)

    print(f"proxmox-operator-mcp doctor — configuration from {settings.source}, access mode {settings.access}")
    if not settings.clusters:
        print("No cluster configured: set PROXMOX_HOST and an API token, or PROXMOX_MCP_CONFIG.")
        return 1
    all_ok = True
    for c in settings.clusters:
        print(f"\ncluster {c.name} (access {settings.access_for(c)})")
        ok, lines = await _check(c)
        all_ok &= ok
        print(REDACTOR.redact("\n".join(lines)))
    print("\nAll clusters OK." if all_ok else "\nProblems found (see above).")
    return 0 if all_ok else 1
