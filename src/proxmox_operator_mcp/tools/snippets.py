"""Cloud-init snippets: files of a storage's ``snippets`` content (user data, network config,
hook scripts) that VMs reference as ``cicustom: user=local:snippets/NAME``.

REST lists and deletes them (storage content), but cannot write them (the upload endpoint takes
only iso, vztmpl and import), so reading and writing go over the file plane (SFTP): the file is
``<storage path>/snippets/NAME`` (``/var/lib/vz/snippets/NAME`` for ``local``). Writes are atomic
and admin-only, as ``proxmox_file_write``.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any
from urllib.parse import quote

from pydantic import Field

from ..errors import InvalidArgumentError
from ..operation import Operation
from .base import Input, Output, ToolContext, ToolSpec, tool
from .common import started
from .domain import ItemsOut, ListIn, act, paged, require
from .files import _policy, encode_content
from .nodeaccess import admin_only, node_target, submit_op

__all__ = ["TOOLS"]

MAX_SNIPPET = 1024 * 1024
# Compact on purpose (tools/list size): the patterns keep path segments safe, the names say the rest.
Node = Annotated[str | None, Field(None, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9\-]{0,62}$", max_length=63)]


class SnipListIn(Input):
    storage: str = Field("local", pattern=r"^[a-zA-Z][\w\-.]{0,63}$", max_length=64)
    node: Node = None


class SnipIn(SnipListIn):
    name: str = Field(pattern=r"^\w[\w.\-]{0,127}$", max_length=128, description="e.g. user-data.yaml")


class SnipPutIn(SnipIn):
    content: str = Field(max_length=MAX_SNIPPET, json_schema_extra={"maxLength": None})
    expect_sha256: str | None = Field(None, pattern=r"^(?:[0-9a-fA-F]{64})?$", description='From get; "": must be new')


class SnipOut(Output):
    volid: str
    node: str
    size: int
    sha256: str
    content: str | None = None


class SnipDelOut(Output):
    volid: str
    job: str | None = None
    ok: bool | None = None


async def _dir(ctx: ToolContext, storage: str) -> str:
    """The snippets directory of ``storage`` on the node.

    Raises:
        InvalidArgumentError: the storage does not hold snippets or has no directory.
    """
    conf = await ctx.api("GET", f"/storage/{storage}") or {}
    content = str(conf.get("content") or "").split(",")
    require("snippets" in content, f"storage {storage!r} does not hold snippets (content: {','.join(content)})",
            "Use a dir-type storage with content snippets, e.g. local.")
    path = conf.get("path") or ("/var/lib/vz" if storage == "local" else None)
    require(bool(path) and str(path).startswith("/"), f"storage {storage!r} has no directory on the node")
    return f"{str(path).rstrip('/')}/snippets"


async def snippet_list(ctx: ToolContext, args: SnipListIn) -> ItemsOut:
    """Cloud-init snippets of a storage (default local)."""
    node = ctx.default_node(args.node)
    rows = await ctx.api("GET", f"/nodes/{node}/storage/{args.storage}/content", {"content": "snippets"}, node=node)
    return paged(list(rows or []), ListIn(limit=500), "volid")


async def snippet_get(ctx: ToolContext, args: SnipIn) -> SnipOut:
    """Read a cloud-init snippet over SFTP; sha256 guards a put."""
    node = node_target(ctx, args.node).node
    path = f"{await _dir(ctx, args.storage)}/{args.name}"
    op = Operation(cluster=ctx.cluster.name, plane="file", method="GET", path=path, node=node,
                   params={"max_bytes": MAX_SNIPPET}, read_only=True, targets=(f"{path} on {node}",),
                   tool=ctx.tool_name)
    got = await submit_op(ctx, op)
    encoding, text = encode_content(got.data)
    if encoding != "utf-8":
        raise InvalidArgumentError(f"{path} is not text", hint="Read it with proxmox_file_read (base64).")
    return SnipOut(volid=f"{args.storage}:snippets/{args.name}", node=node, size=got.size,
                   sha256=hashlib.sha256(got.data).hexdigest(), content=text)


async def snippet_put(ctx: ToolContext, args: SnipPutIn) -> SnipOut:
    """Create or replace a cloud-init snippet (atomic SFTP write)."""
    from ..transports.files import DEFAULT_FILE_POLICY, check_path, discard, stage

    node = node_target(ctx, args.node).node
    path = f"{await _dir(ctx, args.storage)}/{args.name}"
    check_path(path, _policy(ctx) or DEFAULT_FILE_POLICY, write=True)
    data = args.content.encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()
    token = stage(data)
    try:
        op = Operation(cluster=ctx.cluster.name, plane="file", method="PUT", path=path, node=node,
                       params={"size": len(data), "sha256": digest, "content": token, "backup": False,
                               "mode": None, "expect_sha256": args.expect_sha256},
                       read_only=False, destructive=True,
                       targets=(f"{path} on {node} ({len(data)} bytes, sha256 {digest[:16]}…)",), tool=ctx.tool_name)
        done = await submit_op(ctx, op)
    finally:
        discard(token)
    return SnipOut(volid=f"{args.storage}:snippets/{args.name}", node=node, size=done.size,
                   sha256=done.sha256)


async def snippet_delete(ctx: ToolContext, args: SnipIn) -> SnipDelOut:
    """Delete a snippet (VMs whose cicustom names it lose it)."""
    node = ctx.default_node(args.node)
    volid = f"{args.storage}:snippets/{args.name}"
    rows = await ctx.api("GET", f"/nodes/{node}/storage/{args.storage}/content", {"content": "snippets"}, node=node)
    require(any(r.get("volid") == volid for r in rows or []), f"no snippet {volid} on {node}",
            "See proxmox_cloud_init_snippet_list.")
    upid = await act(ctx, "DELETE", f"/nodes/{node}/storage/{args.storage}/content/{quote(volid, safe=':')}", node=node,
                     target=f"{volid} on {node}")
    task = await started(ctx, upid, 30, f"delete {volid}")
    return SnipDelOut(volid=volid, job=task.job, ok=task.ok)


_T = "proxmox_cloud_init_snippet_"
TOOLS: list[ToolSpec[Any, Any]] = [
    tool(name=_T + "list", title="List cloud-init snippets", toolset="cloudinit", input_model=SnipListIn,
         output_model=ItemsOut, read_only=True, idempotent=True)(snippet_list),
    tool(name=_T + "get", title="Read a cloud-init snippet", toolset="cloudinit", input_model=SnipIn,
         output_model=SnipOut, read_only=True, idempotent=True, planes=("file",))(snippet_get),
    tool(name=_T + "put", title="Write a cloud-init snippet", toolset="cloudinit", input_model=SnipPutIn,
         output_model=SnipOut, read_only=False, destructive=True, planes=("file",), adapt=admin_only)(snippet_put),
    tool(name=_T + "delete", title="Delete a cloud-init snippet", toolset="cloudinit", input_model=SnipIn,
         output_model=SnipDelOut, read_only=False, destructive=True, idempotent=True)(snippet_delete),
]
