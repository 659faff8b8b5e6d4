"""The hash-chained audit log: writing, resuming, rotating, and catching every kind of tampering."""

from __future__ import annotations

import errno
import io
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest

from proxmox_operator_mcp.operation import Operation, api_op
from proxmox_operator_mcp.policy import audit as audit_module
from proxmox_operator_mcp.policy.audit import (
    GENESIS,
    AuditError,
    AuditLog,
    canonical_json,
    operation_record,
    tool_call_record,
    verify,
)
from proxmox_operator_mcp.policy.rules import DEFAULT_POLICY

KEY = b"k" * 32


def record(i: int) -> dict[str, Any]:
    return {"kind": "op", "principal": "alice", "tool": "proxmox_vm_action", "plane": "api", "method": "POST",
            "path": f"/nodes/pve1/qemu/{100 + i}/status/start", "decision": {"verdict": "allow"}, "outcome": "ok"}


def write_log(path: Path, n: int, **kw: Any) -> AuditLog:
    log = AuditLog(path, **kw)
    for i in range(n):
        log.append(record(i))
    return log


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "audit" / "audit.jsonl"


# --- writing -------------------------------------------------------------------------------------


def test_records_are_chained_and_verify(log_path: Path) -> None:
    write_log(log_path, 5, clock=lambda: 1_700_000_000.25).close()
    recs = [json.loads(line) for line in lines(log_path)]
    assert [r["seq"] for r in recs] == [1, 2, 3, 4, 5]
    assert recs[0]["prev"] == GENESIS
    assert all(b["prev"] == a["hash"] for a, b in zip(recs, recs[1:]))
    assert recs[0]["ts"] == "2023-11-14T22:13:20.250000Z"
    assert recs[0]["alg"] == "sha256"
    result = verify(log_path)
    assert result.ok and result.records == 5 and result.first_bad is None, result.reason


def test_each_line_is_the_canonical_json_of_the_record(log_path: Path) -> None:
    write_log(log_path, 1).close()
    line = lines(log_path)[0]
    assert line == canonical_json(json.loads(line)) + "\n"


def test_files_are_private(log_path: Path) -> None:
    write_log(log_path, 1).close()
    for p in (log_path, log_path.with_name("audit.jsonl.head"), log_path.with_name("audit.jsonl.lock")):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    assert stat.S_IMODE(log_path.parent.stat().st_mode) == 0o700


def test_append_returns_the_records_hash(log_path: Path) -> None:
    with AuditLog(log_path) as log:
        digest = log.append(record(0))
    assert json.loads(lines(log_path)[0])["hash"] == digest


def test_the_log_sets_its_own_fields(log_path: Path) -> None:
    with AuditLog(log_path) as log, pytest.raises(ValueError, match="seq"):
        log.append({"seq": 7, "tool": "x"})


def test_values_json_cannot_hold_are_written_as_text(log_path: Path) -> None:
    with AuditLog(log_path) as log:
        log.append({"path": Path("/etc/hosts"), "args": ("a", 1), 5: "int key"})
    assert verify(log_path).ok
    rec = json.loads(lines(log_path)[0])
    assert rec["path"] == "/etc/hosts" and rec["args"] == ["a", 1] and rec["5"] == "int key"


def test_lines_are_mirrored_to_stderr_when_asked(log_path: Path) -> None:
    stream = io.StringIO()
    with AuditLog(log_path, also_stderr=True, stream=stream) as log:
        log.append(record(0))
    assert stream.getvalue() == lines(log_path)[0]


def test_a_new_process_continues_the_chain(log_path: Path) -> None:
    write_log(log_path, 3).close()
    write_log(log_path, 2).close()
    recs = [json.loads(line) for line in lines(log_path)]
    assert [r["seq"] for r in recs] == [1, 2, 3, 4, 5]
    assert verify(log_path).ok


def test_threads_appending_at_once_keep_one_chain(log_path: Path) -> None:
    log = AuditLog(log_path)

    def work() -> None:
        for i in range(25):
            log.append(record(i))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    log.close()
    result = verify(log_path)
    assert result.ok and result.records == 100, result.reason


def test_another_process_appending_to_the_same_log_keeps_one_chain(log_path: Path) -> None:
    log = write_log(log_path, 2)
    code = (
        "import sys; from proxmox_operator_mcp.policy.audit import AuditLog;"
        "log = AuditLog(sys.argv[1]);"
        "[log.append({'kind': 'approval', 'n': i}) for i in range(3)]"
    )
    subprocess.run([sys.executable, "-c", code, str(log_path)], check=True, timeout=60)
    log.append(record(9))  # this instance notices the file changed under it
    log.close()
    result = verify(log_path)
    assert result.ok and result.records == 6, result.reason


@pytest.mark.anyio
async def test_async_callers_append_in_a_worker_thread(log_path: Path) -> None:
    log = AuditLog(log_path)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for i in range(10):
                tg.start_soon(log.append_async, record(i))
    log.close()
    assert verify(log_path).records == 10


# --- the log cannot be written -----------------------------------------------------------------


def test_an_unwritable_location_raises_audit_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    log = AuditLog(blocker / "audit.jsonl")
    with pytest.raises(AuditError) as info:
        log.append(record(0))
    assert info.value.code == "audit_unavailable"
    assert "changes are refused" in info.value.message


def test_a_log_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("")
    (tmp_path / "audit.jsonl").symlink_to(target)
    with pytest.raises(AuditError):
        AuditLog(tmp_path / "audit.jsonl").append(record(0))
    assert target.read_text() == ""


def test_a_full_disk_raises_audit_error_and_the_next_append_resumes(
    log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = write_log(log_path, 2)
    real = os.fdatasync

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(audit_module.os, "fdatasync", full)
    with pytest.raises(AuditError, match="No space left"):
        log.append(record(3))
    monkeypatch.setattr(audit_module.os, "fdatasync", real)
    # the line may have reached the file without its head: the log resumes from what is there
    log.append(record(4))
    log.close()
    result = verify(log_path)
    assert result.ok, result.reason


# --- tampering -------------------------------------------------------------------------------------


def test_an_edited_record_is_found(log_path: Path) -> None:
    write_log(log_path, 5).close()
    content = lines(log_path)
    content[2] = content[2].replace('"principal":"alice"', '"principal":"mallory"')
    log_path.write_text("".join(content))
    result = verify(log_path)
    assert not result.ok
    assert result.first_bad == (str(log_path), 3, 3)
    assert "edited" in result.reason
    assert result.records == 2


def test_an_edited_record_with_a_recomputed_hash_breaks_the_next_link(log_path: Path) -> None:
    write_log(log_path, 5).close()
    content = lines(log_path)
    rec = json.loads(content[1])
    rec["outcome"] = "denied"
    rec.pop("hash")
    rec["hash"] = audit_module._digest(canonical_json(rec), None)
    content[1] = canonical_json(rec) + "\n"
    log_path.write_text("".join(content))
    result = verify(log_path)
    assert not result.ok and result.first_bad == (str(log_path), 3, 3)
    assert "prev does not chain" in result.reason


def test_a_deleted_record_is_found(log_path: Path) -> None:
    write_log(log_path, 5).close()
    content = lines(log_path)
    del content[2]
    log_path.write_text("".join(content))
    result = verify(log_path)
    assert not result.ok and result.first_bad == (str(log_path), 3, 3)
    assert "1 record deleted" in result.reason


def test_a_deleted_first_record_is_found(log_path: Path) -> None:
    write_log(log_path, 3).close()
    log_path.write_text("".join(lines(log_path)[1:]))
    result = verify(log_path)
    assert not result.ok and result.first_bad == (str(log_path), 1, 2)
    assert "earlier records deleted" in result.reason


def test_reordered_records_are_found(log_path: Path) -> None:
    write_log(log_path, 5).close()
    content = lines(log_path)
    content[1], content[2] = content[2], content[1]
    log_path.write_text("".join(content))
    result = verify(log_path)
    assert not result.ok and result.first_bad is not None
    assert result.first_bad.line == 2
    assert "deleted" in result.reason or "reordered" in result.reason


def test_a_cut_off_last_line_is_found(log_path: Path) -> None:
    write_log(log_path, 4).close()
    data = log_path.read_bytes()
    log_path.write_bytes(data[:-40])
    result = verify(log_path)
    assert not result.ok and result.first_bad == (str(log_path), 4, 4)
    assert "cut short" in result.reason


def test_a_missing_last_record_is_found_through_the_head(log_path: Path) -> None:
    write_log(log_path, 4).close()
    log_path.write_text("".join(lines(log_path)[:-1]))
    result = verify(log_path)
    assert not result.ok and result.first_bad == (str(log_path), 4, 4)
    assert "ends at seq 3 but its head records seq 4: truncated" in result.reason


def test_an_emptied_log_is_found_through_the_head(log_path: Path) -> None:
    write_log(log_path, 4).close()
    log_path.write_bytes(b"")
    result = verify(log_path)
    assert not result.ok and result.first_bad == (str(log_path), 1, 1)


def test_a_deleted_head_file_fails_verification(log_path: Path) -> None:
    write_log(log_path, 2).close()
    log_path.with_name("audit.jsonl.head").unlink()
    result = verify(log_path)
    assert not result.ok and "head file" in result.reason


def test_a_record_appended_by_hand_is_found(log_path: Path) -> None:
    write_log(log_path, 3).close()
    last = json.loads(lines(log_path)[-1])
    forged: dict[str, Any] = {"kind": "op", "seq": 4, "prev": last["hash"], "alg": "sha256", "ts": last["ts"]}
    forged2 = {**forged, "seq": 5}
    forged["hash"] = audit_module._digest(canonical_json(forged), None)
    forged2["prev"] = forged["hash"]
    forged2["hash"] = audit_module._digest(canonical_json(forged2), None)
    with log_path.open("a") as fh:
        fh.write(canonical_json(forged) + "\n" + canonical_json(forged2) + "\n")
    result = verify(log_path)
    assert not result.ok and "appended by something else" in result.reason


# --- the writer refuses to continue a damaged log ---------------------------------------------------


def test_the_writer_refuses_a_truncated_log_and_writes_nothing(log_path: Path) -> None:
    write_log(log_path, 4).close()
    log_path.write_text("".join(lines(log_path)[:-1]))
    before = log_path.read_bytes()
    with pytest.raises(AuditError, match="truncated"):
        AuditLog(log_path).append(record(9))
    assert log_path.read_bytes() == before


def test_the_writer_refuses_an_edited_last_record(log_path: Path) -> None:
    write_log(log_path, 2).close()
    log_path.write_text(log_path.read_text().replace("alice", "mallo"))
    with pytest.raises(AuditError, match="does not match its hash"):
        AuditLog(log_path).append(record(9))


def test_the_writer_refuses_to_continue_a_log_without_its_head(log_path: Path) -> None:
    write_log(log_path, 2).close()
    log_path.with_name("audit.jsonl.head").unlink()
    with pytest.raises(AuditError, match="head file .* is missing"):
        AuditLog(log_path).append(record(9))


def test_a_write_cut_short_by_a_crash_is_cut_off_and_recorded(log_path: Path) -> None:
    write_log(log_path, 3).close()
    with log_path.open("a") as fh:
        fh.write('{"alg":"sha256","kind":"op","seq":4,"pr')  # the head never saw seq 4
    write_log(log_path, 1).close()
    recs = [json.loads(line) for line in lines(log_path)]
    assert recs[3]["event"] == "audit_recovered" and recs[3]["dropped_bytes"] == 39
    assert [r["seq"] for r in recs] == [1, 2, 3, 4, 5]
    assert verify(log_path).ok


def test_a_head_one_record_behind_after_a_crash_is_accepted(log_path: Path) -> None:
    log = write_log(log_path, 3)
    head = log_path.with_name("audit.jsonl.head")
    saved = head.read_bytes()
    log.append(record(4))
    log.close()
    # the process died after writing the line, before the head: the head is one behind
    head.write_bytes(saved)
    result = verify(log_path)
    assert result.ok and result.warnings, result.reason
    write_log(log_path, 1).close()
    assert verify(log_path).ok and verify(log_path).records == 5


def test_a_torn_head_slot_falls_back_to_the_other_slot(log_path: Path) -> None:
    write_log(log_path, 3).close()
    head = log_path.with_name("audit.jsonl.head")
    data = bytearray(head.read_bytes())
    data[256 + 10 : 256 + 20] = b"\x00" * 10  # slot of seq 3 torn
    head.write_bytes(bytes(data))
    result = verify(log_path)
    assert result.ok and result.warnings  # the other slot holds seq 2: one behind
    write_log(log_path, 1).close()
    assert verify(log_path).records == 4


# --- rotation ---------------------------------------------------------------------------------------


def test_rotation_keeps_the_chain_across_files(log_path: Path) -> None:
    write_log(log_path, 40, max_bytes=2048).close()
    rotated = sorted(log_path.parent.glob("audit.jsonl.[0-9]*"))
    assert len(rotated) >= 3
    for p in rotated:
        assert p.stat().st_size <= 2048
    newest_first = json.loads(lines(log_path)[0])
    last_of_previous = json.loads(lines(log_path.with_name("audit.jsonl.1"))[-1])
    assert newest_first["prev"] == last_of_previous["hash"]
    assert newest_first["rotated_from"] == {"file": "audit.jsonl.1", "seq": last_of_previous["seq"]}
    result = verify(log_path)
    assert result.ok and result.records == 40 and len(result.files) == len(rotated) + 1, result.reason
    assert verify(log_path.parent).ok


def test_a_deleted_rotated_file_in_the_middle_is_found(log_path: Path) -> None:
    write_log(log_path, 40, max_bytes=2048).close()
    log_path.with_name("audit.jsonl.2").unlink()
    files = [log_path.with_name(f"audit.jsonl.{n}") for n in (4, 3, 1)] + [log_path]
    result = verify([f for f in files if f.exists()])
    assert not result.ok and "deleted" in result.reason


def test_rotated_files_swapped_are_found(log_path: Path) -> None:
    write_log(log_path, 40, max_bytes=2048).close()
    one, two = log_path.with_name("audit.jsonl.1"), log_path.with_name("audit.jsonl.2")
    tmp = log_path.with_name("swap")
    one.rename(tmp)
    two.rename(one)
    tmp.rename(two)
    assert not verify(log_path).ok


def test_keep_limits_rotated_files_and_verify_says_the_chain_is_partial(log_path: Path) -> None:
    write_log(log_path, 60, max_bytes=2048, keep=2).close()
    assert sorted(p.name for p in log_path.parent.glob("audit.jsonl.[0-9]*")) == ["audit.jsonl.1", "audit.jsonl.2"]
    result = verify(log_path)
    assert result.ok and not result.complete and result.first_seq and result.first_seq > 1
    assert result.last_seq == 60


def test_a_crash_right_after_rotating_resumes_the_chain(log_path: Path) -> None:
    write_log(log_path, 5).close()
    # rotated by hand, the way the writer does it, and the process gone before it wrote again
    log_path.rename(log_path.with_name("audit.jsonl.1"))
    log_path.touch(mode=0o600)
    write_log(log_path, 1).close()
    first = json.loads(lines(log_path)[0])
    assert first["seq"] == 6 and first["rotated_from"]["seq"] == 5
    assert verify(log_path).ok


def test_an_emptied_live_file_without_its_head_is_not_silently_continued(log_path: Path) -> None:
    write_log(log_path, 40, max_bytes=2048).close()
    log_path.write_bytes(b"")
    log_path.with_name("audit.jsonl.head").unlink()
    with pytest.raises(AuditError, match="records may have been removed"):
        AuditLog(log_path, max_bytes=2048).append(record(0))


# --- HMAC ------------------------------------------------------------------------------------------


def test_an_hmac_log_verifies_with_its_key_only(log_path: Path) -> None:
    write_log(log_path, 3, hmac_key=KEY).close()
    assert json.loads(lines(log_path)[0])["alg"] == "hmac-sha256"
    assert verify(log_path, KEY).ok
    wrong = verify(log_path, b"w" * 32)
    assert not wrong.ok and wrong.first_bad == (str(log_path), 1, 1)
    assert "another HMAC key" in wrong.reason
    keyless = verify(log_path)
    assert not keyless.ok and "give its key" in keyless.reason


def test_a_log_rewritten_without_the_key_fails_a_keyed_verification(log_path: Path) -> None:
    write_log(log_path, 3).close()  # as if an attacker rewrote the chain with plain SHA-256
    result = verify(log_path, KEY)
    assert not result.ok and "not HMAC-signed" in result.reason


def test_a_forged_head_fails_a_keyed_verification(log_path: Path) -> None:
    write_log(log_path, 3, hmac_key=KEY).close()
    log_path.write_text("".join(lines(log_path)[:-1]))
    # the attacker rewrites the head to match the shortened log, without the key
    last = json.loads(lines(log_path)[-1])
    slot: dict[str, Any] = {"seq": last["seq"], "hash": last["hash"], "mac": "0" * 64}
    slot["check"] = audit_module._slot_check(slot)
    data = canonical_json(slot).encode().ljust(255) + b"\n"
    log_path.with_name("audit.jsonl.head").write_bytes(data + data)
    result = verify(log_path, KEY)
    assert not result.ok and "HMAC" in result.reason


def test_adding_a_key_to_an_existing_unkeyed_log_is_refused(log_path: Path) -> None:
    write_log(log_path, 2).close()
    with pytest.raises(AuditError, match="HMAC key was added or removed"):
        AuditLog(log_path, hmac_key=KEY).append(record(0))


def test_a_short_hmac_key_is_refused(log_path: Path) -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        AuditLog(log_path, hmac_key=b"short")


def test_verify_of_a_directory_with_several_logs_asks_for_a_name(tmp_path: Path) -> None:
    write_log(tmp_path / "a.jsonl", 1).close()
    write_log(tmp_path / "b.jsonl", 1).close()
    with pytest.raises(ValueError, match="several audit logs"):
        verify(tmp_path)


# --- the records the gate writes ---------------------------------------------------------------


def test_an_operation_record_holds_the_decision_and_no_secret(log_path: Path) -> None:
    op = api_op("prod", "POST", "/access/users", {"userid": "eve@pve", "password": "hunter2hunter2"},
                tool="proxmox_api_call")
    decision = DEFAULT_POLICY.decide(op, "admin")
    rec = operation_record(op, decision, principal={"sub": "alice"}, outcome="ok", call_id="c1", seconds=0.0123,
                           confirmation="elicited", upid=None)
    assert rec["decision"]["verdict"] == "confirm" and rec["decision"]["class"] == "destructive"
    assert rec["params"]["password"] == "***" and rec["ms"] == 12.3
    with AuditLog(log_path) as log:
        log.append(rec)
    assert "hunter2" not in log_path.read_text()


def test_argv_and_tool_arguments_are_redacted() -> None:
    op = Operation("prod", "cli", argv=("pveum", "passwd", "root@pam", "--password", "s3cretpass"),
                   read_only=False, tool="proxmox_cli_run")
    rec = operation_record(op, DEFAULT_POLICY.decide(op, "admin"), principal=None, outcome="denied")
    assert "s3cretpass" not in json.dumps(rec) and rec["principal"] == "local"
    call = tool_call_record("proxmox_cli_run", {"argv": ["x"], "token_secret": "abcd-efgh"}, principal="bob",
                            outcome="error:policy_denied", call_id="c2", seconds=0.5)
    assert call["arguments"]["token_secret"] == "***" and call["outcome"] == "error:policy_denied"
