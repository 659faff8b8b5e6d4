"""The safety subcommands: policy check/explain, approve, audit verify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proxmox_operator_mcp.cli import main
from proxmox_operator_mcp.policy.approvals import ApprovalStore
from proxmox_operator_mcp.policy.audit import AuditLog


def test_policy_check_lists_every_problem_with_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "p.toml"
    bad.write_text('[[rules]]\naction = "nope"\nvmid = "9-1"\n')
    assert main(["policy", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2:" in err and f"{bad}:3:" in err


def test_policy_check_accepts_a_good_file_and_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "p.toml"
    good.write_text('[[rules]]\nid = "lab"\naction = "allow"\nvmid = "900-999"\n')
    assert main(["policy", "check", str(good)]) == 0
    out = capsys.readouterr().out
    assert "1 rules, valid" in out and "warning: rule 'lab'" in out


def test_policy_explain_says_what_would_happen_and_why(capsys: pytest.CaptureFixture[str]) -> None:
    args = json.dumps({"method": "DELETE", "path": "/nodes/pve1/qemu/101"})
    assert main(["policy", "explain", "proxmox_api_call", args, "--mode", "operator"]) == 0
    out = capsys.readouterr().out
    assert "DENY in operator mode" in out and "guest-destroy" in out and "admin: confirm" in out


def test_approve_grants_a_pending_call_and_audits_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PROXMOX_MCP_APPROVALS_DIR", str(tmp_path / "approvals"))
    monkeypatch.setenv("PROXMOX_MCP_AUDIT_PATH", str(tmp_path / "audit.jsonl"))
    store = ApprovalStore(tmp_path / "approvals")
    aid = store.request({"sub": "alice"}, "proxmox_vm_action", {"vmid": 101}, ["Hard power-off of VM 101"]).id
    assert main(["approve", "--list"]) == 0
    assert aid in capsys.readouterr().out
    assert main(["approve", aid]) == 1  # no terminal, no --yes: nothing changes
    assert store.get(aid).status == "pending"  # type: ignore[union-attr]
    assert main(["approve", aid, "--yes", "--as", "bob"]) == 0
    assert store.get(aid).status == "approved"  # type: ignore[union-attr]
    assert main(["audit", "verify"]) == 0
    assert "OK: 1 records verify" in capsys.readouterr().out


def test_audit_verify_names_the_first_bad_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "audit.jsonl"
    with AuditLog(log) as audit:
        for i in range(3):
            audit.append({"kind": "op", "n": i})
    log.write_text(log.read_text().replace('"n":1', '"n":9'))
    assert main(["audit", "verify", str(log)]) == 1
    assert f"FAILED at {log} line 2 (seq 2)" in capsys.readouterr().out
