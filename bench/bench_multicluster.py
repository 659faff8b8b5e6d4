"""Fan-out across clusters: `proxmox_inventory_overview` over three clusters of 1,000 guests each,
one of them slow (every answer 2 s late), against the simulator over real HTTPS on loopback.

The clusters are asked at once, so the overview should take about the slow cluster's time, not
the sum of the three. Printed: each cluster asked alone (the sequential sum), then all three
through the fan-out.

    .venv/bin/python bench/bench_multicluster.py [--latency 2.0] [--guests 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import anyio

from proxmox_operator_mcp.config import load_settings
from proxmox_operator_mcp.server.app import build_server
from proxmox_operator_mcp.sim import SimCluster, SimOptions, SimThread


async def main(latency: float, guests: int, rounds: int) -> None:
    nodes = 4
    per_node = guests // nodes
    names = ["fast1", "fast2", "slow"]
    sims = [
        SimCluster(SimOptions(nodes=nodes, vms_per_node=per_node * 4 // 5, cts_per_node=per_node // 5,
                              cluster_name=n, seed=i))
        for i, n in enumerate(names)
    ]
    # Each simulated cluster in its own thread and event loop, as remote clusters are: one loop
    # for all would make the slow cluster's request wait for the fast ones' work before its delay.
    threads = [SimThread(s.options, cluster=s) for s in sims]
    try:
        handles = [t.start() for t in threads]
        sims[2].faults.latency = latency
        tables = "\n".join(
            f'[[clusters]]\nname = "{n}"\nendpoints = ["127.0.0.1:{h.port}"]\ntoken_user = "root"\n'
            f'token_id = "mcp"\ntoken_secret = "{h.token_secret}"\ntls_fingerprint = "{h.fingerprint}"\n'
            for n, h in zip(names, handles, strict=True)
        )
        with tempfile.TemporaryDirectory() as tmp:
            cfg = Path(tmp) / "clusters.toml"
            cfg.write_text(tables)
            settings = load_settings({"PROXMOX_MCP_CONFIG": str(cfg)})
            server = build_server(settings)
            from proxmox_operator_mcp.tools.base import ToolContext
            from proxmox_operator_mcp.tools.inventory import NoInput, inventory_overview

            # warm up: TLS handshakes and connection pools
            await server.call_tool("proxmox_inventory_overview", {})
            alone: dict[str, list[float]] = {n: [] for n in names}
            fanned: list[float] = []
            handler: list[float] = []
            total = 0
            for _ in range(rounds):
                for n in names:
                    ctx = ToolContext(settings=settings, gate=server.gate, tool_name="bench", cluster=n)
                    t0 = time.perf_counter()
                    out = await inventory_overview(ctx, NoInput())
                    alone[n].append(time.perf_counter() - t0)
                    assert out.vms_total + out.cts_total + out.templates == nodes * per_node, out
                ctx = ToolContext(settings=settings, gate=server.gate, tool_name="bench")
                t0 = time.perf_counter()
                await inventory_overview(ctx, NoInput())
                handler.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                res = await server.call_tool("proxmox_inventory_overview", {})
                fanned.append(time.perf_counter() - t0)
                sc = res.structured_content or {}
                assert not res.is_error and all(p["ok"] for p in sc["clusters"]), sc.get("clusters")
                total = sc["vms_total"] + sc["cts_total"] + sc["templates"]
    finally:
        for t in threads:
            t.stop()
    med = {n: statistics.median(v) for n, v in alone.items()}
    print(f"guests per cluster: {nodes * per_node}, slow cluster latency: {latency:g} s per request, rounds: {rounds}")
    for n in names:
        print(f"  {n:<6} alone: {med[n]:6.3f} s")
    print(f"  sequential sum:     {sum(med.values()):6.3f} s")
    print(f"  fan-out, handler:    {statistics.median(handler):6.3f} s")
    print(f"  fan-out, tool call:  {statistics.median(fanned):6.3f} s  ({total} guests)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--latency", type=float, default=2.0)
    ap.add_argument("--guests", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    anyio.run(main, a.latency, a.guests, a.rounds)
