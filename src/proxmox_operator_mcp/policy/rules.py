"""Operator rules over the built-in classification: allow, deny or confirm.

A policy is an ordered list of :class:`Rule` values followed by built-in defaults:

* the first operator rule that matches an operation decides it;
* when none matches, the defaults decide by the operation's class (see
  :mod:`~proxmox_operator_mcp.policy.classify`): reads are allowed, writes are allowed from
  operator mode, destructive operations and secret reads need admin mode and a human
  confirmation;
* the access mode is a ceiling no rule can lift: a rule may deny, or ask for a confirmation,
  but it cannot allow in read-only mode what read-only mode does not allow.

Rules match on the plane, the HTTP method, the API path (glob or regex, tried on the concrete
path and on its template), the node, the VMID range, the CLI program and subcommand, the file
path, the tool, the operation's class, the access mode and the cluster. ``pvesh`` commands and
the ``qm``/``pct`` subcommands that equal a REST request carry that request's method and path,
so one rule on ``DELETE /nodes/*/qemu/*`` also covers ``pvesh delete`` and ``qm destroy``.

The policy file is TOML::

    [[rules]]
    id = "protect-prod"
    action = "deny"
    reason = "Production guests are changed by humans only."
    vmid = "100-199"
    class = ["write", "destructive"]

:func:`load_policy` reports every problem of a file at once, each with its line.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import ConfigError
from .classify import (
    CLI_TABLE,
    MODES,
    Classification,
    Kind,
    OperationFacts,
    glob_regex,
    inspect_operation,
    mode_rank,
    normalize_file_path,
)

if TYPE_CHECKING:
    from ..operation import Operation

__all__ = [
    "DEFAULT_POLICY",
    "Decision",
    "Explanation",
    "Policy",
    "Rule",
    "Verdict",
    "load_policy",
    "parse_policy",
]

Verdict = Literal["allow", "deny", "confirm"]

ACTIONS: tuple[str, ...] = ("allow", "deny", "confirm")
PLANES: tuple[str, ...] = ("api", "cli", "shell", "file")
METHODS: tuple[str, ...] = ("GET", "POST", "PUT", "DELETE")
CLASSES: tuple[str, ...] = ("read", "write", "destructive", "secret")
RULE_KEYS: tuple[str, ...] = (
    "id",
    "action",
    "reason",
    "plane",
    "methods",
    "path",
    "path_regex",
    "node",
    "vmid",
    "cli",
    "subcommand",
    "file",
    "tool",
    "class",
    "modes",
    "cluster",
)
TOP_KEYS: tuple[str, ...] = ("version", "rules")
MAX_VMID = 999_999_999


@dataclass(frozen=True, slots=True)
class Decision:
    """What the policy says about one operation.

    Attributes:
        verdict: allow, deny or confirm (run only after a human agreed).
        reason: why, in one or two sentences a human can act on.
        rule_id: the operator rule that decided, or ``default:<class>``.
        required_mode: the least access mode the operation's class needs.
        op_class: read, write or destructive.
        sensitive: the operation returns credentials or private data.
        impact: key into :data:`~proxmox_operator_mcp.policy.classify.IMPACTS`, if any.
        hint: what an operator can change, for a denial.
    """

    verdict: Verdict
    reason: str
    rule_id: str
    required_mode: str
    op_class: Kind
    sensitive: bool = False
    impact: str | None = None
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The decision as the audit records it."""
        out: dict[str, Any] = {
            "verdict": self.verdict,
            "rule": self.rule_id,
            "class": self.op_class,
            "required_mode": self.required_mode,
            "reason": self.reason,
        }
        if self.sensitive:
            out["sensitive"] = True
        if self.impact:
            out["impact"] = self.impact
        return out


def _compile_globs(patterns: Sequence[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{glob_regex(p)})" for p in patterns))


@dataclass(frozen=True)
class Rule:
    """One operator rule. Every criterion given must hold; unset criteria match anything.

    List criteria match when any entry does. ``node`` and ``vmid`` depend on the action: for
    ``deny`` and ``confirm`` one matching node or guest is enough, for ``allow`` every node and
    guest the operation names must match (and it must name one), so an allow rule for VMs
    100-199 never covers an operation that also touches VM 300.

    Build rules with :meth:`create` (validates) or load them with :func:`load_policy`.
    """

    id: str
    action: Verdict
    reason: str = ""
    planes: frozenset[str] = frozenset()
    methods: frozenset[str] = frozenset()
    paths: tuple[str, ...] = ()
    path_regex: str | None = None
    nodes: tuple[str, ...] = ()
    vmids: tuple[tuple[int, int], ...] = ()
    cli: frozenset[str] = frozenset()
    subcommands: tuple[tuple[str, ...], ...] = ()
    files: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    classes: frozenset[str] = frozenset()
    modes: frozenset[str] = frozenset()
    clusters: tuple[str, ...] = ()
    source: str | None = None
    _path_re: re.Pattern[str] | None = field(default=None, repr=False, compare=False)
    _regex_re: re.Pattern[str] | None = field(default=None, repr=False, compare=False)
    _node_re: re.Pattern[str] | None = field(default=None, repr=False, compare=False)
    _tool_re: re.Pattern[str] | None = field(default=None, repr=False, compare=False)
    _cluster_re: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def create(cls, **values: Any) -> Rule:
        """A rule from the same keys as a ``[[rules]]`` table (``class`` may be ``class_``).

        Raises:
            ConfigError: listing every invalid key or value.
        """
        if "class_" in values:
            values["class"] = values.pop("class_")
        rule, problems = _rule_from_mapping(values, default_id="rule")
        if problems or rule is None:
            raise ConfigError(problems)
        return rule

    def describe(self) -> str:
        """``rule 'id'`` plus where it was defined."""
        where = f" ({self.source})" if self.source else ""
        return f"rule {self.id!r}{where}"

    def mismatch(self, facts: OperationFacts, mode: str) -> str | None:
        """None when the rule matches; else the first criterion that does not hold."""
        if self.modes and mode not in self.modes:
            return f"mode {mode} not in {sorted(self.modes)}"
        if self.planes and facts.plane not in self.planes:
            return f"plane {facts.plane}"
        if self._cluster_re is not None and not self._cluster_re.fullmatch(facts.cluster):
            return f"cluster {facts.cluster}"
        if self._tool_re is not None and not (facts.tool and self._tool_re.fullmatch(facts.tool)):
            return f"tool {facts.tool}"
        if self.methods and facts.method not in self.methods:
            return f"method {facts.method}"
        if self._path_re is not None and not _either(self._path_re, facts.path, facts.template):
            return "path"
        if self._regex_re is not None and not _either(self._regex_re, facts.path, facts.template):
            return "path_regex"
        if self.classes and not _class_matches(self.classes, facts.classification):
            return f"class {facts.classification.kind}"
        if self.cli and facts.binary not in self.cli:
            return f"program {facts.binary}"
        if self.subcommands and not any(_words_match(p, facts.tokens) for p in self.subcommands):
            return "subcommand"
        if self.files and not (facts.file_path and any(_under(facts.file_path, f) for f in self.files)):
            return "file"
        every = self.action == "allow"
        if self._node_re is not None and not _some_or_all(
            (bool(self._node_re.fullmatch(n)) for n in facts.nodes), every
        ):
            return f"node {', '.join(facts.nodes) or '(none)'}"
        if self.vmids and not _some_or_all(
            (any(lo <= v <= hi for lo, hi in self.vmids) for v in facts.vmids), every
        ):
            return f"vmid {', '.join(map(str, facts.vmids)) or '(none)'}"
        return None

    def matches(self, facts: OperationFacts, mode: str) -> bool:
        return self.mismatch(facts, mode) is None

    def criteria(self) -> list[str]:
        """The criteria, in the policy file's words (for explain and warnings)."""
        out = []
        for key, value in (
            ("plane", sorted(self.planes)),
            ("methods", sorted(self.methods)),
            ("path", list(self.paths)),
            ("path_regex", self.path_regex),
            ("node", list(self.nodes)),
            ("vmid", [f"{lo}-{hi}" if lo != hi else str(lo) for lo, hi in self.vmids]),
            ("cli", sorted(self.cli)),
            ("subcommand", [" ".join(s) for s in self.subcommands]),
            ("file", list(self.files)),
            ("tool", list(self.tools)),
            ("class", sorted(self.classes)),
            ("modes", sorted(self.modes)),
            ("cluster", list(self.clusters)),
        ):
            if value:
                out.append(f"{key}={value}")
        return out


def _either(pattern: re.Pattern[str], path: str | None, template: str | None) -> bool:
    return (path is not None and pattern.fullmatch(path) is not None) or (
        template is not None and pattern.fullmatch(template) is not None
    )


def _some_or_all(results: Iterable[bool], every: bool) -> bool:
    values = list(results)
    if not values:
        return False
    return all(values) if every else any(values)


def _class_matches(classes: frozenset[str], c: Classification) -> bool:
    return c.kind in classes or (c.sensitive and "secret" in classes)


def _words_match(phrase: tuple[str, ...], tokens: tuple[str, ...]) -> bool:
    return len(tokens) >= len(phrase) and all(fnmatch.fnmatchcase(t, p) for p, t in zip(phrase, tokens))


def _under(path: str, prefix: str) -> bool:
    base = prefix.rstrip("/") or "/"
    return base == "/" or path == base or path.startswith(base + "/")


@dataclass(frozen=True)
class Explanation:
    """What the policy would do with one operation, and why (``proxmox-mcp policy explain``)."""

    op: Operation
    facts: OperationFacts
    mode: str
    decision: Decision
    by_mode: Mapping[str, Decision]
    rules: tuple[tuple[Rule, str | None], ...]

    def text(self) -> str:
        f = self.facts
        c = f.classification
        lines = [f"operation: {_describe_facts(f)}"]
        if f.template and f.template != f.path:
            lines.append(f"template:  {f.template}")
        targets = []
        if f.nodes:
            targets.append("nodes " + ", ".join(f.nodes))
        if f.vmids:
            targets.append("guests " + ", ".join(map(str, f.vmids)))
        if targets:
            lines.append("targets:   " + "; ".join(targets))
        cls = c.kind + (" + secret" if c.sensitive else "")
        lines.append(f"class:     {cls} - {c.reason}")
        if c.impact:
            from .confirm import impact_line  # imported here: confirm needs the tools' text cleaning

            lines.append(f"impact:    {impact_line(self.op)}")
        for rule, why in self.rules:
            state = "MATCHES" if why is None else f"no match ({why})"
            lines.append(f"rule:      {rule.describe()} [{rule.action}]: {state}")
        d = self.decision
        lines.append(f"decision:  {d.verdict.upper()} in {self.mode} mode, by {d.rule_id}: {d.reason}")
        if d.hint:
            lines.append(f"hint:      {d.hint}")
        others = ", ".join(f"{m}: {x.verdict}" for m, x in self.by_mode.items())
        lines.append(f"per mode:  {others}")
        return "\n".join(lines)


def _describe_facts(f: OperationFacts) -> str:
    if f.plane == "api":
        what = f"{f.method} {f.path}"
    elif f.plane == "cli":
        what = "cli: " + " ".join((f.binary or "", *f.tokens)).strip()
        if f.method and f.path:
            what += f" (= {f.method} {f.path})"
    elif f.plane == "file":
        what = f"file: {f.file_path}"
    else:
        what = f"{f.plane}: {f.binary or ''}"
    extra = [f"cluster {f.cluster}"]
    if f.tool:
        extra.append(f"tool {f.tool}")
    return f"{what} ({', '.join(extra)})"


class Policy:
    """Ordered operator rules, then the built-in defaults."""

    def __init__(self, rules: Sequence[Rule] = (), *, source: str | None = None) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.source = source

    def __repr__(self) -> str:
        return f"<Policy {len(self.rules)} rules from {self.source or 'code'}>"

    def decide(self, op: Operation, mode: str) -> Decision:
        """Decide one operation for a cluster in access ``mode``.

        Raises:
            ValueError: ``mode`` is not an access mode.
        """
        return self.decide_facts(inspect_operation(op), mode)

    def decide_facts(self, facts: OperationFacts, mode: str) -> Decision:
        """:meth:`decide` for an already inspected operation."""
        rank = mode_rank(mode)
        c = facts.classification
        need = c.required_mode
        if c.forbidden:
            return self._decision("deny", f"{c.reason}; nothing of this kind is ever run", "default:forbidden", c,
                                  hint=None)
        for rule in self.rules:
            if not rule.matches(facts, mode):
                continue
            said = f" - {rule.reason}" if rule.reason else ""
            if rule.action == "deny":
                return self._decision(
                    "deny", f"{rule.describe()} denies {_what(facts)}{said}", rule.id, c,
                    hint=f"The policy file{_in(self.source)} decides this; an operator can change {rule.describe()}.",
                )
            if rank < mode_rank(need):
                return self._decision(
                    "deny",
                    f"{rule.describe()} would {rule.action} {_what(facts)}, but the cluster is in {mode} mode and "
                    f"{c.reason}: it needs {need} mode (the access mode is a ceiling no rule lifts)",
                    rule.id, c, hint=_mode_hint(need),
                )
            return self._decision(rule.action, f"{rule.describe()} says {rule.action}{said}", rule.id, c)
        default_id = "default:" + ("secret" if c.sensitive else c.kind)
        if rank < mode_rank(need):
            return self._decision(
                "deny", f"the cluster is in {mode} mode; {c.reason}: it needs {need} mode", default_id, c,
                hint=_mode_hint(need),
            )
        if c.needs_confirmation:
            return self._decision("confirm", f"{c.reason}: a human must confirm it", default_id, c)
        return self._decision("allow", f"access mode {mode} allows {c.kind} operations", default_id, c)

    def explain(self, op: Operation, mode: str) -> Explanation:
        """The decision for ``op`` in ``mode``, with the facts and every rule's verdict."""
        facts = inspect_operation(op)
        return Explanation(
            op=op,
            facts=facts,
            mode=mode,
            decision=self.decide_facts(facts, mode),
            by_mode={m: self.decide_facts(facts, m) for m in MODES},
            rules=tuple((r, r.mismatch(facts, mode)) for r in self.rules),
        )

    def warnings(self) -> list[str]:
        """Rules that are legal but probably not what their author meant."""
        out = []
        for rule in self.rules:
            who = rule.describe()
            if not rule.criteria():
                out.append(f"{who} has no criteria: it matches every operation")
            if rule.action == "allow" and (not rule.classes or rule.classes & {"destructive", "secret"}):
                out.append(
                    f"{who} allows without a human confirmation every matching operation, destructive and "
                    "secret ones included; add class = [\"read\", \"write\"] to keep the confirmations"
                )
            api_only = bool(rule.methods or rule.paths or rule.path_regex)
            if api_only and rule.planes and not rule.planes & {"api", "cli"}:
                out.append(f"{who} matches methods/paths but only on the {sorted(rule.planes)} plane: it never matches")
            if rule.files and rule.planes and "file" not in rule.planes:
                out.append(f"{who} matches files but not on the file plane: it never matches")
            if (rule.cli or rule.subcommands) and rule.planes and not rule.planes & {"cli", "shell"}:
                out.append(f"{who} matches CLI programs but not on the cli plane: it never matches")
        return out

    def _decision(self, verdict: Verdict, reason: str, rule_id: str, c: Classification, *,
                  hint: str | None = None) -> Decision:
        return Decision(
            verdict=verdict,
            reason=reason,
            rule_id=rule_id,
            required_mode=c.required_mode,
            op_class=c.kind,
            sensitive=c.sensitive,
            impact=c.impact,
            hint=hint,
        )


DEFAULT_POLICY = Policy(source="built-in defaults")
"""The defaults alone: no operator rules."""


def _what(facts: OperationFacts) -> str:
    return _describe_facts(facts).rsplit(" (cluster", 1)[0]


def _in(source: str | None) -> str:
    return f" ({source})" if source else ""


def _mode_hint(need: str) -> str:
    return (
        f"An operator can allow this class of operation by setting PROXMOX_MCP_ACCESS={need} "
        "(or `access` for this cluster in the configuration file)."
    )


# --- building rules from data --------------------------------------------------------------


def _strings(key: str, value: Any, problems: list[str]) -> list[str]:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            problems.append(f"`{key}` must be a non-empty string or a list of them, not {item!r}")
            continue
        out.append(item.strip())
    if isinstance(value, list) and not value:
        problems.append(f"`{key}` is an empty list: leave it out to match anything")
    return out


def _choices(
    key: str, value: Any, allowed: Sequence[str], problems: list[str], *, upper: bool = False
) -> frozenset[str]:
    out = set()
    for item in _strings(key, value, problems):
        v = item.upper() if upper else item.lower()
        if v not in allowed:
            close = difflib.get_close_matches(v, allowed, n=1)
            tip = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"`{key}`: {item!r} is not one of {', '.join(allowed)}{tip}")
        else:
            out.add(v)
    return frozenset(out)


_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def _vmid_ranges(value: Any, problems: list[str]) -> tuple[tuple[int, int], ...]:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, bool):
            problems.append(f"`vmid`: {item!r} is not a VMID or a range like \"100-199\"")
            continue
        if isinstance(item, int):
            lo = hi = item
        elif isinstance(item, str) and (m := _RANGE.match(item)):
            lo = int(m.group(1))
            hi = int(m.group(2)) if m.group(2) else lo
        else:
            problems.append(f"`vmid`: {item!r} is not a VMID or a range like \"100-199\"")
            continue
        ok = True
        if lo > hi:
            problems.append(f"`vmid`: range {item!r} runs backwards (write \"{hi}-{lo}\")")
            lo, hi, ok = hi, lo, False
        if lo < 100 or hi > MAX_VMID:
            problems.append(f"`vmid`: {item!r} is outside 100-{MAX_VMID}, where VMIDs live")
            ok = False
        if ok:
            out.append((lo, hi))
    if isinstance(value, list) and not value:
        problems.append("`vmid` is an empty list: leave it out to match anything")
    return tuple(out)


def _rule_from_mapping(raw: Mapping[str, Any], *, default_id: str, source: str | None = None,
                       key_problems: dict[str, list[str]] | None = None) -> tuple[Rule | None, list[str]]:
    """A rule and the problems found. ``key_problems`` (when given) receives the problems per
    key, so the caller can point at the key's line."""
    problems: list[str] = []
    per_key: dict[str, list[str]] = key_problems if key_problems is not None else {}

    def at(key: str) -> list[str]:
        return per_key.setdefault(key, [])

    for key in raw:
        if key not in RULE_KEYS:
            close = difflib.get_close_matches(str(key), RULE_KEYS, n=1)
            tip = f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(RULE_KEYS)})"
            at(str(key)).append(f"unknown key {key!r}{tip}")

    rid = raw.get("id", default_id)
    if not isinstance(rid, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}", rid):
        at("id").append(f"`id` {rid!r} must be a name of letters, digits, '-', '_', '.', ':' (at most 64)")
        rid = default_id
    action = raw.get("action")
    if action is None:
        at("action").append("`action` is missing: write action = \"allow\", \"deny\" or \"confirm\"")
    elif not isinstance(action, str) or action.lower() not in ACTIONS:
        at("action").append(f"`action` {action!r} is not one of allow, deny, confirm")
        action = None
    reason = raw.get("reason", "")
    if not isinstance(reason, str):
        at("reason").append("`reason` must be a string")
        reason = ""

    fields: dict[str, Any] = {}
    if "plane" in raw:
        fields["planes"] = _choices("plane", raw["plane"], PLANES, at("plane"))
    if "methods" in raw:
        fields["methods"] = _choices("methods", raw["methods"], METHODS, at("methods"), upper=True)
    if "path" in raw:
        paths = _strings("path", raw["path"], at("path"))
        for p in paths:
            if not p.startswith("/") and not p.startswith("**"):
                at("path").append(f"`path` {p!r} must start with '/' (a path below /api2/json, e.g. /nodes/*/qemu/*)")
        fields["paths"] = tuple(paths)
        fields["_path_re"] = _compile_globs(paths)
    if "path_regex" in raw:
        rx = raw["path_regex"]
        if not isinstance(rx, str) or not rx:
            at("path_regex").append("`path_regex` must be a non-empty string")
        else:
            try:
                fields["_regex_re"] = re.compile(rx)
                fields["path_regex"] = rx
            except re.error as exc:
                at("path_regex").append(f"`path_regex` {rx!r} is not a valid regular expression: {exc}")
    if "node" in raw:
        nodes = _strings("node", raw["node"], at("node"))
        fields["nodes"] = tuple(nodes)
        fields["_node_re"] = _compile_globs(nodes)
    if "vmid" in raw:
        fields["vmids"] = _vmid_ranges(raw["vmid"], at("vmid"))
    if "cli" in raw:
        fields["cli"] = _choices("cli", raw["cli"], tuple(CLI_TABLE), at("cli"))
    if "subcommand" in raw:
        fields["subcommands"] = tuple(tuple(s.split()) for s in _strings("subcommand", raw["subcommand"],
                                                                             at("subcommand")))
    if "file" in raw:
        files = []
        for f in _strings("file", raw["file"], at("file")):
            norm = normalize_file_path(f)
            if norm is None:
                at("file").append(f"`file` {f!r} must be an absolute path prefix, e.g. /etc/pve/")
            else:
                files.append(norm)
        fields["files"] = tuple(files)
    if "tool" in raw:
        tools = _strings("tool", raw["tool"], at("tool"))
        fields["tools"] = tuple(tools)
        fields["_tool_re"] = re.compile("|".join(fnmatch.translate(t) for t in tools)) if tools else None
    if "class" in raw:
        fields["classes"] = _choices("class", raw["class"], CLASSES, at("class"))
    if "modes" in raw:
        fields["modes"] = _choices("modes", raw["modes"], MODES, at("modes"))
    if "cluster" in raw:
        clusters = _strings("cluster", raw["cluster"], at("cluster"))
        fields["clusters"] = tuple(clusters)
        fields["_cluster_re"] = re.compile("|".join(fnmatch.translate(c) for c in clusters)) if clusters else None

    for key, found in per_key.items():
        problems.extend(found)
    if problems or action is None:
        return None, problems
    return Rule(id=rid, action=action.lower(), reason=reason.strip(), source=source, **fields), problems


# --- the policy file ----------------------------------------------------------------------


_HEADER = re.compile(r"^\s*\[\[\s*rules\s*\]\]\s*(?:#.*)?$")
_ANY_HEADER = re.compile(r"^\s*\[")


def _rule_lines(text: str) -> list[tuple[int, int]]:
    """(first, last) line numbers (1-based) of each ``[[rules]]`` table, in order."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if _HEADER.match(line)]
    spans = []
    for n, start in enumerate(starts):
        end = len(lines) - 1
        for j in range(start + 1, len(lines)):
            if _ANY_HEADER.match(lines[j]):
                end = j - 1
                break
        spans.append((start + 1, end + 1))
        del n
    return spans


def _key_line(text: str, span: tuple[int, int] | None, key: str) -> int | None:
    if span is None:
        return None
    lines = text.splitlines()
    pattern = re.compile(rf"^\s*(?:{re.escape(key)}|\"{re.escape(key)}\"|'{re.escape(key)}')\s*=")
    for n in range(span[0], span[1] + 1):
        if pattern.match(lines[n - 1]):
            return n
    return span[0]


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """A :class:`Policy` from TOML text.

    Raises:
        ConfigError: every problem found, each prefixed with ``source:line``.
    """
    problems: list[str] = []
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            [f"{source}: not valid TOML: {exc}"],
            hint="Check the quoting and brackets at that line; `proxmox-mcp policy check FILE` re-checks it.",
        ) from None
    for key in data:
        if key not in TOP_KEYS:
            close = difflib.get_close_matches(key, TOP_KEYS + ("rules",), n=1)
            tip = f" (did you mean {close[0]!r}?)" if close else ""
            line = _top_line(text, key)
            problems.append(
                f"{source}{line}: unknown top-level key {key!r}{tip}; the file holds `version` and [[rules]]"
            )
    version = data.get("version", 1)
    if version != 1:
        problems.append(f"{source}{_top_line(text, 'version')}: `version` {version!r} is not supported (use 1)")
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list) or not all(isinstance(r, dict) for r in raw_rules):
        problems.append(f"{source}: `rules` must be an array of tables, written [[rules]]")
        raw_rules = []
    spans = _rule_lines(text)
    inline = len(spans) != len(raw_rules)  # rules = [{...}] form: no per-rule lines
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_rules):
        span = None if inline else spans[i]
        label = f"rules[{i + 1}]" + (f" ({raw['id']})" if isinstance(raw.get("id"), str) else "")
        per_key: dict[str, list[str]] = {}
        where = f"{Path(source).name} line {span[0]}" if span else f"{Path(source).name} {label}"
        rule, _ = _rule_from_mapping(raw, default_id=f"rule-{i + 1}", source=where, key_problems=per_key)
        found_here: list[tuple[int, str]] = []
        for key, found in per_key.items():
            line = _key_line(text, span, key) or 0
            found_here += [(line, p) for p in found]
        rid = raw.get("id")
        if isinstance(rid, str):
            if rid in seen:
                found_here.append((_key_line(text, span, "id") or 0, f"id {rid!r} is already used by "
                                                                     f"rules[{seen[rid] + 1}]"))
            seen.setdefault(rid, i)
        for line, p in sorted(found_here, key=lambda item: item[0]):
            problems.append(f"{source}{f':{line}' if line else ''}: {label}: {p}")
        if rule is not None:
            rules.append(rule)
    if problems:
        raise ConfigError(problems, hint="Fix every listed line; `proxmox-mcp policy check FILE` re-checks the file.")
    return Policy(rules, source=source)


def _top_line(text: str, key: str) -> str:
    for n, line in enumerate(text.splitlines(), 1):
        if _ANY_HEADER.match(line):
            break
        if re.match(rf"^\s*{re.escape(key)}\s*=", line):
            return f":{n}"
    for n, line in enumerate(text.splitlines(), 1):
        if re.match(rf"^\s*\[+\s*{re.escape(key)}\s*\]+", line):
            return f":{n}"
    return ""


def load_policy(path: str | Path) -> Policy:
    """Load a policy file (``PROXMOX_MCP_POLICY_FILE``).

    Raises:
        ConfigError: the file is missing or unreadable, is not TOML, or has invalid rules;
            every problem is listed with its line.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{p}: policy file not found"], hint="Check PROXMOX_MCP_POLICY_FILE.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{p}: cannot read the policy file: {exc}"]) from None
    return parse_policy(text, str(p))
