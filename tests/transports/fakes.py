"""Scripted PVE answers for RestClient tests (httpx2.MockTransport handlers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import anyio
import anyio.lowlevel
import httpx2
from pydantic import SecretStr

from proxmox_operator_mcp.config import ClusterConfig

TOKEN_SECRET = "5f3c9a1e-7b2d-4c8e-9f10-aa11bb22cc33"
PASSWORD = "correct horse battery staple"


def token_cluster(**kw: Any) -> ClusterConfig:
    return ClusterConfig.model_validate(
        {
            "name": "lab",
            "endpoints": ["pve1.example:8006"],
            "token_user": "root",
            "token_realm": "pam",
            "token_id": "mcp",
            "token_secret": SecretStr(TOKEN_SECRET),
            **kw,
        }
    )


def ticket_cluster(**kw: Any) -> ClusterConfig:
    return ClusterConfig.model_validate(
        {"name": "lab", "endpoints": ["pve1.example"], "username": "root@pam", "password": SecretStr(PASSWORD), **kw}
    )


def pve_json(
    data: Any = None,
    status: int = 200,
    *,
    reason: str | None = None,
    message: str | None = None,
    errors: dict[str, str] | None = None,
    total: Any = None,
) -> httpx2.Response:
    """A PVE-style answer: the JSON envelope, and PVE's message in the reason phrase."""
    body: dict[str, Any] = {"data": data}
    if total is not None:
        body["total"] = total
    if message is not None:
        body["message"] = message
    if errors is not None:
        body["errors"] = errors
    extensions = {"reason_phrase": reason.encode()} if reason else {}
    return httpx2.Response(status, json=body, extensions=extensions)


class Recorder:
    """Wraps a handler and keeps every request it saw."""

    def __init__(self, handler: Callable[[httpx2.Request], httpx2.Response]) -> None:
        self.handler = handler
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return self.handler(request)

    def transport(self) -> httpx2.MockTransport:
        return httpx2.MockTransport(self)


class Script:
    """Answers requests in order from a list (responses or exceptions to raise)."""

    def __init__(self, *steps: httpx2.Response | Exception) -> None:
        self.steps = list(steps)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, Exception):
            if isinstance(step, httpx2.RequestError):
                step.request = request  # as a real transport would attach it
            raise step
        return step

    def transport(self) -> httpx2.MockTransport:
        return httpx2.MockTransport(self)


class TicketPVE:
    """A PVE that does ticket auth: logins, renewals, cookie and CSRF checks."""

    def __init__(self, *, user: str = "root@pam", password: str = PASSWORD, renew: bool = True) -> None:
        self.user = user
        self.password = password
        self.renew = renew
        self.valid: dict[str, str] = {}  # ticket -> CSRF token
        self.logins: list[str] = []  # the password field of every login
        self.requests: list[httpx2.Request] = []
        self.issued = 0
        self.answer: Callable[[httpx2.Request], httpx2.Response] = lambda r: pve_json({"ok": True})
        self.login_answer: Callable[[str, str], httpx2.Response] | None = None

    def issue(self) -> tuple[str, str]:
        self.issued += 1
        ticket = f"PVE:{self.user}:{0x6600_0000 + self.issued:08X}::c2lnbmF0dXJlLXRpY2tldC0{self.issued:04d}"
        csrf = f"{0x6600_0000 + self.issued:08X}:Y3NyZi10b2tlbi{self.issued:04d}"
        self.valid[ticket] = csrf
        return ticket, csrf

    def expire_all(self) -> None:
        self.valid.clear()

    def transport(self) -> httpx2.MockTransport:
        return httpx2.MockTransport(self)

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        if request.url.path == "/api2/json/access/ticket":
            # Let other requests run while this login is "in flight".
            for _ in range(5):
                await anyio.lowlevel.checkpoint()
            form = dict(parse_qsl(request.content.decode()))
            pw = form.get("password", "")
            self.logins.append(pw)
            if self.login_answer is not None:
                return self.login_answer(form.get("username", ""), pw)
            if form.get("username") == self.user and (pw == self.password or (self.renew and pw in self.valid)):
                ticket, csrf = self.issue()
                return pve_json({"ticket": ticket, "CSRFPreventionToken": csrf, "username": self.user})
            return pve_json(None, 401, reason="authentication failure")
        ticket = request.headers.get("cookie", "").removeprefix("PVEAuthCookie=")
        if ticket not in self.valid:
            return pve_json(None, 401, reason="permission denied - invalid PVE ticket")
        if request.method != "GET" and request.headers.get("csrfpreventiontoken") != self.valid[ticket]:
            return pve_json(None, 401, reason="Permission denied - invalid csrf token")
        return self.answer(request)

    def api_requests(self) -> list[httpx2.Request]:
        return [r for r in self.requests if r.url.path != "/api2/json/access/ticket"]
