"""SSH transport: one pooled, host-key-pinned connection per node.

:class:`SshPool` keeps one asyncssh connection per :class:`SshTarget` and runs commands on it
as separate channels: a per-node limit on concurrent channels, keepalives, an idle close, and
one transparent reconnect when the connection turns out to be dead *before* a command started.
A command that may have started is never run again.

Host keys are always pinned: the key (or its SHA-256 fingerprint) comes from the target's
``host_keys`` or from a known_hosts file. There is no trust on first use: a node whose key is
not pinned is refused with :class:`~proxmox_operator_mcp.errors.HostKeyUnknownError` (showing the
offered fingerprint and how to pin it), a node that offers another key than the pinned one with
:class:`~proxmox_operator_mcp.errors.HostKeyChangedError`. Both happen during key exchange, before
any credential or command is sent.

Commands are argument vectors. :func:`remote_command` quotes them for the remote POSIX shell with
:func:`shlex.join`; that is the only place in the package where quoting happens.

asyncssh is imported lazily (see :func:`_asyncssh`): importing it costs about 300 ms, which the
stdio start-up should not pay when no SSH command runs. The pool runs on the asyncio backend
only (asyncssh is asyncio-based).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import codecs
import contextlib
import functools
import hashlib
import hmac
import logging
import re
import shlex
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, NamedTuple

import anyio
from pydantic import SecretStr

from ..errors import (
    CommandTimeoutError,
    ConfigError,
    HostKeyChangedError,
    HostKeyUnknownError,
    InvalidArgumentError,
    SshError,
)

if TYPE_CHECKING:
    import asyncssh

__all__ = [
    "DEFAULT_MAX_OUTPUT",
    "PREFERRED_HOST_KEY_ALGS",
    "SSH_ENV_REFERENCE",
    "CommandResult",
    "PoolStats",
    "ScannedHostKey",
    "SshPool",
    "SshTarget",
    "KeyInstalled",
    "client_public_key",
    "host_key_fingerprint",
    "install_authorized_key",
    "parse_host_key_pin",
    "pinned_fingerprints",
    "remote_command",
    "render_output",
    "scan_host_key",
    "ssh_targets_from_config",
    "ssh_targets_from_env",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_OUTPUT = 1024 * 1024
"""Bytes of stdout (and, separately, of stderr) kept per command; the rest is counted, not kept."""

# Host key algorithms asked for when only fingerprints (or nothing) are pinned, so that the key a
# node offers is the same one `scan_host_key` shows. With pinned key lines asyncssh asks only for
# the pinned key types instead.
PREFERRED_HOST_KEY_ALGS: tuple[str, ...] = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
)

_KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ssh-ed448",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)
_FINGERPRINT_RE = re.compile(r"^SHA256:([A-Za-z0-9+/]{43})=?$")
_HOST_RE = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.\-]*[A-Za-z0-9])?|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$")
_USER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,31}\$?$")
_NODE_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.\-]{0,61}[A-Za-z0-9])?$")

# Documented environment variables of the single-node SSH block: name -> (meaning, default).
# Merged into docs/configuration.md next to config.ENV_REFERENCE.
SSH_ENV_REFERENCE: dict[str, tuple[str, str]] = {
    "PROXMOX_SHELL_SSH_HOST": ("SSH address of the node for the CLI and shell planes.", "PROXMOX_HOST"),
    "PROXMOX_SHELL_SSH_PORT": ("SSH port of the node.", "22"),
    "PROXMOX_SHELL_SSH_USERNAME": ("SSH user (`pvesh`, `qm` and `pct` need root).", "root"),
    "PROXMOX_SHELL_SSH_PRIVATE_KEY": (
        "Client private key, OpenSSH or PEM text (newlines may be written as `\\n`).",
        "",
    ),
    "PROXMOX_SHELL_SSH_PRIVATE_KEY_PATH": ("Path of the client private key file.", ""),
    "PROXMOX_SHELL_SSH_PRIVATE_KEY_PASSPHRASE": ("Passphrase of an encrypted client private key.", ""),
    "PROXMOX_SHELL_SSH_EXPECTED_HOST_KEY": (
        "Pinned host key of the node: an OpenSSH public key line `ssh-ed25519 AAAA…` or a fingerprint "
        "`SHA256:…` (several separated by commas or newlines). See `proxmox-mcp hostkey scan`.",
        "",
    ),
    "PROXMOX_SHELL_SSH_KNOWN_HOSTS": ("A known_hosts file that holds the node's host key.", ""),
}


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True, kw_only=True)
class SshTarget:
    """Where and how to reach one node over SSH.

    Attributes:
        node: PVE node name (the pool keeps one connection per target).
        host: address to connect to.
        port: SSH port.
        username: login user.
        host_keys: pinned host keys: OpenSSH public key lines (``ssh-ed25519 AAAA…``) and/or
            SHA-256 fingerprints (``SHA256:…``).
        known_hosts_file: a known_hosts file consulted besides ``host_keys``.
        client_key: the client private key as text.
        client_key_path: path of the client private key (when ``client_key`` is not given).
        passphrase: passphrase of an encrypted client key.
        connect_timeout: seconds allowed for TCP connect, key exchange and authentication.
    """

    node: str
    host: str
    port: int = 22
    username: str = "root"
    host_keys: tuple[str, ...] = ()
    known_hosts_file: Path | None = None
    client_key: SecretStr | None = field(default=None, repr=False)
    client_key_path: Path | None = None
    passphrase: SecretStr | None = field(default=None, repr=False)
    connect_timeout: float = 10.0

    @property
    def address(self) -> str:
        """``host:port`` (``[v6]:port`` for IPv6), for messages."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def describe(self) -> str:
        """``node pve1 (root@10.0.0.1:22)``."""
        return f"node {self.node} ({self.username}@{self.address})"


def parse_host_key_pin(text: str) -> str:
    """Normalise one host key pin.

    Returns ``SHA256:<base64>`` for a fingerprint or ``<type> <base64>`` (comment dropped) for an
    OpenSSH public key line.

    Raises:
        ValueError: the text is neither, with what is wrong.
    """
    t = text.strip()
    m = _FINGERPRINT_RE.fullmatch(t)
    if m:
        return f"SHA256:{m.group(1)}"
    if t.upper().startswith(("SHA256:", "MD5:")) or re.fullmatch(r"(?:[0-9A-Fa-f]{2}:){15}[0-9A-Fa-f]{2}", t):
        raise ValueError(
            "a fingerprint pin must be SHA-256 in OpenSSH form, `SHA256:` and 43 base64 characters "
            "(see `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the node)"
        )
    parts = t.split()
    if len(parts) < 2 or parts[0] not in _KEY_TYPES:
        if len(parts) >= 3 and parts[1] in _KEY_TYPES:
            raise ValueError("looks like a known_hosts line: drop the leading host name, keep `TYPE BASE64`")
        raise ValueError(
            "expected an OpenSSH public key line (`ssh-ed25519 AAAA…`, as in /etc/ssh/ssh_host_ed25519_key.pub) "
            "or a fingerprint `SHA256:…`"
        )
    key_type, blob_b64 = parts[0], parts[1]
    try:
        blob = base64.b64decode(blob_b64, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"the {key_type} key is not valid base64") from None
    if len(blob) < 4:
        raise ValueError(f"the {key_type} key is truncated")
    n = int.from_bytes(blob[:4], "big")
    if blob[4 : 4 + n] != key_type.encode():
        raise ValueError(f"the key data does not hold a {key_type} key")
    return f"{key_type} {blob_b64}"


def host_key_fingerprint(openssh_line: str) -> str:
    """SHA-256 fingerprint (``SHA256:…``, as ``ssh-keygen -l`` prints it) of a public key line.

    Raises:
        ValueError: not an OpenSSH public key line.
    """
    pin = parse_host_key_pin(openssh_line)
    if pin.startswith("SHA256:"):
        raise ValueError("expected a public key line, got a fingerprint")
    blob = base64.b64decode(pin.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _split_pins(value: Any) -> list[str]:
    if isinstance(value, str):
        return [p for p in re.split(r"[,\n]", value) if p.strip()]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return [p for p in value if p.strip()]
    raise TypeError


_FIELDS = (
    "host",
    "port",
    "username",
    "host_keys",
    "known_hosts_file",
    "private_key",
    "private_key_path",
    "passphrase",
    "connect_timeout",
)


def _target_from_fields(
    node: str, fields: Mapping[str, Any], problems: list[str], label: Callable[[str], str]
) -> SshTarget | None:
    """Validate one node's SSH fields; append every problem (named by ``label(field)``)."""
    start = len(problems)

    host = fields.get("host")
    if not isinstance(host, str) or not host.strip():
        problems.append(f"{label('host')}: the SSH address of node {node} is missing")
        host = ""
    else:
        host = host.strip().removeprefix("[").removesuffix("]")
        if not _HOST_RE.fullmatch(host):
            problems.append(f"{label('host')}={host!r}: not a host name or IP address (no user, port or scheme)")

    port: Any = fields.get("port", 22)
    if isinstance(port, str) and port.strip().isdigit():
        port = int(port.strip())
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        problems.append(f"{label('port')}={port!r}: must be a port number (1-65535)")
        port = 22

    username = fields.get("username") or "root"
    if not isinstance(username, str) or not _USER_RE.fullmatch(username):
        problems.append(f"{label('username')}={username!r}: not a valid user name")

    host_keys: list[str] = []
    raw_pins = fields.get("host_keys") or []
    try:
        pins = _split_pins(raw_pins)
    except TypeError:
        problems.append(f"{label('host_keys')}: must be a string or a list of strings")
        pins = []
    for pin in pins:
        try:
            host_keys.append(parse_host_key_pin(pin))
        except ValueError as exc:
            shown = pin.strip()
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            problems.append(f"{label('host_keys')}: {shown!r}: {exc}")

    known_hosts = fields.get("known_hosts_file") or None
    known_hosts_path: Path | None = None
    if known_hosts is not None:
        known_hosts_path = Path(str(known_hosts)).expanduser()
        if not known_hosts_path.is_file():
            problems.append(f"{label('known_hosts_file')}={str(known_hosts)!r}: file not found")

    key_text = fields.get("private_key") or None
    key_path_raw = fields.get("private_key_path") or None
    key_path: Path | None = None
    if key_text is not None and key_path_raw is not None:
        problems.append(f"{label('private_key')} and {label('private_key_path')} are both set: keep one")
    elif key_text is None and key_path_raw is None:
        problems.append(
            f"no SSH client key for node {node}: set {label('private_key_path')} (or {label('private_key')})"
        )
    if key_text is not None:
        text = key_text.get_secret_value() if isinstance(key_text, SecretStr) else str(key_text)
        if "PRIVATE KEY-----" not in text:
            problems.append(f"{label('private_key')}: does not look like a private key (no PEM/OpenSSH header)")
        key_text = SecretStr(text)
    if key_path_raw is not None:
        key_path = Path(str(key_path_raw)).expanduser()
        if not key_path.is_file():
            problems.append(f"{label('private_key_path')}={str(key_path_raw)!r}: file not found")

    passphrase = fields.get("passphrase") or None
    if passphrase is not None and not isinstance(passphrase, SecretStr):
        passphrase = SecretStr(str(passphrase))

    timeout: Any = fields.get("connect_timeout", 10.0)
    try:
        timeout = float(timeout)
        if not 0 < timeout <= 300:
            raise ValueError
    except (TypeError, ValueError):
        problems.append(f"{label('connect_timeout')}={timeout!r}: must be seconds between 0 and 300")
        timeout = 10.0

    if len(problems) > start:
        return None
    return SshTarget(
        node=node,
        host=host,
        port=port,
        username=username,
        host_keys=tuple(host_keys),
        known_hosts_file=known_hosts_path,
        client_key=key_text,
        client_key_path=key_path,
        passphrase=passphrase,
        connect_timeout=timeout,
    )


_ENV_NAMES = {
    "host": "PROXMOX_SHELL_SSH_HOST",
    "port": "PROXMOX_SHELL_SSH_PORT",
    "username": "PROXMOX_SHELL_SSH_USERNAME",
    "host_keys": "PROXMOX_SHELL_SSH_EXPECTED_HOST_KEY",
    "known_hosts_file": "PROXMOX_SHELL_SSH_KNOWN_HOSTS",
    "private_key": "PROXMOX_SHELL_SSH_PRIVATE_KEY",
    "private_key_path": "PROXMOX_SHELL_SSH_PRIVATE_KEY_PATH",
    "passphrase": "PROXMOX_SHELL_SSH_PRIVATE_KEY_PASSPHRASE",
}


# Every connection ignores ambient trust and credentials: no ~/.ssh/config, no agent (nor its
# forwarding), no X.509, host-based or GSS authentication. One definition for every connect.
_NO_AMBIENT_TRUST: dict[str, Any] = {
    "config": None,
    "agent_path": None,
    "agent_forwarding": False,
    "x509_trusted_certs": None,
    "host_based_auth": False,
    "gss_auth": False,
    "gss_kex": False,
}

def ssh_targets_from_env(env: Mapping[str, str], default_host: str | None = None) -> dict[str, SshTarget]:
    """The single-node SSH target from the ``PROXMOX_SHELL_SSH_*`` environment.

    The node name is ``PROXMOX_DEFAULT_NODE`` when set, else the SSH host. Returns ``{}`` when no
    ``PROXMOX_SHELL_SSH_*`` variable is set (the SSH planes are then off).

    Args:
        env: the environment.
        default_host: the SSH address when ``PROXMOX_SHELL_SSH_HOST`` is unset (normally the host
            of ``PROXMOX_HOST``).

    Raises:
        ConfigError: listing every problem found.
    """
    if not any(env.get(name, "").strip() for name in SSH_ENV_REFERENCE):
        return {}
    fields: dict[str, Any] = {}
    for key, name in _ENV_NAMES.items():
        value = env.get(name, "")
        if key in ("private_key", "passphrase"):
            if value:
                # Keys in env vars are often written on one line with literal "\n".
                if key == "private_key" and "\n" not in value and "\\n" in value:
                    value = value.replace("\\n", "\n")
                fields[key] = SecretStr(value)
        elif value.strip():
            fields[key] = value.strip()
    if "host" not in fields and default_host:
        fields["host"] = default_host
    node = env.get("PROXMOX_DEFAULT_NODE", "").strip() or str(fields.get("host", "")).strip("[]")
    problems: list[str] = []

    def label(key: str) -> str:
        if key == "host" and "PROXMOX_SHELL_SSH_HOST" not in env:
            return "PROXMOX_SHELL_SSH_HOST (or PROXMOX_HOST)"
        return _ENV_NAMES.get(key, key)

    target = _target_from_fields(node or "default", fields, problems, label)
    if problems or target is None:
        raise ConfigError(problems, hint="See docs/configuration.md, section SSH.")
    return {target.node: target}


def ssh_targets_from_config(section: Mapping[str, Any], *, where: str = "ssh") -> dict[str, SshTarget]:
    """SSH targets from a configuration-file table.

    The table holds settings shared by all nodes and a ``nodes`` table with one table per node
    (which may override any shared setting)::

        [clusters.ssh]
        username = "root"
        private_key_path = "/etc/proxmox-mcp/id_ed25519"
        [clusters.ssh.nodes.pve1]
        host = "10.0.0.11"
        host_keys = ["ssh-ed25519 AAAA…"]

    Keys: host, port, username, host_keys, known_hosts_file, private_key, private_key_path,
    passphrase, connect_timeout.

    Raises:
        ConfigError: listing every problem found.
    """
    problems: list[str] = []
    shared = {k: v for k, v in section.items() if k != "nodes"}
    for key in shared:
        if key not in _FIELDS:
            problems.append(f"{where}: unknown key {key!r}")
    nodes = section.get("nodes", {})
    if not isinstance(nodes, Mapping) or not nodes:
        problems.append(f"{where}.nodes: needs one table per node ([{where}.nodes.NODE] with host = ...)")
        nodes = {}
    targets: dict[str, SshTarget] = {}
    for node, raw in nodes.items():
        if not _NODE_RE.fullmatch(str(node)):
            problems.append(f"{where}.nodes.{node}: not a valid PVE node name")
            continue
        if not isinstance(raw, Mapping):
            problems.append(f"{where}.nodes.{node}: must be a table")
            continue
        for key in raw:
            if key not in _FIELDS:
                problems.append(f"{where}.nodes.{node}: unknown key {key!r}")
        merged = {**shared, **raw}
        target = _target_from_fields(str(node), merged, problems, lambda k, n=node: f"{where}.nodes.{n}.{k}")
        if target is not None:
            targets[target.node] = target
    if problems:
        raise ConfigError(problems, hint="See docs/configuration.md, section SSH.")
    return targets


# --------------------------------------------------------------------------- commands


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a remote command did.

    Attributes:
        exit_status: the exit status, or None when the process died by a signal or was killed.
        stdout: standard output, decoded as UTF-8 (invalid bytes replaced), capped.
        stderr: standard error, likewise.
        duration: seconds from opening the channel to its close.
        truncated: output beyond the cap was dropped (a marker says how much).
        timed_out: the command exceeded its timeout and was killed.
        exit_signal: the signal name when the process died by one (e.g. ``KILL``).
    """

    exit_status: int | None
    stdout: str
    stderr: str
    duration: float
    truncated: bool = False
    timed_out: bool = False
    exit_signal: str | None = None

    @property
    def ok(self) -> bool:
        """True when the command exited with status 0 in time."""
        return self.exit_status == 0 and not self.timed_out


def remote_command(argv: Sequence[str], *, kill_after: float | None = None) -> str:
    """The command line sent to the remote shell: ``argv`` quoted with :func:`shlex.join`.

    With ``kill_after``, the command runs under coreutils ``timeout -s KILL``, so the node kills
    it by itself even when the client can no longer reach it.

    Raises:
        InvalidArgumentError: argv is empty, holds a non-string or a NUL byte.
    """
    if isinstance(argv, str) or not argv:
        raise InvalidArgumentError("a command is a non-empty list of arguments, not a string")
    for arg in argv:
        if not isinstance(arg, str):
            raise InvalidArgumentError(f"command arguments must be strings, got {type(arg).__name__}")
        if "\x00" in arg:
            raise InvalidArgumentError("command arguments must not contain NUL bytes")
    line = shlex.join(argv)
    if kill_after is not None:
        line = f"exec timeout -s KILL {kill_after:.3f}s {line}"
    return line


def render_output(head: bytes, dropped: int) -> str:
    """Decode captured output; when bytes were dropped, end with ``…[truncated N bytes]…``.

    A multi-byte character cut by the cap is not decoded; its bytes count as dropped.
    """
    if not dropped:
        return head.decode("utf-8", "replace")
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    text = decoder.decode(head, final=False)
    dropped += len(decoder.getstate()[0])
    sep = "" if not text or text.endswith("\n") else "\n"
    return f"{text}{sep}…[truncated {dropped} bytes]…"


class _Capped:
    __slots__ = ("data", "dropped", "limit")

    def __init__(self, limit: int) -> None:
        self.data = bytearray()
        self.dropped = 0
        self.limit = limit

    def add(self, chunk: bytes) -> None:
        room = self.limit - len(self.data)
        if room >= len(chunk):
            self.data += chunk
        else:
            if room > 0:
                self.data += chunk[:room]
            self.dropped += len(chunk) - max(room, 0)

    def text(self) -> str:
        return render_output(bytes(self.data), self.dropped)


# --------------------------------------------------------------------------- asyncssh glue


@functools.cache
def _asyncssh() -> SimpleNamespace:
    """Import asyncssh and define the classes that subclass it.

    Deliberately lazy: importing asyncssh takes about 300 ms, which every stdio start-up would
    otherwise pay even when no SSH command is ever run.
    """
    import asyncssh

    class PinnedClient(asyncssh.SSHClient):
        """Accepts a host key only when its SHA-256 fingerprint is pinned; remembers the offer.

        asyncssh calls this only for keys that are not among the pinned key lines.
        """

        def __init__(self, fingerprints: Sequence[str]) -> None:
            self._fingerprints = tuple(fingerprints)
            self.offered: asyncssh.SSHKey | None = None

        def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
            self.offered = key
            offered = key.get_fingerprint("sha256").encode()
            match = False
            for pin in self._fingerprints:  # no early exit: compare every pin in constant time
                match |= hmac.compare_digest(offered, pin.encode())
            return match

    class Collector(asyncssh.SSHClientSession[bytes]):
        """Collects one command's output (capped), exit status and close."""

        def __init__(self, limit: int) -> None:
            self.out = _Capped(limit)
            self.err = _Capped(limit)
            self.exit_status: int | None = None
            self.exit_signal: str | None = None
            self.exc: Exception | None = None
            self.closed = anyio.Event()
            self.chan: asyncssh.SSHClientChannel[bytes] | None = None

        def connection_made(self, chan: asyncssh.SSHClientChannel[bytes]) -> None:  # type: ignore[override]
            self.chan = chan

        def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
            (self.err if datatype == asyncssh.EXTENDED_DATA_STDERR else self.out).add(data)

        def exit_status_received(self, status: int) -> None:
            self.exit_status = status

        def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
            self.exit_signal = signal

        def connection_lost(self, exc: Exception | None) -> None:
            self.exc = exc
            self.closed.set()

    return SimpleNamespace(mod=asyncssh, PinnedClient=PinnedClient, Collector=Collector)


class _HostKeyPolicy:
    """The pins for one connection attempt, resolved from the target (blocking: reads files)."""

    def __init__(self, target: SshTarget) -> None:
        ssh = _asyncssh().mod
        self.keys: list[asyncssh.SSHKey] = []
        self.fingerprints: list[str] = []
        self.ca_keys: list[asyncssh.SSHKey] = []
        self.revoked: list[asyncssh.SSHKey] = []
        problems: list[str] = []
        for pin in target.host_keys:
            try:
                norm = parse_host_key_pin(pin)
                if norm.startswith("SHA256:"):
                    self.fingerprints.append(norm)
                else:
                    self.keys.append(ssh.import_public_key(norm))
            except (ValueError, ssh.KeyImportError) as exc:
                problems.append(f"pinned host key of node {target.node}: {exc}")
        if target.known_hosts_file is not None:
            try:
                db = ssh.read_known_hosts(str(target.known_hosts_file))
            except (OSError, ValueError, ssh.KeyImportError) as exc:
                problems.append(f"known_hosts file {str(target.known_hosts_file)!r}: {exc}")
            else:
                port = None if target.port == 22 else target.port
                addr = target.host if re.fullmatch(r"[0-9.]+|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*", target.host) else ""
                trusted, ca, revoked, *_ = db.match(target.host, addr, port)
                self.keys.extend(trusted)
                self.ca_keys.extend(ca)
                self.revoked.extend(revoked)
        if problems:
            raise ConfigError(problems)

    @property
    def pinned(self) -> bool:
        return bool(self.keys or self.fingerprints or self.ca_keys)

    def expected(self) -> list[str]:
        fps = [k.get_fingerprint("sha256") for k in self.keys] + self.fingerprints
        fps += [f"any key signed by CA {k.get_fingerprint('sha256')}" for k in self.ca_keys]
        return list(dict.fromkeys(fps))

    def connect_options(self) -> dict[str, Any]:
        # A non-empty tuple: asyncssh falls back to ~/.ssh/known_hosts for an empty value and
        # turns verification off for None; neither may happen here.
        opts: dict[str, Any] = {"known_hosts": (self.keys, self.ca_keys, self.revoked)}
        if not (self.keys or self.ca_keys):
            opts["server_host_key_algs"] = list(PREFERRED_HOST_KEY_ALGS)
        return opts


def pinned_fingerprints(target: SshTarget) -> list[str]:
    """SHA-256 fingerprints the target pins (its ``host_keys`` and its known_hosts file).

    Blocking (reads the known_hosts file): call it in a worker thread from async code.

    Raises:
        ConfigError: a pin or the known_hosts file is unusable.
    """
    return _HostKeyPolicy(target).expected()


def _key_line(key: asyncssh.SSHKey) -> str:
    return key.export_public_key("openssh").decode().split("\n")[0].strip()


def _key_file(algorithm: str) -> str:
    """Where the node keeps the public host key of this type (for the human to compare)."""
    kind = "ecdsa" if algorithm.startswith("ecdsa") else "rsa" if "rsa" in algorithm else "ed25519"
    return f"/etc/ssh/ssh_host_{kind}_key.pub"


def _host_key_error(
    target: SshTarget, policy: _HostKeyPolicy, offered: asyncssh.SSHKey | None, reason: str
) -> SshError:
    if offered is not None:
        fp = offered.get_fingerprint("sha256")
        offer = f"{offered.get_algorithm()} {fp}"
        check = f"`ssh-keygen -lf {_key_file(offered.get_algorithm())}`"
    else:
        fp = ""
        offer = f"a host key that could not be checked ({reason})"
        check = "`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`"
    if not policy.pinned:
        line = _key_line(offered) if offered is not None else "ssh-ed25519 AAAA…"
        return HostKeyUnknownError(
            f"Refused to connect to {target.describe()}: its host key is not pinned. "
            f"The node offered {offer}. Nothing was sent.",
            hint=(
                f"Check that fingerprint on the node itself ({check}), "
                f"then pin it with PROXMOX_SHELL_SSH_EXPECTED_HOST_KEY='{line}' "
                f"or `proxmox-mcp hostkey pin {target.node} {fp or 'SHA256:…'}`."
            ),
        )
    expected = ", ".join(policy.expected())
    return HostKeyChangedError(
        f"HOST KEY CHANGED for node {target.node} ({target.address}): expected {expected}, offered {offer} — "
        "someone may be intercepting, or the node was reinstalled; verify out of band before re-pinning. "
        "Nothing was sent.",
        hint=(
            f"Compare with {check} on the node's console. Only if the "
            "node really has a new key, replace the pinned key (PROXMOX_SHELL_SSH_EXPECTED_HOST_KEY or "
            f"`proxmox-mcp hostkey pin {target.node} …`)."
        ),
    )


def _auth_hint(target: SshTarget) -> str:
    return (
        f"Check PROXMOX_SHELL_SSH_USERNAME ({target.username}), that the public half of the configured key is in "
        f"~{target.username}/.ssh/authorized_keys on the node (for root on PVE: /root/.ssh/authorized_keys, "
        "a link to /etc/pve/priv/authorized_keys), and that sshd allows the user "
        "(PermitRootLogin prohibit-password or yes)."
    )


def _load_client_key(target: SshTarget) -> asyncssh.SSHKey:
    """Read and decrypt the client key (blocking: file read and, for encrypted keys, bcrypt KDF)."""
    ssh = _asyncssh().mod
    if target.client_key is not None:
        text = target.client_key.get_secret_value()
        source = "PROXMOX_SHELL_SSH_PRIVATE_KEY"
    elif target.client_key_path is not None:
        source = str(target.client_key_path)
        try:
            text = target.client_key_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SshError(f"cannot read the SSH private key {source}: {exc}") from None
    else:
        raise SshError(
            f"no SSH client key is configured for {target.describe()}",
            hint="Set PROXMOX_SHELL_SSH_PRIVATE_KEY_PATH (or PROXMOX_SHELL_SSH_PRIVATE_KEY).",
        )
    passphrase = target.passphrase.get_secret_value() if target.passphrase is not None else None
    try:
        return ssh.import_private_key(text, passphrase)
    except ssh.KeyEncryptionError as exc:
        if "bcrypt" in str(exc):
            raise SshError(
                f"the SSH private key ({source}) is in encrypted OpenSSH format, which needs the bcrypt package",
                hint="Install bcrypt (pip install bcrypt), or convert the key: ssh-keygen -p -m PKCS8 -f KEYFILE.",
            ) from None
        raise SshError(
            f"the passphrase does not decrypt the SSH private key ({source})",
            hint="Check PROXMOX_SHELL_SSH_PRIVATE_KEY_PASSPHRASE.",
        ) from None
    except ssh.KeyImportError as exc:
        if "assphrase" in str(exc):
            raise SshError(
                f"the SSH private key ({source}) is encrypted and no passphrase is configured",
                hint="Set PROXMOX_SHELL_SSH_PRIVATE_KEY_PASSPHRASE.",
            ) from None
        raise SshError(f"the SSH private key ({source}) cannot be used: {exc}") from None


# --------------------------------------------------------------------------- the pool


class _Slot:
    """One node's connection, its concurrency limit and its idle timer."""

    def __init__(self, target: SshTarget, max_sessions: int) -> None:
        self.target = target
        self.limiter = anyio.CapacityLimiter(max_sessions)
        self.lock = anyio.Lock()
        self.conn: asyncssh.SSHClientConnection | None = None
        self.client_key: asyncssh.SSHKey | None = None
        self.active = 0
        self.idle: asyncio.TimerHandle | None = None
        self.attempts = 0  # connect attempts so far
        self.failure: SshError | ConfigError | None = None  # how the last attempt failed


def _is_up(slot: _Slot) -> bool:
    return slot.conn is not None and not slot.conn.is_closed()


class PoolStats(NamedTuple):
    """One node's pool state: connection up?, channels in use, commands waiting for one."""

    connected: bool
    running: int
    waiting: int


class SshPool:
    """Pooled SSH connections, one per :class:`SshTarget`, shared by concurrent commands.

    Args:
        max_sessions: concurrent channels per node (OpenSSH's ``MaxSessions`` defaults to 10);
            further commands wait for a free one.
        keepalive_interval: seconds between keepalive requests on an open connection.
        keepalive_count_max: unanswered keepalives after which the connection counts as dead.
        idle_timeout: seconds after which a connection without channels is closed.
        kill_grace: seconds to wait for a killed command's channel to close.
        remote_kill: also run commands under coreutils ``timeout -s KILL`` on the node, so that
            a command dies at its deadline even if the client lost the connection.
    """

    def __init__(
        self,
        *,
        max_sessions: int = 8,
        keepalive_interval: float = 15.0,
        keepalive_count_max: int = 3,
        idle_timeout: float = 300.0,
        kill_grace: float = 2.0,
        remote_kill: bool = True,
    ) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self._max_sessions = max_sessions
        self._keepalive_interval = keepalive_interval
        self._keepalive_count_max = keepalive_count_max
        self._idle_timeout = idle_timeout
        self._kill_grace = kill_grace
        self._remote_kill = remote_kill
        self._slots: dict[SshTarget, _Slot] = {}
        self._closed = False

    async def __aenter__(self) -> SshPool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- public API

    async def run(
        self,
        target: SshTarget,
        argv: Sequence[str],
        *,
        timeout: float,
        max_output: int = DEFAULT_MAX_OUTPUT,
        stdin: bytes | None = None,
    ) -> CommandResult:
        """Run ``argv`` on the node and collect its result.

        The timeout covers the command from channel open to exit; when it passes, the remote
        process group is killed (signal request, plus ``timeout -s KILL`` on the node) and the
        result has ``timed_out=True``. A connection found dead before the command started is
        replaced once; a connection lost while the command may have run raises and is not
        retried.

        Raises:
            HostKeyUnknownError, HostKeyChangedError: the node's host key is not the pinned one.
            CommandTimeoutError: no channel became free on this node within ``timeout`` (nothing
                ran), or the channel could not even be opened in time.
            SshError: connect/auth failure, or the connection was lost during the command.
            InvalidArgumentError: ``argv`` is not a non-empty list of strings without NUL.
            ConfigError: a pinned key or known_hosts file is unusable.
        """
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        command = remote_command(argv, kill_after=timeout if self._remote_kill else None)
        slot = self._slot(target)
        with anyio.move_on_after(timeout) as waiting:
            await slot.limiter.acquire()
        if waiting.cancelled_caught:
            raise CommandTimeoutError(
                f"no free SSH channel on {target.describe()} within {timeout:g} s "
                f"({self._max_sessions} commands were already running); nothing was run",
                hint="Retry later, or raise the per-node session limit.",
            )
        self._enter(slot)
        try:
            return await self._run(slot, command, argv[0], timeout, max_output, stdin)
        finally:
            self._leave(slot)
            slot.limiter.release()

    @asynccontextmanager
    async def sftp(self, target: SshTarget) -> AsyncIterator[asyncssh.SFTPClient]:
        """An SFTP client on the node's pooled connection (it takes one channel of the limit).

        Raises:
            HostKeyUnknownError, HostKeyChangedError, SshError: as for :meth:`run`.
        """
        ssh = _asyncssh().mod
        slot = self._slot(target)
        async with slot.limiter:
            self._enter(slot)
            try:
                client = None
                for attempt in (1, 2):
                    conn = await self._connection(slot)
                    try:
                        client = await conn.start_sftp_client()
                        break
                    except (ssh.Error, OSError) as exc:
                        # Starting SFTP is harmless to repeat, so a dropped connection is retried.
                        if conn.is_closed():
                            self._forget(slot, conn)
                            if attempt == 1:
                                continue
                        raise SshError(f"cannot start SFTP on {target.describe()}: {_reason(exc)}") from None
                assert client is not None
                try:
                    yield client
                finally:
                    client.exit()
                    with anyio.move_on_after(self._kill_grace, shield=True):
                        await client.wait_closed()
            finally:
                self._leave(slot)

    def open_connections(self) -> int:
        """Connections up right now (one per node at most)."""
        return sum(1 for slot in list(self._slots.values()) if _is_up(slot))

    def stats(self, target: SshTarget) -> PoolStats:
        """How busy the node's connection is (for health checks, benchmarks and tests)."""
        slot = self._slots.get(target)
        if slot is None:
            return PoolStats(False, 0, 0)
        st = slot.limiter.statistics()
        return PoolStats(_is_up(slot), int(st.borrowed_tokens), st.tasks_waiting)

    async def aclose(self) -> None:
        """Close every connection (running commands see their connection lost)."""
        self._closed = True
        conns = []
        for slot in self._slots.values():
            if slot.idle is not None:
                slot.idle.cancel()
                slot.idle = None
            if slot.conn is not None:
                slot.conn.close()
                conns.append(slot.conn)
                slot.conn = None
        with anyio.move_on_after(5, shield=True):
            for conn in conns:
                await conn.wait_closed()

    # -- internals

    def _slot(self, target: SshTarget) -> _Slot:
        if self._closed:
            raise SshError("the SSH pool is closed")
        slot = self._slots.get(target)
        if slot is None:
            slot = self._slots[target] = _Slot(target, self._max_sessions)
        return slot

    def _enter(self, slot: _Slot) -> None:
        slot.active += 1
        if slot.idle is not None:
            slot.idle.cancel()
            slot.idle = None

    def _leave(self, slot: _Slot) -> None:
        slot.active -= 1
        if slot.active == 0 and slot.conn is not None and not self._closed:
            slot.idle = asyncio.get_running_loop().call_later(self._idle_timeout, self._close_idle, slot)

    def _close_idle(self, slot: _Slot) -> None:
        slot.idle = None
        if slot.active == 0 and slot.conn is not None:
            log.debug("closing idle SSH connection to %s", slot.target.describe())
            slot.conn.close()
            slot.conn = None

    def _forget(self, slot: _Slot, conn: asyncssh.SSHClientConnection) -> None:
        if slot.conn is conn:
            slot.conn = None
        conn.close()

    async def _connection(self, slot: _Slot) -> asyncssh.SSHClientConnection:
        conn = slot.conn
        if conn is not None and not conn.is_closed():
            return conn
        attempts_seen = slot.attempts
        async with slot.lock:
            if slot.conn is not None and not slot.conn.is_closed():
                return slot.conn
            if slot.attempts != attempts_seen and slot.failure is not None:
                # An attempt made while we queued for the lock failed: share its answer rather
                # than have every queued command wait out its own connect timeout.
                raise slot.failure
            slot.conn = None
            slot.attempts += 1
            try:
                conn = await self._connect(slot)
            except (SshError, ConfigError) as exc:
                slot.failure = exc
                raise
            slot.failure = None
            if self._closed:
                conn.close()
                raise SshError("the SSH pool is closed")
            slot.conn = conn
            return conn

    async def _connect(self, slot: _Slot) -> asyncssh.SSHClientConnection:
        impl = _asyncssh()
        ssh = impl.mod
        target = slot.target
        if slot.client_key is None:
            slot.client_key = await anyio.to_thread.run_sync(_load_client_key, target)
        policy = await anyio.to_thread.run_sync(_HostKeyPolicy, target)
        client = impl.PinnedClient(policy.fingerprints)
        started = time.monotonic()
        try:
            with anyio.fail_after(target.connect_timeout + 1):
                conn = await ssh.connect(
                    target.host,
                    target.port,
                    username=target.username,
                    client_factory=lambda: client,
                    client_keys=[slot.client_key],
                    passphrase=None,
                    preferred_auth="publickey",
                    password_auth=False,
                    kbdint_auth=False,
                    **_NO_AMBIENT_TRUST,
                    connect_timeout=target.connect_timeout,
                    login_timeout=target.connect_timeout,
                    keepalive_interval=self._keepalive_interval,
                    keepalive_count_max=self._keepalive_count_max,
                    **policy.connect_options(),
                )
        except ssh.HostKeyNotVerifiable as exc:
            raise _host_key_error(target, policy, client.offered, exc.reason) from None
        except ssh.KeyExchangeFailed as exc:
            if policy.pinned and "host key" in exc.reason:
                raise HostKeyChangedError(
                    f"HOST KEY CHANGED for node {target.node} ({target.address}): it offers no host key of the "
                    f"pinned type(s) (expected {', '.join(policy.expected())}; {exc.reason}) — verify out of band "
                    "before re-pinning. Nothing was sent.",
                ) from None
            raise SshError(f"SSH key exchange with {target.describe()} failed: {exc.reason}") from None
        except ssh.PermissionDenied:
            raise SshError(
                f"SSH authentication as {target.username} was refused by {target.describe()}",
                hint=_auth_hint(target),
            ) from None
        except ssh.DisconnectError as exc:
            raise SshError(f"SSH connection to {target.describe()} failed: {exc.reason}") from None
        except TimeoutError:
            raise SshError(
                f"timed out after {target.connect_timeout:g} s connecting to {target.describe()}",
                hint="Check that the node is up and that the SSH port is reachable from this server.",
            ) from None
        except OSError as exc:
            raise SshError(
                f"cannot connect to {target.describe()}: {exc.strerror or exc}",
                hint="Check PROXMOX_SHELL_SSH_HOST / PROXMOX_SHELL_SSH_PORT and that sshd runs on the node.",
            ) from None
        log.debug("SSH connection to %s up in %.1f ms", target.describe(), (time.monotonic() - started) * 1000)
        return conn

    async def _run(
        self, slot: _Slot, command: str, program: str, timeout: float, max_output: int, stdin: bytes | None
    ) -> CommandResult:
        impl = _asyncssh()
        ssh = impl.mod
        target = slot.target
        started = time.monotonic()
        deadline = started + timeout
        chan = None
        for attempt in (1, 2):
            conn = await self._connection(slot)
            session = impl.Collector(max_output)
            opened = False

            def factory(session: Any = session) -> Any:
                # Called by asyncssh once the channel is open and before the exec request is
                # sent: until then, the command cannot have started.
                nonlocal opened
                opened = True
                return session

            try:
                with anyio.fail_after(max(deadline - time.monotonic(), 0.001)):
                    chan, _ = await conn.create_session(factory, command, encoding=None)
                break
            except TimeoutError:
                if session.chan is not None:
                    self._kill(session.chan)
                    session.chan.close()
                if not opened:
                    self._forget(slot, conn)  # an open that never completes: the connection is suspect
                raise CommandTimeoutError(
                    f"`{program}` on {target.describe()} could not be started within {timeout:g} s"
                    + ("" if opened else "; nothing was run"),
                ) from None
            except (ssh.Error, OSError) as exc:
                dropped = conn.is_closed()
                if dropped:
                    self._forget(slot, conn)
                    if not opened and attempt == 1:
                        log.info("SSH connection to %s was dead; reconnecting once", target.describe())
                        continue
                if opened:
                    raise SshError(
                        f"the connection to {target.describe()} was lost while starting `{program}`: it may or may "
                        "not have run, so it was not run again",
                    ) from None
                raise SshError(f"cannot open a channel on {target.describe()}: {_reason(exc)}") from None
        assert chan is not None

        timed_out = False
        try:
            try:
                if stdin:
                    chan.write(stdin)
                chan.write_eof()
            except BrokenPipeError:
                pass  # the command closed its input (or already exited): its result still counts
            with anyio.move_on_after(max(deadline - time.monotonic(), 0)) as waiting:
                await session.closed.wait()
            if waiting.cancelled_caught:
                timed_out = True
                self._kill(chan)
                with anyio.move_on_after(self._kill_grace):
                    await session.closed.wait()
        except BaseException:
            # Cancelled by the caller (or failed writing): do not leave the command running.
            self._kill(chan)
            chan.close()
            raise
        finally:
            duration = time.monotonic() - started
        if not session.closed.is_set():
            chan.close()
        if session.exc is not None and not timed_out:
            if conn.is_closed():
                self._forget(slot, conn)
            raise SshError(
                f"the connection to {target.describe()} was lost while `{program}` was running "
                f"({_reason(session.exc)}): it may or may not have completed, so it was not run again",
            )
        if session.exit_status is None and session.exit_signal is None and not timed_out:
            raise SshError(
                f"the channel to {target.describe()} closed without an exit status for `{program}`: "
                "its outcome is unknown, so it was not run again",
            )
        return CommandResult(
            exit_status=session.exit_status,
            stdout=session.out.text(),
            stderr=session.err.text(),
            duration=duration,
            truncated=bool(session.out.dropped or session.err.dropped),
            timed_out=timed_out,
            exit_signal=session.exit_signal,
        )

    @staticmethod
    def _kill(chan: asyncssh.SSHClientChannel[bytes]) -> None:
        # OpenSSH >= 7.9 delivers the signal to the session's whole process group (killpg).
        with contextlib.suppress(OSError, ValueError):  # the channel may already be closing
            chan.send_signal("KILL")


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "reason", "") or exc or type(exc).__name__)


# --------------------------------------------------------------------------- host key scan


class ScannedHostKey(NamedTuple):
    """A host key as a node offered it (not trusted by fetching it)."""

    key_type: str
    openssh_line: str
    fingerprint: str


async def scan_host_key(host: str, port: int = 22, *, timeout: float = 10.0) -> ScannedHostKey:
    """Fetch the host key a node offers, without trusting it.

    The key exchange runs with nothing pinned and is refused by the client, so no credential is
    sent and nothing is accepted; the key that was offered is returned for a human to compare
    with the node's own ``ssh-keygen -lf`` output before pinning it.

    Raises:
        SshError: the node could not be reached or offered no plain public key.
    """
    impl = _asyncssh()
    ssh = impl.mod
    client = impl.PinnedClient(())
    try:
        with anyio.fail_after(timeout + 1):
            conn = await ssh.connect(
                host,
                port,
                client_factory=lambda: client,
                known_hosts=([], [], []),
                server_host_key_algs=list(PREFERRED_HOST_KEY_ALGS),
                config=None,
                agent_path=None,
                x509_trusted_certs=None,
                client_keys=[],
                preferred_auth="publickey",
                password_auth=False,
                kbdint_auth=False,
                host_based_auth=False,
                gss_auth=False,
                gss_kex=False,
                connect_timeout=timeout,
            )
    except ssh.HostKeyNotVerifiable:
        pass
    except TimeoutError:
        raise SshError(f"timed out after {timeout:g} s fetching the host key of {host}:{port}") from None
    except (ssh.Error, OSError) as exc:
        raise SshError(f"cannot fetch the host key of {host}:{port}: {_reason(exc)}") from None
    else:  # pragma: no cover - cannot happen: nothing is trusted
        conn.close()
        raise SshError(f"{host}:{port} was accepted without a pinned key; refusing to continue")
    key = client.offered
    if key is None:
        raise SshError(f"{host}:{port} offered no plain public host key (only certificates?)")
    return ScannedHostKey(key.get_algorithm(), _key_line(key), key.get_fingerprint("sha256"))


# --------------------------------------------------------------------------- bootstrap


async def client_public_key(target: SshTarget) -> str:
    """The OpenSSH public key line of the target's client key (what goes into authorized_keys).

    Raises:
        SshError: the key cannot be read or decrypted.
    """
    key = await anyio.to_thread.run_sync(_load_client_key, target)
    return f"{_key_line(key)} proxmox-operator-mcp"


def _key_id(line: str) -> tuple[str, str] | None:
    """``(type, base64)`` of an authorized_keys line (options and comment ignored), or None."""
    parts = line.split()
    for i, part in enumerate(parts):
        if part in _KEY_TYPES and i + 1 < len(parts):
            return part, parts[i + 1]
    return None


class KeyInstalled(NamedTuple):
    """What :func:`install_authorized_key` did."""

    added: bool
    path: str
    key_login_works: bool
    public_key: str


async def install_authorized_key(
    target: SshTarget,
    *,
    password: SecretStr,
    fingerprint: str,
    public_key: str,
    timeout: float = 30.0,
) -> KeyInstalled:
    """Log in once with a password, pinned to ``fingerprint``, and add ``public_key`` to the
    user's ``~/.ssh/authorized_keys`` (nothing is added when it is there already). Then check
    that a key login works, pinned to the same fingerprint.

    The file is replaced atomically in its real directory (on PVE ``/root/.ssh/authorized_keys``
    links into ``/etc/pve/priv``; the link stays). The password is used for this one
    connection and is neither kept nor logged.

    Raises:
        HostKeyChangedError: the node offered another host key than ``fingerprint``.
        SshError: the password was refused, or SFTP failed.
    """
    from .files import FilePolicy, write_file

    impl = _asyncssh()
    ssh = impl.mod
    pin = parse_host_key_pin(fingerprint)
    if not pin.startswith("SHA256:"):
        pin = host_key_fingerprint(pin)
    ident = _key_id(public_key)
    if ident is None:
        raise InvalidArgumentError("not an OpenSSH public key line")
    client = impl.PinnedClient((pin,))
    try:
        with anyio.fail_after(timeout):
            conn = await ssh.connect(
                target.host,
                target.port,
                username=target.username,
                password=password.get_secret_value(),
                client_factory=lambda: client,
                known_hosts=([], [], []),
                server_host_key_algs=list(PREFERRED_HOST_KEY_ALGS),
                client_keys=[],
                preferred_auth="keyboard-interactive,password",
                password_auth=True,
                kbdint_auth=True,
                **_NO_AMBIENT_TRUST,
                connect_timeout=target.connect_timeout,
                login_timeout=target.connect_timeout,
            )
    except ssh.HostKeyNotVerifiable:
        offered = client.offered.get_fingerprint("sha256") if client.offered is not None else "no usable key"
        raise HostKeyChangedError(
            f"node {target.node} ({target.address}) offered host key {offered}, not the confirmed {pin}; "
            "nothing was sent (the password neither)",
            hint="Scan again and compare with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the console.",
        ) from None
    except ssh.PermissionDenied:
        raise SshError(
            f"the password login as {target.username} was refused by {target.describe()}",
            hint="Check the password, and that sshd allows password logins for this user "
            "(PasswordAuthentication / PermitRootLogin yes) during the bootstrap.",
        ) from None
    except TimeoutError:
        raise SshError(f"timed out after {timeout:g} s logging in to {target.describe()}") from None
    except (ssh.Error, OSError) as exc:
        raise SshError(f"cannot log in to {target.describe()}: {_reason(exc)}") from None
    try:
        async with conn:
            with anyio.fail_after(timeout):
                async with conn.start_sftp_client() as sftp:
                    home = str(await sftp.realpath("."))
                    ssh_dir = home.rstrip("/") + "/.ssh"
                    path = ssh_dir + "/authorized_keys"
                    if not await sftp.exists(ssh_dir):
                        await sftp.mkdir(ssh_dir, ssh.SFTPAttrs(permissions=0o700))
                    try:
                        async with sftp.open(path, "rb") as f:
                            current = (await f.read()).decode("utf-8", "replace")
                    except ssh.SFTPNoSuchFile:
                        current = ""
                    added = ident not in {_key_id(line) for line in current.splitlines()}
                    if added:
                        text = current + ("" if not current or current.endswith("\n") else "\n") + public_key + "\n"
                        policy = FilePolicy(read=("/",), write=("/",))  # a fixed path; it may link anywhere
                        await write_file(sftp, path, text.encode(), policy, mode=0o600)
    except ssh.Error as exc:
        raise SshError(f"cannot update authorized_keys on {target.describe()}: {_reason(exc)}") from None
    works = await _key_login_works(target, pin, timeout)
    return KeyInstalled(added=added, path=path, key_login_works=works, public_key=public_key)


async def _key_login_works(target: SshTarget, fingerprint: str, timeout: float) -> bool:
    impl = _asyncssh()
    ssh = impl.mod
    key = await anyio.to_thread.run_sync(_load_client_key, target)
    try:
        with anyio.fail_after(timeout):
            conn = await ssh.connect(
                target.host,
                target.port,
                username=target.username,
                client_factory=lambda: impl.PinnedClient((fingerprint,)),
                known_hosts=([], [], []),
                server_host_key_algs=list(PREFERRED_HOST_KEY_ALGS),
                client_keys=[key],
                passphrase=None,
                config=None,
                agent_path=None,
                x509_trusted_certs=None,
                preferred_auth="publickey",
                password_auth=False,
                kbdint_auth=False,
                host_based_auth=False,
                gss_auth=False,
                gss_kex=False,
                connect_timeout=target.connect_timeout,
            )
    except (ssh.Error, OSError, TimeoutError):
        return False
    conn.close()
    return True
