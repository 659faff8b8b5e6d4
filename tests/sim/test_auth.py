"""API tokens, tickets with CSRF tokens, and permission checks from the schema."""

from __future__ import annotations

import httpx2
import pytest

from proxmox_operator_mcp.sim import ManualClock, SimCluster

from .conftest import auditor_headers, client_for

pytestmark = pytest.mark.anyio


async def _login(c: httpx2.AsyncClient, user: str, password: str) -> httpx2.Response:
    return await c.post("/access/ticket", data={"username": user, "password": password})


async def test_a_request_without_credentials_is_refused_with_401_no_ticket(cluster: SimCluster) -> None:
    async with client_for(cluster) as anon:
        r = await anon.get("/nodes")
    assert r.status_code == 401
    assert r.content == b""  # pveproxy answers failed authentication with the status line only


async def test_a_token_with_a_wrong_secret_is_refused(cluster: SimCluster) -> None:
    async with client_for(cluster, {"Authorization": "PVEAPIToken=root@pam!mcp=wrong"}) as c:
        assert (await c.get("/version")).status_code == 401
    async with client_for(cluster, {"Authorization": f"PVEAPIToken=root@pam!nope={cluster.token_secret}"}) as c:
        assert (await c.get("/version")).status_code == 401


async def test_a_password_login_returns_a_ticket_a_csrf_token_and_capabilities(cluster: SimCluster) -> None:
    async with client_for(cluster) as anon:
        r = await _login(anon, "root@pam", cluster.password)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["username"] == "root@pam"
    assert data["ticket"].startswith("PVE:root@pam:") and "::" in data["ticket"]
    assert data["CSRFPreventionToken"].split(":")[0] == data["ticket"].split(":")[2]
    assert data["cap"]["vms"]["VM.PowerMgmt"] == 1
    assert data["clustername"] == "sim"


async def test_a_wrong_password_answers_401_authentication_failure(cluster: SimCluster) -> None:
    async with client_for(cluster) as anon:
        r = await _login(anon, "root@pam", "not-the-password")
    assert r.status_code == 401
    assert r.json()["message"] == "authentication failure\n"


async def test_a_write_with_a_ticket_needs_the_csrf_token_and_a_read_does_not(cluster: SimCluster) -> None:
    async with client_for(cluster) as anon:
        data = (await _login(anon, "root@pam", cluster.password)).json()["data"]
    cookie = {"Cookie": f"PVEAuthCookie={data['ticket']}"}
    async with client_for(cluster, cookie) as c:
        assert (await c.get("/nodes/pve1/qemu")).status_code == 200
        refused = await c.post("/nodes/pve1/qemu/102/status/start")
        assert refused.status_code == 401
        ok = await c.post(
            "/nodes/pve1/qemu/102/status/start", headers={"CSRFPreventionToken": data["CSRFPreventionToken"]}
        )
        assert ok.status_code == 200, ok.text
        assert ":qmstart:102:root@pam:" in ok.json()["data"]


async def test_a_ticket_expires_after_two_hours_and_can_be_renewed_before(
    mcluster: SimCluster, clock: ManualClock
) -> None:
    async with client_for(mcluster) as anon:
        first = (await _login(anon, "root@pam", mcluster.password)).json()["data"]["ticket"]
        clock.advance(3600)
        renewed = await _login(anon, "root@pam", first)
        assert renewed.status_code == 200
        second = renewed.json()["data"]["ticket"]
        clock.advance(3700)
        async with client_for(mcluster, {"Cookie": f"PVEAuthCookie={first}"}) as old:
            assert (await old.get("/version")).status_code == 401
        async with client_for(mcluster, {"Cookie": f"PVEAuthCookie={second}"}) as new:
            assert (await new.get("/version")).status_code == 200
        assert (await _login(anon, "root@pam", first)).status_code == 401


async def test_a_tampered_ticket_is_invalid(cluster: SimCluster) -> None:
    async with client_for(cluster) as anon:
        ticket = (await _login(anon, "root@pam", cluster.password)).json()["data"]["ticket"]
    forged = ticket.replace("root@pam", "auditor@pve")
    async with client_for(cluster, {"Cookie": f"PVEAuthCookie={forged}"}) as c:
        assert (await c.get("/version")).status_code == 401


async def test_tokens_are_refused_where_the_schema_says_allowtoken_0(
    api: httpx2.AsyncClient, cluster: SimCluster
) -> None:
    r = await api.post("/access/ticket", data={"username": "root@pam", "password": cluster.password})
    assert r.status_code == 403
    assert r.json()["message"].startswith("Permission check failed (URI '/access/ticket' not available with API token")


async def test_the_auditor_token_reads_but_cannot_power_a_vm(cluster: SimCluster) -> None:
    async with client_for(cluster, auditor_headers(cluster)) as ro:
        assert (await ro.get("/nodes/pve1/qemu/100/status/current")).status_code == 200
        r = await ro.post("/nodes/pve1/qemu/100/status/stop")
    assert r.status_code == 403
    assert r.json()["message"] == "Permission check failed (/vms/100, VM.PowerMgmt)\n"
    assert cluster.state.guests[100].running


async def test_a_permission_check_comes_before_parameter_validation(cluster: SimCluster) -> None:
    async with client_for(cluster, auditor_headers(cluster)) as ro:
        r = await ro.post("/nodes/pve1/qemu/100/status/stop", data={"timeout": "x"})
    assert r.status_code == 403


async def test_an_any_of_check_names_every_privilege(cluster: SimCluster) -> None:
    async with client_for(cluster, auditor_headers(cluster)) as ro:
        r = await ro.put("/nodes/pve1/qemu/100/config", data={"name": "x"})
    assert r.status_code == 403
    assert r.json()["message"].startswith("Permission check failed (/vms/100, VM.Config.Disk|VM.Config.CDROM|")


async def test_lists_show_only_what_a_token_may_audit(cluster: SimCluster) -> None:
    acc = cluster.access
    acc.add_user("dev@pve")
    tok = acc.add_token("dev@pve", "vm101")
    acc.grant("/vms/101", "dev@pve", "PVEVMUser")
    acc.grant("/vms/101", "dev@pve!vm101", "PVEVMUser")
    async with client_for(cluster, {"Authorization": f"PVEAPIToken=dev@pve!vm101={tok.secret}"}) as dev:
        vms = (await dev.get("/nodes/pve1/qemu")).json()["data"]
        res = (await dev.get("/cluster/resources")).json()["data"]
        perms = (await dev.get("/access/permissions")).json()["data"]
        assert (await dev.post("/nodes/pve1/qemu/101/status/start")).status_code == 200
        assert (await dev.post("/nodes/pve1/qemu/102/status/start")).status_code == 403
    assert [v["vmid"] for v in vms] == [101]
    assert [r["id"] for r in res] == ["qemu/101"]
    assert perms["/vms/101"]["VM.PowerMgmt"] == 1


async def test_a_privilege_separated_token_never_exceeds_its_user(cluster: SimCluster) -> None:
    acc = cluster.access
    acc.add_user("ops@pve")
    tok = acc.add_token("ops@pve", "tk")
    acc.grant("/", "ops@pve!tk", "PVEVMAdmin")  # the token has more than its user (nothing)
    async with client_for(cluster, {"Authorization": f"PVEAPIToken=ops@pve!tk={tok.secret}"}) as c:
        r = await c.post("/nodes/pve1/qemu/102/status/start")
    assert r.status_code == 403


async def test_read_only_endpoints_list_users_roles_and_acls(api: httpx2.AsyncClient) -> None:
    users = (await api.get("/access/users", params={"full": 1})).json()["data"]
    assert {u["userid"] for u in users} == {"root@pam", "auditor@pve"}
    root = next(u for u in users if u["userid"] == "root@pam")
    assert root["tokens"][0]["tokenid"] == "mcp"
    roles = {r["roleid"]: r for r in (await api.get("/access/roles")).json()["data"]}
    assert "VM.PowerMgmt" in roles["PVEVMUser"]["privs"].split(",")
    acl = (await api.get("/access/acl")).json()["data"]
    assert {"path": "/", "type": "token", "ugid": "auditor@pve!ro", "roleid": "PVEAuditor", "propagate": 1} in acl
