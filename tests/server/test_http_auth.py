"""Bearer auth over real HTTP: every attack is refused with the status the MCP authorization spec
names, and a good token works with the official client."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator, Callable, Iterator

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from proxmox_operator_mcp.server.http import HttpService
from proxmox_operator_mcp.server.metrics import ServerMetrics
from proxmox_operator_mcp.sim import SimOptions, run_sim

from .helpers import settings
from .oidc import INITIALIZE, MCP_HEADERS, Issuer, bearer, mcp_client, running_issuer, serving, tool_call

pytestmark = pytest.mark.anyio


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with running_issuer() as iss:
        yield iss


def oidc_env(issuer: Issuer, **extra: str) -> dict[str, str]:
    return {"PROXMOX_MCP_AUTH_MODE": "oidc", "PROXMOX_MCP_OIDC_ISSUER": issuer.url, **extra}


@pytest.fixture
async def oidc_server(issuer: Issuer) -> AsyncIterator[HttpService]:
    async with serving(oidc_env(issuer), settings("operator")) as svc:
        yield svc


async def post(svc: HttpService, token: str | None, body: object = INITIALIZE, **headers: str):  # type: ignore[no-untyped-def]
    async with bearer(token) as client:
        with anyio.fail_after(15):
            return await client.post(svc.url, json=body, headers={**MCP_HEADERS, **headers})


Forge = Callable[[Issuer, str], str]

ATTACKS: list[tuple[str, Forge]] = [
    ("malformed", lambda i, aud: "not-a-jwt"),
    ("alg-none", lambda i, aud: i.alg_none(aud)),
    ("hs256-signed-with-the-public-key", lambda i, aud: i.hs256_with_public_key(aud)),
    ("wrong-issuer", lambda i, aud: i.mint(aud, iss="https://evil.example.com")),
    ("wrong-audience", lambda i, aud: i.mint(aud, aud="https://api.example.com")),
    ("expired", lambda i, aud: i.mint(aud, exp=int(time.time()) - 600, iat=int(time.time()) - 1200)),
    ("nbf-in-the-future", lambda i, aud: i.mint(aud, nbf=int(time.time()) + 600)),
    ("unknown-kid", lambda i, aud: i.mint(aud, key=i.unpublished_key("ES256"))),
    ("tampered-signature", lambda i, aud: i.tampered_signature(aud)),
    ("tampered-payload", lambda i, aud: i.tampered_payload(aud)),
    ("minted-for-another-mcp-server", lambda i, aud: i.mint("http://127.0.0.1:1/mcp")),
]


@pytest.mark.parametrize("forge", [f for _, f in ATTACKS], ids=[n for n, _ in ATTACKS])
async def test_a_bad_token_gets_401_with_the_resource_metadata(
    issuer: Issuer, oidc_server: HttpService, forge: Forge
) -> None:
    token = forge(issuer, oidc_server.http.resource_url)
    resp = await post(oidc_server, token)
    assert resp.status_code == 401
    challenge = resp.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and 'error="invalid_token"' in challenge
    assert f'resource_metadata="{oidc_server.base_url}/.well-known/oauth-protected-resource/mcp"' in challenge
    assert token not in resp.text


async def test_no_token_gets_401_and_is_counted_as_missing(issuer: Issuer) -> None:
    metrics = ServerMetrics()
    async with serving(oidc_env(issuer), settings(), metrics=metrics) as svc:
        resp = await post(svc, None)
        basic = await post(svc, None, Authorization="Basic dXNlcjpwYXNz")
    assert resp.status_code == 401 and basic.status_code == 401
    assert 'resource_metadata="' in resp.headers["www-authenticate"]
    assert metrics.auth_failures.value(reason="missing_token") == 1
    assert metrics.auth_failures.value(reason="not_bearer") == 1


async def test_rejections_are_counted_by_reason(issuer: Issuer) -> None:
    metrics = ServerMetrics()
    async with serving(oidc_env(issuer), settings(), metrics=metrics) as svc:
        aud = svc.http.resource_url
        for token in (issuer.alg_none(aud), issuer.mint("https://elsewhere/mcp"), issuer.tampered_signature(aud)):
            assert (await post(svc, token)).status_code == 401
        async with bearer(issuer.mint(aud, scope="pve.read pve.metrics")) as client:
            text = (await client.get(svc.metrics_url)).text
    assert metrics.auth_failures.value(reason="alg_not_allowed") == 1
    assert metrics.auth_failures.value(reason="wrong_audience") == 1
    assert metrics.auth_failures.value(reason="bad_signature") == 1
    assert 'proxmox_mcp_auth_failures_total{reason="wrong_audience"} 1' in text


async def test_a_token_without_the_read_scope_gets_403_insufficient_scope(
    issuer: Issuer, oidc_server: HttpService
) -> None:
    resp = await post(oidc_server, issuer.mint(oidc_server.http.resource_url, scope="openid profile"))
    assert resp.status_code == 403
    assert 'error="insufficient_scope"' in resp.headers["www-authenticate"]


async def test_a_write_tool_with_only_the_read_scope_gets_403_naming_the_scope(
    issuer: Issuer, oidc_server: HttpService
) -> None:
    token = issuer.mint(oidc_server.http.resource_url, scope="pve.read")
    resp = await post(oidc_server, token, tool_call("proxmox_vm_action", {"vmid": 100, "action": "start"}, 7))
    assert resp.status_code == 403
    challenge = resp.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="pve.read pve.write"' in challenge
    assert f'resource_metadata="{oidc_server.base_url}/.well-known/oauth-protected-resource/mcp"' in challenge
    error = resp.json()
    assert error["id"] == 7 and "pve.write" in error["error"]["message"]


async def test_the_escape_hatch_needs_the_admin_scope(issuer: Issuer, oidc_server: HttpService) -> None:
    token = issuer.mint(oidc_server.http.resource_url, scope="pve.read pve.write")
    resp = await post(oidc_server, token, tool_call("proxmox_api_call", {"method": "GET", "path": "/version"}))
    assert resp.status_code == 403 and 'scope="pve.read pve.write pve.admin"' in resp.headers["www-authenticate"]


async def test_the_official_client_sees_the_scope_refusal_as_an_error(issuer: Issuer, oidc_server: HttpService) -> None:
    token = issuer.mint(oidc_server.http.resource_url, scope="pve.read")
    with anyio.fail_after(30):
        async with mcp_client(oidc_server.url, token) as client:
            with pytest.raises(MCPError, match=r"needs scope pve\.write"):
                await client.call_tool("proxmox_vm_action", {"vmid": 100, "action": "start"})
            still = await client.call_tool("proxmox_capabilities", {})
    assert not still.is_error


async def test_a_good_token_lists_and_calls_tools_against_the_simulated_cluster(issuer: Issuer) -> None:
    async with run_sim(SimOptions(nodes=2, vms_per_node=2, task_seconds=0.05)) as sim:
        pve = settings("operator", **sim.env())
        async with serving(oidc_env(issuer), pve) as svc:
            token = issuer.mint(svc.http.resource_url, scope="pve.read pve.write", sub="alice")
            with anyio.fail_after(60):
                async with mcp_client(svc.url, token) as client:
                    names = {t.name for t in (await client.list_tools()).tools}
                    assert {"proxmox_inventory_overview", "proxmox_vm_action"} <= names
                    overview = await client.call_tool("proxmox_inventory_overview", {})
                    assert not overview.is_error and overview.structured_content["nodes_total"] == 2  # type: ignore[index]
                    vms = await client.call_tool("proxmox_vm_list", {"status": "stopped", "template": False})
                    vmid = vms.structured_content["items"][0]["vmid"]  # type: ignore[index]
                    started = await client.call_tool("proxmox_vm_action", {"vmid": vmid, "action": "start", "wait": 10})
                    assert not started.is_error, started.content


async def test_a_rotated_jwks_is_accepted_without_restart(issuer: Issuer) -> None:
    env = oidc_env(issuer, PROXMOX_MCP_OIDC_JWKS_REFRESH_COOLDOWN="0")
    async with serving(env, settings()) as svc:
        aud = svc.http.resource_url
        old = issuer.mint(aud)
        assert (await post(svc, old)).status_code == 200
        new_key = issuer.rotate(alg="ES256")
        assert (await post(svc, issuer.mint(aud, key=new_key))).status_code == 200
        # The withdrawn key no longer vouches, even for a token verified (and cached) before.
        assert (await post(svc, old)).status_code == 401
    assert issuer.jwks_hits >= 2  # refetched while serving: no restart


async def test_the_protected_resource_metadata_names_issuer_resource_and_scopes(
    issuer: Issuer, oidc_server: HttpService
) -> None:
    async with bearer(None) as client:
        resp = await client.get(oidc_server.base_url + "/.well-known/oauth-protected-resource/mcp")
    assert resp.status_code == 200
    doc = resp.json()
    assert doc["resource"] == oidc_server.url
    assert doc["authorization_servers"] == [issuer.url]
    assert doc["scopes_supported"] == ["pve.read", "pve.write", "pve.admin"]


async def test_the_public_base_url_is_the_resource_behind_a_proxy(issuer: Issuer) -> None:
    env = oidc_env(
        issuer, PROXMOX_MCP_HTTP_PUBLIC_BASE_URL="https://mcp.example.com", PROXMOX_MCP_TRUSTED_PROXIES="127.0.0.1"
    )
    async with serving(env, settings()) as svc:
        assert svc.http.resource_url == "https://mcp.example.com/mcp"
        async with bearer(None) as client:
            meta = await client.get(svc.base_url + "/.well-known/oauth-protected-resource/mcp")
        assert meta.json()["resource"] == "https://mcp.example.com/mcp"
        # Tokens are minted for the public URL, and the Host the proxy forwards is accepted.
        ok = await post(svc, issuer.mint("https://mcp.example.com/mcp"), Host="mcp.example.com")
        local_aud = await post(svc, issuer.mint(svc.url), Host="mcp.example.com")
        unauth = await post(svc, None, Host="mcp.example.com")
    assert ok.status_code == 200
    assert local_aud.status_code == 401
    assert (
        'resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"'
        in unauth.headers["www-authenticate"]
    )


async def test_metrics_on_the_main_port_need_the_metrics_or_admin_scope(
    issuer: Issuer, oidc_server: HttpService
) -> None:
    aud = oidc_server.http.resource_url
    async with (
        bearer(None) as anon,
        bearer(issuer.mint(aud)) as reader,
        bearer(issuer.mint(aud, scope="pve.metrics")) as scraper,
        bearer(issuer.mint(aud, scope="pve.admin")) as admin,
    ):
        assert (await anon.get(oidc_server.metrics_url)).status_code == 401
        assert (await reader.get(oidc_server.metrics_url)).status_code == 403
        scraped = await scraper.get(oidc_server.metrics_url)
        assert (await admin.get(oidc_server.metrics_url)).status_code == 200
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE proxmox_mcp_tool_calls_total counter" in scraped.text


# --- static tokens ------------------------------------------------------------------------------

READ_TOKEN = "read-" + "x" * 40
WRITE_TOKEN = "write-" + "y" * 40


def static_env() -> dict[str, str]:
    def h(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    return {
        "PROXMOX_MCP_AUTH_MODE": "static",
        "PROXMOX_MCP_STATIC_TOKENS": f"reader:{h(READ_TOKEN)}:pve.read; ops:{h(WRITE_TOKEN)}:pve.read pve.write",
    }


async def test_static_tokens_authenticate_by_their_hash() -> None:
    async with serving(static_env(), settings("operator")) as svc:
        none = await post(svc, None)
        wrong = await post(svc, "read-" + "z" * 40)
        good = await post(svc, READ_TOKEN)
        refused = await post(svc, READ_TOKEN, tool_call("proxmox_vm_action", {"vmid": 100, "action": "start"}))
        allowed = await post(svc, WRITE_TOKEN, tool_call("proxmox_vm_action", {"vmid": 100, "action": "start"}))
    assert none.status_code == 401 and "resource_metadata" not in none.headers["www-authenticate"]
    assert wrong.status_code == 401
    assert good.status_code == 200
    assert refused.status_code == 403 and 'scope="pve.read pve.write"' in refused.headers["www-authenticate"]
    # Past the scope check, the transport answers: this raw request opened no session.
    assert allowed.status_code == 400 and "session" in allowed.text.lower()


async def test_a_static_token_lists_and_calls_tools_with_the_official_client() -> None:
    with anyio.fail_after(30):
        async with serving(static_env(), settings()) as svc, mcp_client(svc.url, READ_TOKEN) as client:
            tools = (await client.list_tools()).tools
            res = await client.call_tool("proxmox_capabilities", {})
    assert tools and not res.is_error
