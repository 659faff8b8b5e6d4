"""PVE property strings: ``virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1``.

A faithful port of ``parse_property_string`` and ``print_property_string`` from pve-common
``PVE/JSONSchema.pm``. A *format* is the dictionary the schema gives as a parameter's
``format``: key name -> key schema, where a key schema may carry ``default_key`` (the value
may be given without ``key=``), ``alias`` (another name for a key), ``keyAlias`` (the key name
itself is stored as the value of another key, as in ``virtio=<mac>`` for ``model`` +
``macaddr``), ``optional``, ``format_description`` and the usual type constraints.

Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from . import _check

__all__ = [
    "PropertyStringError",
    "default_key",
    "format_from_typetext",
    "format_property_string",
    "parse_boolean",
    "parse_property_string",
]

Format = Mapping[str, Mapping[str, Any]]


class PropertyStringError(ValueError):
    """A property string does not fit its format.

    ``message`` is PVE's text (``"invalid key in comma-separated list property: foo"`` or
    ``"format error"``); ``errors`` maps ``<path>.<key>`` to a message for key-level errors.
    """

    def __init__(self, message: str, errors: Mapping[str, str] | None = None) -> None:
        self.message = message
        self.errors = dict(errors or {})
        detail = "; ".join(f"{k}: {v}" for k, v in sorted(self.errors.items()))
        super().__init__(f"{message} - {detail}" if detail else message)


def parse_boolean(text: str) -> int | None:
    """``PVE::JSONSchema::parse_boolean``: 1/on/yes/true -> 1, 0/off/no/false -> 0, else None."""
    low = text.lower()
    if low in ("1", "on", "yes", "true"):
        return 1
    if low in ("0", "off", "no", "false"):
        return 0
    return None


def default_key(fmt: Format) -> str | None:
    """The key whose value may be written without ``key=``, if the format has one."""
    for key, schema in fmt.items():
        if schema.get("default_key"):
            return key
    return None


def _key_aliases(fmt: Format) -> dict[str, str]:
    """``{keyAlias: alias}``, e.g. ``{"model": "macaddr"}`` for network devices."""
    out: dict[str, str] = {}
    for schema in fmt.values():
        if schema.get("alias") and schema.get("keyAlias"):
            out[str(schema["keyAlias"])] = str(schema["alias"])
    return out


def _parse_raw(text: str, fmt: Format) -> dict[str, Any]:
    res: dict[str, Any] = {}
    dkey: str | None = None
    for part in text.split(","):
        if re.match(r"^\s*$", part):
            continue
        m = re.match(r"^([^=]+)=(.+)$", part)
        if m:
            key, value = m.group(1), m.group(2)
            if res.get(key) is not None:
                raise PropertyStringError(f"duplicate key in comma-separated list property: {key}")
            schema = fmt.get(key)
            if schema is not None and schema.get("alias"):
                key_alias = schema.get("keyAlias")
                if key_alias:
                    if res.get(key_alias) is not None:
                        raise PropertyStringError(f"key alias '{key_alias}' is already defined")
                    res[key_alias] = key
                key = str(schema["alias"])
                schema = fmt.get(key)
            if schema is None:
                raise PropertyStringError(f"invalid key in comma-separated list property: {key}")
            if schema.get("type") == "boolean":
                parsed = parse_boolean(value)
                res[key] = parsed if parsed is not None else value
            else:
                res[key] = value
        elif "=" not in part:
            if dkey:
                raise PropertyStringError(f"duplicate key in comma-separated list property: {dkey}")
            dkey = default_key(fmt)
            if dkey is None:
                raise PropertyStringError("value without key, but schema does not define a default key")
            if res.get(dkey):
                raise PropertyStringError(f"duplicate key in comma-separated list property: {dkey}")
            res[dkey] = part
        else:
            raise PropertyStringError("missing key in comma-separated list property")
    return res


def parse_property_string(
    text: str,
    fmt: Format,
    *,
    path: str = "",
    additional_properties: bool = False,
    format_name: str | None = None,
) -> dict[str, Any]:
    """Parse and validate a property string against ``fmt``.

    Values are returned as PVE returns them: strings, except booleans (``1``/``0``, also
    accepted as yes/no/on/off/true/false) and integers/numbers, which are converted.
    ``path`` prefixes key names in errors (PVE uses the parameter name, e.g. ``net0``).
    ``format_name`` names a registered format whose extra validator should run too.

    Raises:
        PropertyStringError: on a syntax error or when a key value is invalid.
    """
    res = _parse_raw(text, fmt)
    errors: dict[str, str] = {}
    normalized = _check.check_object(path, fmt, res, additional_properties, errors)
    if errors:
        raise PropertyStringError("format error", errors)
    if format_name:
        from .formats import PROPERTY_FORMAT_VALIDATORS, FormatError

        validator = PROPERTY_FORMAT_VALIDATORS.get(format_name)
        if validator is not None:
            try:
                validator(normalized)
            except FormatError as exc:
                raise PropertyStringError(str(exc)) from None
    return normalized


def _format_size(size: int) -> str:
    """``PVE::JSONSchema::format_size``: bytes -> the largest exact K/M/G/T unit."""
    size = int(size)
    suffix = ""
    for unit in ("K", "M", "G", "T"):
        if size % 1024:
            return f"{size}{suffix}"
        size //= 1024
        suffix = unit
    return f"{size}T"


def _value_text(key: str, value: Any, key_format: Any) -> str:
    if key_format == "disk-size" and (
        (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value.isdigit())
    ):
        return _format_size(int(value))
    text = _check.scalar_text(value)
    if "," in text:
        raise PropertyStringError(f"illegal value with commas for {key}")
    return text


def format_property_string(values: Mapping[str, Any], fmt: Format, *, skip: Iterable[str] = ()) -> str:
    """Render ``values`` as a property string, in PVE's canonical order.

    The default key comes first (without ``key=``; combined with its ``keyAlias`` partner, as
    in ``virtio=BC:24:11:00:00:01``), then the required keys, then the rest, alphabetically.
    ``None`` values are left out; booleans are written as ``1``/``0``; an integer for a
    ``disk-size`` key is written in the largest exact unit (``34359738368`` -> ``32G``).

    Raises:
        PropertyStringError: for unknown keys, invalid values or values containing commas.
    """
    data = {k: v for k, v in values.items() if v is not None}
    errors: dict[str, str] = {}
    _check.check_object("", fmt, data, None, errors)
    unknown = [k for k in data if k not in fmt]
    if unknown:
        raise PropertyStringError(f"invalid key '{unknown[0]}'")
    if errors:
        raise PropertyStringError("format error", errors)

    dkey = default_key(fmt)
    key_aliases = _key_aliases(fmt)
    parts: list[str] = []
    done = set(skip)

    def add(key: str, is_default: bool = False) -> None:
        if key in done:
            return
        done.add(key)
        value = data.get(key)
        if value is None:
            return
        schema = fmt.get(key)
        combine = key_aliases.get(key)
        if combine is not None and data.get(combine) is not None:
            left = _value_text(key, value, (schema or {}).get("format"))
            right = _value_text(combine, data[combine], fmt.get(combine, {}).get("format"))
            parts.append(f"{left}={right}")
            done.add(combine)
            return
        if schema is not None and schema.get("alias"):
            schema = fmt.get(str(schema["alias"]))
        if schema is None:
            raise PropertyStringError(f"invalid key '{key}'")
        text = _value_text(key, value, schema.get("format"))
        parts.append(text if is_default else f"{key}={text}")

    if dkey is not None:
        add(dkey, True)
    for key in sorted(data):
        schema = fmt.get(key)
        if schema is not None and not schema.get("optional"):
            add(key)
    for key in sorted(data):
        add(key)
    return ",".join(parts)


def _outer_bracket_is_whole(text: str) -> bool:
    if not text.startswith("["):
        return False
    depth = 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                return i == len(text) - 1
    return False


_ENUM_WORD = re.compile(r"^[A-Za-z0-9_./+]+$")


def _schema_from_typetext(text: str) -> dict[str, Any]:
    if text == "<1|0>":
        return {"type": "boolean"}
    if text.startswith("<integer>"):
        return {"type": "integer"}
    if text.startswith("<number>"):
        return {"type": "number"}
    out: dict[str, Any] = {"type": "string", "typetext": text}
    if text.startswith("<") and text.endswith(">") and "|" in text:
        words = text[1:-1].split("|")
        if all(_ENUM_WORD.match(w) for w in words):
            out["enum"] = words
    return out


def format_from_typetext(typetext: str) -> dict[str, dict[str, Any]]:
    """Rebuild a format dictionary from the ``typetext`` PVE generated for it.

    PVE's ``generate_typetext`` writes ``[key=]<desc>`` for the default key, ``key=<desc>``
    for the others, wraps optional keys in brackets and separates keys with `` ,``. That is
    enough to recover the key names, which keys are optional, the default key, and booleans
    (``<1|0>``), integers, numbers and short enums. Aliases are not visible in a typetext.
    """
    fmt: dict[str, dict[str, Any]] = {}
    for item in re.split(r"\s+(?=\[?,)", typetext.strip()):
        text = item.strip()
        optional = _outer_bracket_is_whole(text)
        if optional:
            text = text[1:-1]
        text = text.lstrip(",")
        is_default = False
        m = re.match(r"^\[([^=\]]+)=\](.*)$", text)
        if m:
            key, rest = m.group(1), m.group(2)
            is_default = True
        elif text.startswith("<") and ">=<" in text:
            continue  # "<keyAlias>=<alias>": the members are not listed
        elif "=" in text:
            key, rest = text.split("=", 1)
        else:
            continue
        schema = _schema_from_typetext(rest)
        if optional:
            schema["optional"] = 1
        if is_default:
            schema["default_key"] = 1
        fmt[key] = schema
    return fmt
