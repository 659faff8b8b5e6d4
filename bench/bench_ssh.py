"""The CLI plane's pooled SSH connection against a real OpenSSH sshd on 127.0.0.1.

Done means (the issue's criteria):

* a CLI command over the pooled connection takes at most 1/10 of the wall time of the same
  command over a fresh connection (connect, key exchange, auth, run, close);
* 50 concurrent commands to one node all complete, never more at once than the per-node limit.

The sshd is the one the tests start (tests/transports/sshd.py: a dedicated /bin/sh user, fakes on
its PATH). ``qm`` is a one-line shell script here, so the numbers are the plane's own cost, not
a Python start-up. With ``--sim`` the same is measured with the fakes that forward to the
simulated cluster (Python + HTTPS per command), and against the simulator's in-process SSH
endpoint, for reference.

    .venv/bin/python bench/bench_ssh.py [--runs 30] [--sim]

Needs root (it starts sshd and creates the test user) and openssh-server.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anyio.lowlevel

from proxmox_operator_mcp.transports.cli import CliRunner
from proxmox_operator_mcp.transports.ssh import SshPool, SshTarget
from tests.transports import sshd


def _ms(xs: list[float]) -> str:
    xs = sorted(xs)
    p90 = xs[min(len(xs) - 1, int(len(xs) * 0.9))]
    return f"median {statistics.median(xs) * 1000:7.2f} ms   p90 {p90 * 1000:7.2f} ms"


async def pooled_vs_fresh(
    target: SshTarget, argv: list[str], runs: int, *, bare_names: bool, judge: bool = True
) -> tuple[float, float]:
    # In alternating blocks, so that both see the same load on the machine, but a pooled command
    # does not run while sshd is still tearing down the fresh connection just closed.
    pooled: list[float] = []
    fresh: list[float] = []
    block = max(1, runs // 5)
    async with SshPool() as pool:
        cli = CliRunner(pool, bare_names=bare_names)
        await cli.run(target, argv, timeout=30)  # connect once
        while len(pooled) < runs:
            for _ in range(block):
                t0 = time.perf_counter()
                result = await cli.run(target, argv, timeout=30)
                pooled.append(time.perf_counter() - t0)
                assert result.ok, result
            for _ in range(block):
                t0 = time.perf_counter()
                async with SshPool() as once:
                    result = await CliRunner(once, bare_names=bare_names).run(target, argv, timeout=30)
                fresh.append(time.perf_counter() - t0)
                assert result.ok, result
    print(f"  pooled connection: {_ms(pooled)}")
    print(f"  fresh connection:  {_ms(fresh)}")
    ratio = statistics.median(pooled) / statistics.median(fresh)
    verdict = (" -> PASS" if ratio <= 0.1 else " -> FAIL") + " (<= 1/10)" if judge else " (reference)"
    print(f"  pooled / fresh = {ratio:.3f}  (1/{1 / ratio:.1f}){verdict}")
    return statistics.median(pooled), statistics.median(fresh)


async def fifty_concurrent(
    target: SshTarget, argv: list[str], *, limit: int, bare_names: bool, numbered: bool = True
) -> bool:
    async with SshPool(max_sessions=limit) as pool:
        cli = CliRunner(pool, bare_names=bare_names)
        results = []
        peak = 0
        done = anyio.Event()

        async def watch() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, pool.stats(target).running)
                await anyio.lowlevel.checkpoint()

        async def one(i: int) -> None:
            results.append(await cli.run(target, [*argv, str(i)] if numbered else argv, timeout=60))

        t0 = time.perf_counter()
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            async with anyio.create_task_group() as work:
                for i in range(50):
                    work.start_soon(one, i)
            done.set()
        wall = time.perf_counter() - t0
        ok = len(results) == 50 and all(r.ok for r in results) and peak <= limit
        print(
            f"  50 concurrent `{' '.join(argv)}{' N' if numbered else ''}`: {sum(r.ok for r in results)}/50 ok in {wall * 1000:.0f} ms, "
            f"at most {peak} at once (limit {limit}), one connection: {pool.stats(target).connected} "
            f"-> {'PASS' if ok else 'FAIL'}"
        )
        return ok


async def main(runs: int, with_sim: bool) -> int:
    reason = sshd.sshd_unavailable()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    ok = True
    server = sshd.start_sshd(fakes=sshd.BENCH_FAKES)
    try:
        target = server.target()
        print(f"real OpenSSH sshd on 127.0.0.1:{server.port}, `qm list` (a shell-script qm), {runs} runs each")
        pooled, fresh = await pooled_vs_fresh(target, ["qm", "list"], runs, bare_names=True)
        ok &= pooled <= fresh / 10
        ok &= await fifty_concurrent(target, ["qm", "status"], limit=8, bare_names=True)
    finally:
        server.stop()

    if with_sim:
        from proxmox_operator_mcp.sim import SimOptions, run_sim

        server = sshd.start_sshd(fakes=sshd.SIM_FAKES)
        try:
            async with run_sim(SimOptions(nodes=1, task_seconds=0.05, ssh=True)) as sim:
                server.use_sim(sim)
                print(f"\nreal sshd, `qm list` by a fake that asks the simulator over HTTPS, {min(runs, 10)} runs each")
                await pooled_vs_fresh(server.target(), ["qm", "list"], min(runs, 10), bare_names=True, judge=False)
                assert sim.ssh is not None
                print(f"\nthe simulator's in-process SSH endpoint, `qm list`, {runs} runs each")
                await pooled_vs_fresh(sim.ssh.target("pve1"), ["qm", "list"], runs, bare_names=False, judge=False)
                await fifty_concurrent(
                    sim.ssh.target("pve1"), ["qm", "status", "100"], limit=8, bare_names=False, numbered=False
                )
        finally:
            server.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--sim", action="store_true", help="also measure with the simulator-backed fakes")
    a = ap.parse_args()
    raise SystemExit(anyio.run(main, a.runs, a.sim))
