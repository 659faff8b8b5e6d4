"""Redaction: known values and credential-shaped text become ***, everywhere."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import time

import pytest
from pydantic import SecretStr

from proxmox_operator_mcp.secrets import MASK, REDACTOR, RedactingFilter, Redactor, is_sensitive_key

TOKEN_UUID = "5f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


@pytest.fixture
def r() -> Redactor:
    return Redactor()


def test_a_registered_value_is_replaced_also_url_encoded_and_json_escaped(r: Redactor) -> None:
    r.add(SecretStr("p@ss/word+1\nline2"))
    text = (
        "raw p@ss/word+1\nline2, url p%40ss%2Fword%2B1%0Aline2, plus p%40ss%2Fword%2B1%0Aline2, "
        'json "p@ss/word+1\\nline2"'
    )
    out = r.redact(text)
    assert "p@ss" not in out and "p%40ss" not in out
    assert out.count(MASK) == 4


def test_values_shorter_than_four_characters_are_not_registered(r: Redactor) -> None:
    r.add("ab")
    assert r.redact("tab cab") == "tab cab"
    assert len(r) == 0


def test_a_longer_value_containing_a_shorter_one_is_masked_whole(r: Redactor) -> None:
    r.add("secretvalue")
    r.add("secretvalue-and-more")
    assert r.redact("x secretvalue-and-more y") == f"x {MASK} y"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"Authorization: PVEAPIToken=root@pam!mcp={TOKEN_UUID}",
            "Authorization: PVEAPIToken=root@pam!mcp=***",
        ),
        (f"PVEAPIToken={TOKEN_UUID}", "PVEAPIToken=***"),
        ("curl -H 'Authorization: Bearer abc.def.ghi' https://x", "curl -H 'Authorization: Bearer ***' https://x"),
        ('{"Authorization": "Basic dXNlcjpwYXNz"}', '{"Authorization": "Basic ***"}'),
        ("authorization=opaque-value", "authorization=***"),
        (
            "ticket PVE:root@pam:65A1B2C3::rsKoApxDTLYPn6H3NNT6iP2mv+abc== done",
            "ticket PVE:root@pam:65A1B2C3::*** done",
        ),
        ("PVEVNC:root@pam:65A1B2C3::c2lnbmF0dXJl", "PVEVNC:root@pam:65A1B2C3::***"),
        (
            "Cookie: PVEAuthCookie=PVE%3Aroot%40pam%3A65A1B2C3%3A%3AsigABC%2B%3D; lang=en",
            "Cookie: PVEAuthCookie=PVE%3Aroot%40pam%3A65A1B2C3%3A%3A***; lang=en",
        ),
        ("PVEAuthCookie=opaque", "PVEAuthCookie=***"),
        ("CSRFPreventionToken: 65A1B2C3:lwk7od06fa1+DcPUwBTXCcndyAY", "CSRFPreventionToken: ***"),
        (
            '{"CSRFPreventionToken":"65A1B2C3:lwk7od06","ticket":"PVE:root@pam:65A1B2C3::sig","username":"root@pam"}',
            '{"CSRFPreventionToken":"***","ticket":"PVE:root@pam:65A1B2C3::***","username":"root@pam"}',
        ),
        ("https://admin:hunter2@pve.example:8006/api2/json", "https://admin:***@pve.example:8006/api2/json"),
        ("pveum user add bob@pve --password hunter2 --comment x", "pveum user add bob@pve --password *** --comment x"),
        ("pveum user add bob@pve --password=hunter2", "pveum user add bob@pve --password=***"),
        ("login?user=bob&password=hunter2&x=1", "login?user=bob&password=***&x=1"),
        ("sshpass -p hunter2 ssh root@pve1", "sshpass -p *** ssh root@pve1"),
        ("mysql -u root -phunter2 db", "mysql -u root -p*** db"),
        ('"password": "with spaces inside", "comment": "kept"', '"password": "***", "comment": "kept"'),
        ("PASSWORD=Hunter2 Api-Key: zzz12 x-auth-token: abc", "PASSWORD=*** Api-Key: *** x-auth-token: ***"),
        (
            "PROXMOX_API_TOKEN_SECRET=abcd1234 PROXMOX_MCP_SECRET_VAULT_SECRET_ID=abcdef12",
            "PROXMOX_API_TOKEN_SECRET=*** PROXMOX_MCP_SECRET_VAULT_SECRET_ID=***",
        ),
        ("jwt eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4eHh4eHgifQ.c2lnbmF0dXJl end", "jwt *** end"),
        ("vault s.0U9CabcdefghijklmnopqrsT and hvs.CAESIabcdefghijklmnopqrstuvwxyz", "vault s.*** and ***"),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA\n-----END OPENSSH PRIVATE KEY-----\nafter",
            "***\nafter",
        ),
        ("truncated -----BEGIN RSA PRIVATE KEY-----\nMIIEow", "truncated ***"),
    ],
)
def test_credential_shapes_are_masked(r: Redactor, text: str, expected: str) -> None:
    assert r.redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "ssh -p 22 root@pve1; mkdir -p /srv/data",
        "token_id=mcp tokenid: mcp token_ttl=30",
        "the token is invalid; the password was wrong",
        "PROXMOX_MCP_SECRET_BACKEND=vault PROXMOX_MCP_SECRET_VAULT_ADDR=https://v:8200",
        "Vault denied reading secret/x: the token's policies (default, ro) lack the read capability",
        '{"sshkeys": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk", "has_password": true, "password": null}',
        "node pve1 status running; vms.0U9CabcdefghijklmnopqrsT",
        "https://pve1.example:8006/api2/json/nodes",
        "",
    ],
)
def test_text_without_credentials_is_unchanged(r: Redactor, text: str) -> None:
    assert r.redact(text) == text


def test_redact_obj_masks_sensitive_keys_and_redacts_strings_recursively(r: Redactor) -> None:
    r.add("known-secret-value")
    obj = {
        "password": "x",
        "cipassword": "y",
        "nested": [{"token": "abc"}, {"tokenid": "mcp", "token_ttl": 5}, ("known-secret-value", 3)],
        "Authorization": "Bearer x",
        "has_password": True,
        "secret": None,
        "note": "uses known-secret-value",
        "model": SecretStr("z"),
    }
    assert r.redact_obj(obj) == {
        "password": MASK,
        "cipassword": MASK,
        "nested": [{"token": MASK}, {"tokenid": "mcp", "token_ttl": 5}, (MASK, 3)],
        "Authorization": MASK,
        "has_password": True,
        "secret": None,
        "note": f"uses {MASK}",
        "model": MASK,
    }


def test_redact_obj_returns_a_copy(r: Redactor) -> None:
    obj = {"password": "x"}
    r.redact_obj(obj)
    assert obj == {"password": "x"}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["pveum", "user", "add", "x@pve", "--password", "hunter2"],
            ["pveum", "user", "add", "x@pve", "--password", MASK],
        ),
        (["pvesm", "add", "cifs", "s", "--password=hunter2"], ["pvesm", "add", "cifs", "s", "--password=***"]),
        (["sshpass", "-p", "hunter2", "ssh", "root@x"], ["sshpass", "-p", MASK, "ssh", "root@x"]),
        (["/usr/bin/mysql", "-phunter2"], ["/usr/bin/mysql", "-p***"]),
        (["ssh", "-p", "22", "root@x"], ["ssh", "-p", "22", "root@x"]),
        (["mkdir", "-p", "/srv"], ["mkdir", "-p", "/srv"]),
        (["qm", "set", "101", "--cipassword", "pw1234"], ["qm", "set", "101", "--cipassword", MASK]),
    ],
)
def test_redact_argv(r: Redactor, argv: list[str], expected: list[str]) -> None:
    assert r.redact_argv(argv) == expected


@pytest.mark.parametrize(
    ("key", "sensitive"),
    [
        ("password", True),
        ("token_secret", True),
        ("CSRFPreventionToken", True),
        ("client_token", True),
        ("secret_id", True),
        ("PVEAuthCookie", True),
        ("api_key", True),
        ("tokenid", False),
        ("token_id", False),
        ("tokenId", False),
        ("token_ttl", False),
        ("token_user", False),
        ("name", False),
        ("PROXMOX_MCP_SECRET_BACKEND", False),
        ("PROXMOX_MCP_SECRET_FILE_PATH", False),
        ("PROXMOX_MCP_SECRET_VAULT_SECRET_ID", True),
    ],
)
def test_sensitive_key_names(key: str, sensitive: bool) -> None:
    assert is_sensitive_key(key) is sensitive


def test_logging_filter_redacts_message_args_and_traceback() -> None:
    REDACTOR.add("hunter2-known")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log = logging.getLogger("test.secrets.redact")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("login with %s and %r", "hunter2-known", {"password": "p4ss"})
        try:
            raise RuntimeError("failed with Authorization: Bearer tok123")
        except RuntimeError:
            log.exception("boom PVEAPIToken=root@pam!mcp=%s", TOKEN_UUID)
    finally:
        log.removeHandler(handler)
    out = stream.getvalue()
    assert "hunter2-known" not in out
    assert "p4ss" not in out
    assert "tok123" not in out
    assert TOKEN_UUID not in out
    assert "Traceback" in out and "RuntimeError" in out
    assert "PVEAPIToken=root@pam!mcp=***" in out


def test_a_filter_with_a_bad_format_string_lets_the_record_through() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d", ("not a number",), None)
    assert RedactingFilter().filter(record) is True


def test_importing_the_package_does_not_import_hvac() -> None:
    code = "import sys, proxmox_operator_mcp.secrets; print('hvac' in sys.modules, 'requests' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize(
    "text",
    [
        "password_" * 4500,
        "token." * 6800,
        "pass " * 8000,
        "eyJ-" * 10000,
        "PVE%3A" * 6800,
        "PVE:" * 10000,
        "hvs." * 10000,
        "mysql " * 6800 + " -p x",
        "://a:" * 8000,
        "authorization:" * 2800,
        'password="' + "\\" * 40000,
        "-----BEGIN A B C " * 2400,
    ],
    ids=lambda t: repr(t[:12]),
)
def test_redaction_stays_linear_on_pathological_text(r: Redactor, text: str) -> None:
    # 40 KB each; a quadratic rule takes seconds here, the linear ones a few milliseconds
    started = time.perf_counter()
    r.redact(text)
    assert time.perf_counter() - started < 0.5


def test_a_key_at_the_end_of_a_very_long_word_is_still_masked(r: Redactor) -> None:
    assert r.redact("a" * 5000 + "_password=hunter2").endswith("_password=***")


def test_characters_that_grow_when_lower_cased_do_not_shift_the_mask(r: Redactor) -> None:
    assert r.redact("İİİ note, password=hunter2 ok") == "İİİ note, password=*** ok"


def test_a_yaml_key_ending_a_line_inside_json_text_keeps_the_next_line_and_masks_a_value_there() -> None:
    r = Redactor()
    text = json.dumps({"user": "#cloud-config\nchpasswd:\n  expire: false\npassword: hunter22\n", "b": "password:\nhunter2"})
    out = r.redact(text)
    assert "chpasswd:\\n  expire: false" in out  # nothing after the key on its line: nothing masked
    assert "hunter22" not in out and "hunter2" not in out
    assert "password:\\n***" in out
