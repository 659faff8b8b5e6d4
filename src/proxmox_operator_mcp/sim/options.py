"""Options of a simulated cluster, and the fault knobs that can change while it runs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Faults", "SimOptions"]


@dataclass
class Faults:
    """Fault injection, read on every request (change the attributes at run time).

    Attributes:
        latency: seconds added before every answer.
        error_rate: share of requests (0..1) answered with 500, drawn from a seeded generator.
        fail_paths: regular expressions; a request whose API path (below ``/api2/json``) matches
            one with ``re.search`` is answered with 500.
        down_nodes: node names that are offline: requests proxied to them answer 595, and the
            cluster reports them offline.
        auth_fail_delay: seconds an unauthenticated request waits before its 401 (pveproxy
            waits 3 s; the default 0 keeps tests fast).
    """

    latency: float = 0.0
    error_rate: float = 0.0
    fail_paths: list[str] = field(default_factory=list)
    down_nodes: set[str] = field(default_factory=set)
    auth_fail_delay: float = 0.0

    def path_fails(self, path: str) -> bool:
        """True when ``path`` matches one of :attr:`fail_paths`."""
        return any(re.search(rx, path) for rx in self.fail_paths)


@dataclass
class SimOptions:
    """How to build and serve a simulated cluster.

    Attributes:
        nodes: number of nodes (``pve1`` ... ``pveN``); 1 gives a standalone node.
        vms_per_node: QEMU VMs generated on each node.
        cts_per_node: LXC containers generated on each node.
        seed: seed of every generated name, size and metric (same seed, same cluster).
        host: address to listen on (loopback only).
        port: TCP port; 0 picks a free one.
        task_seconds: how long a worker task runs.
        latency, error_rate, fail_paths: initial :class:`Faults`.
        down_nodes: nodes that start offline.
        cluster_name: name of the cluster in ``/cluster/status``.
        ssh: also serve an SSH endpoint per node (CLI, shell and SFTP planes; see :mod:`.ssh`).
    """

    nodes: int = 3
    vms_per_node: int = 4
    cts_per_node: int = 2
    seed: int = 0
    host: str = "127.0.0.1"
    port: int = 0
    task_seconds: float = 0.3
    latency: float = 0.0
    error_rate: float = 0.0
    fail_paths: list[str] = field(default_factory=list)
    down_nodes: list[str] = field(default_factory=list)
    cluster_name: str = "sim"
    ssh: bool = False

    def faults(self) -> Faults:
        """The initial fault knobs."""
        return Faults(
            latency=self.latency,
            error_rate=self.error_rate,
            fail_paths=list(self.fail_paths),
            down_nodes=set(self.down_nodes),
        )
