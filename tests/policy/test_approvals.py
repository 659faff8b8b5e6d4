"""Out-of-band approvals: request, approve (from another process too), consume once."""

from __future__ import annotations

import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from proxmox_operator_mcp.policy.approvals import (
    APPROVAL_ARG,
    ApprovalError,
    ApprovalStore,
    binding_hash,
)

ALICE = {"sub": "alice@example.org"}
ARGS: dict[str, Any] = {"vmid": 101, "action": "stop", "node": "pve1"}


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> ApprovalStore:
    return ApprovalStore(tmp_path / "approvals", clock=clock)


def pending(store: ApprovalStore, args: dict[str, Any] | None = None, ttl: float = 600) -> str:
    approval = store.request(ALICE, "proxmox_vm_action", args or ARGS,
                             ["Hard power-off of VM 101 (web1) on pve1"], ttl)
    return approval.id


def test_an_approved_call_runs_once(store: ApprovalStore) -> None:
    aid = pending(store)
    store.approve(aid, "bob")
    first = store.consume(aid, ALICE, "proxmox_vm_action", {**ARGS, APPROVAL_ARG: aid})
    assert first and first.reason == "approved by bob"
    second = store.consume(aid, ALICE, "proxmox_vm_action", {**ARGS, APPROVAL_ARG: aid})
    assert not second and "already used" in second.reason


def test_a_call_before_the_approval_does_not_run_and_keeps_the_request(store: ApprovalStore) -> None:
    aid = pending(store)
    result = store.consume(aid, ALICE, "proxmox_vm_action", ARGS)
    assert not result and "not approved yet" in result.reason
    store.approve(aid, "bob")
    assert store.consume(aid, ALICE, "proxmox_vm_action", ARGS)


def test_an_expired_approval_does_not_run(store: ApprovalStore, clock: Clock) -> None:
    aid = pending(store, ttl=60)
    store.approve(aid, "bob")
    clock.now += 60
    result = store.consume(aid, ALICE, "proxmox_vm_action", ARGS)
    assert not result and result.reason == "the approval expired"
    assert store.get(aid) is None  # gone


def test_an_expired_request_cannot_be_approved(store: ApprovalStore, clock: Clock) -> None:
    aid = pending(store, ttl=60)
    clock.now += 61
    with pytest.raises(ApprovalError, match="expired"):
        store.approve(aid, "bob")


def test_changed_arguments_do_not_run_and_the_approved_call_still_can(store: ApprovalStore) -> None:
    aid = pending(store)
    store.approve(aid, "bob")
    changed = store.consume(aid, ALICE, "proxmox_vm_action", {**ARGS, "vmid": 102})
    assert not changed and changed.reason == "arguments changed since the approval"
    extra = store.consume(aid, ALICE, "proxmox_vm_action", {**ARGS, "force": True})
    assert not extra and extra.reason == "arguments changed since the approval"
    assert store.consume(aid, ALICE, "proxmox_vm_action", ARGS)


def test_another_principal_cannot_use_the_approval(store: ApprovalStore) -> None:
    aid = pending(store)
    store.approve(aid, "bob")
    result = store.consume(aid, {"sub": "mallory"}, "proxmox_vm_action", ARGS)
    assert not result and result.reason == "approved for a different principal"


def test_another_tool_cannot_use_the_approval(store: ApprovalStore) -> None:
    aid = pending(store)
    store.approve(aid, "bob")
    result = store.consume(aid, ALICE, "proxmox_api_call", ARGS)
    assert not result and "approved for proxmox_vm_action" in result.reason


def test_a_denied_request_never_runs(store: ApprovalStore) -> None:
    aid = pending(store)
    store.deny(aid, "bob")
    result = store.consume(aid, ALICE, "proxmox_vm_action", ARGS)
    assert not result and result.reason == "denied by bob"
    with pytest.raises(ApprovalError):
        store.approve(aid, "bob")


def test_a_decision_cannot_be_changed(store: ApprovalStore) -> None:
    aid = pending(store)
    store.approve(aid, "bob")
    with pytest.raises(ApprovalError, match="already approved by bob"):
        store.deny(aid, "carol")


def test_unknown_and_malformed_ids_grant_nothing(store: ApprovalStore) -> None:
    for aid in ("nope", "../../etc/passwd", "", "A" * 30):
        assert not store.consume(aid, ALICE, "proxmox_vm_action", ARGS)
        with pytest.raises(ApprovalError):
            store.approve(aid, "bob")


def test_the_binding_ignores_the_approval_id_argument_only() -> None:
    base = binding_hash(ALICE, "t", ARGS)
    assert binding_hash("alice@example.org", "t", {**ARGS, APPROVAL_ARG: "x"}) == base
    assert binding_hash(ALICE, "t", dict(reversed(list(ARGS.items())))) == base
    assert binding_hash(ALICE, "t", {**ARGS, "confirm": True}) != base
    assert binding_hash({"sub": "bob"}, "t", ARGS) != base
    assert binding_hash(ALICE, "u", ARGS) != base


def test_ids_are_long_random_and_distinct(store: ApprovalStore) -> None:
    ids = {pending(store) for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i) >= 24 for i in ids)


def test_pending_requests_are_listed_until_decided_or_expired(store: ApprovalStore, clock: Clock) -> None:
    a = pending(store, ttl=600)
    clock.now += 1
    b = pending(store, ttl=10)
    assert [x.id for x in store.list_pending()] == [a, b]
    store.approve(a, "bob")
    clock.now += 20
    assert store.list_pending() == []
    assert store.purge_expired() == 1


def test_the_approver_reads_what_would_run(store: ApprovalStore, clock: Clock) -> None:
    approval = store.request(ALICE, "proxmox_api_call", {"method": "DELETE", "path": "/nodes/pve1/qemu/101"},
                             ["DELETE /nodes/pve1/qemu/101: destroys VM 101"], 300,
                             display_arguments={"method": "DELETE", "path": "/nodes/pve1/qemu/101"})
    text = approval.describe(clock.now)
    assert "requested by alice@example.org through proxmox_api_call" in text
    assert "destroys VM 101" in text and "300 s left" in text and '"path": "/nodes/pve1/qemu/101"' in text


def test_arguments_are_not_stored_unless_given_for_display(store: ApprovalStore) -> None:
    aid = store.request(ALICE, "proxmox_vm_action", {"password": "hunter2"}, ["x"]).id
    assert "hunter2" not in (store.directory / f"{aid}.json").read_text()


def test_files_are_private(store: ApprovalStore) -> None:
    aid = pending(store)
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((store.directory / f"{aid}.json").stat().st_mode) == 0o600


def test_a_world_readable_directory_is_made_private(tmp_path: Path) -> None:
    d = tmp_path / "open"
    d.mkdir(mode=0o755)
    d.chmod(0o755)
    ApprovalStore(d)
    assert stat.S_IMODE(d.stat().st_mode) == 0o700


def test_an_approval_from_another_process_lets_the_call_run(tmp_path: Path) -> None:
    store = ApprovalStore(tmp_path / "approvals")  # real time: the other process has no fake clock
    aid = pending(store)
    code = (
        "import sys; from proxmox_operator_mcp.policy.approvals import ApprovalStore;"
        "a = ApprovalStore(sys.argv[1]).approve(sys.argv[2], 'bob@cli'); print(a.status)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(store.directory), aid],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "approved"
    result = store.consume(aid, ALICE, "proxmox_vm_action", {**ARGS, APPROVAL_ARG: aid})
    assert result and result.reason == "approved by bob@cli"


def test_two_replicas_racing_to_consume_get_one_success(tmp_path: Path) -> None:
    directory = tmp_path / "shared"
    a, b = ApprovalStore(directory), ApprovalStore(directory)
    aid = pending(a)
    a.approve(aid, "bob")
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def race(s: ApprovalStore) -> None:
        barrier.wait(timeout=10)
        results.append(bool(s.consume(aid, ALICE, "proxmox_vm_action", ARGS)))

    threads = [threading.Thread(target=race, args=(s,)) for s in (a, b) * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == [False] * 7 + [True]


def test_a_tampered_approval_file_grants_nothing(store: ApprovalStore) -> None:
    aid = pending(store)
    (store.directory / f"{aid}.json").write_text("{not json")
    assert not store.consume(aid, ALICE, "proxmox_vm_action", ARGS)
