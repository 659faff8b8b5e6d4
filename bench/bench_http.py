"""Remote mode under load: throughput and latency of a read tool over streamable HTTP, against the
same SDK serving a no-op tool in the same run; then a bounded soak watching RSS and fds.

Everything runs as separate processes on 127.0.0.1, so CPU can be charged to each side:

* the simulated cluster: ``python -m proxmox_operator_mcp sim --port 0`` (HTTPS on loopback);
* ours: ``python -m proxmox_operator_mcp serve --transport http`` (auth none, loopback,
  read-only, rate limit off: every client shares one address, the per-address bucket would
  otherwise answer 429);
* baseline: a bare ``mcp.server.MCPServer`` with one no-op tool, its ``streamable_http_app``
  under uvicorn (this very file run with ``--serve-baseline``), same stateful/stateless setting;
* the load generator: this process, ``--clients`` (default 50) concurrent clients, each with its
  own connection and MCP session, calling the tool in a loop for ``--seconds``.

The default client (``--client raw``) posts JSON-RPC with httpx2 after a real ``initialize``
handshake (``Mcp-Session-Id``, ``MCP-Protocol-Version``) and reads the SSE (or JSON) answer: on
2 cores generator and server compete for CPU, and the official client's per-call cost (pydantic
models, stream plumbing, task groups) would charge the generator more than the server. ``--client
sdk`` uses the official ``mcp.Client`` over ``streamable_http_client`` instead. CPU per process is
printed (from /proc) so it shows who was busy.

What ours calls (``--tool``): ``node_get`` (default) has every client ask for the same node, so
identical GETs that are in flight at the same moment are joined by the REST client (one request to
PVE answers all of them: what many agents watching one cluster look like); ``api_get_spread``
gives each client its own guest (``proxmox_api_call`` GET .../status/current), and
``node_get_spread --nodes 50`` each client its own node (the typed tool of the default), so nothing
can be joined and every call costs a full request to the simulator. Report both kinds.

Soak (``--soak-seconds``, default 300, bounded): ``--soak-clients`` (default 10) clients pacing
themselves (``--soak-pause``) and re-opening their session and connection every
``--soak-reconnect`` calls (session churn is where fds and memory leak); our server's VmRSS and
open fds are sampled every ``--sample-every`` seconds from /proc. Prints figures; asserts nothing.

    .venv/bin/python bench/bench_http.py [--seconds 20] [--soak-seconds 300] [--stateless] [--tool api_get_spread]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2

HERE = Path(__file__).resolve().parent
PROTOCOL = "2025-11-25"
TICK = os.sysconf("SC_CLK_TCK")
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


# --- the baseline server (this file, run with --serve-baseline) --------------------------------


def serve_baseline(port: int, stateless: bool) -> None:
    import uvicorn
    from mcp.server import MCPServer
    from mcp.server.transport_security import TransportSecuritySettings

    server = MCPServer("baseline")

    @server.tool()
    def noop(node: str = "") -> str:
        """Do nothing."""
        return "ok"

    app = server.streamable_http_app(
        stateless_http=stateless,
        session_idle_timeout=None if stateless else 1800,
        max_sessions=None if stateless else 1000,
        transport_security=TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=["127.0.0.1:*", "localhost:*"],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*"],
        ),
        host="127.0.0.1",
    )
    # The same uvicorn options as ours (server/http.py: _uvicorn_config).
    uvicorn.run(
        app, host="127.0.0.1", port=port, log_config=None, log_level="warning", access_log=False,
        server_header=False, lifespan="on", ws="none", timeout_graceful_shutdown=5, timeout_keep_alive=30,
    )


# --- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (its threads included), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PROXMOX_")}


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


@contextmanager
def processes() -> Iterator[list[Proc]]:
    procs: list[Proc] = []
    try:
        yield procs
    finally:
        for p in reversed(procs):
            p.stop()


def start_sim(procs: list[Proc], tmp: Path, args: argparse.Namespace) -> dict[str, str]:
    """``proxmox-mcp sim`` on a free port; returns the env its banner prints."""
    log = tmp / "sim.err"
    popen = subprocess.Popen(
        [sys.executable, "-m", "proxmox_operator_mcp", "sim", "--port", "0", "--nodes", str(args.nodes),
         "--vms", str(args.vms), "--cts", "10"],
        env=_clean_env(), stdout=subprocess.PIPE, stderr=log.open("wb"), stdin=subprocess.DEVNULL,
    )
    procs.append(Proc("sim", popen, log))
    env: dict[str, str] = {}
    assert popen.stdout is not None
    deadline = time.monotonic() + 60
    for raw in popen.stdout:  # the banner ends with "Serving until Ctrl-C."
        line = raw.decode().strip()
        m = re.match(r"^export (PROXMOX_[A-Z0-9_]+)=(.*)$", line)
        if m:
            value = m.group(2)
            env[m.group(1)] = value[1:-1] if value.startswith("'") and value.endswith("'") else value
        if line.startswith("Serving until") or time.monotonic() > deadline:
            break
    if not env:
        raise SystemExit(f"the simulator did not start:\n{procs[-1].tail()}")
    return env


_PROFILE_RUNNER = """
import cProfile, runpy, signal, sys
prof = cProfile.Profile()
def dump(*_):
    prof.disable()
    prof.dump_stats({out!r})
    sys.exit(0)
signal.signal(signal.SIGTERM, dump)
sys.argv[0] = "proxmox_operator_mcp"
prof.enable()
runpy.run_module("proxmox_operator_mcp", run_name="__main__", alter_sys=True)
"""


def start_ours(procs: list[Proc], tmp: Path, sim_env: dict[str, str], args: argparse.Namespace) -> tuple[Proc, str]:
    port = free_port()
    env = {
        **_clean_env(), **sim_env,
        "PROXMOX_MCP_ACCESS": "read-only",
        "PROXMOX_MCP_HTTP_HOST": "127.0.0.1",
        "PROXMOX_MCP_HTTP_PORT": str(port),
        "PROXMOX_MCP_AUTH_MODE": "none",
        "PROXMOX_MCP_RATE_LIMIT_PER_MINUTE": "0",
        "PROXMOX_MCP_HTTP_STATELESS": "1" if args.stateless else "0",
        "PROXMOX_MCP_LOG_LEVEL": "WARNING",
    }
    cmd = [sys.executable, "-m", "proxmox_operator_mcp", "serve", "--transport", "http"]
    if args.profile:  # uvicorn re-raises SIGTERM after its graceful shutdown: dump from our handler
        cmd[1:] = ["-c", _PROFILE_RUNNER.format(out=str(args.profile.resolve())), *cmd[3:]]
    log = tmp / "ours.err"
    popen = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"), stdin=subprocess.DEVNULL)
    proc = Proc("ours", popen, log)
    procs.append(proc)
    return proc, f"http://127.0.0.1:{port}/mcp"


def start_baseline(procs: list[Proc], tmp: Path, args: argparse.Namespace) -> tuple[Proc, str]:
    port = free_port()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve-baseline", str(port)]
    if args.stateless:
        cmd.append("--stateless")
    log = tmp / "baseline.err"
    popen = subprocess.Popen(cmd, env=_clean_env(), stdout=subprocess.DEVNULL, stderr=log.open("wb"),
                             stdin=subprocess.DEVNULL)
    proc = Proc("baseline", popen, log)
    procs.append(proc)
    return proc, f"http://127.0.0.1:{port}/mcp"


async def wait_up(proc: Proc, url: str) -> None:
    """Until ``initialize`` answers (fails with the server's stderr if it exits or takes > 60 s)."""
    deadline = time.monotonic() + 60
    async with httpx2.AsyncClient(timeout=5) as http:
        while True:
            if proc.popen.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{proc.name} did not start:\n{proc.tail()}")
            try:
                s = RawSession(http, url)
                await s.open()
                await s.close()
                return
            except (httpx2.HTTPError, OSError, RuntimeError):
                await anyio.sleep(0.2)


# --- clients -----------------------------------------------------------------------------------


def _decode(response: httpx2.Response) -> dict[str, Any]:
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data:"):
                doc = json.loads(line[5:])
                if isinstance(doc, dict) and ("result" in doc or "error" in doc):
                    return doc
        raise RuntimeError("no JSON-RPC answer in the event stream")
    return response.json()  # type: ignore[no-any-return]


class RawSession:
    """An MCP session spoken with plain JSON-RPC posts (the official handshake, no SDK client)."""

    def __init__(self, http: httpx2.AsyncClient, url: str) -> None:
        self.http = http
        self.url = url
        self.headers = dict(MCP_HEADERS)
        self.next_id = 1

    async def _post(self, body: dict[str, Any]) -> httpx2.Response:
        r = await self.http.post(self.url, json=body, headers=self.headers)
        if r.status_code >= 400:
            raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")
        return r

    async def open(self) -> None:
        r = await self._post({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "bench-http", "version": "0"}}})
        doc = _decode(r)
        if "error" in doc:
            raise RuntimeError(f"initialize: {doc['error']}")
        sid = r.headers.get("mcp-session-id")
        if sid:
            self.headers["Mcp-Session-Id"] = sid
        self.headers["MCP-Protocol-Version"] = doc["result"].get("protocolVersion", PROTOCOL)
        await self._post({"jsonrpc": "2.0", "method": "notifications/initialized"})

    async def call(self, tool: str, arguments: dict[str, Any]) -> None:
        self.next_id += 1
        r = await self._post({"jsonrpc": "2.0", "id": self.next_id, "method": "tools/call",
                              "params": {"name": tool, "arguments": arguments}})
        doc = _decode(r)
        if "error" in doc or doc["result"].get("isError"):
            raise RuntimeError(f"{tool}: {json.dumps(doc)[:300]}")

    async def close(self) -> None:
        if "Mcp-Session-Id" in self.headers:
            try:
                await self.http.delete(self.url, headers=self.headers)
            except httpx2.HTTPError:
                pass


Caller = Callable[[], Awaitable[None]]


@asynccontextmanager
async def raw_client(url: str, tool: str, arguments: dict[str, Any]) -> AsyncIterator[Caller]:
    async with httpx2.AsyncClient(timeout=60) as http:
        s = RawSession(http, url)
        await s.open()
        try:
            yield lambda: s.call(tool, arguments)
        finally:
            await s.close()


@asynccontextmanager
async def sdk_client(url: str, tool: str, arguments: dict[str, Any]) -> AsyncIterator[Caller]:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with httpx2.AsyncClient(timeout=60) as http, Client(streamable_http_client(url, http_client=http)) as client:

        async def call() -> None:
            r = await client.call_tool(tool, arguments)
            if r.is_error:
                raise RuntimeError(f"{tool}: {r.content!r}"[:300])

        yield call


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    wall: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)


async def run_load(
    url: str, tool: str, arguments: dict[str, Any] | Callable[[int], dict[str, Any]], *, clients: int, seconds: float, warmup: float,
    kind: str, watch: dict[str, int],
) -> Load:
    """``clients`` sessions calling ``tool`` back to back; latencies of calls started after ``warmup``."""
    factory = sdk_client if kind == "sdk" else raw_client
    load = Load()
    ready = anyio.Event()
    opened = 0
    t_start, t_end = float("inf"), 0.0
    cpu0: dict[str, float] = {}

    async def worker(i: int) -> None:
        nonlocal opened
        async with factory(url, tool, arguments(i) if callable(arguments) else arguments) as call:
            opened += 1
            if opened == clients:
                ready.set()
            await ready.wait()
            while True:
                t0 = time.perf_counter()
                if t0 >= t_end and t_end:
                    return
                try:
                    await call()
                except Exception as exc:  # noqa: BLE001 - counted, not fatal: the run goes on
                    load.errors += 1
                    load.first_error = load.first_error or f"{type(exc).__name__}: {exc}"[:300]
                    await anyio.sleep(0.05)
                    continue
                if t0 >= t_start:
                    load.latencies.append(time.perf_counter() - t0)

    async with anyio.create_task_group() as tg:
        for i in range(clients):
            tg.start_soon(worker, i)
        with anyio.fail_after(60):
            await ready.wait()
        now = time.perf_counter()
        t_start, t_end = now + warmup, now + warmup + seconds
        await anyio.sleep(warmup)
        cpu0 = {name: cpu_seconds(pid) for name, pid in watch.items()}
        gen0 = sum(os.times()[:2])
        await anyio.sleep(seconds)
        load.cpu = {name: cpu_seconds(pid) - cpu0[name] for name, pid in watch.items()}
        load.cpu["generator"] = sum(os.times()[:2]) - gen0
    load.wall = seconds  # calls started inside the window, over its length
    return load


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))] if xs else float("nan")


def _line(label: str, load: Load) -> str:
    n = len(load.latencies)
    rps = n / load.wall
    cpu = "  ".join(f"{k} {v / load.wall * 100:4.0f}%" for k, v in load.cpu.items())
    return (f"  {label:9s} {rps:8.1f} req/s  p50 {_pct(load.latencies, 0.5) * 1000:7.1f} ms  "
            f"p99 {_pct(load.latencies, 0.99) * 1000:7.1f} ms  calls {n:6d}  errors {load.errors}   "
            f"server CPU/call {_cpu_per_call(label, load) * 1000:5.2f} ms   CPU: {cpu}")


def _cpu_per_call(label: str, load: Load) -> float:
    return load.cpu.get(label, 0.0) / max(1, len(load.latencies))


def cpu_pressure() -> str:
    """The kernel's CPU pressure (share of time some runnable task waited): other work on the box."""
    try:
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0].split()
        return ", ".join(f"{kv.split('=')[0]} {kv.split('=')[1]} %" for kv in some[1:3])
    except (OSError, IndexError):
        return "n/a"


# --- phases ------------------------------------------------------------------------------------


async def throughput(args: argparse.Namespace, ours: tuple[Proc, str], base: tuple[Proc, str],
                     sim: Proc, node: str) -> None:
    arguments: dict[str, Any] | Callable[[int], dict[str, Any]]
    if args.tool == "vm_list":
        tool, arguments = "proxmox_vm_list", {"limit": 20}
    elif args.tool == "api_get_spread":
        # one guest per client: no two clients ever ask the same URL, so nothing is joined
        tool = "proxmox_api_call"

        def arguments(i: int) -> dict[str, Any]:
            k, j = i % args.nodes, i // args.nodes  # the simulator numbers node k's VMs from 100 + k * (vms + cts)
            vmid = 100 + k * (args.vms + 10) + j
            return {"method": "GET", "path": f"/nodes/pve{k + 1}/qemu/{vmid}/status/current"}
    elif args.tool == "node_get_spread":
        # one node per client (run the simulator with --nodes >= --clients): nothing is joined
        tool = "proxmox_node_get"

        def arguments(i: int) -> dict[str, Any]:
            return {"node": f"pve{i % args.nodes + 1}"}
    else:
        tool, arguments = "proxmox_node_get", {"node": node}
    shown = arguments(0) if callable(arguments) else arguments
    print(f"throughput: {args.clients} concurrent {args.client} clients, {args.seconds:.0f} s per round "
          f"after {args.warmup:.0f} s warm-up, {args.rounds} round(s), "
          f"{'stateless' if args.stateless else 'stateful (sessions)'}; {os.cpu_count()} CPUs")
    print(f"  ours: {tool} {json.dumps(shown)}{' (one per client)' if callable(arguments) else ''} against "
          "the simulator; baseline: bare MCPServer, no-op tool")
    print(f"  CPU pressure before (PSI some): {cpu_pressure()}")
    results: dict[str, list[Load]] = {"baseline": [], "ours": []}
    for _ in range(args.rounds):
        for label, (proc, url), name, args_ in (("baseline", base, "noop", {"node": node}),
                                               ("ours", ours, tool, arguments)):
            watch = {label: proc.pid}
            if label == "ours":
                watch["sim"] = sim.pid
            load = await run_load(url, name, args_, clients=args.clients, seconds=args.seconds,
                                  warmup=args.warmup, kind=args.client, watch=watch)
            results[label].append(load)
            print(_line(label, load))
            if load.first_error:
                print(f"            first error: {load.first_error}")
    # Paired: each round's ours against the baseline measured just before it (contention drifts).
    ratio = statistics.median(
        (len(o.latencies) / o.wall) / max(1e-9, len(b.latencies) / b.wall)
        for o, b in zip(results["ours"], results["baseline"], strict=True)
    )
    all_ours = [t for x in results["ours"] for t in x.latencies]
    all_base = [t for x in results["baseline"] for t in x.latencies]
    print(f"  ratio ours/baseline throughput {ratio * 100:5.1f} % (median of rounds; target >= 60 %)   "
          f"p50 ours {_pct(all_ours, 0.5) * 1000:.1f} ms vs {_pct(all_base, 0.5) * 1000:.1f} ms, "
          f"p99 ours {_pct(all_ours, 0.99) * 1000:.1f} ms vs {_pct(all_base, 0.99) * 1000:.1f} ms")
    # Less sensitive to other work on the machine than req/s: calls per CPU-second of the server.
    eff = {k: sum(len(x.latencies) for x in v) / max(1e-9, sum(x.cpu.get(k, 0.0) for x in v))
           for k, v in results.items()}
    sim_cpu = sum(x.cpu.get("sim", 0.0) for x in results["ours"])
    ours_total = sum(len(x.latencies) for x in results["ours"]) / max(1e-9, sum(
        x.cpu.get("ours", 0.0) for x in results["ours"]) + sim_cpu)
    print(f"  calls per server CPU-second: ours {eff['ours']:.0f}, baseline {eff['baseline']:.0f} -> ratio "
          f"{eff['ours'] / eff['baseline'] * 100:5.1f} %  (ours + simulator: {ours_total:.0f})")
    print(f"  CPU pressure after (PSI some): {cpu_pressure()}")


async def soak(args: argparse.Namespace, ours: tuple[Proc, str], node: str) -> None:
    proc, url = ours
    tool, arguments = "proxmox_node_get", {"node": node}
    print(f"soak: {args.soak_seconds:.0f} s, {args.soak_clients} clients, {args.soak_pause * 1000:.0f} ms pause "
          f"between calls, new connection + session every {args.soak_reconnect} calls; sample every "
          f"{args.sample_every:.0f} s")
    calls = errors = sessions = 0
    first_error = ""
    stop = anyio.Event()
    samples: list[tuple[float, int, int]] = []

    async def worker() -> None:
        nonlocal calls, errors, sessions, first_error
        while not stop.is_set():
            try:
                async with raw_client(url, tool, arguments) as call:
                    sessions += 1
                    for _ in range(args.soak_reconnect):
                        if stop.is_set():
                            return
                        await call()
                        calls += 1
                        await anyio.sleep(args.soak_pause)
            except Exception as exc:  # noqa: BLE001 - counted, not fatal: the soak goes on
                errors += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"[:300]
                await anyio.sleep(0.5)

    t0 = time.monotonic()
    async with anyio.create_task_group() as tg:
        for _ in range(args.soak_clients):
            tg.start_soon(worker)
        while (elapsed := time.monotonic() - t0) < args.soak_seconds:
            samples.append((elapsed, rss_kib(proc.pid), fd_count(proc.pid)))
            await anyio.sleep(min(args.sample_every, max(0.0, args.soak_seconds - elapsed)))
        samples.append((time.monotonic() - t0, rss_kib(proc.pid), fd_count(proc.pid)))
        stop.set()
    await anyio.sleep(2)  # the clients have closed their sessions and connections
    rss_after, fd_after = rss_kib(proc.pid), fd_count(proc.pid)

    # "start" is the first sample after the warm-up (imports, pools and caches filled), as a steady
    # state should be judged; the very first sample is shown too.
    warm = [s for s in samples if s[0] >= args.soak_warmup] or samples
    rss_start, rss_end = warm[0][1], samples[-1][1]
    rss_max = max(s[1] for s in samples)
    growth = (rss_end - rss_start) / rss_start * 100
    elapsed = samples[-1][0]
    mib = 1024
    print(f"  {calls} calls ({calls / elapsed:.0f}/s), {sessions} sessions, {errors} errors"
          + (f"; first error: {first_error}" if first_error else ""))
    print(f"  RSS  at 0 s {samples[0][1] / mib:.1f} MiB; start (t={warm[0][0]:.0f} s) {rss_start / mib:.1f} MiB, "
          f"end {rss_end / mib:.1f} MiB, max {rss_max / mib:.1f} MiB, growth {growth:+.1f} % ({rss_end - rss_start:+d} KiB; target <= 10 %); "
          f"idle after {rss_after / mib:.1f} MiB")
    print(f"  fds  at 0 s {samples[0][2]}; start {warm[0][2]}, end {samples[-1][2]} (under load), "
          f"max {max(s[2] for s in samples)}; idle after {fd_after}")
    step = max(1, len(samples) // 10)
    trail = ", ".join(f"{s[0]:.0f}s {s[1] / mib:.1f}M/{s[2]}fd" for s in samples[::step])
    print(f"  samples: {trail}")


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmpdir, processes() as procs:
        tmp = Path(tmpdir)
        sim_env = start_sim(procs, tmp, args)
        sim = procs[-1]
        ours = start_ours(procs, tmp, sim_env, args)
        base = start_baseline(procs, tmp, args)
        await wait_up(*ours)
        await wait_up(*base)
        node = "pve1"
        if args.seconds > 0:
            await throughput(args, ours, base, sim, node)
        if args.soak_seconds > 0:
            await soak(args, ours, node)
        if ours[0].popen.poll() is not None:
            print(f"ours exited early:\n{ours[0].tail()}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20, help="measured seconds per throughput round (0: skip)")
    ap.add_argument("--warmup", type=float, default=3, help="seconds of load before measuring")
    ap.add_argument("--rounds", type=int, default=1, help="baseline/ours rounds, alternated")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--client", choices=["raw", "sdk"], default="raw",
                    help="raw: JSON-RPC posts with httpx2 (default); sdk: the official mcp.Client")
    ap.add_argument("--tool", choices=["node_get", "vm_list", "api_get_spread", "node_get_spread"], default="node_get",
                    help="node_get: proxmox_node_get (all clients the same node: identical GETs in flight are "
                         "joined); vm_list: proxmox_vm_list limit 20; api_get_spread: proxmox_api_call GET of one "
                         "guest's status per client (nothing can be joined); node_get_spread: proxmox_node_get of "
                         "one node per client (with --nodes >= --clients nothing can be joined)")
    ap.add_argument("--stateless", action="store_true", help="both servers stateless (no sessions)")
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--vms", type=int, default=50, help="VMs per simulated node")
    ap.add_argument("--soak-seconds", type=float, default=300, help="bounded soak (0: skip)")
    ap.add_argument("--soak-clients", type=int, default=10)
    ap.add_argument("--soak-pause", type=float, default=0.02, help="seconds each soak client waits between calls")
    ap.add_argument("--soak-reconnect", type=int, default=200, help="calls per connection + session in the soak")
    ap.add_argument("--soak-warmup", type=float, default=10, help="seconds before the soak's RSS/fd start sample")
    ap.add_argument("--sample-every", type=float, default=5)
    ap.add_argument("--profile", type=Path, help="run our server under cProfile, stats written here at exit")
    ap.add_argument("--serve-baseline", type=int, metavar="PORT", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve_baseline:
        serve_baseline(a.serve_baseline, a.stateless)
    else:
        anyio.run(main, a)
