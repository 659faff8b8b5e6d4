#!/usr/bin/env python3
"""Generate docs/proxmox/module-inventory.md: which endpoints of the official PVE API schema the
typed tools call, and which remain reachable only through ``proxmox_api_call``.

The endpoints of a tool are found statically, so the result is deterministic and needs no cluster:
the handler's source (and, transitively, the helpers in ``tools/`` it calls) is parsed, every
``ctx.api(METHOD, PATH …)`` / ``act(ctx, METHOD, PATH …)`` / ``sub.api(…)`` call is collected, and
its path is rebuilt from string literals, f-strings and simple local assignments. A placeholder of
the path matches one segment: any ``{param}`` segment of the schema, and a literal segment only
when the placeholder's values are known (a ``Literal`` field of the tool's input, or a name in
``KNOWN``). ``list_tool`` specs contribute their ``path`` as a GET.

    .venv/bin/python scripts/gen_inventory.py          # write
    .venv/bin/python scripts/gen_inventory.py --check  # exit 1 if the committed file differs
"""

from __future__ import annotations

import argparse
import ast
import functools
import inspect
import re
import sys
import typing
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from proxmox_operator_mcp.schema import get_schema
from proxmox_operator_mcp.tools import all_tools

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "proxmox" / "module-inventory.md"
TOOLS_DIR = ROOT / "src" / "proxmox_operator_mcp" / "tools"

# Values of placeholders that are not tool input fields (locals and closure variables).
KNOWN: dict[str, tuple[str, ...]] = {"kind": ("qemu", "lxc"), "base_kind": ("qemu", "lxc")}
ANY = "\x00"  # a placeholder whose values are unknown: matches only schema parameters
_CALLS = {"api", "act"}
_METHODS = ("GET", "POST", "PUT", "DELETE")


# --- source model ---------------------------------------------------------------------------


@functools.cache
def _module_ast(path: str) -> ast.Module:
    return ast.parse(Path(path).read_text())


@functools.cache
def _all_functions() -> dict[str, list[tuple[str, ast.AST]]]:
    """Every function defined in tools/*.py by name (module-level and nested)."""
    out: dict[str, list[tuple[str, ast.AST]]] = defaultdict(list)
    for f in sorted(TOOLS_DIR.glob("*.py")):
        for node in ast.walk(_module_ast(str(f))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                out[node.name].append((str(f), node))
    return out


def _function_at(path: str, lineno: int) -> ast.AST | None:
    for node in ast.walk(_module_ast(path)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if first <= lineno <= (node.end_lineno or node.lineno) and lineno in (node.lineno, first):
                return node
    return None


def _assignments(fn: ast.AST) -> dict[str, list[ast.expr]]:
    out: dict[str, list[ast.expr]] = defaultdict(list)
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    out[t.id].append(node.value)
                elif isinstance(t, ast.Tuple):  # a, b = x, y  /  a, b = (x, y) if c else (z, w)
                    values = [node.value.body, node.value.orelse] if isinstance(node.value, ast.IfExp) else [node.value]
                    for v in values:
                        if isinstance(v, ast.Tuple) and len(v.elts) == len(t.elts):
                            for te, ve in zip(t.elts, v.elts, strict=True):
                                if isinstance(te, ast.Name):
                                    out[te.id].append(ve)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            out[node.target.id].append(node.value)
    return out


class _Resolver:
    def __init__(self, fn: ast.AST, literals: dict[str, tuple[str, ...]], env: dict[str, list[str]]) -> None:
        self.assigned = _assignments(fn)
        self.literals = literals
        self.env = env

    def strings(self, e: ast.expr, depth: int = 0) -> list[str]:
        """Every string ``e`` may be; a part that cannot be known becomes a placeholder."""
        if depth > 6:
            return [ANY]
        if isinstance(e, ast.Constant) and isinstance(e.value, str):
            return [e.value]
        if isinstance(e, ast.JoinedStr):
            outs = [""]
            for part in e.values:
                if isinstance(part, ast.Constant):
                    outs = [o + str(part.value) for o in outs]
                else:
                    assert isinstance(part, ast.FormattedValue)
                    outs = [o + v for o in outs for v in self.strings(part.value, depth + 1)]
            return outs
        if isinstance(e, ast.IfExp):
            return self.strings(e.body, depth + 1) + self.strings(e.orelse, depth + 1)
        if isinstance(e, ast.BinOp) and isinstance(e.op, ast.Add):
            return [a + b for a in self.strings(e.left, depth + 1) for b in self.strings(e.right, depth + 1)]
        if isinstance(e, ast.Name):
            if e.id in self.assigned:
                return [s for v in self.assigned[e.id] for s in self.strings(v, depth + 1)]
            if e.id in self.env:
                return list(self.env[e.id])
            return [_slot(self.literals.get(e.id) or KNOWN.get(e.id))]
        if isinstance(e, ast.Attribute) and isinstance(e.value, ast.Name) and e.value.id == "args":
            return [_slot(self.literals.get(e.attr))]
        return [ANY]


def _slot(values: Iterable[str] | None) -> str:
    return "\x01" + "|".join(values) + "\x01" if values else ANY


def _literal_fields(model: Any) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for name, f in getattr(model, "model_fields", {}).items():
        ann = f.annotation
        for a in (ann, *typing.get_args(ann)):
            if typing.get_origin(a) is typing.Literal:
                out[name] = tuple(str(v) for v in typing.get_args(a))
    return out


def _params(fn: ast.AST) -> list[str]:
    a = fn.args  # type: ignore[attr-defined]
    return [x.arg for x in (*a.posonlyargs, *a.args)]


def _requests(fn: ast.AST, resolver: _Resolver) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for node in ast.walk(fn):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        args = list(node.args)[1:] if name == "act" else list(node.args)
        if name in _CALLS and len(args) >= 2:
            methods = resolver.strings(args[0])
            methods = [m for m in methods if m in _METHODS] if all(m in _METHODS for m in methods) else list(_METHODS)
            for path in resolver.strings(args[1]):
                if path.startswith("/"):
                    found |= {(m, path) for m in methods}
    return found


def _handler_fn(fn: Any) -> tuple[Any, ast.AST | None]:
    fn = inspect.unwrap(fn)
    while isinstance(fn, functools.partial):
        fn = fn.func
    try:
        src = inspect.getsourcefile(fn)
        _, line = inspect.getsourcelines(fn)
    except (TypeError, OSError):
        return fn, None
    return fn, _function_at(str(src), line) if src else None


def tool_requests(spec: Any) -> set[tuple[str, str]]:
    """The (method, path-with-slots) requests a tool's handler can make, following the helpers it
    calls (by name in tools/, or through the handler's closure) with the string arguments it passes."""
    literals = _literal_fields(spec.input_model)
    fn, node = _handler_fn(spec.handler)
    out: set[tuple[str, str]] = set()
    closure = inspect.getclosurevars(fn).nonlocals if callable(fn) else {}
    if isinstance(closure.get("path"), str) and closure["path"].startswith("/"):  # list_tool
        path = re.sub(r"\{(\w+)\}", lambda m: _slot(literals.get(m[1]) or KNOWN.get(m[1])), closure["path"])
        out.add(("GET", path))
    if node is None:
        return out
    env0 = {k: [v] for k, v in closure.items() if isinstance(v, str)}
    local_fns = {k: _handler_fn(v)[1] for k, v in closure.items() if inspect.isfunction(v)}
    functions = _all_functions()
    seen: set[tuple[int, str]] = set()
    todo: list[tuple[ast.AST, dict[str, list[str]]]] = [(node, env0)]
    while todo:
        fnode, env = todo.pop()
        key = (id(fnode), repr(sorted(env.items())))
        if key in seen or len(seen) > 500:
            continue
        seen.add(key)
        resolver = _Resolver(fnode, literals, env)
        out |= _requests(fnode, resolver)
        for call in ast.walk(fnode):
            if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name | ast.Attribute):
                continue
            name = call.func.id if isinstance(call.func, ast.Name) else call.func.attr
            if name in _CALLS:
                continue
            targets = [local_fns[name]] if local_fns.get(name) is not None else [f for _, f in functions.get(name, [])]
            for target in targets:
                if target is fnode:
                    continue
                params = _params(target)
                bound: dict[str, list[str]] = {}
                for i, a in enumerate(call.args):
                    if i < len(params) and not isinstance(a, ast.Starred):
                        vals = resolver.strings(a)
                        if vals != [ANY]:
                            bound[params[i]] = vals
                for kw in call.keywords:
                    if kw.arg:
                        vals = resolver.strings(kw.value)
                        if vals != [ANY]:
                            bound[kw.arg] = vals
                todo.append((target, {**env0, **bound}))
    return out


# --- matching against the schema ---------------------------------------------------------------


def _pattern(path: str) -> re.Pattern[str]:
    out = []
    for seg in path.strip("/").split("/"):
        parts = re.split(r"(\x00|\x01[^\x01]*\x01)", seg)
        rx = ""
        for p in parts:
            if p == ANY:
                rx += r"\{[^/]+\}"
            elif p.startswith("\x01"):
                vals = [re.escape(v) for v in p.strip("\x01").split("|")]
                rx += r"(?:\{[^/]+\}|" + "|".join(vals) + ")"
            else:
                rx += re.escape(p)
        out.append(rx)
    return re.compile("^/" + "/".join(out) + "$")


def _area(path: str) -> str:
    segs = path.strip("/").split("/")
    if segs[0] == "nodes" and len(segs) > 2:
        return f"/nodes/{{node}}/{segs[2]}"
    if segs[0] in ("cluster", "access") and len(segs) > 1:
        return f"/{segs[0]}/{segs[1]}"
    return f"/{segs[0]}"


def inventory() -> tuple[dict[str, list[tuple[str, str, list[str]]]], dict[str, list[str]]]:
    """Per area: every endpoint (method, path, tools calling it); and per tool its endpoints."""
    schema = get_schema()
    endpoints = sorted({(e.method, e.path) for e in schema.endpoints}, key=lambda mp: (mp[1], _METHODS.index(mp[0])
                                                                                       if mp[0] in _METHODS else 9))
    by_tool: dict[str, list[str]] = {}
    callers: dict[tuple[str, str], list[str]] = defaultdict(list)
    for spec in all_tools():
        if spec.name == "proxmox_api_call":
            continue
        hits: set[tuple[str, str]] = set()
        for method, path in tool_requests(spec):
            rx = _pattern(path)
            hits |= {(m, p) for m, p in endpoints if m == method and rx.match(p)}
        if hits:
            by_tool[spec.name] = [f"{m} {p}" for m, p in sorted(hits, key=lambda mp: (mp[1], mp[0]))]
        for mp in hits:
            callers[mp].append(spec.name)
    areas: dict[str, list[tuple[str, str, list[str]]]] = defaultdict(list)
    for m, p in endpoints:
        areas[_area(p)].append((m, p, sorted(callers.get((m, p), []))))
    return dict(sorted(areas.items())), dict(sorted(by_tool.items()))


def inventory_md() -> str:
    areas, by_tool = inventory()
    total = sum(len(v) for v in areas.values())
    covered = sum(1 for v in areas.values() for _, _, t in v if t)
    schema = get_schema()
    out = [
        "# Module inventory: typed tools against the PVE API schema",
        "",
        ("Generated by `scripts/gen_inventory.py` from the tool sources and the vendored schema "
         f"(PVE {schema.version}); do not edit by hand."),
        "",
        "An endpoint is *typed* when at least one typed tool calls it (directly or through a shared helper,",
        "found by reading the handlers' source); every other endpoint is reachable only through",
        "`proxmox_api_call` (which reaches all of them, subject to the policy gate).",
        "",
        (f"**{covered} of {total} endpoints typed ({covered * 100 // total} %); "
         f"{total - covered} reachable only through `proxmox_api_call`.**"),
        "",
        "| area | endpoints | typed | api_call only |",
        "|---|---:|---:|---:|",
    ]
    for area, eps in areas.items():
        n = sum(1 for _, _, t in eps if t)
        out.append(f"| `{area}` | {len(eps)} | {n} | {len(eps) - n} |")
    out += ["", "## Typed endpoints by area", ""]
    for area, eps in areas.items():
        typed = [(m, p, t) for m, p, t in eps if t]
        if not typed:
            continue
        out += [f"### `{area}`", "", "| endpoint | tools |", "|---|---|"]
        out += [f"| `{m} {p}` | {', '.join(f'`{x}`' for x in t)} |" for m, p, t in typed]
        out.append("")
    out += ["## Endpoints per tool", "", "| tool | endpoints |", "|---|---|"]
    for name, eps in by_tool.items():
        out.append(f"| `{name}` | {'<br>'.join(f'`{e}`' for e in eps)} |")
    out += ["", "## Reachable only through `proxmox_api_call`", ""]
    for area, eps in areas.items():
        rest = [f"`{m} {p}`" for m, p, t in eps if not t]
        if rest:
            out += [f"- **`{area}`** ({len(rest)}): " + ", ".join(rest)]
    out.append("")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the committed file differs")
    ns = ap.parse_args()
    text = inventory_md()
    if ns.check:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT.relative_to(ROOT)} is stale: run scripts/gen_inventory.py", file=sys.stderr)
            return 1
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
