"""Per-call overhead of a typed read tool, and how soon an inline task wait returns.

Against the simulated cluster over real HTTPS on loopback, in one process:

* direct: the same REST request sent with a plain httpx2 client (token header, CA-verified TLS);
* tool (in memory): `proxmox_node_get` through the official MCP client connected in process;
* tool (stdio): the same through a real `proxmox-mcp serve` subprocess.

Then `proxmox_vm_action start wait=…` against tasks of different lengths: the delay between the
task's end (the simulator knows it exactly) and the tool's answer.

    .venv/bin/python bench/bench_calls.py [--calls 300]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import anyio
import httpx2
from mcp import Client, StdioServerParameters

from proxmox_operator_mcp.config import load_settings
from proxmox_operator_mcp.server.app import build_server
from proxmox_operator_mcp.sim import SimOptions, run_sim


def _ms(xs: list[float]) -> str:
    xs = sorted(xs)
    p99 = xs[min(len(xs) - 1, int(len(xs) * 0.99))]
    return f"median {statistics.median(xs) * 1000:6.2f} ms  p99 {p99 * 1000:6.2f} ms"


async def _time(fn, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - t0)
    return out


async def overhead(calls: int) -> None:
    async with run_sim(SimOptions(nodes=3, vms_per_node=50, cts_per_node=10)) as sim:
        node = sim.default_node
        direct_client = httpx2.AsyncClient(
            base_url=sim.url, verify=str(sim.ca_file), headers={"Authorization": sim.auth_header}
        )

        async def direct() -> None:
            r = await direct_client.get(f"/nodes/{node}/status")
            r.raise_for_status()

        env = {**sim.env(), "PROXMOX_MCP_ACCESS": "read-only"}
        server = build_server(load_settings(env))
        stdio = StdioServerParameters(
            command=sys.executable,
            args=["-m", "proxmox_operator_mcp", "serve"],
            env={**{k: v for k, v in os.environ.items() if not k.startswith("PROXMOX_")}, **env},
        )
        async with Client(server) as mem, Client(stdio) as sub:

            async def tool_mem() -> None:
                r = await mem.call_tool("proxmox_node_get", {"node": node})
                assert not r.is_error

            async def tool_stdio() -> None:
                r = await sub.call_tool("proxmox_node_get", {"node": node})
                assert not r.is_error

            for fn in (direct, tool_mem, tool_stdio):  # warm up: connections, schema load
                for _ in range(20):
                    await fn()
            results: dict[str, list[float]] = {"direct": [], "mem": [], "stdio": []}
            for _ in range(calls // 10):  # interleave in small batches so noise hits all alike
                results["direct"] += await _time(direct, 10)
                results["mem"] += await _time(tool_mem, 10)
                results["stdio"] += await _time(tool_stdio, 10)
        await direct_client.aclose()
    base = statistics.median(results["direct"])
    print(f"GET /nodes/{{node}}/status, {len(results['direct'])} calls each")
    print(f"  direct REST (httpx2)      {_ms(results['direct'])}")
    for key, label in (("mem", "tool, in-memory client"), ("stdio", "tool, stdio subprocess")):
        extra = (statistics.median(results[key]) - base) * 1000
        print(f"  {label:24s}  {_ms(results[key])}   overhead +{extra:5.2f} ms median")


async def inline_wait() -> None:
    print("inline task wait: delay between task end and the tool's answer")
    for seconds in (0.2, 1.0, 3.0):
        async with run_sim(SimOptions(nodes=1, vms_per_node=12, cts_per_node=0, task_seconds=seconds)) as sim:
            server = build_server(load_settings({**sim.env(), "PROXMOX_MCP_ACCESS": "operator"}))
            delays = []
            async with Client(server) as client:
                vms = await client.call_tool("proxmox_vm_list", {"status": "stopped", "template": False})
                for item in (vms.structured_content or {}).get("items", [])[:3]:
                    r = await client.call_tool("proxmox_vm_action", {"vmid": item["vmid"], "action": "start", "wait": 30})
                    answered = sim.cluster.clock.monotonic()
                    upid = (r.structured_content or {})["task"]["upid"]
                    task = next(t for t in sim.cluster.tasks.all() if t.upid == upid)
                    assert task.end_at is not None
                    delays.append(answered - task.end_at)
        print(f"  task of {seconds:3.1f} s: delays {', '.join(f'{d * 1000:.0f}' for d in delays)} ms "
              f"(max {max(delays) * 1000:.0f} ms)")


async def main(calls: int) -> None:
    await overhead(calls)
    await inline_wait()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=300)
    anyio.run(main, ap.parse_args().calls)
