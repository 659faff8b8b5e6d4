"""TLS trust for the PVE API: system store, a CA file, a pinned certificate, or (warned) none.

PVE serves its API with a certificate signed by the cluster's own CA (``pve-root-ca.pem``)
unless the admin installed another one, so the usual choices are a CA file or a fingerprint pin.

Pinning works in two steps: fetch the server's leaf certificate once over an unverified
handshake, compare its SHA-256 with the configured fingerprint (constant time), then build a
context that trusts exactly that certificate. Every later connection is verified by OpenSSL
against it, so a different certificate fails the handshake instead of being trusted by name.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import ssl
from pathlib import Path

import anyio
import httpx2
from anyio.streams.tls import TLSAttribute

from ..config import ApiEndpoint, ClusterConfig
from ..errors import ProxmoxConnectionError

__all__ = [
    "TLS_HINT",
    "build_ssl_context",
    "ca_file_context",
    "certificate_error",
    "check_fingerprint",
    "default_context",
    "fetch_leaf_certificate",
    "fingerprint_of",
    "format_fingerprint",
    "insecure_context",
    "pinned_context",
]

log = logging.getLogger(__name__)

TLS_HINT = (
    "Give the CA that signed the PVE certificate with PROXMOX_TLS_CA_FILE (the cluster CA is "
    "/etc/pve/pve-root-ca.pem on any node), or pin the certificate with PROXMOX_TLS_FINGERPRINT "
    "(on the node: `openssl x509 -noout -fingerprint -sha256 -in /etc/pve/local/pve-ssl.pem`). "
    "PROXMOX_TLS_REJECT_UNAUTHORIZED=0 turns verification off (not recommended)."
)


def fingerprint_of(der: bytes) -> str:
    """SHA-256 of a DER certificate as 64 lowercase hex digits (the form config stores)."""
    return hashlib.sha256(der).hexdigest()


def format_fingerprint(hex_digest: str) -> str:
    """``ab12...`` -> ``AB:12:...``, the way openssl prints fingerprints."""
    h = hex_digest.replace(":", "").upper()
    return ":".join(h[i : i + 2] for i in range(0, len(h), 2))


def _host(endpoint: ApiEndpoint) -> str:
    return endpoint.host.strip("[]")


async def fetch_leaf_certificate(host: str, port: int, *, timeout: float) -> bytes:
    """The DER leaf certificate a TLS server presents, without verifying it.

    Raises:
        httpx2.ConnectTimeout: no handshake within ``timeout`` seconds.
        httpx2.ConnectError: refused, unreachable, or the handshake failed.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with anyio.fail_after(timeout):
            stream = await anyio.connect_tcp(
                host, port, ssl_context=ctx, tls_hostname=host, tls_standard_compatible=False
            )
            try:
                der = stream.extra(TLSAttribute.peer_certificate_binary)
            finally:
                await stream.aclose()
    except TimeoutError as exc:
        raise httpx2.ConnectTimeout(f"no TLS handshake with {host}:{port} within {timeout:g} s") from exc
    except (OSError, anyio.BrokenResourceError, anyio.EndOfStream) as exc:
        raise httpx2.ConnectError(str(exc) or type(exc).__name__) from exc
    if not der:
        raise httpx2.ConnectError(f"{host}:{port} presented no certificate")
    return der


def pinned_context(der: bytes) -> ssl.SSLContext:
    """A client context that trusts exactly this certificate and nothing else.

    The certificate is its own trust anchor (``VERIFY_X509_PARTIAL_CHAIN``); the pin replaces
    the host-name check, so a node reached by IP or another name still connects.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    ctx.load_verify_locations(cadata=ssl.DER_cert_to_PEM_cert(der))
    return ctx


def _relax_strict(ctx: ssl.SSLContext) -> ssl.SSLContext:
    # Python 3.13+ turns on VERIFY_X509_STRICT in create_default_context; certificates made by
    # older PVE installs (e.g. without an Authority Key Identifier) fail it although they are
    # validly signed. Trust is unchanged: the chain and the name are still verified.
    strict = getattr(ssl, "VERIFY_X509_STRICT", 0)
    if strict:
        ctx.verify_flags &= ~strict
    return ctx


def ca_file_context(path: Path | str) -> ssl.SSLContext:
    """Verify against the CA(s) in a PEM file only, with host-name checking on.

    PVE node certificates list the node's name and addresses, so connect by one of those.
    """
    ctx = ssl.create_default_context(cafile=str(path))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return _relax_strict(ctx)


def default_context() -> ssl.SSLContext:
    """Verify against the system trust store (where admins often install pve-root-ca.pem)."""
    ctx = ssl.create_default_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return _relax_strict(ctx)


def insecure_context() -> ssl.SSLContext:
    """No certificate verification at all."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def check_fingerprint(der: bytes, expected: str, endpoint: ApiEndpoint) -> None:
    """Compare a certificate with the pinned fingerprint in constant time.

    Raises:
        ProxmoxConnectionError: it differs; the message shows the offered fingerprint.
    """
    offered = fingerprint_of(der)
    want = expected.replace(":", "").lower()
    if hmac.compare_digest(offered.encode(), want.encode()):
        return
    raise ProxmoxConnectionError(
        f"The TLS certificate of {endpoint.host}:{endpoint.port} does not match PROXMOX_TLS_FINGERPRINT: "
        f"the server offered SHA-256 {format_fingerprint(offered)}, the pin is {format_fingerprint(want)}. "
        "Nothing was sent.",
        hint=(
            "If the node's certificate was replaced on purpose, check the new fingerprint on the node "
            "(`openssl x509 -noout -fingerprint -sha256 -in /etc/pve/local/pve-ssl.pem`) and update "
            "PROXMOX_TLS_FINGERPRINT; otherwise something between you and the node is answering in its place."
        ),
    )


async def build_ssl_context(cluster: ClusterConfig, endpoint: ApiEndpoint) -> ssl.SSLContext:
    """The context for one endpoint, by precedence: fingerprint pin, CA file, off, system store.

    A pin or CA file wins over ``tls_verify=False``: both name exactly what to trust. Loading
    trust stores reads files, so that part runs in a worker thread.

    Raises:
        ProxmoxConnectionError: the pinned fingerprint does not match.
        httpx2.ConnectError / httpx2.ConnectTimeout: fetching the certificate to pin failed.
    """
    if cluster.tls_fingerprint:
        der = await fetch_leaf_certificate(_host(endpoint), endpoint.port, timeout=cluster.connect_timeout)
        check_fingerprint(der, cluster.tls_fingerprint, endpoint)
        return pinned_context(der)
    if cluster.tls_ca_file is not None:
        return await anyio.to_thread.run_sync(ca_file_context, cluster.tls_ca_file)
    if not cluster.tls_verify:
        log.warning(
            "TLS verification is OFF for cluster %r (%s:%d): anyone on the network path can read the "
            "credentials and alter answers; set PROXMOX_TLS_CA_FILE or PROXMOX_TLS_FINGERPRINT instead",
            cluster.name,
            endpoint.host,
            endpoint.port,
        )
        return insecure_context()
    return await anyio.to_thread.run_sync(default_context)


def certificate_error(exc: BaseException) -> ssl.SSLError | None:
    """The ``ssl.SSLError`` behind a connection error, if TLS is what failed."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, ssl.SSLError):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None
