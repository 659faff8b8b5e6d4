"""The ``proxmox-mcp`` command: parse, build, run.

Start-up cost matters (every stdio client waits for it), so heavy modules are imported inside
the subcommand that needs them. In ``serve`` mode stdout belongs to the MCP protocol: everything
else goes to stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__

__all__ = ["main"]

EXIT_CONFIG = 2


def _setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    from .secrets.redact import RedactingFilter

    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx2 logs each response's status line at INFO; our REST client logs what matters itself.
    for noisy in ("httpx2", "httpcore2", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def _load(env: dict[str, str] | None = None) -> Any:
    from .config import load_settings
    from .errors import ConfigError

    try:
        return load_settings(env)
    except ConfigError as exc:
        print(exc.to_text(), file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def _load_http(transport: str | None) -> Any:
    from .errors import ConfigError
    from .server.http_settings import load_http_settings

    env = dict(os.environ)
    if transport:
        env["PROXMOX_MCP_MODE"] = transport
    try:
        return load_http_settings(env)
    except ConfigError as exc:
        print(exc.to_text(), file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def cmd_serve(args: argparse.Namespace) -> int:
    overrides = {
        name: value
        for name, value in (
            ("PROXMOX_MCP_TOOLSETS", getattr(args, "toolsets", None)),
            ("PROXMOX_MCP_TOOLS", getattr(args, "tools", None)),
            ("PROXMOX_MCP_EXCLUDE_TOOLS", getattr(args, "exclude_tools", None)),
        )
        if value is not None
    }
    settings = _load({**os.environ, **overrides} if overrides else None)
    transport = getattr(args, "transport", None)
    wanted = transport or os.environ.get("PROXMOX_MCP_MODE", "").strip().lower() or "stdio"
    # stdio start-up stays lean: the remote-mode settings (and their imports) only when serving HTTP.
    http = _load_http(transport) if wanted != "stdio" else None
    _setup_logging(settings.log_level)
    if not settings.clusters:
        logging.getLogger("proxmox_operator_mcp").warning(
            "no Proxmox cluster configured (set PROXMOX_HOST and a token); tools will say so when called"
        )
    from .server.app import build_server

    if http is None:
        build_server(settings).run()
        return 0

    import anyio

    from .errors import ConfigError
    from .server.http import HttpService, run_both

    try:
        service = HttpService.bind(http)  # binds first: port 0 and the resource URL are known
    except ConfigError as exc:
        print(exc.to_text(), file=sys.stderr)
        return EXIT_CONFIG
    server = build_server(settings, scope_names=service.scope_names, **service.server_kwargs())
    if http.mode == "both":
        anyio.run(run_both, server, service)
    else:
        anyio.run(service.serve, server)
    return 0


def _demo_env(sim_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROXMOX_")}
    env.update(sim_env)
    env["PROXMOX_MCP_ACCESS"] = os.environ.get("PROXMOX_MCP_ACCESS", "operator")
    if os.environ.get("PROXMOX_MCP_ENABLE_SHELL"):
        env["PROXMOX_MCP_ENABLE_SHELL"] = os.environ["PROXMOX_MCP_ENABLE_SHELL"]
    return env


async def _demo_stdio(options: Any) -> None:
    from .config import load_settings
    from .server.app import build_server
    from .sim import run_sim

    async with run_sim(options) as sim:
        settings = load_settings(_demo_env(sim.env()))
        server = build_server(settings)
        await server.run_stdio_async()


def cmd_demo(args: argparse.Namespace) -> int:
    import anyio

    _setup_logging(os.environ.get("PROXMOX_MCP_LOG_LEVEL", "WARNING").upper())
    from .sim import SimOptions

    options = SimOptions(
        nodes=args.nodes, vms_per_node=args.guests, seed=args.seed, task_seconds=args.task_seconds, ssh=args.stdio
    )
    if args.stdio:
        anyio.run(_demo_stdio, options)
        return 0
    if args.tour:
        from .demo import run_tour

        return anyio.run(run_tour, options)
    from .demo import print_client_config

    print_client_config()
    return 0


def cmd_sim(args: argparse.Namespace, rest: Sequence[str]) -> int:
    from .sim import cli_main

    return cli_main(list(rest))


def cmd_doctor(args: argparse.Namespace) -> int:
    import anyio

    settings = _load()
    _setup_logging("ERROR")
    from .doctor import run_doctor

    return anyio.run(run_doctor, settings)


def cmd_hostkey(args: argparse.Namespace) -> int:
    import anyio

    from .hostkey import hostkey_main

    return anyio.run(hostkey_main, args)


def cmd_policy(args: argparse.Namespace) -> int:
    import json

    from .errors import ConfigError, ProxmoxMCPError
    from .policy.explain import operations_for
    from .policy.rules import DEFAULT_POLICY, Policy, load_policy

    try:
        if args.policy_command == "check":
            policy = load_policy(args.file)
            for warning in policy.warnings():
                print(f"warning: {warning}")
            print(f"{args.file}: {len(policy.rules)} rules, valid")
            return 0
        path = args.policy or os.environ.get("PROXMOX_MCP_POLICY_FILE", "").strip()
        policy: Policy = load_policy(path) if path else DEFAULT_POLICY
        try:
            arguments = json.loads(args.arguments)
        except ValueError as exc:
            print(f"ARGS must be a JSON object: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        if not isinstance(arguments, dict):
            print("ARGS must be a JSON object", file=sys.stderr)
            return EXIT_CONFIG
        mode = args.mode or os.environ.get("PROXMOX_MCP_ACCESS", "read-only").strip()
        for op in operations_for(args.tool, arguments, cluster=args.cluster):
            print(policy.explain(op, mode).text())
        return 0
    except ConfigError as exc:
        print(exc.to_text(), file=sys.stderr)
        return EXIT_CONFIG
    except ProxmoxMCPError as exc:
        print(exc.to_text(), file=sys.stderr)
        return 1


def _audit_key(settings: Any) -> bytes | None:
    if not settings.audit_hmac_key_ref:
        return None
    import anyio

    from .secrets import SecretRef

    async def get() -> bytes:
        secret = await settings.resolver.get(SecretRef.parse(settings.audit_hmac_key_ref))
        return secret.get_secret_value().encode()

    return anyio.run(get)


def cmd_approve(args: argparse.Namespace) -> int:
    import getpass
    import time

    from .errors import ProxmoxMCPError
    from .policy.approvals import ApprovalStore

    settings = _load()
    if settings.approvals_dir is None:
        print("Out-of-band approvals are off: set PROXMOX_MCP_APPROVALS_DIR (the server's directory).", file=sys.stderr)
        return EXIT_CONFIG
    store = ApprovalStore(settings.approvals_dir)
    if args.list or not args.id:
        pending = store.list_pending()
        for approval in pending:
            print(approval.describe(time.time()))
        if not pending:
            print("no pending approvals")
        return 0
    approval = store.get(args.id)
    if approval is None:
        print(f"no approval {args.id!r} is waiting (unknown id, or already used)", file=sys.stderr)
        return 1
    print(approval.describe(time.time()))
    if approval.status != "pending":
        print(f"nothing to do: it was already {approval.status} by {approval.approver}", file=sys.stderr)
        return 1
    verb = "deny" if args.deny else "approve"
    if not args.yes:
        if not sys.stdin.isatty():
            print(f"refusing to {verb} without a terminal: pass --yes", file=sys.stderr)
            return 1
        if input(f"{verb.capitalize()} this? Type {verb}: ").strip() != verb:
            print("nothing changed")
            return 1
    who = args.approver or os.environ.get("SUDO_USER") or getpass.getuser()
    try:
        decided = store.deny(args.id, who) if args.deny else store.approve(args.id, who)
    except ProxmoxMCPError as exc:
        print(exc.to_text(), file=sys.stderr)
        return 1
    if settings.audit_path is not None:
        from .policy.audit import AuditLog

        with AuditLog(settings.audit_path, hmac_key=_audit_key(settings)) as audit:
            audit.append({"kind": "approval", "approval": decided.id, "status": decided.status, "approver": who,
                          "principal": decided.principal, "tool": decided.tool, "summary": list(decided.summary)})
    print(f"{decided.status} by {who}: the call can be retried with approval_id={decided.id!r}"
          if decided.status == "approved" else f"denied by {who}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from .policy.audit import verify

    settings = _load()
    target = args.path or settings.audit_path
    if target is None:
        print("Which log? Pass PATH or set PROXMOX_MCP_AUDIT_PATH.", file=sys.stderr)
        return EXIT_CONFIG
    try:
        result = verify(target, _audit_key(settings))
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIG
    for warning in result.warnings:
        print(f"warning: {warning}")
    if result.ok:
        print(f"OK: {result.reason}")
        return 0
    bad = result.first_bad
    where = f"{bad.file} line {bad.line}" + (f" (seq {bad.seq})" if bad and bad.seq is not None else "") if bad else ""
    print(f"FAILED at {where}: {result.reason}")
    print(f"{result.records} records before it verify.")
    return 1



def build_parser(full: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="proxmox-mcp", description="MCP server for Proxmox VE clusters.")
    p.add_argument("--version", action="version", version=f"proxmox-operator-mcp {__version__}")
    sub = p.add_subparsers(dest="command")
    s = sub.add_parser("serve", help="serve MCP over stdio (the default), streamable HTTP, or both")
    s.add_argument("--toolsets", help="comma-separated toolsets, or `all` (overrides PROXMOX_MCP_TOOLSETS)")
    s.add_argument("--tools", help="comma-separated extra tools (overrides PROXMOX_MCP_TOOLS)")
    s.add_argument("--exclude-tools", help="comma-separated tools never offered (overrides PROXMOX_MCP_EXCLUDE_TOOLS)")
    s.add_argument(
        "--transport",
        choices=["stdio", "http", "both"],
        help="overrides PROXMOX_MCP_MODE; http and both read the PROXMOX_MCP_HTTP_*/AUTH_* settings "
        "(docs/deployment.md)",
    )
    d = sub.add_parser("demo", help="a simulated cluster and the server against it")
    d.add_argument("--tour", action="store_true", help="run a scripted session with the official MCP client")
    d.add_argument("--stdio", action="store_true", help="serve MCP over stdio against an in-process simulated cluster")
    d.add_argument("--nodes", type=int, default=3)
    d.add_argument("--guests", type=int, default=4, help="VMs per node")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--task-seconds", type=float, default=0.5, help="how long simulated tasks run")
    sub.add_parser("sim", help="run the simulated cluster standalone (see `proxmox-mcp sim --help`)", add_help=False)
    sub.add_parser("doctor", help="check configuration and connectivity, per cluster")
    pol = sub.add_parser("policy", help="check a policy file, or explain what it does with a call")
    pol_sub = pol.add_subparsers(dest="policy_command", required=True)
    chk = pol_sub.add_parser("check", help="validate a policy file; list every problem with its line")
    chk.add_argument("file")
    exp = pol_sub.add_parser("explain", help="what the policy would do with TOOL ARGS, and why")
    exp.add_argument("tool", help="proxmox_api_call, proxmox_cli_run, proxmox_shell_run, proxmox_file_read/write")
    exp.add_argument("arguments", help='the tool arguments as JSON, e.g. \'{"method": "DELETE", "path": "/nodes/pve1/qemu/101"}\'')
    exp.add_argument("--mode", choices=("read-only", "operator", "admin"), help="default: PROXMOX_MCP_ACCESS")
    exp.add_argument("--policy", help="policy file (default: PROXMOX_MCP_POLICY_FILE)")
    exp.add_argument("--cluster", default="default")
    apr = sub.add_parser("approve", help="approve (or --deny) a pending call; without ID: list the pending ones")
    apr.add_argument("id", nargs="?")
    apr.add_argument("--deny", action="store_true", help="deny instead of approving")
    apr.add_argument("--list", action="store_true", help="list pending approvals")
    apr.add_argument("--yes", action="store_true", help="do not ask again on the terminal")
    apr.add_argument("--as", dest="approver", help="the approver's name for the audit (default: your login)")
    aud = sub.add_parser("audit", help="check the audit log")
    aud_sub = aud.add_subparsers(dest="audit_command", required=True)
    ver = aud_sub.add_parser("verify", help="verify the hash chain; name the first bad record")
    ver.add_argument("path", nargs="?", help="the log, or its directory (default: PROXMOX_MCP_AUDIT_PATH)")
    if full:
        # Their modules (and what they import) are loaded only when they can be used: a stdio
        # client waits for `serve` to start, and these are never part of it.
        from .configcmd import add_parser as add_config_parser
        from .hostkey import add_parser as add_hostkey_parser

        add_hostkey_parser(sub)
        add_config_parser(sub)
    else:
        sub.add_parser("hostkey", help="scan or pin a node's SSH host key", add_help=False)
        sub.add_parser("config", help="show the effective configuration or migrate it to TOML", add_help=False)
    sub.add_parser("version", help="print the version")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sim"]:
        return cmd_sim(argparse.Namespace(), argv[1:])
    full = any(a in ("hostkey", "config", "-h", "--help") for a in argv[:1])
    args = build_parser(full).parse_args(argv)
    cmd = args.command or "serve"
    if cmd == "serve":
        return cmd_serve(args)
    if cmd == "demo":
        return cmd_demo(args)
    if cmd == "doctor":
        return cmd_doctor(args)
    if cmd == "policy":
        return cmd_policy(args)
    if cmd == "approve":
        return cmd_approve(args)
    if cmd == "audit":
        return cmd_audit(args)
    if cmd == "hostkey":
        return cmd_hostkey(args)
    if cmd == "config":
        from .configcmd import run as cmd_config

        return cmd_config(args)
    if cmd == "version":
        print(f"proxmox-operator-mcp {__version__}")
        return 0
    return 2  # pragma: no cover - argparse rejects unknown commands
