"""Diagnoses that gather several reads into one verdict with next steps (read-only).

``proxmox_vm_boot_diagnose``: why a VM does not boot. It reads the VM's config and status, its
last start task (status and log tail; the whole log as an artifact when long), checks the boot
order against the config, that every disk's volume is on its storage, and what the console will
show, and answers ``ok`` or ``problem`` with what to do next.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field

from ..errors import ProxmoxMCPError
from .base import Input, Output, ToolContext, ToolSpec, clean_text, tool
from .common import locate_guest, number

__all__ = ["TOOLS"]

_DISK_RE = re.compile(r"^(?:ide|sata|scsi|virtio)\d+$|^(?:efidisk|tpmstate)0$")
_DEVICE_RE = re.compile(r"^(?:ide|sata|scsi|virtio|net|hostpci|usb)\d+$")
LOG_LINES = 30


class BootIn(Input):
    vmid: int = Field(ge=100, le=999_999_999)
    node: str | None = Field(None, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9\-]{0,62}$", max_length=63)


class BootOut(Output):
    vmid: int
    node: str
    verdict: Literal["ok", "problem"]
    checks: list[dict[str, Any]]
    next_steps: list[str]
    start_log: list[str] | None = None
    log_uri: str | None = None


def _volume(value: str) -> tuple[str, bool]:
    """(volid, is_cdrom) of a drive value."""
    first, _, rest = str(value).partition(",")
    if "=" in first:
        first = dict(p.split("=", 1) for p in str(value).split(",") if "=" in p).get("file", "")
    return first, "media=cdrom" in rest or first in ("none", "cdrom")


def _boot_order(conf: dict[str, Any]) -> list[str]:
    boot = str(conf.get("boot") or "")
    m = re.search(r"order=([^,]+)", boot)
    if m:
        return [d for d in m.group(1).split(";") if d]
    legacy = {"c": "disk", "d": "cdrom", "n": "network"}
    if boot and set(boot) <= set(legacy):
        return [legacy[c] for c in boot]
    return []


async def _last_start(ctx: ToolContext, node: str, vmid: int) -> dict[str, Any] | None:
    rows = await ctx.api("GET", f"/nodes/{node}/tasks", {"vmid": vmid, "typefilter": "qmstart", "source": "all",
                                                          "limit": 1}, node=node)
    return (rows or [None])[0]


async def boot_diagnose(ctx: ToolContext, args: BootIn) -> BootOut:
    """Why a VM does not boot: status, lock, last start task log, boot order, disks, console; verdict and
    next steps."""
    from ..artifacts import cap_text

    node, _ = await locate_guest(ctx, args.vmid, "qemu", args.node)
    base = f"/nodes/{node}/qemu/{args.vmid}"
    conf = await ctx.api("GET", f"{base}/config", node=node) or {}
    status = await ctx.api("GET", f"{base}/status/current", node=node) or {}
    checks: list[dict[str, Any]] = []
    steps: list[str] = []

    def check(name: str, ok: bool, value: Any, step: str | None = None) -> None:
        checks.append({"check": name, "ok": ok, "value": clean_text(value, 300) if isinstance(value, str) else value})
        if not ok and step:
            steps.append(step)

    running = status.get("status") == "running"
    check("status", running, status.get("qmpstatus") or status.get("status"),
          None if running else "Start it: proxmox_vm_action action=start wait=true, then rerun this diagnosis.")
    check("not a template", not number(conf.get("template")), bool(number(conf.get("template"))),
          "A template never boots: clone it (proxmox_vm_clone) and start the clone.")
    lock = conf.get("lock")
    check("not locked", not lock, lock or None,
          f"The VM is locked ({lock}): wait for that operation, or clear a stale lock on the node "
          f"(`qm unlock {args.vmid}`).")

    # last start task
    log: list[str] | None = None
    log_uri = None
    task = await _last_start(ctx, node, args.vmid)
    if task is None:
        check("last start task", True, "none recorded")
    else:
        upid = str(task.get("upid"))
        st = str(task.get("status") or "running")
        ok = st in ("OK", "RUNNING") or st.startswith("WARNINGS")
        rows = await ctx.api("GET", f"/nodes/{node}/tasks/{upid}/log", {"start": 0, "limit": 5000}, node=node)
        lines = [clean_text(r.get("t", ""), 500) for r in rows or []]
        text, log_uri = cap_text(ctx, "\n".join(lines), 4000)
        log = text.splitlines()[-LOG_LINES:] if log_uri is None else text.splitlines()
        check("last start task", ok, st, None if ok else f"The last start failed ({clean_text(st, 200)}): read "
              "start_log, fix its cause, then start again.")

    # boot order
    order = _boot_order(conf)
    devices = [d for d in order if _DEVICE_RE.match(d)]
    missing = [d for d in devices if d not in conf]
    bootable = [d for d in devices if d in conf and not d.startswith("net")]
    check("boot order", not missing and (bool(bootable) or any(d.startswith("net") for d in devices) or not order),
          ";".join(order) or "default",
          f"Boot order names devices the VM lacks ({', '.join(missing)}) or no disk: set boot=order=<disk> with "
          "proxmox_vm_update_config." if order else None)

    # disk presence
    by_storage: dict[str, list[str]] = {}
    for key in sorted(k for k in conf if _DISK_RE.match(k)):
        vol, cdrom = _volume(conf[key])
        if cdrom or ":" not in vol or vol.startswith("/"):
            continue
        by_storage.setdefault(vol.split(":", 1)[0], []).append(vol)
    for storage, vols in sorted(by_storage.items()):
        try:
            content = await ctx.api("GET", f"/nodes/{node}/storage/{storage}/content", {"vmid": args.vmid}, node=node)
            present = {str(c.get("volid")) for c in content or []}
            gone = [v for v in vols if v not in present]
            check(f"disks on {storage}", not gone, gone or vols,
                  f"Volumes missing on {storage}: {', '.join(gone)}; restore them or detach the disks." if gone else None)
        except ProxmoxMCPError as exc:
            check(f"disks on {storage}", False, clean_text(exc.message, 300),
                  f"Storage {storage} is not usable on {node}: check it with proxmox_storage_get.")
    if not by_storage:
        check("disks", False, "no disk", "The VM has no disk: attach one or boot from network/ISO.")

    # firmware and console hints
    if conf.get("bios") == "ovmf":
        check("EFI disk", "efidisk0" in conf, "efidisk0" in conf,
              "OVMF without efidisk0 forgets its boot entries: add an EFI disk (efidisk0).")
    vga = str(conf.get("vga") or "default")
    serial = vga.startswith("serial")
    check("console", True, vga)
    steps.append(
        "See the screen: proxmox_console_ticket kind=vm " + ("(serial console: use xterm.js)." if serial else "(noVNC).")
    )
    ok = all(c["ok"] for c in checks)
    return BootOut(vmid=args.vmid, node=node, verdict="ok" if ok else "problem", checks=checks, next_steps=steps,
                   start_log=log, log_uri=log_uri)


TOOLS: list[ToolSpec[Any, Any]] = [
    tool(name="proxmox_vm_boot_diagnose", title="Diagnose a VM that does not boot", toolset="diagnose",
         input_model=BootIn, output_model=BootOut, read_only=True, idempotent=True)(boot_diagnose),
]
