"""Remote mode: MCP over streamable HTTP (and legacy SSE), with the edge protections around it.

The MCP endpoints are the SDK's own apps (``streamable_http_app()``, ``sse_app()``) with its
resource-server auth. Around them, in this order:

1. ``/healthz`` and ``/readyz`` (no auth; liveness says nothing, readiness names failing checks);
2. DNS-rebinding protection (Host → 421, Origin → 403), before auth and before any body is read;
3. ``/metrics`` (here it needs the metrics or admin scope; or it lives on its own port);
4. the request body limit (413);
5. the SDK's bearer auth (401 / 403 ``insufficient_scope`` with ``WWW-Authenticate``);
6. per-principal rate limiting (429) and the step-up scope check of ``tools/call`` (403 naming
   the scope the tool needs, as the MCP authorization spec describes);
7. the SDK transport, sessions (maximum count, idle timeout) and our tools.

Typical use (``proxmox-mcp serve --transport http``)::

    service = HttpService.bind(http)                       # binds; knows its URL; builds the verifier
    server = build_server(settings, **service.server_kwargs())
    await service.serve(server)                            # until SIGINT/SIGTERM or service.stop()
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio
import uvicorn
from anyio.abc import TaskStatus
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.routes import build_resource_metadata_url, create_protected_resource_routes
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import (
    RequestBodyLimitMiddleware,
    TransportSecurityMiddleware,
    TransportSecuritySettings,
)
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import ConfigError
from .auth import Principal, ScopeNames, ServerAuth, principal_from_token, required_scope, server_auth
from .http_settings import HttpSettings, is_loopback_host
from .metrics import CONTENT_TYPE, METRICS, ServerMetrics

if TYPE_CHECKING:
    import httpx2

    from ..config import Settings
    from .app import ProxmoxMCP

__all__ = [
    "INSUFFICIENT_SCOPE",
    "RATE_LIMITED",
    "HttpService",
    "RateLimiter",
    "ReadinessCheck",
    "bind_socket",
    "build_http_server",
    "run_both",
    "serve_http",
]

log = logging.getLogger("proxmox_operator_mcp.http")

# JSON-RPC error codes of the errors the edge answers itself (server-defined range).
INSUFFICIENT_SCOPE = -32003
RATE_LIMITED = -32029

SSE_PATH = "/sse"
MESSAGE_PATH = "/messages/"

# A readiness check returns None when ready, else a short reason (logged, never served).
ReadinessCheck = Callable[[], Awaitable[str | None]]


# --- small pieces ------------------------------------------------------------------------------


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``0``: any free port; read it back from the socket).

    Raises:
        ConfigError: the address cannot be bound (in use, not ours, not resolvable).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if host == "::" else 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            [f"cannot listen on {host}:{port}: {exc.strerror or exc}"],
            hint="Pick a free port with PROXMOX_MCP_HTTP_PORT (or PROXMOX_MCP_METRICS_PORT), or another address.",
        ) from None
    sock.set_inheritable(True)
    return sock


class RateLimiter:
    """Token buckets per key: ``per_minute`` steady, ``burst`` at once. Idle buckets are
    forgotten (bounded memory whatever the number of clients)."""

    def __init__(
        self, per_minute: int, burst: int, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 50_000
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key: str) -> float | None:
        """Spend one request of ``key``: ``None`` when allowed, else seconds until it would be."""
        if not self.enabled:
            return None
        now = self._clock()
        tokens, last = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return None if allowed else (1.0 - tokens) / self.rate


def _principal_key(principal: Principal) -> str:
    return f"{principal.auth}:{principal.issuer or ''}:{principal.sub}"


def _client_key(scope: Scope) -> str:
    client = scope.get("client")
    return f"addr:{client[0] if client else '?'}"


def _www_authenticate(error: str, description: str, scope: str | None, metadata_url: str | None) -> str:
    parts = [f'error="{error}"']
    if scope:
        parts.append(f'scope="{scope}"')
    if metadata_url:
        parts.append(f'resource_metadata="{metadata_url}"')
    parts.append(f'error_description="{description}"')
    return "Bearer " + ", ".join(parts)


def _jsonrpc_error(status: int, request_id: Any, code: int, message: str, headers: Mapping[str, str]) -> Response:
    body = {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=dict(headers))


async def _read_body(receive: Receive) -> tuple[bytes, list[Message]]:
    """The whole request body (bounded by the body limit outside), and the messages to replay."""
    chunks: list[bytes] = []
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks), messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


def _tool_calls(body: bytes) -> list[tuple[Any, str]]:
    """(request id, tool name) of every ``tools/call`` in a JSON-RPC body; junk yields nothing
    (the transport answers it properly)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return []
    items = doc if isinstance(doc, list) else [doc]
    out = []
    for item in items:
        if isinstance(item, dict) and item.get("method") == "tools/call":
            params = item.get("params")
            name = params.get("name") if isinstance(params, dict) else None
            if isinstance(name, str):
                out.append((item.get("id"), name))
    return out


def _first_request_id(body: bytes) -> Any:
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    return doc.get("id") if isinstance(doc, dict) else None


# --- the gate inside auth: rate limit and step-up scopes ---------------------------------------


class _Gate:
    """Runs after the SDK's authentication middleware, so it knows the principal."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: RateLimiter,
        tool_scope: Callable[[str], str | None] | None,
        names: ScopeNames,
        metadata_url: str | None,
        metrics: ServerMetrics,
        message_paths: tuple[str, ...],
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.tool_scope = tool_scope
        self.names = names
        self.metadata_url = metadata_url
        self.metrics = metrics
        self.message_paths = message_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        user = scope.get("user")
        principal = principal_from_token(user.access_token) if isinstance(user, AuthenticatedUser) else None
        key = _principal_key(principal) if principal is not None else _client_key(scope)
        is_message = scope["method"] == "POST" and (
            scope["path"] in self.message_paths or scope["path"].startswith(MESSAGE_PATH)
        )
        body = b""
        if is_message:
            body, messages = await _read_body(receive)
            receive = _replay(messages, receive)

        retry_after = self.limiter.take(key)
        if retry_after is not None:
            self.metrics.rate_limited.inc()
            wait = max(1, int(retry_after + 0.999))
            response = _jsonrpc_error(
                429,
                _first_request_id(body),
                RATE_LIMITED,
                f"Too many requests: the rate limit allows {round(self.limiter.rate * 60)} per minute; "
                f"retry in {wait} s.",
                {"Retry-After": str(wait)},
            )
            await response(scope, receive, send)
            return

        if principal is not None and self.tool_scope is not None and body:
            for request_id, tool in _tool_calls(body):
                need = self.tool_scope(tool)
                if need is None or principal.has_scope(need):
                    continue
                granted = [s for s in self.names.ladder() if s in principal.scopes]
                wanted = " ".join(dict.fromkeys([*granted, need]))
                description = f"{tool} needs scope {need}"
                self.metrics.auth_failures.inc(reason="insufficient_scope")
                log.info("refused %s for %s: %s", tool, principal.sub, description)
                response = _jsonrpc_error(
                    403,
                    request_id,
                    INSUFFICIENT_SCOPE,
                    f"Forbidden: {description}; the token has {' '.join(granted) or 'no Proxmox scope'}. "
                    f"Get a token with scope {need}. Nothing was sent to Proxmox.",
                    {
                        "WWW-Authenticate": _www_authenticate(
                            "insufficient_scope", description, wanted, self.metadata_url
                        )
                    },
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


# --- the edge ----------------------------------------------------------------------------------


def _endpoint(path: str, mcp_path: str, metadata_path: str | None) -> str:
    if path == mcp_path:
        return "mcp"
    if path == SSE_PATH:
        return "sse"
    if path.startswith(MESSAGE_PATH):
        return "messages"
    if path in ("/healthz", "/readyz", "/metrics"):
        return path[1:]
    if metadata_path is not None and path == metadata_path:
        return "metadata"
    return "other"


@dataclass
class _Status:
    code: int = 0


class _Edge:
    """The outermost ASGI app (see the module docstring for the order of the checks)."""

    def __init__(
        self,
        *,
        mcp_app: ASGIApp,
        sse_app: ASGIApp | None,
        metadata_app: ASGIApp | None,
        metadata_path: str | None,
        http: HttpSettings,
        security: TransportSecurityMiddleware,
        metrics: ServerMetrics,
        ops: _Ops,
        serve_metrics: bool,
    ) -> None:
        self.mcp_app = mcp_app
        self.sse_app = sse_app
        self.metadata_app = metadata_app
        self.metadata_path = metadata_path
        self.mcp_path = http.http_path
        self.security = security
        self.metrics = metrics
        self.ops = ops
        self.serve_metrics = serve_metrics
        self.max_body = http.http_max_body_bytes
        self.started = anyio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.mcp_app(scope, receive, self._watch_lifespan(send))
            return
        if scope["type"] != "http":
            return  # uvicorn runs with ws="none": nothing else arrives
        path = scope["path"]
        endpoint = _endpoint(path, self.mcp_path, self.metadata_path)
        status = _Status()

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.code = message["status"]
            await send(message)

        start = time.perf_counter()
        try:
            await self._dispatch(scope, receive, send_status, endpoint)
        finally:
            self.metrics.http_requests.inc(endpoint=endpoint, status=str(status.code or 499))
            if endpoint != "sse":  # a stream's duration is its lifetime, not a latency
                self.metrics.http_duration.observe(time.perf_counter() - start, endpoint=endpoint)
            if status.code == 401 and endpoint in ("mcp", "sse", "messages"):
                header = next((v for k, v in scope["headers"] if k == b"authorization"), None)
                if header is None:
                    self.metrics.auth_failures.inc(reason="missing_token")
                elif not header.lower().startswith(b"bearer "):
                    self.metrics.auth_failures.inc(reason="not_bearer")

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send, endpoint: str) -> None:
        if endpoint == "healthz":
            await PlainTextResponse("ok\n")(scope, receive, send)
            return
        if endpoint == "readyz":
            await (await self.ops.readiness())(scope, receive, send)
            return
        if endpoint == "metadata" and self.metadata_app is not None:
            await self.metadata_app(scope, receive, send)  # public document, fetched cross-origin
            return
        # DNS-rebinding protection: before auth and before reading the body.
        rejected = await self.security.validate_request(Request(scope), is_post=False)
        if rejected is not None:
            await rejected(scope, receive, send)
            return
        if endpoint == "metrics" and self.serve_metrics:
            await (await self.ops.metrics(Request(scope)))(scope, receive, send)
            return
        app = self.mcp_app
        if endpoint in ("sse", "messages") and self.sse_app is not None:
            app = self.sse_app
        await RequestBodyLimitMiddleware(app, self.max_body)(scope, receive, send)

    def _watch_lifespan(self, send: Send) -> Send:
        async def watch(message: Message) -> None:
            await send(message)
            if message["type"] == "lifespan.startup.complete":
                self.started.set()

        return watch


class _Ops:
    """``/readyz`` and ``/metrics`` answers."""

    def __init__(
        self,
        *,
        metrics: ServerMetrics,
        checks: Mapping[str, ReadinessCheck],
        auth: ServerAuth,
        names: ScopeNames,
        metrics_scope: str,
    ) -> None:
        self.registry = metrics
        self.checks = dict(checks)
        self.auth = auth
        self.names = names
        self.metrics_scope = metrics_scope

    async def readiness(self) -> Response:
        failing = []
        for name, check in self.checks.items():
            try:
                with anyio.fail_after(10):
                    problem = await check()
            except Exception as exc:  # a readiness probe must answer, whatever a check does
                problem = f"{type(exc).__name__}: {exc}"
            if problem is not None:
                log.warning("not ready: %s: %s", name, problem)
                failing.append(name)
        if failing:
            return JSONResponse({"status": "not ready", "failing": failing}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def metrics(self, request: Request) -> Response:
        verifier = self.auth.token_verifier
        if verifier is not None:
            header = request.headers.get("authorization", "")
            token = header[7:] if header.lower().startswith("bearer ") else ""
            verified = await verifier.verify_token(token) if token else None
            if verified is None:
                return JSONResponse(
                    {"error": "invalid_token", "error_description": "Authentication required"},
                    status_code=401,
                    headers={
                        "WWW-Authenticate": _www_authenticate("invalid_token", "Authentication required", None, None)
                    },
                )
            if not ({self.metrics_scope, self.names.admin} & set(verified.scopes)):
                need = self.metrics_scope
                return JSONResponse(
                    {"error": "insufficient_scope", "error_description": f"Required scope: {need}"},
                    status_code=403,
                    headers={
                        "WWW-Authenticate": _www_authenticate(
                            "insufficient_scope", f"Required scope: {need}", need, None
                        )
                    },
                )
        return Response(self.registry.render(), media_type=CONTENT_TYPE)

    def metrics_app(self) -> ASGIApp:
        """The app of the separate metrics port: ``/metrics`` only, no auth (network-protected)."""
        registry = self.registry

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "lifespan":
                while (await receive())["type"] != "lifespan.shutdown":
                    await send({"type": "lifespan.startup.complete"})
                await send({"type": "lifespan.shutdown.complete"})
                return
            if scope["type"] != "http":
                return
            if scope["path"] == "/metrics":
                response: Response = Response(registry.render(), media_type=CONTENT_TYPE)
            else:
                response = PlainTextResponse("not found\n", status_code=404)
            await response(scope, receive, send)

        return app


# --- the service -------------------------------------------------------------------------------


async def _first_of(*events: anyio.Event) -> None:
    async with anyio.create_task_group() as tg:

        async def wait(event: anyio.Event) -> None:
            await event.wait()
            tg.cancel_scope.cancel()

        for event in events:
            tg.start_soon(wait, event)


class _UnsignaledServer(uvicorn.Server):
    """A uvicorn server that leaves signal handlers alone (the metrics listener, and any server
    not on the main thread's signal duty)."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _uvicorn_config(app: ASGIApp, http: HttpSettings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_config=None,  # logging is the CLI's business, never configured here
        log_level=None,
        access_log=False,
        server_header=False,
        proxy_headers=bool(http.trusted_proxies),
        forwarded_allow_ips=list(http.trusted_proxies),
        lifespan="on",
        ws="none",
        timeout_graceful_shutdown=5,
        timeout_keep_alive=30,
    )


class HttpService:
    """The HTTP side of the server: bound sockets, the verifier, the ASGI app, uvicorn.

    Build it with :meth:`bind` *before* the MCP server: the server takes its auth from
    :meth:`server_kwargs`, and with port ``0`` the resource URL (and so the default token
    audience) is only known once bound.
    """

    def __init__(
        self,
        http: HttpSettings,
        sock: socket.socket,
        metrics_sock: socket.socket | None,
        *,
        metrics: ServerMetrics,
        readiness: Mapping[str, ReadinessCheck],
    ) -> None:
        self.http = http
        self._sock = sock
        self._metrics_sock = metrics_sock
        self.metrics = metrics
        self.auth = server_auth(http, metrics=metrics)
        checks: dict[str, ReadinessCheck] = {}
        verifier = self.auth.token_verifier
        if verifier is not None and hasattr(verifier, "ready"):
            checks["auth"] = verifier.ready
        checks.update(readiness)
        self._readiness = checks
        self._servers: list[uvicorn.Server] = []
        self._stop_requested = False

    @classmethod
    def bind(
        cls,
        http: HttpSettings,
        *,
        metrics: ServerMetrics | None = None,
        readiness: Mapping[str, ReadinessCheck] | None = None,
    ) -> HttpService:
        """Bind the listener(s) of ``http`` (port 0 picks a free one).

        Raises:
            ConfigError: an address cannot be bound.
        """
        sock = bind_socket(http.http_host, http.http_port)
        metrics_sock = None
        try:
            http = http.with_port(sock.getsockname()[1])
            if http.metrics_port is not None:
                metrics_sock = bind_socket(http.metrics_host or http.http_host, http.metrics_port)
                http = http.model_copy(update={"metrics_port": metrics_sock.getsockname()[1]})
            return cls(http, sock, metrics_sock, metrics=metrics or METRICS, readiness=readiness or {})
        except BaseException:
            sock.close()
            if metrics_sock is not None:
                metrics_sock.close()
            raise

    # --- what callers need --------------------------------------------------------------------

    @property
    def url(self) -> str:
        """URL of the MCP endpoint as bound here (loopback form for wildcard binds)."""
        host = self.http.http_host
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.http.http_port}{self.http.http_path}"

    @property
    def base_url(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def metrics_url(self) -> str:
        if self.http.metrics_port is None:
            return self.base_url + "/metrics"
        host = self.http.metrics_host or self.http.http_host
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.http.metrics_port}/metrics"

    def server_kwargs(self) -> dict[str, Any]:
        """``auth=`` and ``token_verifier=`` for the MCP server (empty without auth)."""
        return self.auth.kwargs()

    @property
    def scope_names(self) -> ScopeNames:
        """The configured scope names (``PROXMOX_MCP_SCOPE_*``), for the server's own scope check."""
        return ScopeNames.from_settings(self.http)

    # --- the app ------------------------------------------------------------------------------

    def build_app(self, server: MCPServer[Any]) -> _Edge:
        """The ASGI app serving ``server``.

        Raises:
            ConfigError: ``server`` was not built with :meth:`server_kwargs`.
        """
        http = self.http
        if server.settings.auth is not self.auth.auth:
            raise ConfigError(
                [f"the MCP server was built without the auth of PROXMOX_MCP_AUTH_MODE={http.auth_mode}"],
                hint="Build it with build_server(settings, **service.server_kwargs()).",
            )
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=http.effective_allowed_hosts,
            allowed_origins=http.effective_allowed_origins,
        )
        names = ScopeNames.from_settings(http)
        mcp_app = server.streamable_http_app(
            streamable_http_path=http.http_path,
            stateless_http=http.http_stateless,
            max_request_body_size=http.http_max_body_bytes,
            session_idle_timeout=None if http.http_stateless else http.http_session_idle_timeout,
            max_sessions=None if http.http_stateless else http.http_max_sessions,
            transport_security=security,
            host=http.http_host,
        )
        sse_app = None
        if http.sse_enabled:
            sse_app = server.sse_app(
                sse_path=SSE_PATH,
                message_path=MESSAGE_PATH,
                max_request_body_size=http.http_max_body_bytes,
                transport_security=security,
                host=http.http_host,
            )
        metadata_url = None
        metadata_app = None
        metadata_path = None
        if http.auth_mode == "oidc":
            assert http.oidc_issuer is not None
            metadata_url = str(build_resource_metadata_url(http.resource_url))  # type: ignore[arg-type]
            metadata_path = urlsplit(metadata_url).path
            # Ours rather than the SDK's: scopes_supported lists all three scopes, not only the
            # one every request needs.
            metadata_app = Router(
                routes=create_protected_resource_routes(
                    resource_url=http.resource_url,  # type: ignore[arg-type]
                    authorization_servers=[http.oidc_issuer],  # type: ignore[list-item]
                    scopes_supported=list(names.ladder()),
                    resource_name="Proxmox VE operator (proxmox-operator-mcp)",
                )
            )

        visible = getattr(server, "visible", None)
        tool_scope: Callable[[str], str | None] | None = None
        if self.auth.auth is not None and isinstance(visible, Mapping):

            def tool_scope(name: str) -> str | None:
                spec = visible.get(name)
                if spec is None:
                    return None  # the server answers unknown tools itself
                return required_scope(spec.read_only, spec.destructive, spec.toolset, names=names)

        limiter = RateLimiter(http.rate_limit_per_minute, http.rate_limit_burst)
        gate = Middleware(
            _Gate,
            limiter=limiter,
            tool_scope=tool_scope,
            names=names,
            metadata_url=metadata_url,
            metrics=self.metrics,
            message_paths=(http.http_path,),
        )
        # Innermost of the SDK's middleware, i.e. after authentication has set scope["user"].
        for app in (mcp_app, sse_app):
            if app is not None:
                app.user_middleware.append(gate)

        ops = _Ops(
            metrics=self.metrics,
            checks=self._readiness,
            auth=self.auth,
            names=names,
            metrics_scope=http.scope_metrics,
        )
        self._ops = ops
        return _Edge(
            mcp_app=mcp_app,
            sse_app=sse_app,
            metadata_app=metadata_app,
            metadata_path=metadata_path,
            http=http,
            security=TransportSecurityMiddleware(security),
            metrics=self.metrics,
            ops=ops,
            serve_metrics=http.metrics_port is None,
        )

    # --- running ------------------------------------------------------------------------------

    async def serve(
        self,
        server: MCPServer[Any],
        *,
        handle_signals: bool = True,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve ``server`` until :meth:`stop` (or SIGINT/SIGTERM with ``handle_signals``).
        ``task_status.started()`` fires once requests are being answered."""
        http = self.http
        app = self.build_app(server)
        if not is_loopback_host(http.http_host) and http.auth_mode == "none":
            log.warning(
                "!!! SERVING MCP WITHOUT AUTHENTICATION on %s:%s (PROXMOX_MCP_ALLOW_INSECURE_HTTP=1): anyone who "
                "reaches this port can operate your Proxmox cluster. Set PROXMOX_MCP_AUTH_MODE=oidc or static. !!!",
                http.http_host,
                http.http_port,
            )
        main_cls = uvicorn.Server if handle_signals else _UnsignaledServer
        main = main_cls(_uvicorn_config(app, http))
        self._servers = [main]
        side = None
        if self._metrics_sock is not None:
            side = _UnsignaledServer(_uvicorn_config(self._ops.metrics_app(), http))
            self._servers.append(side)
        if self._stop_requested:
            for s in self._servers:
                s.should_exit = True
        log.info(
            "serving MCP over streamable HTTP at %s (%s, auth %s)%s",
            self.url,
            "stateless" if http.http_stateless else "stateful",
            http.auth_mode,
            f", legacy SSE at {self.base_url}{SSE_PATH}" if app.sse_app is not None else "",
        )
        ended = anyio.Event()
        try:
            async with anyio.create_task_group() as tg:

                async def run(s: uvicorn.Server, sock: socket.socket) -> None:
                    try:
                        await s.serve(sockets=[sock])
                    finally:
                        self.stop()  # one listener down takes the other with it
                        ended.set()

                tg.start_soon(run, main, self._sock)
                if side is not None:
                    assert self._metrics_sock is not None
                    tg.start_soon(run, side, self._metrics_sock)
                with anyio.fail_after(30):
                    await _first_of(app.started, ended)
                if not app.started.is_set():
                    raise RuntimeError("the HTTP listener stopped while starting; the log above says why")
                task_status.started()
        finally:
            self.close()

    def stop(self) -> None:
        """Ask the listener(s) to finish: open requests get a few seconds, then the loop ends."""
        self._stop_requested = True
        for s in self._servers:
            s.should_exit = True

    def close(self) -> None:
        """Release the sockets (after :meth:`serve`, or when it never ran)."""
        for sock in (self._sock, self._metrics_sock):
            if sock is not None:
                sock.close()

    @asynccontextmanager
    async def running(self, server: MCPServer[Any]) -> AsyncIterator[HttpService]:
        """Serve ``server`` in the background for the duration of the block (tests, benches)."""
        async with anyio.create_task_group() as tg:
            await tg.start(lambda task_status: self.serve(server, handle_signals=False, task_status=task_status))
            try:
                yield self
            finally:
                self.stop()


# --- entry points ------------------------------------------------------------------------------


def build_http_server(
    settings: Settings,
    service: HttpService,
    *,
    rest_transport: httpx2.AsyncBaseTransport | None = None,
) -> ProxmoxMCP:
    """The MCP server for ``settings`` with the auth and scope names of ``service``."""
    from .app import build_server

    return build_server(
        settings, rest_transport=rest_transport, scope_names=service.scope_names, **service.server_kwargs()
    )


async def serve_http(server: MCPServer[Any], http: HttpSettings, *, service: HttpService | None = None) -> None:
    """Serve ``server`` over streamable HTTP as ``http`` says, until SIGINT/SIGTERM.

    With auth, pass the ``service`` whose :meth:`HttpService.server_kwargs` built ``server``.

    Raises:
        ConfigError: the listener cannot be bound, or ``server`` lacks the configured auth.
    """
    service = service or HttpService.bind(http)
    try:
        await service.serve(server)
    finally:
        service.close()


async def run_both(server: MCPServer[Any], service: HttpService) -> None:
    """stdio and HTTP in one task group. The stdio client owns the process: when it closes stdin
    the HTTP side stops too; when HTTP stops (a signal), stdio is cancelled."""
    async with anyio.create_task_group() as tg:

        async def http_side() -> None:
            try:
                await service.serve(server)
            finally:
                tg.cancel_scope.cancel()

        tg.start_soon(http_side)
        try:
            await server.run_stdio_async()
        finally:
            service.stop()
