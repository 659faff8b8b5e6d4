"""TLS trust against a real HTTPS server on 127.0.0.1 with a PVE-like CA and leaf."""

from __future__ import annotations

import logging
import socket
import ssl
from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import SecretStr

from proxmox_operator_mcp.config import ClusterConfig
from proxmox_operator_mcp.errors import ProxmoxConnectionError
from proxmox_operator_mcp.transports import tls as tls_mod
from proxmox_operator_mcp.transports.rest import RestClient

from .fakes import TOKEN_SECRET
from .tlsutil import CA, Leaf, VersionApp, https_server, make_ca, make_leaf

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d: Path = tmp_path_factory.mktemp("pki")
    ca: CA = make_ca(d, "pve-root-ca")
    other_ca: CA = make_ca(d, "other-ca")
    return {
        "ca": ca,
        "other_ca": other_ca,
        "leaf": make_leaf(d, ca, "pve-ssl"),  # names localhost and 127.0.0.1
        "second": make_leaf(d, ca, "pve-ssl-renewed"),
        "named_only": make_leaf(d, ca, "pve1-only", dns=("pve1",), ips=()),  # does not name 127.0.0.1
    }


def cluster(port: int, **kw: Any) -> ClusterConfig:
    return ClusterConfig.model_validate(
        {
            "name": "tls",
            "endpoints": [f"127.0.0.1:{port}"],
            "token_user": "root@pam",
            "token_id": "mcp",
            "token_secret": SecretStr(TOKEN_SECRET),
            "connect_timeout": 3,
            "read_timeout": 5,
            **kw,
        }
    )


async def test_a_ca_file_verifies_the_pve_certificate(pki: dict[str, Any]) -> None:
    app = VersionApp()
    async with https_server(pki["leaf"], app) as port:
        async with RestClient(cluster(port, tls_ca_file=pki["ca"].pem_path)) as client:
            with anyio.fail_after(10):
                assert (await client.get("/version"))["version"] == "9.0.3"
                await client.get("/nodes")
    assert app.requests == ["GET /api2/json/version", "GET /api2/json/nodes"]


async def test_a_ca_file_keeps_host_name_checking_on(pki: dict[str, Any]) -> None:
    app = VersionApp()
    async with https_server(pki["named_only"], app) as port:
        async with RestClient(cluster(port, tls_ca_file=pki["ca"].pem_path)) as client:
            with anyio.fail_after(10), pytest.raises(ProxmoxConnectionError) as info:
                await client.get("/version")
    assert "TLS verification of 127.0.0.1" in info.value.message
    assert "does not name 127.0.0.1" in (info.value.hint or "")
    assert app.requests == []


async def test_a_certificate_from_another_ca_is_refused_with_the_offered_fingerprint(pki: dict[str, Any]) -> None:
    app = VersionApp()
    leaf: Leaf = pki["leaf"]
    async with https_server(leaf, app) as port:
        async with RestClient(cluster(port, tls_ca_file=pki["other_ca"].pem_path)) as client:
            with anyio.fail_after(10), pytest.raises(ProxmoxConnectionError) as info:
                await client.get("/version")
    hint = info.value.hint or ""
    assert "PROXMOX_TLS_CA_FILE" in hint and "PROXMOX_TLS_FINGERPRINT" in hint
    assert leaf.sha256_colons in hint
    assert app.requests == []


async def test_default_verification_refuses_a_self_made_pve_certificate(pki: dict[str, Any]) -> None:
    app = VersionApp()
    async with https_server(pki["leaf"], app) as port:
        async with RestClient(cluster(port)) as client:
            with anyio.fail_after(10), pytest.raises(ProxmoxConnectionError) as info:
                await client.get("/version")
    assert "certificate" in info.value.message.lower()
    assert pki["leaf"].sha256_colons in (info.value.hint or "")
    assert app.requests == []


async def test_a_fingerprint_pin_accepts_the_pinned_certificate_whatever_its_name(pki: dict[str, Any]) -> None:
    app = VersionApp()
    leaf: Leaf = pki["named_only"]  # no CA file, and the name does not match: the pin is enough
    async with https_server(leaf, app) as port:
        async with RestClient(cluster(port, tls_fingerprint=leaf.sha256_colons.lower())) as client:
            with anyio.fail_after(10):
                assert (await client.get("/version"))["release"] == "9.0"
    assert app.requests == ["GET /api2/json/version"]


async def test_a_wrong_fingerprint_is_refused_showing_the_offered_one_and_nothing_is_sent(pki: dict[str, Any]) -> None:
    app = VersionApp()
    leaf: Leaf = pki["leaf"]
    wrong = pki["second"].sha256
    async with https_server(leaf, app) as port:
        async with RestClient(cluster(port, tls_fingerprint=wrong)) as client:
            with anyio.fail_after(10), pytest.raises(ProxmoxConnectionError) as info:
                await client.get("/version")
    err = info.value
    assert f"offered SHA-256 {leaf.sha256_colons}" in err.message
    assert "PROXMOX_TLS_FINGERPRINT" in err.message
    assert err.hint and "openssl x509" in err.hint
    assert app.requests == []


async def test_the_pinned_context_trusts_exactly_the_pinned_certificate(pki: dict[str, Any]) -> None:
    """A later connection presenting another certificate (even from the same CA) fails the handshake."""
    ctx = tls_mod.pinned_context(pki["leaf"].der)
    async with https_server(pki["leaf"], VersionApp()) as port:
        with anyio.fail_after(10):
            stream = await anyio.connect_tcp("127.0.0.1", port, ssl_context=ctx, tls_standard_compatible=False)
            await stream.aclose()
    async with https_server(pki["second"], VersionApp()) as port:
        with anyio.fail_after(10), pytest.raises(ssl.SSLCertVerificationError):
            await anyio.connect_tcp("127.0.0.1", port, ssl_context=ctx, tls_standard_compatible=False)


async def test_a_certificate_replaced_after_pinning_is_refused_and_reported(pki: dict[str, Any]) -> None:
    first: Leaf = pki["leaf"]
    renewed: Leaf = pki["second"]
    app = VersionApp(close=True)
    async with https_server(first, app) as port:
        client = RestClient(cluster(port, tls_fingerprint=first.sha256), retries=0)
        with anyio.fail_after(10):
            await client.get("/version")
    async with https_server(renewed, app, port=port):
        with anyio.fail_after(10):
            with pytest.raises(ProxmoxConnectionError) as info:
                await client.get("/version")
            assert "no longer the pinned one" in info.value.message
            assert f"now offers SHA-256 {renewed.sha256_colons}" in info.value.message
            # The next request pins afresh and refuses with the usual mismatch error.
            with pytest.raises(ProxmoxConnectionError, match=f"offered SHA-256 {renewed.sha256_colons}"):
                await client.get("/version")
        await client.aclose()
    assert app.requests == ["GET /api2/json/version"]


async def test_turning_verification_off_warns_once_and_connects(
    pki: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with https_server(pki["leaf"], VersionApp()) as port:
        async with RestClient(cluster(port, tls_verify=False)) as client:
            with anyio.fail_after(10):
                await client.get("/version")
                await client.get("/version")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "TLS verification is OFF" in warnings[0].getMessage()
    assert TOKEN_SECRET not in caplog.text


async def test_a_closed_port_is_a_connection_error_naming_host_and_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with RestClient(cluster(port, tls_verify=False), retry_base_delay=0) as client:
        with anyio.fail_after(10), pytest.raises(ProxmoxConnectionError) as info:
            await client.get("/version")
    assert f"https://127.0.0.1:{port}" in info.value.message
    assert "firewall" in (info.value.hint or "")


async def test_a_pinned_client_connects_nowhere_until_the_first_request() -> None:
    # TEST-NET-3: nothing answers there. Building and closing the client must not try.
    cfg = ClusterConfig.model_validate(
        {
            "endpoints": ["203.0.113.7"],
            "token_user": "root@pam",
            "token_id": "mcp",
            "token_secret": SecretStr(TOKEN_SECRET),
            "tls_fingerprint": "ab" * 32,
        }
    )
    with anyio.fail_after(1):
        client = RestClient(cfg)
        assert "203.0.113.7:8006" in repr(client) and TOKEN_SECRET not in repr(client)
        await client.aclose()
