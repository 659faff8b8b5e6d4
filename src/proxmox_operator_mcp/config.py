"""Typed settings.

The model is multi-cluster from the start: :class:`Settings` holds a list of
:class:`ClusterConfig`. Two sources fill it:

* the single-cluster environment block (``PROXMOX_HOST``, ``PROXMOX_API_TOKEN_*`` ...), which
  becomes one cluster named ``default``;
* an optional TOML file named by ``PROXMOX_MCP_CONFIG`` with the same model
  (``[[clusters]]`` tables), see ``docs/configuration.md``.

Every problem found is collected and raised at once as :class:`~proxmox_operator_mcp.errors.ConfigError`
so an operator fixes them in one pass.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from .errors import ConfigError

__all__ = [
    "AccessMode",
    "ApiEndpoint",
    "ClusterConfig",
    "ENV_REFERENCE",
    "auth_problems",
    "Settings",
    "load_settings",
]

AccessMode = Literal["read-only", "operator", "admin"]

_HOST_RE = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.\-]*[A-Za-z0-9])?)$")
_FINGERPRINT_RE = re.compile(r"^(?:[0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$|^[0-9A-Fa-f]{64}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$")

# Documented environment variables: name -> (meaning, default). docs/configuration.md is
# generated from this table by scripts/gen_docs.py.
ENV_REFERENCE: dict[str, tuple[str, str]] = {
    "PROXMOX_HOST": ("Host name or address of a PVE node serving the API (single-cluster form).", ""),
    "PROXMOX_API_PORT": ("API port.", "8006"),
    "PROXMOX_API_TOKEN_USER": ("API token user, e.g. `root` (with the realm separately) or `root@pam`.", ""),
    "PROXMOX_API_TOKEN_REALM": ("Realm of the token user.", "pam"),
    "PROXMOX_API_TOKEN_ID": ("Token ID (the part after `!`).", ""),
    "PROXMOX_API_TOKEN_SECRET": ("Token secret (UUID).", ""),
    "PROXMOX_USERNAME": ("User for ticket auth, e.g. `root@pam` (instead of a token).", ""),
    "PROXMOX_PASSWORD": ("Password for ticket auth.", ""),
    "PROXMOX_DEFAULT_NODE": ("Node used when a tool is not told one.", ""),
    "PROXMOX_TLS_REJECT_UNAUTHORIZED": ("`1` verifies the PVE certificate; `0` turns verification off (logs a warning).", "1"),
    "PROXMOX_TLS_CA_FILE": ("PEM file with the CA that signed the PVE certificate (e.g. the cluster's `pve-root-ca.pem`).", ""),
    "PROXMOX_TLS_FINGERPRINT": ("SHA-256 fingerprint of the PVE certificate to pin (hex, with or without colons).", ""),
    "PROXMOX_MCP_CONFIG": ("Path of a TOML configuration file (several clusters).", ""),
    "PROXMOX_MCP_ACCESS": ("Access mode: `read-only`, `operator` or `admin`.", "read-only"),
    "PROXMOX_MCP_CONNECT_TIMEOUT": ("Seconds to wait for a TCP/TLS connection to PVE.", "5"),
    "PROXMOX_MCP_READ_TIMEOUT": ("Seconds to wait for a PVE answer.", "30"),
    "PROXMOX_MCP_LOG_LEVEL": ("Log level on stderr: DEBUG, INFO, WARNING, ERROR.", "WARNING"),
    "PROXMOX_MCP_ENABLE_SHELL": ("`1` offers proxmox_shell_run (admin mode, confirmed).", "0"),
}


class ApiEndpoint(BaseModel):
    """One API endpoint (any node of a PVE cluster serves the whole API)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    port: int = Field(8006, ge=1, le=65535)

    @field_validator("host")
    @classmethod
    def _host_ok(cls, v: str) -> str:
        if not _HOST_RE.match(v):
            raise ValueError(f"{v!r} is not a host name or IP address (no scheme, port or path)")
        return v

    @property
    def base_url(self) -> str:
        return f"https://{self.host}:{self.port}/api2/json"

    @classmethod
    def parse(cls, text: str) -> ApiEndpoint:
        """Accept ``host``, ``host:port``, ``[v6]:port`` or ``https://host:port[/api2/json]``."""
        t = text.strip()
        if t.startswith("http://"):
            raise ValueError(f"{text!r}: the PVE API is HTTPS only; use https:// or just the host name")
        t = re.sub(r"^https://", "", t)
        t, _, path = t.partition("/")
        if path.rstrip("/") not in ("", "api2/json"):
            raise ValueError(f"{text!r}: give a host (and port), not a path")
        if t.startswith("["):
            host, _, rest = t.partition("]")
            host += "]"
            port = rest.lstrip(":") or "8006"
        elif t.count(":") == 1:
            host, port = t.split(":")
        else:
            host, port = t, "8006"
        if not port.isdigit():
            raise ValueError(f"port {port!r} in {text!r} is not a number")
        return cls(host=host, port=int(port))


def auth_problems(raw: Mapping[str, Any]) -> list[str]:
    """Credential problems of one cluster's raw settings (checked even when other fields are invalid)."""

    def has(key: str) -> bool:
        v = raw.get(key)
        if isinstance(v, SecretStr):
            v = v.get_secret_value()
        return bool(v)

    token_parts = {"token user": "token_user", "token id": "token_id", "token secret": "token_secret"}
    have_token = [k for k, f in token_parts.items() if has(f)]
    have_ticket = has("username") or has("password")
    if have_token and len(have_token) < len(token_parts):
        missing = ", ".join(k for k in token_parts if k not in have_token)
        return [
            f"API token is incomplete: missing {missing} (set PROXMOX_API_TOKEN_USER, "
            "PROXMOX_API_TOKEN_ID and PROXMOX_API_TOKEN_SECRET together)"
        ]
    if have_ticket and not (has("username") and has("password")):
        return ["ticket auth needs both PROXMOX_USERNAME (user@realm) and PROXMOX_PASSWORD"]
    if has("username") and "@" not in str(raw.get("username")):
        return [f"username {raw.get('username')!r} needs a realm, e.g. {raw.get('username')}@pam"]
    if not have_token and not have_ticket:
        return [
            "no credentials: set an API token (PROXMOX_API_TOKEN_USER, PROXMOX_API_TOKEN_ID, "
            "PROXMOX_API_TOKEN_SECRET) or PROXMOX_USERNAME and PROXMOX_PASSWORD"
        ]
    return []


class ClusterConfig(BaseModel):
    """One Proxmox VE cluster (or standalone node)."""

    model_config = ConfigDict(extra="forbid")

    name: str = "default"
    endpoints: list[ApiEndpoint] = Field(min_length=1)
    token_user: str | None = None
    token_realm: str = "pam"
    token_id: str | None = None
    token_secret: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    tls_verify: bool = True
    tls_ca_file: Path | None = None
    tls_fingerprint: str | None = None
    default_node: str | None = None
    access: AccessMode | None = None
    connect_timeout: float = Field(5.0, gt=0, le=300)
    read_timeout: float = Field(30.0, gt=0, le=3600)
    # Node name -> transports.ssh.SshTarget (host keys pinned). Empty: the SSH planes are off.
    ssh: dict[str, Any] = Field(default_factory=dict)

    @field_validator("endpoints", mode="before")
    @classmethod
    def _parse_endpoints(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [v]
        if isinstance(v, list):
            return [ApiEndpoint.parse(x) if isinstance(x, str) else x for x in v]
        return v

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError("cluster names use letters, digits, '.', '_' and '-' (at most 63)")
        return v

    @field_validator("tls_fingerprint")
    @classmethod
    def _fp_ok(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        if not _FINGERPRINT_RE.match(v.strip()):
            raise ValueError(
                "must be the SHA-256 fingerprint of the PVE certificate: 64 hex digits, with or without "
                "colons (see `openssl x509 -noout -fingerprint -sha256 -in /etc/pve/local/pve-ssl.pem`)"
            )
        return v.strip().replace(":", "").lower()

    @model_validator(mode="after")
    def _auth_ok(self) -> ClusterConfig:
        problems = auth_problems(self.model_dump())
        if problems:
            raise ValueError(problems[0])
        if self.tls_ca_file is not None and not self.tls_ca_file.is_file():
            raise ValueError(f"TLS CA file {str(self.tls_ca_file)!r} does not exist")
        return self

    @property
    def auth_kind(self) -> Literal["token", "ticket"]:
        return "token" if self.token_secret is not None else "ticket"

    @property
    def token_userid(self) -> str | None:
        """``user@realm`` of the token (a user already containing ``@`` keeps its realm)."""
        if not self.token_user:
            return None
        return self.token_user if "@" in self.token_user else f"{self.token_user}@{self.token_realm}"

    @property
    def token_full_id(self) -> str | None:
        """``user@realm!tokenid`` (safe to show: it is not the secret)."""
        if not self.token_userid or not self.token_id:
            return None
        return f"{self.token_userid}!{self.token_id}"


class Settings(BaseModel):
    """Everything the server needs, validated."""

    model_config = ConfigDict(extra="forbid")

    clusters: list[ClusterConfig] = Field(default_factory=list)
    access: AccessMode = "read-only"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    # proxmox_shell_run is absent from tools/list unless this is set (PROXMOX_MCP_ENABLE_SHELL=1).
    enable_shell: bool = False
    source: str = "env"

    @model_validator(mode="after")
    def _unique_names(self) -> Settings:
        names = [c.name for c in self.clusters]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"cluster names must be unique; repeated: {', '.join(dupes)}")
        return self

    def cluster(self, name: str | None = None) -> ClusterConfig:
        """The named cluster, or the only/first one when ``name`` is None."""
        from .errors import InvalidArgumentError

        if not self.clusters:
            raise ConfigError(
                ["no Proxmox cluster is configured"],
                hint="Set PROXMOX_HOST and an API token (see the README), or run `proxmox-mcp demo`.",
            )
        if name is None:
            return self.clusters[0]
        for c in self.clusters:
            if c.name == name:
                return c
        raise InvalidArgumentError(
            f"unknown cluster {name!r}", hint=f"configured clusters: {', '.join(c.name for c in self.clusters)}"
        )

    def access_for(self, cluster: ClusterConfig) -> AccessMode:
        return cluster.access or self.access


def _truthy(name: str, value: str, problems: list[str]) -> bool:
    v = value.strip().lower()
    if v in {"1", "true", "yes", "on"}:
        return True
    if v in {"0", "false", "no", "off"}:
        return False
    problems.append(f"{name}={value!r}: use 1 or 0")
    return True


def _fmt_validation(prefix: str, exc: ValidationError, env_names: Mapping[str, str] | None = None) -> list[str]:
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"])
        name = (env_names or {}).get(str(err["loc"][0]) if err["loc"] else "", loc)
        msg = err["msg"].removeprefix("Value error, ")
        out.append(f"{prefix}{name}: {msg}" if name else f"{prefix}{msg}")
    return out


_ENV_FIELD = {
    "endpoints": "PROXMOX_HOST",
    "token_user": "PROXMOX_API_TOKEN_USER",
    "token_realm": "PROXMOX_API_TOKEN_REALM",
    "token_id": "PROXMOX_API_TOKEN_ID",
    "token_secret": "PROXMOX_API_TOKEN_SECRET",
    "username": "PROXMOX_USERNAME",
    "password": "PROXMOX_PASSWORD",
    "tls_ca_file": "PROXMOX_TLS_CA_FILE",
    "tls_fingerprint": "PROXMOX_TLS_FINGERPRINT",
    "default_node": "PROXMOX_DEFAULT_NODE",
    "connect_timeout": "PROXMOX_MCP_CONNECT_TIMEOUT",
    "read_timeout": "PROXMOX_MCP_READ_TIMEOUT",
}


def _cluster_from_env(env: Mapping[str, str], problems: list[str]) -> dict[str, Any] | None:
    host = env.get("PROXMOX_HOST", "").strip()
    if not host:
        return None
    raw: dict[str, Any] = {"name": "default"}
    port = env.get("PROXMOX_API_PORT", "").strip()
    if port and not port.isdigit():
        problems.append(f"PROXMOX_API_PORT={port!r}: must be a port number (1-65535)")
        port = ""
    try:
        ep = ApiEndpoint.parse(host)
        raw["endpoints"] = [{"host": ep.host, "port": int(port) if port else ep.port}]
    except (ValueError, ValidationError) as exc:
        problems.append(f"PROXMOX_HOST={host!r}: {exc if isinstance(exc, ValueError) else 'not a host name'}")
        return None
    for field_name, env_name in _ENV_FIELD.items():
        if field_name == "endpoints":
            continue
        val = env.get(env_name, "")
        if val != "":
            raw[field_name] = val
    tls = env.get("PROXMOX_TLS_REJECT_UNAUTHORIZED", "")
    if tls:
        raw["tls_verify"] = _truthy("PROXMOX_TLS_REJECT_UNAUTHORIZED", tls, problems)
    if any(k.startswith("PROXMOX_SHELL_SSH_") and v.strip() for k, v in env.items()):
        # Imported only when SSH is configured: keeps start-up light otherwise.
        from .transports.ssh import ssh_targets_from_env

        try:
            raw["ssh"] = ssh_targets_from_env(env, default_host=ep.host.strip("[]"))
        except ConfigError as exc:
            problems.extend(exc.problems)
    return raw


def _ssh_from_file(raw: Any, label: str, problems: list[str]) -> None:
    if not isinstance(raw, dict) or "ssh" not in raw:
        return
    section = raw.pop("ssh")
    if not isinstance(section, dict):
        problems.append(f"cluster {label}: `ssh` must be a table ([clusters.ssh])")
        return
    from .transports.ssh import ssh_targets_from_config

    try:
        raw["ssh"] = ssh_targets_from_config(section, where=f"cluster {label}: ssh")
    except ConfigError as exc:
        problems.extend(exc.problems)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from the environment and the optional TOML file.

    Raises:
        ConfigError: listing every problem found, each with what to change.
    """
    env = os.environ if env is None else env
    problems: list[str] = []
    clusters: list[Any] = []
    source = "env"

    path = env.get("PROXMOX_MCP_CONFIG", "").strip()
    file_data: dict[str, Any] = {}
    if path:
        source = f"file {path}"
        try:
            file_data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            problems.append(f"PROXMOX_MCP_CONFIG={path!r}: file not found")
        except (OSError, tomllib.TOMLDecodeError) as exc:
            problems.append(f"PROXMOX_MCP_CONFIG={path!r}: cannot read TOML: {exc}")

    env_cluster = _cluster_from_env(env, problems)
    file_clusters = file_data.pop("clusters", []) if isinstance(file_data, dict) else []
    if not isinstance(file_clusters, list):
        problems.append("configuration file: `clusters` must be an array of tables ([[clusters]])")
        file_clusters = []
    if env_cluster is not None and file_clusters:
        problems.append(
            "both PROXMOX_HOST and the [[clusters]] of PROXMOX_MCP_CONFIG define clusters: "
            "keep one of the two (put the env cluster into the file as another [[clusters]] table)"
        )

    for i, raw in enumerate(file_clusters):
        label = raw.get("name", f"#{i + 1}") if isinstance(raw, dict) else f"#{i + 1}"
        _ssh_from_file(raw, label, problems)
        try:
            clusters.append(ClusterConfig.model_validate(raw))
        except ValidationError as exc:
            found = _fmt_validation(f"cluster {label}: ", exc)
            if isinstance(raw, dict):
                found += [f"cluster {label}: {p}" for p in auth_problems(raw) if not any(p in f for f in found)]
            problems.extend(found)
    if env_cluster is not None and not file_clusters:
        try:
            clusters.append(ClusterConfig.model_validate(env_cluster))
        except ValidationError as exc:
            found = _fmt_validation("", exc, _ENV_FIELD)
            found += [p for p in auth_problems(env_cluster) if not any(p in f for f in found)]
            problems.extend(found)

    top: dict[str, Any] = {"source": source}
    for key in ("access", "log_level", "enable_shell"):
        if key in file_data:
            top[key] = file_data.pop(key)
    for key in list(file_data):
        problems.append(f"configuration file: unknown key {key!r}")
    if env.get("PROXMOX_MCP_ACCESS"):
        top["access"] = env["PROXMOX_MCP_ACCESS"].strip()
    if env.get("PROXMOX_MCP_LOG_LEVEL"):
        top["log_level"] = env["PROXMOX_MCP_LOG_LEVEL"].strip().upper()
    if env.get("PROXMOX_MCP_ENABLE_SHELL"):
        top["enable_shell"] = _truthy("PROXMOX_MCP_ENABLE_SHELL", env["PROXMOX_MCP_ENABLE_SHELL"], problems)

    settings: Settings | None = None
    try:
        settings = Settings.model_validate({**top, "clusters": clusters})
    except ValidationError as exc:
        problems.extend(
            _fmt_validation("", exc, {"access": "PROXMOX_MCP_ACCESS", "log_level": "PROXMOX_MCP_LOG_LEVEL"})
        )
    if problems:
        raise ConfigError(problems, hint="See `proxmox-mcp doctor` and docs/configuration.md.")
    assert settings is not None
    return settings
