"""The vendoring script: committed data is current, and the output is reproducible."""

from __future__ import annotations

import gzip
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "vendor_schema.py"
DATA = ROOT / "src" / "proxmox_operator_mcp" / "schema" / "data"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vendor_schema", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_vendor_check_passes_on_the_committed_data() -> None:
    result = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_vendor_check_fails_when_a_data_file_differs(tmp_path: Path) -> None:
    for name in ("pve-api-9.2.json.gz", "PROVENANCE.md", "NOTICE.md"):
        (tmp_path / name).write_bytes((DATA / name).read_bytes())
    (tmp_path / "NOTICE.md").write_text("changed\n")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check", "--out", str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "NOTICE.md" in result.stderr


def test_vendoring_is_deterministic_and_gzip_carries_no_timestamp() -> None:
    script = _load_script()
    first = script.build(script.DEFAULT_INPUT_DIR / "schema.json", script.DEFAULT_INPUT_DIR / "endpoints.tsv")
    second = script.build(script.DEFAULT_INPUT_DIR / "schema.json", script.DEFAULT_INPUT_DIR / "endpoints.tsv")
    assert first == second
    blob = first["pve-api-9.2.json.gz"]
    assert blob[4:8] == b"\x00\x00\x00\x00"  # gzip MTIME field
    data = json.loads(gzip.decompress(blob))
    assert data["pve_version"] == "9.2" and len(data["endpoints"]) == 675


def test_data_folder_carries_the_agpl_notice_and_provenance() -> None:
    notice = (DATA / "NOTICE.md").read_text()
    assert "Proxmox Server Solutions GmbH" in notice and "AGPL-3.0-or-later" in notice
    assert "not** covered by this project's Apache-2.0" in notice
    provenance = (DATA / "PROVENANCE.md").read_text()
    assert "d1d290ae989d0a634a10cea005b5df4eb07313624d86b2eeea7e481685d6730a" in provenance
    assert "28aa38d" in provenance and "--check" in provenance
