"""The secrets layer wired into the server: the REST client, the MCP server and the SSH targets
take their credentials from real secret files and a real OpenBao, lazily, and pick up rotations
without a restart."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import asyncssh
import httpx2
import pytest
from mcp import Client
from pydantic import SecretStr

from proxmox_operator_mcp.config import Settings, load_settings
from proxmox_operator_mcp.errors import ProxmoxAuthError, SecretError
from proxmox_operator_mcp.secrets import SecretRef, SecretResolver, build_backend
from proxmox_operator_mcp.server.app import build_server
from proxmox_operator_mcp.sim import SimCluster, SimOptions, create_app
from proxmox_operator_mcp.transports.rest import TICKET_LIFETIME, RestClient

from .openbao import ROOT_TOKEN, OpenBao

pytestmark = pytest.mark.anyio

TOKEN = "PROXMOX_API_TOKEN_SECRET"
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def uid() -> str:
    return uuid.uuid4().hex[:8]


def encrypted_pem(key: asyncssh.SSHKey, passphrase: str) -> str:
    """The key in encrypted OpenSSH form (4 bcrypt rounds: each decryption costs 50 ms, not 3 s)."""
    return key.export_private_key("openssh", passphrase=passphrase, rounds=4, ignore_few_rounds=True).decode()


def dead_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def put(bao: OpenBao, path: str, data: dict[str, str]) -> None:
    mount, sub = path.split("/", 1)
    bao.client().secrets.kv.v2.create_or_update_secret(path=sub, secret=data, mount_point=mount)


def vault_env(addr: str, path: str | None = None, **extra: str) -> dict[str, str]:
    env = {"PROXMOX_MCP_SECRET_BACKEND": "vault", "PROXMOX_MCP_SECRET_VAULT_ADDR": addr, "VAULT_TOKEN": ROOT_TOKEN}
    if path:
        env["PROXMOX_MCP_SECRET_VAULT_PATH"] = path
    env.update(extra)
    return env


def write_secrets(path: Path, text: str) -> None:
    """Replace the secrets file the way an operator's tooling does: a new file, renamed over."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(text)
    tmp.chmod(0o600)
    os.replace(tmp, path)


IDENTITY = {
    "PROXMOX_HOST": "127.0.0.1",
    "PROXMOX_API_TOKEN_USER": "root",
    "PROXMOX_API_TOKEN_REALM": "pam",
    "PROXMOX_API_TOKEN_ID": "mcp",
    "PROXMOX_DEFAULT_NODE": "pve1",
}


def new_sim() -> SimCluster:
    return SimCluster(SimOptions(nodes=1, vms_per_node=2, cts_per_node=0, task_seconds=0.05))


def rotate_token(sim: SimCluster) -> str:
    new = str(uuid.uuid4())
    sim.access.users["root@pam"].tokens["mcp"].secret = new
    return new


@dataclass
class Recorder:
    """The simulator as an ASGI app, recording (method, path, status) of every request."""

    sim: SimCluster
    seen: list[tuple[str, str, int]] = field(default_factory=list)

    def transport(self) -> httpx2.ASGITransport:
        app = create_app(self.sim)

        async def recording(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return

            async def send_status(message: Any) -> None:
                if message["type"] == "http.response.start":
                    self.seen.append((scope["method"], scope["path"], message["status"]))
                await send(message)

            await app(scope, receive, send_status)

        return httpx2.ASGITransport(app=recording)

    def statuses(self) -> list[int]:
        return [s for _, _, s in self.seen]


@asynccontextmanager
async def mcp(
    settings: Settings, recorder: Recorder, resolver: SecretResolver | None = None
) -> AsyncIterator[Client]:
    server = build_server(settings, rest_transport=recorder.transport(), resolver=resolver)
    async with Client(server) as client:
        yield client


async def ok(client: Client, name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    res = await client.call_tool(name, args or {})
    assert not res.is_error, res.content[0].text  # type: ignore[union-attr]
    return res.structured_content or {}


async def fail(client: Client, name: str, args: dict[str, Any] | None = None) -> str:
    res = await client.call_tool(name, args or {})
    assert res.is_error, res.structured_content
    return res.content[0].text  # type: ignore[union-attr]


# --- file backend ---------------------------------------------------------------------------


async def test_a_token_rotated_in_the_secrets_file_is_used_without_a_restart(tmp_path: Path) -> None:
    sim = new_sim()
    secrets = tmp_path / "secrets.toml"
    write_secrets(secrets, f'{TOKEN} = "{sim.token_secret}"\n')
    env = {**IDENTITY, "PROXMOX_MCP_SECRET_BACKEND": "file", "PROXMOX_MCP_SECRET_FILE_PATH": str(secrets)}
    rec = Recorder(sim)
    with anyio.fail_after(30):
        async with mcp(load_settings(env), rec) as client:
            await ok(client, "proxmox_node_list")
            new = rotate_token(sim)
            write_secrets(secrets, f'# rotated\n{TOKEN} = "{new}"\n')
            await ok(client, "proxmox_node_list")
    assert 401 not in rec.statuses()


async def test_a_token_the_file_still_has_wrong_is_a_401_naming_the_file_reference(tmp_path: Path) -> None:
    sim = new_sim()
    secrets = tmp_path / "secrets.json"
    write_secrets(secrets, f'{{"clusters": {{"home": {{"{TOKEN}": "stale-{uid()}"}}}}}}')
    config = tmp_path / "c.toml"
    config.write_text(
        '[[clusters]]\nname = "home"\nendpoints = ["127.0.0.1"]\ntoken_user = "root"\ntoken_id = "mcp"\n'
    )
    env = {"PROXMOX_MCP_CONFIG": str(config), "PROXMOX_MCP_SECRET_BACKEND": "file",
           "PROXMOX_MCP_SECRET_FILE_PATH": str(secrets)}
    rec = Recorder(sim)
    with anyio.fail_after(30):
        async with mcp(load_settings(env), rec) as client:
            text = await fail(client, "proxmox_node_list")
    assert "401" in text and f"file:home#{TOKEN}" in text and "read again after this 401" in text
    assert rec.statuses() == [401]  # read again, unchanged: not sent again
    assert "stale-" not in text


# --- Vault: rotation and the 401 path -------------------------------------------------------


async def test_a_token_rotated_in_vault_is_read_again_on_the_401_and_the_call_succeeds(bao: OpenBao) -> None:
    sim = new_sim()
    path = f"secret/pve-{uid()}"
    put(bao, path, {TOKEN: sim.token_secret})
    rec = Recorder(sim)
    with anyio.fail_after(30):
        async with mcp(load_settings({**IDENTITY, **vault_env(bao.addr, path)}), rec) as client:
            await ok(client, "proxmox_node_list")
            put(bao, path, {TOKEN: rotate_token(sim)})  # the cached value (TTL 300 s) is now stale
            await ok(client, "proxmox_node_list")
            await ok(client, "proxmox_node_list")
    assert rec.statuses() == [200, 401, 200, 200]


async def test_concurrent_401s_after_a_rotation_read_vault_once(bao: OpenBao) -> None:
    sim = new_sim()
    path = f"secret/pve-{uid()}"
    put(bao, path, {TOKEN: sim.token_secret})
    settings = load_settings({**IDENTITY, **vault_env(bao.addr, path)})
    backend = build_backend(vault_env(bao.addr, path))
    reads: list[SecretRef] = []
    original_read = backend.read

    async def counting_read(ref: SecretRef) -> SecretStr:
        reads.append(ref)
        return await original_read(ref)

    backend.read = counting_read  # type: ignore[method-assign]
    settings.bind_resolver(SecretResolver(backend))
    rec = Recorder(sim)
    cluster = settings.cluster()
    with anyio.fail_after(30):
        async with settings.resolver.running(), RestClient(cluster, transport=rec.transport()) as client:
            await client.get("/version")
            put(bao, path, {TOKEN: rotate_token(sim)})
            async with anyio.create_task_group() as tg:
                for i in range(10):  # ten different GETs (identical ones in flight would be joined)
                    tg.start_soon(client.get, "/nodes/pve1/tasks", {"limit": i + 1})
    assert len(reads) == 2
    assert rec.statuses().count(401) == 10 and rec.statuses().count(200) == 11


async def test_a_password_rotated_in_vault_is_read_again_when_the_login_is_refused(bao: OpenBao) -> None:
    sim = new_sim()
    path = f"secret/pve-{uid()}"
    put(bao, path, {"PROXMOX_PASSWORD": sim.password})
    env = {"PROXMOX_HOST": "127.0.0.1", "PROXMOX_USERNAME": "root@pam", **vault_env(bao.addr, path)}
    settings = load_settings(env)
    clock = Clock()
    rec = Recorder(sim)
    with anyio.fail_after(30):
        async with settings.resolver.running(), RestClient(
            settings.cluster(), transport=rec.transport(), clock=clock
        ) as client:
            await client.get("/version")
            new = f"pw-{uid()}"
            sim.access.users["root@pam"].password = new
            put(bao, path, {"PROXMOX_PASSWORD": new})
            clock.now += TICKET_LIFETIME  # the ticket is too old to renew: a password login is due
            await client.get("/version")
    logins = [s for m, p, s in rec.seen if p.endswith("/access/ticket")]
    assert logins == [200, 401, 200]


async def test_the_401_error_says_when_reading_the_secret_again_failed_too(own_bao: OpenBao) -> None:
    sim = new_sim()
    path = f"secret/pve-{uid()}"
    put(own_bao, path, {TOKEN: sim.token_secret})
    rec = Recorder(sim)
    settings = load_settings({**IDENTITY, **vault_env(own_bao.addr, path)})
    with anyio.fail_after(30):
        async with settings.resolver.running(), RestClient(settings.cluster(), transport=rec.transport()) as client:
            await client.get("/version")
            rotate_token(sim)
            own_bao.stop()
            with pytest.raises(ProxmoxAuthError) as err:
                await client.get("/version")
    text = err.value.to_text()
    assert "Reading the credentials again failed as well" in text and "cannot reach Vault" in text


# --- Vault down -------------------------------------------------------------------------------


async def test_vault_down_at_start_still_lists_tools_and_a_call_says_vault_is_unreachable() -> None:
    sim = new_sim()
    addr = f"http://127.0.0.1:{dead_port()}"
    rec = Recorder(sim)
    with anyio.fail_after(30):
        async with mcp(load_settings({**IDENTITY, **vault_env(addr, "secret/proxmox")}), rec) as client:
            tools = await client.list_tools()
            assert any(t.name == "proxmox_node_list" for t in tools.tools)
            text = await fail(client, "proxmox_node_list")
    assert f"cannot reach Vault at {addr}" in text and "cluster 'default'" in text
    assert f"(vault:secret/proxmox#{TOKEN})" in text and "Nothing was sent to Proxmox" in text
    assert "Hint: check that Vault is running" in text
    assert rec.seen == []
    assert ROOT_TOKEN not in text


async def test_vault_down_mid_run_serves_the_cached_secret_until_its_ttl_then_a_clear_error(
    own_bao: OpenBao,
) -> None:
    sim = new_sim()
    path = f"secret/pve-{uid()}"
    put(own_bao, path, {TOKEN: sim.token_secret})
    env = {**IDENTITY, **vault_env(own_bao.addr, path, PROXMOX_MCP_SECRET_CACHE_TTL="60")}
    clock = Clock()
    resolver = SecretResolver(build_backend(env), clock=clock)
    rec = Recorder(sim)
    with anyio.fail_after(30):
        async with mcp(load_settings(env), rec, resolver) as client:
            await ok(client, "proxmox_node_list")
            own_bao.stop()
            clock.now += 59
            await ok(client, "proxmox_node_list")
            clock.now += 2
            text = await fail(client, "proxmox_node_list")
    assert "cannot reach Vault" in text and "Nothing was sent to Proxmox" in text
    assert rec.statuses() == [200, 200]


# --- the env block moved into Vault unchanged ---------------------------------------------------


async def test_an_env_block_moved_into_vault_unchanged_gives_the_identity_and_the_secret(bao: OpenBao) -> None:
    sim = new_sim()
    path = f"secret/pve-{uid()}"
    block = {**IDENTITY, TOKEN: sim.token_secret, "PROXMOX_API_TOKEN_USER": "root"}
    put(bao, path, block)  # PROXMOX_HOST and PROXMOX_DEFAULT_NODE ride along, unused
    env = {"PROXMOX_HOST": "127.0.0.1", "PROXMOX_DEFAULT_NODE": "pve1", **vault_env(bao.addr, path)}
    settings = load_settings(env)
    rec = Recorder(sim)
    with anyio.fail_after(30):
        async with mcp(settings, rec) as client:
            await ok(client, "proxmox_node_list")
    assert settings.cluster().auth_label == "token root@pam!mcp"


async def test_a_ticket_user_and_password_kept_in_vault_log_in(bao: OpenBao) -> None:
    sim = new_sim()
    path = f"secret/pve-{uid()}"
    put(bao, path, {"PROXMOX_USERNAME": "root@pam", "PROXMOX_PASSWORD": sim.password})
    env = {"PROXMOX_HOST": "127.0.0.1", "PROXMOX_DEFAULT_NODE": "pve1", **vault_env(bao.addr, path)}
    settings = load_settings(env)
    rec = Recorder(sim)
    with anyio.fail_after(30):
        async with mcp(settings, rec) as client:
            await ok(client, "proxmox_node_list")
    assert settings.cluster().auth_kind == "ticket"
    assert ("POST", "/api2/json/access/ticket", 200) in rec.seen


async def test_a_vault_path_without_credentials_says_what_to_put_there(bao: OpenBao) -> None:
    path = f"secret/pve-{uid()}"
    put(bao, path, {"UNRELATED": "x"})
    env = {"PROXMOX_HOST": "127.0.0.1", **vault_env(bao.addr, path)}
    rec = Recorder(new_sim())
    with anyio.fail_after(30):
        async with mcp(load_settings(env), rec) as client:
            text = await fail(client, "proxmox_node_list")
    assert f"vault:{path} has neither PROXMOX_API_TOKEN_ID nor PROXMOX_USERNAME" in text
    assert rec.seen == []


# --- one Vault path per cluster -----------------------------------------------------------------


async def test_each_cluster_reads_its_own_vault_path(bao: OpenBao, tmp_path: Path) -> None:
    sim = new_sim()
    other = sim.access.add_token("root@pam", "other", secret=str(uuid.uuid4()), privsep=False)
    home, lab = f"secret/home-{uid()}", f"secret/lab-{uid()}"
    put(bao, home, {TOKEN: sim.token_secret})
    put(bao, lab, {TOKEN: other.secret})
    config = tmp_path / "c.toml"
    config.write_text(
        f"""
[[clusters]]
name = "home"
endpoints = ["127.0.0.1"]
token_user = "root"
token_id = "mcp"
secret_path = "{home}"
[[clusters]]
name = "lab"
endpoints = ["127.0.0.1"]
token_user = "root"
token_id = "other"
secret_path = "{lab}"
"""
    )
    env = {"PROXMOX_MCP_CONFIG": str(config), **vault_env(bao.addr)}
    rec = Recorder(sim)
    with anyio.fail_after(30):
        async with mcp(load_settings(env), rec) as client:
            caps = await ok(client, "proxmox_capabilities")
    assert [(c["name"], c["reachable"]) for c in caps["clusters"]] == [("home", True), ("lab", True)]
    assert 401 not in rec.statuses()


# --- SSH keys -----------------------------------------------------------------------------------


async def test_an_encrypted_ssh_key_and_its_passphrase_come_from_vault(bao: OpenBao) -> None:
    from proxmox_operator_mcp.transports.ssh import SshPool

    from ..transports.sshd import new_fake_node

    node = new_fake_node()
    await node.start()
    try:
        passphrase = f"pass-{uid()}"
        pem = encrypted_pem(node.client_key, passphrase)
        path = f"secret/pve-{uid()}"
        # As pasted from an env block: one line with literal "\n".
        put(bao, path, {"PROXMOX_SHELL_SSH_PRIVATE_KEY": pem.replace("\n", "\\n"),
                        "PROXMOX_SHELL_SSH_PRIVATE_KEY_PASSPHRASE": passphrase})
        env = {
            **IDENTITY,
            **vault_env(bao.addr, path),
            "PROXMOX_DEFAULT_NODE": "fake1",
            "PROXMOX_SHELL_SSH_PORT": str(node.port),
            "PROXMOX_SHELL_SSH_USERNAME": "root",
            "PROXMOX_SHELL_SSH_EXPECTED_HOST_KEY": node.host_key.export_public_key("openssh").decode().strip(),
        }
        settings = load_settings(env)
        cluster = settings.cluster()
        with anyio.fail_after(30):
            async with settings.resolver.running(), SshPool() as pool:
                target = await cluster.secrets.ssh_target(cluster.ssh["fake1"])
                result = await pool.run(target, ["echo", "hello"], timeout=10)
    finally:
        await node.stop()
    assert result.exit_status == 0 and "hello" in result.stdout
    assert target.passphrase is not None and target.passphrase.get_secret_value() == passphrase
    assert isinstance(asyncssh.import_private_key(target.client_key.get_secret_value(), passphrase), asyncssh.SSHKey)  # type: ignore[union-attr]


async def test_a_missing_ssh_key_in_vault_is_a_clear_error(bao: OpenBao) -> None:
    path = f"secret/pve-{uid()}"
    put(bao, path, {TOKEN: "x"})
    env = {
        **IDENTITY,
        **vault_env(bao.addr, path),
        "PROXMOX_SHELL_SSH_EXPECTED_HOST_KEY": HOST_KEY,
    }
    cluster = load_settings(env).cluster()
    with anyio.fail_after(30), pytest.raises(SecretError) as err:
        await cluster.secrets.ssh_target(cluster.ssh["pve1"])
    text = err.value.to_text()
    assert "SSH client key for node pve1" in text and "has no field PROXMOX_SHELL_SSH_PRIVATE_KEY" in text


async def test_the_passphrase_of_a_key_file_comes_from_the_secrets_file(tmp_path: Path) -> None:
    from proxmox_operator_mcp.transports.ssh import SshPool

    from ..transports.sshd import new_fake_node

    node = new_fake_node()
    await node.start()
    try:
        passphrase = f"pass-{uid()}"
        keyfile = tmp_path / "id_ed25519"
        keyfile.write_text(encrypted_pem(node.client_key, passphrase))
        secrets = tmp_path / "secrets.toml"
        write_secrets(secrets, f'{TOKEN} = "x"\nPROXMOX_SHELL_SSH_PRIVATE_KEY_PASSPHRASE = "{passphrase}"\n')
        env = {
            **IDENTITY,
            "PROXMOX_MCP_SECRET_BACKEND": "file",
            "PROXMOX_MCP_SECRET_FILE_PATH": str(secrets),
            "PROXMOX_DEFAULT_NODE": "fake1",
            "PROXMOX_SHELL_SSH_PORT": str(node.port),
            "PROXMOX_SHELL_SSH_PRIVATE_KEY_PATH": str(keyfile),
            "PROXMOX_SHELL_SSH_EXPECTED_HOST_KEY": node.host_key.export_public_key("openssh").decode().strip(),
        }
        cluster = load_settings(env).cluster()
        assert cluster.ssh_private_key_ref is None and cluster.ssh_passphrase_ref is not None
        with anyio.fail_after(30):
            target = await cluster.secrets.ssh_target(cluster.ssh["fake1"])
            async with SshPool() as pool:
                result = await pool.run(target, ["echo", "hello"], timeout=10)
    finally:
        await node.stop()
    assert target.client_key_path == keyfile and result.exit_status == 0


# --- the real command -------------------------------------------------------------------------


async def test_proxmox_mcp_serve_over_stdio_starts_with_vault_down_and_reads_it_once_it_is_up(
    own_bao: OpenBao, tmp_path: Path
) -> None:
    """`proxmox-mcp serve` as a subprocess: Vault stopped at start, tools/list answers and a call
    says Vault is unreachable; started again (same address), the next call works."""
    import sys

    from mcp import StdioServerParameters

    from proxmox_operator_mcp.sim import run_sim

    from .openbao import start_openbao

    addr = own_bao.addr
    own_bao.stop()
    async with run_sim(SimOptions(nodes=1, vms_per_node=1, cts_per_node=0)) as sim:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PROXMOX_", "VAULT_"))}
        env.update({k: v for k, v in sim.env().items() if k != TOKEN})
        env.update(vault_env(addr, "secret/proxmox"))
        params = StdioServerParameters(command=sys.executable, args=["-m", "proxmox_operator_mcp", "serve"], env=env)
        with anyio.fail_after(90):
            async with Client(params) as client:
                assert (await client.list_tools()).tools
                down = await fail(client, "proxmox_node_list")
                bao = start_openbao(tmp_path / "bao-again", port=int(addr.rsplit(":", 1)[1]))
                try:
                    put(bao, "secret/proxmox", {TOKEN: sim.token_secret})
                    up = await ok(client, "proxmox_node_list")
                finally:
                    bao.stop()
    assert f"cannot reach Vault at {addr}" in down and "Traceback" not in down
    assert [n["node"] for n in up["nodes"]] == ["pve1"]
