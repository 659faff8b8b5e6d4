"""Spawn -> initialize response over stdio, ours against a bare MCPServer, measured in one run.

Also measures the size of tools/list and the server's peak RSS. Prints figures; asserts nothing.

    .venv/bin/python bench/bench_startup.py [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

HERE = Path(__file__).resolve().parent

ENV = {
    "PATH": os.environ.get("PATH", ""),
    # Points at a port where nothing listens: start-up must not need Proxmox.
    "PROXMOX_HOST": "127.0.0.1",
    "PROXMOX_API_PORT": "9",
    "PROXMOX_API_TOKEN_USER": "root",
    "PROXMOX_API_TOKEN_ID": "bench",
    "PROXMOX_API_TOKEN_SECRET": "00000000-0000-0000-0000-000000000000",
}


def _peak_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def one(params: StdioServerParameters) -> tuple[float, float, int, int]:
    t0 = time.perf_counter()
    async with Client(params) as client:
        t_init = time.perf_counter() - t0
        tools = await client.list_tools()
        t_list = time.perf_counter() - t0
        size = len(
            json.dumps(
                [t.model_dump(by_alias=True, exclude_unset=True, mode="json") for t in tools.tools],
                separators=(",", ":"),
            )
        )
        return t_init, t_list, size, len(tools.tools)


def params_for(kind: str, extra_env: dict[str, str]) -> StdioServerParameters:
    env = {**ENV, **extra_env}
    if kind == "baseline":
        return StdioServerParameters(command=sys.executable, args=[str(HERE / "baseline_server.py")], env=env)
    return StdioServerParameters(command=sys.executable, args=["-m", "proxmox_operator_mcp", "serve"], env=env)


async def rss_of(kind: str, extra_env: dict[str, str]) -> float | None:
    """Peak RSS of a server process after initialize + tools/list (read from /proc before it exits)."""
    import subprocess

    p = params_for(kind, extra_env)
    proc = subprocess.Popen(
        [p.command, *p.args], env=p.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    msgs = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25",
         "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]
    assert proc.stdin and proc.stdout
    for m in msgs:
        proc.stdin.write((json.dumps(m) + "\n").encode())
    proc.stdin.flush()
    proc.stdout.readline()
    proc.stdout.readline()
    rss = _peak_rss_mib(proc.pid)
    proc.kill()
    proc.wait()
    return rss


async def main(runs: int) -> None:
    results: dict[str, list[tuple[float, float, int, int]]] = {"baseline": [], "ours": [], "ours-admin": []}
    for _ in range(runs):  # interleaved so machine noise hits both alike
        results["baseline"].append(await one(params_for("baseline", {})))
        results["ours"].append(await one(params_for("ours", {})))
        results["ours-admin"].append(await one(params_for("ours", {"PROXMOX_MCP_ACCESS": "admin"})))
    base_init = statistics.median(r[0] for r in results["baseline"])
    print(f"runs: {runs} (median, ms)")
    for kind, rs in results.items():
        init = statistics.median(r[0] for r in rs) * 1000
        lst = statistics.median(r[1] for r in rs) * 1000
        size, count = rs[-1][2], rs[-1][3]
        rss = await rss_of("baseline" if kind == "baseline" else "ours",
                           {"PROXMOX_MCP_ACCESS": "admin"} if kind == "ours-admin" else {})
        print(
            f"{kind:11s} spawn->initialize {init:7.1f}  (+{init - base_init * 1000:6.1f} vs baseline)"
            f"  spawn->tools/list {lst:7.1f}  tools {count:3d}  tools/list {size:6d} B  peak RSS {rss or 0:5.1f} MiB"
        )


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    anyio.run(main, ap.parse_args().runs)
