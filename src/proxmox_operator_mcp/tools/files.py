"""Files on a node over SFTP: read (any mode) and atomic write (admin).

Both go through the file plane's path policy (allowed and denied prefixes, no ``..``, links
resolved on the node and checked again). Text comes back as text only when it is clean UTF-8;
anything else (binary, control characters) comes back as base64, so a read followed by a write
reproduces the file byte for byte. The content of a write never enters the Operation: it is
staged for the router, and the Operation carries its size and SHA-256.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import unicodedata
from typing import Any, Literal

from pydantic import Field

from ..errors import InvalidArgumentError
from ..operation import Operation
from .base import Input, NodeName, Output, ToolContext, ToolSpec, tool
from .nodeaccess import admin_only, node_target, submit_op

__all__ = ["TOOLS", "encode_content"]

PathField = Field(min_length=1, max_length=4096, description="Absolute path on the node, e.g. /etc/pve/storage.cfg.")
NodeField = Field(None, description="Node; default: the configured default node.")

_UNSAFE_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

# Read data shown inline: at most this many bytes of text, or of binary data (base64, about 4/3
# as many characters). More is published whole as an artifact (proxmox://artifacts/…).
INLINE_TEXT_BYTES = 64 * 1024
INLINE_BINARY_BYTES = 48 * 1024


def encode_content(data: bytes) -> tuple[Literal["utf-8", "base64"], str]:
    """``("utf-8", text)`` for clean UTF-8 text (no control or bidi characters), else base64."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "base64", base64.b64encode(data).decode()
    if _UNSAFE_TEXT.search(text) or any(unicodedata.category(ch) == "Cf" for ch in text):
        return "base64", base64.b64encode(data).decode()
    return "utf-8", text


class FileReadIn(Input):
    path: str = PathField
    node: NodeName | None = NodeField
    max_bytes: int = Field(262144, ge=1, le=8 * 1024 * 1024, description="Read at most this many bytes.")


class FileReadOut(Output):
    node: str
    path: str = Field(description="The path read (links resolved).")
    size: int
    encoding: Literal["utf-8", "base64"]
    content: str
    truncated: bool = Field(description="The file is longer than max_bytes; content is its start.")
    sha256: str | None = Field(None, description="Of the whole file (when not truncated); pass to a write as expect_sha256.")
    mode: str
    uid: int | None = None
    gid: int | None = None
    mtime: int | None = None
    artifact: str | None = Field(None, description="All data read, when content is cut (it ends with a marker).")


@tool(
    name="proxmox_file_read",
    title="Read a file on a node",
    toolset="files",
    input_model=FileReadIn,
    output_model=FileReadOut,
    read_only=True,
    idempotent=True,
    planes=("file",),
)
async def file_read(ctx: ToolContext, args: FileReadIn) -> FileReadOut:
    """Read a file on a node over SFTP (PVE config under /etc/pve, network config, snippets, logs).
    Allowed and denied path prefixes apply; key material is never read. Binary content comes back
    base64-encoded; sha256 lets a later write detect concurrent changes."""
    from ..transports.files import DEFAULT_FILE_POLICY, check_path

    check_path(args.path, DEFAULT_FILE_POLICY if _policy(ctx) is None else _policy(ctx), write=False)
    target = node_target(ctx, args.node)
    op = Operation(
        cluster=ctx.cluster.name,
        plane="file",
        method="GET",
        path=args.path,
        node=target.node,
        params={"max_bytes": args.max_bytes},
        read_only=True,
        targets=(f"{args.path} on {target.node}",),
        tool=ctx.tool_name,
    )
    got = await submit_op(ctx, op)
    encoding, content, uri = _inline(ctx, got.data)
    return FileReadOut(
        node=target.node,
        path=got.path,
        size=got.size,
        encoding=encoding,
        content=content,
        artifact=uri,
        truncated=got.truncated,
        sha256=None if got.truncated else hashlib.sha256(got.data).hexdigest(),
        mode=f"{got.mode:04o}",
        uid=got.uid,
        gid=got.gid,
        mtime=got.mtime,
    )


def _inline(ctx: ToolContext, data: bytes) -> tuple[Literal["utf-8", "base64"], str, str | None]:
    """``(encoding, content, artifact)``: all of ``data`` when it fits inline; else its start, a
    visible marker naming the artifact, and the artifact that holds all of it (text is redacted
    on the way in, as tool output is; binary data is kept as it is)."""
    from ..artifacts import publish_artifact

    encoding, content = encode_content(data)
    cap = INLINE_TEXT_BYTES if encoding == "utf-8" else INLINE_BINARY_BYTES
    if len(data) <= cap:
        return encoding, content, None
    if encoding == "utf-8":
        uri = publish_artifact(ctx, content, "text/plain")
        shown = data[:cap].decode("utf-8", errors="ignore")  # never half a character
        size = len(shown.encode("utf-8"))
    else:
        uri = publish_artifact(ctx, data, "application/octet-stream")
        shown, size = base64.b64encode(data[:cap]).decode(), cap
    return encoding, f"{shown}\n…[truncated {len(data) - size} of {len(data)} bytes; all read: {uri}]…", uri


class FileWriteIn(Input):
    path: str = PathField
    content: str = Field(max_length=12_000_000, description="New content: text, or base64 with encoding=base64.")
    encoding: Literal["utf-8", "base64"] = "utf-8"
    node: NodeName | None = NodeField
    backup: bool = Field(False, description="Keep the old content as PATH.pmcp-backup-TIMESTAMP.")
    mode: str | None = Field(None, pattern=r"^0?[0-7]{3}$", description="Mode of a new file, e.g. 0640 (default 0644).")
    expect_sha256: str | None = Field(
        None,
        pattern=r"^(?:[0-9a-fA-F]{64})?$",
        description='Write only if the file still has this sha256 (from proxmox_file_read); "" = must not exist.',
    )


class FileWriteOut(Output):
    node: str
    path: str
    size: int
    sha256: str
    created: bool
    mode: str
    backup_path: str | None = None


@tool(
    name="proxmox_file_write",
    title="Write a file on a node",
    toolset="files",
    input_model=FileWriteIn,
    output_model=FileWriteOut,
    read_only=False,
    destructive=True,
    planes=("file",),
    adapt=admin_only,
)
async def file_write(ctx: ToolContext, args: FileWriteIn) -> FileWriteOut:
    """Write a file on a node over SFTP, atomically (temp file + rename; mode and owner kept;
    optional backup). For what REST cannot write: snippets, /etc/pve files, network config. Allowed
    and denied prefixes apply. Use expect_sha256 from a read to avoid overwriting concurrent edits."""
    from ..transports.files import DEFAULT_FILE_POLICY, check_path, discard, stage

    policy = _policy(ctx) or DEFAULT_FILE_POLICY
    check_path(args.path, policy, write=True)
    if args.encoding == "base64":
        try:
            data = base64.b64decode(args.content, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidArgumentError("content is not valid base64") from None
    else:
        data = args.content.encode("utf-8")
    if len(data) > policy.max_write:
        raise InvalidArgumentError(f"{len(data)} bytes is more than the {policy.max_write} bytes a write may carry")
    target = node_target(ctx, args.node)
    digest = hashlib.sha256(data).hexdigest()
    token = stage(data)
    try:
        op = Operation(
            cluster=ctx.cluster.name,
            plane="file",
            method="PUT",
            path=args.path,
            node=target.node,
            params={
                "size": len(data),
                "sha256": digest,
                "content": token,
                "backup": args.backup,
                "mode": int(args.mode, 8) if args.mode else None,
                "expect_sha256": args.expect_sha256,
            },
            read_only=False,
            destructive=True,
            targets=(f"{args.path} on {target.node} ({len(data)} bytes, sha256 {digest[:16]}…)",),
            tool=ctx.tool_name,
        )
        done = await submit_op(ctx, op)
    finally:
        discard(token)
    return FileWriteOut(
        node=target.node,
        path=done.path,
        size=done.size,
        sha256=done.sha256,
        created=done.created,
        mode=f"{done.mode:04o}",
        backup_path=done.backup_path,
    )


def _policy(ctx: ToolContext) -> Any:
    """The router's file policy, so the early check and the router's agree."""
    router = getattr(ctx.gate, "router", None)
    return getattr(router, "file_policy", None)


TOOLS: list[ToolSpec[Any, Any]] = [file_read, file_write]
