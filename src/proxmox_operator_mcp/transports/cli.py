"""The CLI plane: Proxmox's own command-line tools over the pooled SSH connection.

Commands are argument vectors from start to end. The pure functions here build and check them
(:func:`build_pvesh_argv`, :func:`validate_argv`) and read ``pvesh`` output
(:func:`parse_pvesh_output`); :class:`CliRunner` is a thin layer over
:class:`~proxmox_operator_mcp.transports.ssh.SshPool`, which quotes each argument for the remote
shell in exactly one place.

``pvesh get|create|set|delete PATH`` is the CLI twin of ``GET|POST|PUT|DELETE /api2/json/PATH``:
same paths, same parameters, and with ``--output-format json`` the same ``data`` shapes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal

from ..errors import CommandTimeoutError, InvalidArgumentError, ProxmoxServerError, SshError
from .ssh import DEFAULT_MAX_OUTPUT, CommandResult, SshPool, SshTarget

__all__ = [
    "ALLOWED_BINARIES",
    "MAX_ARGS",
    "MAX_ARG_BYTES",
    "MAX_ARGV_BYTES",
    "CliRunner",
    "PveshVerb",
    "build_pvesh_argv",
    "method_to_pvesh_verb",
    "parse_pvesh_output",
    "resolve_argv",
    "validate_argv",
]

ALLOWED_BINARIES: Mapping[str, str] = MappingProxyType(
    {
        # Paths as the Debian packages of PVE 8/9 install them (checked against the packages'
        # Makefiles: pve-manager installs its tools in /usr/bin; qemu-server, pve-container,
        # pve-storage, pve-ha-manager and pve-access-control in /usr/sbin; pve-cluster puts
        # pvecm in /usr/bin; ceph-common ships /usr/bin/ceph).
        "pvesh": "/usr/bin/pvesh",
        "qm": "/usr/sbin/qm",
        "pct": "/usr/sbin/pct",
        "pvesm": "/usr/sbin/pvesm",
        "pveam": "/usr/bin/pveam",
        "vzdump": "/usr/bin/vzdump",
        "ha-manager": "/usr/sbin/ha-manager",
        "pvecm": "/usr/bin/pvecm",
        "pveum": "/usr/sbin/pveum",
        "pvenode": "/usr/bin/pvenode",
        "ceph": "/usr/bin/ceph",
    }
)
"""The programs the CLI plane may run, by bare name, with their full path on a PVE node."""

MAX_ARGS = 1024
MAX_ARG_BYTES = 32 * 1024
MAX_ARGV_BYTES = 128 * 1024  # well below OpenSSH's 256 KiB packet limit and Linux's ARG_MAX

PveshVerb = Literal["get", "create", "set", "delete"]

_VERBS: Mapping[str, PveshVerb] = MappingProxyType({"GET": "get", "POST": "create", "PUT": "set", "DELETE": "delete"})
_PATH_RE = re.compile(r"^/(?:[A-Za-z0-9_.:@!%=+,~\-]+(?:/[A-Za-z0-9_.:@!%=+,~\-]+)*)?/?$")
_PARAM_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")
_MAX_JSON_STARTS = 2000


def method_to_pvesh_verb(method: str) -> PveshVerb:
    """``GET``/``POST``/``PUT``/``DELETE`` -> ``get``/``create``/``set``/``delete``.

    Raises:
        InvalidArgumentError: another method.
    """
    verb = _VERBS.get(method.upper())
    if verb is None:
        raise InvalidArgumentError(f"pvesh has no verb for HTTP method {method!r}", hint="use GET, POST, PUT or DELETE")
    return verb


def _param_value(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise InvalidArgumentError(
        f"parameter {key!r}: {type(value).__name__} values cannot be passed to pvesh",
        hint="use a string, number or boolean (lists repeat the parameter)",
    )


def build_pvesh_argv(verb: PveshVerb, path: str, params: Mapping[str, Any] | None = None) -> list[str]:
    """The argv of ``pvesh VERB PATH --key=value … --output-format json``.

    Booleans become ``0``/``1`` (as PVE sends them), lists repeat the parameter, ``None`` values
    are left out. Parameters use the ``--key=value`` form so that a value starting with ``-``
    can never be taken for an option.

    Raises:
        InvalidArgumentError: unknown verb, a path outside the API tree, a bad parameter name or
            a value that has no CLI form.
    """
    if verb not in _VERBS.values():
        raise InvalidArgumentError(f"unknown pvesh verb {verb!r}", hint="use get, create, set or delete")
    if not _PATH_RE.fullmatch(path) or any(seg in (".", "..") for seg in path.split("/")):
        raise InvalidArgumentError(
            f"{path!r} is not an API path",
            hint="paths look like /nodes/pve1/qemu/101/status/current (no spaces, no '..')",
        )
    argv = ["pvesh", verb, path]
    for key, value in (params or {}).items():
        if not isinstance(key, str) or not _PARAM_RE.fullmatch(key):
            raise InvalidArgumentError(f"{key!r} is not a parameter name")
        if key in ("output-format", "noproxy", "quiet", "human-readable", "noborder", "noheader"):
            raise InvalidArgumentError(f"{key!r} is a pvesh option, not an API parameter")
        if value is None:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            argv.append(f"--{key}={_param_value(key, item)}")
    argv += ["--output-format", "json"]
    return argv


def validate_argv(argv: Sequence[str]) -> None:
    """Check an argv for the CLI plane.

    The program must be one of :data:`ALLOWED_BINARIES` by bare name; every argument a string
    without NUL bytes; at most :data:`MAX_ARGS` arguments of at most :data:`MAX_ARG_BYTES`
    bytes each and :data:`MAX_ARGV_BYTES` in all (UTF-8).

    Raises:
        InvalidArgumentError: what is wrong.
    """
    if isinstance(argv, (str, bytes)) or not isinstance(argv, Sequence) or not argv:
        raise InvalidArgumentError("a command is a non-empty list of arguments, not a string")
    if len(argv) > MAX_ARGS:
        raise InvalidArgumentError(f"too many arguments ({len(argv)}; at most {MAX_ARGS})")
    total = 0
    for i, arg in enumerate(argv):
        if not isinstance(arg, str):
            raise InvalidArgumentError(f"argument {i} is a {type(arg).__name__}, not a string")
        if "\x00" in arg:
            raise InvalidArgumentError(f"argument {i} contains a NUL byte")
        try:
            size = len(arg.encode("utf-8"))
        except UnicodeEncodeError:
            raise InvalidArgumentError(f"argument {i} is not valid Unicode text") from None
        if size > MAX_ARG_BYTES:
            raise InvalidArgumentError(f"argument {i} is {size} bytes long (at most {MAX_ARG_BYTES})")
        total += size
    if total > MAX_ARGV_BYTES:
        raise InvalidArgumentError(f"the command is {total} bytes long (at most {MAX_ARGV_BYTES})")
    if argv[0] not in ALLOWED_BINARIES:
        raise InvalidArgumentError(
            f"{argv[0]!r} is not a Proxmox command the CLI plane runs",
            hint="allowed: " + ", ".join(ALLOWED_BINARIES),
        )


def resolve_argv(argv: Sequence[str], *, bare_names: bool = False) -> list[str]:
    """:func:`validate_argv`, then the program replaced by its full path on the node.

    With ``bare_names`` the program stays a bare name, found through the remote ``PATH`` (for
    test doubles on a test sshd).

    Raises:
        InvalidArgumentError: as :func:`validate_argv`.
    """
    validate_argv(argv)
    program = argv[0] if bare_names else ALLOWED_BINARIES[argv[0]]
    return [program, *argv[1:]]


def _trailing_json(text: str) -> tuple[Any, str] | None:
    """The JSON value that ends ``text`` and the text before it, or None."""
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    # From the end backwards: the shortest suffix that parses is the value pvesh printed last;
    # a suffix that starts inside a pretty-printed object or array never parses. pvesh prints
    # compact JSON on one line, so the first candidate normally wins; the cap bounds the cost
    # of output that holds no JSON at all.
    tries = 0
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].lstrip()[:1] not in '{["-0123456789tfn':
            continue
        tries += 1
        if tries > _MAX_JSON_STARTS:
            break
        try:
            return json.loads(text[offsets[i] :]), text[: offsets[i]]
        except ValueError:
            continue
    return None


def parse_pvesh_output(stdout: str) -> Any:
    """The ``data`` of a ``pvesh … --output-format json`` call, shaped as the REST API returns it.

    Empty output is ``None`` (pvesh prints nothing for methods that return null). Worker calls
    (start, migrate, vzdump …) run in the foreground on the CLI and print the task's output
    before the returned UPID: the JSON value at the end is the result, the rest is discarded.

    Raises:
        SshError: no JSON value ends the output.
    """
    text = stdout.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    found = _trailing_json(text)
    if found is None:
        tail = text[-300:]
        raise SshError(
            "pvesh did not print JSON" + (f" (output ends with: {tail!r})" if tail else ""),
            hint="Is the program on the node the real pvesh? It is called with --output-format json.",
        )
    return found[0]


class CliRunner:
    """Runs Proxmox CLI tools on a node through an :class:`SshPool`.

    Args:
        pool: the SSH pool.
        bare_names: call the programs by bare name (resolved through the remote ``PATH``)
            instead of their full paths; for test doubles only.
        pvesh_max_output: output cap for :meth:`pvesh` (its JSON must arrive whole).
    """

    def __init__(self, pool: SshPool, *, bare_names: bool = False, pvesh_max_output: int = 32 * 1024 * 1024) -> None:
        self._pool = pool
        self._bare_names = bare_names
        self._pvesh_max_output = pvesh_max_output

    async def run(
        self,
        target: SshTarget,
        argv: Sequence[str],
        *,
        timeout: float,
        max_output: int | None = None,
    ) -> CommandResult:
        """Run an allow-listed Proxmox command and return its exit status, output and duration.

        A non-zero exit status is a result, not an error.

        Raises:
            InvalidArgumentError: the argv is not allowed (see :func:`validate_argv`).
            CommandTimeoutError, SshError, HostKeyUnknownError, HostKeyChangedError: from the pool.
        """
        resolved = resolve_argv(argv, bare_names=self._bare_names)
        return await self._pool.run(
            target, resolved, timeout=timeout, max_output=DEFAULT_MAX_OUTPUT if max_output is None else max_output
        )

    async def pvesh(
        self,
        target: SshTarget,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout: float,
    ) -> Any:
        """Call the API through ``pvesh`` on the node; returns the same ``data`` as REST.

        Raises:
            ProxmoxServerError: pvesh exited non-zero (status 500, pvesh's own message).
            CommandTimeoutError: pvesh was killed at the timeout.
            SshError: transport failure, output over the cap, or output that is not JSON.
            InvalidArgumentError: bad method, path or parameters.
        """
        method = method.upper()
        argv = build_pvesh_argv(method_to_pvesh_verb(method), path, params)
        result = await self.run(target, argv, timeout=timeout, max_output=self._pvesh_max_output)
        if result.timed_out:
            raise CommandTimeoutError(
                f"pvesh {argv[1]} {path} on {target.describe()} did not finish within {timeout:g} s and was killed",
                hint="Worker calls run in the foreground on the CLI; use the REST plane or a longer timeout.",
            )
        if result.exit_status != 0:
            message = (result.stderr.strip() or result.stdout.strip()[-2000:] or "no error message")[:2000]
            status = (
                f"exit status {result.exit_status}"
                if result.exit_status is not None
                else f"signal {result.exit_signal}"
            )
            raise ProxmoxServerError(
                500,
                message,
                method=method,
                path=path,
                hint=f"pvesh on {target.describe()} ended with {status}.",
            )
        if result.truncated:
            raise SshError(
                f"pvesh {argv[1]} {path} printed more than {self._pvesh_max_output} bytes; the result was cut",
                hint="Ask for less (filters, a narrower path) or use the REST plane.",
            )
        return parse_pvesh_output(result.stdout)
