"""Test servers for the SSH and CLI planes.

* :func:`start_sshd`: a real OpenSSH sshd on 127.0.0.1 (recipe in shared/notes/test-servers.md),
  logging in a dedicated ``/bin/sh`` user, with fake ``pvesh``/``qm``/``pct`` and a few helper
  programs first on its PATH. Stopped by the pid it started.
* :class:`FakeNode`: an in-process ``asyncssh`` server with its own host key and authorized
  client keys, for fast error paths (drops, hangs, huge output, concurrency counts).
"""

from __future__ import annotations

import json
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import asyncssh
from pydantic import SecretStr

from proxmox_operator_mcp.sim import pvecli
from proxmox_operator_mcp.transports.ssh import SshTarget

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "/usr/bin/ssh-keygen"
TEST_USER = "pvetest"

# --------------------------------------------------------------------------- fakes on PATH

# pvesh: echoes its argv as JSON so tests can check quoting; a few paths behave like PVE.
_FAKE_PVESH = r"""#!/usr/bin/python3
import json, sys
args = sys.argv[1:]
verb, path = (args + ["", ""])[:2]
if path == "/fail":
    sys.stderr.write("VM 999 not running\n")
    sys.exit(255)
if path.endswith("/status/start"):
    print("Requesting HA start for VM 101")
    print("starting VM 101 on node pve1")
    print(json.dumps("UPID:pve1:0000ABCD:00112233:65000000:qmstart:101:root@pam:"))
    sys.exit(0)
if verb == "set":
    sys.exit(0)
if path == "/pretty":
    print("some task output {not json")
    print(json.dumps({"argv": args, "nested": {"a": [1, 2]}}, indent=2))
    sys.exit(0)
print(json.dumps({"argv": args}))
"""

# qm / pct: echo argv as JSON.
_FAKE_ECHO = """#!/usr/bin/python3
import json, sys
print(json.dumps(sys.argv[1:]))
"""

# sleeper PIDFILE: records its own pid and its child's, then waits (a process group to kill).
_FAKE_SLEEPER = """#!/bin/sh
sleep 300 &
echo "$$ $!" > "$1"
wait
"""

# bigout N: writes N bytes of 'x' to stdout.
_FAKE_BIGOUT = """#!/bin/sh
head -c "$1" /dev/zero | tr '\\0' x
"""

FAKES = {"pvesh": _FAKE_PVESH, "qm": _FAKE_ECHO, "pct": _FAKE_ECHO, "sleeper": _FAKE_SLEEPER, "bigout": _FAKE_BIGOUT}

# Fakes that talk to the simulated cluster: the system Python runs the package's own
# sim/pvecli.py (stdlib only, copied next to them) against the simulator's REST API, reading
# its URL, token and CA from sim.json in the same directory (written by Sshd.use_sim).
_FAKE_SIM = """#!/usr/bin/python3
import os, sys
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import pvecli
sys.exit(pvecli.main_http(sys.argv, os.path.join(here, "sim.json")))
"""

SIM_FAKES = {
    "pvesh": _FAKE_SIM,
    "qm": _FAKE_SIM,
    "pct": _FAKE_SIM,
    "pvesm": _FAKE_SIM,
    "pvecli.py": Path(pvecli.__file__).read_text(),
    "sleeper": _FAKE_SLEEPER,
    "bigout": _FAKE_BIGOUT,
}

# Cheap fakes for benchmarks: a shell script costs ~1 ms where a Python one costs ~20 ms.
BENCH_FAKES = {"qm": "#!/bin/sh\necho \"$@\"\n", "pvesh": "#!/bin/sh\necho '{}'\n"}


# --------------------------------------------------------------------------- real sshd


def sshd_unavailable() -> str | None:
    """Why a real sshd cannot run here, or None."""
    if not os.path.exists(SSHD) or not os.path.exists(SSH_KEYGEN):
        return "OpenSSH server not installed (apt-get install -y openssh-server)"
    if os.geteuid() != 0:
        return "the real-sshd tests start sshd and need root"
    return None


def ensure_test_user(name: str = TEST_USER) -> pwd.struct_passwd:
    """The dedicated login user (``/bin/sh``, real home, password field ``*``); created if missing."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "-m", "-s", "/bin/sh", name], check=True, timeout=30)
        entry = pwd.getpwnam(name)
    # With UsePAM no, a '!' (locked) password field refuses even key logins.
    subprocess.run(["usermod", "-p", "*", name], check=True, timeout=30)
    return entry


def _keygen(path: Path, passphrase: str = "") -> str:
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", passphrase, "-C", "", "-f", str(path)],
        check=True,
        timeout=30,
    )
    return path.with_suffix(".pub").read_text().strip()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sshd:
    """A running OpenSSH sshd and what a client needs to reach it."""

    dir: Path
    port: int
    user: str
    host_key_line: str
    client_key_path: Path
    fakebin: Path
    state: Path
    process: subprocess.Popen[bytes]
    log: list[str] = field(default_factory=list)

    def target(self, **overrides: Any) -> SshTarget:
        fields: dict[str, Any] = {
            "node": "pve1",
            "host": "127.0.0.1",
            "port": self.port,
            "username": self.user,
            "host_keys": (self.host_key_line,),
            "client_key_path": self.client_key_path,
            "connect_timeout": 10.0,
        }
        fields.update(overrides)
        return SshTarget(**fields)

    def use_sim(self, sim: Any, node: str | None = None) -> None:
        """Point the sim fakes at a running simulator (``SimHandle``): URL, token, CA, node."""
        ca = self.dir / "sim-ca.pem"
        ca.write_bytes(Path(sim.ca_file).read_bytes())
        ca.chmod(0o644)
        cfg = self.fakebin / "sim.json"
        cfg.write_text(
            json.dumps({"url": sim.url, "auth_header": sim.auth_header, "ca_file": str(ca), "node": node or sim.default_node})
        )
        cfg.chmod(0o644)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def start_sshd(user: str = TEST_USER, fakes: dict[str, str] | None = None) -> Sshd:
    """Start sshd on a free 127.0.0.1 port in a fresh directory; ready when it listens.

    ``fakes``: the programs put first on the login user's PATH (default :data:`FAKES`)."""
    account = ensure_test_user(user)
    d = Path(tempfile.mkdtemp(prefix="pmcp-sshd-"))
    d.chmod(0o755)  # the login user must reach fakebin and authorized_keys
    host_line = _keygen(d / "ssh_host_ed25519_key")
    client_line = _keygen(d / "client_key")
    auth = d / "authorized_keys"
    auth.write_text(client_line + "\n")
    os.chown(auth, account.pw_uid, account.pw_gid)  # sshd reads it as the login user
    auth.chmod(0o600)
    fakebin = d / "fakebin"
    fakebin.mkdir()
    for name, text in (FAKES if fakes is None else fakes).items():
        (fakebin / name).write_text(text)
        (fakebin / name).chmod(0o644 if name.endswith((".py", ".json")) else 0o755)
    fakebin.chmod(0o755)
    state = d / "state"
    state.mkdir()
    state.chmod(0o1777)
    port = _free_port()
    config = d / "sshd_config"
    config.write_text(
        f"""Port {port}
ListenAddress 127.0.0.1
HostKey {d}/ssh_host_ed25519_key
PidFile none
AuthorizedKeysFile {auth}
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
AllowUsers {user}
SetEnv PATH={fakebin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
Subsystem sftp internal-sftp
PrintMotd no
UseDNS no
MaxStartups 100:30:200
MaxSessions 50
"""
    )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    subprocess.run([SSHD, "-t", "-f", str(config)], check=True, timeout=30)
    proc = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    server = Sshd(d, port, user, host_line, d / "client_key", fakebin, state, proc)
    listening = threading.Event()

    def drain() -> None:  # keeps sshd's stderr pipe from filling up, and spots readiness
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            server.log.append(line)
            if "Server listening on" in line:
                listening.set()
        listening.set()

    threading.Thread(target=drain, name="sshd-stderr", daemon=True).start()
    if not listening.wait(timeout=15) or proc.poll() is not None:
        server.stop()
        raise RuntimeError("sshd did not start:\n" + "\n".join(server.log))
    return server


async def wait_process_gone(pid: int) -> None:
    """Return when process ``pid`` has exited (pidfd readability; no polling)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        await anyio.wait_readable(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- in-process server


class _Server(asyncssh.SSHServer):
    def __init__(self, node: FakeNode) -> None:
        self._node = node
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._node.connections.append(conn)
        self._node.connection_events.append(anyio.Event())

    def connection_lost(self, exc: Exception | None) -> None:
        assert self._conn is not None
        self._node.connection_events[self._node.connections.index(self._conn)].set()

    def begin_auth(self, username: str) -> bool:
        self._node.auth_attempts += 1
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return any(key.public_data == k.public_data for k in self._node.authorized)

    def password_auth_supported(self) -> bool:
        return False

    def session_requested(self) -> Any:
        if self._node.drop_next_open:
            self._node.drop_next_open = False
            assert self._conn is not None
            self._conn.abort()
            return False
        return asyncssh.SSHServerProcess(self._node.handle, None, 3, False)


@dataclass
class FakeNode:
    """An in-process SSH server that acts out commands by name (see :meth:`handle`)."""

    host_key: asyncssh.SSHKey
    client_key: asyncssh.SSHKey
    authorized: list[asyncssh.SSHKey]
    port: int = 0
    server: asyncssh.SSHAcceptor | None = None
    connections: list[asyncssh.SSHServerConnection] = field(default_factory=list)
    connection_events: list[anyio.Event] = field(default_factory=list)
    auth_attempts: int = 0
    executed: list[list[str]] = field(default_factory=list)
    active: int = 0
    max_active: int = 0
    gate_at: int = 8
    gate: anyio.Event = field(default_factory=anyio.Event)
    hold_started: anyio.Event = field(default_factory=anyio.Event)
    hold_reached: anyio.Event = field(default_factory=anyio.Event)
    hung_closed: anyio.Event = field(default_factory=anyio.Event)
    drop_next_open: bool = False
    extra: dict[str, Callable[..., Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Exported once: each export differs (random check bytes), and the pool keys on the target.
        self.client_pem = SecretStr(self.client_key.export_private_key("openssh").decode())

    def target(self, **overrides: Any) -> SshTarget:
        fields: dict[str, Any] = {
            "node": "fake1",
            "host": "127.0.0.1",
            "port": self.port,
            "username": "root",
            "host_keys": (self.host_key.export_public_key("openssh").decode().strip(),),
            "client_key": self.client_pem,
            "connect_timeout": 5.0,
        }
        fields.update(overrides)
        return SshTarget(**fields)

    async def start(self) -> None:
        self.server = await asyncssh.create_server(
            lambda: _Server(self),
            "127.0.0.1",
            0,
            server_host_keys=[self.host_key],
            config=None,
            encoding=None,
            gss_host=None,
        )
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for conn in self.connections:
            conn.abort()
        await self.server.wait_closed()

    async def handle(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        """Act out a command. The client wraps it in ``exec timeout -s KILL Ns``; that is undone."""
        argv = shlex.split(process.command or "")
        if argv[:3] == ["exec", "timeout", "-s"]:
            argv = argv[5:]
        self.executed.append(argv)
        name, args = argv[0], argv[1:]
        if name == "echo":
            process.stdout.write(json.dumps(args).encode() + b"\n")
            process.exit(0)
        elif name == "cat":
            process.stdout.write(await process.stdin.read())
            process.exit(0)
        elif name == "fail":
            process.stderr.write(b"boom\n")
            process.exit(3)
        elif name == "hold":  # waits for the test to open the gate; counts concurrent holders
            self.active += 1
            self.hold_started.set()
            self.max_active = max(self.max_active, self.active)
            if self.active >= self.gate_at:
                self.hold_reached.set()
            await self.gate.wait()
            self.active -= 1
            process.exit(0)
        elif name == "hang":
            await process.wait_closed()
            self.hung_closed.set()
        elif name == "drop":
            conn = process.get_extra_info("connection")
            process.stdout.write(b"partial\n")
            await process.stdout.drain()
            conn.abort()
        elif name == "big":
            n = int(args[0])
            chunk = b"y" * 65536
            while n > 0:
                process.stdout.write(chunk[: min(n, len(chunk))])
                n -= len(chunk)
                await process.stdout.drain()
            process.exit(0)
        elif name == "noexit":
            process.close()
        elif name in self.extra:
            await self.extra[name](process, args)
        else:
            process.stderr.write(f"{name}: command not found\n".encode())
            process.exit(127)


def new_fake_node(*, host_key: asyncssh.SSHKey | None = None) -> FakeNode:
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    return FakeNode(
        host_key=host_key or asyncssh.generate_private_key("ssh-ed25519"),
        client_key=client_key,
        authorized=[client_key],
    )


__all__ = [
    "BENCH_FAKES",
    "FAKES",
    "SIM_FAKES",
    "FakeNode",
    "Sshd",
    "ensure_test_user",
    "new_fake_node",
    "sshd_unavailable",
    "start_sshd",
    "wait_process_gone",
]

if __name__ == "__main__":  # manual use: python tests/transports/sshd.py -> prints how to reach it
    srv = start_sshd()
    print(f"sshd pid {srv.process.pid} on 127.0.0.1:{srv.port}, dir {srv.dir}", file=sys.stderr)
    try:
        srv.process.wait()
    finally:
        srv.stop()
