"""Settings of the remote mode: transport, HTTP listener, bearer auth, edge protections.

Read from ``PROXMOX_MCP_*`` environment variables (pydantic-settings). Every problem found is
reported at once as :class:`~proxmox_operator_mcp.errors.ConfigError`, named by its variable,
so an operator fixes the whole configuration in one pass::

    http = load_http_settings()            # os.environ
    http = load_http_settings({"PROXMOX_MCP_MODE": "http", ...})   # an explicit mapping

Lists are comma-separated (``PROXMOX_MCP_ALLOWED_HOSTS=mcp.example.com,mcp.example.com:*``).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from ..errors import ConfigError
from .auth import Role

__all__ = [
    "ALLOWED_ALGORITHMS",
    "DEFAULT_ALGORITHMS",
    "HTTP_ENV_REFERENCE",
    "OPS_PATHS",
    "AuthMode",
    "HttpSettings",
    "StaticToken",
    "TransportMode",
    "is_loopback_host",
    "load_http_settings",
]

TransportMode = Literal["stdio", "http", "both"]
AuthMode = Literal["none", "oidc", "static"]

# Asymmetric algorithms only: "none" and HS* (a shared secret, and the classic key-confusion
# attack with a public key used as the HMAC secret) are never accepted.
ALLOWED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
DEFAULT_ALGORITHMS = ("RS256", "ES256", "PS256", "EdDSA")

# Served by us, outside MCP: never usable as the MCP path.
OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

_SCOPE_RE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]{1,128}$")  # RFC 6749 scope-token
_SHA256_RE = re.compile(r"^(?:sha256:)?([0-9a-fA-F]{64})$")
_TOKEN_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,63}$")
_HOST_PATTERN_RE = re.compile(
    r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9*](?:[A-Za-z0-9.\-]*[A-Za-z0-9])?)(?::(?:\d{1,5}|\*))?$"
)

# Documented environment variables: name -> (meaning, default). The lead's scripts/gen_docs.py
# can render these next to config.ENV_REFERENCE.
HTTP_ENV_REFERENCE: dict[str, tuple[str, str]] = {
    "PROXMOX_MCP_MODE": (
        "Transport: `stdio`, `http` (streamable HTTP) or `both`. `serve --transport` overrides it.",
        "stdio",
    ),
    "PROXMOX_MCP_HTTP_HOST": ("Address the HTTP listener binds to.", "127.0.0.1"),
    "PROXMOX_MCP_HTTP_PORT": ("Port of the HTTP listener (`0`: any free port).", "8000"),
    "PROXMOX_MCP_HTTP_PATH": ("Path of the streamable HTTP endpoint.", "/mcp"),
    "PROXMOX_MCP_HTTP_STATELESS": (
        "`1`: no sessions, each request stands alone (replicas behind a load balancer).",
        "0",
    ),
    "PROXMOX_MCP_HTTP_SSE": (
        "`1`: also serve the legacy SSE transport at `/sse` (stateful mode only).",
        "1 when stateful",
    ),
    "PROXMOX_MCP_HTTP_PUBLIC_BASE_URL": (
        "External URL clients use (behind a reverse proxy), e.g. `https://mcp.example.com`; "
        "the resource URL is this plus the path.",
        "",
    ),
    "PROXMOX_MCP_HTTP_MAX_BODY_BYTES": ("Largest request body accepted (413 above).", "1048576"),
    "PROXMOX_MCP_HTTP_MAX_SESSIONS": ("Most open MCP sessions (503 above).", "1000"),
    "PROXMOX_MCP_HTTP_SESSION_IDLE_TIMEOUT": ("Seconds an idle session is kept.", "1800"),
    "PROXMOX_MCP_ALLOWED_HOSTS": (
        "Host header values accepted (DNS-rebinding protection), comma-separated; `host:*` allows any port. "
        "Also read from `MCP_ALLOWED_HOSTS`.",
        "loopback names, plus the public base URL's host",
    ),
    "PROXMOX_MCP_ALLOWED_ORIGINS": (
        "Origin header values accepted, comma-separated; `scheme://host:*` allows any port.",
        "loopback origins, plus the public base URL's origin",
    ),
    "PROXMOX_MCP_TRUSTED_PROXIES": (
        "Addresses or networks whose X-Forwarded-For/-Proto headers are believed, comma-separated.",
        "",
    ),
    "PROXMOX_MCP_ALLOW_INSECURE_HTTP": ("`1`: allow a non-loopback bind with auth `none` (logs a loud warning).", "0"),
    "PROXMOX_MCP_RATE_LIMIT_PER_MINUTE": (
        "Requests per minute per principal (or client address before auth); `0` turns it off.",
        "600",
    ),
    "PROXMOX_MCP_RATE_LIMIT_BURST": ("Requests a principal may make at once above the steady rate.", "60"),
    "PROXMOX_MCP_METRICS_PORT": (
        "Serve `/metrics` without auth on this separate port instead of the main one "
        "(where it needs the metrics or admin scope).",
        "",
    ),
    "PROXMOX_MCP_METRICS_HOST": ("Address of the separate metrics listener.", "PROXMOX_MCP_HTTP_HOST"),
    "PROXMOX_MCP_AUTH_MODE": (
        "Bearer auth: `none`, `oidc` (JWTs from an identity provider) or `static` (hashed tokens).",
        "none",
    ),
    "PROXMOX_MCP_OIDC_ISSUER": ("Issuer URL, exactly as in the tokens' `iss`.", ""),
    "PROXMOX_MCP_OIDC_AUDIENCE": ("Accepted `aud` values, comma-separated.", "the resource URL"),
    "PROXMOX_MCP_OIDC_JWKS_URL": ("JWKS URL.", "discovered from the issuer"),
    "PROXMOX_MCP_OIDC_ALGORITHMS": ("Accepted signature algorithms (asymmetric only).", ",".join(DEFAULT_ALGORITHMS)),
    "PROXMOX_MCP_OIDC_LEEWAY": ("Clock skew tolerated on `exp`, `nbf`, `iat`, in seconds.", "30"),
    "PROXMOX_MCP_OIDC_JWKS_CACHE_SECONDS": ("How long fetched signing keys are used before a refetch.", "3600"),
    "PROXMOX_MCP_OIDC_JWKS_REFRESH_COOLDOWN": ("Least seconds between refetches caused by an unknown `kid`.", "30"),
    "PROXMOX_MCP_OIDC_HTTP_TIMEOUT": ("Seconds to wait for discovery and JWKS answers.", "5"),
    "PROXMOX_MCP_OIDC_CA_FILE": ("PEM bundle to verify the identity provider's certificate.", "system CAs"),
    "PROXMOX_MCP_OIDC_ROLE_CLAIM": (
        "Claim (dotted path, e.g. `realm_access.roles`) whose values map to a role.",
        "groups",
    ),
    "PROXMOX_MCP_OIDC_ROLE_MAP": (
        "`value=role` pairs, comma-separated, roles `admin`, `operator`, `read-only`, `none`; `*` matches "
        "anything, e.g. `admins=admin,ops=operator,*=read-only`. Unset: scopes alone decide.",
        "",
    ),
    "PROXMOX_MCP_SCOPE_READ": ("Scope of read tools (every request needs it).", "pve.read"),
    "PROXMOX_MCP_SCOPE_WRITE": ("Scope of mutating tools.", "pve.write"),
    "PROXMOX_MCP_SCOPE_ADMIN": ("Scope of escape hatches (raw API call, CLI, shell, files on a node).", "pve.admin"),
    "PROXMOX_MCP_SCOPE_METRICS": (
        "Scope that may read `/metrics` on the main port (the admin scope may too).",
        "pve.metrics",
    ),
    "PROXMOX_MCP_STATIC_TOKENS": (
        "Static bearer tokens as `name:sha256hex:scope scope`, separated by `;` or newlines. "
        "Only hashes: `printf %s TOKEN | sha256sum`.",
        "",
    ),
    "PROXMOX_MCP_STATIC_TOKENS_FILE": ("File with one static token entry per line (same form; `#` comments).", ""),
}


def is_loopback_host(host: str) -> bool:
    """Whether binding to ``host`` keeps the listener on this machine."""
    h = host.strip().strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def _split(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in re.split(r"[,\s]+", value) if part.strip()]
    return value


CommaList = Annotated[list[str], NoDecode]


class StaticToken(BaseModel):
    """One static bearer token: a name (the principal), the SHA-256 of the token, its scopes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    sha256: str
    scopes: tuple[str, ...]

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not _TOKEN_NAME_RE.match(v):
            raise ValueError(f"token name {v!r}: use letters, digits, '.', '_', '@', '-' (at most 64)")
        return v

    @field_validator("sha256")
    @classmethod
    def _hash_ok(cls, v: str) -> str:
        m = _SHA256_RE.match(v.strip())
        if not m:
            raise ValueError(
                'must be the SHA-256 of the token as 64 hex digits (printf %s "$TOKEN" | sha256sum), never the token'
            )
        return m.group(1).lower()

    @field_validator("scopes")
    @classmethod
    def _scopes_ok(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [s for s in v if not _SCOPE_RE.match(s)]
        if bad:
            raise ValueError(f"invalid scope names: {', '.join(map(repr, bad))}")
        return v

    @classmethod
    def parse(cls, entry: str) -> StaticToken:
        """Parse ``name:sha256hex:scope scope`` (scopes separated by spaces or commas).

        Raises:
            ValueError: the entry is not in that form.
        """
        parts = entry.strip().split(":")
        if len(parts) == 4 and parts[1].lower() == "sha256":  # name:sha256:<hex>:scopes
            parts = [parts[0], f"sha256:{parts[2]}", parts[3]]
        if len(parts) != 3:
            raise ValueError("write each static token as name:sha256hex:scope1 scope2")
        name, digest, scopes = parts
        return cls(name=name.strip(), sha256=digest.strip(), scopes=tuple(s for s in re.split(r"[\s,]+", scopes) if s))


def _parse_static_tokens(text: str) -> list[StaticToken]:
    out = []
    for n, raw in enumerate(re.split(r"[;\n]", text), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            out.append(StaticToken.parse(line))
        except (ValueError, ValidationError) as exc:
            msg = exc.errors(include_url=False)[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            raise ValueError(f"entry {n}: {msg.removeprefix('Value error, ')}") from None
    return out


def _check_url(name: str, value: str, problems: list[str], *, allow_path: bool = True) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(f"{name}={value!r}: must be an http(s) URL")
        return
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        problems.append(f"{name}={value!r}: must use https (plain http only for loopback addresses)")
    if parts.query or parts.fragment:
        problems.append(f"{name}={value!r}: no query or fragment")
    if not allow_path and parts.path not in ("", "/"):
        problems.append(f"{name}={value!r}: give the base URL only; the path comes from PROXMOX_MCP_HTTP_PATH")


# Set only while load_http_settings() reads an explicit mapping (see _MappingEnvSource).
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("_http_settings_environ", default=None)


class _MappingEnvSource(EnvSettingsSource):
    """The env source over an explicit mapping instead of ``os.environ``."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = _ENVIRON.get()
        if environ is None:
            return super()._load_env_vars()
        return parse_env_vars(environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


class HttpSettings(BaseSettings):
    """Remote-mode settings. Build with :func:`load_http_settings` (errors as ``ConfigError``)."""

    model_config = SettingsConfigDict(
        env_prefix="PROXMOX_MCP_",
        case_sensitive=False,
        extra="ignore",
        frozen=True,
        env_ignore_empty=True,
        env_file=None,
    )

    mode: TransportMode = "stdio"
    http_host: str = "127.0.0.1"
    http_port: int = Field(8000, ge=0, le=65535)
    http_path: str = "/mcp"
    http_stateless: bool = False
    http_sse: bool | None = None
    http_public_base_url: str | None = None
    http_max_body_bytes: int = Field(1024 * 1024, ge=4096, le=64 * 1024 * 1024)
    http_max_sessions: int = Field(1000, ge=1, le=1_000_000)
    http_session_idle_timeout: float = Field(1800.0, gt=0, le=7 * 24 * 3600)
    allowed_hosts: CommaList = Field(
        default_factory=list, validation_alias=AliasChoices("PROXMOX_MCP_ALLOWED_HOSTS", "MCP_ALLOWED_HOSTS")
    )
    allowed_origins: CommaList = Field(default_factory=list)
    trusted_proxies: CommaList = Field(default_factory=list)
    allow_insecure_http: bool = False
    rate_limit_per_minute: int = Field(600, ge=0, le=1_000_000)
    rate_limit_burst: int = Field(60, ge=1, le=1_000_000)
    metrics_port: int | None = Field(None, ge=0, le=65535)
    metrics_host: str | None = None

    auth_mode: AuthMode = "none"
    oidc_issuer: str | None = None
    oidc_audience: CommaList = Field(default_factory=list)
    oidc_jwks_url: str | None = None
    oidc_algorithms: CommaList = Field(default_factory=lambda: list(DEFAULT_ALGORITHMS))
    oidc_leeway: float = Field(30.0, ge=0, le=300)
    oidc_jwks_cache_seconds: float = Field(3600.0, ge=0, le=7 * 24 * 3600)
    oidc_jwks_refresh_cooldown: float = Field(30.0, ge=0, le=3600)
    oidc_http_timeout: float = Field(5.0, gt=0, le=60)
    oidc_ca_file: Path | None = None
    oidc_role_claim: str = "groups"
    oidc_role_map: Annotated[dict[str, Role], NoDecode] = Field(default_factory=dict)
    scope_read: str = "pve.read"
    scope_write: str = "pve.write"
    scope_admin: str = "pve.admin"
    scope_metrics: str = "pve.metrics"
    static_tokens: Annotated[list[StaticToken], NoDecode] = Field(default_factory=list)
    static_tokens_file: Path | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, _MappingEnvSource(settings_cls))

    # --- field parsing ------------------------------------------------------------------------

    @field_validator(
        "allowed_hosts", "allowed_origins", "trusted_proxies", "oidc_audience", "oidc_algorithms", mode="before"
    )
    @classmethod
    def _comma_list(cls, v: Any) -> Any:
        return _split(v)

    @field_validator("mode", "auth_mode", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("http_path")
    @classmethod
    def _path_ok(cls, v: str) -> str:
        if not re.match(r"^/[A-Za-z0-9._~\-/]*$", v) or v == "/" or "//" in v or v.endswith("/"):
            raise ValueError("must be a path like /mcp (no trailing slash, query or spaces)")
        if v in OPS_PATHS or v.startswith(("/sse", "/messages", "/.well-known")):
            raise ValueError(f"{v} is reserved (health, metrics, legacy SSE or well-known endpoints)")
        return v

    @field_validator("http_host", "metrics_host")
    @classmethod
    def _bind_ok(cls, v: str | None) -> str | None:
        if v is None:
            return v
        v = v.strip()
        try:
            ipaddress.ip_address(v.strip("[]"))
            return v.strip("[]")
        except ValueError:
            pass
        if v == "localhost" or re.match(r"^[A-Za-z0-9](?:[A-Za-z0-9.\-]*[A-Za-z0-9])?$", v):
            return v
        raise ValueError(f"{v!r} is not an address to bind to")

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts_ok(cls, v: list[str]) -> list[str]:
        bad = [h for h in v if not _HOST_PATTERN_RE.match(h)]
        if bad:
            raise ValueError(f"not host or host:port values: {', '.join(map(repr, bad))} (use host:* for any port)")
        return v

    @field_validator("allowed_origins")
    @classmethod
    def _origins_ok(cls, v: list[str]) -> list[str]:
        bad = [o for o in v if not re.match(r"^https?://[^/\s]+$", o)]
        if bad:
            raise ValueError(f"not origins (scheme://host[:port], no path): {', '.join(map(repr, bad))}")
        return v

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_ok(cls, v: list[str]) -> list[str]:
        bad = []
        for item in v:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                bad.append(item)
        if bad:
            raise ValueError(f"not IP addresses or networks: {', '.join(map(repr, bad))}")
        return v

    @field_validator("oidc_algorithms")
    @classmethod
    def _algs_ok(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if a not in ALLOWED_ALGORITHMS]
        if bad:
            raise ValueError(
                f"{', '.join(bad)} not accepted: only asymmetric algorithms "
                f"({', '.join(sorted(ALLOWED_ALGORITHMS))}), never none or HS*"
            )
        if not v:
            raise ValueError("give at least one algorithm")
        return v

    @field_validator("oidc_role_map", mode="before")
    @classmethod
    def _role_map(cls, v: Any) -> Any:
        if not isinstance(v, str):
            return v
        out: dict[str, str] = {}
        for pair in (p.strip() for p in v.split(",")):
            if not pair:
                continue
            key, sep, role = pair.rpartition("=")
            if not sep or not key.strip():
                raise ValueError(f"{pair!r}: write value=role, e.g. admins=admin")
            out[key.strip()] = role.strip()
        return out

    @field_validator("scope_read", "scope_write", "scope_admin", "scope_metrics")
    @classmethod
    def _scope_ok(cls, v: str) -> str:
        if not _SCOPE_RE.match(v):
            raise ValueError(f"{v!r} is not a scope name (printable, no spaces or quotes)")
        return v

    @field_validator("static_tokens", mode="before")
    @classmethod
    def _static(cls, v: Any) -> Any:
        return _parse_static_tokens(v) if isinstance(v, str) else v

    @field_validator("oidc_ca_file")
    @classmethod
    def _ca_ok(cls, v: Path | None) -> Path | None:
        if v is not None and not v.is_file():
            raise ValueError(f"{str(v)!r} does not exist")
        return v

    # --- derived ------------------------------------------------------------------------------

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.http_host)

    @property
    def sse_enabled(self) -> bool:
        return (not self.http_stateless) if self.http_sse is None else self.http_sse

    @property
    def scopes(self) -> tuple[str, str, str]:
        """(read, write, admin) scope names."""
        return (self.scope_read, self.scope_write, self.scope_admin)

    @property
    def base_url(self) -> str:
        """The URL clients reach us at: the public base URL, else the bound address."""
        if self.http_public_base_url:
            return self.http_public_base_url.rstrip("/")
        host = self.http_host
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.http_port}"

    @property
    def resource_url(self) -> str:
        """RFC 8707/9728 resource identifier of the MCP endpoint."""
        return self.base_url + self.http_path

    @property
    def audiences(self) -> list[str]:
        return list(self.oidc_audience) or [self.resource_url]

    @property
    def effective_allowed_hosts(self) -> list[str]:
        hosts = list(self.allowed_hosts)
        if self.is_loopback or not hosts:
            hosts += ["127.0.0.1:*", "localhost:*", "[::1]:*"]
        if self.http_public_base_url:
            parts = urlsplit(self.http_public_base_url)
            netloc = parts.netloc.lower()
            hosts.append(netloc)
            if parts.port is None:  # some clients send the default port explicitly
                hosts.append(f"{netloc}:{443 if parts.scheme == 'https' else 80}")
        return list(dict.fromkeys(hosts))

    @property
    def effective_allowed_origins(self) -> list[str]:
        origins = list(self.allowed_origins)
        if self.is_loopback or not origins:
            origins += ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
        if self.http_public_base_url:
            parts = urlsplit(self.http_public_base_url)
            origins.append(f"{parts.scheme}://{parts.netloc.lower()}")
        return list(dict.fromkeys(origins))

    def with_port(self, port: int) -> HttpSettings:
        """A copy bound to ``port`` (after binding port 0)."""
        return self.model_copy(update={"http_port": port})

    # --- checks across fields -----------------------------------------------------------------

    def problems(self) -> list[str]:
        """Problems that involve several settings, one line each (empty when consistent)."""
        p: list[str] = []
        serving_http = self.mode in ("http", "both")
        if self.http_public_base_url:
            _check_url("PROXMOX_MCP_HTTP_PUBLIC_BASE_URL", self.http_public_base_url, p, allow_path=False)
        if serving_http and not self.is_loopback:
            if self.auth_mode == "none" and not self.allow_insecure_http:
                p.append(
                    f"PROXMOX_MCP_HTTP_HOST={self.http_host} is not a loopback address and PROXMOX_MCP_AUTH_MODE "
                    "is none: anyone who reaches the port could operate the cluster. Set PROXMOX_MCP_AUTH_MODE=oidc "
                    "or static (or, knowingly, PROXMOX_MCP_ALLOW_INSECURE_HTTP=1)"
                )
            if not self.allowed_hosts and not self.http_public_base_url:
                p.append(
                    f"PROXMOX_MCP_HTTP_HOST={self.http_host} is not a loopback address: DNS-rebinding protection "
                    "needs the host names clients use; set PROXMOX_MCP_HTTP_PUBLIC_BASE_URL or "
                    "PROXMOX_MCP_ALLOWED_HOSTS"
                )
            if self.auth_mode == "oidc" and not self.http_public_base_url:
                p.append(
                    "PROXMOX_MCP_HTTP_PUBLIC_BASE_URL is needed with OIDC on a non-loopback address: it names this "
                    "resource in the protected-resource metadata and is the default token audience"
                )
        if self.http_stateless and self.http_sse:
            p.append("PROXMOX_MCP_HTTP_SSE=1 needs sessions: the legacy SSE transport cannot run stateless")
        if self.metrics_port is not None and self.metrics_port != 0 and self.metrics_port == self.http_port:
            p.append("PROXMOX_MCP_METRICS_PORT must differ from PROXMOX_MCP_HTTP_PORT")
        names = [self.scope_read, self.scope_write, self.scope_admin]
        if len(set(names)) != 3:
            p.append("PROXMOX_MCP_SCOPE_READ, _WRITE and _ADMIN must be three different scopes")
        if self.auth_mode == "oidc":
            if not self.oidc_issuer:
                p.append("PROXMOX_MCP_OIDC_ISSUER is required with PROXMOX_MCP_AUTH_MODE=oidc")
            else:
                _check_url("PROXMOX_MCP_OIDC_ISSUER", self.oidc_issuer, p)
            if self.oidc_jwks_url:
                _check_url("PROXMOX_MCP_OIDC_JWKS_URL", self.oidc_jwks_url, p)
        if self.auth_mode == "static" and not self.static_tokens:
            p.append(
                "PROXMOX_MCP_AUTH_MODE=static needs PROXMOX_MCP_STATIC_TOKENS or PROXMOX_MCP_STATIC_TOKENS_FILE "
                "(name:sha256hex:scopes entries)"
            )
        seen: set[str] = set()
        for t in self.static_tokens:
            if t.name in seen:
                p.append(f"static token name {t.name!r} is used twice")
            seen.add(t.name)
        if len({t.sha256 for t in self.static_tokens}) != len(self.static_tokens):
            p.append("two static tokens have the same hash")
        return p


_FIELD_ENV = {
    name: ("PROXMOX_MCP_ALLOWED_HOSTS" if name == "allowed_hosts" else f"PROXMOX_MCP_{name.upper()}")
    for name in HttpSettings.model_fields
}


def load_http_settings(env: Mapping[str, str] | None = None) -> HttpSettings:
    """Read :class:`HttpSettings` from ``env`` (default ``os.environ``) and check it whole.

    Raises:
        ConfigError: listing every problem, each named by its environment variable.
    """
    environ = dict(os.environ if env is None else env)
    problems: list[str] = []
    file_tokens: list[StaticToken] = []
    token_file = environ.get("PROXMOX_MCP_STATIC_TOKENS_FILE", "").strip()
    if token_file:
        try:
            file_tokens = _parse_static_tokens(Path(token_file).read_text(encoding="utf-8"))
        except OSError as exc:
            problems.append(f"PROXMOX_MCP_STATIC_TOKENS_FILE={token_file!r}: cannot read: {exc.strerror or exc}")
        except ValueError as exc:
            problems.append(f"PROXMOX_MCP_STATIC_TOKENS_FILE={token_file!r}: {exc}")

    reset = _ENVIRON.set(environ)
    try:
        settings = HttpSettings()
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_input=False):
            field = str(err["loc"][0]) if err["loc"] else ""
            name = _FIELD_ENV.get(field, field)
            msg = err["msg"].removeprefix("Value error, ")
            value = environ.get(name)
            shown = f"={value!r}" if value is not None and "TOKEN" not in name else ""
            problems.append(f"{name}{shown}: {msg}")
        raise ConfigError(problems, hint="See docs/deployment.md for the remote mode settings.") from None
    finally:
        _ENVIRON.reset(reset)

    if file_tokens:
        settings = settings.model_copy(update={"static_tokens": [*settings.static_tokens, *file_tokens]})
    problems.extend(settings.problems())
    if problems:
        raise ConfigError(problems, hint="See docs/deployment.md for the remote mode settings.")
    return settings
