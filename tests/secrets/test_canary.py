"""Canary test: unique secret values are planted everywhere a secret can live (API token secrets,
a ticket password, an SSH key and its passphrase, the Vault token, the secrets file), a broad MCP
scenario runs through the official client against the simulated cluster over HTTPS (every tool,
happy and error paths: 401, 403, schema and argument errors, an unreachable cluster, a secret the
backend refuses, Vault going down, the SSH planes), and no canary may appear in any tool result,
log line, exception message, audit record or captured output.

It runs once per backend (env references, the secrets file, a real OpenBao) and once with the
plain environment block an MCP client config carries.
"""

from __future__ import annotations

import json
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import anyio
import asyncssh
import pytest
from mcp import Client

from proxmox_operator_mcp import errors
from proxmox_operator_mcp.config import Settings, load_settings
from proxmox_operator_mcp.operation import Operation
from proxmox_operator_mcp.secrets import RedactingFilter
from proxmox_operator_mcp.server.app import build_server
from proxmox_operator_mcp.sim import SimHandle, SimOptions, run_sim

from ..tools.nodeaccess_harness import consenting_human
from .openbao import OpenBao

pytestmark = pytest.mark.anyio

CLUSTERS = ("main", "ticket", "limited", "wrong", "unreachable", "broken")


def _canary(label: str) -> str:
    return f"CANARY{label}{uuid.uuid4().hex}"


@dataclass
class Canaries:
    """The planted values. Every one is unique in the process, so any sighting is a leak."""

    token: str = field(default_factory=lambda: _canary("token"))
    password: str = field(default_factory=lambda: f"CANARYpw {uuid.uuid4().hex}/+&=;%")  # needs encoding
    limited: str = field(default_factory=lambda: _canary("limited"))
    wrong: str = field(default_factory=lambda: _canary("wrong"))
    unreachable: str = field(default_factory=lambda: _canary("unreach"))
    passphrase: str = field(default_factory=lambda: _canary("passphrase"))
    vault_token: str = field(default_factory=lambda: _canary("vaulttoken"))
    ssh_key: str = ""  # the encrypted private key's text, set once generated

    def values(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v}

    def forms(self) -> Iterator[tuple[str, str]]:
        """Each value as written raw, URL-encoded, form-encoded and JSON-escaped."""
        for name, value in self.values().items():
            if name == "ssh_key":
                # the key's base64 body, line by line (a PEM header alone is no leak)
                for line in value.splitlines():
                    if len(line) >= 20 and "PRIVATE KEY" not in line:
                        yield f"{name} line", line
                continue
            for form in {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}:
                yield name, form


@dataclass
class Capture:
    """Everything the run showed to anyone: (where, text)."""

    texts: list[tuple[str, str]] = field(default_factory=list)

    def add(self, where: str, text: Any) -> None:
        self.texts.append((where, text if isinstance(text, str) else json.dumps(text, default=str)))

    def leaks(self, canaries: Canaries) -> list[str]:
        found = []
        for where, text in self.texts:
            for name, form in canaries.forms():
                if form in text:
                    found.append(f"{name} in {where}: {text[:300]!r}")
        return found


class _LogCapture(logging.Handler):
    """Every record at DEBUG: as the server's stderr handler emits it (through the redacting
    filter), and raw for this package's own loggers (which must never hold a secret at all)."""

    def __init__(self, capture: Capture) -> None:
        super().__init__(logging.DEBUG)
        self.capture = capture
        self.filter_ = RedactingFilter()
        self.formatter_ = logging.Formatter("%(levelname)s %(name)s: %(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        try:
            raw = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is not ours to judge here
            raw = str(record.msg)
        if record.exc_info:
            raw += "\n" + logging.Formatter().formatException(record.exc_info)
        if record.name.startswith("proxmox_operator_mcp"):
            self.capture.add(f"raw log {record.name}", raw)
        copy = logging.makeLogRecord(record.__dict__)
        self.filter_.filter(copy)
        self.capture.add(f"log {record.name}", self.formatter_.format(copy))


@pytest.fixture
def capture(monkeypatch: pytest.MonkeyPatch) -> Iterator[Capture]:
    """Logs from every logger at DEBUG, and the message of every error of our tree as raised."""
    cap = Capture()
    handler = _LogCapture(cap)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    original = errors.ProxmoxMCPError.__init__

    def recording_init(self: errors.ProxmoxMCPError, message: str, *, hint: str | None = None) -> None:
        cap.add(f"raised {type(self).__name__}", f"{message}\nHint: {hint}")
        original(self, message, hint=hint)

    monkeypatch.setattr(errors.ProxmoxMCPError, "__init__", recording_init)
    try:
        yield cap
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def encrypted_pem(key: asyncssh.SSHKey, passphrase: str) -> str:
    """The key in encrypted OpenSSH form (4 bcrypt rounds: each decryption costs 50 ms, not 3 s)."""
    return key.export_private_key("openssh", passphrase=passphrase, rounds=4, ignore_few_rounds=True).decode()


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SIM = SimOptions(nodes=2, vms_per_node=3, cts_per_node=1, task_seconds=0.05, ssh=True)


def sim_ssh(sim: SimHandle) -> dict[str, str]:
    """The simulator's SSH settings for pve1 (the client key is unencrypted there)."""
    return {k: v for k, v in sim.env().items() if k.startswith("PROXMOX_SHELL_SSH_")}


def canaries_for(sim: SimHandle) -> Canaries:
    """Fresh canaries; the SSH key is the simulator's client key, encrypted with the canary passphrase."""
    canaries = Canaries()
    key = asyncssh.import_private_key(sim_ssh(sim)["PROXMOX_SHELL_SSH_PRIVATE_KEY"])
    canaries.ssh_key = encrypted_pem(key, canaries.passphrase)
    return canaries


# --- the world: simulator, secrets in each backend, the configuration ----------------------------


@dataclass
class World:
    sim: SimHandle
    canaries: Canaries
    backend: str
    tmp: Path
    bao: OpenBao | None = None
    vault_prefix: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def plant_in_simulator(self) -> None:
        access = self.sim.cluster.access
        c = self.canaries
        access.users["root@pam"].tokens["mcp"].secret = c.token
        access.users["root@pam"].password = c.password
        access.root_password = c.password  # the simulated nodes' pvesh logs in with it
        access.add_token("auditor@pve", "canary", secret=c.limited)
        access.grant("/", "auditor@pve!canary", "PVEAuditor")
        # Someone pasted secrets into a VM's notes: PVE hands them out with the config, and the
        # redaction layer must mask every secret the server has read by then.
        for guest in self.sim.cluster.state.guests.values():
            pasted = [c.token, c.password] + ([c.vault_token] if self.backend == "vault" else [])
            guest.config["description"] = "notes: " + " | ".join(pasted)

    def cluster_secrets(self) -> dict[str, dict[str, str]]:
        """The secrets of each cluster, under the environment variables' names."""
        c = self.canaries
        return {
            "main": {
                "PROXMOX_API_TOKEN_SECRET": c.token,
                "PROXMOX_SHELL_SSH_PRIVATE_KEY": c.ssh_key,
                "PROXMOX_SHELL_SSH_PRIVATE_KEY_PASSPHRASE": c.passphrase,
            },
            "ticket": {"PROXMOX_PASSWORD": c.password},
            "limited": {"PROXMOX_API_TOKEN_SECRET": c.limited},
            "wrong": {"PROXMOX_API_TOKEN_SECRET": c.wrong},
            "unreachable": {"PROXMOX_API_TOKEN_SECRET": c.unreachable},
        }

    def store(self) -> None:
        """Put the secrets into the backend (and into env for the env backend)."""
        secrets = self.cluster_secrets()
        self.env = {"PROXMOX_MCP_SECRET_BACKEND": self.backend}
        if self.backend == "env":
            for cluster, fields in secrets.items():
                for name, value in fields.items():
                    self.env[f"CANARY_{cluster.upper()}_{name}"] = value
        elif self.backend == "file":
            path = self.tmp / "secrets.json"
            path.write_text(json.dumps({"clusters": secrets}))
            path.chmod(0o600)
            self.env["PROXMOX_MCP_SECRET_FILE_PATH"] = str(path)
        else:
            assert self.bao is not None
            root = self.bao.client()
            for cluster, fields in secrets.items():
                root.secrets.kv.v2.create_or_update_secret(
                    path=f"{self.vault_prefix}/{cluster}", secret=fields, mount_point="secret"
                )
            root.secrets.kv.v2.create_or_update_secret(
                path="canary-forbidden/broken", secret={"PROXMOX_API_TOKEN_SECRET": "never read"}, mount_point="secret"
            )
            policy = f"canary-{uuid.uuid4().hex[:8]}"
            root.sys.create_or_update_policy(
                policy, f'path "secret/data/{self.vault_prefix}/*" {{ capabilities = ["read"] }}'
            )
            # a token whose id is a canary: it must never show, wherever Vault fails
            root.auth.token.create(id=self.canaries.vault_token, policies=[policy], ttl="1h")
            self.env.update(
                {
                    "PROXMOX_MCP_SECRET_VAULT_ADDR": self.bao.addr,
                    "VAULT_TOKEN": self.canaries.vault_token,
                    "PROXMOX_MCP_SECRET_CACHE_TTL": "300",
                }
            )

    def secret_lines(self, cluster: str) -> str:
        """How the configuration file points ``cluster`` at its secrets in this backend."""
        if self.backend == "env":
            if cluster == "broken":
                return 'token_secret_ref = "env:CANARY_UNSET_VARIABLE"'
            return "\n".join(
                f'{ref} = "env:CANARY_{cluster.upper()}_{name}"'
                for ref, name in (
                    ("token_secret_ref", "PROXMOX_API_TOKEN_SECRET"),
                    ("password_ref", "PROXMOX_PASSWORD"),
                    ("ssh_private_key_ref", "PROXMOX_SHELL_SSH_PRIVATE_KEY"),
                    ("ssh_passphrase_ref", "PROXMOX_SHELL_SSH_PRIVATE_KEY_PASSPHRASE"),
                )
                if name in self.cluster_secrets().get(cluster, {})
            )
        if self.backend == "file":
            return ""  # implicit: the [clusters.<name>] section (absent for "broken")
        if cluster == "broken":
            return 'secret_path = "secret/canary-forbidden/broken"'  # the token may not read it
        return f'secret_path = "secret/{self.vault_prefix}/{cluster}"'

    def config(self, first: str) -> Path:
        s = self.sim
        ident = {
            "main": 'token_user = "root"\ntoken_id = "mcp"',
            "ticket": 'username = "root@pam"',
            "limited": 'token_user = "auditor@pve"\ntoken_id = "canary"',
            "wrong": 'token_user = "root"\ntoken_id = "mcp"',
            "unreachable": 'token_user = "root"\ntoken_id = "mcp"',
            "broken": 'token_user = "root"\ntoken_id = "mcp"',
        }
        order = [first, *(c for c in CLUSTERS if c != first)]
        parts = ['access = "admin"']
        for name in order:
            port = _dead_port() if name == "unreachable" else s.port
            parts.append(
                f'[[clusters]]\nname = "{name}"\nendpoints = ["127.0.0.1:{port}"]\n{ident[name]}\n'
                f'tls_ca_file = "{s.ca_file}"\ntls_fingerprint = "{s.fingerprint}"\ndefault_node = "pve1"\n'
                f"connect_timeout = 2\n{self.secret_lines(name)}\n"
            )
            if name == "main":
                ssh = sim_ssh(s)
                parts.append(
                    f'[clusters.ssh]\nusername = "{ssh["PROXMOX_SHELL_SSH_USERNAME"]}"\nconnect_timeout = 5\n'
                    f'[clusters.ssh.nodes.pve1]\nhost = "{ssh["PROXMOX_SHELL_SSH_HOST"]}"\n'
                    f'port = {ssh["PROXMOX_SHELL_SSH_PORT"]}\n'
                    f'host_keys = ["{ssh["PROXMOX_SHELL_SSH_EXPECTED_HOST_KEY"]}"]\n'
                )
        path = self.tmp / f"config-{first}.toml"
        path.write_text("\n".join(parts))
        return path

    def settings(self, first: str) -> Settings:
        return load_settings(
            {
                **self.env,
                "PROXMOX_MCP_CONFIG": str(self.config(first)),
                "PROXMOX_MCP_ENABLE_SHELL": "1",
                "PROXMOX_MCP_AUDIT_PATH": str(self.audit_dir / "audit.log"),
            }
        )

    @property
    def audit_dir(self) -> Path:
        d = self.tmp / "audit"
        d.mkdir(exist_ok=True)
        return d


@asynccontextmanager
async def world(backend: str, tmp: Path, bao: OpenBao | None) -> AsyncIterator[World]:
    async with run_sim(SIM) as sim:
        w = World(sim=sim, canaries=canaries_for(sim), backend=backend, tmp=tmp, bao=bao,
                  vault_prefix=f"canary-{uuid.uuid4().hex[:8]}")
        w.plant_in_simulator()
        w.store()
        yield w


# --- the scenario ---------------------------------------------------------------------------------


class Audit:
    """Audit records of the run, built and written by the policy layer's own audit code.

    The server writes its own audit log (PROXMOX_MCP_AUDIT_PATH, under the same directory); in
    addition each tool call, and each operation of the SSH scenario, is recorded here with
    ``tool_call_record``/``operation_record`` into an ``AuditLog``. Every file under the audit
    directory is scanned with everything else.
    """

    def __init__(self, directory: Path) -> None:
        try:
            from proxmox_operator_mcp.policy import audit
        except ImportError:  # the audit module is not part of this build
            self.log = None
            return
        self.mod = audit
        self.log = audit.AuditLog(directory / "scenario-audit.log")

    def tool_call(self, name: str, args: dict[str, Any], outcome: str) -> None:
        if self.log is not None:
            rec = self.mod.tool_call_record(
                name, args, principal={"sub": "canary"}, outcome=outcome, call_id=uuid.uuid4().hex[:12]
            )
            self.log.append(rec)

    def operation(self, op: Operation, outcome: str) -> None:
        if self.log is None:
            return
        from proxmox_operator_mcp.policy.rules import Decision

        decision = Decision(verdict="allow", reason="canary scenario", rule_id="default:test",
                            required_mode="admin", op_class="write")
        self.log.append(self.mod.operation_record(op, decision, principal={"sub": "canary"}, outcome=outcome))

    def close(self) -> None:
        if self.log is not None:
            self.log.close()


AUDIT: Audit | None = None  # the current test's


async def call(client: Client, cap: Capture, name: str, args: dict[str, Any] | None = None) -> Any:
    res = await client.call_tool(name, args or {})
    for item in res.content:
        cap.add(f"{name} content", getattr(item, "text", str(item)))
    if res.structured_content is not None:
        cap.add(f"{name} structuredContent", res.structured_content)
    if AUDIT is not None:
        AUDIT.tool_call(name, args or {}, "error" if res.is_error else "ok")
    return res


async def main_scenario(client: Client, cap: Capture) -> None:
    """Everything a session on a healthy cluster does, in admin mode, and its argument errors."""
    tools = await client.list_tools()
    cap.add("tools/list", [t.model_dump(mode="json") for t in tools.tools])
    caps = await call(client, cap, "proxmox_capabilities")
    reach = {c["name"]: c["reachable"] for c in caps.structured_content["clusters"]}
    assert reach == {"main": True, "ticket": True, "limited": True, "wrong": False, "unreachable": False,
                     "broken": False}, caps.structured_content
    for name in ("proxmox_inventory_overview", "proxmox_cluster_status", "proxmox_node_list", "proxmox_task_list"):
        assert not (await call(client, cap, name)).is_error
    await call(client, cap, "proxmox_node_get", {"node": "pve2"})
    vms = (await call(client, cap, "proxmox_vm_list", {"limit": 2})).structured_content
    await call(client, cap, "proxmox_vm_list", {"cursor": vms["next_cursor"], "limit": 50})
    stopped = (await call(client, cap, "proxmox_vm_list", {"status": "stopped", "template": False})).structured_content
    vm = stopped["items"][0]["vmid"]
    got = await call(client, cap, "proxmox_vm_get", {"vmid": vm})
    assert got.structured_content["config"]["description"].startswith("notes: ***"), got.structured_content
    started = await call(client, cap, "proxmox_vm_action", {"vmid": vm, "action": "start", "wait": 10})
    assert not started.is_error, started.content
    await call(client, cap, "proxmox_task_get", {"upid": started.structured_content["task"]["upid"]})
    await call(client, cap, "proxmox_vm_action", {"vmid": vm, "action": "start"})  # already running
    await call(client, cap, "proxmox_vm_action", {"vmid": vm, "action": "stop", "wait": 10})
    cts = (await call(client, cap, "proxmox_lxc_list")).structured_content
    await call(client, cap, "proxmox_lxc_get", {"vmid": cts["items"][0]["vmid"]})
    await call(client, cap, "proxmox_lxc_action", {"vmid": cts["items"][0]["vmid"], "action": "reboot", "wait": 10})
    await call(client, cap, "proxmox_api_call", {"method": "GET", "path": "/version"})
    await call(client, cap, "proxmox_api_call", {"method": "GET", "path": "/access/users"})
    await call(client, cap, "proxmox_api_call", {"method": "GET", "path": "/access/permissions"})
    # a login through the raw API (PVE refuses /access/ticket to API tokens: another error path)
    await call(
        client, cap, "proxmox_api_call",
        {"method": "POST", "path": "/access/ticket", "params": {"username": "root@pam", "password": "not-it"}},
    )
    await call(client, cap, "proxmox_api_call", {"method": "GET", "path": "/nodes/pve1/not-an-endpoint"})
    await call(client, cap, "proxmox_api_call", {"method": "POST", "path": "/nodes/pve1/qemu", "params": {"vmid": "x"}})
    await call(client, cap, "proxmox_api_call", {"method": "GET", "path": "/nodes/pve1/qemu/99999/config"})
    await call(client, cap, "proxmox_api_describe", {"query": "/access/ticket"})
    await call(client, cap, "proxmox_vm_get", {"vmid": 99999})
    await call(client, cap, "proxmox_vm_list", {"bogus": 1})
    await call(client, cap, "proxmox_vm_list", {"cursor": "garbage!"})
    await call(client, cap, "proxmox_no_such_tool")
    cli = (await ssh_tools(client, cap))[0]
    assert not cli.is_error, cli.content  # the encrypted SSH key and its passphrase came from the backend
    # Every tool this build offers (others may have been added since this test was written):
    # called with no arguments and with an unknown one, whatever that does.
    for tool in tools.tools:
        await call(client, cap, tool.name)
        await call(client, cap, tool.name, {"canary_probe": "x"})


# What the first call of each failing cluster's session must say (None: it succeeds).
EXPECTED: dict[str, Any] = {
    "ticket": None,
    "limited": None,  # reading is fine for an auditor; its start is refused, see error_scenario
    "wrong": "401",
    "unreachable": "Cannot connect",
    "broken": {
        "env": "CANARY_UNSET_VARIABLE is not set",
        "file": "no section for cluster 'broken'",
        "vault": "Vault denied reading secret/canary-forbidden/broken",
    },
}


async def error_scenario(client: Client, cap: Capture, first: str, backend: str) -> None:
    """A session whose first cluster fails in its own way (or, for the ticket, writes with CSRF)."""
    res = await call(client, cap, "proxmox_node_list")
    expected = EXPECTED[first]
    if isinstance(expected, dict):
        expected = expected[backend]
    text = res.content[0].text  # type: ignore[union-attr]
    assert (expected in text) if expected else not res.is_error, text
    await call(client, cap, "proxmox_api_call", {"method": "GET", "path": "/nodes"})
    vms = await call(client, cap, "proxmox_vm_list", {"status": "stopped", "template": False, "limit": 1})
    vmid = vms.structured_content["items"][0]["vmid"] if not vms.is_error else 100
    started = await call(client, cap, "proxmox_vm_action", {"vmid": vmid, "action": "start"})
    if first == "limited":
        assert started.is_error and "403" in started.content[0].text, started.content  # type: ignore[union-attr]
    if first == "ticket":
        assert not started.is_error, started.content
    await call(client, cap, "proxmox_api_call", {"method": "POST", "path": f"/nodes/pve1/qemu/{vmid}/status/stop"})


SSH_TOOL_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("proxmox_cli_run", {"argv": ["pvesh", "get", "/version"], "node": "pve1"}),
    ("proxmox_cli_run", {"argv": ["qm", "list"], "node": "pve1"}),
    ("proxmox_node_terminal_run", {"command": "uname -a", "node": "pve1"}),
    ("proxmox_node_terminal_run", {"command": "rm -rf /", "node": "pve1"}),  # refused: not read-only
    ("proxmox_file_read", {"path": "/etc/pve/storage.cfg", "node": "pve1"}),
    ("proxmox_file_read", {"path": "/etc/shadow", "node": "pve1"}),
    ("proxmox_lxc_exec", {"vmid": 103, "command": ["cat", "/etc/hostname"]}),
    ("proxmox_shell_run", {"command": "echo from the shell", "node": "pve1"}),
]


async def ssh_tools(client: Client, cap: Capture) -> list[Any]:
    """The SSH planes through their tools (CLI, terminal, files, container exec, shell)."""
    return [await call(client, cap, name, args) for name, args in SSH_TOOL_CALLS]


async def ssh_scenario(w: World, settings: Settings, cap: Capture) -> None:
    """The SSH planes below the tools: through the gate and the router (which takes the key and its
    passphrase from the backend through ``ClusterSecrets.ssh_target``), straight on a pool, then a
    wrong passphrase and a key the node does not know."""
    import dataclasses

    from pydantic import SecretStr

    from proxmox_operator_mcp.policy.gate import Gate
    from proxmox_operator_mcp.transports.router import Router
    from proxmox_operator_mcp.transports.ssh import SshPool

    cluster = settings.cluster("main")
    router = Router(settings)
    gate = Gate(settings, router)
    ops = [
        Operation(cluster="main", plane="shell", argv=("echo", "from", "the", "gate"), node="pve1",
                  read_only=False, tool="canary"),
        Operation(cluster="main", plane="cli", argv=("pvesh", "get", "/version"), node="pve1", tool="canary"),
    ]
    async def human_says_yes(op: Operation, decision: Any, request: Any) -> str:
        return "accepted"

    try:
        for op in ops:
            result = await gate.submit(op, principal={"sub": "canary"}, confirmer=human_says_yes)
            cap.add("gate result", repr(result))
            if AUDIT is not None:
                AUDIT.operation(op, "ok")
    finally:
        await router.aclose()
    if AUDIT is not None:
        # an operation carrying a secret in its parameters (a login through proxmox_api_call)
        login = Operation(cluster="main", plane="api", method="POST", path="/access/ticket", tool="canary",
                          params={"username": "root@pam", "password": w.canaries.password}, read_only=False)
        AUDIT.operation(login, "ok")

    target = await cluster.secrets.ssh_target(cluster.ssh["pve1"])
    assert target.passphrase is not None  # the key is encrypted; both came from the backend
    async with SshPool() as pool:
        for argv in (["pvesh", "get", "/version"], ["qm", "list"], ["false"]):
            cap.add("ssh result", repr(await pool.run(target, argv, timeout=10)))
        assert (await pool.run(target, ["pvesh", "get", "/version"], timeout=10)).exit_status == 0

    stranger_key = asyncssh.generate_private_key("ssh-ed25519").export_private_key("openssh").decode()
    wrong = dataclasses.replace(target, passphrase=SecretStr("not the passphrase"))
    stranger = dataclasses.replace(target, client_key=SecretStr(stranger_key), passphrase=None)
    async with SshPool() as pool:
        for bad in (wrong, stranger):
            with pytest.raises(errors.ProxmoxMCPError) as err:
                await pool.run(bad, ["true"], timeout=10)
            cap.add("ssh error", err.value.to_text())
            cap.add("ssh error repr", repr(err.value))


async def run_everything(w: World, cap: Capture) -> None:
    for first in CLUSTERS:
        settings = w.settings(first)
        cap.add("settings repr", repr(settings))
        cap.add("settings dump", settings.model_dump_json())
        async with Client(build_server(settings), mode="legacy", elicitation_callback=consenting_human) as client:
            if first == "main":
                await main_scenario(client, cap)
            else:
                await error_scenario(client, cap, first, w.backend)
        if first == "main":
            await ssh_scenario(w, settings, cap)

    if w.backend == "vault":
        # Vault goes away mid-run; once the cached secret expires, calls say so.
        assert w.bao is not None
        settings = w.settings("main")
        async with Client(build_server(settings), mode="legacy", elicitation_callback=consenting_human) as client:
            assert not (await call(client, cap, "proxmox_node_list")).is_error
            w.bao.stop()
            settings.resolver.invalidate()  # as when the TTL has passed
            res = await call(client, cap, "proxmox_node_list")
            assert res.is_error and "cannot reach Vault" in res.content[0].text  # type: ignore[union-attr]


def _audit_records(w: World, cap: Capture) -> int:
    n = 0
    for f in sorted(w.audit_dir.glob("*")):
        if f.is_file():
            cap.add(f"audit file {f.name}", f.read_text(errors="replace"))
            n += 1
    return n


@pytest.mark.parametrize("backend", ["env", "file", "vault"])
async def test_no_canary_secret_appears_in_any_output_log_error_or_audit_record(
    backend: str, tmp_path: Path, capture: Capture, capfd: pytest.CaptureFixture[str], request: pytest.FixtureRequest
) -> None:
    global AUDIT
    bao = request.getfixturevalue("own_bao") if backend == "vault" else None
    audit_dir = tmp_path / "audit"
    audit_dir.mkdir()
    AUDIT = Audit(audit_dir)
    try:
        with anyio.fail_after(180):
            async with world(backend, tmp_path, bao) as w:
                await run_everything(w, capture)
    finally:
        AUDIT.close()
        AUDIT = None
    assert _audit_records(w, capture) >= 1
    scenario_log = audit_dir / "scenario-audit.log"
    if scenario_log.exists():
        records = [json.loads(line) for line in scenario_log.read_text().splitlines()]
        assert len(records) > 50 and any(r.get("params", {}).get("password") == "***" for r in records)
    out, err = capfd.readouterr()
    capture.add("stdout", out)
    capture.add("stderr", err)

    assert len(capture.texts) > 200  # the scenario ran (and was captured)
    assert any("403" in t for _, t in capture.texts) and any("401" in t for _, t in capture.texts)
    leaks = capture.leaks(w.canaries)
    assert not leaks, "\n".join(leaks[:20])


async def test_no_canary_from_the_plain_env_block_appears_anywhere(
    capture: Capture, capfd: pytest.CaptureFixture[str]
) -> None:
    """The configuration an MCP client's env section carries: every secret inline in env, the SSH
    key encrypted, on one line; the SSH planes run through their tools."""
    with anyio.fail_after(120):
        async with run_sim(SIM) as sim:
            canaries = canaries_for(sim)
            sim.cluster.access.users["root@pam"].tokens["mcp"].secret = canaries.token
            for guest in sim.cluster.state.guests.values():
                guest.config["description"] = f"notes: {canaries.token} {canaries.passphrase}"
            env = {
                **sim.env(),
                "PROXMOX_API_TOKEN_SECRET": canaries.token,
                "PROXMOX_MCP_ACCESS": "admin",
                "PROXMOX_MCP_ENABLE_SHELL": "1",
                "PROXMOX_SHELL_SSH_PRIVATE_KEY": canaries.ssh_key.replace("\n", "\\n"),
                "PROXMOX_SHELL_SSH_PRIVATE_KEY_PASSPHRASE": canaries.passphrase,
            }
            settings = load_settings(env)
            capture.add("settings repr", repr(settings))
            async with Client(build_server(settings), mode="legacy", elicitation_callback=consenting_human) as client:
                for name in ("proxmox_capabilities", "proxmox_inventory_overview", "proxmox_node_list"):
                    await call(client, capture, name)
                await call(client, capture, "proxmox_vm_get", {"vmid": 100})
                await call(client, capture, "proxmox_api_call", {"method": "GET", "path": "/nodes/x/nope"})
                cli = (await ssh_tools(client, capture))[0]
                assert not cli.is_error, cli.content  # the encrypted key and its passphrase worked
                sim.cluster.access.users["root@pam"].tokens["mcp"].secret = "rotated-away"
                res = await call(client, capture, "proxmox_node_list")
                assert res.is_error and "401" in res.content[0].text  # type: ignore[union-attr]
    out, err = capfd.readouterr()
    capture.add("stdout", out)
    capture.add("stderr", err)
    leaks = capture.leaks(canaries)
    assert not leaks, "\n".join(leaks[:20])


def test_the_canary_check_itself_finds_a_planted_leak() -> None:
    canaries = Canaries()
    cap = Capture()
    cap.add("somewhere", f"password={quote_plus(canaries.password)}")
    assert cap.leaks(canaries) and "password" in cap.leaks(canaries)[0]
