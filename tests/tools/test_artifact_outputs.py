"""Large outputs as artifacts: a whole task log (job_logs whole=true), a large file read, and the
console ticket that reaches the client only as a short-lived, unredacted artifact of its caller;
through the official MCP client against the simulated cluster."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import anyio
import pytest

from proxmox_operator_mcp import tools as tools_pkg
from proxmox_operator_mcp.artifacts import (
    ArtifactStore,
    default_store,
    owner_of,
    publish_artifact,
)
from proxmox_operator_mcp.errors import NotFoundError
from proxmox_operator_mcp.sim import SimOptions
from proxmox_operator_mcp.sim.handlers import datacenter
from proxmox_operator_mcp.tools.common import encode_job
from proxmox_operator_mcp.tools.jobs import WHOLE_LOG_LINES
from proxmox_operator_mcp.tools.operations import CONSOLE_TICKET_TTL

from .conftest import Harness, harness
from .nodeaccess_harness import node_harness

pytestmark = pytest.mark.anyio

LOCAL = {"sub": "local", "client_id": "local", "auth": "local"}


class _Ctx:
    def __init__(self, principal: dict[str, Any]) -> None:
        self.principal = principal


@pytest.fixture
async def a(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    """Admin mode with every toolset enabled."""
    for name in tools_pkg.TOOLSETS:
        monkeypatch.setitem(tools_pkg.TOOLSETS, name, True)
    async with harness("admin", options=SimOptions(nodes=2, vms_per_node=3, cts_per_node=1, task_seconds=0.05)) as hh:
        yield hh


async def _text(h: Any, uri: str) -> str:
    return (await h.client.read_resource(uri)).contents[0].text  # type: ignore[no-any-return]


async def _finished_task(h: Harness, lines: list[str]) -> tuple[str, list[str]]:
    """A job whose task wrote ``lines``, once it has finished; and its whole log as PVE shows it."""
    task = h.cluster.start_task("pve1", "aptupdate", None, "root@pam", lines=lines)
    job = encode_job("default", task.upid)
    out = await h.call("job_wait", {"job": job, "timeout": 10})
    assert out["status"] == "stopped", out
    return job, list(task.visible_log(h.cluster.clock.monotonic()))


# --- job_logs whole=true ----------------------------------------------------------------------------


async def test_job_logs_whole_shows_the_tail_and_publishes_the_whole_log(a: Harness) -> None:
    with anyio.fail_after(20):
        job, log = await _finished_task(a, [f"step {i}: copying block {i * 7}" for i in range(3000)])
        assert len(log) > 3000 and log[-1] == "TASK OK"
        out = await a.call("job_logs", {"job": job, "whole": True, "limit": 50})
        uri = out["artifact"]
        assert uri.startswith("proxmox://artifacts/")
        assert out["lines"][0] == f"…[truncated {len(log) - 50} lines; full log: {uri}]…"
        assert out["lines"][1:] == log[-50:]
        assert (out["next_start"], out["running"]) == (len(log), False)
        assert await _text(a, uri) == "\n".join(log) + "\n"
        # paging is as before: from start, limit lines, no artifact
        paged = await a.call("job_logs", {"job": job, "start": 10, "limit": 5})
        assert paged["lines"] == log[10:15] and paged["next_start"] == 15 and "artifact" not in paged
    # one request for the whole log, bounded
    assert any(p.endswith("/log") for m, p in a.requests if m == "GET")
    assert WHOLE_LOG_LINES == 50_000


async def test_job_logs_whole_of_a_short_log_has_every_line_and_no_artifact(a: Harness) -> None:
    with anyio.fail_after(20):
        job, log = await _finished_task(a, ["one", "two"])
        out = await a.call("job_logs", {"job": job, "whole": True})
    assert out["lines"] == log and out["next_start"] == len(log) and "artifact" not in out


async def test_job_logs_whole_of_an_unknown_job_fails_and_publishes_nothing(a: Harness) -> None:
    before = len(default_store().list(owner_of(LOCAL)))
    with anyio.fail_after(20):
        text = await a.fail(
            "job_logs",
            {"job": encode_job("default", "UPID:pve1:0000DEAD:00000001:00000001:aptupdate::root@pam:"), "whole": True},
        )
        assert "no such task" in text, text
        assert "job id" in await a.fail("job_logs", {"job": "bm90LWEtam9iLWlk", "whole": True})
    assert len(default_store().list(owner_of(LOCAL))) == before


# --- proxmox_file_read ------------------------------------------------------------------------------


async def test_a_large_text_read_is_cut_inline_and_published_whole_and_redacted() -> None:
    body = "".join(f"line {i:06d} of the big log\n" for i in range(8000)) + "db password=hunter2hunter2 end\n"
    data = body.encode()
    async with node_harness("read-only") as h:
        h.cluster.fs.write("pve1", "/var/log/big.log", data)
        with anyio.fail_after(20):
            out = await h.call("proxmox_file_read", {"path": "/var/log/big.log"})
            uri = out["artifact"]
            whole = await _text(h, uri)
    assert out["encoding"] == "utf-8" and out["truncated"] is False and out["size"] == len(data)
    assert out["sha256"] == hashlib.sha256(data).hexdigest()  # of the whole file, as before
    head, marker = out["content"].rsplit("\n", 1)
    assert head == body[: 64 * 1024]
    assert marker == f"…[truncated {len(data) - 64 * 1024} of {len(data)} bytes; all read: {uri}]…"
    assert whole == body.replace("hunter2hunter2", "***")  # text artifacts pass through redaction
    assert "hunter2hunter2" not in whole


async def test_a_large_binary_read_is_published_byte_for_byte() -> None:
    blob = os.urandom(200_000)
    async with node_harness("read-only") as h:
        h.cluster.fs.write("pve1", "/var/lib/vz/snippets/disk.bin", blob)
        with anyio.fail_after(20):
            out = await h.call("proxmox_file_read", {"path": "/var/lib/vz/snippets/disk.bin", "max_bytes": 150_000})
            res = await h.client.read_resource(out["artifact"])
    assert out["encoding"] == "base64" and out["truncated"] is True and out.get("sha256") is None
    shown, marker = out["content"].rsplit("\n", 1)
    assert base64.b64decode(shown, validate=True) == blob[: 48 * 1024]
    assert marker.startswith(f"…[truncated {150_000 - 48 * 1024} of 150000 bytes; all read: proxmox://artifacts/")
    content = res.contents[0]
    assert base64.b64decode(content.blob) == blob[:150_000]  # type: ignore[union-attr]  # what was read


async def test_a_small_read_has_no_artifact() -> None:
    async with node_harness("read-only") as h:
        h.cluster.fs.write("pve1", "/var/log/small.log", b"x" * (64 * 1024))
        with anyio.fail_after(20):
            out = await h.call("proxmox_file_read", {"path": "/var/log/small.log"})
    assert out["content"] == "x" * (64 * 1024) and "artifact" not in out


# --- proxmox_console_ticket -------------------------------------------------------------------------


@pytest.fixture
def issued(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The console tickets the simulator hands out."""
    seen: list[dict[str, Any]] = []
    real = datacenter._ticket

    def recording(*args: Any, **kwargs: Any) -> dict[str, Any]:
        out = real(*args, **kwargs)
        out["ticket"] = out["ticket"].replace("PVEVNC:", "PVEVNC:a+b/c=")  # characters to URL-encode
        seen.append(dict(out))
        return out

    monkeypatch.setattr(datacenter, "_ticket", recording)
    return seen


async def test_the_console_ticket_is_only_in_a_short_lived_artifact_of_the_caller(
    a: Harness, issued: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    vm = (await a.call("proxmox_vm_list", {"limit": 1, "template": False, "status": "running"}))["items"][0]
    offset = [0.0]
    monkeypatch.setattr(default_store(), "_clock", lambda: time.monotonic() + offset[0])
    with anyio.fail_after(20):
        res = await a.client.call_tool("proxmox_console_ticket", {"vmid": vm["vmid"]})
        assert not res.is_error, res.content
        (got,) = issued
        out = res.structured_content or {}
        shown = json.dumps(out) + "".join(getattr(c, "text", "") for c in res.content)
        assert got["ticket"] not in shown and quote(got["ticket"], safe="") not in shown
        assert "ticket" not in out and "vncticket=" not in out["websocket_path"]
        ws = f"/api2/json/nodes/{vm['node']}/qemu/{vm['vmid']}/vncwebsocket?port={got['port']}"
        assert out == {**out, "node": vm["node"], "port": got["port"], "user": got["user"], "upid": got["upid"],
                       "websocket_path": ws}
        secret = json.loads(await _text(a, out["artifact"]))
        assert secret == {"port": got["port"], "ticket": got["ticket"], "user": got["user"], "cert": got["cert"],
                          "websocket_path": ws + "&vncticket=" + quote(got["ticket"], safe="")}
        assert "%2B" in secret["websocket_path"] and "%2F" in secret["websocket_path"]
        offset[0] = CONSOLE_TICKET_TTL - 1
        assert json.loads(await _text(a, out["artifact"]))["ticket"] == got["ticket"]
        offset[0] = CONSOLE_TICKET_TTL + 1
        with pytest.raises(Exception, match="does not exist or has expired"):
            await a.client.read_resource(out["artifact"])
    assert CONSOLE_TICKET_TTL == 60


async def test_console_tickets_for_a_container_and_the_node_shell_name_their_websocket(
    a: Harness, issued: list[dict[str, Any]]
) -> None:
    ct = (await a.call("proxmox_lxc_list", {"limit": 1, "status": "running"}))["items"][0]
    with anyio.fail_after(20):
        lxc = await a.call("proxmox_console_ticket", {"vmid": ct["vmid"], "kind": "lxc"})
        shell = await a.call("proxmox_console_ticket", {"node": "pve2"})
        lxc_secret = json.loads(await _text(a, lxc["artifact"]))
        shell_secret = json.loads(await _text(a, shell["artifact"]))
    assert lxc["websocket_path"] == f"/api2/json/nodes/{ct['node']}/lxc/{ct['vmid']}/vncwebsocket?port={issued[0]['port']}"
    assert shell["websocket_path"] == f"/api2/json/nodes/pve2/vncwebsocket?port={issued[1]['port']}"
    assert (lxc_secret["ticket"], shell_secret["ticket"]) == (issued[0]["ticket"], issued[1]["ticket"])
    assert ("POST", "/api2/json/nodes/pve2/termproxy") in a.requests


async def test_a_console_ticket_for_a_stopped_guest_is_refused_and_publishes_nothing(a: Harness) -> None:
    vm = (await a.call("proxmox_vm_list", {"limit": 1, "template": False, "status": "stopped"}))["items"][0]
    before = len(default_store().list(owner_of(LOCAL)))
    with anyio.fail_after(20):
        assert "not running" in await a.fail("proxmox_console_ticket", {"vmid": vm["vmid"]})
    assert len(default_store().list(owner_of(LOCAL))) == before


# --- the store: per-artifact TTL, no redaction on request, per principal ---------------------------


def test_an_artifact_can_have_a_shorter_ttl_of_its_own() -> None:
    now = [0.0]
    store = ArtifactStore(ttl=3600, clock=lambda: now[0])
    short = store.put("t", "application/json", "o", ttl=60)
    long = store.put("l", "text/plain", "o")
    now[0] = 59.9
    assert store.get(short.id, "o").data == b"t"
    now[0] = 60.0
    with pytest.raises(NotFoundError):
        store.get(short.id, "o")
    assert store.get(long.id, "o").data == b"l"


def test_an_unredacted_artifact_keeps_the_credential_and_is_not_found_for_another_principal() -> None:
    store = ArtifactStore()
    doc = json.dumps({"ticket": "PVE:root@pam:4EEC61E2::abcdefABCDEF0123456789abcdefABCDEF"})
    alice = _Ctx({"sub": "alice", "client_id": "web"})
    kept = publish_artifact(alice, doc, "application/json", store=store, redact=False, ttl=60)  # type: ignore[arg-type]
    masked = publish_artifact(alice, doc, "application/json", store=store)  # type: ignore[arg-type]
    me = owner_of(alice.principal)
    assert store.get(kept.rsplit("/", 1)[1], me).data.decode() == doc
    assert "abcdefABCDEF0123456789" not in store.get(masked.rsplit("/", 1)[1], me).data.decode()
    with pytest.raises(NotFoundError):
        store.get(kept.rsplit("/", 1)[1], owner_of({"sub": "bob", "client_id": "web"}))
