"""Value checks as ``check_prop`` / ``check_object`` in pve-common ``PVE/JSONSchema.pm`` do them.

Works on the raw schema dictionaries of the vendored API schema and returns each value
normalised for the wire: booleans as ``0``/``1`` ints, integers as ``int``, numbers as
``float``, strings as ``str``, arrays as lists of strings. Error texts are PVE's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from . import formats, propstring

__all__ = ["INVALID", "check_object", "check_parameters", "check_prop", "num_text", "scalar_text"]

_INTEGER_RE = re.compile(r"^[+-]?[0-9]+$")
_NUMBER_RE = re.compile(r"^[+-]?([0-9]+\.[0-9]+|[0-9]+\.|\.[0-9]+|[0-9]+)([eE][+-]?[0-9]+)?$")
_INDEXED_RE = re.compile(r"^([a-z]+)(0|[1-9][0-9]*)$")
_NOT_DEFINED = "property is not defined in schema and the schema does not allow additional properties"


class _Invalid:
    __slots__ = ()

    def __repr__(self) -> str:
        return "INVALID"


INVALID: Any = _Invalid()


def num_text(value: float | int) -> str:
    """A number the way Perl prints it: ``100``, ``0.5``."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def scalar_text(value: Any) -> str:
    """The wire text of a scalar: booleans as ``1``/``0``, numbers as Perl prints them."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return num_text(value)
    return str(value)


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return scalar_text(value)


def add_error(errors: dict[str, str], path: str, msg: str) -> None:
    path = path or "_root"
    errors[path] = f"{errors[path]}; {msg}" if path in errors else msg


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _to_number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _property_format(schema: Mapping[str, Any]) -> tuple[Mapping[str, Any] | None, str | None]:
    """The key dictionary for a property-string parameter (inline or named), and its name."""
    fmt = schema.get("format")
    if isinstance(fmt, Mapping):
        return fmt, None
    if isinstance(fmt, str):
        return formats.named_property_format(fmt, schema.get("typetext")), fmt
    return None, None


def _check_one_of(
    value: Any, schema: Mapping[str, Any], path: str, errors: dict[str, str], instance_type: Any
) -> tuple[bool, Any]:
    """Handle ``oneOf``; returns (optional_for_type, normalised value from a matching variant)."""
    alternatives = schema.get("oneOf") or []
    if schema.get("type-property"):
        if instance_type is None:
            return True, None  # treated as optional when the type is not known
        optional_for_type = True
        result: Any = None
        for alt in alternatives:
            types = alt.get("instance-types")
            if types is None:
                add_error(errors, path, "missing 'instance-types' in oneOf alternative")
                return True, INVALID
            if scalar_text(instance_type) not in types:
                continue
            optional_for_type = bool(alt.get("optional"))
            checked = check_prop(value, alt, path, errors)
            if result is None:
                result = checked
        return optional_for_type, result
    collected: dict[str, str] = {}
    for i, alt in enumerate(alternatives):
        inner: dict[str, str] = {}
        checked = check_prop(value, alt, f"{path}.oneOf[{i}]", inner)
        if not inner:
            return False, checked
        collected.update(inner)
    for key, msg in collected.items():
        add_error(errors, key, msg)
    return False, INVALID


def check_prop(
    value: Any,
    schema: Mapping[str, Any],
    path: str,
    errors: dict[str, str],
    instance_type: Any = None,
) -> Any:
    """Check one value against one property schema.

    Adds PVE-style messages to ``errors`` (keyed by ``path``) and returns the value
    normalised for the wire, ``None`` when the value is absent, or :data:`INVALID`.
    """
    optional_for_type = False
    variant: Any = None
    if schema.get("oneOf"):
        optional_for_type, variant = _check_one_of(value, schema, path, errors, instance_type)
        if variant is INVALID:
            return INVALID

    if value is None:
        if schema.get("type") == "null":
            return None
        if not (schema.get("optional") or schema.get("alias") or schema.get("group") or optional_for_type):
            add_error(errors, path, "property is missing and it is not optional")
        return None

    typ = schema.get("type")
    fmt_dict, fmt_name = _property_format(schema)

    if isinstance(value, (list, tuple)):
        if typ == "array":
            return _check_array(value, schema, path, errors) if variant is None else variant
        fmt = schema.get("format")
        if typ == "string" and isinstance(fmt, str) and fmt.endswith("-list"):
            # like the CLI: "--vmid 100 --vmid 101" is the same as "--vmid 100,101"
            value = ",".join(scalar_text(v) for v in value)
        elif typ in (None, "any"):
            return [scalar_text(v) for v in value]
        else:
            add_error(errors, path, f"type check ('{typ}') failed - got ARRAY")
            return INVALID
    elif isinstance(value, Mapping):
        if typ == "object" or (typ is None and (schema.get("properties") or schema.get("additionalProperties"))):
            return check_object(
                path, schema.get("properties") or {}, value, schema.get("additionalProperties"), errors
            )
        if typ in ("string", None) and fmt_dict is not None:
            try:
                value = propstring.format_property_string(value, fmt_dict)
            except propstring.PropertyStringError as exc:
                add_error(errors, path, f"invalid format - {exc}")
                return INVALID
        else:
            add_error(errors, path, f"type check ('{typ}') failed - got HASH")
            return INVALID
    elif typ == "array":
        return _check_array([value], schema, path, errors) if variant is None else variant
    elif typ == "object":
        add_error(errors, path, "type check ('object') failed")
        return INVALID

    normalized: Any
    if typ == "boolean":
        flag = _boolean(value)
        if flag is None:
            add_error(errors, path, f"type check ('boolean') failed - got '{_shown(value)}'")
            return INVALID
        normalized, text = flag, str(flag)
    elif typ == "integer":
        number = _integer(value)
        if number is None:
            add_error(errors, path, f"type check ('integer') failed - got '{_shown(value)}'")
            return INVALID
        normalized, text = number, str(number)
    elif typ == "number":
        real = _number(value)
        if real is None:
            add_error(errors, path, f"type check ('number') failed - got '{_shown(value)}'")
            return INVALID
        normalized, text = real, num_text(real)
    elif typ == "null":
        add_error(errors, path, "type check ('null') failed - value is not null")
        return INVALID
    else:
        if isinstance(value, bool) and typ == "string":
            add_error(errors, path, f"type check ('string') failed - got a boolean ({_shown(value)})")
            return INVALID
        text = scalar_text(value)
        normalized = text

    fmt = schema.get("format")
    if fmt:
        try:
            if fmt_dict is not None:
                propstring.parse_property_string(text, fmt_dict, path=path, format_name=fmt_name)
            elif isinstance(fmt, str):
                formats.check_named_format(fmt, text)
        except (propstring.PropertyStringError, formats.FormatError) as exc:
            add_error(errors, path, f"invalid format - {exc}")
            return INVALID

    pattern = schema.get("pattern")
    if pattern and not formats.perl_regex(str(pattern)).search(text):
        add_error(errors, path, "value does not match the regex pattern")
        return INVALID

    max_length = schema.get("maxLength")
    if max_length is not None and len(text) > int(max_length):
        add_error(errors, path, f"value may only be {max_length} characters long")
        return INVALID
    min_length = schema.get("minLength")
    if min_length is not None and len(text) < int(min_length):
        add_error(errors, path, f"value must be at least {min_length} characters long")
        return INVALID

    if _NUMBER_RE.match(text):
        as_number = float(text)
        maximum = _to_number(schema.get("maximum"))
        if maximum is not None and as_number > maximum:
            add_error(errors, path, f"value must have a maximum value of {num_text(maximum)}")
            return INVALID
        minimum = _to_number(schema.get("minimum"))
        if minimum is not None and as_number < minimum:
            add_error(errors, path, f"value must have a minimum value of {num_text(minimum)}")
            return INVALID

    enum = schema.get("enum")
    if enum and text not in {scalar_text(e) for e in enum}:
        choices = ", ".join(scalar_text(e) for e in enum)
        add_error(errors, path, f"value '{text}' does not have a value in the enumeration '{choices}'")
        return INVALID

    return normalized if variant is None else variant


def _boolean(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value if value in (0, 1) else None
    if isinstance(value, float):
        return int(value) if value in (0.0, 1.0) else None
    if isinstance(value, str):
        return propstring.parse_boolean(value.strip()) if value.strip() == value else None
    return None


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str) and _INTEGER_RE.match(value) and "\n" not in value:
        return int(value)
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        real = float(value)
        return real if math.isfinite(real) else None
    if isinstance(value, str) and _NUMBER_RE.match(value) and "\n" not in value:
        real = float(value)
        return real if math.isfinite(real) else None
    return None


def _wire_text(value: Any) -> Any:
    return value if isinstance(value, str) else scalar_text(value)


def _check_array(values: Any, schema: Mapping[str, Any], path: str, errors: dict[str, str]) -> Any:
    items = schema.get("items")
    out: list[str] = []
    failed = False
    for i, element in enumerate(values):
        if isinstance(items, Mapping):
            checked = check_prop(element, items, f"{path}[{i}]", errors)
            if checked is INVALID or checked is None:
                failed = True
                continue
            out.append(_wire_text(checked))
        else:
            out.append(scalar_text(element))
    return INVALID if failed else out


def _type_of(schema: Mapping[str, Any], value: Mapping[str, Any]) -> Any:
    prop = schema.get("type-property")
    return value.get(prop) if prop else None


def check_object(
    path: str,
    schema: Mapping[str, Mapping[str, Any]],
    value: Mapping[str, Any],
    additional_properties: Any,
    errors: dict[str, str],
    *,
    not_defined_hint: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Check a dict of values against ``{key: schema}`` (``check_object``); returns the normalised dict."""
    out: dict[str, Any] = {}
    for key, sub in schema.items():
        checked = check_prop(value.get(key), sub, _join(path, key), errors, _type_of(sub, value))
        if checked is not None and checked is not INVALID:
            out[key] = checked
    for key in value:
        newpath = _join(path, key)
        sub = schema.get(key)
        if sub is not None:
            requires = sub.get("requires")
            if isinstance(requires, Mapping):
                check_prop(value, requires, path, errors)
            elif requires and value.get(requires) is None:
                add_error(errors, _join(path, str(requires)), f"missing property - '{newpath}' requires this property")
            matched = True
            if sub.get("oneOf"):
                instance_type = _type_of(sub, value)
                matched = any(
                    "instance-types" not in alt
                    or (instance_type is not None and scalar_text(instance_type) in alt["instance-types"])
                    for alt in sub["oneOf"]
                )
            if matched:
                continue
        if additional_properties is not None and not additional_properties:
            hint = (not_defined_hint or {}).get(key)
            add_error(errors, newpath, f"{_NOT_DEFINED} ({hint})" if hint else _NOT_DEFINED)
            continue
        if isinstance(additional_properties, Mapping):
            checked = check_prop(value[key], additional_properties, newpath, errors)
            if checked is not None and checked is not INVALID:
                out[key] = checked
        elif value[key] is not None:
            element = value[key]
            if isinstance(element, (list, tuple)):
                out[key] = [scalar_text(v) for v in element]
            elif isinstance(element, Mapping):
                add_error(errors, newpath, "type check ('string') failed - got HASH")
            else:
                out[key] = scalar_text(element)
    return out


def expand_indexed(properties: Mapping[str, Mapping[str, Any]], key: str) -> str | None:
    """The schema key for an instance key: ``net0`` -> ``net[n]`` if ``0 <= 0 <= x-index-max``."""
    if key in properties and not key.endswith("[n]"):
        return key
    m = _INDEXED_RE.match(key)
    if m is None:
        return None
    template = f"{m.group(1)}[n]"
    schema = properties.get(template)
    if schema is None:
        return None
    index_max = schema.get("x-index-max")
    if index_max is not None and int(m.group(2)) > int(index_max):
        return None
    return template


def _indexed_hint(properties: Mapping[str, Mapping[str, Any]], key: str) -> str | None:
    m = re.match(r"^([a-z]+)(?:\[n\]|\d+)$", key)
    if m is None:
        return None
    schema = properties.get(f"{m.group(1)}[n]")
    if schema is None:
        return None
    index_max = schema.get("x-index-max")
    upper = f"{m.group(1)}{index_max}" if index_max is not None else f"{m.group(1)}<n>"
    return f"use {m.group(1)}0 .. {upper}"


def check_parameters(
    properties: Mapping[str, Mapping[str, Any]],
    additional_properties: Any,
    instance: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, str]]:
    """Validate a whole request (path and body parameters together), as PVE does."""
    expanded: dict[str, Mapping[str, Any]] = {k: v for k, v in properties.items() if not k.endswith("[n]")}
    hints: dict[str, str] = {}
    for key in instance:
        template = expand_indexed(properties, key)
        if template is not None and template != key:
            expanded[key] = properties[template]
        elif template is None:
            hint = _indexed_hint(properties, key)
            if hint:
                hints[key] = hint
    errors: dict[str, str] = {}
    if not properties and additional_properties is None:
        # a parameter schema without properties and without additionalProperties checks nothing
        return {k: _passthrough(v) for k, v in instance.items()}, errors
    normalized = check_object("", expanded, instance, additional_properties, errors, not_defined_hint=hints)
    return normalized, errors


def _passthrough(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [scalar_text(v) for v in value]
    return value if isinstance(value, (str, Mapping)) else scalar_text(value)
