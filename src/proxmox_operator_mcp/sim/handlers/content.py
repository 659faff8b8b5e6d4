"""``DELETE /nodes/{node}/storage/{storage}/content/{volume}``: delete a file volume of a ``dir``
storage (ISO, template, backup, snippet) in a task (``imgdel``), as PVE does. A snippet of storage
``local`` is also removed from ``/var/lib/vz/snippets`` of the node's file tree."""

from __future__ import annotations

from typing import Any

from ..errors import PVEError, TaskFailure
from .base import Call, route

_SNIPPETS = "/var/lib/vz/snippets"


@route("DELETE", "/nodes/{node}/storage/{storage}/content/{volume}")
def content_delete(call: Call) -> str:
    st = call.cluster.state
    sid = call.path_params["storage"]
    if sid not in st.storages:
        raise PVEError(500, f"storage '{sid}' does not exist")
    volume = call.path_params["volume"]
    volid = volume if ":" in volume else f"{sid}:{volume}"
    vols = st.files.get((call.node_name, sid), [])
    vol = next((v for v in vols if v.volid == volid), None)
    if vol is None:
        raise PVEError(500, f"volume '{volid}' does not exist")
    if getattr(vol, "protected", False):
        raise PVEError(500, "unable to delete protected backup")
    node = call.node_name

    def finish(task: Any) -> None:
        if vol not in vols:
            raise TaskFailure(f"volume '{volid}' does not exist")
        if vol.content == "snippets" and sid == "local":
            try:
                call.cluster.fs.remove(node, f"{_SNIPPETS}/{volid.split('/', 1)[1]}")
            except FileNotFoundError:
                pass
        if vol in vols:
            vols.remove(vol)

    return call.cluster.start_task(node, "imgdel", volid.split(":", 1)[1].replace("/", "-"), call.authid, lines=[f"removing volume '{volid}'"],
                                   finish=finish).upid
