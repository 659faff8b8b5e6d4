"""The scope rules, as pure functions, and the static-token verifier."""

from __future__ import annotations

import hashlib

import pytest

from proxmox_operator_mcp.errors import PolicyDenied
from proxmox_operator_mcp.server.auth import (
    LOCAL_PRINCIPAL,
    Principal,
    ScopeNames,
    StaticTokenVerifier,
    VerifiedToken,
    check_tool_access,
    principal_from_token,
    principal_mode,
    required_scope,
    tool_allowed,
)
from proxmox_operator_mcp.server.http_settings import StaticToken
from proxmox_operator_mcp.server.metrics import ServerMetrics
from proxmox_operator_mcp.tools import all_tools

pytestmark = pytest.mark.anyio


def who(*scopes: str, role: str | None = None) -> Principal:
    return Principal(sub="alice", client_id="cli", scopes=frozenset(scopes), role=role)  # type: ignore[arg-type]


def test_read_tools_need_read_mutating_tools_write_and_escape_hatches_admin() -> None:
    assert required_scope(True, False, "vm") == "pve.read"
    assert required_scope(False, False, "vm") == "pve.write"
    assert required_scope(False, True, "lxc") == "pve.write"
    assert required_scope(False, True, "api") == "pve.admin"
    assert required_scope(True, False, "api") == "pve.read"  # proxmox_api_call adapted to GET-only
    for hatch in ("cli", "shell", "files"):  # CLI commands, terminal, exec, shell, files on a node
        assert required_scope(False, True, hatch) == "pve.admin"
        assert required_scope(True, False, hatch) == "pve.read"  # e.g. proxmox_file_read


def test_scope_names_are_configurable() -> None:
    names = ScopeNames(read="proxmox:r", write="proxmox:w", admin="proxmox:x")
    assert [
        required_scope(r, d, t, names=names)
        for r, d, t in [(True, False, "vm"), (False, False, "vm"), (False, True, "api")]
    ] == ["proxmox:r", "proxmox:w", "proxmox:x"]


def test_every_tool_of_this_build_maps_to_one_of_the_three_scopes() -> None:
    scopes = {required_scope(s.read_only, s.destructive, s.toolset) for s in all_tools()}
    assert scopes == {"pve.read", "pve.write", "pve.admin"}
    by_name = {s.name: required_scope(s.read_only, s.destructive, s.toolset) for s in all_tools()}
    assert by_name["proxmox_inventory_overview"] == "pve.read"
    assert by_name["proxmox_vm_action"] == "pve.write"
    assert by_name["proxmox_api_call"] == "pve.admin"


def test_a_write_tool_with_only_the_read_scope_is_denied_with_what_to_do() -> None:
    with pytest.raises(PolicyDenied) as info:
        check_tool_access(who("pve.read"), tool="proxmox_vm_action", read_only=False, destructive=True, toolset="vm")
    text = info.value.to_text()
    assert "needs scope pve.write" in text and "Nothing was sent" in text and "Hint:" in text
    check_tool_access(
        who("pve.read", "pve.write"), tool="proxmox_vm_action", read_only=False, destructive=True, toolset="vm"
    )


def test_a_role_from_the_groups_caps_what_the_scopes_grant() -> None:
    ops_by_scope_readonly_by_group = who("pve.read", "pve.write", role="read-only")
    assert tool_allowed(ops_by_scope_readonly_by_group, read_only=True, destructive=False, toolset="vm")
    assert not tool_allowed(ops_by_scope_readonly_by_group, read_only=False, destructive=False, toolset="vm")
    with pytest.raises(PolicyDenied, match="role read-only"):
        check_tool_access(
            ops_by_scope_readonly_by_group, tool="proxmox_vm_action", read_only=False, destructive=True, toolset="vm"
        )
    assert not tool_allowed(who("pve.read", role="none"), read_only=True, destructive=False, toolset="vm")


def test_the_local_principal_may_do_anything_the_access_mode_allows() -> None:
    assert principal_from_token(None) is LOCAL_PRINCIPAL
    assert tool_allowed(LOCAL_PRINCIPAL, read_only=False, destructive=True, toolset="api")
    assert principal_mode(LOCAL_PRINCIPAL) == "admin"


def test_the_principal_mode_is_the_scope_ceiling_capped_by_the_role() -> None:
    assert principal_mode(who("pve.read")) == "read-only"
    assert principal_mode(who("pve.read", "pve.write")) == "operator"
    assert principal_mode(who("pve.read", "pve.write", "pve.admin")) == "admin"
    assert principal_mode(who("pve.read", "pve.write", "pve.admin", role="operator")) == "operator"
    assert principal_mode(who("pve.read", role="admin")) == "read-only"
    assert principal_mode(who("openid")) == "none"


def test_the_audit_view_carries_identity_but_no_token() -> None:
    p = Principal(
        sub="u1", client_id="c1", scopes=frozenset({"pve.read"}), groups=("ops",), role="operator", issuer="https://idp"
    )
    assert p.audit() == {
        "sub": "u1",
        "client_id": "c1",
        "auth": "oidc",
        "scopes": ["pve.read"],
        "groups": ["ops"],
        "role": "operator",
        "iss": "https://idp",
    }


async def test_static_tokens_match_by_hash_and_carry_their_scopes() -> None:
    metrics = ServerMetrics()
    entries = [
        StaticToken(name="ci", sha256=hashlib.sha256(b"ci-token").hexdigest(), scopes=("pve.read",)),
        StaticToken(name="ops", sha256=hashlib.sha256(b"ops-token").hexdigest(), scopes=("pve.read", "pve.write")),
    ]
    verifier = StaticTokenVerifier(entries, metrics=metrics)
    ops = await verifier.verify_token("ops-token")
    assert isinstance(ops, VerifiedToken)
    assert (ops.principal.sub, ops.principal.auth, ops.scopes) == ("ops", "static", ["pve.read", "pve.write"])
    assert await verifier.verify_token("ops-token ") is None
    assert await verifier.verify_token(entries[0].sha256) is None  # the hash is not the token
    assert metrics.auth_failures.value(reason="unknown_static_token") == 2
