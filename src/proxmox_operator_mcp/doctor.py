"""``proxmox-mcp doctor``: configuration and connectivity, per cluster, without any secret value.

Per cluster it shows the secret backend, whether each credential resolved (read afresh, never
shown), the Vault token's remaining TTL when Vault is used, then reachability, TLS, the login
and the nodes.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .errors import ProxmoxMCPError

if TYPE_CHECKING:
    from .config import ClusterConfig, Settings
    from .secrets import SecretResolver

__all__ = ["run_doctor"]


def _tls_mode(c: ClusterConfig) -> str:
    if not c.tls_verify:
        return "verification OFF (insecure)"
    if c.tls_fingerprint:
        return f"pinned fingerprint {c.tls_fingerprint[:16]}…"
    if c.tls_ca_file:
        return f"CA file {c.tls_ca_file}"
    return "system trust store"


def _indented(text: str | None, indent: str = "      ") -> str:
    """A multi-line error (message, then ``Hint: …``) kept inside its section."""
    return (text or "").replace("\n", "\n" + indent)


def _backend_line(info: dict[str, Any]) -> str:
    """One line about a backend, from its describe() (which never holds a value)."""
    name = info.get("backend", "?")
    if name == "env":
        return "env (environment variables)"
    if name == "file":
        if not info.get("ok"):
            return f"file {info.get('path')}: FAILED: {_indented(info.get('error'))}"
        return f"file {info.get('path')} ({info.get('format')}, mode {info.get('mode')})"
    if name == "vault":
        where = f"vault {info.get('addr')} ({info.get('auth')} auth"
        if info.get("path"):
            where += f", default path {info['path']}"
        where += ")"
        if not info.get("ok"):
            return f"{where}: FAILED: {_indented(info.get('error'))}"
        ttl = info.get("token_ttl")
        ttl_text = "does not expire" if ttl is None else f"{ttl} s left"
        renew = ", renewable" if info.get("token_renewable") else ""
        return f"{where}, token TTL {ttl_text}{renew}"
    return str(name)


async def _backends(resolver: SecretResolver) -> dict[str, dict[str, Any]]:
    from .secrets.redact import REDACTOR

    return {name: REDACTOR.redact_obj(await b.describe()) for name, b in resolver.backends.items()}


async def _secrets_lines(c: ClusterConfig, backends: dict[str, dict[str, Any]]) -> tuple[bool, list[str]]:
    ok = True
    lines = []
    used = sorted({ref.backend for ref in c.refs().values()})
    if not used:
        chosen = next(iter(backends), "env")
        lines.append(f"  backend   : {chosen}; this cluster's credentials are inline (environment or config file)")
    for name in used:
        lines.append(f"  backend   : {_backend_line(backends.get(name, {'backend': name}))}")
    ident, checks = await c.secrets.report()
    for line in checks:
        if line.resolved:
            state = "resolved"
        elif line.optional and line.error is None:
            state = "not set (optional)"
        else:
            ok = False
            state = f"NOT resolved: {_indented(line.error, '        ')}"
        lines.append(f"    {line.name:<41} {line.source:<52} {state}".rstrip())
    auth = ident.describe() if ident is not None else "unknown (the identity could not be read)"
    lines.append(f"  auth      : {auth}")
    return ok, lines


async def _check(c: ClusterConfig, backends: dict[str, dict[str, Any]]) -> tuple[bool, list[str]]:
    from .transports.rest import RestClient

    lines = [f"  endpoints : {', '.join(f'{e.host}:{e.port}' for e in c.endpoints)}"]
    ok, secret_lines = await _secrets_lines(c, backends)
    lines += secret_lines
    lines += [
        f"  TLS       : {_tls_mode(c)}",
        f"  node      : {c.default_node or '(no default node)'}",
    ]
    if not ok:
        lines.append("  API       : not tried (a credential did not resolve)")
        return ok, lines
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
    async with settings.resolver.running():
        backends = await _backends(settings.resolver)
        for c in settings.clusters:
            print(f"\ncluster {c.name} (access {settings.access_for(c)})")
            ok, lines = await _check(c, backends)
            all_ok &= ok
            print(REDACTOR.redact("\n".join(lines)))
    print("\nAll clusters OK." if all_ok else "\nProblems found (see above).")
    return 0 if all_ok else 1
