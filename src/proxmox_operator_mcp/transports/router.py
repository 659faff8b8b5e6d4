"""Which plane serves an Operation, and the per-cluster transports behind it.

* ``api``: REST, always first. Every REST operation is validated against the official PVE API
  schema here, before it leaves the process, whichever tool produced it. When PVE refuses a
  guest-agent ``exec`` with 403 (the API token lacks the right) and the node has SSH access,
  the same request is served by ``pvesh`` over SSH instead (see :data:`CLI_FALLBACK`).
* ``cli``: Proxmox's own tools over the pooled SSH connection. An argv runs as given (allow-list
  checked); an operation with a method and path but no argv is the REST request made through
  ``pvesh`` (a caller naming the CLI plane explicitly), schema-checked like REST.
* ``shell``: an argv run on the node without an allow-list (``("sh", "-c", script)``), and the
  two node-access steps of the bootstrap (``method`` ``HOSTKEY-SCAN`` / ``KEY-INSTALL``).
* ``file``: SFTP reads (``method`` ``GET``) and atomic writes (``PUT``) under the file policy.

docs/planes.md has the table of what goes where. The SSH pool and CLI runner of a cluster are
created on first use; a node without an SSH target gets an error saying how to configure one.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, InvalidArgumentError, ProxmoxPermissionError
from ..operation import Operation

if TYPE_CHECKING:
    import httpx2

    from ..config import ClusterConfig, Settings
    from .cli import CliRunner
    from .files import FilePolicy
    from .rest import RestClient
    from .ssh import SshPool, SshTarget

__all__ = [
    "CLI_FALLBACK",
    "DEFAULT_MAX_OUTPUT",
    "DEFAULT_TIMEOUT",
    "Router",
    "resolve_ssh_target",
]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0
"""Seconds a CLI or shell command may run when the operation does not say (``params["timeout"]``)."""

DEFAULT_MAX_OUTPUT = 1024 * 1024
"""Bytes of stdout (and of stderr) kept when the operation does not say (``params["max_output"]``)."""

CLI_FALLBACK: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("POST", re.compile(r"^/nodes/(?P<node>[^/]+)/qemu/\d+/agent/exec$")),
    ("GET", re.compile(r"^/nodes/(?P<node>[^/]+)/qemu/\d+/agent/exec-status$")),
)
"""REST requests served by ``pvesh`` over SSH when PVE answers 403 (the token lacks the right)."""

_NODE_IN_PATH = re.compile(r"^/nodes/([^/]+)(?:/|$)")


def resolve_ssh_target(cluster: ClusterConfig, node: str | None) -> SshTarget:
    """The SSH target of ``node`` (default: the cluster's default node, or its only SSH node).

    Raises:
        ConfigError: the node (or the cluster) has no SSH access configured; says how to add it.
    """
    targets = cluster.ssh or {}
    if node is None:
        if cluster.default_node and cluster.default_node in targets:
            node = cluster.default_node
        elif len(targets) == 1:
            node = next(iter(targets))
    target = targets.get(node) if node is not None else None
    if target is not None:
        return target
    where = f"node {node}" if node else "this call (no node given and no default node)"
    known = f" SSH is configured for: {', '.join(sorted(targets))}." if targets else ""
    raise ConfigError(
        [f"cluster {cluster.name!r} has no SSH access for {where}.{known}"],
        hint=(
            "For one node set PROXMOX_SHELL_SSH_HOST, PROXMOX_SHELL_SSH_PRIVATE_KEY_PATH and "
            "PROXMOX_SHELL_SSH_EXPECTED_HOST_KEY (`proxmox-mcp hostkey scan NODE` shows the key to pin); for several, "
            f"add [clusters.ssh.nodes.{node or 'NODE'}] with host and host_keys to the configuration file "
            "(docs/configuration.md, section SSH)."
        ),
    )


def _number(params: Any, key: str, default: float) -> float:
    value = params.get(key) if params else None
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InvalidArgumentError(f"{key} must be a positive number")
    return float(value)


class Router:
    """Owns the transports of each cluster (created lazily) and dispatches operations by plane.

    Args:
        settings: the server's settings.
        rest_transport: an httpx2 transport for the REST clients (tests: the simulator in process).
        file_policy: where the file plane may read and write (default:
            :data:`~proxmox_operator_mcp.transports.files.DEFAULT_FILE_POLICY`).
        cli_bare_names: call the Proxmox tools by bare name through the node's ``PATH`` instead of
            their full paths (only for test nodes with doubles on ``PATH``).
        cli_fallback: serve the requests of :data:`CLI_FALLBACK` over ``pvesh`` when REST says 403.
        max_sessions: concurrent SSH channels per node.

    ``file_policy``, ``cli_bare_names`` and ``cli_fallback`` are plain attributes; they may be set
    after construction, before the first operation.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        rest_transport: httpx2.AsyncBaseTransport | None = None,
        file_policy: FilePolicy | None = None,
        cli_bare_names: bool = False,
        cli_fallback: bool = True,
        max_sessions: int = 8,
    ) -> None:
        self.settings = settings
        self._rest: dict[str, RestClient] = {}
        self._rest_transport = rest_transport
        self._pools: dict[str, SshPool] = {}
        self._cli: dict[str, CliRunner] = {}
        self.file_policy = file_policy
        self.cli_bare_names = cli_bare_names
        self.cli_fallback = cli_fallback
        self.max_sessions = max_sessions

    # -- transports, lazily

    def rest(self, cluster: str) -> RestClient:
        client = self._rest.get(cluster)
        if client is None:
            # Imported here, not at module top: keeps `proxmox-mcp serve` start-up free of it.
            from .rest import RestClient

            client = RestClient(self.settings.cluster(cluster), transport=self._rest_transport)
            self._rest[cluster] = client
        return client

    def ssh_target(self, cluster: str, node: str | None) -> SshTarget:
        """See :func:`resolve_ssh_target` (the client key may still be a secret-backend reference)."""
        return resolve_ssh_target(self.settings.cluster(cluster), node)

    async def _target(self, cluster: str, node: str | None) -> SshTarget:
        """The node's target with its client key, read from the secret backend when it comes from one."""
        config = self.settings.cluster(cluster)
        # Keys and passphrases kept in a secret backend are read at connect time; a target whose
        # key is configured inline comes back unchanged.
        return await config.secrets.ssh_target(resolve_ssh_target(config, node))

    def ssh_pool(self, cluster: str) -> SshPool:
        pool = self._pools.get(cluster)
        if pool is None:
            # asyncssh costs ~300 ms to import: only when an SSH plane is first used.
            from .ssh import SshPool

            pool = self._pools[cluster] = SshPool(max_sessions=self.max_sessions)
        return pool

    def ssh_connections(self) -> dict[str, int]:
        """Open pooled SSH connections per cluster (for the metrics)."""
        return {cluster: pool.open_connections() for cluster, pool in self._pools.items()}

    def cli(self, cluster: str) -> CliRunner:
        runner = self._cli.get(cluster)
        if runner is None:
            from .cli import CliRunner

            runner = self._cli[cluster] = CliRunner(self.ssh_pool(cluster), bare_names=self.cli_bare_names)
        return runner

    # -- dispatch

    async def execute(self, op: Operation) -> Any:
        """Send ``op`` over its plane.

        Returns the REST ``data`` (api, and cli without argv), a
        :class:`~proxmox_operator_mcp.transports.ssh.CommandResult` (cli and shell commands), a
        :class:`~proxmox_operator_mcp.transports.files.FileRead` /
        :class:`~proxmox_operator_mcp.transports.files.FileWritten` (file), or the bootstrap's
        :class:`~proxmox_operator_mcp.transports.ssh.ScannedHostKey` / ``KeyInstalled``.

        Raises:
            UnknownEndpointError, SchemaValidationError: the request is not valid for PVE; nothing was sent.
            InvalidArgumentError: the operation is malformed, or refused by the CLI allow-list or
                the file policy; nothing was sent.
            ConfigError: the node has no SSH access configured.
            TransportError: the plane failed (SshError, HostKeyUnknownError, ProxmoxAPIError …).
        """
        if op.plane == "api":
            return await self._api(op)
        if op.read_only:
            return await self._node_plane(op)
        # A change over SSH: REST GETs sent before it ended must not answer reads after it.
        rest = self.rest(op.cluster)
        rest.note_change()
        try:
            return await self._node_plane(op)
        finally:
            rest.note_change()

    async def _node_plane(self, op: Operation) -> Any:
        if op.plane == "cli":
            if op.argv is None:
                return await self._pvesh(op)
            return await self._cli_run(op)
        if op.plane == "shell":
            return await self._shell(op)
        if op.plane == "file":
            return await self._file(op)
        raise InvalidArgumentError(f"unknown plane {op.plane!r}")

    async def _api(self, op: Operation) -> Any:
        from ..schema import get_schema

        if op.method is None or op.path is None:
            raise InvalidArgumentError("a REST operation needs a method and a path")
        req = get_schema().validate(op.method, op.path, op.params)
        try:
            return await self.rest(op.cluster).request(op.method, req.path, req.params, url_path=req.url_path)
        except ProxmoxPermissionError as exc:
            node = self._fallback_node(op)
            if node is None:
                raise
            target = await self._target(op.cluster, node)
            log.warning(
                "REST refused %s %s (%s); serving it over the CLI plane (pvesh as %s on node %s)",
                op.method,
                op.path,
                exc.pve_message,
                target.username,
                node,
            )
            return await self.cli(op.cluster).pvesh(target, op.method, req.path, req.params, timeout=DEFAULT_TIMEOUT)

    def _fallback_node(self, op: Operation) -> str | None:
        if not self.cli_fallback or op.method is None or op.path is None:
            return None
        for method, rx in CLI_FALLBACK:
            m = rx.match(op.path)
            if m and op.method.upper() == method:
                node = m.group("node")
                return node if node in (self.settings.cluster(op.cluster).ssh or {}) else None
        return None

    async def _pvesh(self, op: Operation) -> Any:
        from ..schema import get_schema

        if op.method is None or op.path is None:
            raise InvalidArgumentError("a CLI operation needs an argv, or a method and path for pvesh")
        req = get_schema().validate(op.method, op.path, op.params)
        m = _NODE_IN_PATH.match(req.path)
        target = await self._target(op.cluster, op.node or (m.group(1) if m else None))
        return await self.cli(op.cluster).pvesh(target, op.method, req.path, req.params, timeout=DEFAULT_TIMEOUT)

    async def _cli_run(self, op: Operation) -> Any:
        from .cli import (
            ALLOWED_BINARIES,
            NODE_COMMANDS,
            classify_argv,
            validate_argv,
            validate_node_command,
        )

        argv = list(op.argv or ())
        if argv and argv[0] in ALLOWED_BINARIES:
            validate_argv(argv)
        elif argv and argv[0] in NODE_COMMANDS:
            validate_node_command(argv)
        else:
            validate_argv(argv)  # raises: names what the CLI plane runs
        if op.read_only and classify_argv(argv) != "read":
            # The gate let it through as a read; the command says otherwise. Never run it.
            raise InvalidArgumentError(
                f"`{' '.join(argv[:3])}` changes something but the operation claims to be read-only; refused",
                hint="Use proxmox_cli_run in operator or admin mode.",
            )
        target = await self._target(op.cluster, op.node)
        timeout = _number(op.params, "timeout", DEFAULT_TIMEOUT)
        max_output = int(_number(op.params, "max_output", DEFAULT_MAX_OUTPUT))
        if argv[0] in ALLOWED_BINARIES:
            return await self.cli(op.cluster).run(target, argv, timeout=timeout, max_output=max_output)
        return await self.ssh_pool(op.cluster).run(target, argv, timeout=timeout, max_output=max_output)

    async def _shell(self, op: Operation) -> Any:
        from . import ssh

        target = await self._target(op.cluster, op.node)
        step = (op.method or "RUN").upper()
        if step == "HOSTKEY-SCAN":
            return await ssh.scan_host_key(target.host, target.port, timeout=target.connect_timeout)
        if step == "KEY-INSTALL":
            from pydantic import SecretStr

            from .files import take

            password = SecretStr(take(op.params.get("password")).decode("utf-8"))
            fingerprint = op.params.get("fingerprint")
            if not isinstance(fingerprint, str):
                raise InvalidArgumentError("KEY-INSTALL needs the confirmed host key fingerprint")
            public_key = await ssh.client_public_key(target)
            return await ssh.install_authorized_key(
                target, password=password, fingerprint=fingerprint, public_key=public_key
            )
        if step != "RUN" or not op.argv:
            raise InvalidArgumentError("a shell operation is an argv to run (or a bootstrap step)")
        timeout = _number(op.params, "timeout", DEFAULT_TIMEOUT)
        max_output = int(_number(op.params, "max_output", DEFAULT_MAX_OUTPUT))
        return await self.ssh_pool(op.cluster).run(target, list(op.argv), timeout=timeout, max_output=max_output)

    async def _file(self, op: Operation) -> Any:
        from .files import DEFAULT_FILE_POLICY, check_path, read_file, take, write_file

        if op.path is None:
            raise InvalidArgumentError("a file operation needs a path")
        policy = self.file_policy or DEFAULT_FILE_POLICY
        method = (op.method or "GET").upper()
        if method not in ("GET", "PUT"):
            raise InvalidArgumentError(f"unknown file operation {method!r} (GET reads, PUT writes)")
        check_path(op.path, policy, write=method == "PUT")  # before connecting; again on the node
        target = await self._target(op.cluster, op.node)
        pool = self.ssh_pool(op.cluster)
        if method == "GET":
            max_bytes = int(_number(op.params, "max_bytes", policy.max_read))
            async with pool.sftp(target) as sftp:
                return await read_file(sftp, op.path, policy, max_bytes=max_bytes)
        if op.read_only:
            raise InvalidArgumentError("a file write cannot be a read-only operation")
        data = take(op.params.get("content"))
        if len(data) != op.params.get("size"):
            raise InvalidArgumentError("the staged content does not have the size the operation names")
        mode = op.params.get("mode")
        expect = op.params.get("expect_sha256")
        async with pool.sftp(target) as sftp:
            return await write_file(
                sftp,
                op.path,
                data,
                policy,
                backup=bool(op.params.get("backup")),
                mode=mode if isinstance(mode, int) else None,
                expect_sha256=expect if isinstance(expect, str) else None,
            )

    async def aclose(self) -> None:
        for client in self._rest.values():
            await client.aclose()
        self._rest.clear()
        for pool in self._pools.values():
            await pool.aclose()
        self._pools.clear()
        self._cli.clear()
