#!/usr/bin/env python3
"""Vendor the official Proxmox VE API schema into a compact, deterministic data file.

Reads the PVE API tree (``apidoc.js`` format, re-serialised as ``schema.json``) and the
``endpoints.tsv`` that says which methods return a task UPID, and writes
``src/proxmox_operator_mcp/schema/data/``:

* ``pve-api-<version>.json.gz`` - one flat list of endpoints with only what validation,
  description and search need. Identical parameter and return schemas are stored once in
  shared tables and referenced by index, which keeps both the file and the loaded objects
  small. Output is byte-for-byte reproducible (sorted tables, gzip ``mtime=0``).
* ``PROVENANCE.md`` - where the data came from and how to regenerate it.
* ``NOTICE.md`` - the data's copyright and licence (AGPL-3.0-or-later, not ours).

Usage::

    python scripts/vendor_schema.py            # (re)write the data files
    python scripts/vendor_schema.py --check    # exit 1 if the committed files differ

Inputs default to ``$PVE_API_DIR`` or ``../shared/pve-api`` beside the repository.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PVE_VERSION = "9.2"
DATA_FORMAT = 1
REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "src" / "proxmox_operator_mcp" / "schema" / "data"
DATA_NAME = f"pve-api-{PVE_VERSION}.json.gz"
# ../shared/pve-api beside the repository (how every checkout and CI run has it).
DEFAULT_INPUT_DIR = Path(
    os.environ.get("PVE_API_DIR", str(Path(__file__).resolve().parent.parent.parent / "shared" / "pve-api"))
)

# Where the tree we vendor comes from (see the README next to schema.json).
UPSTREAM = {
    "repository": "https://github.com/fivetwenty-io/proxmox-apiclient-go",
    "file": "_data/apidoc.json",
    "commit": "28aa38d",
    "commit_subject": "feat: cover PVE 9.2 API surface and harden transport (2026-06-01)",
    "sha256": "d1d290ae989d0a634a10cea005b5df4eb07313624d86b2eeea7e481685d6730a",
    "origin": "pve-docs api-viewer/apidoc.js (pve.proxmox.com/pve-docs/api-viewer/)",
}

# PVE's API dump collapses numbered properties (net0, net1, ...) into ``net[n]`` and keeps
# no bound. The last valid index of each, from the constants that generate the keys:
INDEX_MAX = {
    # qemu-server
    "ide": 3,  # $MAX_IDE_DISKS = 4
    "sata": 5,  # $MAX_SATA_DISKS = 6
    "scsi": 30,  # $MAX_SCSI_DISKS = 31
    "virtio": 15,  # $MAX_VIRTIO_DISKS = 16
    "net": 31,  # $MAX_NETS = 32 (pve-container: $MAX_LXC_NETWORKS = 32)
    "ipconfig": 31,  # registered in the $MAX_NETS loop
    "serial": 3,  # $MAX_SERIAL_PORTS = 4
    "parallel": 2,  # $MAX_PARALLEL_PORTS = 3
    "hostpci": 15,  # $MAX_HOSTPCI_DEVICES = 16
    "usb": 13,  # $MAX_USB_DEVICES = 14 (0..4 on machine versions < 7.1)
    "numa": 7,  # $MAX_NUMA = 8
    "virtiofs": 9,  # $MAX_VIRTIOFS = 10
    "unused": 255,  # $MAX_UNUSED_DISKS = 256 (qemu-server and pve-container)
    # pve-container
    "mp": 255,  # $MAX_MOUNT_POINTS = 256
    "dev": 255,  # $MAX_DEVICES = 256
    # pve-cluster Corosync.pm: inclusive `for (0 .. MAX_LINK_INDEX)`, MAX_LINK_INDEX = 7
    "link": 7,
    # pve-manager NodeConfig.pm: inclusive `for my $i (0 .. $MAXDOMAINS)`, $MAXDOMAINS = 5
    "acmedomain": 5,
}

METHOD_ORDER = ("GET", "POST", "PUT", "DELETE")
TASK_VALUES = {"yes", "yes-inferred", "upid-in-object", "no"}
PRIVILEGE_RE = re.compile(
    r"^(?:VM|Sys|Datastore|SDN|Mapping|Pool|User|Group|Realm|Permissions)\.[A-Za-z][A-Za-z.]*$"
)


class VendorError(Exception):
    """The input does not look like what this script expects."""


def _walk_tree(nodes: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for node in nodes:
        yield node
        yield from _walk_tree(node.get("children") or [])


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _read_tasks(path: Path) -> dict[tuple[str, str], str]:
    tasks: dict[tuple[str, str], str] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) != 4 or cols[3] not in TASK_VALUES:
            raise VendorError(f"{path}:{lineno}: expected METHOD PATH N_PARAMS RETURNS_TASK")
        tasks[(cols[0], cols[1])] = cols[3]
    return tasks


def _collect_privileges(obj: Any, found: set[str]) -> None:
    if isinstance(obj, str):
        if PRIVILEGE_RE.match(obj):
            found.add(obj)
    elif isinstance(obj, list):
        for item in obj:
            _collect_privileges(item, found)
    elif isinstance(obj, dict):
        for item in obj.values():
            _collect_privileges(item, found)


def _prepare_parameter(method: str, path: str, name: str, schema: dict[str, Any]) -> dict[str, Any]:
    out = dict(schema)
    if name.endswith("[n]"):
        prefix = name[:-3]
        if prefix not in INDEX_MAX:
            raise VendorError(f"{method} {path}: no index bound known for '{name}' - add it to INDEX_MAX")
        out["x-index-max"] = INDEX_MAX[prefix]
    return out


def build(schema_path: Path, endpoints_path: Path) -> dict[str, bytes]:
    """Build every output file in memory: ``{file name: bytes}``."""
    tree = json.loads(schema_path.read_text(encoding="utf-8"))
    tasks = _read_tasks(endpoints_path)

    param_table: dict[str, int] = {}
    params: list[Any] = []
    returns_table: dict[str, int] = {}
    returns: list[Any] = []
    perm_table: dict[str, int] = {}
    perms: list[Any] = []
    privileges: set[str] = set()

    def intern(table: dict[str, int], store: list[Any], obj: Any) -> int:
        key = _canonical(obj)
        if key not in table:
            table[key] = len(store)
            store.append(obj)
        return table[key]

    endpoints: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for node in _walk_tree(tree):
        info = node.get("info") or {}
        for method in sorted(info, key=METHOD_ORDER.index):
            mi = info[method]
            path = node["path"]
            key = (method, path)
            if key not in tasks:
                raise VendorError(f"{method} {path} is missing from endpoints.tsv")
            seen.add(key)
            pschema = mi.get("parameters") or {}
            props = pschema.get("properties") or {}
            pmap: dict[str, int] = {}
            for pname, pdef in props.items():
                pmap[pname] = intern(param_table, params, _prepare_parameter(method, path, pname, pdef))
            # A few upstream schemas omit a path parameter; PVE passes it anyway, so record
            # it as a plain string to keep the endpoint callable.
            for pname in re.findall(r"\{([^}/]+)\}", path):
                if pname not in pmap:
                    pmap[pname] = intern(
                        param_table,
                        params,
                        {
                            "type": "string",
                            "description": "Path parameter (not described in the PVE schema).",
                            "x-synthesized": 1,
                        },
                    )
            entry: dict[str, Any] = {
                "method": method,
                "path": path,
                "name": mi.get("name", ""),
                "description": mi.get("description", ""),
                "parameters": pmap,
                "returns": intern(returns_table, returns, mi.get("returns") or {}),
                "returns_task": tasks[key],
                "allowtoken": int(mi.get("allowtoken", 1)),
                "protected": int(mi.get("protected", 0)),
            }
            if "additionalProperties" in pschema:
                entry["additionalProperties"] = pschema["additionalProperties"]
            if pschema.get("type"):
                entry["parameters_type"] = pschema["type"]
            if mi.get("permissions") is not None:
                entry["permissions"] = intern(perm_table, perms, mi["permissions"])
                _collect_privileges(mi["permissions"], privileges)
            for opt in ("proxyto", "download_allowed", "expose_credentials"):
                if mi.get(opt) is not None:
                    entry[opt] = mi[opt]
            endpoints.append(entry)

    missing = sorted(set(tasks) - seen)
    if missing:
        raise VendorError(f"endpoints.tsv lists methods the schema does not have: {missing[:5]}")

    data = {
        "format": DATA_FORMAT,
        "pve_version": PVE_VERSION,
        "source": {**UPSTREAM, "schema_json_sha256": _sha256(schema_path.read_bytes())},
        "privileges": sorted(privileges),
        "params": params,
        "returns": returns,
        "permissions": perms,
        "endpoints": endpoints,
    }
    raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(raw)
    blob = buf.getvalue()

    stats = {
        "endpoints": len(endpoints),
        "parameters": sum(len(e["parameters"]) for e in endpoints),
        "unique_parameters": len(params),
        "unique_returns": len(returns),
        "json_bytes": len(raw),
        "gzip_bytes": len(blob),
    }
    return {
        DATA_NAME: blob,
        "PROVENANCE.md": _provenance(schema_path, endpoints_path, blob, stats).encode("utf-8"),
        "NOTICE.md": NOTICE.encode("utf-8"),
    }


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _provenance(schema_path: Path, endpoints_path: Path, blob: bytes, stats: dict[str, int]) -> str:
    return f"""# Provenance of the vendored Proxmox VE API schema

`{DATA_NAME}` is a compact, machine-generated form of the official Proxmox VE
**{PVE_VERSION}** API schema. Do not edit it by hand: regenerate it.

## Source

- Upstream format: the `apiSchema` tree that `pve-docs` ships as `api-viewer/apidoc.js`
  ({UPSTREAM["origin"]}).
- Taken from: {UPSTREAM["repository"]}, file `{UPSTREAM["file"]}`, commit `{UPSTREAM["commit"]}`
  ("{UPSTREAM["commit_subject"]}").
- sha256 of that file as committed upstream (minified): `{UPSTREAM["sha256"]}`.
- Input used here: `schema.json` (the same tree re-serialised with `indent=1`, identical
  after parsing), sha256 `{_sha256(schema_path.read_bytes())}`, and `endpoints.tsv`
  (method, path, parameter count, "returns a task UPID"), sha256
  `{_sha256(endpoints_path.read_bytes())}`.
- PVE version described: {PVE_VERSION} (point release not recorded upstream).

## What the compact form keeps

{stats["endpoints"]} endpoints (method + path template) with description, handler name,
parameters ({stats["parameters"]} in total, {stats["unique_parameters"]} distinct schemas,
stored once each), return schemas ({stats["unique_returns"]} distinct), permissions,
`allowtoken`, `protected`, `proxyto`, and whether the method returns a task UPID
(`endpoints.tsv` column 4; `yes-inferred` marks UPID returns inferred from the
description). Property-string `format` dictionaries are kept whole. The tree structure
(`children`, `leaf`, `text`) is dropped.

Additions made by the script, all marked with an `x-` key:

- `x-index-max` on indexed parameters such as `net[n]`: the last valid index, which
  the upstream dump does not carry (the table and its PVE sources are in
  `scripts/vendor_schema.py`).
- `x-synthesized` for the few path parameters the upstream schema omits
  (e.g. `{{url_seq}}` in `/cluster/sdn/prefix-lists/{{id}}/entries/{{url_seq}}`).

Uncompressed JSON: {stats["json_bytes"]} bytes; gzip: {stats["gzip_bytes"]} bytes,
sha256 `{_sha256(blob)}`.

## How to regenerate

```sh
# inputs: schema.json (the apidoc tree as JSON) and endpoints.tsv, in $PVE_API_DIR
python scripts/vendor_schema.py            # rewrites this folder
python scripts/vendor_schema.py --check    # exits 1 if the committed files differ
```

To take a newer schema, copy `/usr/share/pve-docs/api-viewer/apidoc.js` from a PVE node
(or the public api-viewer), parse the array after `apiSchema =` with a JSON raw-decode
from the first `[`, write it as `schema.json`, update `endpoints.tsv`, `PVE_VERSION` and
`UPSTREAM` in the script, and run it. The output is deterministic (gzip `mtime=0`).
"""


NOTICE = """# Notice: third-party data

The files in this folder other than this notice and `PROVENANCE.md` contain the
**Proxmox VE API schema**, Copyright (C) Proxmox Server Solutions GmbH.

- Licence: **GNU Affero General Public License v3.0 or later** (AGPL-3.0-or-later), as
  stated for `*.js` (which includes `api-viewer/apidata.js` / `apidoc.js`) in the
  `debian/copyright` of the official `pve-docs` repository.
- It is **not** covered by this project's Apache-2.0 licence. It is included, in a
  reformatted and reduced form, as data that the validator reads at run time.
- Official source: the `pve-docs` package and its git repository,
  https://git.proxmox.com/?p=pve-docs.git (mirror: https://github.com/proxmox/pve-docs),
  file `api-viewer/apidata.js`; rendered at https://pve.proxmox.com/pve-docs/api-viewer/ .
  The code that defines the schema lives in the Proxmox VE repositories on
  https://git.proxmox.com (pve-manager, qemu-server, pve-container, pve-storage,
  pve-access-control, pve-common, pve-cluster, pve-network, pve-firewall, pve-ha-manager).
- The AGPL-3.0 text: https://www.gnu.org/licenses/agpl-3.0.txt

See `PROVENANCE.md` for the exact upstream file and how this copy was produced.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schema", type=Path, default=DEFAULT_INPUT_DIR / "schema.json")
    parser.add_argument("--endpoints", type=Path, default=DEFAULT_INPUT_DIR / "endpoints.tsv")
    parser.add_argument("--out", type=Path, default=DATA_DIR)
    parser.add_argument("--check", action="store_true", help="exit 1 if the files on disk differ")
    args = parser.parse_args(argv)

    try:
        files = build(args.schema, args.endpoints)
    except (OSError, ValueError, VendorError) as exc:
        print(f"vendor_schema: {exc}", file=sys.stderr)
        return 2

    if args.check:
        stale = [
            name
            for name, data in files.items()
            if not (args.out / name).is_file() or (args.out / name).read_bytes() != data
        ]
        if stale:
            print(
                "vendor_schema: out of date: "
                + ", ".join(stale)
                + " - run `python scripts/vendor_schema.py`",
                file=sys.stderr,
            )
            return 1
        print("vendor_schema: data files are up to date", file=sys.stderr)
        return 0

    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (args.out / name).write_bytes(data)
        print(f"wrote {args.out / name} ({len(data)} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
