"""The CLI plane: Proxmox's own command-line tools over the pooled SSH connection.

Commands are argument vectors from start to end. The pure functions here build and check them
(:func:`build_pvesh_argv`, :func:`validate_argv`) and read ``pvesh`` output
(:func:`parse_pvesh_output`); :class:`CliRunner` is a thin layer over
:class:`~proxmox_operator_mcp.transports.ssh.SshPool`, which quotes each argument for the remote
shell in exactly one place.

``pvesh get|create|set|delete PATH`` is the CLI twin of ``GET|POST|PUT|DELETE /api2/json/PATH``:
same paths, same parameters, and with ``--output-format json`` the same ``data`` shapes.

Two pure tables say what a command does: :func:`classify_argv` sorts a Proxmox CLI command
into read / write / destructive (the policy gate decides from that), and :data:`NODE_COMMANDS`
lists the read-only diagnostic programs (``uptime``, ``df``, ``journalctl`` …) that
``proxmox_node_terminal_run`` may run besides the Proxmox tools' read subcommands.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from ..errors import (
    CommandTimeoutError,
    InvalidArgumentError,
    ProxmoxServerError,
    SshError,
)
from .ssh import DEFAULT_MAX_OUTPUT, CommandResult, SshPool, SshTarget

__all__ = [
    "ALLOWED_BINARIES",
    "MAX_ARGS",
    "MAX_ARGV_BYTES",
    "MAX_ARG_BYTES",
    "NODE_COMMANDS",
    "CliRunner",
    "CommandKind",
    "PveshVerb",
    "build_pvesh_argv",
    "classify_argv",
    "method_to_pvesh_verb",
    "parse_pvesh_output",
    "resolve_argv",
    "split_command_line",
    "validate_argv",
    "validate_node_command",
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
    _check_shape(argv)
    if argv[0] not in ALLOWED_BINARIES:
        raise InvalidArgumentError(
            f"{argv[0]!r} is not a Proxmox command the CLI plane runs",
            hint="allowed: " + ", ".join(ALLOWED_BINARIES),
        )


def _check_shape(argv: Sequence[str]) -> None:
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


# --------------------------------------------------------------------------- classification

CommandKind = Literal["read", "write", "destructive"]
"""What a command does: changes nothing, changes something, or may destroy data / interrupt service."""


def _phrases(spec: str) -> frozenset[tuple[str, ...]]:
    return frozenset(tuple(p.split()) for p in spec.split("|") if p.strip())


# binary -> (read phrases, destructive phrases, class of everything else). A phrase is the
# leading subcommand words; the longest phrase that prefixes the command's words wins. Reads
# that show credentials or private data (`qm cloudinit dump`, `ceph auth get`, ACME plugin
# settings) are deliberately not listed as reads, so read-only mode cannot exfiltrate them.
# Access control and cluster membership fail to destructive rather than to write.
_CLASSES: Mapping[str, tuple[frozenset[tuple[str, ...]], frozenset[tuple[str, ...]], CommandKind]] = MappingProxyType(
    {
        "qm": (
            _phrases("list|config|status|pending|listsnapshot|showcmd|wait|help|guest exec-status|cloudinit pending"),
            _phrases(
                "destroy|stop|reset|rollback|delsnapshot|unlink|disk unlink|template|monitor|sendkey|terminal|"
                "vncproxy|guest exec|guest passwd|mtunnel"
            ),
            "write",
        ),
        "pct": (
            _phrases("list|config|status|pending|listsnapshot|df|cpusets|help"),
            _phrases("destroy|stop|rollback|delsnapshot|template|exec|enter|console|push|pull|mount"),
            "write",
        ),
        "pvesh": (_phrases("get|ls|usage|help"), _phrases("delete"), "write"),
        "pvesm": (
            _phrases(
                "status|list|path|help|apiinfo|scan|cifsscan|glusterfsscan|iscsiscan|lvmscan|lvmthinscan|nfsscan|"
                "zfsscan|extractconfig"
            ),
            _phrases("free|remove|prune-backups"),
            "write",
        ),
        "pveam": (_phrases("list|available|help"), _phrases("remove"), "write"),
        "vzdump": (_phrases("help"), frozenset(), "write"),
        "ha-manager": (
            _phrases("status|config|groupconfig|help|rules config|rules list"),
            _phrases("crm-command stop"),
            "write",
        ),
        "pvecm": (_phrases("status|nodes|apiver|help|qdevice help"), frozenset(), "destructive"),
        "pveum": (
            _phrases(
                "help|user list|user permissions|user token list|user token permissions|user tfa list|group list|"
                "role list|acl list|pool list|realm list"
            ),
            frozenset(),
            "destructive",
        ),
        "pvenode": (
            _phrases("help|config get|task list|task log|task status|cert info|acme account list|acme account info"),
            _phrases(
                "stopall|cert delete|cert set|acme cert order|acme cert renew|acme cert revoke|acme account deactivate"
            ),
            "write",
        ),
        "ceph": (
            _phrases(
                "status|health|df|version|versions|quorum_status|report|time-sync-status|osd tree|osd df|osd stat|"
                "osd ls|osd dump|osd perf|osd find|osd metadata|osd utilization|osd versions|osd ok-to-stop|"
                "osd safe-to-destroy|osd pool ls|osd pool stats|osd pool get|osd pool autoscale-status|"
                "osd crush tree|osd crush rule ls|osd crush rule dump|mon stat|mon dump|mgr stat|mgr dump|"
                "mgr services|mgr module ls|mds stat|fs ls|fs status|fs dump|pg stat|pg dump|pg ls|help"
            ),
            _phrases(
                "osd destroy|osd purge|osd rm|osd out|osd crush remove|osd crush rm|osd pool delete|osd pool rm|"
                "fs rm|fs fail|mon remove|mon rm|auth del|auth rm|mds fail|mds rm"
            ),
            "write",
        ),
    }
)
_CEPH_STATUS_ARGS = frozenset({"-s", "--status", "-w", "--watch", "-f", "--format", "json", "json-pretty", "plain"})
_DISK_KEY_RE = re.compile(r"^(?:ide|sata|scsi|virtio|efidisk|tpmstate|unused|mp)\d+$|^rootfs$")
# pvesh paths whose GET shows secrets, and whose create/set destroys or hands out a shell.
_PVESH_SECRET_GET = re.compile(r"/agent/file-read$|/cloudinit/dump$|/acme/plugins(?:/|$)|/metrics/server/|/tfa(?:/|$)")
_PVESH_DESTRUCTIVE = re.compile(
    r"/status/(?:stop|reset)$|/snapshot/[^/]+/rollback$|/unlink$|/stopall$|/agent/exec$|/agent/file-write$|"
    r"/(?:termproxy|vncshell|spiceshell|vncproxy|mtunnel)$|/agent/set-user-password$"
)


def _split_options(tokens: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Leading subcommand words (up to the first option or argument that is not a word), and
    every ``--key value`` / ``--key=value`` / flag option."""
    words: list[str] = []
    options: dict[str, str] = {}
    in_words = True
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok == "--":
            break
        if tok.startswith("-") and len(tok) > 1:
            in_words = False
            name, eq, value = tok.lstrip("-").partition("=")
            if not eq:
                nxt = tokens[i + 1] if i + 1 < len(tokens) else None
                if nxt is not None and not nxt.startswith("-"):
                    value = nxt
                    i += 1
                else:
                    value = "1"
            options[name] = value
        elif in_words and re.fullmatch(r"[a-z][a-z0-9_\-]*", tok):
            words.append(tok)
        else:
            in_words = False
        i += 1
    return words, options


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() in {"1", "yes", "true", "on"}


def classify_argv(argv: Sequence[str]) -> CommandKind:
    """What a Proxmox CLI command does: ``"read"``, ``"write"`` or ``"destructive"``.

    A pure table (see ``_CLASSES``): the longest known subcommand phrase decides, refined by a
    few options (``set --delete scsi1`` detaches a disk, ``shutdown --forceStop 1`` may hard-stop,
    ``resize`` without ``+`` may shrink). ``pvesh`` is classified by verb and API path. Anything
    unknown, including programs outside :data:`ALLOWED_BINARIES`, is at least a write; programs
    outside the table are destructive. Read-only diagnostics (:data:`NODE_COMMANDS`) are reads
    when :func:`validate_node_command` accepts them.
    """
    if isinstance(argv, (str, bytes)) or not argv:
        return "destructive"
    program, tokens = argv[0], list(argv[1:])
    if program in NODE_COMMANDS and program not in _CLASSES:
        try:
            validate_node_command(argv)
        except InvalidArgumentError:
            return "destructive"
        return "read"
    entry = _CLASSES.get(program)
    if entry is None:
        return "destructive"
    reads, destructive, default = entry
    words, options = _split_options(tokens)
    if program == "ceph" and not words:
        return "read" if tokens and set(tokens) <= _CEPH_STATUS_ARGS else default
    best: tuple[str, ...] = ()
    kind: CommandKind = default
    for n in range(len(words), 0, -1):
        phrase = tuple(words[:n])
        if phrase in destructive:
            best, kind = phrase, "destructive"
            break
        if phrase in reads:
            best, kind = phrase, "read"
            break
    if program == "pvesh":
        path = next((t for t in tokens if t.startswith("/")), "")
        if kind == "read" and best == ("get",) and _PVESH_SECRET_GET.search(path):
            return "write"
        forced_stop = path.endswith("/status/shutdown") and _truthy(options.get("forceStop"))
        if words[:1] in (["create"], ["set"]) and (_PVESH_DESTRUCTIVE.search(path) or forced_stop):
            return "destructive"
        return kind
    if kind != "write":
        return kind
    sub = words[:1]
    if program in ("qm", "pct"):
        if sub == ["set"] and any(_DISK_KEY_RE.match(k.strip()) for k in re.split(r"[,;\s]+", options.get("delete", ""))):
            return "destructive"
        if sub == ["shutdown"] and _truthy(options.get("forceStop")):
            return "destructive"
        if sub in (["create"], ["restore"]) and _truthy(options.get("force")):
            return "destructive"
        if (sub == ["resize"] or words[:2] == ["disk", "resize"]) and not any(t.startswith("+") for t in tokens):
            return "destructive"
    return kind


# --------------------------------------------------------------------------- node diagnostics


@dataclass(frozen=True)
class _Rule:
    """How one diagnostic program may be called so that it only reads."""

    subcommands: frozenset[str] | None = None  # first positional must be one of these (None: any/none)
    positionals: bool = True  # positional arguments allowed at all
    only_options: frozenset[str] | None = None  # when set, the only options allowed
    no_short: str = ""  # short option letters refused (also inside clusters like -xs)
    no_long: tuple[str, ...] = ()  # long option prefixes refused
    no_words: frozenset[str] = frozenset()  # positional words refused anywhere
    no_abbrev: tuple[str, ...] = ()  # single-dash long options refused with any abbreviation (ip -b = -batch)


_IP_WRITES = frozenset(
    {"add", "del", "delete", "change", "chg", "replace", "set", "flush", "append", "prepend", "save", "restore",
     "exec", "netns", "update", "test"}
)
_NODE_RULES: Mapping[str, _Rule] = MappingProxyType(
    {
        "pveversion": _Rule(positionals=False, only_options=frozenset({"-v", "--verbose"})),
        "pvereport": _Rule(positionals=False, only_options=frozenset()),
        "pvesubscription": _Rule(subcommands=frozenset({"get"})),
        "uptime": _Rule(positionals=False),
        "hostname": _Rule(
            positionals=False,
            only_options=frozenset(
                {"-f", "-s", "-d", "-i", "-I", "-A", "--fqdn", "--long", "--short", "--domain", "--ip-address",
                 "--all-ip-addresses", "--all-fqdns"}
            ),
        ),
        "uname": _Rule(positionals=False),
        "date": _Rule(positionals=True, no_short="sf", no_long=("--set", "--file")),
        "free": _Rule(positionals=False),
        "df": _Rule(),
        "lsblk": _Rule(),
        "lscpu": _Rule(),
        "lspci": _Rule(),
        "lsusb": _Rule(),
        "nproc": _Rule(),
        "sensors": _Rule(no_short="s", no_long=("--set",)),
        "ps": _Rule(),
        "ls": _Rule(),
        "id": _Rule(),
        "whoami": _Rule(),
        "w": _Rule(),
        "ip": _Rule(
            subcommands=frozenset(
                {"a", "addr", "address", "l", "link", "r", "ro", "route", "n", "neigh", "neighbor", "neighbour",
                 "ru", "rule", "maddr", "maddress", "-br"}
            ),
            no_abbrev=("-batch", "-force"),
            no_words=_IP_WRITES,
        ),
        "ss": _Rule(no_short="KD", no_long=("--kill", "--diag")),
        "journalctl": _Rule(
            no_long=("--vacuum", "--rotate", "--flush", "--sync", "--relinquish-var", "--smart-relinquish-var",
                     "--setup-keys", "--update-catalog", "--cursor-file")
        ),
        "systemctl": _Rule(
            subcommands=frozenset(
                {"status", "is-active", "is-enabled", "is-failed", "is-system-running", "list-units",
                 "list-unit-files", "list-timers", "list-sockets", "list-dependencies", "list-jobs", "show", "cat"}
            )
        ),
        "dmesg": _Rule(no_short="cCnDE", no_long=("--clear", "--read-clear", "--console")),
        "zpool": _Rule(subcommands=frozenset({"status", "list", "iostat", "get", "history"})),
        "zfs": _Rule(subcommands=frozenset({"list", "get"})),
        **{name: _Rule() for name in ("pvs", "vgs", "lvs", "pvdisplay", "vgdisplay", "lvdisplay")},
        "smartctl": _Rule(
            no_short="tsoSXg", no_long=("--test", "--smart", "--offlineauto", "--saveauto", "--abort", "--set")
        ),
        "corosync-quorumtool": _Rule(positionals=False, only_options=frozenset({"-s", "-l", "-i", "-p", "-H"})),
        "corosync-cfgtool": _Rule(positionals=False, only_options=frozenset({"-s", "-n"})),
        "timedatectl": _Rule(
            subcommands=frozenset({"status", "show", "timesync-status", "show-timesync", "list-timezones"})
        ),
        "chronyc": _Rule(
            subcommands=frozenset({"tracking", "sources", "sourcestats", "activity", "ntpdata", "serverstats"}),
            only_options=frozenset({"-n", "-c", "-N"}),
        ),
    }
)

NODE_COMMANDS: tuple[str, ...] = tuple(_NODE_RULES)
"""Read-only diagnostic programs a node may run besides the Proxmox tools (called by bare name,
with the option and subcommand checks of :func:`validate_node_command`)."""

_SHELL_OPERATORS = frozenset("|&;<>()")


def validate_node_command(argv: Sequence[str]) -> None:
    """Check that ``argv`` is a read-only diagnostic: one of :data:`NODE_COMMANDS`, or a Proxmox
    tool's read subcommand (:func:`classify_argv` says ``"read"``).

    Raises:
        InvalidArgumentError: what is refused, and which tool to use instead.
    """
    _check_shape(argv)
    program, args = argv[0], list(argv[1:])
    if program in ALLOWED_BINARIES:
        if classify_argv(argv) != "read":
            raise InvalidArgumentError(
                f"`{' '.join(argv[:3])}` is not a read-only command",
                hint="Run Proxmox commands that change something with proxmox_cli_run.",
            )
        return
    rule = _NODE_RULES.get(program)
    if rule is None:
        raise InvalidArgumentError(
            f"{program!r} is not one of the read-only node commands",
            hint="allowed: Proxmox read subcommands (qm list, pvecm status …) and "
            + ", ".join(NODE_COMMANDS)
            + ". Anything else needs proxmox_shell_run (admin, when enabled).",
        )
    positionals: list[str] = []
    for arg in args:
        if arg.startswith("-") and len(arg) > 1 and not (program == "date" and arg.startswith("+")):
            if rule.only_options is not None and arg.split("=", 1)[0] not in rule.only_options:
                raise InvalidArgumentError(f"option {arg!r} is not allowed for {program} here")
            bare = arg.split("=", 1)[0].lstrip("-")
            if any(bare and p.lstrip("-").startswith(bare) for p in rule.no_abbrev):
                raise InvalidArgumentError(f"option {arg!r} of {program} changes something; refused")
            if any(arg.startswith(p) for p in rule.no_long):
                raise InvalidArgumentError(f"option {arg!r} of {program} changes something; refused")
            if not arg.startswith("--") and any(c in rule.no_short for c in arg[1:]):
                raise InvalidArgumentError(f"option {arg!r} of {program} changes something; refused")
        else:
            positionals.append(arg)
    if positionals and not rule.positionals and not (program == "date" and all(p.startswith("+") for p in positionals)):
        raise InvalidArgumentError(f"{program} takes no arguments here (got {positionals[0]!r})")
    if program == "date" and any(not p.startswith("+") for p in positionals):
        raise InvalidArgumentError("date only takes a +FORMAT argument here (a date argument sets the clock)")
    if rule.subcommands is not None and positionals and positionals[0] not in rule.subcommands:
        raise InvalidArgumentError(
            f"`{program} {positionals[0]}` is not one of the read-only forms",
            hint=f"allowed: {program} " + "|".join(sorted(rule.subcommands)),
        )
    refused = [p for p in positionals if p in rule.no_words]
    if refused:
        raise InvalidArgumentError(f"`{program} … {refused[0]}` changes something; refused")


def split_command_line(line: str) -> list[str]:
    """Split a command line the way a POSIX shell would, without running one.

    Quotes and backslashes work as in ``sh``; nothing is expanded (``$HOME`` and ``*`` stay
    literal). Pipes, redirections, ``;``, ``&&`` and subshells are refused, not passed on.

    Raises:
        InvalidArgumentError: unbalanced quotes, an empty line, or a shell operator.
    """
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        tokens = list(lexer)
    except ValueError as exc:
        raise InvalidArgumentError(f"cannot split the command line: {exc}") from None
    for tok in tokens:
        if tok and set(tok) <= _SHELL_OPERATORS:
            raise InvalidArgumentError(
                f"shell operator {tok!r} in the command line: this runs one command without a shell",
                hint="Quote the character if it is meant literally; pipes and redirections need proxmox_shell_run.",
            )
    if not tokens:
        raise InvalidArgumentError("the command line is empty")
    return tokens


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
