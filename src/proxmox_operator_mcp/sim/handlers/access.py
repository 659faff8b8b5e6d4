"""``/access``: tickets, users, roles, ACLs and the permission dump."""

from __future__ import annotations

from typing import Any

from ..auth import ROLES, User, split_tokenid
from ..errors import PVEError, perm_error
from .base import Call, index, route

route("GET", "/access")(
    index(
        "users", "groups", "roles", "acl", "domains", "openid", "tfa", "ticket", "password", "permissions", "vncticket"
    )
)


@route("GET", "/access/ticket")
def ticket_index(call: Call) -> None:
    return None


@route("POST", "/access/ticket")
def create_ticket(call: Call) -> dict[str, Any]:
    acc = call.cluster.access
    username = str(call.param("username"))
    realm = call.param("realm")
    if realm and "@" not in username:
        username = f"{username}@{realm}"
    ticket = acc.create_ticket(username, str(call.param("password")))
    out: dict[str, Any] = {
        "username": username,
        "ticket": ticket,
        "CSRFPreventionToken": acc.csrf_token(username),
        "cap": acc.capabilities(username),
    }
    if len(call.cluster.state.nodes) > 1:
        out["clustername"] = call.cluster.state.cluster_name
    return out


@route("GET", "/access/domains")
def domains(call: Call) -> list[dict[str, Any]]:
    return [
        {"realm": "pam", "type": "pam", "comment": "Linux PAM standard authentication"},
        {"realm": "pve", "type": "pve", "comment": "Proxmox VE authentication server"},
    ]


def _user_entry(user: User, full: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "userid": user.userid,
        "enable": int(user.enable),
        "expire": user.expire,
        "realm-type": user.realm if user.realm in ("pam", "pve") else "pve",
    }
    for key in ("comment", "firstname", "lastname", "email"):
        if getattr(user, key):
            out[key] = getattr(user, key)
    if full:
        out["tokens"] = [
            {
                "tokenid": t.tokenid,
                "privsep": int(t.privsep),
                "expire": t.expire,
                **({"comment": t.comment} if t.comment else {}),
            }
            for t in user.tokens.values()
        ]
        out["groups"] = ""
    return out


@route("GET", "/access/users")
def users(call: Call) -> list[dict[str, Any]]:
    acc = call.cluster.access
    me = split_tokenid(call.authid)[0]
    see_all = call.can("/access/groups", "User.Modify", "Sys.Audit")
    enabled = call.param("enabled")
    out = []
    for user in acc.users.values():
        if not see_all and user.userid != me:
            continue
        if enabled is not None and int(user.enable) != int(enabled):
            continue
        out.append(_user_entry(user, call.flag("full")))
    return out


@route("GET", "/access/users/{userid}")
def user_read(call: Call) -> dict[str, Any]:
    userid = call.path_params["userid"]
    user = call.cluster.access.users.get(userid)
    if user is None:
        raise PVEError(500, f"no such user ('{userid}')")
    entry = _user_entry(user, False)
    entry.pop("userid")
    entry.pop("realm-type")
    entry["groups"] = []
    entry["tokens"] = {
        t.tokenid: {"privsep": int(t.privsep), "expire": t.expire, **({"comment": t.comment} if t.comment else {})}
        for t in user.tokens.values()
    }
    return entry


@route("GET", "/access/roles")
def roles(call: Call) -> list[dict[str, Any]]:
    return [{"roleid": r, "privs": ",".join(p), "special": 1} for r, p in sorted(ROLES.items())]


@route("GET", "/access/roles/{roleid}")
def role_read(call: Call) -> dict[str, int]:
    roleid = call.path_params["roleid"]
    if roleid not in ROLES:
        raise PVEError(500, f"role '{roleid}' does not exist")
    return dict.fromkeys(ROLES[roleid], 1)


@route("GET", "/access/acl")
def acl(call: Call) -> list[dict[str, Any]]:
    acc = call.cluster.access
    out = []
    for entry in acc.acls:
        if not acc.has(call.authid, entry.path, ["Permissions.Modify"]):
            continue
        out.append(
            {
                "path": entry.path,
                "type": entry.type,
                "ugid": entry.ugid,
                "roleid": entry.roleid,
                "propagate": int(entry.propagate),
            }
        )
    return out


@route("GET", "/access/permissions")
def permissions(call: Call) -> dict[str, dict[str, int]]:
    acc = call.cluster.access
    target = call.param("userid") or call.authid
    if target != call.authid:
        own_token = split_tokenid(target)[0] == call.authid
        if not own_token and not acc.has(call.authid, "/access", ["Sys.Audit"]):
            raise perm_error("/access, Sys.Audit")
        acc.ensure_userid(target)
    return acc.permission_tree(target, call.param("path"))
