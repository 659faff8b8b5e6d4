"""The REST plane: one client per PVE cluster speaking its JSON API (``/api2/json``).

:class:`RestClient` owns one pooled ``httpx2.AsyncClient`` per API endpoint, created on the
first request (never at construction, so starting the server connects nowhere). It encodes
requests the way PVE expects (query string for GET/DELETE, form body for POST/PUT, booleans as
0/1, lists as repeated keys), authenticates with an API token or a ticket, verifies TLS (system
store, CA file or fingerprint pin), retries only idempotent GETs on transient failures, fails over
across the cluster's endpoints (see :meth:`RestClient._select_endpoint`: a GET moves on a
connection failure, timeout or 595/596; a write only when it could not connect, so it is never
sent twice; a failed endpoint is skipped with a doubling backoff), and maps
every failure to the :mod:`~proxmox_operator_mcp.errors` tree with PVE's own message and a hint.

Credentials come from the cluster's :class:`~proxmox_operator_mcp.secrets.ClusterSecrets` on
use: inline values, or references into the secret backend resolved on the first request. When
PVE answers 401 to credentials from a backend, they are read again; if they changed (a rotated
token or password), the request is sent once more (PVE ran nothing on a 401), else the 401 is
reported with where the secret came from.

No credential (token secret, password, ticket, CSRF token) ever appears in a message, a log
line or a repr; request parameters are never logged.
"""

from __future__ import annotations

import copy
import http.cookiejar
import logging
import math
import random
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode

import anyio
import httpx2

from .. import __version__
from ..config import ApiEndpoint, ClusterConfig
from ..errors import (
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
    SecretError,
    TransportError,
)
from ..secrets.cluster import Identity
from ..server.metrics import METRICS
from . import tls as _tls

__all__ = [
    "ApiResponse",
    "RestClient",
    "encode_params",
    "encode_path",
    "parse_permission_message",
    "to_float",
    "to_int",
]

log = logging.getLogger(__name__)

API_ROOT = "/api2/json"
#: PVE tickets are valid for two hours; renew after one, while the old one is still good.
TICKET_LIFETIME = 2 * 3600.0
TICKET_RENEW_AFTER = 3600.0
_TICKET_EXPIRY_MARGIN = 120.0
#: Statuses after which an idempotent GET is tried again (pveproxy overload, node proxying).
RETRY_STATUSES = frozenset({502, 503, 595, 596})
_METHODS = frozenset({"GET", "POST", "PUT", "DELETE"})
# pveproxy closes an idle keep-alive connection after about 5 s; reusing one it is closing
# costs a failed request, so drop ours first.
_KEEPALIVE_EXPIRY = 4.0
_USER_AGENT = f"proxmox-operator-mcp/{__version__}"
_REDACTED = "[redacted]"
_PERM_RE = re.compile(r"Permission check failed \(([^)]*)\)")
# X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_EMAIL_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
_NAME_MISMATCH = frozenset({62, 63, 64})


# --------------------------------------------------------------------------- pure helpers


def to_int(value: Any, default: int | None = None) -> int | None:
    """An int from PVE's loosely typed numbers (``"2048"``, ``2048``, ``2048.0``, ``True``).

    Returns ``default`` for None, empty strings, non-numbers and non-integral values.
    """
    if value is None:
        return default
    if isinstance(value, bool | int):
        return int(value)
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else default
    if isinstance(value, str):
        s = value.strip()
        if not s:
            return default
        try:
            return int(s, 10)
        except ValueError:
            pass
        try:
            f = float(s)
        except ValueError:
            return default
        return int(f) if math.isfinite(f) and f.is_integer() else default
    return default


def to_float(value: Any, default: float | None = None) -> float | None:
    """A float from PVE's loosely typed numbers (``"0.25"``, ``1``, ``"3"``).

    Returns ``default`` for None, empty strings, non-numbers, NaN and infinities.
    """
    if value is None:
        return default
    if isinstance(value, bool | int | float):
        f = float(value)
    elif isinstance(value, str):
        try:
            f = float(value.strip())
        except ValueError:
            return default
    else:
        return default
    return f if math.isfinite(f) else default


def encode_path(path: str) -> str:
    """Percent-encode an API path below ``/api2/json`` segment by segment.

    ``path`` holds raw values (``/nodes/pve1/tasks/UPID:pve1:...:root@pam!mcp:/status``); every
    character outside the unreserved set is encoded, so ``:``, ``@``, ``!``, ``?``, ``#`` and
    ``%`` inside a value cannot change the URL's meaning. PVE decodes the path once.

    Raises:
        InvalidArgumentError: the path does not start with ``/``, or has an empty, ``.`` or
            ``..`` segment (which would leave ``/api2/json`` after URL normalisation).
    """
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidArgumentError(
            f"API path {path!r} must start with '/' (a path below /api2/json, e.g. /nodes/pve1/qemu)"
        )
    body = path[1:]
    body = body.removesuffix("/")
    if not body:
        return "/"
    segments = body.split("/")
    for seg in segments:
        if seg in ("", ".", ".."):
            shown = "an empty segment" if seg == "" else f"a {seg!r} segment"
            raise InvalidArgumentError(f"API path {path!r} has {shown}; give each part of the path explicitly")
    return "/" + "/".join(quote(seg, safe="") for seg in segments)


def _scalar(key: str, value: Any) -> str:
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArgumentError(f"parameter {key!r}: {value!r} is not a number PVE accepts")
        if value.is_integer():
            return str(int(value))
        text = repr(value)
        return format(value, "f") if "e" in text or "E" in text else text
    if isinstance(value, str):
        return value
    raise InvalidArgumentError(
        f"parameter {key!r}: cannot send a {type(value).__name__} to PVE; use a string, number, boolean "
        "or a list of those (nested values are property strings, e.g. 'virtio,bridge=vmbr0')"
    )


def encode_params(params: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """PVE wire form of request parameters, as ordered ``(name, value)`` pairs.

    Booleans become ``1``/``0``, lists and tuples become repeated keys, ``None`` values (and
    ``None`` list items) are dropped.

    Raises:
        InvalidArgumentError: a name is not a string, or a value has no PVE encoding.
    """
    if not params:
        return []
    if not isinstance(params, Mapping):
        raise InvalidArgumentError("request parameters must be a mapping of name to value")
    out: list[tuple[str, str]] = []
    for key, value in params.items():
        if not isinstance(key, str) or not key:
            raise InvalidArgumentError(f"parameter names must be non-empty strings, got {key!r}")
        if value is None:
            continue
        if isinstance(value, list | tuple):
            out.extend((key, _scalar(key, item)) for item in value if item is not None)
        elif isinstance(value, set | frozenset):
            out.extend(sorted((key, _scalar(key, item)) for item in value if item is not None))
        else:
            out.append((key, _scalar(key, value)))
    return out


def _form(pairs: list[tuple[str, str]]) -> str:
    # quote with safe="": %20 for spaces (not '+') and %2F for '/', unambiguous in query
    # strings and form bodies alike.
    return urlencode(pairs, safe="", quote_via=quote)


def parse_permission_message(message: str) -> tuple[str | None, list[str]]:
    """ACL path and privileges from ``Permission check failed (/vms/100, VM.PowerMgmt)``.

    PVE joins alternatives with ``|`` (any one of them would do). Messages without an ACL path
    (``Permission check failed (user != root@pam)``) give ``(None, [])``.
    """
    m = _PERM_RE.search(message)
    if m is None:
        return None, []
    path, _, privs = m.group(1).partition(",")
    path = path.strip()
    if not path.startswith("/"):
        return None, []
    return path, [p for p in re.split(r"[|,\s]+", privs) if p]


_ROLE_FOR = {
    "VM.Audit": "PVEAuditor",
    "Sys.Audit": "PVEAuditor",
    "Datastore.Audit": "PVEAuditor",
    "Pool.Audit": "PVEAuditor",
    "SDN.Audit": "PVEAuditor",
    "VM.PowerMgmt": "PVEVMUser",
    "VM.Console": "PVEVMUser",
    "VM.Backup": "PVEVMUser",
    "VM.Config.CDROM": "PVEVMUser",
    "VM.Config.Cloudinit": "PVEVMUser",
    "Datastore.AllocateSpace": "PVEDatastoreUser",
}


def _suggest_role(privileges: list[str]) -> str | None:
    if not privileges:
        return None
    first = privileges[0]
    if first in _ROLE_FOR:
        return _ROLE_FOR[first]
    if first.startswith("VM."):
        return "PVEVMAdmin"
    if first.startswith("Datastore."):
        return "PVEDatastoreAdmin"
    return None


# --------------------------------------------------------------------------- the client


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """One successful PVE answer.

    Attributes:
        status: HTTP status (2xx).
        data: the envelope's ``data`` (any JSON value; None for many writes).
        total: the envelope's ``total`` for paged lists, as an int.
        changes: the envelope's ``changes``, when PVE sent one.
        headers: a minimal set of response headers (``content-type``); never cookies.
    """

    status: int
    data: Any
    total: int | None = None
    changes: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(repr=False, eq=False, slots=True)
class _Ticket:
    ticket: str
    csrf: str
    obtained: float

    def __repr__(self) -> str:
        return "_Ticket(<redacted>)"


async def _send_direct(client: httpx2.AsyncClient, request: httpx2.Request) -> httpx2.Response:
    """``client.send(request)`` without the layers PVE requests never use (auth flows, redirects,
    cookie extraction, event hooks): straight to the client's transport, body read whole. The
    request was built by the client, so its headers and timeouts are the client's."""
    transport = getattr(client, "_transport", None)
    if client.is_closed or not isinstance(transport, httpx2.AsyncBaseTransport):  # the long way (it raises)
        return await client.send(request)
    response = await transport.handle_async_request(request)
    response.request = request
    try:
        await response.aread()
    finally:
        await response.aclose()
    return response


def _on_asyncio() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:  # another event loop (trio): httpcore2's own backend
        return False
    return True


def _no_cookie_jar() -> http.cookiejar.CookieJar:
    # We send PVEAuthCookie ourselves; a jar would keep whatever Set-Cookie said and send it
    # alongside (or after a re-login, instead of) the current ticket.
    return http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


def _retryable(exc: httpx2.HTTPError) -> bool:
    # Read timeouts are not retried: the node is slow, and three full read timeouts would hold
    # the caller for minutes. Certificate failures do not heal by themselves.
    if _tls.certificate_error(exc) is not None:
        return False
    return isinstance(exc, httpx2.ConnectTimeout | httpx2.NetworkError | httpx2.RemoteProtocolError)


def _endpoint_failure(exc: httpx2.HTTPError) -> bool:
    """The endpoint itself failed (no connection, or no answer in time): take it out of rotation."""
    if _tls.certificate_error(exc) is not None or isinstance(exc, httpx2.PoolTimeout):
        return False
    return isinstance(exc, httpx2.TimeoutException | httpx2.NetworkError | httpx2.RemoteProtocolError)


def _may_move(exc: httpx2.HTTPError, verb: str) -> bool:
    """May the request go to the next endpoint after ``exc``?

    GET: after any connection failure or timeout (certificate failures excepted: another node of
    the same cluster would be refused for the same reason, and the operator must look).
    Writes: only after a failure to connect (``ConnectError``/``ConnectTimeout``: the request was
    never sent, so PVE cannot have received it). A write that was sent and then lost its
    connection or timed out is never sent again anywhere.
    """
    if _tls.certificate_error(exc) is not None or isinstance(exc, httpx2.PoolTimeout):
        return False
    if verb == "GET":
        return _endpoint_failure(exc)
    return isinstance(exc, httpx2.ConnectError | httpx2.ConnectTimeout)


@dataclass(slots=True)
class _Health:
    failures: int = 0
    down_until: float = 0.0
    last_error: str | None = None


# GETs whose answer is meant for one caller: the next free guest id (two creates must not be
# handed one answer), even though PVE itself does not reserve it.
_NEVER_JOINED = frozenset({"/cluster/nextid"})


class _Flight:
    """A GET in flight that identical GETs may join: its answer, once there (None: failed)."""

    __slots__ = ("_answer", "_event", "_finished", "changes", "error")

    def __init__(self, changes: int) -> None:
        self.changes = changes
        self.error: ProxmoxMCPError | None = None
        self._finished = False
        self._event: anyio.Event | None = None  # made by the first joiner: most GETs have none
        self._answer: tuple[httpx2.Response, ApiEndpoint] | None = None

    def done(self, answer: tuple[httpx2.Response, ApiEndpoint] | None) -> None:
        if not self._finished:
            self._finished = True
            self._answer = answer
            if self._event is not None:
                self._event.set()

    async def answer(self) -> tuple[httpx2.Response, ApiEndpoint] | None:
        if not self._finished:
            if self._event is None:
                self._event = anyio.Event()
            await self._event.wait()
        return self._answer


def _error_kind(exc: httpx2.HTTPError) -> str:
    """The status label of a request that got no answer."""
    if isinstance(exc, httpx2.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx2.ConnectError):
        return "connect_error"
    return "transport_error"


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


class RestClient:
    """Client for one PVE cluster's REST API.

    Args:
        cluster: the cluster's configuration (endpoints, credentials, TLS, timeouts).
        transport: an httpx2 transport to use instead of the network (``MockTransport``,
            ``ASGITransport``); TLS settings are then not applied.
        retries: how many times an idempotent GET is tried again after a transient failure.
        retry_base_delay: first backoff delay in seconds (doubles per retry, plus jitter).
        clock: monotonic clock for the ticket's age and the endpoints' backoff (tests move it forward).
        health_backoff: seconds an endpoint that failed to connect or answer is skipped while the
            cluster has others (doubles per consecutive failure, up to ``health_backoff_max``).
    """

    def __init__(
        self,
        cluster: ClusterConfig,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        retries: int = 2,
        retry_base_delay: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        health_backoff: float = 5.0,
        health_backoff_max: float = 300.0,
    ) -> None:
        self._cluster = cluster
        self._transport = transport
        self._retries = max(0, retries)
        self._retry_base_delay = max(0.0, retry_base_delay)
        self._clock = clock
        self._clients: dict[ApiEndpoint, httpx2.AsyncClient] = {}
        self._client_lock = anyio.Lock()
        self._login_lock = anyio.Lock()
        self._ticket: _Ticket | None = None
        self._secrets = cluster.secrets
        # Tickets, CSRF tokens, token secrets and passwords used lately, so that an echo of one
        # (even of one rotated away) is redacted too.
        self._session_secrets: deque[str] = deque(maxlen=8)
        # Endpoints that failed lately (absent: healthy). A failed endpoint is skipped for
        # health_backoff seconds, doubling per consecutive failure up to health_backoff_max.
        self._health: dict[ApiEndpoint, _Health] = {}
        self._health_backoff = max(0.0, health_backoff)
        self._health_backoff_max = max(self._health_backoff, health_backoff_max)
        # GETs in flight by URL, which an identical GET joins instead of sending its own (see
        # request_envelope), and a count bumped when a change starts and when it ends, so a GET
        # never joins one sent before or during a change this process made.
        self._flights: dict[tuple[str, str], _Flight] = {}
        self._changes = 0
        self.coalesced = 0  # GETs answered by joining one in flight

    def note_change(self) -> None:
        """A change starts or ends (over any plane; a task seen stopped ends one): GETs already in
        flight are not joined by GETs sent after this."""
        self._changes += 1

    def __repr__(self) -> str:
        ep = self._select_endpoint()
        c = self._cluster
        return f"RestClient(cluster={c.name!r}, endpoint='{ep.host}:{ep.port}', auth={c.auth_kind!r})"

    def _identity(self) -> Identity | None:
        """Who logs in, when known without I/O (configured, or read on an earlier request)."""
        return self._secrets.known_identity()

    def _remember(self, value: str) -> None:
        if value and value not in self._session_secrets:
            self._session_secrets.append(value)

    @property
    def cluster(self) -> ClusterConfig:
        return self._cluster

    @property
    def endpoint(self) -> ApiEndpoint:
        """The endpoint the next request goes to."""
        return self._select_endpoint()

    def _select_endpoint(self, tried: frozenset[ApiEndpoint] | set[ApiEndpoint] = frozenset()) -> ApiEndpoint:
        """The single place that picks an endpoint.

        The first endpoint, in configured order, that is healthy and not in ``tried``; when none
        is, the one (not tried, if any is left) whose backoff ends first, so that a cluster whose
        endpoints all failed lately is still tried rather than refused.
        """
        endpoints = self._cluster.endpoints
        if len(endpoints) == 1:
            return endpoints[0]
        now = self._clock()
        fresh = [ep for ep in endpoints if ep not in tried] or list(endpoints)
        for ep in fresh:
            h = self._health.get(ep)
            if h is None or h.down_until <= now:
                return ep
        return min(fresh, key=lambda ep: self._health[ep].down_until)

    def _mark_down(self, endpoint: ApiEndpoint, why: str) -> None:
        """Take ``endpoint`` out of rotation for a while (doubling per consecutive failure)."""
        if len(self._cluster.endpoints) == 1:
            return
        h = self._health.setdefault(endpoint, _Health())
        h.failures += 1
        h.last_error = why
        delay = min(self._health_backoff * 2 ** (h.failures - 1), self._health_backoff_max)
        h.down_until = self._clock() + delay
        log.warning(
            "cluster %r: endpoint %s:%d failed (%s); trying it again in %.0f s",
            self._cluster.name, endpoint.host, endpoint.port, why, delay,
        )

    def _mark_up(self, endpoint: ApiEndpoint) -> None:
        if endpoint in self._health:
            del self._health[endpoint]

    def endpoint_health(self) -> list[dict[str, Any]]:
        """Each endpoint's state: ``{"endpoint", "healthy", "failures", "retry_in", "last_error"}``."""
        now = self._clock()
        out = []
        for ep in self._cluster.endpoints:
            h = self._health.get(ep)
            down = h is not None and h.down_until > now
            out.append(
                {
                    "endpoint": f"{ep.host}:{ep.port}",
                    "healthy": not down,
                    "failures": h.failures if h else 0,
                    "retry_in": round(h.down_until - now, 1) if down and h else None,
                    "last_error": h.last_error if h else None,
                }
            )
        return out

    # ----------------------------------------------------------------- public API

    async def request(
        self, method: str, path: str, params: Mapping[str, Any] | None = None, *, url_path: str | None = None
    ) -> Any:
        """Call the API and return the envelope's ``data``.

        Args:
            method: GET, POST, PUT or DELETE.
            path: below ``/api2/json``, with raw (unencoded) values, e.g. ``/nodes/pve1/qemu``.
            params: query parameters (GET/DELETE) or form fields (POST/PUT).
            url_path: the same path already percent-encoded per value (the schema layer's
                ``ValidatedRequest.url_path``); needed when a value contains ``/`` (volume IDs, CIDRs).

        Raises:
            InvalidArgumentError: bad method, path or parameter value (nothing was sent).
            ProxmoxAPIError: PVE answered with an error (a subclass per status).
            ProxmoxConnectionError: no connection, or TLS verification failed.
            ProxmoxTimeoutError: no connection or no answer in time.
        """
        return (await self.request_envelope(method, path, params, url_path=url_path)).data

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """``request("GET", ...)``."""
        return await self.request("GET", path, params)

    async def request_envelope(
        self, method: str, path: str, params: Mapping[str, Any] | None = None, *, url_path: str | None = None
    ) -> ApiResponse:
        """Like :meth:`request` but returns the whole :class:`ApiResponse` (status, total ...).

        Raises:
            The same as :meth:`request`.
        """
        verb = method.upper() if isinstance(method, str) else ""
        if verb not in _METHODS:
            raise InvalidArgumentError(f"HTTP method {method!r} is not one of GET, POST, PUT, DELETE")
        if url_path is None:
            url_path = encode_path(path)
        else:
            # Already encoded: every value was quoted, so '/' only separates segments here.
            encode_path(url_path)
        pairs = encode_params(params)
        if verb != "GET":
            self.note_change()
            try:
                answer = await self._exchange(verb, path, url_path, pairs)
            finally:
                self.note_change()  # and GETs sent while it was in flight are not joined after it
            return self._parse(*answer, verb, path)
        # An identical GET already in flight (many agents watching the same cluster, task waits
        # polling the same UPID) is joined: its answer is parsed again for each caller, so no
        # caller shares objects with another. Only when no change was started or ended since it
        # was sent (read-your-writes; a task seen stopped counts as a change that ended). A GET
        # that got no answer after its retries fails for its joiners too (a copy of the error:
        # asking a node that does not answer once more per caller only adds load); one whose
        # leader was cancelled is sent again by each joiner.
        if url_path in _NEVER_JOINED:
            return self._parse(*await self._exchange(verb, path, url_path, pairs), verb, path)
        key = (url_path, _form(pairs))
        flight = self._flights.get(key)
        if flight is not None and flight.changes == self._changes:
            answer = await flight.answer()
            if flight.error is not None:
                raise copy.copy(flight.error)
            if answer is not None:
                self.coalesced += 1
                METRICS.proxmox_requests_joined.inc(cluster=self._cluster.name)
                return self._task_seen(url_path, self._parse(*answer, verb, path))
        flight = self._flights[key] = _Flight(self._changes)
        try:
            answer = await self._exchange(verb, path, url_path, pairs)
            flight.done(answer)
        except ProxmoxMCPError as exc:
            flight.error = exc
            raise
        finally:
            flight.done(None)  # no-op after done(answer); frees the joiners on failure or cancel
            if self._flights.get(key) is flight:
                del self._flights[key]
        return self._task_seen(url_path, self._parse(*answer, verb, path))

    def _task_seen(self, url_path: str, answer: ApiResponse) -> ApiResponse:
        """A task status that says stopped: the task's changes are done (see note_change)."""
        if "/tasks/" in url_path and url_path.endswith("/status"):
            data = answer.data
            if isinstance(data, Mapping) and data.get("status") == "stopped":
                self.note_change()
        return answer

    async def _exchange(
        self, verb: str, path: str, url_path: str, pairs: list[tuple[str, str]]
    ) -> tuple[httpx2.Response, ApiEndpoint]:
        """Send until there is an answer to parse: retries, failover, re-login, token re-read.

        Raises:
            TransportError: no answer (connection, TLS, timeout), after what may be retried.
        """
        attempt = 0
        stale: _Ticket | None = None
        reread = False
        tried: set[ApiEndpoint] = set()
        multi = len(self._cluster.endpoints) > 1
        while True:
            endpoint = self._select_endpoint(tried)
            started = time.perf_counter()
            generation = self._secrets.generation
            try:
                response, ticket = await self._send(endpoint, verb, url_path, pairs, stale)
            except httpx2.HTTPError as exc:
                METRICS.proxmox_requests.inc(cluster=self._cluster.name, method=verb, status=_error_kind(exc))
                if _endpoint_failure(exc):
                    self._mark_down(endpoint, _reason(exc))
                if multi and _may_move(exc, verb):
                    # Another endpoint serves the same cluster. A GET moves on any connection
                    # failure or timeout; a write only when it never left (no connection was
                    # made), so PVE cannot have received it.
                    tried.add(endpoint)
                    if len(tried) < len(self._cluster.endpoints):
                        log.info("%s %s: %s failed (%s); trying the next endpoint", verb, path,
                                 endpoint.host, _reason(exc))
                        continue
                if verb == "GET" and attempt < self._retries and _retryable(exc):
                    attempt += 1
                    tried.clear()
                    await self._backoff(attempt, verb, path, _reason(exc))
                    continue
                raise await self._transport_error(exc, endpoint, verb, path) from exc
            status = response.status_code
            elapsed = time.perf_counter() - started
            log.debug("%s %s -> %d in %.0f ms", verb, path, status, elapsed * 1000)
            METRICS.proxmox_requests.inc(cluster=self._cluster.name, method=verb, status=str(status))
            METRICS.proxmox_duration.observe(elapsed, cluster=self._cluster.name)
            self._mark_up(endpoint)  # it answered
            if status == 401 and ticket is not None and stale is None:
                # The ticket expired or was revoked: log in again once and repeat once. (A 401
                # means PVE did not run the request, so repeating a write is safe.)
                stale = ticket
                log.info("PVE refused the ticket for %s %s; logging in again", verb, path)
                continue
            if status == 401 and ticket is None and not reread and self._secrets.refreshable:
                # The token may have been rotated: read it again; if it changed, repeat once.
                reread = True
                try:
                    changed = await self._secrets.refresh(generation)
                except SecretError as exc:
                    raise self._reread_failed(response, verb, path, endpoint, exc) from None
                if changed:
                    log.info("PVE refused the token for %s %s; it changed in the backend, sending again", verb, path)
                    continue
            if verb == "GET" and multi and status in (595, 596):
                # pveproxy on this endpoint could not reach the node serving the request; another
                # endpoint may (the endpoint itself answered, so it stays in rotation).
                tried.add(endpoint)
                if len(tried) < len(self._cluster.endpoints):
                    log.info("%s %s: %s answered %d; trying the next endpoint", verb, path, endpoint.host, status)
                    continue
            if verb == "GET" and status in RETRY_STATUSES and attempt < self._retries:
                attempt += 1
                tried.clear()
                await self._backoff(attempt, verb, path, f"HTTP {status}")
                continue
            return response, endpoint

    async def aclose(self) -> None:
        """Close every pooled connection. A later request opens new ones."""
        clients = list(self._clients.values())
        self._clients.clear()
        for client in clients:
            await client.aclose()

    async def __aenter__(self) -> RestClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ----------------------------------------------------------------- sending

    def _url(self, endpoint: ApiEndpoint, url_path: str) -> str:
        return f"https://{endpoint.host}:{endpoint.port}{API_ROOT}{url_path}"

    async def _http(self, endpoint: ApiEndpoint) -> httpx2.AsyncClient:
        client = self._clients.get(endpoint)
        if client is None:
            async with self._client_lock:
                client = self._clients.get(endpoint)
                if client is None:
                    client = await self._new_client(endpoint)
                    self._clients[endpoint] = client
        return client

    async def _new_client(self, endpoint: ApiEndpoint) -> httpx2.AsyncClient:
        c = self._cluster
        timeout = httpx2.Timeout(
            connect=c.connect_timeout, read=c.read_timeout, write=c.read_timeout, pool=c.read_timeout
        )
        limits = httpx2.Limits(max_connections=16, max_keepalive_connections=16, keepalive_expiry=_KEEPALIVE_EXPIRY)
        headers = {"Accept": "application/json", "User-Agent": _USER_AGENT}
        if self._transport is not None:
            return httpx2.AsyncClient(
                transport=self._transport,
                timeout=timeout,
                limits=limits,
                headers=headers,
                cookies=_no_cookie_jar(),
                trust_env=False,
            )
        ctx = await _tls.build_ssl_context(c, endpoint)
        # trust_env=False: no proxy variables, .netrc credentials or SSL_CERT_FILE from the
        # environment; what reaches PVE is exactly what the configuration says.
        transport = httpx2.AsyncHTTPTransport(verify=ctx, limits=limits, trust_env=False)
        if _on_asyncio():
            from .aionet import install

            install(transport)  # asyncio's own TCP/TLS transports: less CPU per request
        return httpx2.AsyncClient(
            transport=transport,
            timeout=timeout,
            headers=headers,
            cookies=_no_cookie_jar(),
            trust_env=False,
        )

    async def _drop_client(self, endpoint: ApiEndpoint) -> None:
        client = self._clients.pop(endpoint, None)
        if client is not None:
            await client.aclose()

    async def _send(
        self,
        endpoint: ApiEndpoint,
        verb: str,
        url_path: str,
        pairs: list[tuple[str, str]],
        stale: _Ticket | None,
    ) -> tuple[httpx2.Response, _Ticket | None]:
        identity = await self._secrets.identity()
        client = await self._http(endpoint)
        headers: dict[str, str] = {}
        ticket: _Ticket | None = None
        if identity.kind == "token":
            headers["Authorization"] = await self._token_header(identity)
        else:
            ticket = await self._ensure_ticket(endpoint, stale)
            headers["Cookie"] = f"PVEAuthCookie={ticket.ticket}"
            if verb != "GET":
                headers["CSRFPreventionToken"] = ticket.csrf
        url = self._url(endpoint, url_path)
        if verb in ("GET", "DELETE"):
            if pairs:
                url = f"{url}?{_form(pairs)}"
            request = client.build_request(verb, url, headers=headers)
        else:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            request = client.build_request(verb, url, headers=headers, content=_form(pairs).encode("utf-8"))
        return await _send_direct(client, request), ticket

    async def _backoff(self, attempt: int, verb: str, path: str, why: str) -> None:
        delay = self._retry_base_delay * 2 ** (attempt - 1)
        delay += random.uniform(0, delay)
        log.info("%s %s failed (%s); retry %d of %d in %.2f s", verb, path, why, attempt, self._retries, delay)
        await anyio.sleep(delay)

    # ----------------------------------------------------------------- authentication

    async def _token_header(self, identity: Identity) -> str:
        secret = (await self._secrets.secret()).get_secret_value()
        self._remember(secret)
        return f"PVEAPIToken={identity.full_id}={secret}"

    def _reread_failed(
        self, response: httpx2.Response, verb: str, path: str, endpoint: ApiEndpoint, exc: SecretError
    ) -> ProxmoxAPIError:
        """The 401 error, saying that reading the credentials again failed too."""
        try:
            body = response.json()
        except ValueError:
            body = None
        err = self._status_error(response, body, verb, path, endpoint)
        err.hint = f"{err.hint or ''} Reading the credentials again failed as well: {exc.message}".strip()
        return err

    async def _ensure_ticket(self, endpoint: ApiEndpoint, stale: _Ticket | None) -> _Ticket:
        """The current ticket, logging in or renewing first when needed (one login at a time)."""
        t = self._ticket
        if t is not None and t is not stale and self._clock() - t.obtained < TICKET_RENEW_AFTER:
            return t
        async with self._login_lock:
            t = self._ticket
            if t is not None and t is not stale:
                age = self._clock() - t.obtained
                if age < TICKET_RENEW_AFTER:
                    return t  # another request logged in while this one waited
                if age < TICKET_LIFETIME - _TICKET_EXPIRY_MARGIN:
                    try:
                        self._ticket = await self._login(endpoint, t.ticket)
                        return self._ticket
                    except ProxmoxAuthError:
                        log.info("PVE did not renew the ticket of cluster %r; logging in again", self._cluster.name)
            self._ticket = None
            generation = self._secrets.generation
            try:
                self._ticket = await self._login(endpoint, await self._password())
            except ProxmoxAuthError as exc:
                # The password may have been rotated: read it again; if it changed, log in once more.
                if not self._secrets.refreshable:
                    raise
                try:
                    changed = await self._secrets.refresh(generation)
                except SecretError as again:
                    exc.hint = f"{exc.hint or ''} Reading the credentials again failed as well: {again.message}".strip()
                    raise exc from None
                if not changed:
                    raise
                log.info(
                    "PVE refused the password of cluster %r; it changed in the backend, logging in again",
                    self._cluster.name,
                )
                self._ticket = await self._login(endpoint, await self._password())
            return self._ticket

    async def _password(self) -> str:
        password = (await self._secrets.secret()).get_secret_value()
        self._remember(password)
        return password

    async def _login(self, endpoint: ApiEndpoint, password: str) -> _Ticket:
        """POST /access/ticket (``password`` may be the current ticket, to renew it)."""
        username = (await self._secrets.identity()).userid
        client = await self._http(endpoint)
        body = _form([("username", username), ("password", password)])
        response = await client.post(
            self._url(endpoint, "/access/ticket"),
            content=body.encode("utf-8"),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        answer = self._parse(response, endpoint, "POST", "/access/ticket").data
        data: Mapping[str, Any] = answer if isinstance(answer, Mapping) else {}
        if to_int(data.get("NeedTFA")):
            raise ProxmoxAuthError(
                401,
                f"user {username} has two-factor authentication; a password login cannot finish it",
                method="POST",
                path="/access/ticket",
                hint="Use an API token for this server (pveum user token add ...); tokens skip TFA.",
            )
        ticket, csrf = data.get("ticket"), data.get("CSRFPreventionToken")
        if not (isinstance(ticket, str) and ticket and isinstance(csrf, str) and csrf):
            raise ProxmoxAuthError(
                401,
                "the login answer carried no ticket or CSRF token",
                method="POST",
                path="/access/ticket",
                hint="Check that the endpoint is a PVE API (port 8006), not a proxy or another service.",
            )
        self._remember(ticket)
        self._remember(csrf)
        log.debug("logged in to cluster %r as %s", self._cluster.name, username)
        return _Ticket(ticket=ticket, csrf=csrf, obtained=self._clock())

    # ----------------------------------------------------------------- answers and errors

    def _redact(self, text: str) -> str:
        c = self._cluster
        secrets = list(self._session_secrets)
        if c.token_secret is not None:
            secrets.append(c.token_secret.get_secret_value())
        if c.password is not None:
            secrets.append(c.password.get_secret_value())
        for s in sorted(secrets, key=len, reverse=True):
            if len(s) >= 4:
                text = text.replace(s, _REDACTED)
        return text

    def _parse(self, response: httpx2.Response, endpoint: ApiEndpoint, verb: str, path: str) -> ApiResponse:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        if 200 <= status < 300:
            if not isinstance(body, Mapping):
                ctype = response.headers.get("content-type", "no content type")
                raise ProxmoxServerError(
                    status,
                    f"the answer is not a PVE JSON envelope ({ctype})",
                    method=verb,
                    path=path,
                    hint="Check that the endpoint is the PVE API on port 8006 and not a proxy or another service.",
                )
            content_type = response.headers.get("content-type")
            return ApiResponse(
                status=status,
                data=body.get("data"),
                total=to_int(body.get("total")),
                changes=body.get("changes"),
                headers={"content-type": content_type} if content_type else {},
            )
        raise self._status_error(response, body, verb, path, endpoint)

    def _status_error(
        self, response: httpx2.Response, body: Any, verb: str, path: str, endpoint: ApiEndpoint
    ) -> ProxmoxAPIError:
        status = response.status_code
        message = ""
        errors: dict[str, str] = {}
        if isinstance(body, Mapping):
            if isinstance(body.get("message"), str):
                message = body["message"].strip()
            if isinstance(body.get("errors"), Mapping):
                errors = {str(k): self._redact(str(v).strip()) for k, v in body["errors"].items()}
        if not message:
            # Older pve-http-server versions put the message only in the status line.
            message = (response.reason_phrase or "").strip() or httpx2.codes.get_reason_phrase(status) or "error"
        message = self._redact(message)
        kw: dict[str, Any] = {"method": verb, "path": path, "errors": errors}
        if status == 400:
            return ProxmoxBadRequest(
                status,
                message,
                hint="Fix the listed parameters; proxmox_api_describe shows what this endpoint accepts.",
                **kw,
            )
        if status == 401:
            return ProxmoxAuthError(status, message, hint=self._auth_hint(), **kw)
        if status == 403:
            acl_path, privileges = parse_permission_message(message)
            return ProxmoxPermissionError(
                status,
                message,
                acl_path=acl_path,
                privileges=privileges,
                hint=self._permission_hint(acl_path, privileges),
                **kw,
            )
        if status == 501:
            return ProxmoxNotImplemented(
                status,
                message,
                hint="This PVE version has no such method on this path; check the path and the PVE version "
                "(proxmox_api_describe lists the endpoints).",
                **kw,
            )
        if 590 <= status <= 599:
            return ProxmoxNodeUnreachable(
                status,
                message,
                hint=f"pveproxy on {endpoint.host} could not reach the node that serves this request; check that "
                "the node is online and the cluster is quorate (`pvecm status`).",
                **kw,
            )
        if status == 500:
            hint = None
            if "lock" in message and "timeout" in message:
                hint = (
                    "Another task holds the guest's lock; wait for it to finish (see the node's task list) "
                    "and try again."
                )
            return ProxmoxServerError(status, message, hint=hint, **kw)
        if status in (502, 503, 504):
            return ProxmoxServerError(
                status,
                message,
                hint=f"PVE on {endpoint.host} (or a proxy in front of it) is overloaded or restarting; "
                "try again shortly.",
                **kw,
            )
        if status >= 500:
            return ProxmoxServerError(status, message, **kw)
        return ProxmoxAPIError(status, message, **kw)

    def _who(self) -> Identity:
        ident = self._identity()
        if ident is not None:
            return ident
        c = self._cluster
        if c.auth_kind == "token":
            return Identity("token", c.token_userid or "?", c.token_id or "?")
        return Identity("ticket", c.username or "?")

    def _secret_source(self, kind: str, variable: str) -> str:
        """How a hint names the secret: the variable, or the reference it was read from."""
        source = self._secrets.source(kind)  # type: ignore[arg-type]
        if source == "inline":
            return variable
        return f"the secret at {source} (read again after this 401)"

    def _auth_hint(self) -> str:
        ident = self._who()
        if ident.kind == "token":
            return (
                f"Check the API token {ident.full_id}: it must exist on this cluster "
                f"(`pveum user token list {ident.userid}`), "
                f"{self._secret_source('token', 'PROXMOX_API_TOKEN_SECRET')} must be the secret shown "
                "when it was created, and the realm must be right (PROXMOX_API_TOKEN_REALM, e.g. pam or pve). "
                "Privilege separation does not cause 401s; it causes 403s."
            )
        return (
            f"Check PROXMOX_USERNAME ({ident.userid}: user@realm, e.g. root@pam) and "
            f"{self._secret_source('ticket', 'PROXMOX_PASSWORD')}. A user "
            "with two-factor authentication needs an API token instead."
        )

    def _permission_hint(self, acl_path: str | None, privileges: list[str]) -> str:
        ident = self._who()
        if ident.kind == "token":
            who, flag, listing = (
                f"token {ident.full_id}",
                f"--tokens '{ident.full_id}'",
                f"`pveum user token permissions {ident.userid} {ident.token_id}`",
            )
        else:
            who, flag, listing = (
                f"user {ident.userid}",
                f"--users '{ident.userid}'",
                f"`pveum user permissions {ident.userid}`",
            )
        if acl_path is None:
            return f"PVE refused this for the {who}; see what it may do with {listing}."
        wanted = " or ".join(privileges) if privileges else "the needed privilege"
        role = _suggest_role(privileges)
        if role is not None:
            grant = f"grant it with `pveum acl modify {acl_path} --roles {role} {flag}`"
        else:
            grant = (
                "grant a role that includes it (`pveum role list`) with "
                f"`pveum acl modify {acl_path} --roles <ROLE> {flag}`"
            )
        hint = f"The {who} lacks {wanted} on {acl_path}: {grant}."
        if ident.kind == "token":
            hint += (
                f" With privilege separation (the default) a token gets only what both it and {ident.userid} "
                "have, so the user needs the privilege too."
            )
        return hint

    async def _offered_fingerprint(self, endpoint: ApiEndpoint) -> str | None:
        """Best effort: the fingerprint the endpoint presents, for the hint of a TLS failure."""
        if self._transport is not None:
            return None
        try:
            der = await _tls.fetch_leaf_certificate(
                endpoint.host.strip("[]"), endpoint.port, timeout=self._cluster.connect_timeout
            )
        except httpx2.HTTPError:
            return None
        return _tls.format_fingerprint(_tls.fingerprint_of(der))

    async def _transport_error(
        self, exc: httpx2.HTTPError, endpoint: ApiEndpoint, verb: str, path: str
    ) -> TransportError:
        c = self._cluster
        where = f"{endpoint.host}:{endpoint.port}"
        connect_hint = (
            f"Check that {endpoint.host} is the right address, that pveproxy runs there and listens on port "
            f"{endpoint.port} (the PVE API port is 8006), and that no firewall blocks it."
        )
        maybe_done = (
            "The request may still have been carried out: check the state (or the node's task list) before "
            "trying again. "
            if verb != "GET"
            else ""
        )
        if isinstance(exc, httpx2.ConnectTimeout):
            return ProxmoxTimeoutError(
                f"No connection to {where} within {c.connect_timeout:g} s ({verb} {path}).",
                hint=connect_hint + " For a slow link raise PROXMOX_MCP_CONNECT_TIMEOUT.",
            )
        if isinstance(exc, httpx2.PoolTimeout):
            return ProxmoxTimeoutError(
                f"No free connection to {where} within {c.read_timeout:g} s ({verb} {path}): "
                "too many requests at once.",
                hint="Try again; fewer calls in parallel help.",
            )
        if isinstance(exc, httpx2.TimeoutException):
            return ProxmoxTimeoutError(
                f"PVE at {where} did not answer {verb} {path} within {c.read_timeout:g} s.",
                hint=maybe_done + "The node may be busy; raise PROXMOX_MCP_READ_TIMEOUT if such waits are expected.",
            )
        tls_err = _tls.certificate_error(exc)
        if tls_err is not None:
            return await self._tls_error(tls_err, endpoint, verb, path)
        if isinstance(exc, httpx2.ConnectError):
            return ProxmoxConnectionError(
                f"Cannot connect to https://{where} ({verb} {path}): {self._redact(_reason(exc))}.",
                hint=connect_hint,
            )
        return ProxmoxConnectionError(
            f"The connection to {where} failed during {verb} {path}: {self._redact(_reason(exc))}.",
            hint=maybe_done + connect_hint,
        )

    async def _tls_error(self, err: Exception, endpoint: ApiEndpoint, verb: str, path: str) -> ProxmoxConnectionError:
        where = f"{endpoint.host}:{endpoint.port}"
        reason = str(getattr(err, "verify_message", None) or getattr(err, "reason", None) or _reason(err)).rstrip(".")
        offered = await self._offered_fingerprint(endpoint)
        if self._cluster.tls_fingerprint:
            # The certificate changed after it was pinned. Forget this client: the next request
            # pins again and reports the fingerprint it finds.
            await self._drop_client(endpoint)
            text = f"The TLS certificate of {where} is no longer the pinned one ({reason})"
            if offered:
                text += f"; it now offers SHA-256 {offered}"
            return ProxmoxConnectionError(
                text + ". Nothing was sent.",
                hint="If the node's certificate was replaced on purpose, check the new fingerprint on the node and "
                "update PROXMOX_TLS_FINGERPRINT.",
            )
        if getattr(err, "verify_code", None) in _NAME_MISMATCH:
            hint = (
                f"The certificate does not name {endpoint.host}: connect with a name or address it lists (PVE node "
                "certificates name the node and its addresses), or pin it with PROXMOX_TLS_FINGERPRINT."
            )
        else:
            hint = _tls.TLS_HINT
        if offered:
            hint += (
                f" The server offered a certificate with SHA-256 {offered}; compare it with the node's "
                "before pinning it."
            )
        return ProxmoxConnectionError(f"TLS verification of {where} failed ({verb} {path}): {reason}.", hint=hint)
