"""RestClient against scripted PVE answers (httpx2.MockTransport): encoding, auth, errors, retries."""

from __future__ import annotations

import json
import logging
import ssl
from typing import Any
from urllib.parse import parse_qsl

import anyio
import httpx2
import pytest

from proxmox_operator_mcp.errors import (
    InvalidArgumentError,
    ProxmoxAPIError,
    ProxmoxAuthError,
    ProxmoxBadRequest,
    ProxmoxConnectionError,
    ProxmoxMCPError,
    ProxmoxNodeUnreachable,
    ProxmoxNotImplemented,
    ProxmoxPermissionError,
    ProxmoxServerError,
    ProxmoxTimeoutError,
)
from proxmox_operator_mcp.transports.rest import (
    ApiResponse,
    RestClient,
    encode_params,
    encode_path,
    parse_permission_message,
    to_float,
    to_int,
)

from .fakes import PASSWORD, TOKEN_SECRET, Recorder, Script, TicketPVE, pve_json, ticket_cluster, token_cluster

pytestmark = pytest.mark.anyio

UPID = "UPID:pve1:0000A1B2:0ABCDEF12:65F0A0B1:qmstart:101:root@pam!mcp:"


def ok(request: httpx2.Request) -> httpx2.Response:
    return pve_json({"ok": True})


def token_client(handler: Any, **kw: Any) -> RestClient:
    return RestClient(token_cluster(), transport=httpx2.MockTransport(handler), retry_base_delay=0, **kw)


# --------------------------------------------------------------------------- request encoding


async def test_get_sends_params_in_the_query_with_booleans_as_0_1_and_lists_as_repeated_keys() -> None:
    rec = Recorder(ok)
    async with token_client(rec) as client:
        await client.get("/cluster/resources", {"type": "vm", "full": True, "skip": False, "ids": [1, 2], "gone": None})
    (req,) = rec.requests
    assert req.method == "GET"
    assert req.url.raw_path == b"/api2/json/cluster/resources?type=vm&full=1&skip=0&ids=1&ids=2"
    assert req.content == b""
    assert "content-type" not in req.headers


async def test_post_sends_a_form_encoded_body_and_no_query() -> None:
    rec = Recorder(ok)
    params = {
        "vmid": 101,
        "name": "web 1",
        "onboot": True,
        "net0": "virtio,bridge=vmbr0",
        "delete": None,
        "tags": ["a", "b"],
    }
    async with token_client(rec) as client:
        await client.request("POST", "/nodes/pve1/qemu", params)
    (req,) = rec.requests
    assert req.url.raw_path == b"/api2/json/nodes/pve1/qemu"
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    assert b"web%201" in req.content  # %20, not '+'
    assert parse_qsl(req.content.decode(), keep_blank_values=True) == [
        ("vmid", "101"),
        ("name", "web 1"),
        ("onboot", "1"),
        ("net0", "virtio,bridge=vmbr0"),
        ("tags", "a"),
        ("tags", "b"),
    ]


async def test_put_uses_the_form_body_and_delete_uses_the_query() -> None:
    rec = Recorder(ok)
    async with token_client(rec) as client:
        await client.request("put", "/nodes/pve1/qemu/101/config", {"memory": 2048, "delete": "net1,ide2"})
        await client.request("DELETE", "/nodes/pve1/qemu/101", {"purge": True})
    put, delete = rec.requests
    assert put.method == "PUT" and parse_qsl(put.content.decode()) == [("memory", "2048"), ("delete", "net1,ide2")]
    assert delete.method == "DELETE" and delete.url.query == b"purge=1" and delete.content == b""


async def test_a_upid_in_the_path_is_percent_encoded() -> None:
    rec = Recorder(ok)
    async with token_client(rec) as client:
        await client.get(f"/nodes/pve1/tasks/{UPID}/status")
    assert rec.requests[0].url.raw_path == (
        b"/api2/json/nodes/pve1/tasks/UPID%3Apve1%3A0000A1B2%3A0ABCDEF12%3A65F0A0B1%3Aqmstart%3A101%3Aroot%40pam%21mcp%3A/status"
    )


@pytest.mark.parametrize("path", ["/nodes/../../etc", "/nodes/./pve1", "nodes/pve1", "/nodes//pve1", ""])
async def test_paths_that_could_leave_api2_json_are_refused_before_sending(path: str) -> None:
    rec = Recorder(ok)
    async with token_client(rec) as client:
        with pytest.raises(InvalidArgumentError):
            await client.get(path)
    assert rec.requests == []


async def test_values_inside_a_path_segment_cannot_add_a_query_or_segment() -> None:
    assert encode_path("/storage/a?b=1#x/") == "/storage/a%3Fb%3D1%23x"
    assert encode_path("/") == "/"
    assert encode_path("/nodes/pve1/") == "/nodes/pve1"


async def test_unencodable_params_and_unknown_methods_are_refused_before_sending() -> None:
    rec = Recorder(ok)
    async with token_client(rec) as client:
        with pytest.raises(InvalidArgumentError, match="property strings"):
            await client.request("POST", "/nodes/pve1/qemu", {"net0": {"model": "virtio"}})
        with pytest.raises(InvalidArgumentError, match="PATCH"):
            await client.request("PATCH", "/nodes/pve1/qemu")
    assert rec.requests == []


def test_param_encoding_handles_floats_enums_and_sets() -> None:
    import enum

    class Mode(enum.Enum):
        SNAP = "snapshot"

    assert encode_params({"cpuunits": 2.0, "cpulimit": 0.5, "mode": Mode.SNAP, "s": {"b", "a"}}) == [
        ("cpuunits", "2"),
        ("cpulimit", "0.5"),
        ("mode", "snapshot"),
        ("s", "a"),
        ("s", "b"),
    ]
    with pytest.raises(InvalidArgumentError):
        encode_params({"x": float("nan")})


# --------------------------------------------------------------------------- envelope


async def test_the_envelope_gives_data_and_a_lenient_total() -> None:
    rec = Recorder(lambda r: pve_json([{"vmid": "101"}], total="3"))
    async with token_client(rec) as client:
        env = await client.request_envelope("GET", "/nodes/pve1/qemu")
        data = await client.get("/nodes/pve1/qemu")
    assert isinstance(env, ApiResponse)
    assert env.status == 200 and env.total == 3 and env.data == [{"vmid": "101"}]
    assert env.headers == {"content-type": "application/json"}
    assert data == [{"vmid": "101"}]


async def test_a_success_that_is_not_json_is_reported_not_returned() -> None:
    rec = Recorder(lambda r: httpx2.Response(200, text="<html>login</html>", headers={"content-type": "text/html"}))
    async with token_client(rec) as client:
        with pytest.raises(ProxmoxServerError, match="not a PVE JSON envelope"):
            await client.get("/version")


def test_numbers_that_arrive_as_strings_are_parsed_leniently() -> None:
    assert to_int("2048") == 2048
    assert to_int(" 103 ") == 103
    assert to_int(2048.0) == 2048
    assert to_int("2048.0") == 2048
    assert to_int(True) == 1
    assert to_int("1.5") is None
    assert to_int("") is None
    assert to_int(None, 7) == 7
    assert to_int("abc", 0) == 0
    assert to_float("0.25") == 0.25
    assert to_float(3) == 3.0
    assert to_float("nan") is None
    assert to_float("x", 1.0) == 1.0


# --------------------------------------------------------------------------- token auth


async def test_token_auth_sends_the_pveapitoken_header_and_no_cookie_or_csrf() -> None:
    rec = Recorder(ok)
    async with token_client(rec) as client:
        await client.get("/version")
        await client.request("POST", "/nodes/pve1/qemu/101/status/start")
    for req in rec.requests:
        assert req.headers["authorization"] == f"PVEAPIToken=root@pam!mcp={TOKEN_SECRET}"
        assert "cookie" not in req.headers
        assert "csrfpreventiontoken" not in req.headers


async def test_constructing_a_client_sends_nothing_and_closing_an_unused_one_is_fine() -> None:
    rec = Recorder(ok)
    client = token_client(rec)
    assert rec.requests == []
    await client.aclose()
    await client.aclose()
    # It still works afterwards: connections are opened again on demand.
    await client.get("/version")
    await client.aclose()
    assert len(rec.requests) == 1


# --------------------------------------------------------------------------- ticket auth


def ticket_client(pve: TicketPVE, **kw: Any) -> RestClient:
    return RestClient(ticket_cluster(), transport=pve.transport(), retry_base_delay=0, **kw)


async def test_ticket_login_then_cookie_on_every_request_and_csrf_only_on_writes() -> None:
    pve = TicketPVE()
    async with ticket_client(pve) as client:
        await client.get("/nodes")
        await client.request("POST", "/nodes/pve1/qemu/101/status/start")
        await client.request("PUT", "/nodes/pve1/qemu/101/config", {"memory": 1024})
        await client.request("DELETE", "/nodes/pve1/qemu/101/snapshot/s1")
    login = pve.requests[0]
    assert login.url.path == "/api2/json/access/ticket" and login.method == "POST"
    assert dict(parse_qsl(login.content.decode())) == {"username": "root@pam", "password": PASSWORD}
    assert "cookie" not in login.headers and "csrfpreventiontoken" not in login.headers
    assert pve.logins == [PASSWORD]
    ((ticket, csrf),) = pve.valid.items()
    get, post, put, delete = pve.api_requests()
    assert all(r.headers["cookie"] == f"PVEAuthCookie={ticket}" for r in (get, post, put, delete))
    assert "csrfpreventiontoken" not in get.headers
    assert all(r.headers["csrfpreventiontoken"] == csrf for r in (post, put, delete))
    assert all("authorization" not in r.headers for r in pve.requests)


async def test_concurrent_first_requests_share_one_login() -> None:
    pve = TicketPVE()
    async with ticket_client(pve) as client:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                for i in range(8):
                    tg.start_soon(client.get, f"/nodes/pve{i}/status")
    assert pve.logins == [PASSWORD]
    assert len(pve.api_requests()) == 8


async def test_a_401_logs_in_again_once_and_repeats_the_request_once() -> None:
    pve = TicketPVE()
    async with ticket_client(pve) as client:
        await client.get("/nodes")
        pve.expire_all()  # e.g. the cluster's auth key was rotated
        assert await client.request("POST", "/nodes/pve1/qemu/101/status/start") == {"ok": True}
    assert pve.logins == [PASSWORD, PASSWORD]
    posts = [r for r in pve.api_requests() if r.method == "POST"]
    assert len(posts) == 2
    assert posts[0].headers["cookie"] != posts[1].headers["cookie"]


async def test_a_second_401_after_the_new_login_is_an_auth_error() -> None:
    pve = TicketPVE()
    pve.answer = lambda r: pve_json(None, 401, reason="permission denied - invalid PVE ticket")
    async with ticket_client(pve) as client:
        with pytest.raises(ProxmoxAuthError) as info:
            await client.get("/nodes")
    assert pve.logins == [PASSWORD, PASSWORD]
    assert len(pve.api_requests()) == 2
    assert info.value.pve_message == "permission denied - invalid PVE ticket"
    assert "PROXMOX_USERNAME" in (info.value.hint or "")


async def test_the_ticket_is_renewed_with_the_old_ticket_before_it_expires() -> None:
    now = [1000.0]
    pve = TicketPVE()
    async with ticket_client(pve, clock=lambda: now[0]) as client:
        await client.get("/nodes")
        first = next(iter(pve.valid))
        now[0] += 30 * 60
        await client.get("/nodes")
        assert pve.logins == [PASSWORD]  # still fresh
        now[0] += 45 * 60  # 75 minutes old: renew
        await client.get("/nodes")
        assert pve.logins == [PASSWORD, first]
        second = pve.api_requests()[-1].headers["cookie"].removeprefix("PVEAuthCookie=")
        assert second != first and second in pve.valid
        now[0] += 3 * 3600  # past the two hours: a renewal would fail, log in with the password
        await client.get("/nodes")
        assert pve.logins == [PASSWORD, first, PASSWORD]


async def test_a_refused_renewal_falls_back_to_a_password_login() -> None:
    now = [0.0]
    pve = TicketPVE(renew=False)
    async with ticket_client(pve, clock=lambda: now[0]) as client:
        await client.get("/nodes")
        first = next(iter(pve.valid))
        now[0] += 65 * 60
        assert await client.get("/nodes") == {"ok": True}
    assert pve.logins == [PASSWORD, first, PASSWORD]


async def test_a_failed_login_is_an_auth_error_that_never_shows_the_password() -> None:
    pve = TicketPVE(password="something else")
    async with ticket_client(pve) as client:
        with pytest.raises(ProxmoxAuthError) as info:
            await client.get("/nodes")
    err = info.value
    assert err.status == 401 and err.path == "/access/ticket"
    assert "authentication failure" in err.message
    assert PASSWORD not in err.to_text() and PASSWORD not in repr(err)
    assert pve.logins == [PASSWORD]  # no login loop
    assert pve.api_requests() == []


async def test_a_user_with_two_factor_auth_is_told_to_use_a_token() -> None:
    pve = TicketPVE()
    pve.login_answer = lambda user, pw: pve_json(
        {"ticket": "PVE:root@pam:66000001::half", "NeedTFA": 1, "CSRFPreventionToken": "x:y"}
    )
    async with ticket_client(pve) as client:
        with pytest.raises(ProxmoxAuthError, match="two-factor") as info:
            await client.get("/nodes")
    assert "API token" in (info.value.hint or "")


async def test_a_set_cookie_from_pve_is_never_sent_back() -> None:
    # PVE prefers a cookie over an API token, so a kept cookie would override the token.
    def with_cookie(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={"data": {}}, headers={"set-cookie": "PVEAuthCookie=stale; path=/"})

    rec = Recorder(with_cookie)
    async with token_client(rec) as client:
        await client.get("/version")
        await client.get("/version")
    assert "cookie" not in rec.requests[1].headers

    pve = TicketPVE()
    pve.answer = with_cookie
    async with ticket_client(pve) as client:
        await client.get("/nodes")
        pve.expire_all()
        await client.get("/nodes")
    second_login = [r for r in pve.requests if r.url.path == "/api2/json/access/ticket"][1]
    assert "cookie" not in second_login.headers


# --------------------------------------------------------------------------- error mapping


@pytest.mark.parametrize(
    ("status", "reason", "body_message", "errors", "cls"),
    [
        (
            400,
            "Parameter verification failed.",
            "Parameter verification failed.\n",
            {"memory": "value must be at least 16\n"},
            ProxmoxBadRequest,
        ),
        (401, "authentication failure", None, None, ProxmoxAuthError),
        (
            403,
            "Permission check failed (/vms/100, VM.PowerMgmt)",
            "Permission check failed (/vms/100, VM.PowerMgmt)\n",
            None,
            ProxmoxPermissionError,
        ),
        (500, "VM 101 already running", "VM 101 already running\n", None, ProxmoxServerError),
        (501, "Method 'POST /nodes/pve1/nonsense' not implemented", None, None, ProxmoxNotImplemented),
        (595, "Connection refused", None, None, ProxmoxNodeUnreachable),
        (596, "Connection timed out", None, None, ProxmoxNodeUnreachable),
        (503, "Service Unavailable", None, None, ProxmoxServerError),
        (404, "Not Found", None, None, ProxmoxAPIError),
    ],
)
async def test_each_error_status_maps_to_its_error_with_pves_message(
    status: int, reason: str, body_message: str | None, errors: dict[str, str] | None, cls: type[ProxmoxAPIError]
) -> None:
    rec = Recorder(lambda r: pve_json(None, status, reason=reason, message=body_message, errors=errors))
    async with token_client(rec) as client:
        with pytest.raises(ProxmoxAPIError) as info:
            await client.request("POST", "/nodes/pve1/qemu/101/status/start", {"timeout": 30})
    err = info.value
    assert type(err) is cls
    assert err.status == status
    assert err.pve_message == reason
    assert err.method == "POST" and err.path == "/nodes/pve1/qemu/101/status/start"
    assert err.message.startswith(f"{status} from PVE for POST /nodes/pve1/qemu/101/status/start: {reason}")
    if errors:
        assert err.errors == {"memory": "value must be at least 16"}
        assert "memory: value must be at least 16" in err.message
        assert err.to_dict()["errors"] == {"memory": "value must be at least 16"}
    if status in (400, 401, 403, 501, 595, 596, 503):
        assert err.hint
    assert len(rec.requests) == 1  # a POST is never repeated


async def test_the_body_message_wins_over_the_reason_phrase_and_the_reason_phrase_is_the_fallback() -> None:
    rec = Recorder(lambda r: pve_json(None, 500, reason="short", message="the whole story\nsecond line\n"))
    async with token_client(rec) as client:
        with pytest.raises(ProxmoxServerError) as info:
            await client.request("POST", "/x")
    assert info.value.pve_message == "the whole story\nsecond line"
    rec2 = Recorder(
        lambda r: httpx2.Response(502, text="<html>bad gateway</html>", extensions={"reason_phrase": b"Proxy Error"})
    )
    async with token_client(rec2) as client:
        with pytest.raises(ProxmoxServerError) as info:
            await client.request("POST", "/x")
    assert info.value.pve_message == "Proxy Error"


async def test_a_401_with_a_token_hints_at_the_token_and_realm() -> None:
    rec = Recorder(lambda r: pve_json(None, 401, reason="authentication failure"))
    async with token_client(rec) as client:
        with pytest.raises(ProxmoxAuthError) as info:
            await client.get("/version")
    hint = info.value.hint or ""
    assert "root@pam!mcp" in hint and "PROXMOX_API_TOKEN_REALM" in hint and "rivilege separation" in hint
    assert len(rec.requests) == 1  # no re-login with tokens


async def test_a_403_names_the_acl_path_and_privilege_and_says_how_to_grant_it_to_the_token() -> None:
    rec = Recorder(lambda r: pve_json(None, 403, reason="Permission check failed (/vms/100, VM.PowerMgmt)"))
    async with token_client(rec) as client:
        with pytest.raises(ProxmoxPermissionError) as info:
            await client.request("POST", "/nodes/pve1/qemu/100/status/start")
    err = info.value
    assert err.acl_path == "/vms/100"
    assert err.privileges == ["VM.PowerMgmt"]
    assert "pveum acl modify /vms/100 --roles PVEVMUser --tokens 'root@pam!mcp'" in (err.hint or "")
    assert "privilege separation" in (err.hint or "")


async def test_a_403_for_a_ticket_user_grants_to_the_user() -> None:
    pve = TicketPVE()
    pve.answer = lambda r: pve_json(None, 403, reason="Permission check failed (/storage/local, Datastore.Allocate)")
    async with ticket_client(pve) as client:
        with pytest.raises(ProxmoxPermissionError) as info:
            await client.request("DELETE", "/nodes/pve1/storage/local/content/local:iso/x.iso")
    assert "pveum acl modify /storage/local --roles PVEDatastoreAdmin --users 'root@pam'" in (info.value.hint or "")


def test_permission_messages_are_parsed_into_path_and_privileges() -> None:
    assert parse_permission_message("Permission check failed (/vms/100, VM.PowerMgmt)") == (
        "/vms/100",
        ["VM.PowerMgmt"],
    )
    assert parse_permission_message("Permission check failed (/vms/100, VM.Config.Disk|VM.Config.CPU)") == (
        "/vms/100",
        ["VM.Config.Disk", "VM.Config.CPU"],
    )
    assert parse_permission_message("Permission check failed (user != root@pam)") == (None, [])
    assert parse_permission_message("something else") == (None, [])


async def test_a_403_without_an_acl_path_still_says_where_to_look() -> None:
    rec = Recorder(lambda r: pve_json(None, 403, reason="Permission check failed (user != root@pam)"))
    async with token_client(rec) as client:
        with pytest.raises(ProxmoxPermissionError) as info:
            await client.request("POST", "/nodes/pve1/execute")
    assert info.value.acl_path is None
    assert "pveum user token permissions root@pam mcp" in (info.value.hint or "")


# --------------------------------------------------------------------------- retries


async def test_a_get_is_retried_on_503_and_then_succeeds() -> None:
    script = Script(pve_json(None, 503, reason="busy"), pve_json(None, 595, reason="no route"), pve_json({"v": 1}))
    async with token_client(script) as client:
        assert await client.get("/version") == {"v": 1}
    assert len(script.requests) == 3


async def test_a_get_gives_up_after_two_retries() -> None:
    script = Script(pve_json(None, 503, reason="busy"))
    async with token_client(script) as client:
        with pytest.raises(ProxmoxServerError) as info:
            await client.get("/version")
    assert info.value.status == 503
    assert len(script.requests) == 3


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_writes_are_never_retried_on_503(method: str) -> None:
    script = Script(pve_json(None, 503, reason="busy"), pve_json({"ok": True}))
    async with token_client(script) as client:
        with pytest.raises(ProxmoxServerError):
            await client.request(method, "/nodes/pve1/qemu/101/status/start")
    assert len(script.requests) == 1


async def test_a_get_is_retried_after_a_connection_error_but_a_post_is_not() -> None:
    script = Script(httpx2.ConnectError("[Errno 111] Connection refused"), pve_json({"v": 1}))
    async with token_client(script) as client:
        assert await client.get("/version") == {"v": 1}
    assert len(script.requests) == 2
    script = Script(httpx2.ConnectError("[Errno 111] Connection refused"), pve_json({"v": 1}))
    async with token_client(script) as client:
        with pytest.raises(ProxmoxConnectionError):
            await client.request("POST", "/nodes/pve1/qemu/101/status/start")
    assert len(script.requests) == 1


async def test_a_get_is_not_retried_on_500_or_a_read_timeout() -> None:
    script = Script(pve_json(None, 500, reason="VM 101 does not exist"), pve_json({"v": 1}))
    async with token_client(script) as client:
        with pytest.raises(ProxmoxServerError):
            await client.get("/nodes/pve1/qemu/101/status/current")
    assert len(script.requests) == 1
    script = Script(httpx2.ReadTimeout("timed out"), pve_json({"v": 1}))
    async with token_client(script) as client:
        with pytest.raises(ProxmoxTimeoutError):
            await client.get("/version")
    assert len(script.requests) == 1


async def test_retry_backoff_grows_exponentially_with_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    delays: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        delays.append(seconds)

    monkeypatch.setattr("anyio.sleep", fake_sleep)
    script = Script(pve_json(None, 503, reason="busy"))
    client = RestClient(token_cluster(), transport=script.transport(), retry_base_delay=0.25)
    with pytest.raises(ProxmoxServerError):
        await client.get("/version")
    await client.aclose()
    assert len(delays) == 2
    assert 0.25 <= delays[0] <= 0.5
    assert 0.5 <= delays[1] <= 1.0


# --------------------------------------------------------------------------- transport failures


async def test_a_read_timeout_on_a_write_is_a_timeout_that_warns_it_may_have_happened() -> None:
    script = Script(httpx2.ReadTimeout("timed out"))
    async with token_client(script) as client:
        with pytest.raises(ProxmoxTimeoutError) as info:
            await client.request("POST", "/nodes/pve1/qemu/101/status/shutdown")
    err = info.value
    assert "did not answer POST /nodes/pve1/qemu/101/status/shutdown within 30 s" in err.message
    assert "may still have been carried out" in (err.hint or "")


async def test_a_connect_timeout_is_a_timeout_naming_host_and_port() -> None:
    script = Script(httpx2.ConnectTimeout("timed out"))
    async with token_client(script) as client:
        with pytest.raises(ProxmoxTimeoutError) as info:
            await client.request("POST", "/x")
    assert "pve1.example:8006 within 5 s" in info.value.message
    assert "firewall" in (info.value.hint or "")


async def test_a_refused_connection_hints_at_host_port_and_firewall() -> None:
    script = Script(httpx2.ConnectError("[Errno 111] Connection refused"))
    async with token_client(script) as client:
        with pytest.raises(ProxmoxConnectionError) as info:
            await client.get("/version")
    err = info.value
    assert "Cannot connect to https://pve1.example:8006" in err.message and "Connection refused" in err.message
    hint = err.hint or ""
    assert "8006" in hint and "firewall" in hint
    assert len(script.requests) == 3


async def test_a_certificate_failure_has_its_own_hint_and_is_not_retried() -> None:
    def boom(request: httpx2.Request) -> httpx2.Response:
        try:
            raise ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
        except ssl.SSLError as exc:
            raise httpx2.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed") from exc

    rec = Recorder(boom)
    async with token_client(rec) as client:
        with pytest.raises(ProxmoxConnectionError) as info:
            await client.get("/version")
    assert "TLS verification of pve1.example:8006 failed" in info.value.message
    hint = info.value.hint or ""
    assert "PROXMOX_TLS_CA_FILE" in hint and "PROXMOX_TLS_FINGERPRINT" in hint
    assert len(rec.requests) == 1


# --------------------------------------------------------------------------- secrets


def _everything_said(
    err: ProxmoxMCPError, client: RestClient, caplog: pytest.LogCaptureFixture, *, loggers: str = ""
) -> str:
    parts = [str(err), repr(err), err.to_text(), json.dumps(err.to_dict()), repr(client)]
    parts += [r.getMessage() for r in caplog.records if r.name.startswith(loggers)]
    return "\n".join(parts)


async def test_the_token_secret_never_appears_in_errors_logs_or_repr(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    said: list[str] = []
    answers: list[httpx2.Response | Exception] = [
        pve_json(None, 401, reason=f"invalid token secret {TOKEN_SECRET}"),
        pve_json(None, 400, message=f"bad value {TOKEN_SECRET}", errors={"password": f"echo {TOKEN_SECRET}"}),
        httpx2.ConnectError(f"weird proxy said {TOKEN_SECRET}"),
    ]
    for answer in answers:
        script = Script(answer)
        client = RestClient(token_cluster(), transport=script.transport(), retries=0)
        with pytest.raises(ProxmoxMCPError) as info:
            await client.request("POST", "/access/users", {"userid": "x@pve", "password": "user-pw"})
        # Only our loggers: httpx2's own INFO line repeats the status line verbatim, so a PVE that
        # echoed the secret in its reason phrase would show there (PVE does not; the server keeps
        # httpx2 at WARNING).
        said.append(_everything_said(info.value, client, caplog, loggers="proxmox_operator_mcp"))
        await client.aclose()
    text = "\n".join(said)
    assert TOKEN_SECRET not in text
    assert "[redacted]" in text
    assert "user-pw" not in text  # request parameters are never logged


async def test_the_password_ticket_and_csrf_token_never_appear_in_errors_logs_or_repr(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    pve = TicketPVE()

    def echo(request: httpx2.Request) -> httpx2.Response:
        ticket = request.headers["cookie"].removeprefix("PVEAuthCookie=")
        return pve_json(None, 500, message=f"cannot parse {ticket} / {pve.valid[ticket]} / {PASSWORD}")

    pve.answer = echo
    client = ticket_client(pve)
    with pytest.raises(ProxmoxServerError) as info:
        await client.request("POST", "/nodes/pve1/qemu/101/status/start")
    text = _everything_said(info.value, client, caplog) + repr(client._ticket)
    await client.aclose()
    ((ticket, csrf),) = pve.valid.items()
    for secret in (PASSWORD, ticket, csrf):
        assert secret not in text
    assert text.count("[redacted]") >= 3
