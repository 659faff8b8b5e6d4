"""Against a real identity provider (npm oauth2-mock-server, client_credentials): good tokens
work with the official client; every attack built from its real tokens is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable

import anyio
import pytest
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import RSAAlgorithm

from proxmox_operator_mcp.server.http import HttpService
from proxmox_operator_mcp.sim import SimOptions, run_sim

from ..server.helpers import settings
from ..server.oidc import INITIALIZE, MCP_HEADERS, bearer, mcp_client, serving, tool_call
from .conftest import MockIssuer

pytestmark = pytest.mark.anyio


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _parts(token: str) -> tuple[dict, dict, str]:  # type: ignore[type-arg]
    h, p, s = token.split(".")
    return json.loads(_unb64(h)), json.loads(_unb64(p)), s


def _oidc_env(issuer: MockIssuer, **extra: str) -> dict[str, str]:
    return {"PROXMOX_MCP_AUTH_MODE": "oidc", "PROXMOX_MCP_OIDC_ISSUER": issuer.url, **extra}


async def _post(svc: HttpService, token: str | None, body: object = INITIALIZE):  # type: ignore[no-untyped-def]
    async with bearer(token) as client:
        with anyio.fail_after(15):
            return await client.post(svc.url, json=body, headers=MCP_HEADERS)


async def test_client_credentials_tokens_list_and_call_tools_against_the_simulated_cluster(
    oauth2_mock: MockIssuer,
) -> None:
    async with run_sim(SimOptions(nodes=2, vms_per_node=2, task_seconds=0.05)) as sim:
        async with serving(_oidc_env(oauth2_mock), settings("operator", **sim.env())) as svc:
            token = await oauth2_mock.token(svc.url, "pve.read pve.write", client_id="ops-bot")
            _, claims, _ = _parts(token)
            assert (claims["aud"], claims["sub"], claims["iss"]) == (svc.url, "ops-bot", oauth2_mock.url)
            with anyio.fail_after(60):
                async with mcp_client(svc.url, token) as client:
                    names = {t.name for t in (await client.list_tools()).tools}
                    overview = await client.call_tool("proxmox_inventory_overview", {})
                    vms = await client.call_tool("proxmox_vm_list", {"status": "stopped", "template": False})
                    vmid = vms.structured_content["items"][0]["vmid"]  # type: ignore[index]
                    started = await client.call_tool("proxmox_vm_action", {"vmid": vmid, "action": "start", "wait": 10})
    assert {"proxmox_inventory_overview", "proxmox_vm_action"} <= names
    assert not overview.is_error and overview.structured_content["nodes_total"] == 2  # type: ignore[index]
    assert not started.is_error, started.content


async def _public_pem(issuer: MockIssuer, kid: str) -> bytes:
    jwk = next(k for k in (await issuer.jwks())["keys"] if k["kid"] == kid)
    return RSAAlgorithm.from_jwk(json.dumps(jwk)).public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


async def _alg_none(issuer: MockIssuer, aud: str) -> str:
    header, claims, _ = _parts(await issuer.token(aud))
    return f"{_b64(json.dumps({**header, 'alg': 'none'}).encode())}.{_b64(json.dumps(claims).encode())}."


async def _hs256_public_key(issuer: MockIssuer, aud: str) -> str:
    header, claims, _ = _parts(await issuer.token(aud))
    pem = await _public_pem(issuer, header["kid"])
    signing_input = f"{_b64(json.dumps({**header, 'alg': 'HS256'}).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest())}"


async def _unknown_kid(issuer: MockIssuer, aud: str) -> str:
    header, claims, sig = _parts(await issuer.token(aud))
    return f"{_b64(json.dumps({**header, 'kid': 'not-published'}).encode())}.{_b64(json.dumps(claims).encode())}.{sig}"


async def _tampered_signature(issuer: MockIssuer, aud: str) -> str:
    h, p, s = (await issuer.token(aud)).split(".")
    raw = bytearray(_unb64(s))
    raw[len(raw) // 2] ^= 1
    return f"{h}.{p}.{_b64(bytes(raw))}"


async def _const(value: str) -> str:
    return value


Attack = Callable[[MockIssuer, str], Awaitable[str]]
ATTACKS: list[tuple[str, Attack]] = [
    ("malformed", lambda i, aud: _const("definitely.not.a-jwt")),
    ("alg-none", _alg_none),
    ("hs256-signed-with-the-public-key", _hs256_public_key),
    ("wrong-issuer", lambda i, aud: i.token(aud, iss="https://evil.example.com")),
    ("wrong-audience", lambda i, aud: i.token("https://api.example.com")),
    ("expired", lambda i, aud: i.token(aud, exp_offset="-600", iat_offset="-1200", nbf_offset="-1200")),
    ("nbf-in-the-future", lambda i, aud: i.token(aud, nbf_offset="600")),
    ("unknown-kid", _unknown_kid),
    ("tampered-signature", _tampered_signature),
    ("minted-for-another-mcp-server", lambda i, aud: i.token("http://127.0.0.1:1/mcp")),
]


@pytest.mark.parametrize("attack", [a for _, a in ATTACKS], ids=[n for n, _ in ATTACKS])
async def test_tokens_forged_from_the_real_issuer_are_refused_with_401(oauth2_mock: MockIssuer, attack: Attack) -> None:
    async with serving(_oidc_env(oauth2_mock), settings()) as svc:
        token = await attack(oauth2_mock, svc.url)
        good = await _post(svc, await oauth2_mock.token(svc.url))
        bad = await _post(svc, token)
    assert good.status_code == 200
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["www-authenticate"]


async def test_no_token_gets_401_pointing_at_the_metadata_that_names_the_issuer(oauth2_mock: MockIssuer) -> None:
    async with serving(_oidc_env(oauth2_mock), settings()) as svc:
        resp = await _post(svc, None)
        challenge = resp.headers["www-authenticate"]
        metadata_url = challenge.split('resource_metadata="')[1].split('"')[0]
        async with bearer(None) as client:
            metadata = (await client.get(metadata_url)).json()
    assert resp.status_code == 401
    assert metadata["authorization_servers"] == [oauth2_mock.url] and metadata["resource"] == svc.url


async def test_a_write_tool_with_only_the_read_scope_gets_403(oauth2_mock: MockIssuer) -> None:
    async with serving(_oidc_env(oauth2_mock), settings("operator")) as svc:
        read_only = await oauth2_mock.token(svc.url, "pve.read")
        resp = await _post(svc, read_only, tool_call("proxmox_vm_action", {"vmid": 100, "action": "start"}))
        no_read = await _post(svc, await oauth2_mock.token(svc.url, "openid"))
    assert resp.status_code == 403 and 'scope="pve.read pve.write"' in resp.headers["www-authenticate"]
    assert no_read.status_code == 403 and 'error="insufficient_scope"' in no_read.headers["www-authenticate"]


async def test_a_key_rotated_at_the_issuer_is_accepted_without_restart(oauth2_mock: MockIssuer) -> None:
    env = _oidc_env(oauth2_mock, PROXMOX_MCP_OIDC_JWKS_REFRESH_COOLDOWN="0")
    async with serving(env, settings()) as svc:
        assert (await _post(svc, await oauth2_mock.token(svc.url))).status_code == 200
        new_kid = await oauth2_mock.rotate()
        # The mock signs with its keys in turn: within two tokens one carries the new kid.
        tokens = [await oauth2_mock.token(svc.url) for _ in range(2)]
        statuses = [(await _post(svc, t)).status_code for t in tokens]
    assert new_kid in {_parts(t)[0]["kid"] for t in tokens}
    assert statuses == [200, 200]
