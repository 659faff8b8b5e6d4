"""``proxmox-mcp sim``: serve a simulated cluster until Ctrl-C or SIGTERM.

This is not the MCP server, so it prints what a client needs on stdout.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
from collections.abc import Sequence

import anyio

from .options import SimOptions
from .server import SimHandle, run_sim

__all__ = ["cli_main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="proxmox-mcp sim",
        description="Serve a simulated Proxmox VE 9.2 cluster (REST API over HTTPS on loopback).",
    )
    p.add_argument("--nodes", type=int, default=3, help="number of nodes (default: 3)")
    p.add_argument("--vms", type=int, default=4, metavar="N", help="QEMU VMs per node (default: 4)")
    p.add_argument("--cts", type=int, default=2, metavar="N", help="LXC containers per node (default: 2)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated cluster (default: 0)")
    p.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8006, help="port; 0 picks a free one (default: 8006)")
    p.add_argument("--task-seconds", type=float, default=2.0, help="how long a worker task runs (default: 2)")
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    p.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered with 500 (0..1)")
    p.add_argument("--fail-path", action="append", default=[], metavar="REGEX", help="API paths answering 500")
    p.add_argument("--down-node", action="append", default=[], metavar="NODE", help="a node that is offline")
    p.add_argument("--ssh", action="store_true", help="also serve an SSH endpoint per node (CLI, shell, SFTP)")
    return p


def _banner(sim: SimHandle) -> str:
    cl = sim.cluster
    env = "\n".join(f"export {k}={shlex.quote(v)}" for k, v in sim.env().items())
    ssh = ""
    if sim.ssh is not None:
        ssh = "".join(
            f"  SSH {ep.node}:     root@{ep.host}:{ep.port}  {ep.fingerprint}\n" for ep in sim.ssh.endpoints.values()
        )
    guests = cl.state.guests.values()
    return (
        f"Simulated Proxmox VE 9.2 cluster '{cl.state.cluster_name}': {len(cl.state.nodes)} node(s), "
        f"{sum(g.kind == 'qemu' for g in guests)} VMs, {sum(g.kind == 'lxc' for g in guests)} containers\n"
        f"\n"
        f"  URL:          {sim.url}\n"
        f"  API token:    {sim.token_full_id}\n"
        f"  secret:       {sim.token_secret}\n"
        f"  read-only:    {cl.readonly_token_id} = {cl.readonly_token_secret}\n"
        f"  ticket user:  {sim.username}\n"
        f"  password:     {sim.password}\n"
        f"  CA file:      {sim.ca_file}\n"
        f"  fingerprint:  {sim.tls.fingerprint_colons if sim.tls else sim.fingerprint}\n"
        f"{ssh}"
        f"\n"
        f"curl --cacert {shlex.quote(str(sim.ca_file))} -H 'Authorization: {sim.auth_header}' {sim.url}/version\n"
        f"\n"
        f"{env}\n"
        f"\n"
        f"Serving until Ctrl-C."
    )


async def _serve(options: SimOptions) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with run_sim(options) as sim:
            print(_banner(sim), flush=True)
            async for _ in signals:
                break
    print("stopped", flush=True)


def cli_main(argv: Sequence[str]) -> int:
    """Parse ``argv`` (without the program name), serve, return the exit code."""
    args = _parser().parse_args(list(argv))
    if args.nodes < 1 or args.vms < 0 or args.cts < 0:
        print("--nodes must be at least 1, --vms and --cts not negative", file=sys.stderr)
        return 2
    if not 0.0 <= args.error_rate <= 1.0:
        print("--error-rate must be between 0 and 1", file=sys.stderr)
        return 2
    options = SimOptions(
        nodes=args.nodes,
        vms_per_node=args.vms,
        cts_per_node=args.cts,
        seed=args.seed,
        host=args.host,
        port=args.port,
        task_seconds=args.task_seconds,
        latency=args.latency,
        error_rate=args.error_rate,
        fail_paths=args.fail_path,
        down_nodes=args.down_node,
        ssh=args.ssh,
    )
    try:
        anyio.run(_serve, options)
    except (ValueError, OSError) as exc:
        print(f"cannot serve the simulated cluster: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
