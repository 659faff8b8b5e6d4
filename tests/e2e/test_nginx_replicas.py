"""Scale-out: two stateless replicas behind nginx (Debian package) round-robin on loopback. One
client's calls alternate between them and all succeed, including looking up a task started
through the other replica."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from proxmox_operator_mcp.server.metrics import ServerMetrics
from proxmox_operator_mcp.sim import SimOptions, run_sim

from ..server.helpers import settings
from ..server.oidc import bearer, serving

pytestmark = pytest.mark.anyio

NGINX_CONF = """
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log stderr notice;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream mcp_replicas {{
        server 127.0.0.1:{a};
        server 127.0.0.1:{b};
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://mcp_replicas;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_buffering off;
            proxy_read_timeout 300s;
        }}
    }}
}}
"""


def _nginx() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").is_file() else None)
    if found is None:
        pytest.fail("nginx is not installed: run scripts/setup.sh --test (apt-get install nginx-light)", pytrace=False)
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_stateless_replicas_behind_nginx_serve_one_client_alternately(tmp_path: Path) -> None:
    nginx = _nginx()
    env = {"PROXMOX_MCP_HTTP_STATELESS": "1", "PROXMOX_MCP_TRUSTED_PROXIES": "127.0.0.1"}
    metrics_a, metrics_b = ServerMetrics(), ServerMetrics()
    async with run_sim(SimOptions(nodes=2, vms_per_node=2, task_seconds=0.05)) as sim:
        pve = settings("operator", **sim.env())
        async with serving(env, pve, metrics=metrics_a) as a, serving(env, pve, metrics=metrics_b) as b:
            port = _free_port()
            conf = tmp_path / "nginx.conf"
            conf.write_text(
                NGINX_CONF.format(tmp=tmp_path, a=a.http.http_port, b=b.http.http_port, port=port), encoding="utf-8"
            )
            argv = [nginx, "-p", str(tmp_path), "-c", str(conf), "-e", "stderr"]
            async with await anyio.open_process(argv, stdin=subprocess.DEVNULL) as proc:
                assert proc.stderr is not None
                log = BufferedByteReceiveStream(proc.stderr)
                try:
                    with anyio.fail_after(20):
                        while b"start worker process" not in await log.receive_until(b"\n", 65536):
                            pass
                    url = f"http://127.0.0.1:{port}/mcp"
                    with anyio.fail_after(60):
                        async with bearer(None) as http_client:
                            async with Client(streamable_http_client(url, http_client=http_client)) as client:
                                vms = await client.call_tool(
                                    "proxmox_vm_list", {"status": "stopped", "template": False}
                                )
                                vmid = vms.structured_content["items"][0]["vmid"]  # type: ignore[index]
                                started = await client.call_tool("proxmox_vm_action", {"vmid": vmid, "action": "start"})
                                assert not started.is_error, started.content
                                upid = started.structured_content["task"]["upid"]  # type: ignore[index]
                                looked_up = [
                                    await client.call_tool("proxmox_task_get", {"upid": upid}) for _ in range(4)
                                ]
                finally:
                    proc.terminate()
                    with anyio.fail_after(20):
                        await proc.wait()
    assert all(not r.is_error for r in looked_up), [r.content for r in looked_up if r.is_error]
    served_a = metrics_a.http_requests.value(endpoint="mcp", status="200")
    served_b = metrics_b.http_requests.value(endpoint="mcp", status="200")
    assert served_a >= 3 and served_b >= 3, (served_a, served_b)
