"""Edge protections of the HTTP listener: DNS rebinding, body limit, rate limit, sessions,
forwarded headers, health, readiness and metrics."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator

import anyio
import pytest

from proxmox_operator_mcp.server.http import HttpService, RateLimiter, build_http_server
from proxmox_operator_mcp.server.http_settings import load_http_settings
from proxmox_operator_mcp.server.metrics import ServerMetrics

from .helpers import settings
from .oidc import INITIALIZE, MCP_HEADERS, bearer, mcp_client, running_issuer, serving

pytestmark = pytest.mark.anyio


async def post(url: str, token: str | None = None, body: object = INITIALIZE, **headers: str):  # type: ignore[no-untyped-def]
    async with bearer(token) as client:
        with anyio.fail_after(15):
            return await client.post(url, json=body, headers={**MCP_HEADERS, **headers})


@pytest.fixture
async def open_server() -> AsyncIterator[HttpService]:
    async with serving({}, settings()) as svc:
        yield svc


# --- DNS rebinding ------------------------------------------------------------------------------


async def test_a_foreign_host_header_gets_421(open_server: HttpService) -> None:
    resp = await post(open_server.url, Host="evil.example.com")
    assert resp.status_code == 421


async def test_a_foreign_origin_gets_403(open_server: HttpService) -> None:
    resp = await post(open_server.url, Origin="http://evil.example.com")
    assert resp.status_code == 403


async def test_loopback_hosts_and_origins_are_accepted(open_server: HttpService) -> None:
    port = open_server.http.http_port
    resp = await post(open_server.url, Host=f"localhost:{port}", Origin=f"http://localhost:{port}")
    assert resp.status_code == 200


async def test_dns_rebinding_is_refused_before_authentication() -> None:
    env = {"PROXMOX_MCP_AUTH_MODE": "static", "PROXMOX_MCP_STATIC_TOKENS": f"a:{'0' * 64}:pve.read"}
    async with serving(env, settings()) as svc:
        host = await post(svc.url, Host="evil.example.com")
        origin = await post(svc.url, Origin="http://evil.example.com")
    assert (host.status_code, origin.status_code) == (421, 403)


@pytest.mark.parametrize("variable", ["PROXMOX_MCP_ALLOWED_HOSTS", "MCP_ALLOWED_HOSTS"])
async def test_configured_hosts_and_origins_are_accepted_and_others_still_refused(variable: str) -> None:
    env = {variable: "mcp.example.com", "PROXMOX_MCP_ALLOWED_ORIGINS": "https://app.example.com"}
    async with serving(env, settings()) as svc:
        good = await post(svc.url, Host="mcp.example.com", Origin="https://app.example.com")
        bad_host = await post(svc.url, Host="mcp.example.org")
        bad_origin = await post(svc.url, Host="mcp.example.com", Origin="https://evil.example.com")
    assert (good.status_code, bad_host.status_code, bad_origin.status_code) == (200, 421, 403)


# --- limits -------------------------------------------------------------------------------------


async def test_an_oversized_body_gets_413_before_authentication() -> None:
    env = {
        "PROXMOX_MCP_AUTH_MODE": "static",
        "PROXMOX_MCP_STATIC_TOKENS": f"a:{'0' * 64}:pve.read",
        "PROXMOX_MCP_HTTP_MAX_BODY_BYTES": "8192",
    }
    big = {**INITIALIZE, "params": {**INITIALIZE["params"], "padding": "x" * 10_000}}  # type: ignore[dict-item]

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 1024

    async with serving(env, settings()) as svc:
        declared = await post(svc.url, body=big)
        async with bearer(None) as client:
            streamed = await client.post(svc.url, content=chunks(), headers=MCP_HEADERS)
    assert declared.status_code == 413
    assert streamed.status_code == 413


async def test_the_rate_limit_answers_429_per_principal() -> None:
    tokens = {"alice": "a" * 40, "bob": "b" * 40}
    entries = ";".join(f"{n}:{hashlib.sha256(t.encode()).hexdigest()}:pve.read" for n, t in tokens.items())
    env = {
        "PROXMOX_MCP_AUTH_MODE": "static",
        "PROXMOX_MCP_STATIC_TOKENS": entries,
        "PROXMOX_MCP_RATE_LIMIT_PER_MINUTE": "1",
        "PROXMOX_MCP_RATE_LIMIT_BURST": "3",
    }
    metrics = ServerMetrics()
    async with serving(env, settings(), metrics=metrics) as svc:
        alice = [await post(svc.url, tokens["alice"]) for _ in range(4)]
        bob = await post(svc.url, tokens["bob"])
    assert [r.status_code for r in alice] == [200, 200, 200, 429]
    limited = alice[-1]
    assert int(limited.headers["retry-after"]) > 0
    assert limited.json()["id"] == 1 and "rate limit" in limited.json()["error"]["message"]
    assert bob.status_code == 200
    assert metrics.rate_limited.value() == 1


@pytest.mark.parametrize(("trusted", "expected"), [("127.0.0.1", [200, 200]), ("", [200, 429])])
async def test_forwarded_client_addresses_count_only_from_trusted_proxies(trusted: str, expected: list[int]) -> None:
    env = {"PROXMOX_MCP_RATE_LIMIT_PER_MINUTE": "1", "PROXMOX_MCP_RATE_LIMIT_BURST": "1"}
    if trusted:
        env["PROXMOX_MCP_TRUSTED_PROXIES"] = trusted
    async with serving(env, settings()) as svc:
        first = await post(svc.url, **{"X-Forwarded-For": "203.0.113.1"})
        second = await post(svc.url, **{"X-Forwarded-For": "203.0.113.2"})
    assert [first.status_code, second.status_code] == expected


def test_the_rate_limiter_refills_at_its_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0])
    assert limiter.take("k") is None and limiter.take("k") is None
    wait = limiter.take("k")
    assert wait is not None and 0.9 < wait <= 1.0
    now[0] += 1.0
    assert limiter.take("k") is None
    assert RateLimiter(per_minute=0, burst=1).take("k") is None  # 0 turns it off


async def test_sessions_beyond_the_maximum_get_503() -> None:
    async with serving({"PROXMOX_MCP_HTTP_MAX_SESSIONS": "1"}, settings()) as svc:
        first = await post(svc.url)
        second = await post(svc.url)
    assert first.status_code == 200 and "mcp-session-id" in first.headers
    assert second.status_code == 503


# --- operations endpoints -----------------------------------------------------------------------


async def test_healthz_answers_without_auth_or_detail_even_to_probes_by_address() -> None:
    env = {"PROXMOX_MCP_AUTH_MODE": "static", "PROXMOX_MCP_STATIC_TOKENS": f"a:{'0' * 64}:pve.read"}
    async with serving(env, settings()) as svc, bearer(None) as client:
        resp = await client.get(svc.base_url + "/healthz", headers={"Host": "10.1.2.3:8000"})
    assert resp.status_code == 200 and resp.text == "ok\n"


async def test_readyz_is_ready_when_the_identity_provider_answers() -> None:
    with running_issuer() as issuer:
        env = {"PROXMOX_MCP_AUTH_MODE": "oidc", "PROXMOX_MCP_OIDC_ISSUER": issuer.url}
        async with serving(env, settings()) as svc, bearer(None) as client:
            resp = await client.get(svc.base_url + "/readyz")
    assert resp.status_code == 200 and resp.json() == {"status": "ready"}


async def test_readyz_names_the_failing_check_without_detail() -> None:
    with running_issuer() as gone:
        url = gone.url
    env = {"PROXMOX_MCP_AUTH_MODE": "oidc", "PROXMOX_MCP_OIDC_ISSUER": url, "PROXMOX_MCP_OIDC_HTTP_TIMEOUT": "2"}
    async with serving(env, settings()) as svc, bearer(None) as client:
        with anyio.fail_after(15):
            resp = await client.get(svc.base_url + "/readyz")
    assert resp.status_code == 503
    assert resp.json() == {"status": "not ready", "failing": ["auth"]}
    assert url not in resp.text


async def test_extra_readiness_checks_are_consulted() -> None:
    async def secrets() -> str | None:
        return "vault sealed"

    http = load_http_settings({"PROXMOX_MCP_MODE": "http", "PROXMOX_MCP_HTTP_PORT": "0"})
    service = HttpService.bind(http, metrics=ServerMetrics(), readiness={"secrets": secrets})
    with anyio.fail_after(30):
        async with service.running(build_http_server(settings(), service)), bearer(None) as client:
            resp = await client.get(service.base_url + "/readyz")
    assert resp.status_code == 503 and resp.json()["failing"] == ["secrets"]


async def test_metrics_count_http_requests_by_endpoint_and_status() -> None:
    metrics = ServerMetrics()
    async with serving({}, settings(), metrics=metrics) as svc:
        with anyio.fail_after(30):
            async with mcp_client(svc.url, None) as client:
                await client.list_tools()
        async with bearer(None) as client:
            text = (await client.get(svc.metrics_url)).text
    assert metrics.http_requests.value(endpoint="mcp", status="200") >= 2
    assert 'proxmox_mcp_http_requests_total{endpoint="mcp",status="200"}' in text
    assert "proxmox_mcp_http_request_duration_seconds_bucket" in text


async def test_metrics_on_a_separate_port_need_no_token_and_leave_the_main_port() -> None:
    env = {
        "PROXMOX_MCP_AUTH_MODE": "static",
        "PROXMOX_MCP_STATIC_TOKENS": f"a:{'0' * 64}:pve.read",
        "PROXMOX_MCP_METRICS_PORT": "0",
    }
    async with serving(env, settings()) as svc, bearer(None) as client:
        side = await client.get(svc.metrics_url)
        main = await client.get(svc.base_url + "/metrics")
    assert svc.http.metrics_port not in (None, svc.http.http_port)
    assert side.status_code == 200 and "proxmox_mcp_build_info" in side.text
    assert main.status_code == 404


# --- insecure binds -----------------------------------------------------------------------------


async def test_an_allowed_insecure_bind_logs_a_loud_warning(caplog: pytest.LogCaptureFixture) -> None:
    env = {
        "PROXMOX_MCP_HTTP_HOST": "0.0.0.0",
        "PROXMOX_MCP_ALLOW_INSECURE_HTTP": "1",
        "PROXMOX_MCP_ALLOWED_HOSTS": "127.0.0.1:*",
    }
    with caplog.at_level(logging.WARNING, logger="proxmox_operator_mcp.http"):
        async with serving(env, settings()) as svc:
            resp = await post(svc.url)
    assert resp.status_code == 200
    assert any("WITHOUT AUTHENTICATION" in r.getMessage() for r in caplog.records)
