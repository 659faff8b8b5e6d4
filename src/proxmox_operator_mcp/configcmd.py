"""``proxmox-mcp config show`` and ``proxmox-mcp config migrate``.

``show`` prints the effective configuration (secrets masked) and where each value came from:
a variable of one of the accepted shapes, the configuration file, or the default.
``migrate`` writes the equivalent TOML file (docs/configuration.md): secrets that came from a
variable become ``env:NAME`` references (they stay where they are), others are written inline
and the file is created with mode 0600.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .config import SHAPE_LABELS, ClusterConfig, Settings, load_settings
from .errors import ConfigError

__all__ = ["add_parser", "effective", "run", "to_toml"]

_MASK = "********"
_SECRET_FIELDS = ("token_secret", "password")
# Cluster fields written by migrate, in this order (secrets and ssh are handled apart).
_PLAIN = (
    "token_user", "token_realm", "token_id", "username", "tls_verify", "tls_ca_file", "tls_fingerprint",
    "default_node", "access", "connect_timeout", "read_timeout", "tags", "secret_path",
)
_REFS = ("token_secret_ref", "password_ref", "ssh_private_key_ref", "ssh_passphrase_ref")
_TOP = ("access", "log_level", "enable_shell", "toolsets", "tools", "exclude_tools", "policy_file", "audit_path",
        "audit_hmac_key_ref", "audit_stderr", "audit_syslog", "audit_max_bytes", "approvals_dir", "approval_ttl")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``config show|migrate`` to the ``proxmox-mcp`` parser."""
    p = sub.add_parser("config", help="show the effective configuration, or migrate it to a TOML file")
    cs = p.add_subparsers(dest="config_command", required=True)
    show = cs.add_parser("show", help="the effective configuration (secrets masked) and where each value came from")
    show.add_argument("--json", action="store_true", help="print JSON instead of text")
    mig = cs.add_parser("migrate", help="write the equivalent TOML configuration file")
    mig.add_argument("-o", "--output", help="file to write (default: standard output)")
    mig.add_argument("--force", action="store_true", help="overwrite an existing file")
    mig.add_argument(
        "--inline-secrets", action="store_true",
        help="write secrets into the file (mode 0600) instead of env:NAME references to the variables holding them",
    )


def run(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> int:
    """Run ``config show`` or ``config migrate``; exit status 0, or 2 for a configuration problem."""
    try:
        settings = load_settings(env)
    except ConfigError as exc:
        print(exc.to_text() if hasattr(exc, "to_text") else str(exc), file=sys.stderr)
        return 2
    if args.config_command == "show":
        if getattr(args, "json", False):
            print(json.dumps(effective(settings, origins=True), indent=2, default=str))
        else:
            print(show_text(settings))
        return 0
    text = to_toml(settings, inline_secrets=getattr(args, "inline_secrets", False))
    out = getattr(args, "output", None)
    if not out:
        sys.stdout.write(text)
        return 0
    path = Path(out)
    if path.exists() and not getattr(args, "force", False):
        print(f"{path} exists; pass --force to overwrite it", file=sys.stderr)
        return 1
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    print(f"wrote {path}; point PROXMOX_MCP_CONFIG at it and unset the variables it replaces "
          f"({', '.join(replaced_variables(settings)) or 'none'})", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- effective configuration


def _cluster_dict(c: ClusterConfig, *, reveal: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": c.name, "endpoints": [f"{e.host}:{e.port}" for e in c.endpoints]}
    for key in ("token_user", "token_realm", "token_id", "username"):
        out[key] = getattr(c, key)
    for key in _SECRET_FIELDS:
        v = getattr(c, key)
        out[key] = None if v is None else (v.get_secret_value() if reveal else _MASK)
    for key in ("tls_verify", "tls_ca_file", "tls_fingerprint", "default_node", "access", "connect_timeout",
                "read_timeout", "tags", "secret_path"):
        v = getattr(c, key)
        out[key] = str(v) if isinstance(v, Path) else v
    for key in _REFS:
        v = getattr(c, key)
        out[key] = None if v is None else str(v)
    out["ssh"] = {
        node: {
            "host": t.host, "port": t.port, "username": t.username, "host_keys": list(t.host_keys),
            "private_key": None if t.client_key is None else (t.client_key.get_secret_value() if reveal else _MASK),
            "private_key_path": None if t.client_key_path is None else str(t.client_key_path),
        }
        for node, t in sorted((c.ssh or {}).items())
    }
    return out


def effective(settings: Settings, *, reveal: bool = False, origins: bool = False) -> dict[str, Any]:
    """The effective configuration as plain data (secrets masked unless ``reveal``; with
    ``origins``, where each configured value came from)."""
    top: dict[str, Any] = {}
    for key in _TOP:
        v = getattr(settings, key)
        top[key] = str(v) if isinstance(v, Path) else v
    out: dict[str, Any] = {**top, "clusters": [_cluster_dict(c, reveal=reveal) for c in settings.clusters]}
    if origins:
        out["shape"] = settings.shape
        out["origin"] = {
            **settings.origin,
            **{f"clusters.{c.name}.{k}": v for c in settings.clusters for k, v in c.origin.items()},
        }
    return out


def show_text(settings: Settings) -> str:
    """``config show``: each value with where it came from."""
    data = effective(settings, origins=True)
    origin = data["origin"]
    lines = [f"configuration shape: {settings.shape} ({SHAPE_LABELS.get(settings.shape, settings.shape)})"]
    for key in _TOP:
        lines.append(f"{key:<22} = {json.dumps(data[key], default=str):<40} # {origin.get(key, 'default')}")
    for c in data["clusters"]:
        lines.append("")
        lines.append(f"cluster {c['name']}")
        for key, value in c.items():
            if key == "name" or value in (None, [], {}):
                continue
            where = origin.get(f"clusters.{c['name']}.{key}", "default")
            lines.append(f"  {key:<20} = {json.dumps(value, default=str):<40} # {where}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- migrate


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v), ensure_ascii=False)


def _is_variable(origin: str | None) -> bool:
    return bool(origin) and origin.replace("_", "").isalnum() and origin.isupper()  # type: ignore[union-attr]


def replaced_variables(settings: Settings) -> list[str]:
    """The variables whose values the migrated file carries (to unset once it is in use)."""
    names = set()
    for c in settings.clusters:
        for key, origin in c.origin.items():
            if key in _SECRET_FIELDS:
                continue
            names.update(o for o in origin.replace("+", " ").split() if _is_variable(o))
    return sorted(names)


def to_toml(settings: Settings, *, inline_secrets: bool = False) -> str:
    """The TOML configuration equivalent to ``settings`` (``load_settings`` reads it back the same)."""
    lines = [
        f"# Written by `proxmox-mcp config migrate` from {SHAPE_LABELS.get(settings.shape, settings.shape)}.",
        "# See docs/configuration.md.",
    ]
    for key in _TOP:
        if key in settings.origin:
            v = getattr(settings, key)
            lines.append(f"{key} = {_toml_value(str(v) if isinstance(v, Path) else v)}")
    for c in settings.clusters:
        lines += ["", "[[clusters]]", f"name = {_toml_value(c.name)}",
                  f"endpoints = {_toml_value([f'{e.host}:{e.port}' for e in c.endpoints])}"]
        defaults = ClusterConfig.model_fields
        for key in _PLAIN:
            v = getattr(c, key)
            if v is None or v == defaults[key].get_default(call_default_factory=True):
                continue
            lines.append(f"{key} = {_toml_value(str(v) if isinstance(v, Path) else v)}")
        for key in _SECRET_FIELDS:
            v = getattr(c, key)
            if v is None:
                continue
            origin = c.origin.get(key)
            if not inline_secrets and _is_variable(origin):
                lines.append(f"{key}_ref = {_toml_value('env:' + str(origin))}")
            else:
                lines.append(f"{key} = {_toml_value(v.get_secret_value())}")
        for key in _REFS:
            v = getattr(c, key)
            if v is not None and not (key.startswith("ssh_") and not c.ssh):
                lines.append(f"{key} = {_toml_value(str(v))}")
        for node, t in sorted((c.ssh or {}).items()):
            lines += ["", f"[clusters.ssh.nodes.{node}]", f"host = {_toml_value(t.host)}"]
            if t.port != 22:
                lines.append(f"port = {t.port}")
            lines.append(f"username = {_toml_value(t.username)}")
            if t.host_keys:
                lines.append(f"host_keys = {_toml_value(list(t.host_keys))}")
            if t.known_hosts_file is not None:
                lines.append(f"known_hosts_file = {_toml_value(str(t.known_hosts_file))}")
            if t.client_key_path is not None:
                lines.append(f"private_key_path = {_toml_value(str(t.client_key_path))}")
            elif t.client_key is not None and (inline_secrets or c.ssh_private_key_ref is None):
                lines.append(f"private_key = {_toml_value(t.client_key.get_secret_value())}")
            if t.passphrase is not None and c.ssh_passphrase_ref is None:
                lines.append(f"passphrase = {_toml_value(t.passphrase.get_secret_value())}")
            if t.connect_timeout != 10.0:
                lines.append(f"connect_timeout = {t.connect_timeout!r}")
    return "\n".join(lines) + "\n"
