"""Users, API tokens, roles, ACLs, tickets and the permission checks of the simulated cluster.

Modelled on pve-access-control: ``PVE::AccessControl`` (tickets, CSRF tokens, API tokens) and
``PVE::RPCEnvironment`` (``permissions``, ``check``, ``check_any``, ``check_api2_permissions``,
``exec_api2_perm_check``). Approximations, on purpose:

* ACLs are resolved per user and per token (no groups): the most specific path with an entry
  wins, and an entry applies below its path only when it propagates.
* ``userid-group`` checks its privileges on ``/access/groups`` only (no per-group ACLs).
* ``userid-param`` with a privilege checks it on ``/access/realm/<realm of the userid>``;
  with ``self`` it compares the userid with the caller.
* ``perm-modify`` checks ``Permissions.Modify`` on the path.
* Pools take no part in permission paths.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import PVEError, param_error, perm_error

__all__ = ["ALL_PRIVS", "ROLES", "AccessControl", "Acl", "Token", "User", "split_tokenid"]

TICKET_LIFETIME = 7200  # seconds; PVE tickets are valid for 2 h
TICKET_SKEW = 300  # a ticket may be up to 5 min "in the future"

ALL_PRIVS: tuple[str, ...] = (
    "Datastore.Allocate",
    "Datastore.AllocateSpace",
    "Datastore.AllocateTemplate",
    "Datastore.Audit",
    "Group.Allocate",
    "Mapping.Audit",
    "Mapping.Modify",
    "Mapping.Use",
    "Permissions.Modify",
    "Pool.Allocate",
    "Pool.Audit",
    "Realm.Allocate",
    "Realm.AllocateUser",
    "SDN.Allocate",
    "SDN.Audit",
    "SDN.Use",
    "Sys.AccessNetwork",
    "Sys.Audit",
    "Sys.Console",
    "Sys.Incoming",
    "Sys.Modify",
    "Sys.PowerMgmt",
    "Sys.Syslog",
    "User.Modify",
    "VM.Allocate",
    "VM.Audit",
    "VM.Backup",
    "VM.Clone",
    "VM.Config.CDROM",
    "VM.Config.CPU",
    "VM.Config.Cloudinit",
    "VM.Config.Disk",
    "VM.Config.HWType",
    "VM.Config.Memory",
    "VM.Config.Network",
    "VM.Config.Options",
    "VM.Console",
    "VM.GuestAgent.Audit",
    "VM.GuestAgent.FileRead",
    "VM.GuestAgent.FileSystemMgmt",
    "VM.GuestAgent.FileWrite",
    "VM.GuestAgent.Unrestricted",
    "VM.Migrate",
    "VM.PowerMgmt",
    "VM.Replicate",
    "VM.Snapshot",
    "VM.Snapshot.Rollback",
)

_VM_PRIVS = tuple(p for p in ALL_PRIVS if p.startswith("VM."))

# The built-in roles of PVE 9 (all "special").
ROLES: dict[str, tuple[str, ...]] = {
    "Administrator": ALL_PRIVS,
    "NoAccess": (),
    "PVEAdmin": tuple(
        p for p in ALL_PRIVS if p not in {"Permissions.Modify", "Realm.Allocate", "Sys.Modify", "Sys.PowerMgmt"}
    ),
    "PVEAuditor": (
        "Datastore.Audit",
        "Mapping.Audit",
        "Pool.Audit",
        "SDN.Audit",
        "Sys.Audit",
        "VM.Audit",
        "VM.GuestAgent.Audit",
    ),
    "PVEDatastoreAdmin": (
        "Datastore.Allocate",
        "Datastore.AllocateSpace",
        "Datastore.AllocateTemplate",
        "Datastore.Audit",
    ),
    "PVEDatastoreUser": ("Datastore.AllocateSpace", "Datastore.Audit"),
    "PVEMappingAdmin": ("Mapping.Audit", "Mapping.Modify", "Mapping.Use"),
    "PVEMappingUser": ("Mapping.Audit", "Mapping.Use"),
    "PVEPoolAdmin": ("Pool.Allocate", "Pool.Audit"),
    "PVEPoolUser": ("Pool.Audit",),
    "PVESDNAdmin": ("SDN.Allocate", "SDN.Audit"),
    "PVESDNUser": ("SDN.Audit", "SDN.Use"),
    "PVESysAdmin": (
        "Sys.AccessNetwork",
        "Sys.Audit",
        "Sys.Console",
        "Sys.Incoming",
        "Sys.Modify",
        "Sys.PowerMgmt",
        "Sys.Syslog",
    ),
    "PVETemplateUser": ("VM.Audit", "VM.Clone"),
    "PVEUserAdmin": ("Group.Allocate", "Realm.AllocateUser", "User.Modify"),
    "PVEVMAdmin": _VM_PRIVS,
    "PVEVMUser": (
        "VM.Audit",
        "VM.Backup",
        "VM.Config.CDROM",
        "VM.Config.Cloudinit",
        "VM.Console",
        "VM.GuestAgent.Audit",
        "VM.PowerMgmt",
    ),
}

_TOKENID_RE = re.compile(r"^([^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+)!([A-Za-z][A-Za-z0-9.\-_]+)$")


def split_tokenid(authid: str) -> tuple[str, str | None]:
    """``user@realm!token`` -> (``user@realm``, ``token``); a plain user id -> (user, None)."""
    m = _TOKENID_RE.match(authid)
    return (m.group(1), m.group(2)) if m else (authid, None)


def normalize_path(path: str) -> str:
    """PVE's ``normalize_path``: one leading slash, no doubled or trailing slashes."""
    path = "/" + "/".join(p for p in path.split("/") if p)
    return path


@dataclass
class Token:
    tokenid: str
    secret: str
    privsep: bool = True
    comment: str = ""
    expire: int = 0


@dataclass
class User:
    userid: str
    password: str | None = None
    enable: bool = True
    expire: int = 0
    comment: str = ""
    firstname: str = ""
    lastname: str = ""
    email: str = ""
    tokens: dict[str, Token] = field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.userid.rsplit("@", 1)[-1]


@dataclass(frozen=True)
class Acl:
    path: str
    ugid: str
    type: str  # user | group | token
    roleid: str
    propagate: bool = True


class AccessControl:
    """The user database and the permission engine of the simulated cluster."""

    def __init__(self, *, clock_time: Any, root_password: str | None = None, token_secret: str | None = None) -> None:
        self._time = clock_time
        self._secret = secrets.token_bytes(32)
        self.root_password = root_password or secrets.token_urlsafe(12)
        self.users: dict[str, User] = {}
        self._acls: list[Acl] = []
        self._cache: dict[tuple[str, str], dict[str, int]] = {}
        root = User("root@pam", password=self.root_password, comment="")
        root.tokens["mcp"] = Token("mcp", token_secret or str(uuid.uuid4()), privsep=False, comment="proxmox-mcp")
        self.users[root.userid] = root
        auditor = User("auditor@pve", password=secrets.token_urlsafe(12), comment="read-only auditor")
        auditor.tokens["ro"] = Token("ro", str(uuid.uuid4()), privsep=True, comment="read-only")
        self.users[auditor.userid] = auditor
        self.grant("/", "auditor@pve", "PVEAuditor")
        self.grant("/", "auditor@pve!ro", "PVEAuditor")

    @property
    def acls(self) -> tuple[Acl, ...]:
        """The ACL entries (change them with :meth:`grant`)."""
        return tuple(self._acls)

    # -- credentials --------------------------------------------------------------------------

    def add_user(self, userid: str, password: str | None = None, **kw: Any) -> User:
        """Add a user (tests and demos build extra principals with it)."""
        user = User(userid, password=password, **kw)
        self.users[userid] = user
        self._cache.clear()
        return user

    def add_token(self, userid: str, tokenid: str, *, privsep: bool = True, secret: str | None = None) -> Token:
        """Add an API token to a user (PVE's token names: a letter, then at least one more character)."""
        if split_tokenid(f"{userid}!{tokenid}")[1] is None:
            raise ValueError(f"invalid token name {tokenid!r}")
        tok = Token(tokenid, secret or str(uuid.uuid4()), privsep=privsep)
        self.users[userid].tokens[tokenid] = tok
        self._cache.clear()
        return tok

    def grant(self, path: str, ugid: str, roleid: str, *, propagate: bool = True) -> None:
        """Add an ACL entry for a user or a token (``user@realm!token``)."""
        kind = "token" if split_tokenid(ugid)[1] else "user"
        self._acls.append(Acl(normalize_path(path), ugid, kind, roleid, propagate))
        self._cache.clear()

    def verify_token(self, value: str) -> str:
        """``USER@REALM!TOKENID=SECRET`` -> the token id, as PVE's ``verify_token``.

        Raises:
            PVEError: 401 with PVE's message.
        """
        m = re.match(r"^(.*)=(.*)$", value)
        if not m:
            raise PVEError(401, "no tokenid specified")
        tokenid, secret = m.group(1), m.group(2)
        userid, name = split_tokenid(tokenid)
        if name is None:
            raise PVEError(401, "no tokenid specified")
        user = self._enabled_user(userid)
        tok = user.tokens.get(name)
        if tok is None:
            raise PVEError(401, f"no such token '{name}' for user '{userid}'")
        if tok.expire and tok.expire < self._now():
            raise PVEError(401, "token expired")
        if not hmac.compare_digest(tok.secret.encode(), secret.encode()):
            raise PVEError(401, "invalid token value!")
        return tokenid

    def _enabled_user(self, userid: str) -> User:
        user = self.users.get(userid)
        if user is None:
            raise PVEError(401, f"no such user ('{userid}')")
        if not user.enable or (user.expire and user.expire < self._now()):
            raise PVEError(401, f"user '{userid}' is disabled")
        return user

    def _now(self) -> int:
        return int(self._time())

    def _sign(self, data: str) -> str:
        return base64.b64encode(hmac.new(self._secret, data.encode(), hashlib.sha256).digest()).decode().rstrip("=")

    def create_ticket(self, username: str, password: str) -> str:
        """Check a password (or a still valid ticket, for renewal) and issue a new ticket.

        Raises:
            PVEError: 401 ``authentication failure`` whatever went wrong (no user enumeration).
        """
        try:
            user = self._enabled_user(username)
            if password.startswith("PVE:"):
                if self.verify_ticket(password) != username:
                    raise PVEError(401, "ticket user mismatch")
            elif user.password is None or not hmac.compare_digest(user.password.encode(), password.encode()):
                raise PVEError(401, "invalid credentials")
        except PVEError:
            raise PVEError(401, "authentication failure") from None
        stamp = f"{self._now():08X}"
        plain = f"PVE:{username}:{stamp}"
        return f"{plain}::{self._sign(plain)}"

    def verify_ticket(self, ticket: str) -> str:
        """The user id of a valid ticket.

        Raises:
            PVEError: 401 ``permission denied - invalid PVE ticket``.
        """
        m = re.fullmatch(r"(PVE:([^:\s]+):([0-9A-F]{8}))::(\S+)", ticket)
        bad = PVEError(401, "permission denied - invalid PVE ticket")
        if not m or not hmac.compare_digest(self._sign(m.group(1)), m.group(4)):
            raise bad
        age = self._now() - int(m.group(3), 16)
        if age < -TICKET_SKEW or age > TICKET_LIFETIME:
            raise bad
        self._enabled_user(m.group(2))
        return m.group(2)

    def csrf_token(self, username: str) -> str:
        stamp = f"{self._now():08X}"
        return f"{stamp}:{self._sign(f'{stamp}:{username}')}"

    def verify_csrf(self, username: str, token: str | None) -> None:
        """Raises: PVEError 401 ``Permission denied - invalid csrf token``."""
        m = re.fullmatch(r"([A-F0-9]{8}):(\S+)", token or "")
        bad = PVEError(401, "Permission denied - invalid csrf token")
        if not m or not hmac.compare_digest(self._sign(f"{m.group(1)}:{username}"), m.group(2)):
            raise bad
        age = self._now() - int(m.group(1), 16)
        if age < -TICKET_SKEW or age > TICKET_LIFETIME:
            raise bad

    # -- permissions --------------------------------------------------------------------------

    def permissions(self, authid: str, path: str) -> dict[str, int]:
        """Privileges of ``authid`` on ``path``: privilege -> 1 when it propagates."""
        path = normalize_path(path)
        key = (authid, path)
        if key not in self._cache:  # cleared whenever users, tokens or ACLs change
            self._cache[key] = self._permissions(authid, path)
        return self._cache[key]

    def _permissions(self, authid: str, path: str) -> dict[str, int]:
        userid, token = split_tokenid(authid)
        if token is not None:
            user = self.users.get(userid)
            tok = user.tokens.get(token) if user else None
            if tok is None:
                return {}
            user_perms = self.permissions(userid, path)
            if not tok.privsep:
                return user_perms
            token_perms = self._acl_privs(authid, path)
            return {p: v for p, v in token_perms.items() if p in user_perms}
        if userid == "root@pam":
            return dict.fromkeys(ALL_PRIVS, 1)
        if userid not in self.users:
            return {}
        return self._acl_privs(userid, path)

    def _acl_privs(self, ugid: str, path: str) -> dict[str, int]:
        mine = [a for a in self._acls if a.ugid == ugid]
        roles: dict[str, bool] = {}
        parts = [p for p in path.split("/") if p]
        for depth in range(len(parts) + 1):
            here = "/" + "/".join(parts[:depth])
            exact = depth == len(parts)
            entries = [a for a in mine if a.path == here and (exact or a.propagate)]
            if entries:
                roles = {a.roleid: a.propagate for a in entries}
        if "NoAccess" in roles:
            return {}
        out: dict[str, int] = {}
        for roleid, prop in roles.items():
            for priv in ROLES.get(roleid, ()):
                out[priv] = max(out.get(priv, 0), int(prop))
        return out

    def has(self, authid: str, path: str, privs: Iterable[str], *, any_: bool = False) -> bool:
        """True when ``authid`` holds all (or, with ``any_``, one) of ``privs`` on ``path``."""
        perms = self.permissions(authid, path)
        hits = [p in perms for p in privs]
        return any(hits) if any_ else all(hits)

    def check(self, authid: str, path: str, privs: list[str], *, any_: bool = False) -> None:
        """PVE's ``check`` / ``check_any``.

        Raises:
            PVEError: 403 ``Permission check failed (/vms/101, VM.PowerMgmt)``.
        """
        path = normalize_path(path)
        perms = self.permissions(authid, path)
        if any_:
            if not any(p in perms for p in privs):
                raise perm_error(f"{path}, {'|'.join(privs)}")
            return
        for priv in privs:
            if priv not in perms:
                raise perm_error(f"{path}, {priv}")

    def check_api2(self, perm: Mapping[str, Any] | None, authid: str, params: Mapping[str, Any]) -> None:
        """PVE's ``check_api2_permissions`` for an endpoint's schema ``permissions``.

        Raises:
            PVEError: 403 when the check fails.
        """
        if authid == "root@pam":
            return
        if not perm:
            raise perm_error("user != root@pam")
        if perm.get("user") in ("all", "world"):
            return
        if "check" in perm:
            self._eval(perm["check"], authid, params, noerr=False)
            return
        raise perm_error()

    def _eval(self, check: list[Any], authid: str, params: Mapping[str, Any], *, noerr: bool) -> bool:
        op = check[0]
        if op == "and":
            return all(self._eval(sub, authid, params, noerr=noerr) for sub in check[1:])
        if op == "or":
            if any(self._eval(sub, authid, params, noerr=True) for sub in check[1:]):
                return True
            if noerr:
                return False
            raise perm_error()
        if op == "perm":
            tmpl, privs = check[1], list(check[2])
            opts = dict(zip(check[3::2], check[4::2], strict=False))
            if opts.get("require_param") and params.get(opts["require_param"]) in (None, ""):
                return False
            path = re.sub(r"\{(\w+)\}", lambda m: str(params.get(m.group(1), "")), tmpl)
            return self._check_or(authid, path, privs, bool(opts.get("any")), noerr)
        if op == "userid-param":
            userid = str(params.get("userid", ""))
            if check[1] == "self":
                if userid == authid or userid == split_tokenid(authid)[0]:
                    return True
                if noerr:
                    return False
                raise perm_error("user != self")
            realm = userid.rsplit("@", 1)[-1] if "@" in userid else ""
            return self._check_or(authid, f"/access/realm/{realm}", [check[1]], False, noerr)
        if op == "userid-group":
            return self._check_or(authid, "/access/groups", list(check[1]), True, noerr)
        if op == "perm-modify":
            path = re.sub(r"\{(\w+)\}", lambda m: str(params.get(m.group(1), "")), check[1])
            return self._check_or(authid, path, ["Permissions.Modify"], False, noerr)
        raise PVEError(500, f"unknown permission test '{op}'")

    def _check_or(self, authid: str, path: str, privs: list[str], any_: bool, noerr: bool) -> bool:
        if noerr:
            return self.has(authid, path, privs, any_=any_)
        self.check(authid, path, privs, any_=any_)
        return True

    def capabilities(self, authid: str) -> dict[str, dict[str, int]]:
        """The ``cap`` object of a ticket reply: privileges per GUI area."""
        areas = {
            "vms": ("/vms", lambda p: p.startswith("VM.") or p == "Permissions.Modify"),
            "storage": ("/storage", lambda p: p.startswith("Datastore.") or p == "Permissions.Modify"),
            "access": (
                "/access",
                lambda p: p in {"User.Modify", "Group.Allocate", "Permissions.Modify"} or p.startswith("Realm."),
            ),
            "nodes": ("/nodes", lambda p: p.startswith("Sys.") or p == "Permissions.Modify"),
            "dc": ("/", lambda p: p in {"Sys.Audit", "Sys.Modify"} or p.startswith("SDN.")),
            "sdn": ("/sdn", lambda p: p.startswith("SDN.") or p == "Permissions.Modify"),
            "mapping": ("/mapping", lambda p: p.startswith("Mapping.") or p == "Permissions.Modify"),
        }
        out: dict[str, dict[str, int]] = {}
        for area, (path, keep) in areas.items():
            out[area] = {p: 1 for p in sorted(self.permissions(authid, path)) if keep(p)}
        return out

    def permission_tree(self, authid: str, path: str | None = None) -> dict[str, dict[str, int]]:
        """``GET /access/permissions``: path -> privileges, for the standard paths and every ACL path."""
        if path is not None:
            return {path: self.permissions(authid, path)}
        paths = {"/", "/access", "/access/groups", "/mapping", "/nodes", "/pool", "/sdn", "/storage", "/vms"}
        paths |= {a.path for a in self.acls}
        out = {}
        for p in sorted(paths):
            perms = self.permissions(authid, p)
            if perms:
                out[p] = dict(sorted(perms.items()))
        return out

    def ensure_userid(self, userid: str) -> User:
        """Raises: PVEError 400 for an unknown user id."""
        user = self.users.get(split_tokenid(userid)[0])
        if user is None:
            raise param_error({"userid": f"no such user ('{userid}')"})
        return user
