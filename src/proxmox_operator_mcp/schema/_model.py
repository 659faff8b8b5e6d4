"""The loaded API schema: endpoints, parameters, path resolution, validation and search."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from ..errors import SchemaValidationError, UnknownEndpointError
from . import _check, formats

__all__ = ["ApiSchema", "Endpoint", "Param", "ValidatedRequest"]

METHODS: tuple[str, ...] = ("GET", "POST", "PUT", "DELETE")
# pvesh verbs, so that "create /nodes/pve1/qemu" means what it means on the CLI
_METHOD_ALIASES = {"CREATE": "POST", "SET": "PUT", "LS": "GET"}
_MAX_PATH_LENGTH = 2048
_UNSAFE_RAW = re.compile(r"[\x00-\x20\x7f?#\\]")
_UNSAFE_VALUE = re.compile(r"[\x00-\x1f\x7f\s]")
_PLACEHOLDER = re.compile(r"^\{[^{}]*\}$")


# Not frozen: a frozen dataclass costs ~8 ms more to build the 1,200 parameters at load time.
# Treat instances as read-only; they are shared between endpoints.
@dataclass(slots=True, eq=False)
class Param:
    """One parameter of an endpoint (or one key of a property-string format).

    ``format`` is a format name (``"pve-vmid"``) or, for property strings, the key
    dictionary. ``index_max`` is set for indexed parameters named like ``net[n]``: the
    request uses ``net0`` .. ``net<index_max>``. ``raw`` is PVE's schema for the parameter.
    """

    name: str
    type: str
    optional: bool
    description: str
    enum: tuple[Any, ...] | None
    minimum: int | float | None
    maximum: int | float | None
    min_length: int | None
    max_length: int | None
    pattern: str | None
    format: str | dict[str, Any] | None
    format_description: str | None
    default: Any
    typetext: str | None
    items: Param | None
    requires: str | dict[str, Any] | None
    verbose_description: str | None
    index_max: int | None
    one_of: tuple[Param, ...] | None
    type_property: str | None
    instance_types: tuple[str, ...] | None
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def indexed(self) -> bool:
        """Whether this is a ``name[n]`` parameter standing for ``name0`` .. ``name<index_max>``."""
        return self.name.endswith("[n]")

    @property
    def property_format(self) -> dict[str, Any] | None:
        """The key dictionary if the value is a property string (inline or named format)."""
        if isinstance(self.format, dict):
            return self.format
        if isinstance(self.format, str):
            return formats.named_property_format(self.format, self.typetext)
        return None

    @classmethod
    def from_schema(cls, name: str, schema: Mapping[str, Any]) -> Param:
        """Build a :class:`Param` from PVE's schema dictionary for it."""
        get = schema.get
        items = get("items")
        one_of = get("oneOf")
        enum = get("enum")
        instance_types = get("instance-types")
        requires = get("requires")
        minimum, maximum = get("minimum"), get("maximum")
        min_length, max_length, index_max = get("minLength"), get("maxLength"), get("x-index-max")
        return cls(
            name,
            str(get("type") or "string"),
            bool(get("optional")),
            str(get("description") or ""),
            tuple(enum) if isinstance(enum, list) else None,
            None if minimum is None else _number_or_none(minimum),
            None if maximum is None else _number_or_none(maximum),
            None if min_length is None else _int_or_none(min_length),
            None if max_length is None else _int_or_none(max_length),
            get("pattern"),
            get("format"),
            get("format_description"),
            get("default"),
            get("typetext"),
            cls.from_schema(f"{name}[]", items) if isinstance(items, Mapping) else None,
            requires if isinstance(requires, (str, dict)) else None,
            get("verbose_description"),
            None if index_max is None else _int_or_none(index_max),
            tuple(cls.from_schema(name, alt) for alt in one_of) if isinstance(one_of, list) else None,
            get("type-property"),
            tuple(instance_types) if isinstance(instance_types, list) else None,
            schema,
        )


def _number_or_none(value: Any) -> int | float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else number


def _int_or_none(value: Any) -> int | None:
    number = _number_or_none(value)
    return None if number is None else int(number)


@dataclass(slots=True, eq=False)
class Endpoint:
    """One (method, path template) of the PVE API.

    ``parameters`` holds every parameter, path parameters included, keyed as in the schema
    (indexed ones as ``net[n]``). ``returns_task`` is ``"yes"`` when the method returns a task
    UPID string (``returns_task_inferred`` when that was inferred from the description),
    ``"upid-in-object"`` when the result object carries a ``upid``, else ``"no"``.
    """

    method: str
    path: str
    description: str
    parameters: Mapping[str, Param]
    returns: Mapping[str, Any]
    returns_task: str
    permissions: Mapping[str, Any] | None
    allowtoken: bool
    protected: bool
    proxyto: str | None
    name: str = ""
    path_params: tuple[str, ...] = ()
    additional_properties: Any = 0
    returns_task_inferred: bool = False
    download_allowed: bool = False
    expose_credentials: bool = False

    @property
    def required(self) -> list[str]:
        """Names of the required parameters that are not path parameters."""
        return [n for n, p in self.parameters.items() if not p.optional and n not in self.path_params]

    def __repr__(self) -> str:
        return f"<Endpoint {self.method} {self.path}>"


@dataclass(frozen=True, slots=True)
class ValidatedRequest:
    """A request that passed validation, ready for a transport.

    ``path`` is the concrete path below ``/api2/json`` with the path-parameter values as
    plain (decoded) text, e.g. ``/nodes/pve1/tasks/UPID:pve1:...:root@pam:/status``;
    ``path_params`` has the same values by name, and :attr:`url_path` the same path with each
    value percent-encoded, ready to append to ``https://host:8006/api2/json`` (use it when a
    value may contain ``/``, as volume IDs and CIDRs do). ``params`` are the other
    parameters, normalised for the wire: booleans as ``0``/``1`` ints, integers as ``int``,
    numbers as ``float``, strings as ``str``, arrays as lists of strings (send as repeated
    keys).
    """

    endpoint: Endpoint
    path: str
    path_params: dict[str, str]
    params: dict[str, Any]

    @property
    def method(self) -> str:
        return self.endpoint.method

    @property
    def url_path(self) -> str:
        """The path with every path-parameter value percent-encoded (``quote(value, safe="")``)."""
        return _fill(self.endpoint.path, self.path_params, encode=True)


def _fill(template: str, values: Mapping[str, str], *, encode: bool) -> str:
    out = []
    for seg in template.split("/"):
        if seg.startswith("{") and seg.endswith("}"):
            value = values[seg[1:-1]]
            out.append(quote(value, safe="") if encode else value)
        else:
            out.append(seg)
    return "/".join(out)


_RESOLVED_MAX = 4096


class _Node:
    __slots__ = ("endpoints", "literals", "params", "template")

    def __init__(self, template: str) -> None:
        self.template = template  # the path template of this node
        self.literals: dict[str, _Node] = {}
        self.params: dict[str, _Node] = {}
        self.endpoints: dict[str, Endpoint] = {}


def _normalize_method(method: str) -> str:
    upper = str(method).strip().upper()
    return _METHOD_ALIASES.get(upper, upper)


def _sort_methods(methods: Sequence[str]) -> list[str]:
    return sorted(methods, key=lambda m: METHODS.index(m) if m in METHODS else len(METHODS))


class ApiSchema:
    """The PVE API schema: every endpoint, and how to resolve, validate and search them."""

    def __init__(self, version: str, endpoints: Sequence[Endpoint], *, privileges: Sequence[str] = ()) -> None:
        self.version = version
        self.endpoints: list[Endpoint] = list(endpoints)
        self.privileges: tuple[str, ...] = tuple(privileges)
        self._root = _Node("")
        # Successful resolutions by (method, path): tools ask for the same few paths again and
        # again. Bounded; errors are never kept (they are rare and cheap to compute again).
        self._resolved: dict[tuple[str, str], tuple[Endpoint, dict[str, str]]] = {}
        self._by_template: dict[str, _Node] = {}
        for ep in self.endpoints:
            node = self._root
            template = ""
            for seg in ep.path.strip("/").split("/"):
                template += "/" + seg
                children = node.params if seg.startswith("{") and seg.endswith("}") else node.literals
                key = seg[1:-1] if children is node.params else seg
                child = children.get(key)
                if child is None:
                    child = children[key] = _Node(template)
                node = child
            node.endpoints[ep.method] = ep
            self._by_template[ep.path] = node
        self._search_index: list[tuple[Endpoint, str, str, str, str]] | None = None

    def __repr__(self) -> str:
        return f"<ApiSchema PVE {self.version}: {len(self.endpoints)} endpoints>"

    # -- lookup ------------------------------------------------------------------------

    def get(self, method: str, template: str) -> Endpoint | None:
        """The endpoint with exactly this method and path template, if any."""
        node = self._by_template.get(template)
        return node.endpoints.get(_normalize_method(method)) if node else None

    def methods_for(self, path: str) -> list[str]:
        """The methods a path template or concrete path has (``[]`` if it has none)."""
        node = self._by_template.get(path)
        if node is None:
            try:
                segments = self._segments("GET", path)
            except UnknownEndpointError:
                return []
            found = self._match(segments)
            node = found[0] if found else None
        return _sort_methods(list(node.endpoints)) if node else []

    def resolve(self, method: str, path: str) -> tuple[Endpoint, dict[str, str]]:
        """Map a concrete path (below ``/api2/json``) to its endpoint and path parameters.

        Literal path segments take precedence over ``{param}`` segments. Each path
        parameter value is checked against its own schema (``{vmid}`` is a pve-vmid, ...).

        Raises:
            UnknownEndpointError: the path or method does not exist, or the path is malformed
                (``..``, empty segments, a query string, a leading ``/api2/json``).
            SchemaValidationError: a path parameter value is invalid.
        """
        verb = _normalize_method(method)
        hit = self._resolved.get((verb, path)) if isinstance(path, str) else None
        if hit is not None:
            return hit[0], dict(hit[1])
        segments = self._segments(verb, path)
        found = self._match(segments)
        if found is None:
            raise UnknownEndpointError(verb, path, hint=self._path_hint(segments))
        node, values = found
        endpoint = node.endpoints.get(verb)
        if endpoint is None:
            methods = ", ".join(_sort_methods(list(node.endpoints)))
            raise UnknownEndpointError(
                verb, path, hint=f"{node.template} supports {methods}" if methods else self._path_hint(segments)
            )
        errors: dict[str, str] = {}
        for name, value in values.items():
            if _PLACEHOLDER.match(value):
                errors[name] = f"the path still has the placeholder '{value}' - put a value there"
            elif _UNSAFE_VALUE.search(value):
                errors[name] = "value must not contain whitespace or control characters"
            elif any(part in (".", "..") for part in value.split("/")):
                errors[name] = "value must not contain '.' or '..' path components"
            else:
                schema = endpoint.parameters[name].raw if name in endpoint.parameters else {"type": "string"}
                _check.check_prop(value, schema, name, errors)
        if errors:
            raise SchemaValidationError(verb, path, errors)
        if len(self._resolved) >= _RESOLVED_MAX:
            self._resolved.clear()
        self._resolved[(verb, path)] = (endpoint, dict(values))
        return endpoint, values

    def validate(self, method: str, path: str, params: Mapping[str, Any] | None) -> ValidatedRequest:
        """Resolve the path and check the parameters the way PVE's ``validate`` does.

        Unknown parameters, missing required ones, path parameters repeated in ``params``,
        wrong types, enum/range/length/pattern/format violations and invalid property strings
        are reported together, PVE-style, keyed by parameter. ``None`` values count as absent.

        Raises:
            UnknownEndpointError: see :meth:`resolve`.
            SchemaValidationError: with ``errors`` mapping each parameter to PVE's message.
        """
        endpoint, path_params = self.resolve(method, path)
        given = {} if params is None else params
        if not isinstance(given, Mapping):
            raise SchemaValidationError(endpoint.method, path, {"_root": "parameters must be an object"})
        errors: dict[str, str] = {}
        body: dict[str, Any] = {}
        for key, value in given.items():
            if not isinstance(key, str) or not key or _UNSAFE_VALUE.search(key):
                errors[str(key)] = "invalid parameter name"
            elif value is None:
                continue  # absent, as an undefined value is to PVE
            elif key in path_params:
                errors[key] = "duplicate parameter (already defined in URI)"
            else:
                body[key] = value
        instance: dict[str, Any] = {**path_params, **body}
        properties = {name: p.raw for name, p in endpoint.parameters.items()}
        normalized, check_errors = _check.check_parameters(properties, endpoint.additional_properties, instance)
        errors.update(check_errors)
        if errors:
            raise SchemaValidationError(endpoint.method, path, errors)
        wire = {k: v for k, v in normalized.items() if k not in path_params}
        concrete = _fill(endpoint.path, path_params, encode=False)
        return ValidatedRequest(endpoint=endpoint, path=concrete, path_params=dict(path_params), params=wire)

    # -- path handling -----------------------------------------------------------------

    def _segments(self, method: str, path: str) -> list[str]:
        if not isinstance(path, str) or not path.startswith("/"):
            raise UnknownEndpointError(method, str(path), hint="paths start with '/', e.g. /nodes/pve1/status")
        if path == "/api2" or path.startswith(("/api2/", "/api2?")):
            raise UnknownEndpointError(
                method,
                path,
                hint="give the path below /api2/json, e.g. /nodes/pve1/qemu instead of /api2/json/nodes/pve1/qemu",
            )
        if len(path) > _MAX_PATH_LENGTH:
            raise UnknownEndpointError(method, path[:80] + "...", hint="the path is too long")
        if _UNSAFE_RAW.search(path):
            raise UnknownEndpointError(
                method,
                path,
                hint="the path may not contain spaces, control characters, '\\', '?' or '#'; "
                "pass query parameters as parameters, not in the path",
            )
        if path == "/":
            top = ", ".join("/" + k for k in sorted(self._root.literals))
            raise UnknownEndpointError(method, path, hint=f"top-level paths: {top}")
        raw_segments = path[1:].split("/")
        if any(seg == "" for seg in raw_segments):
            raise UnknownEndpointError(method, path, hint="the path has an empty segment ('//' or a trailing '/')")
        segments: list[str] = []
        for seg in raw_segments:
            if seg in (".", ".."):
                raise UnknownEndpointError(method, path, hint="'.' and '..' are not allowed in API paths")
            try:
                decoded = unquote(seg, errors="strict")
            except UnicodeDecodeError:
                raise UnknownEndpointError(method, path, hint="the path has an invalid percent-encoding") from None
            if decoded in (".", ".."):
                raise UnknownEndpointError(method, path, hint="'.' and '..' are not allowed in API paths")
            segments.append(decoded)
        return segments

    def _match(self, segments: Sequence[str]) -> tuple[_Node, dict[str, str]] | None:
        def walk(node: _Node, i: int, values: dict[str, str]) -> tuple[_Node, dict[str, str]] | None:
            if i == len(segments):
                return (node, values) if node.endpoints else None
            seg = segments[i]
            literal = node.literals.get(seg)
            if literal is not None:
                found = walk(literal, i + 1, values)
                if found is not None:
                    return found
            for name, child in node.params.items():
                found = walk(child, i + 1, {**values, name: seg})
                if found is not None:
                    return found
            return None

        return walk(self._root, 0, {})

    def _path_hint(self, segments: Sequence[str]) -> str:
        # the deepest existing prefix and what follows it
        node, depth = self._root, 0
        for seg in segments:
            nxt = node.literals.get(seg)
            if nxt is None and node.params:
                nxt = next(iter(node.params.values()))
            if nxt is None:
                break
            node, depth = nxt, depth + 1
        children = sorted(node.literals) + ["{" + p + "}" for p in sorted(node.params)]
        base = node.template or ""
        import difflib  # only for this error hint

        wrong = "/" + "/".join(segments)
        templates = difflib.get_close_matches(wrong, list(self._by_template), n=3, cutoff=0.6)
        parts = []
        if depth < len(segments) and children:
            shown = ", ".join(f"{base}/{c}" for c in children[:12])
            more = f" (+{len(children) - 12} more)" if len(children) > 12 else ""
            parts.append(f"below {base or '/'} there is: {shown}{more}")
        if templates:
            parts.append("similar paths: " + ", ".join(templates))
        if any(":" in seg for seg in segments) or re.search(r"\d+\.\d+\.\d+\.\d+/", wrong):
            parts.append("a '/' inside a value (volume ID, CIDR) must be written as %2F")
        return "; ".join(parts) or "use proxmox_api_search to find the endpoint"

    # -- search ------------------------------------------------------------------------

    def search(self, query: str, limit: int = 20) -> list[Endpoint]:
        """Endpoints matching ``query``, best first.

        A query that is a path (template or concrete) returns that path's methods first.
        Otherwise words are matched against path segments, the handler name, the
        description and parameter names; ``GET``/``POST``/... words filter by method, and
        ``vm``/``container`` also match ``qemu``/``lxc``.
        """
        query = (query or "").strip()
        if limit <= 0 or not query:
            return []
        exact: list[Endpoint] = []
        tokens_src = query
        method_filter: set[str] = set()
        for word in query.split():
            verb = _METHOD_ALIASES.get(word.upper(), word.upper())
            if verb in METHODS and word.isalpha() and (word.isupper() or len(query.split()) > 1):
                method_filter.add(verb)
        path_part = next((w for w in query.split() if w.startswith("/")), None)
        if path_part is not None:
            node = self._by_template.get(path_part.rstrip("/") or "/")
            if node is None:
                try:
                    found = self._match(self._segments("GET", path_part.rstrip("/") or "/"))
                except UnknownEndpointError:
                    found = None
                node = found[0] if found else None
            if node is not None:
                exact = [
                    node.endpoints[m]
                    for m in _sort_methods(list(node.endpoints))
                    if not method_filter or m in method_filter
                ]
            tokens_src = query.replace(path_part, " ".join(path_part.split("/")))
        tokens = [t for t in re.split(r"[^a-z0-9_\-]+", tokens_src.lower()) if t]
        tokens = [t for t in tokens if t.upper() not in METHODS or t.upper() not in method_filter]
        scored: list[tuple[float, int, Endpoint]] = []
        if tokens:
            for pos, (ep, path_l, name_l, desc_l, params_l) in enumerate(self._index()):
                if method_filter and ep.method not in method_filter:
                    continue
                total = 0.0
                matched_all = True
                segs = path_l.split("/")
                for token in tokens:
                    hits: dict[str, float] = {}
                    for alt in _SYNONYMS.get(token, (token,)):
                        if alt in segs:
                            hits["path"] = 4.0
                        elif alt in path_l:
                            hits.setdefault("path", 2.5)
                        if alt in name_l:
                            hits["name"] = 2.0
                        if re.search(rf"\b{re.escape(alt)}", desc_l):
                            hits["description"] = 1.5
                        elif alt in desc_l:
                            hits.setdefault("description", 0.75)
                        if alt in params_l:
                            hits["params"] = 0.5
                    if not hits:
                        matched_all = False
                        continue
                    # the best field counts fully, each further field that matches a little
                    total += max(hits.values()) + 0.25 * (len(hits) - 1)
                if total <= 0:
                    continue
                # prefer endpoints matching every word, shorter paths, and GET
                total += 3.0 if matched_all else 0.0
                total -= 0.05 * path_l.count("/")
                scored.append((total, pos, ep))
        scored.sort(key=lambda t: (-t[0], t[1]))
        seen = {id(ep) for ep in exact}
        out = list(exact)
        for _, _, ep in scored:
            if id(ep) not in seen:
                out.append(ep)
                seen.add(id(ep))
            if len(out) >= limit:
                break
        return out[:limit]

    def _index(self) -> list[tuple[Endpoint, str, str, str, str]]:
        if self._search_index is None:
            self._search_index = [
                (
                    ep,
                    ep.path.lower(),
                    ep.name.lower(),
                    ep.description.lower(),
                    " ".join(ep.parameters).lower(),
                )
                for ep in self.endpoints
            ]
        return self._search_index


_SYNONYMS: dict[str, tuple[str, ...]] = {
    "vm": ("vm", "qemu"),
    "vms": ("vms", "qemu"),
    "qemu": ("qemu",),
    "container": ("container", "lxc"),
    "containers": ("containers", "lxc"),
    "ct": ("ct", "lxc"),
    "disk": ("disk", "disks"),
    "task": ("task", "tasks"),
    "snapshot": ("snapshot", "snapshots"),
    "node": ("node", "nodes"),
    "backup": ("backup", "vzdump"),
    "user": ("user", "users"),
}
