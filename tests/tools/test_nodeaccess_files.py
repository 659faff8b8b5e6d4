"""proxmox_file_read / proxmox_file_write through the MCP client, over SFTP to the simulated nodes."""

from __future__ import annotations

import base64
import hashlib
import os

import anyio
import pytest

from .nodeaccess_harness import node_harness

pytestmark = pytest.mark.anyio


async def test_reading_a_pve_config_file_returns_its_text_mode_and_sha256() -> None:
    async with node_harness("read-only") as h:
        with anyio.fail_after(20):
            out = await h.call("proxmox_file_read", {"path": "/etc/pve/local/qemu-server/101.conf"})
    text = h.cluster.state.guests[101].render()
    assert out["path"] == "/etc/pve/nodes/pve1/qemu-server/101.conf"  # the link resolved on the node
    assert (out["encoding"], out["content"], out["size"]) == ("utf-8", text, len(text))
    assert out["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert (out["mode"], out["gid"]) == ("0640", 33)


async def test_a_binary_file_round_trips_byte_for_byte() -> None:
    blob = bytes(range(256)) * 40 + os.urandom(1000) + "ünï\u202e".encode()
    async with node_harness("admin") as h:
        with anyio.fail_after(20):
            written = await h.call(
                "proxmox_file_write",
                {"path": "/var/lib/vz/snippets/blob.bin", "content": base64.b64encode(blob).decode(), "encoding": "base64"},
            )
            read = await h.call("proxmox_file_read", {"path": "/var/lib/vz/snippets/blob.bin", "max_bytes": 1 << 20})
    assert written == {**written, "created": True, "size": len(blob), "mode": "0644"}
    assert read["encoding"] == "base64" and base64.b64decode(read["content"]) == blob
    assert read["sha256"] == written["sha256"] == hashlib.sha256(blob).hexdigest()


async def test_text_with_control_characters_comes_back_as_base64_not_altered() -> None:
    async with node_harness("admin") as h:
        h.cluster.fs.write("pve1", "/var/log/ansi.log", b"\x1b[31mred\x1b[0m\n")
        with anyio.fail_after(20):
            out = await h.call("proxmox_file_read", {"path": "/var/log/ansi.log"})
    assert out["encoding"] == "base64" and base64.b64decode(out["content"]) == b"\x1b[31mred\x1b[0m\n"


async def test_a_large_file_is_cut_at_max_bytes_and_says_so() -> None:
    async with node_harness("read-only") as h:
        h.cluster.fs.write("pve1", "/var/log/big.log", b"x" * 100_000)
        with anyio.fail_after(20):
            out = await h.call("proxmox_file_read", {"path": "/var/log/big.log", "max_bytes": 1000})
    assert (out["truncated"], out["size"], len(out["content"]), out.get("sha256")) == (True, 100_000, 1000, None)


async def test_a_write_replaces_atomically_keeping_mode_with_an_optional_backup() -> None:
    path = "/etc/network/interfaces"
    async with node_harness("admin") as h:
        fs = h.cluster.fs
        fs.setstat("pve1", path, mode=0o600)
        old = fs.read("pve1", path)
        with anyio.fail_after(20):
            before = await h.call("proxmox_file_read", {"path": path})
            out = await h.call(
                "proxmox_file_write",
                {"path": path, "content": before["content"] + "# managed\n", "backup": True,
                 "expect_sha256": before["sha256"]},
            )  # fmt: skip
        entries = dict(fs.walk("pve1"))
    assert out["created"] is False and out["mode"] == "0600"
    assert fs.read("pve1", path) == old + b"# managed\n" and fs.entry("pve1", path).mode == 0o600
    assert out["backup_path"].startswith(path + ".pmcp-backup-") and fs.read("pve1", out["backup_path"]) == old
    assert not [p for p in entries if ".pmcp-" in p and p.endswith(".tmp")]  # no temp file left behind


async def test_a_write_based_on_a_stale_read_is_refused_and_changes_nothing() -> None:
    path = "/etc/pve/datacenter.cfg"
    async with node_harness("admin") as h:
        with anyio.fail_after(20):
            before = await h.call("proxmox_file_read", {"path": path})
            h.cluster.fs.write("pve1", path, b"keyboard: fr\n")  # someone else edits it meanwhile
            text = await h.fail("proxmox_file_write",
                                {"path": path, "content": "keyboard: de\n", "expect_sha256": before["sha256"]})  # fmt: skip
    assert "changed since it was read" in text
    assert h.cluster.fs.read("pve1", path) == b"keyboard: fr\n"


async def test_a_file_written_to_snippets_shows_up_in_the_storage_content_over_rest() -> None:
    async with node_harness("admin") as h:
        with anyio.fail_after(20):
            await h.call("proxmox_file_write", {"path": "/var/lib/vz/snippets/web.yaml", "content": "#cloud-config\n"})
            listed = await h.call(
                "proxmox_api_call",
                {"method": "GET", "path": "/nodes/pve1/storage/local/content", "params": {"content": "snippets"}},
            )
    assert {"local:snippets/web.yaml", "local:snippets/user-data.yaml"} <= {v["volid"] for v in listed["data"]}


async def test_pmxcfs_files_are_written_without_chmod_and_guest_configs_are_refused() -> None:
    async with node_harness("admin") as h:
        with anyio.fail_after(20):
            out = await h.call("proxmox_file_write", {"path": "/etc/pve/firewall/cluster.fw", "content": "[OPTIONS]\nenable: 1\n"})
            conf = await h.fail("proxmox_file_write", {"path": "/etc/pve/qemu-server/101.conf", "content": "memory: 1\n"})
    assert out["mode"] == "0640" and h.cluster.fs.read("pve1", "/etc/pve/firewall/cluster.fw").endswith(b"enable: 1\n")
    assert "nothing was replaced" in conf
    assert h.cluster.state.guests[101].config["memory"] != "1"


@pytest.mark.parametrize(
    ("tool", "path", "why"),
    [
        ("proxmox_file_read", "/etc/pve/priv/authkey.key", "denied prefix"),
        ("proxmox_file_read", "/etc/pve/nodes/pve1/pve-ssl.key", "file names like"),
        ("proxmox_file_read", "/etc/passwd", "outside the prefixes"),
        ("proxmox_file_read", "/var/lib/vz/../../etc/shadow", "path traversal"),
        ("proxmox_file_read", "relative/path", "not an absolute path"),
        ("proxmox_file_write", "/var/log/syslog", "outside the prefixes that may be written"),
        ("proxmox_file_write", "/root/.ssh/authorized_keys", "denied prefix"),
    ],
)
async def test_paths_outside_the_policy_are_refused_before_connecting(tool: str, path: str, why: str) -> None:
    async with node_harness("admin") as h:
        with anyio.fail_after(20):
            args = {"path": path} if tool == "proxmox_file_read" else {"path": path, "content": "x"}
            text = await h.fail(tool, args)
    assert why in text
    assert h.ssh.connections == {}


async def test_a_link_that_leads_out_of_the_allowed_tree_is_refused_after_resolving_it() -> None:
    async with node_harness("admin") as h:
        h.cluster.fs.symlink("pve1", "/var/lib/vz/snippets/escape", "/etc/pve/priv/authkey.key")
        with anyio.fail_after(20):
            read = await h.fail("proxmox_file_read", {"path": "/var/lib/vz/snippets/escape"})
            write = await h.fail("proxmox_file_write", {"path": "/var/lib/vz/snippets/escape", "content": "x"})
    assert "/etc/pve/priv/authkey.key may not be read" in read
    assert "/etc/pve/priv/authkey.key may not be written" in write
    assert b"simulated" in h.cluster.fs.read("pve1", "/etc/pve/priv/authkey.key")


async def test_file_writes_need_admin_mode() -> None:
    async with node_harness("operator") as h:
        with anyio.fail_after(20):
            text = await h.fail("proxmox_file_write", {"path": "/var/lib/vz/snippets/a.yaml", "content": "x"})
    assert "not enabled on this server" in text
