"""The Vault backend against a real OpenBao server (``bao server -dev``, see openbao.py)."""

from __future__ import annotations

import base64
import contextlib
import datetime
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import anyio
import hvac
import pytest

from proxmox_operator_mcp.errors import SecretError
from proxmox_operator_mcp.secrets import REDACTOR, SecretRef, SecretResolver, VaultBackend, build_backend

from .openbao import ROOT_TOKEN, OpenBao, accessor_alive, async_wait_until, token_accessors

pytestmark = pytest.mark.anyio

TOKEN = "PROXMOX_API_TOKEN_SECRET"
KEY = "PROXMOX_SHELL_SSH_PRIVATE_KEY"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def uid() -> str:
    return uuid.uuid4().hex[:8]


def vault_env(bao: OpenBao, path: str | None = None, **extra: str) -> dict[str, str]:
    env = {"PROXMOX_MCP_SECRET_BACKEND": "vault", "PROXMOX_MCP_SECRET_VAULT_ADDR": bao.addr}
    if path:
        env["PROXMOX_MCP_SECRET_VAULT_PATH"] = path
    if bao.ca_file is not None:
        env["PROXMOX_MCP_SECRET_VAULT_CA_FILE"] = str(bao.ca_file)
    env.update(extra)
    return env


def vault_backend(env: dict[str, str]) -> VaultBackend:
    backend = build_backend(env)
    assert isinstance(backend, VaultBackend)
    return backend


def put(root: hvac.Client, path: str, data: dict[str, str]) -> None:
    mount, sub = path.split("/", 1)
    root.secrets.kv.v2.create_or_update_secret(path=sub, secret=data, mount_point=mount)


def approle(
    root: hvac.Client, *, read_paths: list[str], token_ttl: str = "60s", token_max_ttl: str = "0"
) -> tuple[str, str, str]:
    """Create a policy reading ``read_paths`` and an AppRole with it: (policy, role_id, secret_id)."""
    if "approle/" not in root.sys.list_auth_methods()["data"]:
        with contextlib.suppress(hvac.exceptions.InvalidRequest):  # enabled meanwhile
            root.sys.enable_auth_method("approle")
    name = f"pmx-{uid()}"
    rules = "\n".join(f'path "{p}" {{ capabilities = ["read"] }}' for p in read_paths)
    root.sys.create_or_update_policy(name, rules)
    root.auth.approle.create_or_update_approle(
        name, token_policies=[name], token_ttl=token_ttl, token_max_ttl=token_max_ttl
    )
    role_id = root.auth.approle.read_role_id(name)["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id(name)["data"]["secret_id"]
    return name, role_id, secret_id


def approle_env(bao: OpenBao, path: str, role_id: str, secret_id_file: Path) -> dict[str, str]:
    return vault_env(
        bao,
        path,
        PROXMOX_MCP_SECRET_VAULT_AUTH="approle",
        PROXMOX_MCP_SECRET_VAULT_ROLE_ID=role_id,
        PROXMOX_MCP_SECRET_VAULT_SECRET_ID_FILE=str(secret_id_file),
    )


async def new_accessor(root: hvac.Client, before: set[str]) -> str:
    (acc,) = token_accessors(root) - before
    return acc


# --- reading --------------------------------------------------------------------------------


async def test_kv_v2_read_with_the_token_from_vault_token(bao: OpenBao) -> None:
    path = f"secret/proxmox-{uid()}"
    put(bao.client(), path, {TOKEN: "kv2-token-secret", KEY: "kv2-ssh-key"})
    backend = vault_backend(vault_env(bao, path, VAULT_TOKEN=ROOT_TOKEN))
    try:
        assert (await backend.read(SecretRef("vault", None, TOKEN))).get_secret_value() == "kv2-token-secret"
        assert (await backend.read(SecretRef("vault", path, KEY))).get_secret_value() == "kv2-ssh-key"
        status = await backend.describe()
    finally:
        await backend.aclose()
    assert status["ok"] is True
    assert status["auth"] == "token"
    assert status["token_ttl"] is None  # the dev root token never expires
    assert status["kv_mounts"] == {"secret": "v2"}
    assert status["secret_versions"] == {path: 1}
    assert ROOT_TOKEN not in json.dumps(status)


async def test_token_from_the_variable_named_by_token_env(bao: OpenBao) -> None:
    root = bao.client()
    path = f"secret/proxmox-{uid()}"
    put(root, path, {TOKEN: "named-env-secret"})
    policy = f"p-{uid()}"
    mount, sub = path.split("/", 1)
    root.sys.create_or_update_policy(policy, f'path "{mount}/data/{sub}" {{ capabilities = ["read"] }}')
    token = root.auth.token.create(policies=[policy], ttl="60s")["auth"]["client_token"]
    env = vault_env(bao, path, PROXMOX_MCP_SECRET_VAULT_TOKEN_ENV="MY_BAO_TOKEN", MY_BAO_TOKEN=token)
    backend = vault_backend(env)
    try:
        assert (await backend.read(SecretRef("vault", None, TOKEN))).get_secret_value() == "named-env-secret"
        status = await backend.describe()
    finally:
        await backend.aclose()
    assert policy in status["token_policies"]
    assert 0 < status["token_ttl"] <= 60
    assert accessor_alive(root, root.auth.token.lookup(token)["data"]["accessor"])  # a given token is not revoked


async def test_kv_v1_mount_is_detected_and_read(bao: OpenBao) -> None:
    root = bao.client()
    mount = f"kv1-{uid()}"
    root.sys.enable_secrets_engine("kv", path=mount, options={"version": "1"})
    root.secrets.kv.v1.create_or_update_secret(path="proxmox", secret={TOKEN: "kv1-secret"}, mount_point=mount)
    backend = vault_backend(vault_env(bao, f"{mount}/proxmox", VAULT_TOKEN=ROOT_TOKEN))
    try:
        assert (await backend.read(SecretRef("vault", None, TOKEN))).get_secret_value() == "kv1-secret"
        assert (await backend.describe())["kv_mounts"] == {mount: "v1"}
    finally:
        await backend.aclose()


async def test_a_mount_with_a_slash_in_its_name_is_split_correctly(bao: OpenBao) -> None:
    root = bao.client()
    mount = f"team/kv-{uid()}"
    root.sys.enable_secrets_engine("kv", path=mount, options={"version": "2"})
    root.secrets.kv.v2.create_or_update_secret(path="pve/homelab", secret={TOKEN: "nested"}, mount_point=mount)
    backend = vault_backend(vault_env(bao, VAULT_TOKEN=ROOT_TOKEN))
    try:
        value = await backend.read(SecretRef("vault", f"{mount}/pve/homelab", TOKEN))
    finally:
        await backend.aclose()
    assert value.get_secret_value() == "nested"


async def test_per_cluster_paths_in_one_vault(bao: OpenBao) -> None:
    root = bao.client()
    base = f"secret/pve-{uid()}"
    put(root, f"{base}/homelab", {TOKEN: "homelab-secret"})
    put(root, f"{base}/prod", {TOKEN: "prod-secret"})
    resolver = SecretResolver(vault_backend(vault_env(bao, VAULT_TOKEN=ROOT_TOKEN)))
    async with resolver.running():
        homelab = await resolver.get(SecretRef("vault", f"{base}/homelab", TOKEN))
        prod = await resolver.get(SecretRef("vault", f"{base}/prod", TOKEN))
    assert (homelab.get_secret_value(), prod.get_secret_value()) == ("homelab-secret", "prod-secret")


async def test_missing_field_names_the_fields_present_and_missing_secret_names_the_path(bao: OpenBao) -> None:
    path = f"secret/proxmox-{uid()}"
    put(bao.client(), path, {TOKEN: "x-secret-value"})
    backend = vault_backend(vault_env(bao, path, VAULT_TOKEN=ROOT_TOKEN))
    try:
        with pytest.raises(SecretError, match=f"Vault secret {path} has no field {KEY} \\(fields: {TOKEN}\\)"):
            await backend.read(SecretRef("vault", None, KEY))
        with pytest.raises(SecretError, match="Vault has no secret at secret/does-not-exist"):
            await backend.read(SecretRef("vault", "secret/does-not-exist", TOKEN))
    finally:
        await backend.aclose()


async def test_a_new_secret_version_is_picked_up_without_restart(bao: OpenBao) -> None:
    root = bao.client()
    path = f"secret/proxmox-{uid()}"
    put(root, path, {TOKEN: "version-1"})
    clock = Clock()
    resolver = SecretResolver(vault_backend(vault_env(bao, path, VAULT_TOKEN=ROOT_TOKEN)), clock=clock)
    ref = SecretRef("vault", None, TOKEN)
    async with resolver.running():
        assert (await resolver.get(ref)).get_secret_value() == "version-1"
        put(root, path, {TOKEN: "version-2"})
        assert (await resolver.get(ref)).get_secret_value() == "version-1"  # cached (TTL 300 s)
        clock.now += 301
        assert (await resolver.get(ref)).get_secret_value() == "version-2"
        put(root, path, {TOKEN: "version-3"})
        # Proxmox answered 401: read again at once
        assert (await resolver.refresh(ref)).get_secret_value() == "version-3"


# --- AppRole, renewal, expiry ---------------------------------------------------------------


async def test_approle_login_then_renewal_keeps_the_token_past_its_ttl(bao: OpenBao, tmp_path: Path) -> None:
    root = bao.client()
    path = f"secret/proxmox-{uid()}"
    put(root, path, {TOKEN: "approle-secret"})
    _, role_id, secret_id = approle(
        root, read_paths=[f"secret/data/{path.split('/', 1)[1]}"], token_ttl="3s", token_max_ttl="60s"
    )
    (tmp_path / "secret_id").write_text(secret_id + "\n")
    backend = vault_backend(approle_env(bao, path, role_id, tmp_path / "secret_id"))
    before = token_accessors(root)
    async with backend.running():
        assert (await backend.read(SecretRef("vault", None, TOKEN))).get_secret_value() == "approle-secret"
        assert backend.logins == 1
        accessor = await new_accessor(root, before)
        issued = time.monotonic()
        # renewed at ~2 s, ~4 s ...: after 4 s the 3 s token is still alive only thanks to renewal
        with anyio.fail_after(15):
            while backend.renewals < 2 or time.monotonic() - issued < 4:
                await anyio.sleep(0.05)
        assert accessor_alive(root, accessor)
        assert (await backend.read(SecretRef("vault", None, TOKEN))).get_secret_value() == "approle-secret"
        status = await backend.describe()
        assert backend.logins == 1
    assert 0 < status["token_ttl"] <= 3
    assert status["auth"] == "approle" and status["renewals"] >= 2
    assert secret_id not in json.dumps(status)
    await backend.aclose()
    assert not accessor_alive(root, accessor)  # a token the backend logged in for is revoked at close


async def test_a_renewal_capped_by_the_max_ttl_is_followed_by_a_new_login(bao: OpenBao, tmp_path: Path) -> None:
    root = bao.client()
    path = f"secret/proxmox-{uid()}"
    put(root, path, {TOKEN: "capped"})
    _, role_id, secret_id = approle(
        root, read_paths=[f"secret/data/{path.split('/', 1)[1]}"], token_ttl="3s", token_max_ttl="4s"
    )
    (tmp_path / "secret_id").write_text(secret_id)
    backend = vault_backend(approle_env(bao, path, role_id, tmp_path / "secret_id"))
    async with backend.running():
        await backend.read(SecretRef("vault", None, TOKEN))
        # at ~2 s the renewal is granted only the 2 s left before the max TTL: log in instead
        with anyio.fail_after(10):
            while backend.logins < 2:
                await anyio.sleep(0.05)
        assert backend.renewals == 1
        assert (await backend.read(SecretRef("vault", None, TOKEN))).get_secret_value() == "capped"
    await backend.aclose()


async def test_failed_renewal_falls_back_to_approle_login(bao: OpenBao, tmp_path: Path) -> None:
    root = bao.client()
    path = f"secret/proxmox-{uid()}"
    put(root, path, {TOKEN: "relogin-secret"})
    _, role_id, secret_id = approle(root, read_paths=[f"secret/data/{path.split('/', 1)[1]}"])
    (tmp_path / "secret_id").write_text(secret_id)
    backend = vault_backend(approle_env(bao, path, role_id, tmp_path / "secret_id"))
    before = token_accessors(root)
    try:
        await backend.read(SecretRef("vault", None, TOKEN))
        root.auth.token.revoke_accessor(await new_accessor(root, before))
        await backend.renew_now()  # renew-self is refused: log in again
        assert backend.logins == 2
        assert (await backend.read(SecretRef("vault", None, TOKEN))).get_secret_value() == "relogin-secret"
    finally:
        await backend.aclose()


async def test_a_token_revoked_mid_run_is_replaced_by_a_new_login_on_the_next_read(
    bao: OpenBao, tmp_path: Path
) -> None:
    root = bao.client()
    path = f"secret/proxmox-{uid()}"
    put(root, path, {TOKEN: "revoked-then-fine"})
    _, role_id, secret_id = approle(root, read_paths=[f"secret/data/{path.split('/', 1)[1]}"])
    (tmp_path / "secret_id").write_text(secret_id)
    backend = vault_backend(approle_env(bao, path, role_id, tmp_path / "secret_id"))
    before = token_accessors(root)
    try:
        await backend.read(SecretRef("vault", None, TOKEN))
        root.auth.token.revoke_accessor(await new_accessor(root, before))
        assert (await backend.read(SecretRef("vault", None, TOKEN))).get_secret_value() == "revoked-then-fine"
        assert backend.logins == 2
    finally:
        await backend.aclose()


async def test_an_expired_static_token_gives_a_clear_error(bao: OpenBao) -> None:
    root = bao.client()
    path = f"secret/proxmox-{uid()}"
    put(root, path, {TOKEN: "short-lived"})
    created = root.auth.token.create(policies=["root"], ttl="2s", explicit_max_ttl="2s", renewable=False)["auth"]
    token, accessor = created["client_token"], created["accessor"]
    backend = vault_backend(vault_env(bao, path, VAULT_TOKEN=token))
    try:
        assert (await backend.read(SecretRef("vault", None, TOKEN))).get_secret_value() == "short-lived"
        await async_wait_until(lambda: not accessor_alive(root, accessor), timeout=15, what="the token to expire")
        with pytest.raises(SecretError) as info:
            await backend.read(SecretRef("vault", None, TOKEN))
    finally:
        await backend.aclose()
    text = info.value.to_text()
    assert f"Vault at {bao.addr} rejected the token from VAULT_TOKEN: it expired or was revoked" in text
    assert "PROXMOX_MCP_SECRET_VAULT_AUTH" in text  # the hint: use AppRole to log in again by itself
    assert token not in text


async def test_an_expired_approle_token_gives_a_clear_error_then_recovers_by_login(
    bao: OpenBao, tmp_path: Path
) -> None:
    root = bao.client()
    path = f"secret/proxmox-{uid()}"
    put(root, path, {TOKEN: "recovered"})
    name, role_id, secret_id = approle(
        root, read_paths=[f"secret/data/{path.split('/', 1)[1]}"], token_ttl="2s", token_max_ttl="2s"
    )
    secret_file = tmp_path / "secret_id"
    secret_file.write_text(secret_id)
    backend = vault_backend(approle_env(bao, path, role_id, secret_file))
    ref = SecretRef("vault", None, TOKEN)
    before = token_accessors(root)
    try:
        await backend.read(ref)
        accessor = await new_accessor(root, before)
        # the secret id is rotated away while the token runs out
        root.auth.approle.destroy_secret_id(name, secret_id)
        await async_wait_until(lambda: not accessor_alive(root, accessor), timeout=15, what="the token to expire")
        with pytest.raises(SecretError) as info:
            await backend.read(ref)
        text = info.value.to_text()
        assert "refused to log in (approle auth): invalid role or secret ID" in text
        assert "PROXMOX_MCP_SECRET_VAULT_SECRET_ID(_FILE)" in text
        assert secret_id not in text
        # the operator drops a new secret id into the file: the next read logs in again
        secret_file.write_text(root.auth.approle.generate_secret_id(name)["data"]["secret_id"])
        assert (await backend.read(ref)).get_secret_value() == "recovered"
        assert backend.logins == 2
    finally:
        await backend.aclose()


async def test_a_policy_denial_names_the_path_and_the_missing_capability(bao: OpenBao, tmp_path: Path) -> None:
    root = bao.client()
    allowed, denied = f"secret/allowed-{uid()}", f"secret/denied-{uid()}"
    put(root, allowed, {TOKEN: "ok"})
    put(root, denied, {TOKEN: "never-shown"})
    policy, role_id, secret_id = approle(root, read_paths=[f"secret/data/{allowed.split('/', 1)[1]}"])
    (tmp_path / "secret_id").write_text(secret_id)
    backend = vault_backend(approle_env(bao, allowed, role_id, tmp_path / "secret_id"))
    try:
        assert (await backend.read(SecretRef("vault", None, TOKEN))).get_secret_value() == "ok"
        with pytest.raises(SecretError) as info:
            await backend.read(SecretRef("vault", denied, TOKEN))
    finally:
        await backend.aclose()
    policy_path = f"secret/data/{denied.split('/', 1)[1]}"
    assert info.value.message == (
        f"Vault denied reading {denied}: the token's policies (default, {policy}) "
        f"lack the read capability on {policy_path}"
    )
    assert f'path "{policy_path}" {{ capabilities = ["read"] }}' in (info.value.hint or "")
    assert backend.logins == 1  # a denial is not mistaken for a dead token


# --- Vault unreachable ----------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_vault_down_at_start_gives_a_clear_error_naming_the_address() -> None:
    addr = f"http://127.0.0.1:{_closed_port()}"
    backend = vault_backend(
        {
            "PROXMOX_MCP_SECRET_BACKEND": "vault",
            "PROXMOX_MCP_SECRET_VAULT_ADDR": addr,
            "PROXMOX_MCP_SECRET_VAULT_PATH": "secret/proxmox",
            "VAULT_TOKEN": "s.NeverShownNeverShown1234",
        }
    )
    try:
        with pytest.raises(SecretError) as info:
            await backend.read(SecretRef("vault", None, TOKEN))
        status = await backend.describe()
    finally:
        await backend.aclose()
    assert info.value.message == (
        f"cannot reach Vault at {addr} (PROXMOX_MCP_SECRET_VAULT_ADDR) to log in (token auth): connection refused"
    )
    assert "NeverShown" not in info.value.to_text()
    assert status["ok"] is False and "cannot reach Vault" in status["error"]


async def test_vault_down_mid_run_serves_the_cached_secret_until_its_ttl_then_a_clear_error(own_bao: OpenBao) -> None:
    path = f"secret/proxmox-{uid()}"
    put(own_bao.client(), path, {TOKEN: "cached-value"})
    clock = Clock()
    resolver = SecretResolver(vault_backend(vault_env(own_bao, path, VAULT_TOKEN=ROOT_TOKEN)), ttl=60, clock=clock)
    ref = SecretRef("vault", None, TOKEN)
    async with resolver.running():
        assert (await resolver.get(ref)).get_secret_value() == "cached-value"
        own_bao.stop()
        clock.now += 59
        assert (await resolver.get(ref)).get_secret_value() == "cached-value"
        clock.now += 2
        with pytest.raises(
            SecretError, match=rf"cannot reach Vault at {own_bao.addr} .* to read {path}: connection refused"
        ):
            await resolver.get(ref)


async def test_hvac_calls_do_not_block_the_event_loop() -> None:
    # a listener that never answers: Vault "hangs" for the whole timeout
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        addr = f"http://127.0.0.1:{silent.getsockname()[1]}"
        backend = vault_backend(
            {
                "PROXMOX_MCP_SECRET_BACKEND": "vault",
                "PROXMOX_MCP_SECRET_VAULT_ADDR": addr,
                "PROXMOX_MCP_SECRET_VAULT_PATH": "secret/proxmox",
                "PROXMOX_MCP_SECRET_VAULT_TIMEOUT": "1",
                "VAULT_TOKEN": "s.x",
            }
        )
        errors: list[SecretError] = []

        async def read() -> None:
            try:
                await backend.read(SecretRef("vault", None, TOKEN))
            except SecretError as exc:
                errors.append(exc)

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(read)
                t0 = time.monotonic()
                for _ in range(200):
                    await anyio.sleep(0)
                spun = time.monotonic() - t0
                assert not errors  # the read is still waiting for Vault ...
                assert spun < 0.5  # ... and the loop kept turning meanwhile
        await backend.aclose()
    assert "did not answer within 1 s" in errors[0].message


# --- TLS ------------------------------------------------------------------------------------


async def test_tls_with_a_ca_file(tls_bao: OpenBao, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    path = f"secret/proxmox-{uid()}"
    put(tls_bao.client(), path, {TOKEN: "over-tls"})
    env = vault_env(tls_bao, path, VAULT_TOKEN=ROOT_TOKEN)
    assert env["PROXMOX_MCP_SECRET_VAULT_ADDR"].startswith("https://")
    backend = vault_backend(env)
    try:
        assert (await backend.read(SecretRef("vault", None, TOKEN))).get_secret_value() == "over-tls"
    finally:
        await backend.aclose()

    del env["PROXMOX_MCP_SECRET_VAULT_CA_FILE"]
    unverified = vault_backend(env)
    try:
        with pytest.raises(SecretError) as info:
            await unverified.read(SecretRef("vault", None, TOKEN))
    finally:
        await unverified.aclose()
    assert info.value.message.startswith(f"TLS verification of Vault at {tls_bao.addr} failed")
    assert "PROXMOX_MCP_SECRET_VAULT_CA_FILE" in (info.value.hint or "")


# --- Kubernetes auth ------------------------------------------------------------------------


def _b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _pem_certificate() -> str:
    """Any CA certificate: the Kubernetes auth method insists on one."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-k8s-ca")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class _TokenReview(BaseHTTPRequestHandler):
    """The one Kubernetes API call Vault's Kubernetes auth makes: a TokenReview."""

    reviewed: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.reviewed.append(body["spec"]["token"])
        answer = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "status": {
                "authenticated": True,
                "user": {"username": "system:serviceaccount:pve:proxmox-mcp", "uid": "uid-1", "groups": []},
            },
        }
        out = json.dumps(answer).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def fake_kubernetes_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenReview)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


async def test_kubernetes_auth_logs_in_with_the_service_account_token(
    bao: OpenBao, fake_kubernetes_api: str, tmp_path: Path
) -> None:
    root = bao.client()
    path = f"secret/proxmox-{uid()}"
    put(root, path, {TOKEN: "from-k8s-auth"})
    mount = f"k8s-{uid()}"
    root.sys.enable_auth_method("kubernetes", path=mount)
    root.auth.kubernetes.configure(
        kubernetes_host=fake_kubernetes_api,
        kubernetes_ca_cert=_pem_certificate(),
        token_reviewer_jwt="reviewer",
        disable_local_ca_jwt=True,
        mount_point=mount,
    )
    policy = f"p-{uid()}"
    root.sys.create_or_update_policy(
        policy, f'path "secret/data/{path.split("/", 1)[1]}" {{ capabilities = ["read"] }}'
    )
    root.auth.kubernetes.create_role(
        "proxmox-mcp",
        bound_service_account_names=["proxmox-mcp"],
        bound_service_account_namespaces=["pve"],
        policies=[policy],
        ttl="60s",
        mount_point=mount,
    )
    jwt = (
        _b64url({"alg": "RS256", "kid": "k"})
        + "."
        + _b64url(
            {
                "iss": "kubernetes/serviceaccount",
                "sub": "system:serviceaccount:pve:proxmox-mcp",
                "kubernetes.io/serviceaccount/namespace": "pve",
                "kubernetes.io/serviceaccount/service-account.name": "proxmox-mcp",
                "kubernetes.io/serviceaccount/service-account.uid": "uid-1",
            }
        )
        + ".c2lnbmF0dXJl"
    )
    jwt_file = tmp_path / "token"
    jwt_file.write_text(jwt)
    env = vault_env(
        bao,
        path,
        PROXMOX_MCP_SECRET_VAULT_K8S_ROLE="proxmox-mcp",
        PROXMOX_MCP_SECRET_VAULT_K8S_JWT_FILE=str(jwt_file),
        PROXMOX_MCP_SECRET_VAULT_K8S_MOUNT=mount,
    )
    backend = vault_backend(env)
    assert backend.settings.auth == "kubernetes"
    try:
        assert (await backend.read(SecretRef("vault", None, TOKEN))).get_secret_value() == "from-k8s-auth"
        status = await backend.describe()
    finally:
        await backend.aclose()
    assert _TokenReview.reviewed[-1] == jwt  # the service-account token was read from the file
    assert policy in status["token_policies"]
    assert REDACTOR.redact(f"jwt {jwt}") == "jwt ***"
