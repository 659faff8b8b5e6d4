"""docs/proxmox/module-inventory.md is generated from the tool sources and the schema, and current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gen_inventory.py"


def _load():  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_inventory", SCRIPT)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_committed_inventory_is_what_the_generator_writes() -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--check"], check=False, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_the_generator_is_deterministic() -> None:
    mod = _load()
    assert mod.inventory_md() == mod.inventory_md()


def test_a_tool_is_credited_with_the_endpoints_its_helpers_call() -> None:
    _, by_tool = _load().inventory()
    assert "GET /nodes/{node}/qemu/{vmid}/config" in by_tool["proxmox_vm_get"]
    assert "GET /cluster/resources" in by_tool["proxmox_vm_get"]  # through locate_guest
    assert not any("/lxc/" in e for e in by_tool["proxmox_vm_get"])  # the closure's kind is followed
    assert "POST /nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback" in by_tool["proxmox_vm_snapshot_action"]


def test_proxmox_api_call_is_not_counted_as_typed_coverage() -> None:
    areas, by_tool = _load().inventory()
    assert "proxmox_api_call" not in by_tool
    untyped = [ep for eps in areas.values() for ep in eps if not ep[2]]
    assert ("GET", "/access/acl", []) in untyped
