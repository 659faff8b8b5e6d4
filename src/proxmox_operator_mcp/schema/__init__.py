"""The vendored Proxmox VE API schema and a validator that checks requests as PVE does.

>>> schema = get_schema()                      # loaded once, on first use
>>> req = schema.validate("POST", "/nodes/pve1/qemu/100/status/start", {"skiplock": True})
>>> req.endpoint.returns_task, req.params
('yes', {'skiplock': 1})

The data (``data/pve-api-9.2.json.gz``) is Proxmox's, under AGPL-3.0-or-later: see
``data/NOTICE.md`` and ``data/PROVENANCE.md``. Importing this package reads no file; the
schema is loaded by :func:`get_schema`.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from ._model import ApiSchema, Endpoint, Param, ValidatedRequest
from .propstring import PropertyStringError, format_property_string, parse_property_string

__all__ = [
    "ApiSchema",
    "Endpoint",
    "Param",
    "PropertyStringError",
    "ValidatedRequest",
    "format_property_string",
    "get_schema",
    "load_schema",
    "parse_property_string",
]

PVE_VERSION = "9.2"
DATA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", f"pve-api-{PVE_VERSION}.json.gz")
_TASK_VALUES = {"yes": ("yes", False), "yes-inferred": ("yes", True), "upid-in-object": ("upid-in-object", False)}


@functools.cache
def get_schema() -> ApiSchema:
    """The PVE API schema, loaded from the vendored data on the first call and cached."""
    return load_schema(DATA_FILE)


def load_schema(path: str | os.PathLike[str]) -> ApiSchema:
    """Load a schema data file written by ``scripts/vendor_schema.py`` (uncached).

    Raises:
        OSError: the file cannot be read.
        ValueError: the file is not a schema data file of a supported format.
    """
    # Imported here, not at module level: importing the package must stay cheap.
    import gzip
    import json

    from . import formats

    with open(path, "rb") as fh:
        data: dict[str, Any] = json.loads(gzip.decompress(fh.read()))
    if data.get("format") != 1:
        raise ValueError(f"{path}: unsupported schema data format {data.get('format')!r}")

    raw_params: list[Any] = data["params"]
    returns: list[Any] = data["returns"]
    permissions: list[Any] = data["permissions"]
    formats.add_privileges(set(data.get("privileges", ())))

    cache: dict[tuple[str, int], Param] = {}

    def param(name: str, index: int) -> Param:
        key = (name, index)
        found = cache.get(key)
        if found is None:
            found = cache[key] = Param.from_schema(name, raw_params[index])
        return found

    endpoints: list[Endpoint] = []
    for e in data["endpoints"]:
        path_template: str = e["path"]
        path_params = tuple(seg[1:-1] for seg in path_template.split("/") if seg.startswith("{"))
        task, inferred = _TASK_VALUES.get(e["returns_task"], ("no", False))
        perm_index = e.get("permissions")
        endpoints.append(
            Endpoint(
                method=e["method"],
                path=path_template,
                description=e["description"],
                parameters={name: param(name, idx) for name, idx in e["parameters"].items()},
                returns=returns[e["returns"]],
                returns_task=task,
                permissions=permissions[perm_index] if perm_index is not None else None,
                allowtoken=bool(e["allowtoken"]),
                protected=bool(e["protected"]),
                proxyto=e.get("proxyto"),
                name=e.get("name", ""),
                path_params=path_params,
                additional_properties=e.get("additionalProperties"),
                returns_task_inferred=inferred,
                download_allowed=bool(e.get("download_allowed")),
                expose_credentials=bool(e.get("expose_credentials")),
            )
        )
    return ApiSchema(str(data["pve_version"]), endpoints, privileges=data.get("privileges", ()))
