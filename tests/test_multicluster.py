"""Several clusters, several endpoints: selection, the `cluster` parameter, failover, fan-out.

Three simulated clusters: `alpha` served by three endpoints (three HTTPS servers over one
SimCluster), `down` (nothing listens), and `slow` (every answer late).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from proxmox_operator_mcp.config import ClusterConfig, Settings, load_settings
from proxmox_operator_mcp.errors import (
    InvalidArgumentError,
    ProxmoxConnectionError,
    ProxmoxNodeUnreachable,
    ProxmoxTimeoutError,
)
from proxmox_operator_mcp.server.app import build_server
from proxmox_operator_mcp.server.filters import add_cluster_param, pop_cluster
from proxmox_operator_mcp.sim import SimCluster, SimHandle, SimOptions, run_sim
from proxmox_operator_mcp.tools import clusters as clusters_mod
from proxmox_operator_mcp.tools.base import ToolContext
from proxmox_operator_mcp.transports.rest import RestClient

pytestmark = pytest.mark.anyio


def _dead_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class World:
    settings: Settings
    alpha: SimCluster
    slow: SimCluster
    alpha_handles: list[SimHandle]
    stops: list[anyio.Event]

    async def kill_alpha_endpoint(self, i: int) -> None:
        """Stop serving endpoint ``i`` (its server closes the port and every open connection)."""
        self.stops[i].set()
        with anyio.fail_after(5):
            while True:
                try:
                    stream = await anyio.connect_tcp("127.0.0.1", self.alpha_handles[i].port)
                except OSError:
                    return
                await stream.aclose()
                await anyio.wait_all_tasks_blocked()


async def _serve(cluster: SimCluster, stop: anyio.Event, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
    async with run_sim(cluster.options, cluster=cluster) as handle:
        task_status.started(handle)
        await stop.wait()


def _toml(world: dict[str, Any]) -> str:
    def eps(handles: list[SimHandle] | list[int]) -> str:
        return "[" + ", ".join(f'"127.0.0.1:{h if isinstance(h, int) else h.port}"' for h in handles) + "]"

    h0: SimHandle = world["alpha"][0]
    common = (
        f'token_user = "root"\ntoken_id = "mcp"\ntls_fingerprint = "{h0.fingerprint}"\n'
        "connect_timeout = 2\nread_timeout = 10\n"
    )
    return (
        'access = "operator"\n\n'
        f'[[clusters]]\nname = "alpha"\nendpoints = {eps(world["alpha"])}\ntoken_secret = "{h0.token_secret}"\n'
        f'default_node = "pve1"\ntags = ["prod", "eu"]\n{common}\n'
        f'[[clusters]]\nname = "down"\nendpoints = {eps([world["down_port"]])}\ntoken_secret = "x-y-z"\n{common}\n'
        f'[[clusters]]\nname = "slow"\nendpoints = {eps([world["slow"]])}\n'
        f'token_secret = "{world["slow"].token_secret}"\n{common}'
    )


@asynccontextmanager
async def three_clusters(tmp_path: Path, *, slow_latency: float = 3.0) -> AsyncIterator[World]:
    alpha = SimCluster(SimOptions(nodes=3, vms_per_node=2, cts_per_node=1, cluster_name="alpha", task_seconds=0.05))
    slow = SimCluster(SimOptions(nodes=1, vms_per_node=2, cts_per_node=0, cluster_name="slow", seed=2))
    stops = [anyio.Event() for _ in range(4)]
    async with anyio.create_task_group() as tg:
        handles = [await tg.start(_serve, alpha, stops[i]) for i in range(3)]
        slow_handle = await tg.start(_serve, slow, stops[3])
        slow.faults.latency = slow_latency
        cfg = tmp_path / "clusters.toml"
        cfg.write_text(_toml({"alpha": handles, "slow": slow_handle, "down_port": _dead_port()}))
        settings = load_settings({"PROXMOX_MCP_CONFIG": str(cfg)})
        try:
            yield World(settings, alpha, slow, handles, stops)
        finally:
            slow.faults.latency = 0
            for stop in stops:
                stop.set()


# --------------------------------------------------------------------------- the `cluster` parameter


def test_cluster_param_is_added_only_when_several_clusters_are_configured() -> None:
    schema = {"type": "object", "properties": {"node": {"type": "string"}}, "additionalProperties": False}
    assert add_cluster_param(schema, ["one"]) == schema
    several = add_cluster_param(schema, ["alpha", "down", "slow"])
    assert several["properties"]["cluster"]["enum"] == ["alpha", "down", "slow"]
    assert "cluster" not in several.get("required", [])
    assert "cluster" not in schema["properties"], "the input schema is not modified"


def test_pop_cluster_splits_the_cluster_off_and_refuses_an_unknown_one() -> None:
    names = ["alpha", "slow"]
    assert pop_cluster({"cluster": "slow", "vmid": 100}, names) == ("slow", {"vmid": 100})
    assert pop_cluster({"vmid": 100}, names) == (None, {"vmid": 100})
    assert pop_cluster({"cluster": "alpha"}, ["alpha"]) == (None, {"cluster": "alpha"})
    with pytest.raises(InvalidArgumentError) as err:
        pop_cluster({"cluster": "gamma"}, names)
    assert "gamma" in err.value.message and "alpha, slow" in (err.value.hint or "")


async def test_every_advertised_tool_takes_a_cluster_only_with_several_clusters(tmp_path: Path) -> None:
    async with three_clusters(tmp_path, slow_latency=0) as w:
        server = build_server(w.settings)
        several = server._mcp_tools
        single = build_server(Settings(clusters=[w.settings.clusters[0]]))._mcp_tools
        with anyio.fail_after(15):
            one = await server.call_tool("proxmox_inventory_overview", {"cluster": "alpha"})
            unknown = await server.call_tool("proxmox_inventory_overview", {"cluster": "gamma"})
        assert one.structured_content["cluster"] == "alpha" and "clusters" not in one.structured_content
        assert unknown.is_error and "unknown cluster 'gamma'" in unknown.content[0].text
    assert all("cluster" in t.input_schema["properties"] for t in several)
    assert not any("cluster" in t.input_schema.get("properties", {}) for t in single)


# --------------------------------------------------------------------------- selection


async def test_a_tool_acts_on_the_cluster_it_is_given(tmp_path: Path) -> None:
    async with three_clusters(tmp_path, slow_latency=0) as w:
        server = build_server(w.settings)
        from proxmox_operator_mcp.tools.inventory import NoInput, cluster_status

        with anyio.fail_after(20):
            for name, expected in (("alpha", "alpha"), ("slow", None)):
                ctx = ToolContext(settings=w.settings, gate=server.gate, tool_name="proxmox_cluster_status",
                                  cluster=name)
                out = await cluster_status(ctx, NoInput())
                assert out.cluster_name == expected  # `slow` is a standalone node
            ctx = ToolContext(settings=w.settings, gate=server.gate, tool_name="t", cluster="down")
            with pytest.raises(ProxmoxConnectionError):
                await cluster_status(ctx, NoInput())
        with pytest.raises(InvalidArgumentError):
            ToolContext(settings=w.settings, gate=server.gate, tool_name="t").for_cluster("gamma")


# --------------------------------------------------------------------------- fan-out


async def test_overview_without_a_cluster_covers_all_and_reports_the_dead_and_the_slow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clusters_mod, "FANOUT_TIMEOUT", 2.5)
    async with three_clusters(tmp_path, slow_latency=5.0) as w:
        server = build_server(w.settings)
        with anyio.fail_after(8):
            started = anyio.current_time()
            res = await server.call_tool("proxmox_inventory_overview", {})
            took = anyio.current_time() - started
        assert not res.is_error, res.content
        out = res.structured_content
        parts = {p["cluster"]: p for p in out["clusters"]}
        assert parts["alpha"]["ok"] and parts["alpha"]["vms_total"] == 6
        assert not parts["down"]["ok"] and "connect" in parts["down"]["error"].lower()
        assert not parts["slow"]["ok"] and "within 2.5 s" in parts["slow"]["error"]
        assert took < 4.0, "the slow cluster costs its own time limit, not its 5 s latency"
        assert out["cluster"] == "all" and out["vms_total"] == 6
        assert {n["node"] for n in out["nodes"]} == {"alpha/pve1", "alpha/pve2", "alpha/pve3"}


async def test_cluster_list_shows_reachability_versions_quorum_and_discovered_nodes(tmp_path: Path) -> None:
    async with three_clusters(tmp_path, slow_latency=0.2) as w:
        server = build_server(w.settings)
        with anyio.fail_after(15):
            res = await server.call_tool("proxmox_cluster_list", {})
        assert not res.is_error, res.content
        entries = {c["name"]: c for c in res.structured_content["clusters"]}
        alpha = entries["alpha"]
        assert alpha["reachable"] and alpha["quorate"] is True and alpha["pve_version"].startswith("9.")
        assert alpha["tags"] == ["prod", "eu"] and alpha["pve_cluster_name"] == "alpha"
        assert [n["name"] for n in alpha["nodes"]] == ["pve1", "pve2", "pve3"]
        assert all(n["ip"] and n["ssh"] == "none" for n in alpha["nodes"])
        assert len(alpha["endpoints"]) == 3
        assert not entries["down"]["reachable"] and entries["down"]["error"]
        assert entries["slow"]["reachable"] and entries["slow"]["quorate"] is True


def test_discovered_nodes_get_ssh_only_where_a_host_key_is_pinned_for_their_address(tmp_path: Path) -> None:
    import base64
    import hashlib
    import hmac

    from proxmox_operator_mcp.transports.ssh import SshTarget

    salt = b"0123456789abcdefghij"
    hashed = hmac.new(salt, b"10.0.0.3", hashlib.sha1).digest()
    known = tmp_path / "known_hosts"
    known.write_text(
        "pve2,10.0.0.2 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleExampleExampleExampleExample\n"
        f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(hashed).decode()} ssh-ed25519 AAAAC3Nza\n"
    )
    pve1 = SshTarget(node="pve1", host="pve1.mgmt", known_hosts_file=known, client_key_path=Path("/k"))
    nodes = [{"name": f"pve{i}", "ip": f"10.0.0.{i}"} for i in (1, 2, 3, 4)]
    out = clusters_mod.ssh_following_discovery({"pve1": pve1}, nodes)
    assert out["pve1"] is pve1, "a configured target keeps its configured address"
    assert out["pve2"].host == "10.0.0.2" and out["pve2"].known_hosts_file == known
    assert out["pve2"].client_key_path == Path("/k") and out["pve2"].host_keys == ()
    assert out["pve3"].host == "10.0.0.3", "hashed known_hosts entries count"
    assert "pve4" not in out, "no pinned key for its address: no target"
    assert clusters_mod.ssh_following_discovery({}, nodes) == {}, "discovery never creates trust by itself"


# --------------------------------------------------------------------------- failover (real sockets)


async def test_gets_move_to_the_next_endpoint_when_the_first_dies_mid_run(tmp_path: Path) -> None:
    async with three_clusters(tmp_path, slow_latency=0) as w:
        cluster = w.settings.cluster("alpha")
        clock = [0.0]
        async with RestClient(cluster, retry_base_delay=0, clock=lambda: clock[0], health_backoff=30) as rest:
            with anyio.fail_after(20):
                assert (await rest.get("/version"))["version"].startswith("9.")
                assert rest.endpoint.port == w.alpha_handles[0].port
                await w.kill_alpha_endpoint(0)
                assert len(await rest.get("/cluster/resources", {"type": "vm"})) == 9
                health = rest.endpoint_health()
                assert not health[0]["healthy"] and health[0]["failures"] == 1 and health[0]["retry_in"] == 30
                assert rest.endpoint.port == w.alpha_handles[1].port
                # the dead endpoint is skipped until its backoff ends, then tried (and fails) again
                await rest.get("/version")
                assert rest.endpoint_health()[0]["failures"] == 1
                clock[0] = 31
                await rest.get("/version")
                assert rest.endpoint_health()[0]["failures"] == 2
                assert rest.endpoint_health()[0]["retry_in"] == 60


async def test_a_write_moves_only_when_it_could_not_connect(tmp_path: Path) -> None:
    async with three_clusters(tmp_path, slow_latency=0) as w:
        cluster = w.settings.cluster("alpha")
        async with RestClient(cluster, retry_base_delay=0) as rest:
            with anyio.fail_after(20):
                await w.kill_alpha_endpoint(0)
                upid = await rest.request("POST", "/nodes/pve1/qemu/100/status/start")
                assert upid.startswith("UPID:pve1:")
                starts = [u for u in w.alpha.tasks.tasks if ":qmstart:100:root@pam!mcp:" in u]
                assert starts == [upid], "sent exactly once"
                assert not rest.endpoint_health()[0]["healthy"]


# --------------------------------------------------------------------------- failover (recorded transport)


def _cluster(n: int = 3) -> ClusterConfig:
    return ClusterConfig(
        name="c", endpoints=[{"host": f"pve{i}.lan", "port": 8006} for i in range(1, n + 1)],
        token_user="root", token_id="mcp", token_secret="s-e-c-r-e-t",
    )


class Recorder:
    """A transport that answers per endpoint: ``behaviour[host]`` is "ok", "refuse", "timeout",
    "drop" (connection lost after the request was sent) or an HTTP status."""

    def __init__(self, **behaviour: Any) -> None:
        self.behaviour = behaviour
        self.seen: list[tuple[str, str]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        host = request.url.host
        how = self.behaviour.get(host.split(".")[0], "ok")
        if how == "refuse":
            raise httpx2.ConnectError("Connection refused", request=request)
        self.seen.append((host, request.method))
        if how == "timeout":
            raise httpx2.ReadTimeout("timed out", request=request)
        if how == "drop":
            raise httpx2.RemoteProtocolError("Server disconnected", request=request)
        if isinstance(how, int):
            return httpx2.Response(how, json={"data": None})
        return httpx2.Response(200, json={"data": {"host": host}})


async def test_a_get_moves_on_connect_failure_timeout_and_595() -> None:
    for how in ("refuse", "timeout", 595, 596):
        rec = Recorder(pve1=how)
        async with RestClient(_cluster(), transport=httpx2.MockTransport(rec), retry_base_delay=0) as rest:
            with anyio.fail_after(5):
                assert (await rest.get("/version")) == {"host": "pve2.lan"}, how


async def test_a_sent_write_is_never_sent_again_elsewhere() -> None:
    for how, exc in (("timeout", ProxmoxTimeoutError), ("drop", ProxmoxConnectionError)):
        rec = Recorder(pve1=how)
        async with RestClient(_cluster(), transport=httpx2.MockTransport(rec), retry_base_delay=0) as rest:
            with anyio.fail_after(5), pytest.raises(exc):
                await rest.request("POST", "/nodes/pve1/qemu/100/status/start")
        assert rec.seen == [("pve1.lan", "POST")], how


async def test_a_write_that_could_not_connect_goes_to_the_next_endpoint_once() -> None:
    rec = Recorder(pve1="refuse")
    async with RestClient(_cluster(), transport=httpx2.MockTransport(rec), retry_base_delay=0) as rest:
        with anyio.fail_after(5):
            await rest.request("POST", "/nodes/pve1/qemu/100/status/start")
    assert rec.seen == [("pve2.lan", "POST")]


async def test_a_write_answered_595_is_not_sent_to_another_endpoint() -> None:
    rec = Recorder(pve1=595)
    async with RestClient(_cluster(), transport=httpx2.MockTransport(rec), retry_base_delay=0) as rest:
        with anyio.fail_after(5), pytest.raises(ProxmoxNodeUnreachable):
            await rest.request("POST", "/nodes/pve1/qemu/100/status/start")
    assert rec.seen == [("pve1.lan", "POST")]


async def test_when_every_endpoint_fails_the_error_names_the_last_one_tried() -> None:
    rec = Recorder(pve1="refuse", pve2="refuse", pve3="refuse")
    async with RestClient(_cluster(), transport=httpx2.MockTransport(rec), retries=1, retry_base_delay=0) as rest:
        with anyio.fail_after(5), pytest.raises(ProxmoxConnectionError):
            await rest.get("/version")
    assert all(not h["healthy"] for h in rest.endpoint_health())


async def test_a_single_endpoint_cluster_keeps_no_health_state() -> None:
    rec = Recorder(pve1="refuse")
    async with RestClient(_cluster(1), transport=httpx2.MockTransport(rec), retries=0) as rest:
        with anyio.fail_after(5), pytest.raises(ProxmoxConnectionError):
            await rest.get("/version")
    assert rest.endpoint_health() == [
        {"endpoint": "pve1.lan:8006", "healthy": True, "failures": 0, "retry_in": None, "last_error": None}
    ]
