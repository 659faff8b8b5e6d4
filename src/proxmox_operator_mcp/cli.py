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


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _load()
    _setup_logging(settings.log_level)
    if not settings.clusters:
        logging.getLogger("proxmox_operator_mcp").warning(
            "no Proxmox cluster configured (set PROXMOX_HOST and a token); tools will say so when called"
        )
    from .server.app import build_server

    server = build_server(settings)
    server.run()
    return 0


def _demo_env(sim_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROXMOX_")}
    env.update(sim_env)
    env["PROXMOX_MCP_ACCESS"] = os.environ.get("PROXMOX_MCP_ACCESS", "operator")
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="proxmox-mcp", description="MCP server for Proxmox VE clusters.")
    p.add_argument("--version", action="version", version=f"proxmox-operator-mcp {__version__}")
    sub = p.add_subparsers(dest="command")
    sub.add_parser("serve", help="serve MCP over stdio (the default)")
    d = sub.add_parser("demo", help="a simulated cluster and the server against it")
    d.add_argument("--tour", action="store_true", help="run a scripted session with the official MCP client")
    d.add_argument("--stdio", action="store_true", help="serve MCP over stdio against an in-process simulated cluster")
    d.add_argument("--nodes", type=int, default=3)
    d.add_argument("--guests", type=int, default=4, help="VMs per node")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--task-seconds", type=float, default=0.5, help="how long simulated tasks run")
    sub.add_parser("sim", help="run the simulated cluster standalone (see `proxmox-mcp sim --help`)", add_help=False)
    sub.add_parser("doctor", help="check configuration and connectivity, per cluster")
    from .hostkey import add_parser as add_hostkey_parser

    add_hostkey_parser(sub)
    sub.add_parser("version", help="print the version")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sim"]:
        return cmd_sim(argparse.Namespace(), argv[1:])
    args = build_parser().parse_args(argv)
    cmd = args.command or "serve"
    if cmd == "serve":
        return cmd_serve(args)
    if cmd == "demo":
        return cmd_demo(args)
    if cmd == "doctor":
        return cmd_doctor(args)
    if cmd == "hostkey":
        return cmd_hostkey(args)
    if cmd == "version":
        print(f"proxmox-operator-mcp {__version__}")
        return 0
    return 2  # pragma: no cover - argparse rejects unknown commands
