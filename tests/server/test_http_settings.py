"""Remote-mode settings: every environment name of the issue, and every problem reported at once."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from proxmox_operator_mcp.errors import ConfigError
from proxmox_operator_mcp.server.http_settings import HTTP_ENV_REFERENCE, HttpSettings, load_http_settings

HASH = hashlib.sha256(b"token").hexdigest()
OTHER = hashlib.sha256(b"other").hexdigest()


def problems(env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_http_settings(env)
    return info.value.problems


def test_the_defaults_are_stdio_loopback_no_auth_and_stateful() -> None:
    s = load_http_settings({})
    assert (s.mode, s.http_host, s.http_port, s.http_path, s.http_stateless, s.auth_mode) == (
        "stdio",
        "127.0.0.1",
        8000,
        "/mcp",
        False,
        "none",
    )
    assert s.resource_url == "http://127.0.0.1:8000/mcp" and s.sse_enabled
    assert s.scopes == ("pve.read", "pve.write", "pve.admin")
    assert s.oidc_algorithms == ["RS256", "ES256", "PS256", "EdDSA"]


def test_every_variable_of_the_issue_is_read() -> None:
    s = load_http_settings(
        {
            "PROXMOX_MCP_MODE": "both",
            "PROXMOX_MCP_HTTP_HOST": "0.0.0.0",
            "PROXMOX_MCP_HTTP_PORT": "9000",
            "PROXMOX_MCP_HTTP_PATH": "/proxmox/mcp",
            "PROXMOX_MCP_HTTP_STATELESS": "1",
            "PROXMOX_MCP_AUTH_MODE": "oidc",
            "PROXMOX_MCP_OIDC_ISSUER": "https://idp.example.com/realms/ops",
            "PROXMOX_MCP_OIDC_AUDIENCE": "proxmox-mcp,https://mcp.example.com/proxmox/mcp",
            "PROXMOX_MCP_OIDC_JWKS_URL": "https://idp.example.com/realms/ops/certs",
            "PROXMOX_MCP_OIDC_ROLE_CLAIM": "realm_access.roles",
            "PROXMOX_MCP_OIDC_ROLE_MAP": "admins=admin,ops=operator,*=read-only",
            "PROXMOX_MCP_ALLOWED_HOSTS": "mcp.example.com",
            "PROXMOX_MCP_ALLOWED_ORIGINS": "https://app.example.com",
            "PROXMOX_MCP_HTTP_PUBLIC_BASE_URL": "https://mcp.example.com",
            "PROXMOX_MCP_TRUSTED_PROXIES": "10.0.0.0/8,127.0.0.1",
            "PROXMOX_MCP_SCOPE_READ": "proxmox:read",
        }
    )
    assert (s.mode, s.http_host, s.http_port, s.http_path, s.http_stateless) == (
        "both",
        "0.0.0.0",
        9000,
        "/proxmox/mcp",
        True,
    )
    assert s.oidc_audience == ["proxmox-mcp", "https://mcp.example.com/proxmox/mcp"]
    assert s.oidc_role_map == {"admins": "admin", "ops": "operator", "*": "read-only"}
    assert s.resource_url == "https://mcp.example.com/proxmox/mcp"
    assert "mcp.example.com" in s.effective_allowed_hosts and "mcp.example.com:443" in s.effective_allowed_hosts
    assert "127.0.0.1:*" not in s.effective_allowed_hosts  # not bound to loopback: only the named hosts
    assert "https://mcp.example.com" in s.effective_allowed_origins
    assert s.scope_read == "proxmox:read" and not s.sse_enabled


def test_the_older_mcp_allowed_hosts_name_is_accepted() -> None:
    assert load_http_settings({"MCP_ALLOWED_HOSTS": "a.example.com"}).allowed_hosts == ["a.example.com"]


def test_every_problem_is_listed_at_once_by_variable_name() -> None:
    found = problems(
        {
            "PROXMOX_MCP_MODE": "websocket",
            "PROXMOX_MCP_HTTP_PORT": "eighty",
            "PROXMOX_MCP_AUTH_MODE": "kerberos",
            "PROXMOX_MCP_OIDC_ALGORITHMS": "RS256,HS256,none",
            "PROXMOX_MCP_TRUSTED_PROXIES": "proxy.local",
            "PROXMOX_MCP_HTTP_PATH": "/metrics",
        }
    )
    text = "\n".join(found)
    for name in (
        "PROXMOX_MCP_MODE",
        "PROXMOX_MCP_HTTP_PORT",
        "PROXMOX_MCP_AUTH_MODE",
        "PROXMOX_MCP_OIDC_ALGORITHMS",
        "PROXMOX_MCP_TRUSTED_PROXIES",
        "PROXMOX_MCP_HTTP_PATH",
    ):
        assert name in text
    assert "never none or HS*" in text
    assert len(found) == 6


def test_a_public_bind_without_auth_is_refused_unless_explicitly_allowed() -> None:
    env = {"PROXMOX_MCP_MODE": "http", "PROXMOX_MCP_HTTP_HOST": "0.0.0.0", "PROXMOX_MCP_ALLOWED_HOSTS": "mcp.lan"}
    assert any("PROXMOX_MCP_ALLOW_INSECURE_HTTP" in p for p in problems(env))
    assert load_http_settings({**env, "PROXMOX_MCP_ALLOW_INSECURE_HTTP": "1"}).allow_insecure_http
    # stdio only: the HTTP settings do not matter
    load_http_settings({**env, "PROXMOX_MCP_MODE": "stdio"})


def test_a_public_bind_needs_the_host_names_for_dns_rebinding_protection() -> None:
    env = {"PROXMOX_MCP_MODE": "http", "PROXMOX_MCP_HTTP_HOST": "0.0.0.0", "PROXMOX_MCP_ALLOW_INSECURE_HTTP": "1"}
    assert any("DNS-rebinding" in p for p in problems(env))


def test_oidc_needs_an_issuer_and_https_outside_loopback() -> None:
    found = problems({"PROXMOX_MCP_AUTH_MODE": "oidc"})
    assert found == ["PROXMOX_MCP_OIDC_ISSUER is required with PROXMOX_MCP_AUTH_MODE=oidc"]
    found = problems({"PROXMOX_MCP_AUTH_MODE": "oidc", "PROXMOX_MCP_OIDC_ISSUER": "http://idp.example.com"})
    assert "must use https" in found[0]
    load_http_settings({"PROXMOX_MCP_AUTH_MODE": "oidc", "PROXMOX_MCP_OIDC_ISSUER": "http://127.0.0.1:8080"})


def test_static_tokens_are_hashes_with_scopes() -> None:
    s = load_http_settings(
        {
            "PROXMOX_MCP_AUTH_MODE": "static",
            "PROXMOX_MCP_STATIC_TOKENS": f"ci:{HASH}:pve.read; ops:sha256:{OTHER.upper()}:pve.read,pve.write",
        }
    )
    assert [(t.name, t.scopes) for t in s.static_tokens] == [("ci", ("pve.read",)), ("ops", ("pve.read", "pve.write"))]
    assert (s.static_tokens[0].sha256, s.static_tokens[1].sha256) == (HASH, OTHER)


def test_a_plain_token_where_a_hash_belongs_is_refused_without_echoing_it() -> None:
    found = problems({"PROXMOX_MCP_AUTH_MODE": "static", "PROXMOX_MCP_STATIC_TOKENS": "ci:my-secret-token:pve.read"})
    assert "SHA-256" in found[0] and "my-secret-token" not in "\n".join(found)


def test_static_mode_needs_tokens_and_reads_them_from_a_file(tmp_path: Path) -> None:
    assert "PROXMOX_MCP_STATIC_TOKENS" in problems({"PROXMOX_MCP_AUTH_MODE": "static"})[0]
    f = tmp_path / "tokens"
    f.write_text(f"# homelab\nlaptop:{HASH}:pve.read pve.write\n", encoding="utf-8")
    s = load_http_settings({"PROXMOX_MCP_AUTH_MODE": "static", "PROXMOX_MCP_STATIC_TOKENS_FILE": str(f)})
    assert [t.name for t in s.static_tokens] == ["laptop"]
    assert "cannot read" in problems({"PROXMOX_MCP_STATIC_TOKENS_FILE": str(tmp_path / "missing")})[0]


def test_role_map_roles_are_checked() -> None:
    assert "PROXMOX_MCP_OIDC_ROLE_MAP" in problems({"PROXMOX_MCP_OIDC_ROLE_MAP": "admins=root"})[0]
    assert "value=role" in problems({"PROXMOX_MCP_OIDC_ROLE_MAP": "admins"})[0]


def test_the_legacy_sse_transport_cannot_be_forced_on_stateless() -> None:
    found = problems({"PROXMOX_MCP_HTTP_STATELESS": "1", "PROXMOX_MCP_HTTP_SSE": "1"})
    assert "cannot run stateless" in found[0]


def test_the_reference_documents_every_setting() -> None:
    documented = set(HTTP_ENV_REFERENCE)
    for name in HttpSettings.model_fields:
        assert f"PROXMOX_MCP_{name.upper()}" in documented, name
