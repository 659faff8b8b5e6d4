"""Secrets from HashiCorp Vault or OpenBao (KV v2 or v1), with token, AppRole or Kubernetes auth.

The secret at ``PROXMOX_MCP_SECRET_VAULT_PATH`` (``<mount>/<path>``, e.g. ``secret/proxmox``;
the server adds KV v2's ``data/`` itself) holds fields named like the environment variables
they replace (``PROXMOX_API_TOKEN_SECRET``, ``PROXMOX_SHELL_SSH_PRIVATE_KEY`` …). The KV
version and mount are found once per mount through ``sys/internal/ui/mounts/<path>`` (or given
with ``PROXMOX_MCP_SECRET_VAULT_KV_VERSION`` / ``_MOUNT``).

Every hvac call runs in a worker thread (``anyio.to_thread``) and under one lock, so the event
loop never blocks and the token is never swapped under a running request. hvac is imported on
first use only: with requests it costs ~0.3 s, which a server that does not use Vault must not pay.

The token is renewed at about 2/3 of its TTL (by ``running()``'s background task, or inline by
the next read); when renewal fails, is refused, or is capped by the token's max TTL, an AppRole
or Kubernetes login replaces it. A 403 is told apart from a dead token by ``lookup-self``: a
dead token leads to a new login (AppRole, Kubernetes) or a clear error (static token); a live
one means a policy denial, reported with the path and the missing capability.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio
import anyio.to_thread
from pydantic import SecretStr

from ..errors import SecretError
from .base import SecretNotFound, SecretRef
from .redact import REDACTOR, Redactor

if TYPE_CHECKING:
    import hvac

__all__ = ["K8S_JWT_PATH", "VaultAuth", "VaultBackend", "VaultSettings"]

_log = logging.getLogger(__name__)

VaultAuth = Literal["token", "approle", "kubernetes"]
K8S_JWT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"
ENV_PREFIX = "PROXMOX_MCP_SECRET_VAULT_"
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_T = TypeVar("_T")

# Documented environment variables of this backend: name -> (meaning, default).
ENV_REFERENCE: dict[str, tuple[str, str]] = {
    "PROXMOX_MCP_SECRET_VAULT_ADDR": ("Vault/OpenBao address, e.g. `https://vault.example.com:8200`.", ""),
    "PROXMOX_MCP_SECRET_VAULT_PATH": (
        "Default secret as `<mount>/<path>` (e.g. `secret/proxmox`; KV v2's `data/` is added by the server).",
        "",
    ),
    "PROXMOX_MCP_SECRET_VAULT_AUTH": (
        "`token`, `approle` or `kubernetes` (default: approle when a role id is set, kubernetes when a "
        "Kubernetes role is set, else token).",
        "token",
    ),
    "PROXMOX_MCP_SECRET_VAULT_TOKEN_ENV": ("Name of the variable holding the Vault token (token auth).", "VAULT_TOKEN"),
    "PROXMOX_MCP_SECRET_VAULT_ROLE_ID": ("AppRole role_id.", ""),
    "PROXMOX_MCP_SECRET_VAULT_ROLE_ID_FILE": ("File holding the AppRole role_id (read at each login).", ""),
    "PROXMOX_MCP_SECRET_VAULT_SECRET_ID": ("AppRole secret_id.", ""),
    "PROXMOX_MCP_SECRET_VAULT_SECRET_ID_FILE": ("File holding the AppRole secret_id (read at each login).", ""),
    "PROXMOX_MCP_SECRET_VAULT_APPROLE_MOUNT": ("Mount of the AppRole auth method.", "approle"),
    "PROXMOX_MCP_SECRET_VAULT_K8S_ROLE": ("Vault role for Kubernetes auth.", ""),
    "PROXMOX_MCP_SECRET_VAULT_K8S_JWT_FILE": ("Service-account token file (read at each login).", K8S_JWT_PATH),
    "PROXMOX_MCP_SECRET_VAULT_K8S_MOUNT": ("Mount of the Kubernetes auth method.", "kubernetes"),
    "PROXMOX_MCP_SECRET_VAULT_CA_FILE": ("PEM file of the CA that signed Vault's TLS certificate.", ""),
    "PROXMOX_MCP_SECRET_VAULT_MOUNT": (
        "KV mount, when it cannot be detected (the token may not read sys/internal/ui/mounts).",
        "",
    ),
    "PROXMOX_MCP_SECRET_VAULT_KV_VERSION": ("`1` or `2`, when it cannot be detected.", ""),
    "PROXMOX_MCP_SECRET_VAULT_TIMEOUT": ("Seconds to wait for Vault.", "5"),
}


@dataclass(frozen=True, slots=True)
class VaultSettings:
    """Validated settings of the Vault backend (see :data:`ENV_REFERENCE`)."""

    addr: str
    default_path: str | None = None
    auth: VaultAuth = "token"
    token_env: str = "VAULT_TOKEN"
    role_id: str | None = None
    role_id_file: Path | None = None
    secret_id: SecretStr | None = field(default=None, repr=False)
    secret_id_file: Path | None = None
    approle_mount: str = "approle"
    k8s_role: str | None = None
    k8s_jwt_file: Path = Path(K8S_JWT_PATH)
    k8s_mount: str = "kubernetes"
    ca_file: Path | None = None
    mount: str | None = None
    kv_version: int | None = None
    timeout: float = 5.0
    cache_ttl: float = 300.0

    @classmethod
    def from_env(cls, env: Mapping[str, str], problems: list[str], *, cache_ttl: float = 300.0) -> VaultSettings | None:
        """Read ``PROXMOX_MCP_SECRET_VAULT_*``; append every problem to ``problems``."""

        def get(name: str) -> str:
            return env.get(ENV_PREFIX + name, "").strip()

        n_before = len(problems)
        addr = get("ADDR").rstrip("/")
        if not addr:
            problems.append(f"{ENV_PREFIX}ADDR is not set: give Vault's address, e.g. https://vault.example.com:8200")
        elif not re.match(r"^https?://[^/\s]+$", addr):
            problems.append(f"{ENV_PREFIX}ADDR={addr!r}: write http(s)://host:port (no path)")
        path = get("PATH").strip("/") or None
        if path is not None and "/" not in path:
            problems.append(f"{ENV_PREFIX}PATH={path!r}: write <mount>/<path>, e.g. secret/proxmox")

        auth = get("AUTH").lower()
        if not auth:
            auth = "approle" if get("ROLE_ID") or get("ROLE_ID_FILE") else "kubernetes" if get("K8S_ROLE") else "token"
        if auth not in ("token", "approle", "kubernetes"):
            problems.append(f"{ENV_PREFIX}AUTH={auth!r}: use token, approle or kubernetes")
            auth = "token"

        token_env = get("TOKEN_ENV") or "VAULT_TOKEN"
        if not _ENV_NAME_RE.match(token_env):
            problems.append(f"{ENV_PREFIX}TOKEN_ENV={token_env!r}: must be the name of an environment variable")
        elif auth == "token" and not env.get(token_env, "").strip():
            problems.append(
                f"Vault token auth needs a token in {token_env}"
                + ("" if get("TOKEN_ENV") else f" (or name another variable in {ENV_PREFIX}TOKEN_ENV)")
                + f", or choose AppRole/Kubernetes auth with {ENV_PREFIX}AUTH"
            )

        def file_opt(name: str) -> Path | None:
            value = get(name)
            if not value:
                return None
            p = Path(value)
            if not p.is_file():
                problems.append(f"{ENV_PREFIX}{name}={value!r}: file not found")
            return p

        role_id = get("ROLE_ID") or None
        role_id_file = file_opt("ROLE_ID_FILE")
        secret_id_raw = env.get(ENV_PREFIX + "SECRET_ID", "").strip()
        secret_id_file = file_opt("SECRET_ID_FILE")
        if auth == "approle":
            if not role_id and role_id_file is None:
                problems.append(f"AppRole auth needs {ENV_PREFIX}ROLE_ID or {ENV_PREFIX}ROLE_ID_FILE")
            if role_id and role_id_file is not None:
                problems.append(f"set only one of {ENV_PREFIX}ROLE_ID and {ENV_PREFIX}ROLE_ID_FILE")
            if secret_id_raw and secret_id_file is not None:
                problems.append(f"set only one of {ENV_PREFIX}SECRET_ID and {ENV_PREFIX}SECRET_ID_FILE")

        k8s_role = get("K8S_ROLE") or None
        k8s_jwt_file = Path(get("K8S_JWT_FILE") or K8S_JWT_PATH)
        if auth == "kubernetes":
            if not k8s_role:
                problems.append(
                    f"Kubernetes auth needs {ENV_PREFIX}K8S_ROLE (the Vault role bound to this service account)"
                )
            if not k8s_jwt_file.is_file():
                problems.append(
                    f"Kubernetes auth: service-account token {k8s_jwt_file} not found (not in a pod? set "
                    f"{ENV_PREFIX}K8S_JWT_FILE)"
                )

        ca_file = file_opt("CA_FILE")
        mount = get("MOUNT").strip("/") or None
        if mount and path and not path.startswith(mount + "/"):
            problems.append(f"{ENV_PREFIX}PATH={path!r} is not below {ENV_PREFIX}MOUNT={mount!r}")
        kv_version: int | None = None
        if get("KV_VERSION"):
            if get("KV_VERSION") in ("1", "2"):
                kv_version = int(get("KV_VERSION"))
            else:
                problems.append(f"{ENV_PREFIX}KV_VERSION={get('KV_VERSION')!r}: use 1 or 2")
        timeout = 5.0
        if get("TIMEOUT"):
            try:
                timeout = float(get("TIMEOUT"))
                if not 0 < timeout <= 300:
                    raise ValueError
            except ValueError:
                problems.append(f"{ENV_PREFIX}TIMEOUT={get('TIMEOUT')!r}: seconds, more than 0 and at most 300")
                timeout = 5.0

        if len(problems) > n_before:
            return None
        return cls(
            addr=addr,
            default_path=path,
            auth=auth,  # type: ignore[arg-type]
            token_env=token_env,
            role_id=role_id,
            role_id_file=role_id_file,
            secret_id=SecretStr(secret_id_raw) if secret_id_raw else None,
            secret_id_file=secret_id_file,
            approle_mount=get("APPROLE_MOUNT").strip("/") or "approle",
            k8s_role=k8s_role,
            k8s_jwt_file=k8s_jwt_file,
            k8s_mount=get("K8S_MOUNT").strip("/") or "kubernetes",
            ca_file=ca_file,
            mount=mount,
            kv_version=kv_version,
            timeout=timeout,
            cache_ttl=cache_ttl,
        )


class _TokenRejected(Exception):
    """Vault refused the token itself (expired, revoked, unknown)."""


class _Denied(Exception):
    """Vault refused an operation to a valid token (policy)."""

    def __init__(self, policies: tuple[str, ...]) -> None:
        super().__init__("denied")
        self.policies = policies


@dataclass(slots=True)
class _Login:
    token: str
    lease: float
    renewable: bool


class VaultBackend:
    """Reads KV secrets from Vault/OpenBao. See the module docstring for the behaviour."""

    name = "vault"

    def __init__(
        self,
        settings: VaultSettings,
        *,
        env: Mapping[str, str] | None = None,
        redactor: Redactor | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.cache_ttl = settings.cache_ttl
        self._env = os.environ if env is None else env
        self._redactor = redactor if redactor is not None else REDACTOR
        self._clock = clock
        self._client: hvac.Client | None = None
        self._lock = anyio.Lock()
        self._token: str | None = None
        self._login_lease = 0.0  # lease given at login, to notice renewals capped by max TTL
        self._expires_at: float | None = None
        self._renew_at: float | None = None
        self._renewable = False
        self._mounts: dict[str, int] = {}  # detected KV mount -> version
        self._versions: dict[str, int] = {}  # path -> last KV v2 version read
        self._wake: anyio.Event | None = None
        # hvac's and requests' exception bases, known once hvac is imported (lazily)
        self._external: tuple[type[BaseException], ...] = ()
        self.logins = 0
        self.renewals = 0
        self.last_error: str | None = None

    @property
    def _can_login(self) -> bool:
        return self.settings.auth != "token"

    # --- public protocol ------------------------------------------------------------------

    async def read(self, ref: SecretRef) -> SecretStr:
        """Raises:
        SecretError: Vault unreachable, auth failed, path denied or missing.
        SecretNotFound: the secret exists and lacks the field.
        """
        path = (ref.path or self.settings.default_path or "").strip("/")
        if not path:
            raise SecretError(
                f"no Vault path for secret {ref}",
                hint=f"set {ENV_PREFIX}PATH (e.g. secret/proxmox) or give the cluster its own secret path",
            )
        data = await self._read_secret(path)
        if ref.field not in data:
            fields = ", ".join(sorted(str(k) for k in data)) or "none"
            raise SecretNotFound(
                f"Vault secret {path} has no field {ref.field} (fields: {fields})",
                hint=f"add it, e.g. `bao kv patch {path} {ref.field}=…` (fields are named like the environment "
                "variables they replace)",
            )
        value = data[ref.field]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise SecretError(
                f"field {ref.field} of Vault secret {path} is a {type(value).__name__}, not a string",
                hint="store the secret as a plain string",
            )
        return SecretStr(str(value))

    async def describe(self) -> dict[str, Any]:
        s = self.settings
        out: dict[str, Any] = {
            "backend": self.name,
            "addr": s.addr,
            "auth": s.auth,
            "path": s.default_path,
            "ca_file": str(s.ca_file) if s.ca_file else None,
        }
        async with self._lock:
            try:
                await self._ensure_token_locked()
                info = await self._call(self._lookup_self_sync)
            except _TokenRejected:
                self._token = None
                err = self._rejected_error()
            except SecretError as exc:
                err = exc
            except self._external as exc:
                err = self._translate(exc, action="look up its token")
            else:
                ttl = int(info.get("ttl") or 0)
                out.update(
                    ok=True,
                    token_ttl=ttl if ttl > 0 else None,
                    token_renewable=bool(info.get("renewable")),
                    token_policies=sorted(info.get("policies") or []),
                    kv_mounts={m: f"v{v}" for m, v in sorted(self._mounts.items())},
                    secret_versions=dict(sorted(self._versions.items())),
                    logins=self.logins,
                    renewals=self.renewals,
                )
                if self.last_error:
                    out["last_error"] = self.last_error
                return out
        out.update(ok=False, error=err.to_text(), logins=self.logins, renewals=self.renewals)
        return out

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Renew the token in the background while the block runs."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._renewal_loop)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()

    async def aclose(self) -> None:
        """Revoke a token this backend logged in for (AppRole, Kubernetes) and close the session."""
        async with self._lock:
            client = self._client
            if client is None:
                return
            if self._can_login and self._token:
                with contextlib.suppress(*self._external):  # it expires by itself
                    await anyio.to_thread.run_sync(client.auth.token.revoke_self)
            await anyio.to_thread.run_sync(client.adapter.close)
            self._client = None
            self._token = None
            self._renew_at = self._expires_at = None

    def static_secrets(self) -> list[str]:
        """Credentials of Vault itself known before any login (the token in ``token_env``, an
        AppRole secret_id given inline), for the redactor: they must stay masked even when Vault
        is never reached."""
        s = self.settings
        out = []
        if s.auth == "token":
            out.append(self._env.get(s.token_env, "").strip())
        if s.secret_id is not None:
            out.append(s.secret_id.get_secret_value())
        return [v for v in out if v]

    async def renew_now(self) -> None:
        """Renew (or replace) the token at once, as the background task would.

        Raises:
            SecretError: the token could be neither renewed nor replaced.
        """
        async with self._lock:
            if self._token is None:
                await self._login_locked()
            else:
                await self._renew_locked()

    # --- token lifecycle (call with the lock held) -----------------------------------------

    async def _ensure_client(self) -> hvac.Client:
        if self._client is None:
            self._client = await anyio.to_thread.run_sync(self._make_client)
        return self._client

    def _make_client(self) -> hvac.Client:
        import hvac  # deliberately lazy: see the module docstring
        import requests

        self._external = (hvac.exceptions.VaultError, requests.exceptions.RequestException)
        s = self.settings
        # token="" keeps hvac from picking up VAULT_TOKEN or ~/.vault-token on its own
        return hvac.Client(url=s.addr, token="", verify=str(s.ca_file) if s.ca_file else True, timeout=s.timeout)

    async def _call(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run a blocking hvac call in a worker thread; a 403 becomes _TokenRejected or _Denied."""
        await self._ensure_client()
        return await anyio.to_thread.run_sync(functools.partial(self._guarded, fn, *args))

    def _guarded(self, fn: Callable[..., _T], *args: Any) -> _T:
        from hvac.exceptions import Forbidden

        try:
            return fn(*args)
        except Forbidden:
            assert self._client is not None
            try:
                info = self._client.auth.token.lookup_self()
            except Forbidden:
                raise _TokenRejected() from None
            raise _Denied(tuple((info.get("data") or {}).get("policies") or ())) from None

    async def _ensure_token_locked(self) -> None:
        if self._token is None:
            await self._login_locked()
        elif self._renew_at is not None and self._clock() >= self._renew_at:
            try:
                await self._renew_locked()
            except SecretError as exc:
                # Vault may be down: the token may still be good until it expires, let the call try
                self.last_error = exc.message
                if self._expires_at is not None and self._clock() >= self._expires_at:
                    raise
                self._renew_at = self._clock() + self._retry_delay()

    async def _login_locked(self) -> None:
        s = self.settings
        client = await self._ensure_client()
        try:
            login = await anyio.to_thread.run_sync(self._login_sync, client)
        except _TokenRejected:
            raise self._rejected_error() from None
        except SecretError as exc:
            self.last_error = exc.message
            raise
        except self._external as exc:
            err = self._translate(exc, action=f"log in ({s.auth} auth)", login=True)
            self.last_error = err.message
            raise err from None
        self._install(login, fresh=True)

    def _login_sync(self, client: hvac.Client) -> _Login:
        from hvac.exceptions import Forbidden

        s = self.settings
        if s.auth == "token":
            token = self._env.get(s.token_env, "").strip()
            if not token:
                raise SecretError(
                    f"Vault token auth: {s.token_env} is not set",
                    hint=f"put a Vault token in {s.token_env}, or use {ENV_PREFIX}AUTH=approle",
                )
            self._redactor.add(token)
            client.token = token
            try:
                data = client.auth.token.lookup_self()["data"]
            except Forbidden:
                raise _TokenRejected() from None
            return _Login(
                token=token,
                lease=float(data.get("ttl") or 0),
                renewable=bool(data.get("renewable")),
            )
        if s.auth == "approle":
            role_id = s.role_id or _read_small_file(s.role_id_file, f"{ENV_PREFIX}ROLE_ID_FILE")
            secret_id: str | None = None
            if s.secret_id is not None:
                secret_id = s.secret_id.get_secret_value()
            elif s.secret_id_file is not None:
                secret_id = _read_small_file(s.secret_id_file, f"{ENV_PREFIX}SECRET_ID_FILE")
            self._redactor.add(secret_id)
            resp = client.auth.approle.login(
                role_id=role_id, secret_id=secret_id, use_token=True, mount_point=s.approle_mount
            )
        else:
            jwt = _read_small_file(s.k8s_jwt_file, f"{ENV_PREFIX}K8S_JWT_FILE")
            self._redactor.add(jwt)
            resp = client.auth.kubernetes.login(role=s.k8s_role, jwt=jwt, use_token=True, mount_point=s.k8s_mount)
        auth = resp["auth"]
        self._redactor.add(auth["client_token"])
        return _Login(
            token=auth["client_token"],
            lease=float(auth.get("lease_duration") or 0),
            renewable=bool(auth.get("renewable")),
        )

    def _install(self, login: _Login, *, fresh: bool) -> None:
        now = self._clock()
        self._token = login.token
        self._renewable = login.renewable
        if fresh:
            self._login_lease = login.lease
            self.logins += 1
        if login.lease > 0:
            self._expires_at = now + login.lease
            self._renew_at = now + login.lease * 2 / 3
        else:
            self._expires_at = self._renew_at = None
        self.last_error = None
        self._notify()

    async def _renew_locked(self) -> None:
        expired = self._expires_at is not None and self._clock() >= self._expires_at
        if expired and self._can_login:
            await self._login_locked()
            return
        if not self._renewable or expired:
            if self._can_login:
                await self._login_locked()
            else:
                # a static token that cannot be renewed: nothing to do until Vault refuses it
                self._renew_at = None
            return
        assert self._client is not None
        try:
            resp = await self._call(self._client.auth.token.renew_self)
        except (_TokenRejected, _Denied):
            if self._can_login:
                await self._login_locked()
                return
            self._renew_at = None
            return
        except self._external as exc:
            err = self._translate(exc, action="renew its token")
            if self._can_login and not _is_unreachable(exc):
                await self._login_locked()
                return
            raise err from None
        auth = resp["auth"]
        self.renewals += 1
        lease = float(auth.get("lease_duration") or 0)
        if self._can_login and 0 < lease < self._login_lease:
            # capped by the token's max TTL: renewing again would only shorten it further
            await self._login_locked()
            return
        self._install(
            _Login(token=self._token or "", lease=lease, renewable=bool(auth.get("renewable"))),
            fresh=False,
        )

    def _retry_delay(self) -> float:
        if self._expires_at is None:
            return 5.0
        return max(0.5, min(5.0, (self._expires_at - self._clock()) / 3))

    def _notify(self) -> None:
        if self._wake is not None:
            self._wake.set()
            self._wake = None

    async def _renewal_loop(self) -> None:
        while True:
            if self._wake is None:
                self._wake = anyio.Event()
            wake = self._wake
            delay = math.inf if self._renew_at is None else max(0.0, self._renew_at - self._clock())
            with anyio.move_on_after(delay):
                await wake.wait()
                continue  # the token changed: compute the next renewal again
            async with self._lock:
                if self._token is None or self._renew_at is None or self._clock() < self._renew_at:
                    continue
                try:
                    await self._renew_locked()
                except SecretError as exc:
                    self.last_error = exc.message
                    _log.warning("Vault token renewal failed: %s", self._redactor.redact(exc.message))
                    self._renew_at = self._clock() + self._retry_delay()
                except Exception:  # noqa: BLE001 - the boundary of a background task: never kill the server
                    _log.exception("Vault token renewal failed unexpectedly")
                    self._renew_at = self._clock() + self._retry_delay()

    # --- reading ---------------------------------------------------------------------------

    async def _read_secret(self, path: str) -> dict[str, Any]:
        async with self._lock:
            policy_path = path
            try:
                await self._ensure_token_locked()
                mount, sub, version = await self._layout_locked(path)
                policy_path = f"{mount}/data/{sub}" if version == 2 else path
                try:
                    return await self._call(self._kv_read_sync, path, mount, sub, version)
                except _TokenRejected:
                    if not self._can_login:
                        raise
                    await self._login_locked()
                    return await self._call(self._kv_read_sync, path, mount, sub, version)
            except _TokenRejected:
                self._token = None
                err = self._rejected_error()
            except _Denied as denied:
                err = self._denied_error(path, policy_path, denied.policies)
            except SecretError as exc:
                err = exc
            except self._external as exc:
                err = self._translate(exc, action=f"read {path}", path=path)
            self.last_error = err.message
            raise err

    async def _layout_locked(self, path: str) -> tuple[str, str, int]:
        """Split ``path`` into (mount, path below it, KV version), detecting and caching the mount."""
        s = self.settings
        mount: str | None = s.mount
        version: int | None = s.kv_version
        if mount is None:
            mount = next((m for m in sorted(self._mounts, key=len, reverse=True) if path.startswith(m + "/")), None)
        if mount is not None and version is None:
            version = self._mounts.get(mount)
        if mount is None or version is None:
            detected = await self._call(self._detect_sync, path)
            if detected is not None:
                d_mount, d_type, d_version = detected
                if d_type not in ("kv", "generic"):
                    raise SecretError(
                        f"Vault path {path} is in a {d_type} secrets engine mounted at {d_mount}/, not a KV one",
                        hint=f"point {ENV_PREFIX}PATH (or the cluster's secret path) at a KV v1 or v2 secret",
                    )
                self._mounts[d_mount] = d_version
                mount = mount or d_mount
                version = version or d_version
            else:
                mount = mount or path.split("/", 1)[0]
                version = version or 2
        if not path.startswith(mount + "/") or len(path) == len(mount) + 1:
            raise SecretError(
                f"Vault path {path} does not name a secret below the mount {mount}/",
                hint=f"write <mount>/<path>, e.g. {mount}/proxmox",
            )
        return mount, path[len(mount) + 1 :], version

    def _detect_sync(self, path: str) -> tuple[str, str, int] | None:
        from hvac.exceptions import Forbidden, InvalidPath, InvalidRequest

        assert self._client is not None
        try:
            data = self._client.adapter.get(f"/v1/sys/internal/ui/mounts/{path}")["data"]
        except (Forbidden, InvalidPath, InvalidRequest):
            # not visible to this token, or no mount there: check the token is alive, then guess
            try:
                self._client.auth.token.lookup_self()
            except Forbidden:
                raise _TokenRejected() from None
            return None
        options = data.get("options") or {}
        return str(data.get("path", "")).strip("/"), str(data.get("type", "")), int(options.get("version") or 1)

    def _kv_read_sync(self, path: str, mount: str, sub: str, version: int) -> dict[str, Any]:
        assert self._client is not None
        kv = self._client.secrets.kv
        if version == 2:
            resp = kv.v2.read_secret_version(path=sub, mount_point=mount, raise_on_deleted_version=True)
            body = resp.get("data") or {}
            meta = body.get("metadata") or {}
            if isinstance(meta.get("version"), int):
                self._versions[path] = meta["version"]
            return dict(body.get("data") or {})
        resp = kv.v1.read_secret(path=sub, mount_point=mount)
        return dict(resp.get("data") or {})

    def _lookup_self_sync(self) -> dict[str, Any]:
        assert self._client is not None
        return self._client.auth.token.lookup_self().get("data") or {}

    # --- errors ----------------------------------------------------------------------------

    def _rejected_error(self) -> SecretError:
        s = self.settings
        if s.auth == "token":
            return SecretError(
                f"Vault at {s.addr} rejected the token from {s.token_env}: it expired or was revoked",
                hint=f"put a valid token in {s.token_env} and restart the server, or use AppRole or Kubernetes "
                f"auth ({ENV_PREFIX}AUTH) so that the server logs in again by itself. (A token without Vault's "
                "default policy cannot look itself up and is refused the same way.)",
            )
        return SecretError(
            f"Vault at {s.addr} rejected the token it had just issued by {s.auth} login",
            hint="the token must be allowed to look itself up (auth/token/lookup-self, in Vault's default policy)",
        )

    def _denied_error(self, path: str, policy_path: str, policies: tuple[str, ...]) -> SecretError:
        names = ", ".join(policies) or "none"
        return SecretError(
            f"Vault denied reading {path}: the token's policies ({names}) lack the read capability on {policy_path}",
            hint=f'add  path "{policy_path}" {{ capabilities = ["read"] }}  to one of these policies, or fix '
            f"{ENV_PREFIX}PATH / the cluster's secret path",
        )

    def _translate(
        self,
        exc: BaseException,
        *,
        action: str,
        path: str | None = None,
        login: bool = False,
    ) -> SecretError:
        """Map an hvac/requests exception (one of ``self._external``) to a SecretError."""
        import requests
        from hvac import exceptions as hx

        s = self.settings
        addr_env = f"{ENV_PREFIX}ADDR"
        if isinstance(exc, requests.exceptions.SSLError):
            if s.ca_file:
                hint = (
                    f"{s.ca_file} ({ENV_PREFIX}CA_FILE) must hold the CA that signed Vault's certificate, and the "
                    f"certificate must name the host in {addr_env}"
                )
            else:
                hint = f"set {ENV_PREFIX}CA_FILE to the PEM file of the CA that signed Vault's certificate"
            return SecretError(f"TLS verification of Vault at {s.addr} failed (trying to {action})", hint=hint)
        if isinstance(exc, requests.exceptions.Timeout):
            return SecretError(
                f"Vault at {s.addr} did not answer within {s.timeout:g} s (trying to {action})",
                hint=f"check Vault's health, or raise {ENV_PREFIX}TIMEOUT",
            )
        if isinstance(exc, requests.exceptions.ConnectionError):
            reason = "connection refused" if "refused" in str(exc).lower() else "connection failed"
            return SecretError(
                f"cannot reach Vault at {s.addr} ({addr_env}) to {action}: {reason}",
                hint=f"check that Vault is running and that {addr_env} is its address",
            )
        if isinstance(exc, requests.exceptions.RequestException):
            return SecretError(
                f"request to Vault at {s.addr} failed (trying to {action}): {type(exc).__name__}",
                hint=f"check {addr_env}",
            )
        if isinstance(exc, hx.VaultDown):
            return SecretError(
                f"Vault at {s.addr} is sealed or not ready (trying to {action})",
                hint="unseal Vault (or wait for a standby to take over)",
            )
        detail = self._vault_errors(exc)
        if login and isinstance(exc, hx.InvalidRequest | hx.Forbidden | hx.InvalidPath | hx.Unauthorized):
            if s.auth == "approle":
                hint = (
                    f"check {ENV_PREFIX}ROLE_ID(_FILE) and {ENV_PREFIX}SECRET_ID(_FILE); a secret ID can expire "
                    f"or be used up (secret_id_ttl, secret_id_num_uses); AppRole mounted at {s.approle_mount}/"
                )
            else:
                hint = (
                    f"check {ENV_PREFIX}K8S_ROLE ({s.k8s_role}) is bound to this service account and namespace, and "
                    f"that the Kubernetes auth method is mounted at {s.k8s_mount}/"
                )
            return SecretError(f"Vault at {s.addr} refused to {action}: {detail}", hint=hint)
        if isinstance(exc, hx.InvalidPath):
            return SecretError(
                f"Vault has no secret at {path or '?'} (or it was deleted)",
                hint=f"write it (e.g. `bao kv put {path} PROXMOX_API_TOKEN_SECRET=…`), or fix {ENV_PREFIX}PATH / the "
                f"cluster's secret path; for a KV mount that is not detected, set {ENV_PREFIX}MOUNT and "
                f"{ENV_PREFIX}KV_VERSION",
            )
        return SecretError(f"Vault at {s.addr} failed to {action}: {type(exc).__name__}: {detail}")

    def _vault_errors(self, exc: BaseException) -> str:
        errors = getattr(exc, "errors", None)
        if isinstance(errors, list) and all(isinstance(e, str) for e in errors):
            text = "; ".join(" ".join(e.split()) for e in errors)
        else:
            text = "no detail"  # hvac puts the raw response body here otherwise: not shown
        return self._redactor.redact(text)[:300]


def _is_unreachable(exc: BaseException) -> bool:
    import requests
    from hvac.exceptions import VaultDown

    return isinstance(exc, requests.exceptions.RequestException | VaultDown)


def _read_small_file(path: Path | None, env_name: str) -> str:
    if path is None:
        raise SecretError(f"{env_name} is not set")
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SecretError(f"cannot read {path} ({env_name}): {exc.strerror}") from None
