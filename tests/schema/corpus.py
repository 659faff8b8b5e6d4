"""A corpus of valid and invalid PVE API calls, generated from the schema.

``generate_corpus(schema, seed=0)`` returns ``(valid, invalid)``: for every endpoint it can
fill, one valid call (all required parameters, plus up to three optional ones, with values
that satisfy type, format, enum, range, length and pattern), and invalid calls that each take
a valid call and break exactly one thing: an unknown parameter, a missing required parameter,
a wrong type, an out-of-range number, a value outside the enum, a bad named format, a value
that does not match the pattern, or a bad path parameter.

The same corpus is meant to be replayed through the MCP tool against the simulated cluster,
so it depends only on the public schema API.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from proxmox_operator_mcp.errors import SchemaValidationError
from proxmox_operator_mcp.schema import ApiSchema, Endpoint, Param, format_property_string
from proxmox_operator_mcp.schema.formats import FORMAT_SAMPLES, is_implemented, perl_regex

__all__ = ["Call", "generate_corpus", "sample_value"]


@dataclass(frozen=True)
class Call:
    """One API call: what to send, and why it is in the corpus."""

    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


# Values for path parameters that have neither a format nor a pattern.
_PATH_SAMPLES = {
    "upid": "UPID:pve1:0000C1D5:0006D7CE:65A0B1C2:qmstart:100:root@pam:",
    "volume": "local:iso/debian-12.iso",
    "name": "example",
    "id": "example",
    "vnet": "vnet1",
    "zone": "zone1",
    "cputype": "custom-model",
    "url_seq": "10",
}

# Candidates tried, in order, for string parameters constrained only by a pattern.
_PATTERN_CANDIDATES = (
    "example",
    "Example1",
    "ab",
    "a1",
    "abc-1",
    "100-0",
    "10",
    "1",
    "0x0123456789abcdef",
    "8086:1234",
    "0000:01:00.0",
    "1-2",
    "0-3;5",
    "pc-q35-9.0",
    "q35",
    "/dev/ttyS0",
    "socket",
    "/dev/parport0",
    "discard",
    "+pcid",
    "now",
    "2026-01-01",
    "2026-01-01 10:00",
    "https://example.com/",
    "http://example.com/",
    "ceph",
    "scsi0",
    "net0=1",
    "key=value",
    "uid=alice",
    "0755",
    "1/second",
    "10:30",
    "none",
    "acl;entry",
    "passthrough",
    "pve1c-0123456789",
    "/var/tmp/pveupload-0123abcd",
    "AA:" * 31 + "AA",
    "0123456789abcdef",
    "00000000-0000-0000-0000-000000000000",
    "10M",
    "1G",
    "+1G",
    "49.0001.1921.6800.1002.00",
    "docker.io/library/alpine:latest",
    "alpine:latest",
    "prod",
    "prod:ff0000",
    "vendor:device",
    "1.2",
)

_BAD_TEXT = "not a valid value!"


def _ok(schema: ApiSchema, endpoint: Endpoint, path: str, params: Mapping[str, Any]) -> bool:
    try:
        schema.validate(endpoint.method, path, params)
    except SchemaValidationError:
        return False
    return True


def _number_in_range(param: Param, integer: bool) -> int | float:
    low, high = param.minimum, param.maximum
    if param.format == "pve-vmid":
        return 100
    if low is not None:
        value: float = low
    elif high is not None and high < 1:
        value = high
    else:
        value = 1
    if integer:
        return int(value) if float(value).is_integer() else int(value) + 1
    return float(value)


def _fit_length(text: str, param: Param) -> str:
    if param.min_length is not None and len(text) < param.min_length:
        text = text + "x" * (param.min_length - len(text))
    if param.max_length is not None and len(text) > param.max_length:
        text = text[: param.max_length]
    return text


def _property_string_sample(fmt: Mapping[str, Any], name: str) -> str | None:
    values: dict[str, Any] = {}
    for key, sub in fmt.items():
        if sub.get("alias") or (sub.get("optional") and not sub.get("default_key")):
            continue
        value = sample_value(Param.from_schema(key, sub), name=key)
        if value is None:
            return None
        values[key] = value
    try:
        return format_property_string(values, fmt)
    except ValueError:
        return None


def sample_value(param: Param, name: str | None = None) -> Any:
    """A value that should satisfy ``param`` (``None`` if none could be made)."""
    name = name or param.name
    if param.enum:
        if param.default is not None and str(param.default) in {str(e) for e in param.enum}:
            return param.default
        return param.enum[0]
    if param.type == "boolean":
        return 1
    if param.type == "integer":
        return _number_in_range(param, integer=True)
    if param.type == "number":
        return _number_in_range(param, integer=False)
    if param.type == "array":
        if param.items is None:
            return ["example"]
        item = sample_value(param.items, name)
        return None if item is None else [item]
    if param.type == "object":
        return {}
    fmt = param.property_format
    if fmt is not None:
        return _property_string_sample(fmt, name)
    if isinstance(param.format, str):
        base = re.sub(r"-(list|opt)$", "", param.format)
        sample = FORMAT_SAMPLES.get(param.format) or FORMAT_SAMPLES.get(base)
        if sample is not None:
            return _fit_length(sample, param)
    if name in _PATH_SAMPLES and param.pattern is None:
        return _fit_length(_PATH_SAMPLES[name], param)
    if param.pattern is not None:
        rx = perl_regex(param.pattern)
        for candidate in (_PATH_SAMPLES.get(name, "example"), *_PATTERN_CANDIDATES):
            fitted = _fit_length(candidate, param)
            if rx.search(fitted):
                return fitted
        return None
    return _fit_length("example", param)


def _concrete_path(endpoint: Endpoint) -> tuple[str, dict[str, str]] | None:
    path = endpoint.path
    values: dict[str, str] = {}
    for name in endpoint.path_params:
        param = endpoint.parameters.get(name)
        value = sample_value(param, name) if param is not None else _PATH_SAMPLES.get(name, "example")
        if value is None:
            return None
        text = str(value)
        values[name] = text
        path = path.replace("{" + name + "}", text.replace("/", "%2F"), 1)
    return path, values


def _body_params(endpoint: Endpoint) -> list[Param]:
    return [p for n, p in endpoint.parameters.items() if n not in endpoint.path_params]


def _concrete_name(param: Param) -> str:
    return param.name[:-3] + "0" if param.indexed else param.name


def _valid_call(schema: ApiSchema, endpoint: Endpoint, rng: random.Random) -> Call | None:
    concrete = _concrete_path(endpoint)
    if concrete is None:
        return None
    path, _ = concrete
    params: dict[str, Any] = {}
    for param in _body_params(endpoint):
        if param.optional or param.type_property:
            continue  # oneOf parameters keyed by a type property are optional until the type says otherwise
        value = sample_value(param)
        if value is None:
            return None
        params[_concrete_name(param)] = value
    if not _ok(schema, endpoint, path, params):
        return None
    optional = [p for p in _body_params(endpoint) if p.optional and not p.one_of and not p.type_property]
    rng.shuffle(optional)
    added = 0
    for param in optional:
        if added == 3:
            break
        value = sample_value(param)
        if value is None:
            continue
        trial = {**params, _concrete_name(param): value}
        if _ok(schema, endpoint, path, trial):
            params = trial
            added += 1
    return Call(endpoint.method, path, params, "valid")


def _pattern_rejects_bad_text(pattern: str) -> bool:
    # patterns that cannot match a space or '!' anywhere (no \s, \S, ., negated classes, ...)
    return not re.search(r"\\s|\\S|\\W|\.|\[\^| |\\x|\\0|\(\?\^i?:\.\*|!", pattern)


def _invalid_calls(endpoint: Endpoint, valid: Call, rng: random.Random) -> list[Call]:
    out: list[Call] = []
    base = dict(valid.params)
    method, path = valid.method, valid.path

    if endpoint.additional_properties is not None and not endpoint.additional_properties:
        out.append(Call(method, path, {**base, "zz-not-a-parameter": "1"}, "unknown parameter"))

    required = [n for n in base if n in endpoint.parameters and not endpoint.parameters[n].optional]
    if required:
        drop = rng.choice(sorted(required))
        out.append(Call(method, path, {k: v for k, v in base.items() if k != drop}, f"missing required '{drop}'"))

    body = [p for p in _body_params(endpoint) if not p.one_of and not p.type_property and not p.requires]
    rng.shuffle(body)

    def with_value(param: Param, value: Any, reason: str) -> Call:
        return Call(method, path, {**base, _concrete_name(param): value}, f"{reason} '{param.name}'")

    typed = [p for p in body if p.type in ("integer", "number", "boolean")]
    if typed:
        p = typed[0]
        out.append(with_value(p, "maybe" if p.type == "boolean" else "twelve", "wrong type for"))
    stringy = [p for p in body if p.type == "string" and p.property_format is None and not p.enum]
    if stringy:
        out.append(with_value(stringy[0], {"a": "b"}, "object for string"))

    ranged = [p for p in body if p.type in ("integer", "number") and (p.minimum is not None or p.maximum is not None)]
    if ranged:
        p = ranged[0]
        if p.maximum is not None:
            out.append(with_value(p, p.maximum + 1, "above maximum of"))
        else:
            assert p.minimum is not None
            out.append(with_value(p, p.minimum - 1, "below minimum of"))

    enums = [p for p in body if p.enum and p.type == "string"]
    if enums:
        out.append(with_value(enums[0], "definitely-not-in-enum", "bad enum value for"))

    formatted = [
        p
        for p in body
        if p.type == "string"
        and isinstance(p.format, str)
        and p.property_format is None
        and is_implemented(p.format)
        and p.format not in ("string", "string-list", "pve-storage-options")
        and not p.format.endswith("-opt")
        and not p.pattern
    ]
    if formatted:
        out.append(with_value(formatted[0], _BAD_TEXT, "bad format for"))

    propstrings = [p for p in body if p.type == "string" and isinstance(p.format, dict)]
    if propstrings:
        out.append(with_value(propstrings[0], "zz-no-such-key=1", "bad property string for"))

    patterned = [
        p for p in body if p.type == "string" and p.pattern and not p.format and _pattern_rejects_bad_text(p.pattern)
    ]
    if patterned:
        out.append(with_value(patterned[0], _BAD_TEXT, "pattern mismatch for"))

    for name in endpoint.path_params:
        param = endpoint.parameters.get(name)
        if param is None:
            continue
        bad = None
        if param.type == "integer":
            bad = "abc"
        elif param.format in ("pve-node", "pve-storage-id", "pve-configid", "pve-userid", "pve-realm"):
            bad = "-bad-"
        elif param.enum:
            bad = "definitely-not-in-enum"
        if bad is not None:
            # the valid call's path, with only this parameter's segment replaced
            segment = "{" + name + "}"
            bad_segments = [
                bad if t == segment else v
                for t, v in zip(endpoint.path.split("/"), valid.path.split("/"), strict=True)
            ]
            out.append(Call(method, "/".join(bad_segments), base, f"bad path parameter '{name}'"))
            break
    return out


def generate_corpus(schema: ApiSchema, seed: int = 0) -> tuple[list[Call], list[Call]]:
    """Valid and invalid calls for every endpoint whose parameters can be filled."""
    rng = random.Random(seed)
    valid: list[Call] = []
    invalid: list[Call] = []
    for endpoint in schema.endpoints:
        call = _valid_call(schema, endpoint, rng)
        if call is None:
            continue
        valid.append(call)
        invalid.extend(_invalid_calls(endpoint, call, rng))
    return valid, invalid
