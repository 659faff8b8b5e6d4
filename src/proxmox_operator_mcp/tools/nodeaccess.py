"""Node access: Proxmox CLI over SSH, read-only node commands, ``pct exec``, the shell escape
hatch, and the bootstrap of SSH access.

Like every tool, these describe work as :class:`~proxmox_operator_mcp.operation.Operation`
values and submit them to the gate (:func:`submit_op`); the router runs them over the pooled,
host-key-pinned SSH connection of the node. How each one is classified:

* ``proxmox_cli_run``: by the command itself (:func:`~proxmox_operator_mcp.transports.cli.classify_argv`):
  read subcommands are reads (allowed in read-only mode), ``destroy``/``stop``/``rollback`` … are
  destructive, the rest writes.
* ``proxmox_node_terminal_run``: read-only commands only, refused before anything is sent otherwise.
* ``proxmox_lxc_exec``, ``proxmox_shell_run`` and the bootstrap's key install: destructive (admin).

``proxmox_shell_run`` is listed only when the shell is enabled. The filter chain's ``adapt`` hook
does not receive the settings yet, so until it does, :data:`shell_listing_hook` decides the
listing (default: ``PROXMOX_MCP_ENABLE_SHELL`` in the process environment) and the handler
refuses unless ``settings.enable_shell`` is set, whatever was listed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Annotated, Any, Literal

import anyio
from pydantic import Field, SecretStr

from ..errors import HostKeyChangedError, InvalidArgumentError, PolicyDenied
from ..operation import Operation
from .base import Input, NodeName, Output, ToolContext, ToolSpec, VmId, clean_text, tool
from .common import locate_guest

__all__ = ["TOOLS", "admin_only", "node_target", "shell_listing_hook", "submit_op"]

_TRUTHY = {"1", "true", "yes", "on"}


def _shell_enabled_from_env() -> bool:
    return os.environ.get("PROXMOX_MCP_ENABLE_SHELL", "").strip().lower() in _TRUTHY


shell_listing_hook: Callable[[], bool] = _shell_enabled_from_env
"""Whether ``proxmox_shell_run`` appears in tools/list. A stop-gap until the filter chain passes
the settings to ``adapt`` (docs/planes.md); the handler always checks ``settings.enable_shell``."""


async def submit_op(ctx: ToolContext, op: Operation) -> Any:
    """Submit ``op`` through the policy gate (as :meth:`ToolContext.api` does for REST)."""
    return await ctx.submit(op)


def node_target(ctx: ToolContext, node: str | None) -> Any:
    """The node's SSH target from the settings (no I/O): fails early, saying how to configure SSH."""
    from ..transports.router import resolve_ssh_target

    return resolve_ssh_target(ctx.cluster, node)


# --------------------------------------------------------------------------- shared models

NodeField = Field(None, description="Node to run on; default: the configured default node.")
TimeoutField = Field(60.0, ge=1, le=900, description="Seconds before the command is killed.")
MaxOutputField = Field(65536, ge=1024, le=1048576, description="Bytes of stdout and of stderr kept.")
Arg = Annotated[str, Field(max_length=32768)]


class CommandOut(Output):
    node: str
    argv: list[str]
    exit_status: int | None = Field(None, description="Absent when killed (timeout) or ended by a signal.")
    ok: bool = Field(description="Exit status 0 within the timeout.")
    stdout: str
    stderr: str
    truncated: bool = Field(False, description="Output beyond max_output was dropped (a marker says how much).")
    output_uri: str | None = Field(None, description="Artifact with the whole output, when stdout/stderr were cut here.")
    timed_out: bool = False
    duration_ms: int


# Output shown inline per stream; more is published as an artifact (proxmox://artifacts/…).
INLINE_OUTPUT = 16_000


def _command_out(ctx: ToolContext, node: str, argv: list[str], result: Any, **extra: Any) -> CommandOut:
    from ..artifacts import cap_text

    def text(value: str) -> str:
        return clean_text(value, len(value) + 1)

    stdout, stderr = text(result.stdout), text(result.stderr)
    uri = None
    if len(stdout) > INLINE_OUTPUT or len(stderr) > INLINE_OUTPUT:
        stdout, uri = cap_text(ctx, stdout, INLINE_OUTPUT)
        stderr, err_uri = cap_text(ctx, stderr, INLINE_OUTPUT)
        uri = uri or err_uri
    return CommandOut(
        node=node,
        argv=list(argv),
        exit_status=result.exit_status,
        ok=result.ok,
        stdout=stdout,
        stderr=stderr,
        output_uri=uri,
        truncated=result.truncated,
        timed_out=result.timed_out,
        duration_ms=int(result.duration * 1000),
        **extra,
    )


def _render(out: CommandOut) -> str:
    status = "timed out, killed" if out.timed_out else f"exit status {out.exit_status}"
    parts = [f"{' '.join(out.argv)}  [{out.node}: {status}, {out.duration_ms} ms]", out.stdout.rstrip("\n")]
    if out.stderr.strip():
        parts += ["stderr:", out.stderr.rstrip("\n")]
    return "\n".join(p for p in parts if p)


def admin_only(spec: ToolSpec[Any, Any], access: str) -> ToolSpec[Any, Any] | None:
    """``adapt`` hook: list the tool only in admin mode (everything it does needs admin)."""
    return spec if access == "admin" else None


# --------------------------------------------------------------------------- proxmox_cli_run


class CliRunIn(Input):
    argv: list[Arg] = Field(
        min_length=1,
        max_length=256,
        description='Program and arguments, e.g. ["qm","config","101"]; each argument arrives literally. '
        "Programs: pvesh, qm, pct, pvesm, pveam, vzdump, ha-manager, pvecm, pveum, pvenode, ceph.",
    )
    node: NodeName | None = NodeField
    timeout: float = TimeoutField
    max_output: int = MaxOutputField


class CliRunOut(CommandOut):
    kind: Literal["read", "write", "destructive"] = Field(description="What the command does, as classified.")


def _cli_adapt(spec: ToolSpec[Any, Any], access: str) -> ToolSpec[Any, Any] | None:
    if access != "read-only":
        return spec
    return spec.with_changes(
        read_only=True,
        destructive=False,
        idempotent=True,
        description=spec.description + " In this read-only server only read subcommands run (qm list, pvesh get …).",
    )


@tool(
    name="proxmox_cli_run",
    title="Run a Proxmox CLI command on a node",
    toolset="cli",
    input_model=CliRunIn,
    output_model=CliRunOut,
    read_only=False,
    destructive=True,
    planes=("cli",),
    render=_render,
    adapt=_cli_adapt,
)
async def cli_run(ctx: ToolContext, args: CliRunIn) -> CliRunOut:
    """Run one Proxmox CLI command (pvesh, qm, pct, pvesm, ceph …) on a node over SSH, for what REST
    lacks (qm disk import, pct exec …). The command is classified read/write/destructive and the
    access mode decides. Returns exit status, stdout and stderr."""
    from ..transports.cli import classify_argv, validate_argv

    validate_argv(args.argv)
    kind = classify_argv(args.argv)
    target = node_target(ctx, args.node)
    op = Operation(
        cluster=ctx.cluster.name,
        plane="cli",
        argv=tuple(args.argv),
        node=target.node,
        params={"timeout": args.timeout, "max_output": args.max_output},
        read_only=kind == "read",
        destructive=kind == "destructive",
        targets=(f"node {target.node}",),
        tool=ctx.tool_name,
    )
    result = await submit_op(ctx, op)
    out = _command_out(ctx, target.node, args.argv, result)
    return CliRunOut(**out.model_dump(), kind=kind)


# --------------------------------------------------------------------------- proxmox_node_terminal_run


class TerminalIn(Input):
    command: str = Field(
        min_length=1,
        max_length=4096,
        description="One command line, e.g. 'journalctl -u pveproxy -n 50' or 'qm list'. Split like sh but run "
        "without a shell (no pipes, redirects, variables). Proxmox read subcommands and read-only diagnostics: "
        "pveversion, uptime, df, free, ip, ss, journalctl, systemctl status, dmesg, zpool/zfs, lvs, smartctl -a ….",
    )
    node: NodeName | None = NodeField
    timeout: float = Field(30.0, ge=1, le=300, description="Seconds before the command is killed.")
    max_output: int = MaxOutputField


@tool(
    name="proxmox_node_terminal_run",
    title="Run a read-only command on a node",
    toolset="cli",
    input_model=TerminalIn,
    output_model=CommandOut,
    read_only=True,
    idempotent=True,
    planes=("cli",),
    render=_render,
)
async def node_terminal_run(ctx: ToolContext, args: TerminalIn) -> CommandOut:
    """Run one stateless, read-only command line on a node, as typed in its terminal: diagnostics
    (journalctl, systemctl status, df, ip addr …) and Proxmox read commands (qm list, pvecm status,
    ha-manager status). Commands that change something are refused before anything is sent."""
    from ..transports.cli import split_command_line, validate_node_command

    argv = split_command_line(args.command)
    validate_node_command(argv)
    target = node_target(ctx, args.node)
    op = Operation(
        cluster=ctx.cluster.name,
        plane="cli",
        argv=tuple(argv),
        node=target.node,
        params={"timeout": args.timeout, "max_output": args.max_output},
        read_only=True,
        targets=(f"node {target.node}",),
        tool=ctx.tool_name,
    )
    return _command_out(ctx, target.node, argv, await submit_op(ctx, op))


# --------------------------------------------------------------------------- proxmox_lxc_exec


class LxcExecIn(Input):
    vmid: VmId
    command: list[Arg] = Field(
        min_length=1,
        max_length=256,
        description='Argv inside the container, e.g. ["cat","/etc/os-release"]; for a shell '
        'use ["sh","-c","…"].',
    )
    node: NodeName | None = Field(None, description="Found from the cluster when omitted.")
    timeout: float = TimeoutField
    max_output: int = MaxOutputField


class LxcExecOut(CommandOut):
    vmid: int


@tool(
    name="proxmox_lxc_exec",
    title="Run a command inside a container",
    toolset="cli",
    input_model=LxcExecIn,
    output_model=LxcExecOut,
    read_only=False,
    destructive=True,
    planes=("cli",),
    render=_render,
    adapt=admin_only,
)
async def lxc_exec(ctx: ToolContext, args: LxcExecIn) -> LxcExecOut:
    """Run a command inside a running LXC container with `pct exec` on its node (there is no REST
    equivalent). Runs as root in the container: admin mode. Returns exit status, stdout, stderr."""
    node, res = await locate_guest(ctx, args.vmid, "lxc", args.node)
    if res.get("status") != "running":
        raise InvalidArgumentError(
            f"container {args.vmid} is {res.get('status') or 'not running'}; pct exec needs a running container",
            hint="Start it with proxmox_lxc_action first.",
        )
    target = node_target(ctx, node)
    argv = ["pct", "exec", str(args.vmid), "--", *args.command]
    name = res.get("name")
    op = Operation(
        cluster=ctx.cluster.name,
        plane="cli",
        argv=tuple(argv),
        node=node,
        params={"timeout": args.timeout, "max_output": args.max_output},
        read_only=False,
        destructive=True,
        targets=(f"container {args.vmid}{f' ({name})' if name else ''} on {node}",),
        tool=ctx.tool_name,
    )
    out = _command_out(ctx, target.node, argv, await submit_op(ctx, op))
    return LxcExecOut(**out.model_dump(), vmid=args.vmid)


# --------------------------------------------------------------------------- proxmox_shell_run


class ShellRunIn(Input):
    command: str = Field(
        min_length=1, max_length=65536, description="Script run by /bin/sh -c on the node, as the SSH user."
    )
    node: NodeName | None = NodeField
    timeout: float = TimeoutField
    max_output: int = MaxOutputField


def _shell_adapt(spec: ToolSpec[Any, Any], access: str) -> ToolSpec[Any, Any] | None:
    return spec if access == "admin" and shell_listing_hook() else None


@tool(
    name="proxmox_shell_run",
    title="Run a shell script on a node",
    toolset="shell",
    input_model=ShellRunIn,
    output_model=CommandOut,
    read_only=False,
    destructive=True,
    planes=("shell",),
    render=_render,
    adapt=_shell_adapt,
)
async def shell_run(ctx: ToolContext, args: ShellRunIn) -> CommandOut:
    """Run an arbitrary shell script on a node (sh -c, as the SSH user, usually root), with a
    timeout and an output cap. The escape hatch when no other tool fits; every call is audited."""
    if not ctx.settings.enable_shell:
        raise PolicyDenied(
            "proxmox_shell_run is disabled on this server. Nothing was sent.",
            hint="An operator enables it with PROXMOX_MCP_ENABLE_SHELL=1 (admin mode).",
        )
    target = node_target(ctx, args.node)
    argv = ("sh", "-c", args.command)
    op = Operation(
        cluster=ctx.cluster.name,
        plane="shell",
        argv=argv,
        node=target.node,
        params={"timeout": args.timeout, "max_output": args.max_output},
        read_only=False,
        destructive=True,
        targets=(f"node {target.node}",),
        tool=ctx.tool_name,
    )
    return _command_out(ctx, target.node, list(argv), await submit_op(ctx, op))


# --------------------------------------------------------------------------- bootstrap


class BootstrapIn(Input):
    node: NodeName | None = NodeField
    confirm_fingerprint: str | None = Field(
        None,
        max_length=100,
        description="The SHA256:… fingerprint shown by the first call, once a human checked it on the node's console.",
    )
    password: SecretStr | None = Field(
        None,
        max_length=1024,
        description="One-time password of the SSH user, to install our public key. Used once, never stored or shown.",
    )


class BootstrapOut(Output):
    node: str
    address: str
    key_type: str
    fingerprint: str
    host_key: str = Field(description="The offered public host key line.")
    pinned: Literal["yes", "no", "changed"] = Field(description="Whether the configuration already pins this key.")
    step: Literal["confirm", "confirmed", "installed", "already-installed"]
    public_key: str | None = Field(None, description="Our public key, when installed.")
    key_login_works: bool | None = None
    pin: str = Field(description="Configuration line that pins the key.")
    next: str


def _pinned_state(target: Any, fingerprint: str) -> Literal["yes", "no", "changed"]:
    from ..transports.ssh import pinned_fingerprints

    pins = pinned_fingerprints(target)
    if not pins:
        return "no"
    return "yes" if fingerprint in pins else "changed"


@tool(
    name="proxmox_bootstrap_node_access",
    title="Bootstrap SSH access to a node",
    toolset="cli",
    input_model=BootstrapIn,
    output_model=BootstrapOut,
    read_only=False,
    destructive=True,
    idempotent=True,
    planes=("shell",),
    adapt=admin_only,
)
async def bootstrap_node_access(ctx: ToolContext, args: BootstrapIn) -> BootstrapOut:
    """Set up SSH access to a node in explicit steps. Without confirm_fingerprint: connect once and
    show the node's host key fingerprint (nothing trusted or sent) for a human to check on the
    console and pin. With confirm_fingerprint and a one-time password: log in pinned to that key
    and add our public key to authorized_keys (idempotent)."""
    from ..transports.ssh import host_key_fingerprint, parse_host_key_pin

    target = node_target(ctx, args.node)
    if args.password is not None and not args.confirm_fingerprint:
        raise InvalidArgumentError(
            "a password is only used once the host key fingerprint is confirmed; it was not used",
            hint="Call first without password, check the fingerprint on the node, then pass confirm_fingerprint.",
        )
    scan_op = Operation(
        cluster=ctx.cluster.name,
        plane="shell",
        method="HOSTKEY-SCAN",
        path=f"ssh://{target.address}",
        node=target.node,
        read_only=True,
        targets=(f"host key of node {target.node} ({target.address})",),
        tool=ctx.tool_name,
    )
    scanned = await submit_op(ctx, scan_op)
    pin_line = f"PROXMOX_SHELL_SSH_EXPECTED_HOST_KEY='{scanned.openssh_line}'"
    base = {
        "node": target.node,
        "address": target.address,
        "key_type": scanned.key_type,
        "fingerprint": scanned.fingerprint,
        "host_key": scanned.openssh_line,
        "pinned": await anyio.to_thread.run_sync(_pinned_state, target, scanned.fingerprint),
        "pin": pin_line,
    }
    kind = "ecdsa" if "ecdsa" in scanned.key_type else "rsa" if "rsa" in scanned.key_type else "ed25519"
    check = f"`ssh-keygen -lf /etc/ssh/ssh_host_{kind}_key.pub`"
    if not args.confirm_fingerprint:
        return BootstrapOut(
            **base,
            step="confirm",
            next=f"A human compares {scanned.fingerprint} with {check} on the node's console. If it matches: pin it "
            f"({pin_line}, or `proxmox-mcp hostkey pin {target.node} {scanned.fingerprint}`), and to install our key "
            "call again with confirm_fingerprint and the SSH user's one-time password.",
        )
    try:
        confirmed = parse_host_key_pin(args.confirm_fingerprint)
        if not confirmed.startswith("SHA256:"):  # a key line was pasted: compare its fingerprint
            confirmed = host_key_fingerprint(confirmed)
    except ValueError as exc:
        raise InvalidArgumentError(f"confirm_fingerprint: {exc}") from None
    if confirmed != scanned.fingerprint:
        raise HostKeyChangedError(
            f"node {target.node} ({target.address}) now offers {scanned.fingerprint}, not the confirmed {confirmed}. "
            "Nothing was sent" + (" (the password neither)." if args.password is not None else "."),
            hint=f"Check {check} on the node's console before going on.",
        )
    if args.password is None:
        return BootstrapOut(
            **base,
            step="confirmed",
            next=f"Pin it: {pin_line} (or `proxmox-mcp hostkey pin {target.node} {scanned.fingerprint}`). "
            "To install our key, call again with the password as well.",
        )
    from ..transports.files import discard, stage

    token = stage(args.password.get_secret_value().encode("utf-8"))
    try:
        install = Operation(
            cluster=ctx.cluster.name,
            plane="shell",
            method="KEY-INSTALL",
            path="~/.ssh/authorized_keys",
            node=target.node,
            params={"password": token, "fingerprint": scanned.fingerprint},
            read_only=False,
            destructive=True,
            targets=(f"{target.username}@{target.node} ({target.address}), host key {scanned.fingerprint}",),
            tool=ctx.tool_name,
        )
        done = await submit_op(ctx, install)
    finally:
        discard(token)
    return BootstrapOut(
        **base,
        step="installed" if done.added else "already-installed",
        public_key=done.public_key,
        key_login_works=done.key_login_works,
        next=("Key login works. " if done.key_login_works else "Key login did not work yet; check sshd's settings. ")
        + ("" if base["pinned"] == "yes" else f"Pin the host key: {pin_line}."),
    )


TOOLS: list[ToolSpec[Any, Any]] = [cli_run, node_terminal_run, lxc_exec, shell_run, bootstrap_node_access]
