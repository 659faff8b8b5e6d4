"""Fixtures of the remote-mode tests: an in-process OIDC issuer, and our server over real HTTP.

``Issuer`` serves ``/.well-known/openid-configuration`` and the JWKS from a stdlib
``ThreadingHTTPServer`` on ``127.0.0.1:0`` and mints access tokens signed with RSA (RS256,
PS256), EC P-256 (ES256) or Ed25519 (EdDSA) keys made with ``cryptography``. It can rotate its
keys, and forge the tokens an attacker would send (``alg: none``, HS256 keyed with the public
key, a tampered signature). ``serving`` runs our server on a free loopback port with uvicorn.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio
import httpx2
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from proxmox_operator_mcp.config import Settings
from proxmox_operator_mcp.server.http import HttpService, build_http_server
from proxmox_operator_mcp.server.http_settings import load_http_settings
from proxmox_operator_mcp.server.metrics import ServerMetrics

__all__ = [
    "INITIALIZE",
    "MCP_HEADERS",
    "Issuer",
    "SigningKey",
    "b64url",
    "bearer",
    "mcp_client",
    "running_issuer",
    "serving",
    "tool_call",
]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class SigningKey:
    kid: str
    alg: str
    private: Any

    @property
    def public_jwk(self) -> dict[str, Any]:
        pub = self.private.public_key()
        if self.alg in ("RS256", "PS256"):
            jwk = json.loads(RSAAlgorithm.to_jwk(pub))
        elif self.alg == "ES256":
            jwk = json.loads(ECAlgorithm.to_jwk(pub))
        else:
            jwk = json.loads(OKPAlgorithm.to_jwk(pub))
        jwk.update(kid=self.kid, use="sig")
        return jwk

    @property
    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def _new_key(alg: str, kid: str | None = None) -> SigningKey:
    if alg in ("RS256", "PS256"):
        private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif alg == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    else:  # pragma: no cover - test helper misuse
        raise ValueError(alg)
    return SigningKey(kid=kid or f"{alg.lower()}-{uuid.uuid4().hex[:8]}", alg=alg, private=private)


class Issuer:
    """A test identity provider. Use :func:`running_issuer`."""

    def __init__(self) -> None:
        self.keys: dict[str, SigningKey] = {}
        for alg in ("RS256", "ES256", "EdDSA"):
            key = _new_key(alg)
            self.keys[key.kid] = key
        self.rsa = next(k for k in self.keys.values() if k.alg == "RS256")
        self.published: list[str] = list(self.keys)
        self.jwks_hits = 0
        self.discovery_hits = 0
        self.discovery_issuer: str | None = None  # override what discovery claims
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    # --- serving ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def jwks_url(self) -> str:
        return self.url + "/jwks"

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            return {"keys": [self.keys[kid].public_jwk for kid in self.published]}

    def start(self) -> None:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    issuer.discovery_hits += 1
                    body = {
                        "issuer": issuer.discovery_issuer or issuer.url,
                        "jwks_uri": issuer.jwks_url,
                        "token_endpoint": issuer.url + "/token",
                        "response_types_supported": ["code"],
                        "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
                    }
                elif self.path == "/jwks":
                    issuer.jwks_hits += 1
                    body = issuer.jwks()
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="test-oidc-issuer", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- keys ---------------------------------------------------------------------------------

    def rotate(self, *, keep_old: bool = False, alg: str = "RS256") -> SigningKey:
        """Publish a new key (the old ones withdrawn unless ``keep_old``); returns it."""
        key = _new_key(alg)
        with self._lock:
            self.keys[key.kid] = key
            self.published = [*self.published, key.kid] if keep_old else [key.kid]
        return key

    def unpublished_key(self, alg: str = "RS256") -> SigningKey:
        """A key the JWKS never lists (an attacker's, or one not yet rotated in)."""
        key = _new_key(alg)
        self.keys[key.kid] = key
        return key

    # --- tokens -------------------------------------------------------------------------------

    def claims(self, audience: str | list[str], **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "sub": "user-1",
            "aud": audience,
            "client_id": "test-client",
            "scope": "pve.read",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
        }
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def mint(
        self,
        audience: str | list[str],
        *,
        key: SigningKey | None = None,
        alg: str | None = None,
        headers: Mapping[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A signed token for ``audience``; ``claims`` override (``None`` drops a claim)."""
        key = key or self.rsa
        hdr = {"kid": key.kid, "typ": "at+jwt", **(headers or {})}
        return jwt.encode(self.claims(audience, **claims), key.private, algorithm=alg or key.alg, headers=hdr)

    def alg_none(self, audience: str, **claims: Any) -> str:
        header = {"alg": "none", "typ": "JWT", "kid": self.rsa.kid}
        payload = self.claims(audience, **claims)
        return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}."

    def hs256_with_public_key(self, audience: str, **claims: Any) -> str:
        """The key-confusion attack: HMAC keyed with the issuer's public key (which anyone has)."""
        header = {"alg": "HS256", "typ": "JWT", "kid": self.rsa.kid}
        payload = self.claims(audience, **claims)
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
        sig = hmac.new(self.rsa.public_pem, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64url(sig)}"

    def tampered_signature(self, audience: str, **claims: Any) -> str:
        """A signed token with one byte of its signature flipped."""
        header, payload, sig = self.mint(audience, **claims).split(".")
        raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
        raw[len(raw) // 2] ^= 0x01
        return f"{header}.{payload}.{b64url(bytes(raw))}"

    def tampered_payload(self, audience: str, **claims: Any) -> str:
        """A validly signed token whose payload was then changed (scope raised to admin)."""
        token = self.mint(audience, **claims)
        header, _, sig = token.split(".")
        payload = self.claims(audience, **{**claims, "scope": "pve.read pve.write pve.admin"})
        return f"{header}.{b64url(json.dumps(payload).encode())}.{sig}"


@contextmanager
def running_issuer() -> Iterator[Issuer]:
    issuer = Issuer()
    issuer.start()
    try:
        yield issuer
    finally:
        issuer.stop()


# --- serving the MCP server over HTTP for tests --------------------------------------------------


@asynccontextmanager
async def serving(
    env: Mapping[str, str],
    pve: Settings,
    *,
    metrics: ServerMetrics | None = None,
    server_factory: Callable[[Settings, HttpService], Any] | None = None,
) -> AsyncIterator[HttpService]:
    """Our server over real HTTP on ``127.0.0.1:<free port>`` with the remote-mode ``env``."""
    http = load_http_settings({"PROXMOX_MCP_MODE": "http", "PROXMOX_MCP_HTTP_PORT": "0", **env})
    service = HttpService.bind(http, metrics=metrics or ServerMetrics())
    server = (server_factory or build_http_server)(pve, service)
    with anyio.fail_after(30):
        async with service.running(server):
            yield service


def bearer(token: str | None) -> httpx2.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx2.AsyncClient(headers=headers, timeout=30)


@asynccontextmanager
async def mcp_client(url: str, token: str | None) -> AsyncIterator[Client]:
    """The official MCP client over streamable HTTP, sending ``token`` as a bearer token."""
    async with bearer(token) as http_client:
        async with Client(streamable_http_client(url, http_client=http_client)) as client:
            yield client


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def tool_call(name: str, arguments: Mapping[str, Any] | None = None, request_id: int = 2) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": dict(arguments or {})},
    }
