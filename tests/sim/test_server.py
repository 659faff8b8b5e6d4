"""The simulator over real HTTPS: TLS with the generated CA, the status line, threads, the CLI."""

from __future__ import annotations

import hashlib
import os
import signal
import ssl
import subprocess
import sys

import anyio
import httpx2
import pytest

from proxmox_operator_mcp.config import load_settings
from proxmox_operator_mcp.sim import SimOptions, SimThread, run_sim

from .conftest import wait_task

pytestmark = pytest.mark.anyio


def _verify(ca_file: object) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))


async def test_run_sim_serves_https_that_the_generated_ca_verifies() -> None:
    async with run_sim(SimOptions(nodes=2, task_seconds=0.02)) as sim:
        assert sim.url == f"https://127.0.0.1:{sim.port}/api2/json"
        headers = {"Authorization": sim.auth_header}
        async with httpx2.AsyncClient(base_url=sim.url, verify=_verify(sim.ca_file), headers=headers) as c:
            r = await c.get("/nodes")
            assert r.status_code == 200 and [n["node"] for n in r.json()["data"]] == ["pve1", "pve2"]
            upid = (await c.post("/nodes/pve2/qemu/106/status/stop")).json()["data"]
            assert (await wait_task(c, upid))["status"] == "stopped"


async def test_an_error_message_rides_in_the_reason_phrase_of_the_status_line() -> None:
    async with run_sim(SimOptions(task_seconds=0.02)) as sim:
        async with httpx2.AsyncClient(base_url=sim.url, verify=_verify(sim.ca_file)) as c:
            anon = await c.get("/version")
            r = await c.delete("/nodes/pve1/qemu/100", headers={"Authorization": sim.auth_header})
    assert (anon.status_code, anon.reason_phrase, anon.content) == (401, "No ticket", b"")
    assert r.status_code == 500
    assert r.reason_phrase == "VM 100 is running - destroy failed"
    assert r.json()["message"] == "VM 100 is running - destroy failed\n"
    assert r.headers["connection"] == "close"  # pveproxy closes the connection after an error


async def test_a_client_without_the_ca_refuses_the_certificate() -> None:
    async with run_sim() as sim, httpx2.AsyncClient(base_url=sim.url, verify=ssl.create_default_context()) as c:
        with pytest.raises(httpx2.ConnectError):
            await c.get("/version")


async def test_the_fingerprint_is_the_served_leaf_and_nodes_report_it() -> None:
    async with run_sim() as sim:
        pem = await anyio.to_thread.run_sync(ssl.get_server_certificate, (sim.host, sim.port))
        assert hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest() == sim.fingerprint
        async with httpx2.AsyncClient(
            base_url=sim.url, verify=_verify(sim.ca_file), headers={"Authorization": sim.auth_header}
        ) as c:
            nodes = (await c.get("/nodes")).json()["data"]
        assert nodes[0]["ssl_fingerprint"].replace(":", "").lower() == sim.fingerprint


async def test_env_is_a_valid_project_configuration() -> None:
    async with run_sim() as sim:
        settings = load_settings(sim.env())
        cfg = settings.cluster()
        assert (cfg.endpoints[0].host, cfg.endpoints[0].port) == ("127.0.0.1", sim.port)
        assert cfg.token_full_id == "root@pam!mcp" and cfg.token_secret.get_secret_value() == sim.token_secret
        assert cfg.tls_ca_file == sim.ca_file and cfg.tls_fingerprint == sim.fingerprint
        assert cfg.default_node == "pve1"
    assert not sim.ca_file.exists()  # the TLS files go away with the server


def test_sim_thread_serves_synchronous_callers() -> None:
    with SimThread(SimOptions(nodes=1)) as sim:
        verify = _verify(sim.ca_file)
        with httpx2.Client(base_url=sim.url, verify=verify, headers={"Authorization": sim.auth_header}) as c:
            assert c.get("/version").json()["data"]["release"] == "9.2"
            sim.cluster.faults.fail_paths.append("^/version$")
            assert c.get("/version").status_code == 500
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(f"{sim.url}/version", verify=verify)


async def test_only_loopback_addresses_are_served() -> None:
    with pytest.raises(ValueError, match="loopback"):
        async with run_sim(SimOptions(host="0.0.0.0")):
            pass


def test_the_sim_command_prints_credentials_and_stops_on_sigterm() -> None:
    code = "import sys; from proxmox_operator_mcp.sim import cli_main; sys.exit(cli_main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--port", "0", "--nodes", "2", "--task-seconds", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        out = []
        assert proc.stdout is not None
        for line in proc.stdout:
            out.append(line)
            if line.startswith("Serving until"):
                break
        text = "".join(out)
        assert "export PROXMOX_API_TOKEN_SECRET=" in text and "root@pam!mcp" in text
        assert "password:" in text and "fingerprint:" in text and "pve-root-ca.pem" in text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
