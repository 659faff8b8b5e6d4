"""A simulated Proxmox VE 9.2 cluster: the REST API, faithful to the wire, in memory.

It powers ``proxmox-mcp demo``, ``proxmox-mcp sim`` and the test suite::

    async with run_sim(SimOptions(nodes=3, task_seconds=0.1)) as sim:
        env = sim.env()          # PROXMOX_HOST, PROXMOX_API_TOKEN_*, PROXMOX_TLS_CA_FILE, ...

For tests without sockets, ``create_app(SimCluster(options))`` is a plain ASGI app
(``httpx2.ASGITransport``). Requests are validated against the PVE API schema; an endpoint
that the simulator does not model answers ``501 ... not implemented (not simulated)``.
"""

from __future__ import annotations

from .app import ASGIApp, create_app
from .cli import cli_main
from .cluster import SimCluster
from .options import Faults, SimOptions
from .server import SimHandle, SimThread, run_sim
from .tasks import ManualClock

__all__ = [
    "ASGIApp",
    "Faults",
    "ManualClock",
    "SimCluster",
    "SimHandle",
    "SimOptions",
    "SimThread",
    "cli_main",
    "create_app",
    "run_sim",
]
