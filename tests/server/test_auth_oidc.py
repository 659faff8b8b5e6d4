"""The OIDC token verifier against a real (in-process) issuer: every forgery fails, for its reason."""

from __future__ import annotations

import time
from collections.abc import Iterator

import anyio
import pytest

from proxmox_operator_mcp.server.auth import OIDCVerifier, RoleMapper, VerifiedToken
from proxmox_operator_mcp.server.metrics import ServerMetrics

from .oidc import Issuer, running_issuer

pytestmark = pytest.mark.anyio

AUD = "http://127.0.0.1:8000/mcp"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with running_issuer() as iss:
        yield iss


def _ec(issuer: Issuer):  # type: ignore[no-untyped-def]
    return next(k for k in issuer.keys.values() if k.alg == "ES256")


def make_verifier(issuer: Issuer, **kw: object) -> OIDCVerifier:
    kw.setdefault("metrics", ServerMetrics())
    return OIDCVerifier(issuer=issuer.url, audiences=[AUD], **kw)  # type: ignore[arg-type]


async def rejected_for(verifier: OIDCVerifier, token: str) -> list[str]:
    with anyio.fail_after(10):
        assert await verifier.verify_token(token) is None
    counter = verifier.metrics.auth_failures
    return [key[0] for key, value in counter._values.items() if value]


async def test_a_token_from_the_issuer_yields_its_principal(issuer: Issuer) -> None:
    verifier = make_verifier(issuer, roles=RoleMapper("groups", {"ops": "operator", "*": "read-only"}))
    token = issuer.mint(AUD, scope="pve.read pve.write", groups=["ops", "dev"], sub="alice", client_id="cli")
    with anyio.fail_after(10):
        verified = await verifier.verify_token(token)
    assert isinstance(verified, VerifiedToken)
    p = verified.principal
    assert (p.sub, p.client_id, p.scopes, p.groups, p.role) == (
        "alice",
        "cli",
        {"pve.read", "pve.write"},
        ("ops", "dev"),
        "operator",
    )
    assert verified.scopes == ["pve.read", "pve.write"] and verified.resource == AUD
    assert verified.claims == {"iss": issuer.url}


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "PS256"])
async def test_every_allowed_asymmetric_algorithm_verifies(issuer: Issuer, alg: str) -> None:
    key = next(k for k in issuer.keys.values() if k.alg == ("RS256" if alg == "PS256" else alg))
    token = issuer.mint(AUD, key=key, alg=alg)
    with anyio.fail_after(10):
        assert await make_verifier(issuer).verify_token(token) is not None


async def test_the_jwks_url_is_discovered_from_the_issuer(issuer: Issuer) -> None:
    verifier = make_verifier(issuer)
    with anyio.fail_after(10):
        assert await verifier.verify_token(issuer.mint(AUD)) is not None
    assert issuer.discovery_hits == 1 and issuer.jwks_hits == 1


async def test_a_configured_jwks_url_skips_discovery(issuer: Issuer) -> None:
    verifier = make_verifier(issuer, jwks_url=issuer.jwks_url)
    with anyio.fail_after(10):
        assert await verifier.verify_token(issuer.mint(AUD)) is not None
    assert issuer.discovery_hits == 0 and issuer.jwks_hits == 1


async def test_discovery_that_names_another_issuer_is_refused(issuer: Issuer) -> None:
    issuer.discovery_issuer = "https://evil.example.com"
    verifier = make_verifier(issuer)
    assert await rejected_for(verifier, issuer.mint(AUD)) == ["jwks_unavailable"]
    assert issuer.jwks_hits == 0
    assert "evil.example.com" in (await verifier.ready() or "")


async def test_a_verified_token_is_cached_until_it_expires(issuer: Issuer) -> None:
    verifier = make_verifier(issuer)
    token = issuer.mint(AUD)
    with anyio.fail_after(10):
        first = await verifier.verify_token(token)
        second = await verifier.verify_token(token)
    assert first is not None and second is first


async def test_a_token_past_its_exp_is_never_served_from_the_cache(issuer: Issuer) -> None:
    now = int(time.time())
    token = issuer.mint(AUD, exp=now - 5, iat=now - 60, nbf=now - 60)  # expired, within the leeway
    verifier = make_verifier(issuer, leeway=30)
    with anyio.fail_after(10):
        first = await verifier.verify_token(token)
        second = await verifier.verify_token(token)
    assert first is not None and second is not None and second is not first


@pytest.mark.parametrize(
    ("forge", "reason"),
    [
        (lambda i: "not-a-jwt", "malformed"),
        (lambda i: "a.b.c", "malformed"),
        (lambda i: i.alg_none(AUD), "alg_not_allowed"),
        (lambda i: i.hs256_with_public_key(AUD), "alg_not_allowed"),
        (lambda i: i.mint(AUD, iss="https://other-issuer.example.com"), "wrong_issuer"),
        (lambda i: i.mint("http://127.0.0.1:9999/mcp"), "wrong_audience"),
        (lambda i: i.mint(["https://other.example.com/mcp", "api://elsewhere"]), "wrong_audience"),
        (lambda i: i.mint(AUD, exp=int(time.time()) - 3600, iat=int(time.time()) - 7200), "expired"),
        (lambda i: i.mint(AUD, nbf=int(time.time()) + 3600), "not_yet_valid"),
        (lambda i: i.mint(AUD, iat=int(time.time()) + 3600), "not_yet_valid"),
        (lambda i: i.mint(AUD, exp=None), "missing_claim"),
        (lambda i: i.mint(AUD, aud=None), "missing_claim"),
        (lambda i: i.mint(AUD, key=i.unpublished_key()), "unknown_kid"),
        (lambda i: i.tampered_signature(AUD), "bad_signature"),
        (lambda i: i.tampered_payload(AUD), "bad_signature"),
        (lambda i: i.mint(AUD, key=_ec(i), headers={"kid": i.rsa.kid}), "key_mismatch"),
    ],
    ids=[
        "garbage",
        "three-garbage-parts",
        "alg-none",
        "hs256-keyed-with-public-key",
        "wrong-issuer",
        "token-for-another-resource",
        "audience-list-without-us",
        "expired",
        "nbf-in-the-future",
        "iat-in-the-future",
        "no-exp",
        "no-aud",
        "unknown-kid",
        "tampered-signature",
        "tampered-payload",
        "es256-token-naming-the-rsa-key",
    ],
)
async def test_forged_and_misdirected_tokens_are_rejected_with_their_reason(issuer: Issuer, forge, reason) -> None:  # type: ignore[no-untyped-def]
    assert await rejected_for(make_verifier(issuer), forge(issuer)) == [reason]


async def test_small_clock_skew_is_tolerated_within_the_leeway(issuer: Issuer) -> None:
    now = int(time.time())
    token = issuer.mint(AUD, nbf=now + 10, iat=now + 10)
    with anyio.fail_after(10):
        assert await make_verifier(issuer, leeway=30).verify_token(token) is not None
    assert await rejected_for(make_verifier(issuer, leeway=0), token) == ["not_yet_valid"]


async def test_an_algorithm_outside_the_configured_list_is_rejected(issuer: Issuer) -> None:
    key = next(k for k in issuer.keys.values() if k.alg == "ES256")
    verifier = make_verifier(issuer, algorithms=["RS256"])
    assert await rejected_for(verifier, issuer.mint(AUD, key=key)) == ["alg_not_allowed"]


def test_symmetric_or_none_algorithms_cannot_be_configured() -> None:
    for bad in (["HS256"], ["none"], ["RS256", "HS512"], []):
        with pytest.raises(ValueError):
            OIDCVerifier(issuer="https://idp.example.com", audiences=[AUD], algorithms=bad)


async def test_a_rotated_key_is_fetched_when_a_token_names_it_after_the_cooldown(issuer: Issuer) -> None:
    clock = FakeClock()
    verifier = make_verifier(issuer, refresh_cooldown=30, clock=clock)
    with anyio.fail_after(10):
        assert await verifier.verify_token(issuer.mint(AUD)) is not None
        assert issuer.jwks_hits == 1
        new_key = issuer.rotate()
        token = issuer.mint(AUD, key=new_key)
        # Within the cooldown an unknown kid does not reach the issuer.
        assert await verifier.verify_token(token) is None
        assert issuer.jwks_hits == 1
        clock.now += 31
        verified = await verifier.verify_token(token)
    assert verified is not None and issuer.jwks_hits == 2


async def test_made_up_kids_do_not_hammer_the_issuer(issuer: Issuer) -> None:
    clock = FakeClock()
    verifier = make_verifier(issuer, refresh_cooldown=30, clock=clock)
    with anyio.fail_after(10):
        await verifier.verify_token(issuer.mint(AUD))
        for n in range(20):
            assert await verifier.verify_token(issuer.mint(AUD, headers={"kid": f"made-up-{n}"})) is None
    assert issuer.jwks_hits == 1


async def test_concurrent_unknown_kids_cause_one_refetch(issuer: Issuer) -> None:
    clock = FakeClock()
    verifier = make_verifier(issuer, refresh_cooldown=30, clock=clock)
    with anyio.fail_after(10):
        await verifier.verify_token(issuer.mint(AUD))
        new_key = issuer.rotate()
        clock.now += 31
        results: list[object] = []

        async def call() -> None:
            results.append(await verifier.verify_token(issuer.mint(AUD, key=new_key)))

        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(call)
    assert all(r is not None for r in results) and issuer.jwks_hits == 2


async def test_cached_tokens_of_a_withdrawn_key_are_dropped_on_refetch(issuer: Issuer) -> None:
    clock = FakeClock()
    verifier = make_verifier(issuer, refresh_cooldown=0, clock=clock)
    old_token = issuer.mint(AUD)
    with anyio.fail_after(10):
        assert await verifier.verify_token(old_token) is not None
        new_key = issuer.rotate()  # the old key is withdrawn
        assert await verifier.verify_token(issuer.mint(AUD, key=new_key)) is not None
        assert await verifier.verify_token(old_token) is None


async def test_the_keys_are_refetched_when_the_cache_time_is_over(issuer: Issuer) -> None:
    clock = FakeClock()
    verifier = make_verifier(issuer, jwks_cache_seconds=600, clock=clock)
    with anyio.fail_after(10):
        await verifier.verify_token(issuer.mint(AUD))
        clock.now += 601
        await verifier.verify_token(issuer.mint(AUD))
    assert issuer.jwks_hits == 2


async def test_an_unreachable_issuer_rejects_tokens_and_is_not_ready() -> None:
    with running_issuer() as issuer:
        url = issuer.url
        token = issuer.mint(AUD)
    metrics = ServerMetrics()
    verifier = OIDCVerifier(issuer=url, audiences=[AUD], metrics=metrics, http_timeout=2)
    with anyio.fail_after(10):
        assert await verifier.verify_token(token) is None
        assert await verifier.ready() is not None
    assert metrics.auth_failures.value(reason="jwks_unavailable") >= 1


def test_the_role_is_the_highest_mapped_from_the_claim() -> None:
    mapper = RoleMapper("realm_access.roles", {"admins": "admin", "ops": "operator", "*": "read-only"})
    claims = {"realm_access": {"roles": ["ops", "admins"]}}
    assert mapper.values(claims) == ("ops", "admins")
    assert mapper.role(mapper.values(claims)) == "admin"
    assert mapper.role(("guests",)) == "read-only"
    assert RoleMapper("groups", {"ops": "operator"}).role(("guests",)) == "none"
    assert RoleMapper("groups", {}).role(("ops",)) is None
    assert RoleMapper("groups").values({"groups": "a b,c"}) == ("a", "b", "c")
    assert RoleMapper("missing.path").values({"missing": "x"}) == ()
