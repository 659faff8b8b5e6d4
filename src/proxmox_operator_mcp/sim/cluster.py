"""A simulated cluster: the state, its users, its tasks, its faults, and a clock.

:class:`SimCluster` is what the ASGI app serves and what tests inspect. Nothing here does I/O.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from .auth import AccessControl
from .files import SimFilesystem
from .options import Faults, SimOptions
from .state import ClusterState, Guest, Node, generate
from .tasks import Clock, SystemClock, Task, TaskManager, encode_upid

__all__ = ["SimCluster"]

Hook = Callable[[Task], None]


class SimCluster:
    """A Proxmox VE cluster in memory, deterministic from ``options.seed``.

    Attributes:
        options: what it was built from.
        state: nodes, guests and storages (:class:`~proxmox_operator_mcp.sim.state.ClusterState`).
        access: users, tokens, ACLs, tickets (:class:`~proxmox_operator_mcp.sim.auth.AccessControl`).
        tasks: every worker task (:class:`~proxmox_operator_mcp.sim.tasks.TaskManager`).
        faults: fault knobs read on every request; change them at run time.
        entry_node: the node that answers the API (``local`` in ``/cluster/status``).
        tls_fingerprint: SHA-256 fingerprint of the served certificate, once serving.
    """

    def __init__(self, options: SimOptions | None = None, *, clock: Clock | None = None) -> None:
        self.options = options or SimOptions()
        self.clock = clock or SystemClock()
        self.state: ClusterState = generate(self.options, self.clock.time())
        self.access = AccessControl(clock_time=self.clock.time)
        self.tasks = TaskManager(self.clock)
        self.faults: Faults = self.options.faults()
        self.entry_node: str = next(iter(self.state.nodes))
        self.tls_fingerprint: str | None = None
        self.rng = random.Random(self.options.seed + 7907)  # pids, MAC addresses, UUIDs of new guests
        self.fault_rng = random.Random(self.options.seed + 7919)  # draws of faults.error_rate
        self._seed_history()
        self._fs: SimFilesystem | None = None
        self.agent_exec_results: dict[tuple[int, int], dict[str, object]] = {}  # (vmid, pid) -> exec-status

    @property
    def fs(self) -> SimFilesystem:
        """The nodes' files (``/etc/pve`` shared, the rest per node), created on first use."""
        if self._fs is None:
            self._fs = SimFilesystem(self)
        return self._fs

    # -- credentials, for callers that wire a client to the simulator --------------------------

    @property
    def token_id(self) -> str:
        """Full id of the privileged token: ``root@pam!mcp``."""
        return "root@pam!mcp"

    @property
    def token_secret(self) -> str:
        return self.access.users["root@pam"].tokens["mcp"].secret

    @property
    def password(self) -> str:
        """Password of ``root@pam`` for ticket auth."""
        return self.access.root_password

    @property
    def readonly_token_id(self) -> str:
        """Full id of the limited token (PVEAuditor on ``/``): ``auditor@pve!ro``."""
        return "auditor@pve!ro"

    @property
    def readonly_token_secret(self) -> str:
        return self.access.users["auditor@pve"].tokens["ro"].secret

    # -- time and tasks --------------------------------------------------------------------------

    def advance(self) -> None:
        """Bring every task up to the current time (called before each request)."""
        self.tasks.advance()

    def node_online(self, name: str) -> bool:
        return name in self.state.nodes and name not in self.faults.down_nodes

    def start_task(
        self,
        node: str,
        dtype: str,
        vmid: int | str | None,
        user: str,
        *,
        lines: list[str] | None = None,
        begin: Hook | None = None,
        finish: Hook | None = None,
        abort: Hook | None = None,
        guest: Guest | None = None,
        duration: float | None = None,
    ) -> Task:
        """Fork a simulated worker on ``node`` and return it (its UPID is ``task.upid``).

        ``guest`` serialises the task on that guest's config lock, as PVE's workers do.
        ``lines`` are spread over the run time; ``begin`` runs when the worker starts and
        ``finish`` when it ends, either may raise :class:`~proxmox_operator_mcp.sim.errors.TaskFailure`.
        """
        n: Node = self.state.nodes[node]
        now = self.clock.monotonic()
        wall = int(self.clock.time())
        n.next_pid += self.rng.randrange(1, 60)
        pstart = int((wall - n.booted_at) * 100)  # jiffies since boot, like /proc/<pid>/stat
        upid = encode_upid(node, n.next_pid, pstart, wall, dtype, "" if vmid is None else str(vmid), user)
        while upid in self.tasks.tasks:  # same second, same pid: take the next pid
            n.next_pid += 1
            upid = encode_upid(node, n.next_pid, pstart, wall, dtype, "" if vmid is None else str(vmid), user)
        dur = self.options.task_seconds if duration is None else duration
        lines = lines or []
        step = dur / (len(lines) + 1) if lines else 0.0
        task = Task(
            upid=upid,
            node=node,
            pid=n.next_pid,
            pstart=pstart,
            starttime=wall,
            type=dtype,
            id="" if vmid is None else str(vmid),
            user=user,
            created_at=now,
            duration=dur,
            lines=[(step * (i + 1), text) for i, text in enumerate(lines)],
            begin=begin,
            finish=finish,
            abort=abort,
        )
        if guest is not None:
            task.lock = f"{guest.kind}:{guest.vmid}"
            sub = "qemu-server" if guest.kind == "qemu" else "lxc"
            task.lock_file = f"/var/lock/{sub}/lock-{guest.vmid}.conf"
        return self.tasks.add(task)

    def _seed_history(self) -> None:
        """A few finished tasks per node, so task lists are not empty on a fresh cluster."""
        rng = random.Random(self.options.seed + 104729)
        wall = int(self.clock.time())
        for node in self.state.nodes.values():
            guests = sorted(self.state.guests_on(node.name), key=lambda g: g.vmid)[:3]
            t = wall - 86400
            for g in guests:
                dtype = "qmstart" if g.kind == "qemu" else "vzstart"
                self._history(node, rng, t, dtype, str(g.vmid), [], "OK")
                t += rng.randrange(600, 3600)
            self._history(
                node,
                rng,
                t,
                "vzdump",
                "",
                [f"INFO: starting new backup job: vzdump --all 1 --node {node.name}"],
                "OK",
            )
            t += 1800
            self._history(node, rng, t, "aptupdate", "", ["starting apt-get update"], "OK")

    def _history(
        self, node: Node, rng: random.Random, t: int, dtype: str, vmid: str, log: list[str], status: str
    ) -> None:
        node.next_pid += rng.randrange(1, 500)
        pstart = int((t - node.booted_at) * 100)
        upid = encode_upid(node.name, node.next_pid, pstart, t, dtype, vmid, "root@pam")
        task = Task(upid, node.name, node.next_pid, pstart, t, dtype, vmid, "root@pam", created_at=0.0, duration=0.0)
        self.tasks.add_finished(task, status, t + rng.randrange(1, 90), log)
