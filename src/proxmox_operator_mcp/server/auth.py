"""Who is calling, and may they: bearer-token verification and the scope rules of the tools.

Two :class:`~mcp.server.auth.provider.TokenVerifier` implementations plug into the SDK's
resource-server support (``AuthSettings``): the SDK answers 401 with ``WWW-Authenticate`` and
serves the RFC 9728 metadata; we decide whether a token is good.

* :class:`OIDCVerifier`: JWT access tokens from an identity provider. PyJWT with an allow-list
  of asymmetric algorithms, ``iss``/``aud``/``exp``/``nbf``/``iat`` checked with a leeway, the
  JWKS fetched with httpx2 (discovered from the issuer unless configured), refetched when a
  token names an unknown ``kid`` (at most once per cooldown), and each verified token cached
  until it expires.
* :class:`StaticTokenVerifier`: tokens configured only as SHA-256 hashes, each with its scopes.

Both return a :class:`VerifiedToken` carrying the :class:`Principal` (sub, client_id, scopes,
groups, role); inside a request :func:`current_principal` gives it back, and
:func:`check_tool_access` is the one rule for "may this principal call this tool".
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import ssl
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import anyio
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from pydantic import ConfigDict

from ..errors import PolicyDenied
from .metrics import METRICS, ServerMetrics

if TYPE_CHECKING:
    import httpx2

    from .http_settings import HttpSettings, StaticToken

# PyJWT, httpx2 and the settings module are imported where the verifiers need them: the server
# imports this module for the scope rules on every start, and stdio clients wait for it.

__all__ = [
    "DEFAULT_SCOPES",
    "ESCAPE_HATCH_TOOLSETS",
    "LOCAL_PRINCIPAL",
    "OIDCVerifier",
    "Principal",
    "Role",
    "RoleMapper",
    "ScopeNames",
    "ServerAuth",
    "StaticTokenVerifier",
    "VerifiedToken",
    "check_tool_access",
    "current_principal",
    "principal_from_token",
    "principal_mode",
    "required_scope",
    "server_auth",
    "tool_allowed",
]

log = logging.getLogger("proxmox_operator_mcp.auth")

# What a claim maps to: the access modes of config.AccessMode, plus "none" (no tool at all).
Role = Literal["none", "read-only", "operator", "admin"]

# Toolsets whose mutating tools are escape hatches: any API call (api), any Proxmox CLI command,
# terminal or container exec on a node (cli), a shell (shell), files on a node (files).
ESCAPE_HATCH_TOOLSETS = frozenset({"api", "cli", "shell", "files"})

_ROLE_RANK: dict[str, int] = {"none": -1, "read-only": 0, "operator": 1, "admin": 2}
_MAX_TOKEN_BYTES = 16 * 1024
_MAX_JWKS_BYTES = 512 * 1024
_CACHE_SIZE = 10_000

FailureReason = Literal[
    "malformed",
    "alg_not_allowed",
    "unknown_kid",
    "key_mismatch",
    "bad_signature",
    "wrong_issuer",
    "wrong_audience",
    "expired",
    "not_yet_valid",
    "missing_claim",
    "invalid",
    "jwks_unavailable",
    "unknown_static_token",
]


# --- scopes and principals ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScopeNames:
    """The three scope names (configurable: ``PROXMOX_MCP_SCOPE_READ`` / ``_WRITE`` / ``_ADMIN``)."""

    read: str = "pve.read"
    write: str = "pve.write"
    admin: str = "pve.admin"

    @classmethod
    def from_settings(cls, http: HttpSettings) -> ScopeNames:
        return cls(read=http.scope_read, write=http.scope_write, admin=http.scope_admin)

    def ladder(self) -> tuple[str, str, str]:
        return (self.read, self.write, self.admin)


DEFAULT_SCOPES = ScopeNames()


def required_scope(
    tool_read_only: bool, tool_destructive: bool, toolset: str, *, names: ScopeNames = DEFAULT_SCOPES
) -> str:
    """The scope a tool needs: read tools ``pve.read``, mutating tools ``pve.write``, mutating
    tools of an escape-hatch toolset (:data:`ESCAPE_HATCH_TOOLSETS`) ``pve.admin``.

    ``tool_destructive`` does not raise the bar by itself: a tool is annotated destructive when
    *some* of its actions are (``proxmox_vm_action`` with ``delete``), and which action needs
    which access mode is the policy gate's decision per operation, capped by
    :func:`principal_mode`. Pass the tool as filtered for the server's access mode (an adapted
    ``proxmox_api_call`` in read-only mode is a read tool).
    """
    del tool_destructive  # see the docstring: decided per operation by the gate
    if tool_read_only:
        return names.read
    if toolset in ESCAPE_HATCH_TOOLSETS:
        return names.admin
    return names.write


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a request, as the audit and the policy see it.

    ``role`` comes from a claim through ``PROXMOX_MCP_OIDC_ROLE_MAP``; ``None`` means no role
    mapping is configured and the scopes decide alone. ``auth`` says how it was established:
    ``local`` for stdio and for HTTP without auth (the operator who started the server).
    """

    sub: str
    client_id: str
    scopes: frozenset[str]
    groups: tuple[str, ...] = ()
    role: Role | None = None
    issuer: str | None = None
    auth: Literal["oidc", "static", "local"] = "oidc"
    expires_at: int | None = None

    def has_scope(self, scope: str) -> bool:
        return self.auth == "local" or scope in self.scopes

    def audit(self) -> dict[str, Any]:
        """The fields an audit record carries (no token, nothing secret)."""
        out: dict[str, Any] = {"sub": self.sub, "client_id": self.client_id, "auth": self.auth}
        if self.auth != "local":
            out["scopes"] = sorted(self.scopes)
        if self.groups:
            out["groups"] = list(self.groups)
        if self.role is not None:
            out["role"] = self.role
        if self.issuer:
            out["iss"] = self.issuer
        return out


LOCAL_PRINCIPAL = Principal(sub="local", client_id="local", scopes=frozenset(), auth="local")


class VerifiedToken(AccessToken):
    """An ``AccessToken`` that also carries the principal our verifiers established."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    principal: Principal


def principal_from_token(token: AccessToken | None) -> Principal:
    """The principal of ``token``; :data:`LOCAL_PRINCIPAL` when there is none (stdio, no auth)."""
    if token is None:
        return LOCAL_PRINCIPAL
    if isinstance(token, VerifiedToken):
        return token.principal
    claims = token.claims or {}
    return Principal(
        sub=token.subject or token.client_id,
        client_id=token.client_id,
        scopes=frozenset(token.scopes),
        issuer=str(claims["iss"]) if "iss" in claims else None,
        expires_at=token.expires_at,
    )


def current_principal() -> Principal:
    """The principal of the request being handled (the SDK keeps the token in a contextvar that
    follows the message into the tool call)."""
    return principal_from_token(get_access_token())


def principal_mode(principal: Principal, *, names: ScopeNames = DEFAULT_SCOPES) -> Role:
    """The highest access mode ``principal`` may act in: its scopes' ceiling, capped by its role.
    The policy gate should use ``min(cluster access mode, this)``."""
    if principal.auth == "local":
        return "admin"
    by_scope: Role = "none"
    for scope, mode in ((names.read, "read-only"), (names.write, "operator"), (names.admin, "admin")):
        if scope in principal.scopes:
            by_scope = mode  # type: ignore[assignment]
    if principal.role is None:
        return by_scope
    return by_scope if _ROLE_RANK[by_scope] <= _ROLE_RANK[principal.role] else principal.role


_SCOPE_MODE = {"read": "read-only", "write": "operator", "admin": "admin"}


def _denial(
    principal: Principal, *, read_only: bool, destructive: bool, toolset: str, names: ScopeNames
) -> tuple[str, str] | None:
    need = required_scope(read_only, destructive, toolset, names=names)
    if not principal.has_scope(need):
        return need, f"the token lacks scope {need}"
    if principal.role is not None:
        kind = "read" if need == names.read else "write" if need == names.write else "admin"
        if _ROLE_RANK[principal.role] < _ROLE_RANK[_SCOPE_MODE[kind]]:
            return need, f"role {principal.role} (from the token's groups) does not allow {kind} tools"
    return None


def tool_allowed(
    principal: Principal, *, read_only: bool, destructive: bool, toolset: str, names: ScopeNames = DEFAULT_SCOPES
) -> bool:
    """Whether ``principal`` may call (and so should see) a tool with these annotations."""
    return _denial(principal, read_only=read_only, destructive=destructive, toolset=toolset, names=names) is None


def check_tool_access(
    principal: Principal,
    *,
    tool: str,
    read_only: bool,
    destructive: bool,
    toolset: str,
    names: ScopeNames = DEFAULT_SCOPES,
) -> None:
    """Refuse the call before anything is sent when ``principal`` may not use ``tool``.

    Raises:
        PolicyDenied: naming the missing scope or the limiting role, with what to change.
    """
    denied = _denial(principal, read_only=read_only, destructive=destructive, toolset=toolset, names=names)
    if denied is None:
        return
    need, why = denied
    raise PolicyDenied(
        f"{tool} needs scope {need}; {why}. Nothing was sent to Proxmox.",
        hint=f"Ask the identity provider's administrator for a token with scope {need} (or a group that maps to "
        "a sufficient role), or use a read tool.",
    )


# --- roles from claims -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoleMapper:
    """Maps the values of one claim (``groups``, ``realm_access.roles`` ...) to a role.

    The highest role any value maps to wins; ``*`` applies when no value matched. With an
    empty map the role is ``None`` (scopes decide alone).
    """

    claim: str = "groups"
    mapping: Mapping[str, Role] = field(default_factory=dict)

    def values(self, claims: Mapping[str, Any]) -> tuple[str, ...]:
        node: Any = claims
        for part in self.claim.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return ()
            node = node[part]
        if isinstance(node, str):
            return tuple(v for v in node.replace(",", " ").split() if v)
        if isinstance(node, list):
            return tuple(str(v) for v in node if isinstance(v, str | int))
        return ()

    def role(self, groups: Iterable[str]) -> Role | None:
        if not self.mapping:
            return None
        matched = [self.mapping[g] for g in groups if g in self.mapping]
        if matched:
            return max(matched, key=lambda r: _ROLE_RANK[r])
        return self.mapping.get("*", "none")


def _scopes_of(claims: Mapping[str, Any]) -> list[str]:
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            return [s for s in value.split() if s]
        if isinstance(value, list):
            return [str(s) for s in value if isinstance(s, str)]
    return []


# --- OIDC --------------------------------------------------------------------------------------


class _Rejected(Exception):
    def __init__(self, reason: FailureReason, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason


# The key types each algorithm family may use: a token never picks its own key type.
_ALG_KTY = {"RS": ("RSA",), "PS": ("RSA",), "ES": ("EC",), "Ed": ("OKP",)}
_ES_CURVE = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}


def _key_fits(jwk: Mapping[str, Any], alg: str) -> bool:
    if jwk.get("kty") not in _ALG_KTY.get(alg[:2], ()):
        return False
    if alg in _ES_CURVE and jwk.get("crv") != _ES_CURVE[alg]:
        return False
    if alg == "EdDSA" and jwk.get("crv") not in ("Ed25519", "Ed448"):
        return False
    return jwk.get("alg") in (None, alg)


@dataclass
class _CacheEntry:
    token: VerifiedToken
    kid: str | None
    expires_at: float


class OIDCVerifier(TokenVerifier):
    """Verifies JWT access tokens of one issuer. See the module docstring for the rules.

    ``clock`` (monotonic seconds) paces JWKS refetches; token times are checked against the
    wall clock by PyJWT.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audiences: Sequence[str],
        jwks_url: str | None = None,
        algorithms: Sequence[str] = ("RS256", "ES256", "PS256", "EdDSA"),
        leeway: float = 30.0,
        jwks_cache_seconds: float = 3600.0,
        refresh_cooldown: float = 30.0,
        http_timeout: float = 5.0,
        verify: ssl.SSLContext | bool = True,
        roles: RoleMapper | None = None,
        metrics: ServerMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from .http_settings import ALLOWED_ALGORITHMS

        bad = set(algorithms) - ALLOWED_ALGORITHMS
        if bad or not algorithms:
            raise ValueError(f"algorithms not allowed: {sorted(bad)}")
        self.issuer = issuer
        self.audiences = list(audiences)
        self.algorithms = list(algorithms)
        self.leeway = leeway
        self.jwks_cache_seconds = jwks_cache_seconds
        self.refresh_cooldown = refresh_cooldown
        self.roles = roles or RoleMapper()
        self.metrics = metrics or METRICS
        self._configured_jwks_url = jwks_url
        self._jwks_url = jwks_url
        self._timeout = http_timeout
        self._tls_verify = verify
        self._clock = clock
        self._keys: dict[str | None, list[dict[str, Any]]] = {}
        self._fetched_at: float | None = None
        self._generation = 0
        self._last_error = "no signing keys fetched yet"
        self._lock = anyio.Lock()
        self._cache: OrderedDict[bytes, _CacheEntry] = OrderedDict()
        self.jwks_fetches = 0

    @classmethod
    def from_settings(cls, http: HttpSettings, *, metrics: ServerMetrics | None = None) -> OIDCVerifier:
        """The verifier ``http`` describes (``auth_mode`` must be ``oidc``)."""
        assert http.oidc_issuer is not None
        verify: ssl.SSLContext | bool = True
        if http.oidc_ca_file is not None:
            verify = ssl.create_default_context(cafile=str(http.oidc_ca_file))
        return cls(
            issuer=http.oidc_issuer,
            audiences=http.audiences,
            jwks_url=http.oidc_jwks_url,
            algorithms=http.oidc_algorithms,
            leeway=http.oidc_leeway,
            jwks_cache_seconds=http.oidc_jwks_cache_seconds,
            refresh_cooldown=http.oidc_jwks_refresh_cooldown,
            http_timeout=http.oidc_http_timeout,
            verify=verify,
            roles=RoleMapper(http.oidc_role_claim, dict(http.oidc_role_map)),
            metrics=metrics,
        )

    # --- TokenVerifier ------------------------------------------------------------------------

    async def verify_token(self, token: str) -> AccessToken | None:
        """The verified token, or ``None`` (the SDK then answers 401 ``invalid_token``)."""
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        entry = self._cache.get(digest)
        if entry is not None:
            if time.time() < entry.expires_at:
                self._cache.move_to_end(digest)
                return entry.token
            del self._cache[digest]
        try:
            verified, kid = await self._check(token)
        except _Rejected as exc:
            self.metrics.auth_failures.inc(reason=exc.reason)
            log.info("bearer token rejected: %s%s", exc.reason, f" ({exc})" if str(exc) != exc.reason else "")
            return None
        # Cached until `exp`: the SDK refuses an expired token whatever the leeway.
        self._cache[digest] = _CacheEntry(verified, kid, float(verified.expires_at or 0))
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return verified

    async def ready(self) -> str | None:
        """``None`` when signing keys are at hand (fetching them if needed), else the problem."""
        try:
            await self._ensure_keys()
        except _Rejected as exc:
            return str(exc)
        return None

    # --- verification -------------------------------------------------------------------------

    async def _check(self, token: str) -> tuple[VerifiedToken, str | None]:
        import jwt

        if len(token) > _MAX_TOKEN_BYTES or token.count(".") != 2:
            raise _Rejected("malformed", "not a compact JWS")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise _Rejected("malformed", str(exc)) from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise _Rejected("alg_not_allowed", f"alg {alg!r}")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise _Rejected("malformed", "kid is not a string")
        jwk = await self._key_for(kid, alg)
        try:
            key = jwt.PyJWK(jwk, algorithm=alg)
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self.audiences,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "iss", "aud"], "verify_signature": True},
            )
        except jwt.ExpiredSignatureError:
            raise _Rejected("expired") from None
        except jwt.ImmatureSignatureError:
            raise _Rejected("not_yet_valid") from None
        except jwt.InvalidAudienceError:
            raise _Rejected("wrong_audience") from None
        except jwt.InvalidIssuerError:
            raise _Rejected("wrong_issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise _Rejected("missing_claim", str(exc)) from None
        except jwt.InvalidSignatureError:
            raise _Rejected("bad_signature") from None
        except jwt.InvalidAlgorithmError as exc:
            raise _Rejected("alg_not_allowed", str(exc)) from None
        except jwt.DecodeError as exc:
            raise _Rejected("malformed", str(exc)) from None
        except jwt.PyJWTError as exc:
            raise _Rejected("invalid", str(exc)) from None
        return self._to_token(token, claims), kid

    def _to_token(self, token: str, claims: dict[str, Any]) -> VerifiedToken:
        client_id = next(
            (str(claims[c]) for c in ("client_id", "azp", "cid") if isinstance(claims.get(c), str) and claims[c]),
            None,
        )
        sub = claims.get("sub") if isinstance(claims.get("sub"), str) else None
        if client_id is None and sub is None:
            raise _Rejected("missing_claim", "neither sub nor client_id")
        scopes = _scopes_of(claims)
        groups = self.roles.values(claims)
        aud = claims.get("aud")
        auds = [aud] if isinstance(aud, str) else list(aud or [])
        resource = next((a for a in auds if a in self.audiences), None)
        principal = Principal(
            sub=sub or client_id or "",
            client_id=client_id or sub or "",
            scopes=frozenset(scopes),
            groups=groups,
            role=self.roles.role(groups),
            issuer=self.issuer,
            auth="oidc",
            expires_at=int(claims["exp"]),
        )
        return VerifiedToken(
            token=token,
            client_id=principal.client_id,
            scopes=scopes,
            expires_at=int(claims["exp"]),
            resource=resource,
            subject=principal.sub,
            claims={"iss": self.issuer},
            principal=principal,
        )

    # --- keys ---------------------------------------------------------------------------------

    async def _key_for(self, kid: str | None, alg: str) -> dict[str, Any]:
        await self._ensure_keys()
        found = self._match(kid, alg)
        if found is not None:
            return found
        if kid is not None and kid not in self._keys:
            # Perhaps the issuer rotated its keys: refetch, but not more than once per cooldown,
            # so tokens with made-up kids cannot make us hammer the identity provider.
            if self._age() >= self.refresh_cooldown:
                await self._refresh(f"unknown kid {kid!r}")
                found = self._match(kid, alg)
                if found is not None:
                    return found
            if kid not in self._keys:
                raise _Rejected("unknown_kid", f"kid {kid!r}")
        raise _Rejected("key_mismatch", f"no {alg} key for kid {kid!r}")

    def _match(self, kid: str | None, alg: str) -> dict[str, Any] | None:
        if kid is None:
            candidates = [k for ks in self._keys.values() for k in ks]
        else:
            candidates = self._keys.get(kid, [])
        fitting = [k for k in candidates if _key_fits(k, alg)]
        # Without a kid, only an unambiguous key set is acceptable.
        if kid is None and len(fitting) != 1:
            return None
        return fitting[0] if fitting else None

    def _age(self) -> float:
        return float("inf") if self._fetched_at is None else self._clock() - self._fetched_at

    async def _ensure_keys(self) -> None:
        if self._keys:
            if self._age() < self.jwks_cache_seconds:
                return
            try:
                await self._refresh("cache expired")
            except _Rejected as exc:
                log.warning("keeping the previous signing keys of %s: %s", self.issuer, exc)
            return
        if self._age() < self.refresh_cooldown:
            raise _Rejected("jwks_unavailable", f"{self._last_error}; retrying after the cooldown")
        await self._refresh("no keys yet")

    async def _refresh(self, reason: str) -> None:
        generation = self._generation
        async with self._lock:
            if self._generation != generation:
                return  # another request fetched while this one waited for the lock
            log.info("fetching signing keys of %s (%s)", self.issuer, reason)
            try:
                keys = await self._fetch_jwks()
            except _Rejected as exc:
                self._last_error = str(exc)
                raise
            finally:
                # A failed fetch also starts the cooldown: an outage must not turn every request
                # into a request to the identity provider.
                self._fetched_at = self._clock()
                self._generation += 1
            self._keys = keys
            self.jwks_fetches += 1
            gone = {e.kid for e in self._cache.values()} - set(keys)
            if gone:  # a key the issuer withdrew no longer vouches for cached tokens
                for digest in [d for d, e in self._cache.items() if e.kid in gone]:
                    del self._cache[digest]

    async def _get_json(self, client: httpx2.AsyncClient, url: str) -> Any:
        import httpx2

        try:
            resp = await client.get(url, headers={"Accept": "application/json"})
        except httpx2.HTTPError as exc:
            raise _Rejected("jwks_unavailable", f"GET {url}: {type(exc).__name__}: {exc}") from None
        if resp.status_code != 200:
            raise _Rejected("jwks_unavailable", f"GET {url}: HTTP {resp.status_code}")
        if len(resp.content) > _MAX_JWKS_BYTES:
            raise _Rejected("jwks_unavailable", f"GET {url}: answer too large")
        try:
            return json.loads(resp.content)
        except ValueError:
            raise _Rejected("jwks_unavailable", f"GET {url}: not JSON") from None

    async def _fetch_jwks(self) -> dict[str | None, list[dict[str, Any]]]:
        import httpx2

        async with httpx2.AsyncClient(timeout=self._timeout, verify=self._tls_verify, follow_redirects=False) as client:
            if self._jwks_url is None:
                self._jwks_url = await self._discover(client)
            doc = await self._get_json(client, self._jwks_url)
        if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
            raise _Rejected("jwks_unavailable", f"{self._jwks_url}: not a JWK set")
        keys: dict[str | None, list[dict[str, Any]]] = {}
        for jwk in doc["keys"]:
            if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig" or "d" in jwk:
                continue  # encryption keys, junk, and private keys (never trust a leaked one)
            if jwk.get("kty") not in ("RSA", "EC", "OKP"):
                continue
            kid = jwk.get("kid") if isinstance(jwk.get("kid"), str) else None
            keys.setdefault(kid, []).append(jwk)
        if not keys:
            raise _Rejected("jwks_unavailable", f"{self._jwks_url}: no usable signing keys")
        return keys

    async def _discover(self, client: httpx2.AsyncClient) -> str:
        base = self.issuer.rstrip("/")
        errors = []
        for suffix in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
            try:
                meta = await self._get_json(client, base + suffix)
            except _Rejected as exc:
                errors.append(str(exc))
                continue
            if not isinstance(meta, dict):
                errors.append(f"{base + suffix}: not a JSON object")
                continue
            if meta.get("issuer") != self.issuer:
                # RFC 8414 §3.3 / OIDC Discovery §4.3: metadata of another issuer is not ours.
                raise _Rejected(
                    "jwks_unavailable", f"discovery names issuer {meta.get('issuer')!r}, configured {self.issuer!r}"
                )
            uri = meta.get("jwks_uri")
            if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
                raise _Rejected("jwks_unavailable", f"{base + suffix}: no jwks_uri")
            return uri
        raise _Rejected("jwks_unavailable", "discovery failed: " + "; ".join(errors))


# --- static tokens -----------------------------------------------------------------------------


class StaticTokenVerifier(TokenVerifier):
    """Bearer tokens known only by their SHA-256, for installations without an identity provider.

    Every configured hash is compared (in constant time) on each request, so timing tells
    nothing about which entry, if any, nearly matched.
    """

    def __init__(self, tokens: Sequence[StaticToken], *, metrics: ServerMetrics | None = None) -> None:
        if not tokens:
            raise ValueError("no static tokens configured")
        self._tokens = [(bytes.fromhex(t.sha256), t) for t in tokens]
        self.metrics = metrics or METRICS

    async def verify_token(self, token: str) -> AccessToken | None:
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        match: StaticToken | None = None
        for expected, entry in self._tokens:
            if hmac.compare_digest(digest, expected):
                match = entry
        if match is None:
            self.metrics.auth_failures.inc(reason="unknown_static_token")
            log.info("bearer token rejected: unknown_static_token")
            return None
        principal = Principal(sub=match.name, client_id=match.name, scopes=frozenset(match.scopes), auth="static")
        return VerifiedToken(
            token=token,
            client_id=match.name,
            scopes=list(match.scopes),
            subject=match.name,
            principal=principal,
        )


# --- wiring into the SDK -----------------------------------------------------------------------


@dataclass(frozen=True)
class ServerAuth:
    """What ``MCPServer(auth=..., token_verifier=...)`` takes; both ``None`` without auth."""

    auth: AuthSettings | None
    token_verifier: OIDCVerifier | StaticTokenVerifier | None

    def kwargs(self) -> dict[str, Any]:
        if self.auth is None:
            return {}
        return {"auth": self.auth, "token_verifier": self.token_verifier}


def server_auth(http: HttpSettings, *, metrics: ServerMetrics | None = None) -> ServerAuth:
    """The SDK auth settings and verifier for ``http`` (``http.http_port`` must be the real port)."""
    if http.auth_mode == "none":
        return ServerAuth(None, None)
    if http.auth_mode == "static":
        # No authorization server to advertise: no RFC 9728 metadata, 401 without resource_metadata.
        settings = AuthSettings(
            issuer_url=http.base_url,  # type: ignore[arg-type]  # required by the model, unused here
            resource_server_url=None,
            required_scopes=[http.scope_read],
        )
        return ServerAuth(settings, StaticTokenVerifier(http.static_tokens, metrics=metrics))
    assert http.oidc_issuer is not None
    settings = AuthSettings(
        issuer_url=http.oidc_issuer,  # type: ignore[arg-type]
        resource_server_url=http.resource_url,  # type: ignore[arg-type]
        required_scopes=[http.scope_read],
        # The verifier checks `aud` itself (it may be a name, not the URL).
        validate_token_resource=False,
    )
    return ServerAuth(settings, OIDCVerifier.from_settings(http, metrics=metrics))
