"""Typed settings.

The model is multi-cluster from the start: :class:`Settings` holds a list of
:class:`ClusterConfig`. Two sources fill it:

* the single-cluster environment block (``PROXMOX_HOST``, ``PROXMOX_API_TOKEN_*`` ...), which
  becomes one cluster named ``default``;
* an optional TOML file named by ``PROXMOX_MCP_CONFIG`` with the same model
  (``[[clusters]]`` tables), see ``docs/configuration.md``.

Secrets (token secret, password, SSH key and passphrase) are either inline (the env backend,
or literal values in the TOML file) or references into the backend chosen by
``PROXMOX_MCP_SECRET_BACKEND`` (``vault:secret/proxmox/homelab#PROXMOX_API_TOKEN_SECRET``),
resolved on first use, see ``docs/secrets.md``. :func:`load_settings` builds the
:class:`~proxmox_operator_mcp.secrets.SecretResolver` next to the settings (``settings.resolver``)
and never contacts a backend.

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

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import ConfigError
from .secrets import (
    SecretRef,
    SecretResolver,
    backend_name,
    build_resolver,
    cluster_refs,
)
from .secrets.cluster import (
    PASSWORD,
    SSH_KEY,
    SSH_PASSPHRASE,
    TOKEN_SECRET,
    ClusterSecrets,
)

__all__ = [
    "ENV_REFERENCE",
    "REF_FIELDS",
    "SHAPE_LABELS",
    "AccessMode",
    "ApiEndpoint",
    "ClusterConfig",
    "Settings",
    "auth_problems",
    "env_shape",
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
    "PROXMOX_MCP_TOOLSETS": ("Comma-separated toolsets to offer, or `all` (see docs/tools.md).", "default set"),
    "PROXMOX_MCP_TOOLS": ("Comma-separated tools to offer in addition to the toolsets.", ""),
    "PROXMOX_MCP_EXCLUDE_TOOLS": ("Comma-separated tools never to offer (wins over everything).", ""),
    "PROXMOX_MCP_POLICY_FILE": (
        "TOML policy file: operator rules (allow, deny, confirm) before the built-in defaults. "
        "Check it with `proxmox-mcp policy check FILE`.",
        "",
    ),
    "PROXMOX_MCP_AUDIT_PATH": (
        "Hash-chained JSON-lines audit log (one record per tool call and per operation). When set and it "
        "cannot be written, changes are refused. Check it with `proxmox-mcp audit verify`.",
        "",
    ),
    "PROXMOX_MCP_AUDIT_HMAC_KEY_REF": (
        "Secret reference (`env:NAME`, `file:NAME`, `vault:PATH#FIELD`) of a key of at least 16 bytes: "
        "records are then signed with HMAC-SHA256 instead of plain SHA-256.",
        "",
    ),
    "PROXMOX_MCP_AUDIT_STDERR": ("`1` also writes each audit record to stderr (for log pipelines).", "0"),
    "PROXMOX_MCP_AUDIT_SYSLOG": ("`1` also sends each audit record to syslog (AUTHPRIV).", "0"),
    "PROXMOX_MCP_AUDIT_MAX_BYTES": ("Rotate the audit log at this size (bytes); the chain continues.", ""),
    "PROXMOX_MCP_APPROVALS_DIR": (
        "Directory for out-of-band approvals (mode 0700). When set, a call that needs a confirmation from a "
        "client that cannot ask its user returns an approval id for `proxmox-mcp approve ID`; unset, it is denied.",
        "",
    ),
    "PROXMOX_MCP_APPROVAL_TTL": ("Seconds a pending or granted approval stays valid.", "900"),
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


# Cluster fields that refer to a secret in a backend, and the inline field each one replaces.
REF_FIELDS: dict[str, str] = {
    "token_secret_ref": "token_secret",
    "password_ref": "password",
    "ssh_private_key_ref": "ssh private_key",
    "ssh_passphrase_ref": "ssh passphrase",
}

# A syntactically valid stand-in for an SSH client key that comes from the secret backend: the
# SSH target validation wants key text or a key file; the target is stored without either and
# the key is read on first connect (ClusterSecrets.ssh_target).
_KEY_FROM_BACKEND = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n(from the secret backend)\n-----END OPENSSH PRIVATE KEY-----\n"
)


def auth_problems(raw: Mapping[str, Any]) -> list[str]:
    """Credential problems of one cluster's raw settings (checked even when other fields are invalid).

    A reference (``token_secret_ref``, ``password_ref``) counts as the secret it refers to. A
    cluster naming no token user/id nor user name but with references reads its identity from
    the backend on first use, so it has no problem here.
    """

    def has(key: str) -> bool:
        v = raw.get(key)
        if isinstance(v, SecretStr):
            v = v.get_secret_value()
        return bool(v) or bool(raw.get(f"{key}_ref"))

    if not any(raw.get(k) for k in ("token_user", "token_id", "username", "token_secret", "password")) and (
        raw.get("token_secret_ref") or raw.get("password_ref")
    ):
        return []

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
    # Secrets by reference (``backend:[path#]field``), resolved on first use; see docs/secrets.md.
    token_secret_ref: SecretRef | None = None
    password_ref: SecretRef | None = None
    ssh_private_key_ref: SecretRef | None = None
    ssh_passphrase_ref: SecretRef | None = None
    # Where this cluster's secrets live in the backend: a Vault path (``secret/proxmox/homelab``)
    # or a section of the secrets file. Expanded into the references above by load_settings.
    secret_path: str | None = None
    # Free labels (``prod``, ``lab``), shown by proxmox_cluster_list.
    tags: list[str] = Field(default_factory=list)

    _resolver: SecretResolver | None = PrivateAttr(default=None)
    _secrets: ClusterSecrets | None = PrivateAttr(default=None)
    # Field name -> where its value came from (``PROXMOX_HOST``, ``file clusters.toml`` ...); set
    # by load_settings, shown by ``proxmox-mcp config show``.
    _origin: dict[str, str] = PrivateAttr(default_factory=dict)
    # Nodes whose SSH target node discovery added (tools/clusters.py: ssh_following_discovery).
    _discovered_ssh: set[str] = PrivateAttr(default_factory=set)

    @property
    def origin(self) -> dict[str, str]:
        """Where each configured field came from (fields absent here have their default)."""
        return dict(self._origin)

    @field_validator("token_secret_ref", "password_ref", "ssh_private_key_ref", "ssh_passphrase_ref", mode="before")
    @classmethod
    def _parse_ref(cls, v: Any) -> Any:
        if isinstance(v, str):
            if not v.strip():
                return None
            return SecretRef.parse(v)
        return v

    @field_validator("secret_path")
    @classmethod
    def _secret_path_ok(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = v.strip().strip("/")
        if not v or any(ch.isspace() or ch == "#" for ch in v):
            raise ValueError("write a Vault path (e.g. secret/proxmox/homelab) or a section name of the secrets file")
        return v

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
        both = [
            f"{inline} and {ref}"
            for ref, inline in (("token_secret_ref", "token_secret"), ("password_ref", "password"))
            if getattr(self, ref) is not None and getattr(self, inline) is not None
        ]
        if both:
            raise ValueError(f"{both[0]} are both set: give the secret inline or by reference, not both")
        problems = auth_problems(self.model_dump())
        if problems:
            raise ValueError(problems[0])
        if self.tls_ca_file is not None and not self.tls_ca_file.is_file():
            raise ValueError(f"TLS CA file {str(self.tls_ca_file)!r} does not exist")
        return self

    # --- credentials ---------------------------------------------------------------------------

    @property
    def secrets(self) -> ClusterSecrets:
        """This cluster's credentials, resolved on use (see :class:`~proxmox_operator_mcp.secrets.ClusterSecrets`)."""
        cs = self._secrets
        if cs is None or cs._cluster is not self:  # a model_copy must not share its original's
            resolver = self._resolver
            if resolver is None:
                from .secrets import EnvBackend

                resolver = self._resolver = SecretResolver(EnvBackend())
            cs = self._secrets = ClusterSecrets(self, resolver)
        return cs

    def bind_resolver(self, resolver: SecretResolver) -> None:
        """Resolve this cluster's references with ``resolver`` (load_settings does this)."""
        self._resolver = resolver
        self._secrets = None

    def refs(self) -> dict[str, SecretRef]:
        """The references this cluster uses, by field name."""
        return {name: ref for name in REF_FIELDS if (ref := getattr(self, name)) is not None}

    @property
    def auth_kind(self) -> Literal["token", "ticket"]:
        """Token or ticket. For a cluster whose identity is read from the backend this is only
        known after the first request (until then: ``token`` when a token reference exists)."""
        known = self._secrets.known_identity() if self._secrets is not None else None
        if known is not None:
            return known.kind
        if self.username:
            return "ticket"
        return "token" if (self.token_secret is not None or self.token_secret_ref is not None) else "ticket"

    @property
    def auth_label(self) -> str:
        """``token root@pam!mcp``, ``ticket root@pam``, or where the identity will be read from."""
        known = self.secrets.known_identity()
        if known is not None:
            return f"{known.kind} {known.full_id}"
        return f"read from {self.secrets.source()} on first use"

    @property
    def token_userid(self) -> str | None:
        """``user@realm`` of the token (a user already containing ``@`` keeps its realm; read from
        the backend, once known, when the configuration names none)."""
        if not self.token_user:
            known = self._secrets.known_identity() if self._secrets is not None else None
            return known.userid if known is not None and known.kind == "token" else None
        return self.token_user if "@" in self.token_user else f"{self.token_user}@{self.token_realm}"

    @property
    def token_full_id(self) -> str | None:
        """``user@realm!tokenid`` (safe to show: it is not the secret)."""
        token_id = self.token_id
        if not token_id:
            known = self._secrets.known_identity() if self._secrets is not None else None
            token_id = known.token_id if known is not None else None
        if not self.token_userid or not token_id:
            return None
        return f"{self.token_userid}!{token_id}"


class Settings(BaseModel):
    """Everything the server needs, validated.

    ``resolver`` resolves the clusters' secret references; :func:`load_settings` builds it from
    the same environment (``PROXMOX_MCP_SECRET_BACKEND`` ...).
    """

    model_config = ConfigDict(extra="forbid")

    _resolver: SecretResolver | None = PrivateAttr(default=None)
    _origin: dict[str, str] = PrivateAttr(default_factory=dict)

    clusters: list[ClusterConfig] = Field(default_factory=list)
    access: AccessMode = "read-only"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    # proxmox_shell_run is absent from tools/list unless this is set (PROXMOX_MCP_ENABLE_SHELL=1).
    enable_shell: bool = False
    # Tool selection (PROXMOX_MCP_TOOLSETS / _TOOLS / _EXCLUDE_TOOLS): None = default toolsets.
    toolsets: list[str] | None = None
    tools: list[str] = Field(default_factory=list)
    exclude_tools: list[str] = Field(default_factory=list)
    source: str = "env"
    # Which configuration shape the clusters came from: native, hybrid, hybrid-json, nodes (see
    # docs/configuration.md, "Configurations of other Proxmox MCP servers").
    shape: str = "native"
    policy_file: Path | None = None
    audit_path: Path | None = None
    audit_hmac_key_ref: str | None = None
    audit_stderr: bool = False
    audit_syslog: bool = False
    audit_max_bytes: int | None = Field(None, ge=1024)
    approvals_dir: Path | None = None
    approval_ttl: float = Field(900.0, gt=0, le=86400)

    @field_validator("audit_hmac_key_ref")
    @classmethod
    def _key_ref_ok(cls, v: str | None) -> str | None:
        if v is not None:
            from .secrets.base import SecretRef

            SecretRef.parse(v)  # its ValueError says what is wrong
        return v

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

    @property
    def origin(self) -> dict[str, str]:
        """Where each top-level setting came from (absent: its default)."""
        return dict(self._origin)

    @property
    def cluster_names(self) -> list[str]:
        return [c.name for c in self.clusters]

    def access_for(self, cluster: ClusterConfig) -> AccessMode:
        return cluster.access or self.access

    @property
    def resolver(self) -> SecretResolver:
        """The secret resolver of every cluster (the env backend over ``os.environ`` when none was bound)."""
        if self._resolver is None:
            from .secrets import EnvBackend

            self.bind_resolver(SecretResolver(EnvBackend()))
        assert self._resolver is not None
        return self._resolver

    def bind_resolver(self, resolver: SecretResolver) -> None:
        """Use ``resolver`` for every cluster's secrets."""
        self._resolver = resolver
        for c in self.clusters:
            c.bind_resolver(resolver)


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


def _refs_for(raw: dict[str, Any], refs: Mapping[str, SecretRef]) -> None:
    """Add the references the cluster's identity needs (both when it names nobody: the
    identity is then read from the backend)."""
    token = bool(raw.get("token_user") or raw.get("token_id"))
    ticket = bool(raw.get("username"))
    if (token or not ticket) and "token_secret" not in raw and "token_secret_ref" not in raw:
        raw["token_secret_ref"] = refs[TOKEN_SECRET]
    if (ticket or not token) and "password" not in raw and "password_ref" not in raw:
        raw["password_ref"] = refs[PASSWORD]


_SAFETY_ENV = {
    "policy_file": "PROXMOX_MCP_POLICY_FILE",
    "audit_path": "PROXMOX_MCP_AUDIT_PATH",
    "audit_hmac_key_ref": "PROXMOX_MCP_AUDIT_HMAC_KEY_REF",
    "audit_stderr": "PROXMOX_MCP_AUDIT_STDERR",
    "audit_syslog": "PROXMOX_MCP_AUDIT_SYSLOG",
    "audit_max_bytes": "PROXMOX_MCP_AUDIT_MAX_BYTES",
    "approvals_dir": "PROXMOX_MCP_APPROVALS_DIR",
    "approval_ttl": "PROXMOX_MCP_APPROVAL_TTL",
}


def _cluster_from_env(env: Mapping[str, str], problems: list[str], backend: str = "env") -> dict[str, Any] | None:
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
    from_backend = backend != "env"
    if from_backend:
        # The secrets come from the backend, under these same names: a copy left in the
        # environment would be a second source that silently loses.
        stray = [n for n in (TOKEN_SECRET, PASSWORD, SSH_KEY, SSH_PASSPHRASE) if env.get(n, "").strip()]
        if stray:
            problems.append(
                f"{', '.join(stray)} {'is' if len(stray) == 1 else 'are'} set in the environment, but "
                f"PROXMOX_MCP_SECRET_BACKEND={backend}: the {backend} backend holds the secrets (under the same "
                f"names); unset {'it' if len(stray) == 1 else 'them'}, or use PROXMOX_MCP_SECRET_BACKEND=env"
            )
    for field_name, env_name in _ENV_FIELD.items():
        if field_name == "endpoints" or (from_backend and field_name in ("token_secret", "password")):
            continue
        val = env.get(env_name, "")
        if val != "":
            raw[field_name] = val
    refs = cluster_refs(backend, path=_vault_path(env)) if from_backend else {}
    if from_backend:
        _refs_for(raw, refs)
    tls = env.get("PROXMOX_TLS_REJECT_UNAUTHORIZED", "")
    if tls:
        raw["tls_verify"] = _truthy("PROXMOX_TLS_REJECT_UNAUTHORIZED", tls, problems)
    if any(k.startswith("PROXMOX_SHELL_SSH_") and v.strip() for k, v in env.items()):
        # Imported only when SSH is configured: keeps start-up light otherwise.
        from .transports.ssh import ssh_targets_from_env

        ssh_env: Mapping[str, str] = env
        key_from_backend = from_backend and not env.get("PROXMOX_SHELL_SSH_PRIVATE_KEY_PATH", "").strip()
        if from_backend:
            ssh_env = {k: v for k, v in env.items() if k not in (SSH_KEY, SSH_PASSPHRASE)}
            if key_from_backend:
                ssh_env[SSH_KEY] = _KEY_FROM_BACKEND
            raw["ssh_passphrase_ref"] = refs[SSH_PASSPHRASE]
        try:
            targets = ssh_targets_from_env(ssh_env, default_host=ep.host.strip("[]"))
        except ConfigError as exc:
            problems.extend(exc.problems)
        else:
            if key_from_backend:
                raw["ssh_private_key_ref"] = refs[SSH_KEY]
            raw["ssh"] = _without_placeholder(targets)
    return raw


def _without_placeholder(targets: dict[str, Any]) -> dict[str, Any]:
    import dataclasses

    return {
        node: dataclasses.replace(t, client_key=None)
        if t.client_key is not None and t.client_key.get_secret_value() == _KEY_FROM_BACKEND
        else t
        for node, t in targets.items()
    }


def _vault_path(env: Mapping[str, str]) -> str | None:
    return env.get("PROXMOX_MCP_SECRET_VAULT_PATH", "").strip().strip("/") or None


def _secrets_from_file(
    raw: dict[str, Any], label: str, backend: str, problems: list[str], vault_path: str | None = None
) -> bool:
    """Expand a file cluster's ``secret_path`` (or, with a file/Vault backend, its implicit place:
    the ``[clusters.<name>]`` section of the secrets file, ``PROXMOX_MCP_SECRET_VAULT_PATH``) into
    references for what the cluster does not give inline. Returns True when its SSH key comes
    from the backend."""
    path = raw.get("secret_path")
    if path is not None and not isinstance(path, str):
        return False  # the model reports the type
    if path is not None and backend == "env":
        problems.append(
            f"cluster {label}: secret_path needs PROXMOX_MCP_SECRET_BACKEND=file or vault "
            '(with the env backend, refer to variables with token_secret_ref = "env:NAME")'
        )
        return False
    if backend == "env":
        return raw.get("ssh_private_key_ref") is not None
    where = path.strip().strip("/") if path else None
    name = raw.get("name") if isinstance(raw.get("name"), str) else None
    refs = cluster_refs(backend, cluster=where or name, path=where or vault_path)
    api_inline = any(raw.get(k) for k in ("token_secret", "password", "token_secret_ref", "password_ref"))
    if where is not None or not api_inline:
        _refs_for(raw, refs)
    section = raw.get("ssh")
    if isinstance(section, dict):
        if "ssh_private_key_ref" not in raw and _ssh_needs_key(section):
            raw["ssh_private_key_ref"] = refs[SSH_KEY]
        if "ssh_passphrase_ref" not in raw and not section.get("passphrase"):
            raw["ssh_passphrase_ref"] = refs[SSH_PASSPHRASE]
    return raw.get("ssh_private_key_ref") is not None


def _ssh_needs_key(section: Mapping[str, Any]) -> bool:
    def has_key(t: Mapping[str, Any]) -> bool:
        return bool(t.get("private_key") or t.get("private_key_path"))

    nodes = section.get("nodes")
    if has_key(section) or not isinstance(nodes, Mapping):
        return False
    return any(isinstance(n, Mapping) and not has_key(n) for n in nodes.values())


def _ssh_from_file(raw: Any, label: str, problems: list[str], key_from_backend: bool = False) -> None:
    if not isinstance(raw, dict) or "ssh" not in raw:
        return
    section = raw.pop("ssh")
    if not isinstance(section, dict):
        problems.append(f"cluster {label}: `ssh` must be a table ([clusters.ssh])")
        return
    from .transports.ssh import ssh_targets_from_config

    if key_from_backend and _ssh_needs_key(section):
        nodes = section.get("nodes")
        section = {
            **section,
            "nodes": {
                n: t if not isinstance(t, Mapping) or t.get("private_key") or t.get("private_key_path")
                else {**t, "private_key": _KEY_FROM_BACKEND}
                for n, t in nodes.items()
            },
        }
    try:
        raw["ssh"] = _without_placeholder(ssh_targets_from_config(section, where=f"cluster {label}: ssh"))
    except ConfigError as exc:
        problems.extend(exc.problems)


def _ref_problems(cluster: ClusterConfig, backend: str, vault_path: str | None) -> list[str]:
    """References to a backend that is not configured, or to Vault without a path."""
    out = []
    no_path = False
    for name, ref in cluster.refs().items():
        if ref.backend not in (backend, "env"):
            out.append(
                f"cluster {cluster.name}: {name} = {str(ref)!r} refers to the {ref.backend} backend, but "
                f"PROXMOX_MCP_SECRET_BACKEND={backend}: set it to {ref.backend} (env: references work with "
                "every backend)"
            )
        elif ref.backend == "vault" and ref.path is None and vault_path is None and not no_path:
            no_path = True
            out.append(
                f"cluster {cluster.name}: its {REF_FIELDS[name].replace('_', ' ')} is read from Vault, but "
                "PROXMOX_MCP_SECRET_VAULT_PATH is not set: set it (e.g. secret/proxmox) or give the cluster "
                "a secret_path in the configuration file"
            )
    return out


def _check_tool_names(top: Mapping[str, Any], problems: list[str]) -> None:
    """Unknown toolset or tool names fail start-up (a typo must not silently expose or hide tools)."""
    if not any(top.get(k) for k in ("toolsets", "tools", "exclude_tools")):
        return
    from .server.filters import ToolFilter
    from .tools import TOOLSETS, all_tools

    filt = ToolFilter(
        toolsets=tuple(top["toolsets"]) if top.get("toolsets") else None,
        include=tuple(top.get("tools") or ()),
        exclude=tuple(top.get("exclude_tools") or ()),
    )
    try:
        filt.validate(TOOLSETS, (s.name for s in all_tools()))
    except ConfigError as exc:
        problems.extend(exc.problems)


# --------------------------------------------------------------------------- foreign shapes
#
# Configurations written for other Proxmox MCP servers load as they are (docs/configuration.md,
# "Configurations of other Proxmox MCP servers"). Each is translated into this project's model;
# two shapes set at once are refused, naming both, rather than guessed between.

#: Variables only our own (the TypeScript server's) environment block uses.
_NATIVE_ONLY = ("PROXMOX_API_TOKEN_USER", "PROXMOX_API_TOKEN_ID", "PROXMOX_API_TOKEN_SECRET", "PROXMOX_USERNAME")
#: The hybrid server's block (PROXMOX_HOST and PROXMOX_PASSWORD are shared with ours).
_HYBRID_MARKERS = ("PROXMOX_USER", "PROXMOX_TOKEN_ID", "PROXMOX_VERIFY_SSL")
#: The JWT/RBAC server's block.
_NODES_MARKERS = ("PROXMOX_NODES", "PROXMOX_NODE_TOKENS", "PROXMOX_TOKEN_SECRET", "VERIFY_TLS")

SHAPE_LABELS = {
    "native": "the PROXMOX_HOST/PROXMOX_API_TOKEN_* block",
    "hybrid": "the hybrid server's block (PROXMOX_USER, PROXMOX_TOKEN_ID, PROXMOX_PASSWORD)",
    "nodes": "the JWT/RBAC server's PROXMOX_NODES",
    "file": "the [[clusters]] of PROXMOX_MCP_CONFIG",
    "hybrid-json": "the hybrid server's clusters.json (PROXMOX_MCP_CONFIG)",
}


def _set(env: Mapping[str, str], *names: str) -> list[str]:
    return [n for n in names if env.get(n, "").strip()]


def env_shape(env: Mapping[str, str], problems: list[str]) -> str | None:
    """Which environment shape defines a cluster: ``native``, ``hybrid``, ``nodes`` or None.

    ``PROXMOX_PASSWORD`` is ours (ticket auth) unless ``PROXMOX_USER`` or ``PROXMOX_TOKEN_ID`` is
    set: then the block is the hybrid server's and ``PROXMOX_PASSWORD`` is its token secret.
    Two shapes at once are a problem naming both.
    """
    nodes = _set(env, "PROXMOX_NODES")
    hybrid = _set(env, "PROXMOX_USER", "PROXMOX_VERIFY_SSL") + ([] if nodes else _set(env, "PROXMOX_TOKEN_ID"))
    native = _set(env, *_NATIVE_ONLY)
    found = []
    if nodes:
        found.append(("nodes", nodes + _set(env, "PROXMOX_TOKEN_ID", "PROXMOX_TOKEN_SECRET", "PROXMOX_NODE_TOKENS")))
    if hybrid:
        found.append(("hybrid", hybrid))
    if native:
        found.append(("native", native))
    if nodes and not hybrid and not native and _set(env, "PROXMOX_HOST"):
        found.append(("native", ["PROXMOX_HOST"]))
    if len(found) > 1:
        problems.append(
            "two configuration shapes are set at once: "
            + " and ".join(f"{SHAPE_LABELS[k]} ({', '.join(v)})" for k, v in found)
            + "; keep one of them (docs/configuration.md lists each shape)"
        )
        return None
    if found:
        return found[0][0]
    if _set(env, "PROXMOX_HOST"):
        return "native"
    return None


# Hybrid variable -> our variable; their value is copied across (PROXMOX_VERIFY_SSL is converted).
_HYBRID_RENAME = {
    "PROXMOX_HOST": "PROXMOX_HOST",
    "PROXMOX_USER": "PROXMOX_API_TOKEN_USER",
    "PROXMOX_TOKEN_ID": "PROXMOX_API_TOKEN_ID",
    "PROXMOX_PASSWORD": "PROXMOX_API_TOKEN_SECRET",
    "PROXMOX_VERIFY_SSL": "PROXMOX_TLS_REJECT_UNAUTHORIZED",
}


def _hybrid_env(env: Mapping[str, str], problems: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """The hybrid block rewritten as ours, and our variable -> the hybrid variable it came from."""
    out = {k: v for k, v in env.items() if k not in _HYBRID_RENAME}
    came: dict[str, str] = {}
    user = env.get("PROXMOX_USER", "").strip()
    token_id = env.get("PROXMOX_TOKEN_ID", "").strip()
    if "!" in token_id:  # a full token id given where the name is expected: take it apart
        full_user, _, token_id = token_id.partition("!")
        user = user or full_user
    if not env.get("PROXMOX_HOST", "").strip():
        problems.append("PROXMOX_USER/PROXMOX_TOKEN_ID are set (the hybrid server's block) but PROXMOX_HOST is not")
    else:
        out["PROXMOX_HOST"] = env["PROXMOX_HOST"]
        came["PROXMOX_HOST"] = "PROXMOX_HOST"
    if user and "@" not in user:
        problems.append(f"PROXMOX_USER={user!r}: needs a realm, e.g. {user}@pam")
    pairs = (
        [("PROXMOX_API_TOKEN_USER", "PROXMOX_USER", user), ("PROXMOX_API_TOKEN_ID", "PROXMOX_TOKEN_ID", token_id),
         ("PROXMOX_API_TOKEN_SECRET", "PROXMOX_PASSWORD", env.get("PROXMOX_PASSWORD", ""))]
        if token_id
        else [("PROXMOX_USERNAME", "PROXMOX_USER", user), ("PROXMOX_PASSWORD", "PROXMOX_PASSWORD",
                                                           env.get("PROXMOX_PASSWORD", ""))]
    )
    for ours, theirs, value in pairs:
        if value:
            out[ours] = value
            came[ours] = theirs
    verify = env.get("PROXMOX_VERIFY_SSL", "").strip()
    if verify:
        if _set(env, "PROXMOX_TLS_REJECT_UNAUTHORIZED"):
            problems.append(
                "PROXMOX_VERIFY_SSL (the hybrid server's) and PROXMOX_TLS_REJECT_UNAUTHORIZED (ours) are both set; "
                "keep one of them"
            )
        out["PROXMOX_TLS_REJECT_UNAUTHORIZED"] = "1" if _truthy("PROXMOX_VERIFY_SSL", verify, problems) else "0"
        came["PROXMOX_TLS_REJECT_UNAUTHORIZED"] = "PROXMOX_VERIFY_SSL"
    return out, came


def _origin_of(raw: Mapping[str, Any], came: Mapping[str, str] | None = None) -> dict[str, str]:
    """Where each field of an env cluster came from (after a shape's renaming)."""
    came = came or {}
    names = {**_ENV_FIELD, "tls_verify": "PROXMOX_TLS_REJECT_UNAUTHORIZED", "ssh": "PROXMOX_SHELL_SSH_*"}
    out = {}
    for key in raw:
        if key == "name":
            continue
        var = names.get(key)
        if var is None:
            out[key] = "secret backend" if key.endswith("_ref") else "environment"
            continue
        out[key] = came.get(var, var)
    return out


def _split_entries(value: str) -> list[str]:
    return [e.strip() for e in value.split(",") if e.strip()]


def _clusters_from_nodes(env: Mapping[str, str], problems: list[str]) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """The JWT/RBAC server's ``PROXMOX_NODES=name:host:port,...``: one cluster per entry, each
    with its ``PROXMOX_NODE_TOKENS`` token, else the fallback ``PROXMOX_TOKEN_ID``/``_SECRET``."""
    tokens: dict[str, tuple[str, str, str]] = {}
    for entry in _split_entries(env.get("PROXMOX_NODE_TOKENS", "")):
        name, _, rest = entry.partition(":")
        full, _, secret = rest.rpartition(":")
        user, _, token_id = full.partition("!")
        if not (name and user and token_id and secret):
            problems.append(
                f"PROXMOX_NODE_TOKENS entry {name or entry!r}: use name:user@realm!tokenid:secret (secret not shown)"
            )
            continue
        tokens[name.strip()] = (user.strip(), token_id.strip(), secret.strip())
    fallback: tuple[str, str, str] | None = None
    full = env.get("PROXMOX_TOKEN_ID", "").strip()
    secret = env.get("PROXMOX_TOKEN_SECRET", "").strip()
    if full or secret:
        user, _, token_id = full.partition("!")
        if not (user and token_id and secret):
            problems.append(
                "PROXMOX_TOKEN_ID must be the full token id user@realm!name and PROXMOX_TOKEN_SECRET its secret "
                "(both set, with PROXMOX_NODES)"
            )
        else:
            fallback = (user, token_id, secret)
    verify = env.get("VERIFY_TLS", "").strip()
    tls_verify = _truthy("VERIFY_TLS", verify, problems) if verify else None
    out = []
    seen: set[str] = set()
    for entry in _split_entries(env.get("PROXMOX_NODES", "")):
        name, _, hostport = entry.partition(":")
        name = name.strip()
        if not name or not hostport:
            problems.append(f"PROXMOX_NODES entry {entry!r}: use name:host:port (e.g. pve1:10.0.0.11:8006)")
            continue
        seen.add(name)
        raw: dict[str, Any] = {"name": name}
        origin = {"endpoints": "PROXMOX_NODES"}
        try:
            ep = ApiEndpoint.parse(hostport)
            raw["endpoints"] = [{"host": ep.host, "port": ep.port}]
        except (ValueError, ValidationError) as exc:
            problems.append(f"PROXMOX_NODES entry {entry!r}: {exc if isinstance(exc, ValueError) else 'bad host'}")
            continue
        token, where = (
            (tokens[name], f"PROXMOX_NODE_TOKENS (entry {name})") if name in tokens else (fallback, "PROXMOX_TOKEN_ID")
        )
        if token is None:
            problems.append(
                f"PROXMOX_NODES entry {name!r} has no token: add {name}:user@realm!id:secret to PROXMOX_NODE_TOKENS "
                "or set PROXMOX_TOKEN_ID and PROXMOX_TOKEN_SECRET"
            )
            continue
        raw.update(token_user=token[0], token_id=token[1], token_secret=token[2])
        origin.update(token_user=where, token_id=where,
                      token_secret=where if name in tokens else "PROXMOX_TOKEN_SECRET")
        if tls_verify is not None:
            raw["tls_verify"] = tls_verify
            origin["tls_verify"] = "VERIFY_TLS"
        out.append((raw, origin))
    for name in sorted(set(tokens) - seen):
        problems.append(f"PROXMOX_NODE_TOKENS names {name!r}, which is not in PROXMOX_NODES")
    return out


_JSON_KEYS = {"url": "endpoints", "user": "token_user", "token_id": "token_id", "token_secret": "token_secret",
              "password": "password", "verify_ssl": "tls_verify", "default_node": "default_node"}


def _clusters_from_json(data: Any, label: str, problems: list[str]) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """The hybrid server's ``clusters.json``: ``{"clusters": {"NAME": {"url": "host:port", "user":
    "user@realm", "token_id": "name", "token_secret": "...", "verify_ssl": false}}}``."""
    clusters = data.get("clusters") if isinstance(data, dict) else None
    if not isinstance(clusters, dict):
        problems.append(f'{label}: expected {{"clusters": {{"NAME": {{"url": ..., ...}}}}}} (the hybrid server\'s clusters.json)')
        return []
    for key in data:
        if key != "clusters":
            problems.append(f"{label}: unknown key {key!r}")
    out = []
    for name, entry in clusters.items():
        if not isinstance(entry, dict):
            problems.append(f"{label}: cluster {name!r} must be an object")
            continue
        raw: dict[str, Any] = {"name": name}
        origin: dict[str, str] = {}
        for key, value in entry.items():
            field_name = _JSON_KEYS.get(key)
            if field_name is None:
                problems.append(f"{label}: cluster {name!r}: unknown key {key!r} (known: {', '.join(_JSON_KEYS)})")
                continue
            origin[field_name] = f"{label} ({key})"
            if key == "url":
                try:
                    ep = ApiEndpoint.parse(str(value))
                    value = [{"host": ep.host, "port": ep.port}]
                except (ValueError, ValidationError) as exc:
                    problems.append(f"{label}: cluster {name!r}: url: {exc if isinstance(exc, ValueError) else 'bad host'}")
                    continue
            elif key == "user" and "token_id" not in entry:
                field_name = "username"  # no token: the user logs in with its password
                origin["username"] = origin.pop("token_user")
            raw[field_name] = value
        out.append((raw, origin))
    return out



def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from the environment and the optional TOML file.

    Raises:
        ConfigError: listing every problem found, each with what to change.
    """
    env = os.environ if env is None else env
    problems: list[str] = []
    clusters: list[Any] = []
    source = "env"

    backend = backend_name(env)
    resolver: SecretResolver | None = None
    try:
        resolver = build_resolver(env)  # reads settings only: nothing is contacted here
    except ConfigError as exc:
        problems.extend(exc.problems)
    if backend not in ("env", "file", "vault"):
        backend = "env"  # reported by build_resolver; keep checking the rest as with env

    path = env.get("PROXMOX_MCP_CONFIG", "").strip()
    file_data: dict[str, Any] = {}
    json_clusters: list[tuple[dict[str, Any], dict[str, str]]] = []
    if path:
        source = f"file {path}"
        try:
            text = Path(path).read_text(encoding="utf-8")
            if path.endswith(".json") or text.lstrip().startswith("{"):
                import json

                try:
                    json_clusters = _clusters_from_json(json.loads(text), f"PROXMOX_MCP_CONFIG={path}", problems)
                except ValueError as exc:
                    problems.append(f"PROXMOX_MCP_CONFIG={path!r}: cannot read JSON: {exc}")
            else:
                file_data = tomllib.loads(text)
        except FileNotFoundError:
            problems.append(f"PROXMOX_MCP_CONFIG={path!r}: file not found")
        except (OSError, tomllib.TOMLDecodeError) as exc:
            problems.append(f"PROXMOX_MCP_CONFIG={path!r}: cannot read TOML: {exc}")

    shape = env_shape(env, problems)
    env_clusters: list[tuple[dict[str, Any], dict[str, str]]] = []
    if shape == "native":
        raw_env = _cluster_from_env(env, problems, backend)
        if raw_env is not None:
            env_clusters.append((raw_env, _origin_of(raw_env)))
    elif shape == "hybrid":
        translated, came = _hybrid_env(env, problems)
        raw_env = _cluster_from_env(translated, problems, backend)
        if raw_env is not None:
            env_clusters.append((raw_env, _origin_of(raw_env, came)))
    elif shape == "nodes":
        env_clusters = _clusters_from_nodes(env, problems)
    file_clusters = file_data.pop("clusters", []) if isinstance(file_data, dict) else []
    if not isinstance(file_clusters, list):
        problems.append("configuration file: `clusters` must be an array of tables ([[clusters]])")
        file_clusters = []
    file_shape = "hybrid-json" if json_clusters else "file" if file_clusters else None
    if env_clusters and file_shape is not None:
        assert shape is not None
        problems.append(
            f"both {SHAPE_LABELS[shape]} and {SHAPE_LABELS[file_shape]} define clusters: keep one of the two "
            "(put the env cluster into the file as another [[clusters]] table, or `proxmox-mcp config migrate`)"
        )

    origins: list[dict[str, str]] = []
    for i, raw in enumerate(file_clusters):
        label = raw.get("name", f"#{i + 1}") if isinstance(raw, dict) else f"#{i + 1}"
        key_from_backend = (
            _secrets_from_file(raw, label, backend, problems, _vault_path(env)) if isinstance(raw, dict) else False
        )
        origin = {k: f"file {path}" for k in raw if k != "name"} if isinstance(raw, dict) else {}
        _ssh_from_file(raw, label, problems, key_from_backend)
        try:
            clusters.append(ClusterConfig.model_validate(raw))
            origins.append(origin)
        except ValidationError as exc:
            found = _fmt_validation(f"cluster {label}: ", exc)
            if isinstance(raw, dict):
                found += [f"cluster {label}: {p}" for p in auth_problems(raw) if not any(p in f for f in found)]
            problems.extend(found)
    for raw, origin in json_clusters:
        try:
            clusters.append(ClusterConfig.model_validate(raw))
            origins.append(origin)
        except ValidationError as exc:
            found = _fmt_validation(f"cluster {raw.get('name')}: ", exc)
            found += [f"cluster {raw.get('name')}: {p}" for p in auth_problems(raw) if not any(p in f for f in found)]
            problems.extend(found)
    if env_clusters and file_shape is None:
        for raw, origin in env_clusters:
            prefix = "" if shape != "nodes" else f"PROXMOX_NODES entry {raw.get('name')}: "
            try:
                clusters.append(ClusterConfig.model_validate(raw))
                origins.append(origin)
            except ValidationError as exc:
                found = _fmt_validation(prefix, exc, _ENV_FIELD if shape == "native" else None)
                found += [prefix + p for p in auth_problems(raw) if not any(p in f for f in found)]
                problems.extend(found)

    top: dict[str, Any] = {"source": source, "shape": file_shape or shape or "native"}
    top_origin: dict[str, str] = {}
    for key in ("access", "log_level", "enable_shell", "toolsets", "tools", "exclude_tools", *_SAFETY_ENV):
        if key in file_data:
            top[key] = file_data.pop(key)
            top_origin[key] = f"file {path}"
    for key in list(file_data):
        problems.append(f"configuration file: unknown key {key!r}")
    if env.get("PROXMOX_MCP_ACCESS"):
        top["access"] = env["PROXMOX_MCP_ACCESS"].strip()
        top_origin["access"] = "PROXMOX_MCP_ACCESS"
    if env.get("PROXMOX_MCP_LOG_LEVEL"):
        top["log_level"] = env["PROXMOX_MCP_LOG_LEVEL"].strip().upper()
        top_origin["log_level"] = "PROXMOX_MCP_LOG_LEVEL"
    if env.get("PROXMOX_MCP_ENABLE_SHELL"):
        top["enable_shell"] = _truthy("PROXMOX_MCP_ENABLE_SHELL", env["PROXMOX_MCP_ENABLE_SHELL"], problems)
    for key, env_name in (("toolsets", "PROXMOX_MCP_TOOLSETS"), ("tools", "PROXMOX_MCP_TOOLS"),
                          ("exclude_tools", "PROXMOX_MCP_EXCLUDE_TOOLS")):
        if env.get(env_name, "").strip():
            top[key] = [n.strip() for n in env[env_name].split(",") if n.strip()]
    _check_tool_names(top, problems)
    for key, env_name in _SAFETY_ENV.items():
        raw = env.get(env_name, "").strip()
        if raw:
            top[key] = _truthy(env_name, raw, problems) if key in ("audit_stderr", "audit_syslog") else raw
    if top.get("policy_file"):
        # a broken policy stops the server at start-up, with every problem listed
        from .policy.rules import load_policy

        try:
            load_policy(top["policy_file"])
        except ConfigError as exc:
            problems.extend(exc.problems)

    for c in clusters:
        problems.extend(p for p in _ref_problems(c, backend, _vault_path(env)) if p not in problems)

    settings: Settings | None = None
    try:
        settings = Settings.model_validate({**top, "clusters": clusters})
    except ValidationError as exc:
        problems.extend(
            _fmt_validation(
                "", exc, {"access": "PROXMOX_MCP_ACCESS", "log_level": "PROXMOX_MCP_LOG_LEVEL", **_SAFETY_ENV}
            )
        )
    if problems:
        raise ConfigError(problems, hint="See `proxmox-mcp doctor` and docs/configuration.md.")
    assert settings is not None and resolver is not None
    settings.bind_resolver(resolver)
    settings._origin = top_origin
    for c, origin in zip(settings.clusters, origins, strict=True):
        c._origin = origin
    return settings
