"""``/storage`` (cluster storage config) and ``/nodes/{node}/storage/...`` (status and content)."""

from __future__ import annotations

from typing import Any

from ..errors import PVEError
from ..state import StorageDef
from .base import Call, route

_DIGEST = "5f1b4bd1a3c5e0f46e2b8a7c9d0e1f2a3b4c5d6e"


def _storage(call: Call, sid: str) -> StorageDef:
    sdef = call.cluster.state.storages.get(sid)
    if sdef is None:
        raise PVEError(500, f"storage '{sid}' does not exist")
    return sdef


@route("GET", "/storage")
def storage_index(call: Call) -> list[dict[str, Any]]:
    want = call.param("type")
    out = []
    for sid, sdef in call.cluster.state.storages.items():
        if want and sdef.type != want:
            continue
        if not call.can(f"/storage/{sid}", "Datastore.Audit", "Datastore.AllocateSpace"):
            continue
        out.append({**sdef.config(), "digest": _DIGEST})
    return out


@route("GET", "/storage/{storage}")
def storage_read(call: Call) -> dict[str, Any]:
    sdef = _storage(call, call.path_params["storage"])
    return {**sdef.config(), "digest": _DIGEST}


def _status(call: Call, sdef: StorageDef) -> dict[str, Any]:
    total, used = call.cluster.state.storage_usage(call.node_name, sdef.storage)
    return {
        "type": sdef.type,
        "content": ",".join(sorted(sdef.content)),
        "active": 1,
        "enabled": 1,
        "shared": sdef.shared,
        "total": total,
        "used": used,
        "avail": total - used,
    }


@route("GET", "/nodes/{node}/storage")
def node_storage(call: Call) -> list[dict[str, Any]]:
    wanted = {c for c in str(call.param("content") or "").split(",") if c}
    only = call.param("storage")
    out = []
    for sid, sdef in call.cluster.state.storages.items():
        if only and sid != only:
            continue
        if wanted and not wanted & set(sdef.content):
            continue
        if not call.can(f"/storage/{sid}", "Datastore.Audit", "Datastore.AllocateSpace"):
            continue
        entry = {"storage": sid, **_status(call, sdef)}
        entry["used_fraction"] = round(entry["used"] / entry["total"], 6) if entry["total"] else 0
        if call.flag("format"):
            entry["format"] = {"raw": 1} if sdef.type == "lvmthin" else {"qcow2": 1, "raw": 1, "vmdk": 1}
        out.append(entry)
    return out


@route("GET", "/nodes/{node}/storage/{storage}")
def node_storage_index(call: Call) -> list[dict[str, str]]:
    _storage(call, call.path_params["storage"])
    names = [
        "content",
        "download-url",
        "file-restore",
        "import-metadata",
        "prunebackups",
        "rrd",
        "rrddata",
        "status",
        "upload",
    ]
    return [{"subdir": n} for n in names]


@route("GET", "/nodes/{node}/storage/{storage}/status")
def node_storage_status(call: Call) -> dict[str, Any]:
    return _status(call, _storage(call, call.path_params["storage"]))


@route("GET", "/nodes/{node}/storage/{storage}/content")
def node_storage_content(call: Call) -> list[dict[str, Any]]:
    sid = call.path_params["storage"]
    sdef = _storage(call, sid)
    wanted = {c for c in str(call.param("content") or "").split(",") if c}
    vmid = call.param("vmid")
    state = call.cluster.state
    out: list[dict[str, Any]] = []
    for vol in state.files.get((call.node_name, sid), []):
        entry: dict[str, Any] = {
            "volid": vol.volid,
            "content": vol.content,
            "format": vol.format,
            "size": vol.size,
            "ctime": vol.ctime,
        }
        if vol.vmid is not None:
            entry["vmid"] = vol.vmid
        if vol.notes:
            entry["notes"] = vol.notes
        if vol.content == "backup":
            entry["protected"] = vol.protected
        out.append(entry)
    if sdef.type != "dir":
        for volid, size, owner, key in sorted(state.images(call.node_name, sid), key=lambda i: i[0]):
            entry = {
                "volid": volid,
                "content": "rootdir" if owner.kind == "lxc" and key != "vmstate" else "images",
                "format": "raw",
                "size": size,
                "vmid": owner.vmid,
                "ctime": int(call.now()) - 86400 * (owner.vmid % 30 + 1),
            }
            volname = volid.partition(":")[2]
            if "/" in volname:
                entry["parent"] = volname.split("/", 1)[0]
            out.append(entry)
    return [e for e in out if (not wanted or e["content"] in wanted) and (vmid is None or e.get("vmid") == int(vmid))]
