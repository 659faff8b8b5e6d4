"""Operator rules, the defaults per access mode, and the policy file."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import pytest

from proxmox_operator_mcp.errors import ConfigError, InvalidArgumentError
from proxmox_operator_mcp.operation import Operation, api_op
from proxmox_operator_mcp.policy.classify import MODES, mode_rank
from proxmox_operator_mcp.policy.explain import operations_for
from proxmox_operator_mcp.policy.rules import DEFAULT_POLICY, Policy, Rule, load_policy, parse_policy


def api(method: str, path: str, params: dict[str, Any] | None = None, **kw: Any) -> Operation:
    return api_op("prod", method, path, params, tool=kw.pop("tool", "proxmox_api_call"), **kw)


def cli(*argv: str, node: str = "pve1") -> Operation:
    return Operation("prod", "cli", argv=argv, node=node, read_only=False, tool="proxmox_cli_run")


# --- the table of attempts: the escape hatches cannot exceed the mode ---------------------------

# (tool, arguments, least mode that may run it, verdict in that mode)
ATTEMPTS: list[tuple[str, dict[str, Any], str, str]] = [
    ("proxmox_api_call", {"method": "GET", "path": "/cluster/resources"}, "read-only", "allow"),
    ("proxmox_api_call", {"method": "GET", "path": "/nodes/pve1/qemu/101/config"}, "read-only", "allow"),
    ("proxmox_api_call", {"method": "POST", "path": "/nodes/pve1/qemu/101/status/start"}, "operator", "allow"),
    ("proxmox_api_call", {"method": "PUT", "path": "/nodes/pve1/qemu/101/config", "params": {"memory": 4096}},
     "operator", "allow"),
    ("proxmox_api_call", {"method": "POST", "path": "/nodes/pve1/qemu/101/status/stop"}, "admin", "confirm"),
    ("proxmox_api_call", {"method": "DELETE", "path": "/nodes/pve1/qemu/101"}, "admin", "confirm"),
    ("proxmox_api_call", {"method": "PUT", "path": "/access/acl",
                          "params": {"path": "/", "roles": "Administrator", "users": "eve@pve"}}, "admin", "confirm"),
    ("proxmox_api_call", {"method": "GET", "path": "/cluster/acme/plugins/dns1"}, "admin", "confirm"),
    ("proxmox_api_call", {"method": "GET", "path": "/nodes/pve1/vncwebsocket"}, "admin", "confirm"),
    ("proxmox_api_call", {"method": "GET", "path": "/nodes/pve1/../../access/acl"}, "admin", "confirm"),
    ("proxmox_cli_run", {"argv": ["qm", "list"], "node": "pve1"}, "read-only", "allow"),
    ("proxmox_cli_run", {"argv": ["pvesh", "get", "/cluster/resources"], "node": "pve1"}, "read-only", "allow"),
    ("proxmox_cli_run", {"argv": ["ceph", "status"], "node": "pve1"}, "read-only", "allow"),
    ("proxmox_cli_run", {"argv": ["qm", "start", "101"], "node": "pve1"}, "operator", "allow"),
    ("proxmox_cli_run", {"argv": ["vzdump", "101"], "node": "pve1"}, "operator", "allow"),
    ("proxmox_cli_run", {"argv": ["qm", "stop", "101"], "node": "pve1"}, "admin", "confirm"),
    ("proxmox_cli_run", {"argv": ["qm", "destroy", "101"], "node": "pve1"}, "admin", "confirm"),
    ("proxmox_cli_run", {"argv": ["pvesh", "delete", "/nodes/pve1/qemu/101"], "node": "pve1"}, "admin", "confirm"),
    ("proxmox_cli_run", {"argv": ["pveum", "acl", "modify", "/", "--roles", "Administrator"], "node": "pve1"},
     "admin", "confirm"),
    ("proxmox_cli_run", {"argv": ["qm", "frobnicate", "101"], "node": "pve1"}, "admin", "confirm"),
    ("proxmox_cli_run", {"argv": ["ceph", "auth", "get", "client.admin"], "node": "pve1"}, "admin", "confirm"),
    ("proxmox_shell_run", {"command": "uptime", "node": "pve1"}, "admin", "confirm"),
    ("proxmox_shell_run", {"command": "cat /etc/hostname", "node": "pve1"}, "admin", "confirm"),
    ("proxmox_file_read", {"path": "/etc/hosts", "node": "pve1"}, "read-only", "allow"),
    ("proxmox_file_read", {"path": "/etc/pve/priv/authkey.key", "node": "pve1"}, "admin", "confirm"),
    ("proxmox_file_read", {"path": "/etc/pve/../pve/priv/token.cfg", "node": "pve1"}, "admin", "confirm"),
    ("proxmox_file_write", {"path": "/etc/hosts", "node": "pve1"}, "admin", "confirm"),
]


@pytest.mark.parametrize(("tool", "args", "least", "verdict"), ATTEMPTS, ids=lambda v: str(v)[:60])
def test_no_escape_hatch_does_more_than_the_access_mode_allows(
    tool: str, args: dict[str, Any], least: str, verdict: str
) -> None:
    (op,) = operations_for(tool, args, cluster="prod")
    for mode in MODES:
        decision = DEFAULT_POLICY.decide(op, mode)
        if mode_rank(mode) < mode_rank(least):
            assert decision.verdict == "deny", (mode, decision)
            assert decision.hint and "PROXMOX_MCP_ACCESS" in decision.hint
        else:
            assert decision.verdict == verdict, (mode, decision)


def test_read_only_mode_allows_only_gets_and_read_only_commands() -> None:
    allowed = [op for tool, args, _, _ in ATTEMPTS for op in operations_for(tool, args)
               if DEFAULT_POLICY.decide(op, "read-only").verdict != "deny"]
    for op in allowed:
        assert (op.plane == "api" and op.method == "GET") or op.plane in ("cli", "file")
        assert DEFAULT_POLICY.decide(op, "read-only").op_class == "read"


def test_a_cli_program_outside_the_table_is_denied_even_in_admin_mode_with_an_allow_rule() -> None:
    policy = Policy([Rule.create(id="all", action="allow")])
    decision = policy.decide(cli("bash", "-c", "id"), "admin")
    assert decision.verdict == "deny" and decision.rule_id == "default:forbidden"


def test_unknown_access_mode_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown access mode"):
        DEFAULT_POLICY.decide(api("GET", "/version"), "root")


# --- rules ---------------------------------------------------------------------------------------


STOP_101 = api("POST", "/nodes/pve1/qemu/101/status/stop")
START_101 = api("POST", "/nodes/pve1/qemu/101/status/start")
DELETE_350 = api("DELETE", "/nodes/pve2/qemu/350")
QM_STOP_101 = cli("qm", "stop", "101")
ACL = api("PUT", "/access/acl", {"path": "/", "roles": "PVEAuditor", "users": "bob@pve"})
FILE_PRIV = Operation("prod", "file", method="GET", path="/etc/pve/priv/x", node="pve1", tool="proxmox_file_read")
SHELL = Operation("prod", "shell", argv=("uptime",), node="pve3", read_only=False, tool="proxmox_shell_run")

# (rule keys, operation, matches?)
MATCHING: list[tuple[dict[str, Any], Operation, bool]] = [
    ({"plane": "api"}, STOP_101, True),
    ({"plane": ["cli", "shell"]}, STOP_101, False),
    ({"methods": ["POST"]}, STOP_101, True),
    ({"methods": ["post", "put"]}, ACL, True),
    ({"methods": "DELETE"}, STOP_101, False),
    ({"path": "/nodes/*/qemu/*/status/stop"}, STOP_101, True),
    ({"path": "/nodes/{node}/qemu/{vmid}/status/stop"}, STOP_101, True),
    ({"path": "/nodes/pve1/**"}, STOP_101, True),
    ({"path": "/nodes/pve2/**"}, STOP_101, False),
    ({"path": "/nodes/*/status/stop"}, STOP_101, False),
    ({"path": "/nodes/**/stop"}, STOP_101, True),
    ({"path": ["/access/**", "/nodes/*/qemu/*/status/*"]}, STOP_101, True),
    ({"path_regex": r"/nodes/[^/]+/qemu/\d+/status/(stop|reset)"}, STOP_101, True),
    ({"path_regex": r"status/stop"}, STOP_101, False),
    ({"path_regex": r".*/\{vmid\}/status/stop"}, STOP_101, True),
    ({"node": "pve1"}, STOP_101, True),
    ({"node": "pve[23]"}, STOP_101, False),
    ({"node": "pve*"}, SHELL, True),
    ({"vmid": "100-199"}, STOP_101, True),
    ({"vmid": 101}, STOP_101, True),
    ({"vmid": ["200-299", "300-399"]}, DELETE_350, True),
    ({"vmid": "100-199"}, DELETE_350, False),
    ({"vmid": "100-199"}, ACL, False),
    ({"cli": "qm"}, QM_STOP_101, True),
    ({"cli": "qm", "subcommand": ["stop", "reset"]}, QM_STOP_101, True),
    ({"cli": "qm", "subcommand": "destroy"}, QM_STOP_101, False),
    ({"cli": "pct"}, QM_STOP_101, False),
    ({"cli": "ceph", "subcommand": "osd destroy"}, cli("ceph", "osd", "destroy", "3"), True),
    ({"cli": "ceph", "subcommand": "osd *"}, cli("ceph", "osd", "tree"), True),
    ({"path": "/nodes/*/qemu/*/status/stop"}, QM_STOP_101, True),
    ({"methods": "DELETE", "path": "/nodes/*/qemu/*"}, cli("pvesh", "delete", "/nodes/pve1/qemu/101"), True),
    ({"path": "/nodes/*/qemu/*/status/stop"}, api("POST", "/nodes/pve1/%71emu/101/status/stop"), True),
    ({"methods": "DELETE", "path": "/nodes/*/qemu/*"}, cli("qm", "destroy", "101"), True),
    ({"plane": "api", "path": "/nodes/*/qemu/*/status/stop"}, QM_STOP_101, False),
    ({"file": "/etc/pve/"}, FILE_PRIV, True),
    ({"file": "/etc/pve/priv"}, FILE_PRIV, True),
    ({"file": "/etc/pv"}, FILE_PRIV, False),
    ({"file": "/etc/pve"}, STOP_101, False),
    ({"tool": "proxmox_api_call"}, STOP_101, True),
    ({"tool": "proxmox_*_run"}, SHELL, True),
    ({"tool": "proxmox_vm_*"}, STOP_101, False),
    ({"class": "destructive"}, STOP_101, True),
    ({"class": ["read", "write"]}, STOP_101, False),
    ({"class": "write"}, START_101, True),
    ({"class": "secret"}, FILE_PRIV, True),
    ({"class": "read"}, FILE_PRIV, True),
    ({"cluster": "prod"}, STOP_101, True),
    ({"cluster": "lab-*"}, STOP_101, False),
    ({}, STOP_101, True),
]


@pytest.mark.parametrize(("keys", "op", "expected"), MATCHING, ids=lambda v: str(v)[:50])
def test_rule_matching_table(keys: dict[str, Any], op: Operation, expected: bool) -> None:
    for action in ("deny", "confirm"):
        rule = Rule.create(action=action, **keys)
        assert rule.matches(_facts(op), "admin") is expected, (action, rule.mismatch(_facts(op), "admin"))


def _facts(op: Operation) -> Any:
    from proxmox_operator_mcp.policy.classify import inspect_operation

    return inspect_operation(op)


def test_an_allow_rule_needs_every_named_guest_in_its_range() -> None:
    both = api("POST", "/cluster/bulk-action/guest/start", {"vms": "150,300"})
    deny = Rule.create(action="deny", vmid="100-199")
    allow = Rule.create(action="allow", vmid="100-199")
    assert deny.matches(_facts(both), "admin")
    assert not allow.matches(_facts(both), "admin")
    assert allow.matches(_facts(api("POST", "/cluster/bulk-action/guest/start", {"vms": "150,160"})), "admin")


def test_an_allow_rule_on_nodes_needs_every_named_node() -> None:
    migrate = api("POST", "/nodes/pve1/qemu/101/migrate", {"target": "pve9"})
    assert Rule.create(action="deny", node="pve9").matches(_facts(migrate), "admin")
    assert not Rule.create(action="allow", node="pve1").matches(_facts(migrate), "admin")


def test_a_rule_only_applies_in_its_modes() -> None:
    rule = Rule.create(action="deny", modes=["admin"], methods="POST")
    assert rule.matches(_facts(START_101), "admin")
    assert not rule.matches(_facts(START_101), "operator")


def test_the_first_matching_rule_wins() -> None:
    policy = Policy([
        Rule.create(id="lab", action="allow", vmid="100-199", class_=["write", "destructive"]),
        Rule.create(id="no-stop", action="deny", path="/nodes/*/qemu/*/status/stop"),
    ])
    assert policy.decide(STOP_101, "admin").rule_id == "lab"
    assert policy.decide(STOP_101, "admin").verdict == "allow"
    other = api("POST", "/nodes/pve1/qemu/250/status/stop")
    assert policy.decide(other, "admin").rule_id == "no-stop"


def test_no_rule_lifts_the_access_mode() -> None:
    policy = Policy([Rule.create(id="yolo", action="allow")])
    for op in (STOP_101, ACL, SHELL, FILE_PRIV):
        decision = policy.decide(op, "read-only")
        assert decision.verdict == "deny", op
        assert "ceiling" in decision.reason
    assert policy.decide(START_101, "operator").verdict == "allow"
    assert policy.decide(STOP_101, "operator").verdict == "deny"


def test_an_allow_rule_removes_the_confirmation_inside_the_mode() -> None:
    policy = Policy([Rule.create(id="lab-stop", action="allow", vmid="900-999", path="/nodes/*/qemu/*/status/stop")])
    lab = api("POST", "/nodes/pve1/qemu/901/status/stop")
    assert policy.decide(lab, "admin").verdict == "allow"
    assert policy.decide(STOP_101, "admin").verdict == "confirm"


def test_a_deny_rule_wins_in_every_mode_and_says_why() -> None:
    policy = Policy([Rule.create(id="prod", action="deny", vmid="100-199", reason="humans only")], source="p.toml")
    decision = policy.decide(START_101, "admin")
    assert decision.verdict == "deny" and decision.rule_id == "prod"
    assert "humans only" in decision.reason and "p.toml" in (decision.hint or "")


def test_a_confirm_rule_can_ask_for_reads_too() -> None:
    policy = Policy([Rule.create(id="ask-logs", action="confirm", path="/nodes/*/syslog")])
    assert policy.decide(api("GET", "/nodes/pve1/syslog"), "read-only").verdict == "confirm"


def test_decisions_carry_the_class_and_the_required_mode() -> None:
    d = DEFAULT_POLICY.decide(STOP_101, "admin")
    assert (d.verdict, d.op_class, d.required_mode, d.impact) == ("confirm", "destructive", "admin", "hard-stop")
    assert d.to_dict()["rule"] == "default:destructive"


def test_explain_shows_the_facts_every_rule_and_the_decision_per_mode() -> None:
    policy = Policy([
        Rule.create(id="no-acl", action="deny", path="/access/**"),
        Rule.create(id="lab", action="allow", vmid="900-999", class_="write"),
    ], source="p.toml")
    text = policy.explain(QM_STOP_101, "admin").text()
    assert "qm stop 101 (= POST /nodes/pve1/qemu/101/status/stop)" in text
    assert "rule 'no-acl'" in text and "no match (path)" in text
    assert "rule 'lab'" in text and "no match (class destructive)" in text
    assert "CONFIRM in admin mode" in text
    assert "read-only: deny, operator: deny, admin: confirm" in text


def test_deciding_is_fast() -> None:
    policy = Policy([Rule.create(id=f"r{i}", action="deny", vmid=f"{1000 + i}") for i in range(20)])
    ops = [STOP_101, QM_STOP_101, ACL, FILE_PRIV]
    start = time.perf_counter()
    for op in itertools.islice(itertools.cycle(ops), 4000):
        policy.decide(op, "admin")
    per_call = (time.perf_counter() - start) / 4000
    assert per_call < 0.001  # generous bound for slow CI; measured ~20-40 us


# --- warnings ------------------------------------------------------------------------------------


def test_policy_check_warns_about_rules_that_skip_confirmations_or_never_match() -> None:
    policy = Policy([
        Rule.create(id="everything", action="allow"),
        Rule.create(id="files-on-api", action="deny", plane="api", file="/etc"),
        Rule.create(id="paths-on-shell", action="deny", plane="shell", path="/nodes/**"),
        Rule.create(id="safe", action="allow", class_=["read", "write"], vmid="900-999"),
    ])
    text = "\n".join(policy.warnings())
    assert "'everything' has no criteria" in text
    assert "'everything' allows without a human confirmation" in text
    assert "'files-on-api' matches files but not on the file plane" in text
    assert "'paths-on-shell' matches methods/paths but only on the ['shell'] plane" in text
    assert "'safe'" not in text


# --- the policy file ---------------------------------------------------------------------------------


GOOD = """
version = 1

# production guests are changed by humans only
[[rules]]
id = "prod"
action = "deny"
reason = "Production guests are changed by humans only."
vmid = "100-199"
class = ["write", "destructive"]

[[rules]]
id = "lab-stop"
action = "allow"
vmid = ["900-999"]
methods = ["POST"]
path = "/nodes/*/qemu/*/status/stop"
class = ["destructive"]

[[rules]]
action = "confirm"
cli = "ceph"
subcommand = ["osd out", "osd in"]
"""


def test_a_valid_policy_file_loads_in_order(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(GOOD)
    policy = load_policy(path)
    assert [r.id for r in policy.rules] == ["prod", "lab-stop", "rule-3"]
    assert policy.rules[0].source == "policy.toml line 5"
    assert policy.decide(START_101, "admin").rule_id == "prod"
    assert policy.decide(api("POST", "/nodes/pve1/qemu/950/status/stop"), "admin").verdict == "allow"
    assert policy.decide(cli("ceph", "osd", "out", "3"), "operator").verdict == "confirm"


BROKEN = """version = 1

[[rules]]
id = "one"
action = "allow"
methd = ["GET"]
vmid = "199-100"

[[rules]]
id = "two"
action = "permit"
path_regex = "/nodes/(unclosed"
node = []

[[rules]]
id = "three"
plane = "sftp"
vmid = "abc"
cli = "qmm"
file = "etc/pve"

[[rules]]
id = "one"
action = "deny"
class = "dangerous"
modes = "root"
"""


def test_every_problem_of_a_broken_policy_file_is_listed_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(BROKEN)
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    problems = info.value.problems
    text = "\n".join(problems)
    expected = [
        (":6:", "unknown key 'methd' (did you mean 'methods'?)"),
        (":7:", "range '199-100' runs backwards"),
        (":11:", "`action` 'permit' is not one of allow, deny, confirm"),
        (":12:", "is not a valid regular expression"),
        (":13:", "`node` is an empty list"),
        (":15:", "`action` is missing"),
        (":17:", "'sftp' is not one of api, cli, shell, file"),
        (":18:", "'abc' is not a VMID or a range"),
        (":19:", "'qmm' is not one of"),
        (":19:", "did you mean 'qm'?"),
        (":20:", "must be an absolute path prefix"),
        (":23:", "id 'one' is already used by rules[1]"),
        (":25:", "'dangerous' is not one of read, write, destructive, secret"),
        (":26:", "'root' is not one of read-only, operator, admin"),
    ]
    for line, needle in expected:
        assert any(line in p and needle in p for p in problems), (line, needle, text)
    assert all(p.startswith(str(path)) for p in problems)
    assert "Invalid configuration" in info.value.to_text()


def test_a_toml_syntax_error_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('[[rules]]\naction = "deny\n')
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    assert "not valid TOML" in info.value.problems[0]
    assert "line 2" in info.value.problems[0]


def test_unknown_top_level_keys_and_versions_are_reported() -> None:
    with pytest.raises(ConfigError) as info:
        parse_policy('version = 2\nrule = []\n[defaults]\nx = 1\n', "p.toml")
    text = "\n".join(info.value.problems)
    assert "p.toml:1: `version` 2 is not supported" in text
    assert "p.toml:2: unknown top-level key 'rule' (did you mean 'rules'?)" in text
    assert "p.toml:3: unknown top-level key 'defaults'" in text


def test_inline_rule_arrays_are_reported_by_index() -> None:
    with pytest.raises(ConfigError) as info:
        parse_policy('rules = [{action = "deny", vmid = "1-2"}]', "p.toml")
    assert "rules[1]" in info.value.problems[0] and "outside 100-999999999" in info.value.problems[0]


def test_a_missing_policy_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="policy file not found"):
        load_policy(tmp_path / "nope.toml")


def test_an_empty_policy_file_is_the_defaults() -> None:
    assert parse_policy("", "empty.toml").rules == ()


def test_rule_create_reports_bad_values_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        Rule.create(action="deny", methods=["GETT"], vmid="x")
    assert len(info.value.problems) == 2


# --- explain's operations --------------------------------------------------------------------------


def test_offline_explain_refuses_typed_tools_with_a_way_forward() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        operations_for("proxmox_vm_action", {"vmid": 101, "action": "stop"})
    assert "dry_run" in (info.value.hint or "")


def test_offline_explain_refuses_a_command_string_for_the_cli_plane() -> None:
    with pytest.raises(InvalidArgumentError, match="not a string"):
        operations_for("proxmox_cli_run", {"argv": "qm stop 101"})
