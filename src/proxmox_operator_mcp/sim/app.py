"""The simulated ``pveproxy``: an ASGI app that answers ``/api2/json`` like PVE 9.2.

The order of the steps follows pve-http-server's ``AnyEvent.pm`` and pve-manager's
``PVE/HTTPServer.pm``: authenticate (401, empty body, the message in the reason phrase), find
the method (501), refuse a path parameter repeated in the body with another value (400), refuse
a token where the schema says ``allowtoken: 0`` (403), check the endpoint's ``permissions``
(403), proxy to the node (595 when it is down), validate the parameters against the schema
(400 ``Parameter verification failed.``), then run the handler.

The reason phrase is passed to the server as a non-standard ``"reason"`` key of the
``http.response.start`` message; :mod:`.server` honours it, other ASGI servers ignore it.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl, unquote

import anyio

from ..errors import SchemaValidationError, UnknownEndpointError
from ..schema import ApiSchema, get_schema
from .cluster import SimCluster
from .errors import PVEError, no_such_node, param_error, perm_error
from .handlers import ROUTES, Call, Paged

__all__ = ["ASGIApp", "create_app"]

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_POST = 64 * 1024
_OPEN = {
    ("GET", "/access/domains"),
    ("GET", "/access/ticket"),
    ("POST", "/access/ticket"),
    ("POST", "/access/vncticket"),
    ("POST", "/access/openid/login"),
    ("POST", "/access/openid/auth-url"),
}


@dataclass
class _Reply:
    status: int
    message: str | None = None  # the reason phrase (its first line)
    body: bytes = b""
    ctype: str | None = None


def _json_reply(data: Any, total: int | None = None) -> _Reply:
    env: dict[str, Any] = {"data": data}
    if total:
        env["total"] = total
    return _Reply(200, "OK", _dumps(env), "application/json;charset=UTF-8")


def _error_reply(err: PVEError) -> _Reply:
    if err.bare:
        return _Reply(err.status, err.message)
    env: dict[str, Any] = {"data": None, "message": err.message}
    if err.errors:
        env["errors"] = err.errors
    return _Reply(err.status, err.message, _dumps(env), "application/json;charset=UTF-8")


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _auth_value(header: str | None, name: str) -> str | None:
    """PVE's ``extract_auth_value``: ``NAME=value`` in a cookie or Authorization header."""
    if not header:
        return None
    m = re.search(rf"(?:^|[\s;]){re.escape(name)}[= ]([^;\s]+)", header)
    return unquote(m.group(1)) if m else None


def _multi(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Decoded form pairs; a repeated key becomes a list (PVE's array parameters)."""
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            old = out[k]
            out[k] = [*old, v] if isinstance(old, list) else [old, v]
        else:
            out[k] = v
    return out


def _parse_params(query: str, body: bytes, ctype: str) -> dict[str, Any]:
    """Body (form or JSON) and query parameters; the query wins, ``_dc`` is dropped (as in PVE)."""
    params: dict[str, Any] = {}
    if body and ctype == "application/json":
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PVEError(400, f"failed to parse JSON body - {exc}") from None
        if not isinstance(data, dict):
            raise PVEError(400, "JSON body must be an object")
        params = {k: int(v) if isinstance(v, bool) else v for k, v in data.items()}
    elif body:
        params = _multi(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    params.update(_multi(parse_qsl(query, keep_blank_values=True)))
    params.pop("_dc", None)
    return params


def create_app(cluster: SimCluster) -> ASGIApp:
    """The ASGI application serving ``cluster`` under ``/api2/json``."""
    schema = get_schema()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        body = b""
        more = True
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
            if len(body) > MAX_POST:
                break
        reply = await _handle(cluster, schema, scope, headers, body)
        await _send(send, reply, "gzip" in headers.get("accept-encoding", ""))

    return app


async def _send(send: Send, reply: _Reply, gzip_ok: bool) -> None:
    body = reply.body
    now = formatdate(time.time(), usegmt=True)
    hdrs = [
        (b"cache-control", b"max-age=0"),
        (b"date", now.encode()),
        (b"expires", now.encode()),
        (b"pragma", b"no-cache"),
        (b"server", b"pve-api-daemon/3.0"),
    ]
    if reply.ctype:
        hdrs.append((b"content-type", reply.ctype.encode()))
    if gzip_ok and len(body) > 1024:
        body = gzip.compress(body, compresslevel=5)
        hdrs.append((b"content-encoding", b"gzip"))
    hdrs.append((b"content-length", str(len(body)).encode()))
    reason = (reply.message or "").split("\n", 1)[0].strip() or None
    start: dict[str, Any] = {"type": "http.response.start", "status": reply.status, "headers": hdrs}
    if reason:
        start["reason"] = reason
    await send(start)
    await send({"type": "http.response.body", "body": body})


async def _handle(cluster: SimCluster, schema: ApiSchema, scope: Scope, headers: dict[str, str], body: bytes) -> _Reply:
    method = scope["method"].upper()
    path = scope["path"]
    raw = (scope.get("raw_path") or b"").decode("latin-1").split("?", 1)[0]
    if "%2f" in raw.lower():  # a '/' inside a value (volume ID): the schema decodes per segment, as PVE
        path = raw
    if method not in ("GET", "POST", "PUT", "DELETE"):
        return _Reply(501, f"method '{method}' not available")
    m = re.match(r"^/api2/+(html|text|json|extjs|png|htmljs|spiceconfig)(/.*)?$", path)
    if not path.startswith("/api2"):
        return _Reply(501, f"no such file '{path}'")
    if not m:
        return _Reply(501, "no such uri")
    fmt, rel = m.group(1), re.sub(r"/+$", "", m.group(2) or "") or "/"
    if fmt != "json":
        return _error_reply(PVEError(501, f"format '{fmt}' not implemented (not simulated)"))

    faults = cluster.faults
    if faults.latency > 0:
        await anyio.sleep(faults.latency)

    # -- authentication ------------------------------------------------------------------------
    ticket = _auth_value(headers.get("cookie"), "PVEAuthCookie") or _auth_value(
        headers.get("authorization"), "PVEAuthCookie"
    )
    api_token = None if ticket else _auth_value(headers.get("authorization"), "PVEAPIToken")
    authid: str | None = None
    if (method, rel) not in _OPEN:
        try:
            if api_token:
                authid = cluster.access.verify_token(api_token)
            elif not ticket:
                raise PVEError(401, "No ticket")
            else:
                authid = cluster.access.verify_ticket(ticket)
                if method != "GET":
                    cluster.access.verify_csrf(authid, headers.get("csrfpreventiontoken"))
        except PVEError as err:
            if faults.auth_fail_delay > 0:
                await anyio.sleep(faults.auth_fail_delay)
            return _Reply(err.status, err.message)

    # -- request body ----------------------------------------------------------------------------
    if body and method not in ("POST", "PUT"):
        return _Reply(501, f"Unexpected content for method '{method}'")
    if len(body) > MAX_POST:
        return _Reply(501, "for data too large")
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    if body and ctype not in ("", "application/x-www-form-urlencoded", "application/json"):
        return _Reply(506, f"upload 'Content-Type '{headers.get('content-type')}' not implemented")
    try:
        params = _parse_params(scope.get("query_string", b"").decode("latin-1"), body, ctype)
    except PVEError as err:
        return _error_reply(err)

    # -- injected faults -------------------------------------------------------------------------
    if faults.path_fails(rel) or (faults.error_rate > 0 and cluster.fault_rng.random() < faults.error_rate):
        return _error_reply(PVEError(500, f"simulated failure of {method} {rel} (fault injection)"))

    cluster.advance()
    try:
        return _dispatch(cluster, schema, method, rel, params, authid, api_token is not None)
    except PVEError as err:
        return _error_reply(err)
    except Exception as exc:  # a bug in a handler: answer like pveproxy does, log it here
        log.exception("simulator handler failed for %s %s", method, rel)
        return _error_reply(PVEError(500, f"internal error (simulator): {type(exc).__name__}: {exc}"))


def _dispatch(
    cluster: SimCluster,
    schema: ApiSchema,
    method: str,
    rel: str,
    params: dict[str, Any],
    authid: str | None,
    is_token: bool,
) -> _Reply:
    if rel == "/" and method == "GET":  # the API root is not in the schema tree
        return _json_reply(ROUTES[("GET", "/")](Call(cluster, method, rel, "/", {}, {}, authid or "")))
    try:
        endpoint, path_params = schema.resolve(method, rel)
    except UnknownEndpointError:
        raise PVEError(501, f"Method '{method} {rel}' not implemented") from None
    except SchemaValidationError as exc:  # a path parameter of the wrong type (vmid "abc")
        raise param_error(exc.errors) from None
    handler = ROUTES.get((method, endpoint.path))
    if handler is None:
        raise PVEError(501, f"Method '{method} {rel}' not implemented (not simulated)")

    for k in sorted(params):
        if k in path_params:
            if str(params[k]) != path_params[k]:
                raise param_error({k: "duplicate parameter (already defined in URI) with conflicting values!"})
            del params[k]

    if is_token and not endpoint.allowtoken:
        raise perm_error(f"URI '{rel}' not available with API token, need proper ticket.\n")
    merged = {**params, **path_params}
    perms = endpoint.permissions
    if authid is None:
        if not (perms and perms.get("user") == "world"):
            raise perm_error("user != null")
    else:
        cluster.access.check_api2(perms, authid, merged)

    node = path_params.get("node")
    if node == "localhost":  # PVE's resolve_proxyto: the node answering
        node = path_params["node"] = cluster.entry_node
    if node is not None:
        if node not in cluster.state.nodes:
            raise no_such_node(node)
        if endpoint.proxyto == "node" and node != cluster.entry_node and not cluster.node_online(node):
            raise PVEError(595, "No route to host", bare=True)

    try:
        validated = schema.validate(method, rel, params)
    except SchemaValidationError as exc:
        raise param_error(exc.errors) from None
    values = {k: v for k, v in dict(validated.params).items() if k not in path_params}

    call = Call(cluster, method, rel, endpoint.path, path_params, values, authid or "")
    result = handler(call)
    if isinstance(result, Paged):
        return _json_reply(result.data, result.total)
    return _json_reply(result)
