"""``proxmox-mcp hostkey scan NODE`` and ``proxmox-mcp hostkey pin NODE FINGERPRINT``.

``scan`` connects once, trusts nothing, sends no credential, and prints the host key the node
offers with the configuration line that would pin it. ``pin`` scans again and pins the key only
when its fingerprint is the one the operator typed (read off the node's console with
``ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub``): into the known_hosts file named by
``PROXMOX_SHELL_SSH_KNOWN_HOSTS`` (or ``--known-hosts``), else it prints the line to configure.

This is a command-line tool, not the MCP server: it prints on stdout.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["add_parser", "hostkey_main", "known_hosts_line", "resolve_node"]


@dataclass(frozen=True)
class NodeAddress:
    node: str
    host: str
    port: int

    @property
    def label(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.node} ({host}:{self.port})" if self.node != self.host else f"{host}:{self.port}"


def resolve_node(node: str, env: Mapping[str, str], host: str | None = None, port: int | None = None) -> NodeAddress:
    """Where ``node`` is reached over SSH: ``--host``/``--port``, else the configuration (a
    ``[clusters.ssh.nodes.NODE]`` table or the ``PROXMOX_SHELL_SSH_*`` block), else ``node``
    itself read as ``host[:port]``. An incomplete configuration is fine here (no client key is
    needed to scan)."""
    found: tuple[str, int] | None = None
    try:
        from .config import load_settings

        for cluster in load_settings(env).clusters:
            target = (cluster.ssh or {}).get(node)
            if target is not None:
                found = (target.host, target.port)
                break
    except Exception:  # noqa: BLE001 - an unfinished configuration must not stop a scan
        found = None
    if found is None:
        env_host = env.get("PROXMOX_SHELL_SSH_HOST", "").strip() or env.get("PROXMOX_HOST", "").strip()
        names = {env.get("PROXMOX_DEFAULT_NODE", "").strip(), env_host}
        if env_host and node in names:
            env_port = env.get("PROXMOX_SHELL_SSH_PORT", "").strip()
            found = (env_host.strip("[]"), int(env_port) if env_port.isdigit() else 22)
    if found is None:
        h, sep, p = node.rpartition(":") if node.count(":") == 1 else ("", "", "")
        found = (h, int(p)) if sep and p.isdigit() else (node.strip("[]"), 22)
    return NodeAddress(node, host or found[0], port or found[1])


def known_hosts_line(host: str, port: int, key_line: str) -> str:
    """``host key`` (port 22) or ``[host]:port key``, as OpenSSH and asyncssh read it."""
    pattern = host if port == 22 else f"[{host}]:{port}"
    return f"{pattern} {key_line}"


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``hostkey scan|pin`` to the ``proxmox-mcp`` parser."""
    p = sub.add_parser("hostkey", help="show a node's SSH host key, or pin it after checking its fingerprint")
    hs = p.add_subparsers(dest="hostkey_command", required=True)
    scan = hs.add_parser("scan", help="print the host key a node offers (trusts nothing)")
    pin = hs.add_parser("pin", help="pin a node's host key if it has the fingerprint you checked on its console")
    for q in (scan, pin):
        q.add_argument("node", metavar="NODE", help="node name from the configuration, or host[:port]")
    pin.add_argument("fingerprint", metavar="FINGERPRINT", help="SHA256:… as `ssh-keygen -lf` prints it on the node")
    pin.add_argument("--known-hosts", help="known_hosts file to add it to (default: PROXMOX_SHELL_SSH_KNOWN_HOSTS)")
    for q in (scan, pin):
        q.add_argument("--host", help="SSH address (default: from the configuration)")
        q.add_argument("--port", type=int, help="SSH port (default: from the configuration, else 22)")
        q.add_argument("--timeout", type=float, default=10.0, help="seconds (default: 10)")


async def hostkey_main(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> int:
    """Run ``hostkey scan`` or ``hostkey pin``; returns the exit status."""
    from .errors import ProxmoxMCPError
    from .transports.ssh import parse_host_key_pin, scan_host_key

    env = os.environ if env is None else env
    where = resolve_node(args.node, env, args.host, args.port)
    try:
        scanned = await scan_host_key(where.host, where.port, timeout=args.timeout)
    except ProxmoxMCPError as exc:
        print(exc.to_text(), file=sys.stderr)
        return 1
    key_file = "ecdsa" if "ecdsa" in scanned.key_type else "rsa" if "rsa" in scanned.key_type else "ed25519"
    check = f"ssh-keygen -lf /etc/ssh/ssh_host_{key_file}_key.pub"
    env_line = f"PROXMOX_SHELL_SSH_EXPECTED_HOST_KEY='{scanned.openssh_line}'"
    toml_line = f'[clusters.ssh.nodes.{where.node}]  host_keys = ["{scanned.openssh_line}"]'
    if args.hostkey_command == "scan":
        print(f"Node {where.label} offers this host key (nothing was trusted or sent):")
        print(f"  {scanned.key_type} {scanned.fingerprint}")
        print(f"\nCompare it with the node's own console:  {check}")
        print("If it matches, pin it with one of:")
        print(f"  {env_line}")
        print(f"  {toml_line}")
        print(f"  proxmox-mcp hostkey pin {where.node} {scanned.fingerprint}")
        return 0

    try:
        wanted = parse_host_key_pin(args.fingerprint)
    except ValueError as exc:
        print(f"FINGERPRINT: {exc}", file=sys.stderr)
        return 2
    if not wanted.startswith("SHA256:"):
        print("FINGERPRINT: give the SHA256:… fingerprint you read on the node, not a key", file=sys.stderr)
        return 2
    if wanted != scanned.fingerprint:
        print(
            f"NOT pinned: node {where.label} offers {scanned.key_type} {scanned.fingerprint}, "
            f"not {wanted}.\nSomeone may be intercepting, or you read another key; check `{check}` on its console.",
            file=sys.stderr,
        )
        return 1
    path_text = args.known_hosts or env.get("PROXMOX_SHELL_SSH_KNOWN_HOSTS", "").strip()
    if not path_text:
        print("The fingerprint matches. No known_hosts file is configured, so add this to the configuration:")
        print(f"  {env_line}")
        print(f"  {toml_line}")
        return 0
    path = Path(path_text).expanduser()
    line = known_hosts_line(where.host, where.port, scanned.openssh_line)
    pattern = line.split(" ", 1)[0]
    try:
        old = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        if line in (entry.strip() for entry in old):
            print(f"Already pinned in {path}: {line}")
            return 0
        kept = [entry for entry in old if entry.split(" ", 1)[0] != pattern]
        replaced = len(old) - len(kept)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(e + "\n" for e in [*kept, line]), encoding="utf-8")
        tmp.chmod(0o600)
        tmp.replace(path)
    except OSError as exc:
        print(f"cannot write {path}: {exc}", file=sys.stderr)
        return 1
    print(f"Pinned in {path}: {line}" + (f" (replacing {replaced} old entr{'y' if replaced == 1 else 'ies'})" if replaced else ""))
    return 0


def main(argv: Sequence[str]) -> int:  # pragma: no cover - manual use
    import anyio

    parser = argparse.ArgumentParser(prog="proxmox-mcp")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["hostkey", *argv])
    return anyio.run(hostkey_main, args)
