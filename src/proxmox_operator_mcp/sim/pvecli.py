"""The Proxmox command line as the simulated cluster acts it out.

``pvesh``, ``qm``, ``pct`` and ``pvesm`` behave like the real commands against the simulated
state: ``pvesh VERB PATH`` is the REST request, and ``qm``/``pct``/``pvesm`` read and act through
the same REST handlers, printing what the real tools print (tables, ``key: value`` lines; worker
commands run in the foreground and fail with exit status 255 and PVE's message). Node commands
(``hostname``, ``uptime``, ``pveversion``, ``cat`` …) and a tiny ``sh -c`` (``;``, ``&&``, ``||``,
no pipes or redirections) complete the picture for the shell plane; ``pct exec`` runs a tiny
in-container model. Anything else exits 127 with ``command not found``.

This module is stdlib-only and imports nothing from the package on purpose: the simulated SSH
endpoint runs it in process (:class:`Backend` over the ASGI app), and the real-sshd tests copy
this file next to fake ``pvesh``/``qm``/``pct`` scripts that run it with the system Python
against the simulator's REST API over HTTPS (:class:`HttpBackend`, :func:`main_http`).
"""

from __future__ import annotations

import io
import json
import re
import shlex
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["ApiError", "Backend", "HttpBackend", "Result", "guest_exec", "main_http", "run"]

_UPID_RE = re.compile(r"^UPID:([a-zA-Z0-9][a-zA-Z0-9\-]*):[0-9A-Fa-f]{8}:")
_VERBS = {"get": "GET", "create": "POST", "set": "PUT", "delete": "DELETE"}
_ACTIONS = ("start", "stop", "shutdown", "reboot", "suspend", "resume", "reset")


class ApiError(Exception):
    """A REST error: PVE's status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Backend(Protocol):
    """What the commands need from the simulated node."""

    node: str

    def api(self, method: str, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """The REST ``data`` of a request to the simulated API (as root@pam); raises :class:`ApiError`."""

    def read_file(self, path: str) -> bytes:
        """A file of the node; raises FileNotFoundError, IsADirectoryError or PermissionError."""

    def sleep(self, seconds: float) -> None: ...


@dataclass
class Result:
    status: int
    stdout: str
    stderr: str


class _Exit(Exception):
    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Io:
    def __init__(self) -> None:
        self.out = io.StringIO()
        self.err = io.StringIO()

    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")


def run(argv: Sequence[str], backend: Backend, stdin: bytes = b"") -> Result:
    """Run one command line (an argv) on the simulated node."""
    out = _Io()
    try:
        status = _dispatch(list(argv), backend, out, stdin)
    except _Exit as exc:
        if exc.message:
            out.err.write(exc.message.rstrip("\n") + "\n")
        status = exc.status
    except ApiError as exc:
        out.err.write(exc.message.rstrip("\n") + "\n")
        status = 255
    return Result(status, out.out.getvalue(), out.err.getvalue())


def _dispatch(argv: list[str], b: Backend, io_: _Io, stdin: bytes) -> int:
    if not argv:
        return 0
    name = argv[0].rsplit("/", 1)[-1]
    args = argv[1:]
    handler = _COMMANDS.get(name)
    if handler is None:
        raise _Exit(127, f"sh: 1: {name}: not found" if "/" not in argv[0] else f"sh: 1: {argv[0]}: not found")
    return handler(args, b, io_, stdin)


# --------------------------------------------------------------------------- pvesh


def _options(args: Sequence[str]) -> tuple[list[str], dict[str, Any]]:
    """Positionals and ``--key value`` / ``--key=value`` options (repeated keys become lists)."""
    positionals: list[str] = []
    opts: dict[str, Any] = {}
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("--") and len(a) > 2:
            key, eq, value = a[2:].partition("=")
            if not eq:
                if i + 1 < len(args) and not args[i + 1].startswith("--"):
                    value = args[i + 1]
                    i += 1
                else:
                    value = "1"
            if key in opts:
                old = opts[key]
                opts[key] = [*old, value] if isinstance(old, list) else [old, value]
            else:
                opts[key] = value
        elif a == "--":
            positionals.extend(args[i + 1 :])
            break
        else:
            positionals.append(a)
        i += 1
    return positionals, opts


def _is_upid(value: Any) -> bool:
    return isinstance(value, str) and bool(_UPID_RE.match(value))


def _wait_task(b: Backend, upid: str, io_: _Io) -> None:
    """Run a worker "in the foreground": wait for it, print its log, fail like the CLI does."""
    node = _UPID_RE.match(upid).group(1)  # type: ignore[union-attr]
    path = f"/nodes/{node}/tasks/{urllib.parse.quote(upid, safe='')}"
    deadline = time.monotonic() + 600
    while True:
        st = b.api("GET", f"{path}/status")
        if st.get("status") == "stopped" or time.monotonic() > deadline:
            break
        b.sleep(0.02)
    for entry in b.api("GET", f"{path}/log", {"start": 0, "limit": 5000}) or []:
        line = str(entry.get("t", ""))
        if line and not line.startswith("TASK ") and line != "no content":
            io_.print(line)
    exitstatus = st.get("exitstatus")
    if exitstatus != "OK" and not str(exitstatus or "").startswith("WARNINGS"):
        raise _Exit(255, str(exitstatus or "task did not finish"))


def _text(data: Any) -> str:
    """pvesh's text output, roughly: scalars as is, objects as key/value lines, lists as rows."""
    if data is None:
        return ""
    if isinstance(data, (str, int, float)):
        return str(data)
    if isinstance(data, dict):
        return "\n".join(f"{k}: {json.dumps(v) if isinstance(v, (dict, list)) else v}" for k, v in sorted(data.items()))
    if isinstance(data, list):
        return "\n".join(_text(x) if not isinstance(x, dict) else " ".join(f"{k}={v}" for k, v in sorted(x.items())) for x in data)
    return json.dumps(data)


def _pvesh(args: list[str], b: Backend, io_: _Io, stdin: bytes) -> int:
    if not args or args[0] in ("help", "--help", "-h"):
        io_.print("USAGE: pvesh get|create|set|delete <api_path> [OPTIONS] [FORMAT_OPTIONS]")
        return 0
    verb = args[0]
    if verb == "ls":
        positionals, _ = _options(args[1:])
        path = positionals[0] if positionals else "/"
        for item in b.api("GET", path) or []:
            if isinstance(item, dict):
                name = next((str(v) for v in item.values() if isinstance(v, (str, int))), "")
                io_.print(f"Dr---        {name}")
        return 0
    if verb not in _VERBS:
        raise _Exit(255, f"ERROR: unknown command 'pvesh {verb}'\nUSAGE: pvesh get|create|set|delete <api_path>")
    positionals, opts = _options(args[1:])
    if not positionals:
        raise _Exit(255, "400 not enough arguments\npvesh " + verb + " <api_path> [OPTIONS]")
    path = positionals[0]
    fmt = str(opts.pop("output-format", "text"))
    for flag in ("noproxy", "quiet", "human-readable", "noborder", "noheader"):
        opts.pop(flag, None)
    method = _VERBS[verb]
    data = b.api(method, path, opts)
    if method != "GET" and _is_upid(data):
        _wait_task(b, data, io_)
    if fmt == "json":
        if data is not None:
            io_.print(json.dumps(data, separators=(",", ":")))
    elif fmt == "json-pretty":
        io_.print(json.dumps(data, indent=4, sort_keys=True))
    else:
        text = _text(data)
        if text:
            io_.print(text)
    return 0


# --------------------------------------------------------------------------- qm / pct / pvesm


def _vmid(positionals: list[str], cmd: str) -> int:
    if not positionals:
        raise _Exit(255, f"400 not enough arguments\n{cmd} <vmid> [OPTIONS]")
    if not positionals[0].isdigit():
        raise _Exit(255, f"400 Parameter verification failed.\nvmid: type check ('integer') failed - got '{positionals[0]}'")
    return int(positionals[0])


def _mb(value: Any) -> int:
    try:
        return int(int(value or 0) / (1024 * 1024))
    except (TypeError, ValueError):
        return 0


def _guest_cmd(kind: str) -> Callable[[list[str], Backend, _Io, bytes], int]:
    prog = "qm" if kind == "qemu" else "pct"

    def handler(args: list[str], b: Backend, io_: _Io, stdin: bytes) -> int:
        if not args or args[0] in ("help", "--help"):
            io_.print(f"USAGE: {prog} <COMMAND> [ARGS] [OPTIONS]")
            io_.print(f"       {prog} list | status | config | start | stop | shutdown | reboot" + (" | exec" if kind == "lxc" else ""))
            return 0
        sub, rest = args[0], args[1:]
        positionals, opts = _options(rest)
        base = f"/nodes/{b.node}/{kind}"
        if sub == "list":
            rows = sorted(b.api("GET", base) or [], key=lambda r: int(r.get("vmid", 0)))
            # The column layout of qemu-server's and pve-container's `list` (printf widths).
            if kind == "qemu":
                io_.print(f"{'VMID':>10} {'NAME':<20} {'STATUS':<10} {'MEM(MB)':<10} {'BOOTDISK(GB)':>12} {'PID':<10}")
                for r in rows:
                    disk = int(r.get("maxdisk") or 0) / 1024**3
                    io_.print(
                        f"{r.get('vmid')!s:>10} {r.get('name', '')!s:<20} {r.get('status', '')!s:<10} "
                        f"{_mb(r.get('maxmem'))!s:<10} {disk:>12.2f} {r.get('pid') or 0!s:<10}"
                    )
            else:
                io_.print(f"{'VMID':<10} {'Status':<10} {'Lock':<12} {'Name':<20}")
                for r in rows:
                    io_.print(
                        f"{r.get('vmid')!s:<10} {r.get('status', '')!s:<10} {r.get('lock', '')!s:<12} "
                        f"{r.get('name', '')!s:<20}"
                    )
            return 0
        if sub == "status":
            vmid = _vmid(positionals, f"{prog} status")
            st = b.api("GET", f"{base}/{vmid}/status/current")
            if opts.get("verbose"):
                for k, v in sorted(st.items()):
                    if not isinstance(v, (dict, list)):
                        io_.print(f"{k}: {v}")
            else:
                io_.print(f"status: {st.get('status')}")
            return 0
        if sub == "config":
            vmid = _vmid(positionals, f"{prog} config")
            params = {k: opts[k] for k in ("current", "snapshot") if k in opts}
            conf = b.api("GET", f"{base}/{vmid}/config", params)
            desc = conf.pop("description", None)
            conf.pop("digest", None)
            if desc is not None:
                for line in str(desc).split("\n"):
                    io_.print(f"#{line}")
            for k, v in sorted(conf.items()):
                io_.print(f"{k}: {v}")
            return 0
        if sub in _ACTIONS and not (kind == "lxc" and sub == "reset"):
            vmid = _vmid(positionals, f"{prog} {sub}")
            upid = b.api("POST", f"{base}/{vmid}/status/{sub}", opts)
            if _is_upid(upid):
                _wait_task(b, upid, io_)
            return 0
        if sub == "exec" and kind == "lxc":
            vmid = _vmid(positionals, "pct exec")
            command = positionals[1:]
            st = b.api("GET", f"{base}/{vmid}/status/current")
            if st.get("status") != "running":
                raise _Exit(255, f"CT {vmid} not running")
            conf = b.api("GET", f"{base}/{vmid}/config")
            if not command:
                raise _Exit(255, "missing command")
            code, out, err = guest_exec(command, _ct_facts(vmid, conf), stdin)
            io_.out.write(out)
            io_.err.write(err)
            return code
        raise _Exit(255, f"unknown command '{prog} {sub}' (not simulated)")

    return handler


def _pvesm(args: list[str], b: Backend, io_: _Io, stdin: bytes) -> int:
    if not args or args[0] != "status":
        if args and args[0] in ("help", "--help"):
            io_.print("USAGE: pvesm status")
            return 0
        raise _Exit(255, f"unknown command 'pvesm {args[0] if args else ''}' (not simulated)")
    rows = b.api("GET", f"/nodes/{b.node}/storage") or []
    width = max([len("Name"), *(len(str(r.get("storage", ""))) for r in rows)])
    io_.print(f"{'Name':<{width}} {'Type':>10} {'Status':>10} {'Total':>15} {'Used':>15} {'Available':>15} {'%':>8}")
    for r in sorted(rows, key=lambda r: str(r.get("storage"))):
        total, used, avail = (int(r.get(k) or 0) // 1024 for k in ("total", "used", "avail"))
        pct = f"{used * 100 / total:.2f}%" if total else "0.00%"
        status = "active" if r.get("active") else "inactive"
        io_.print(f"{r.get('storage', ''):<{width}} {r.get('type', ''):>10} {status:>10} {total:>15} {used:>15} {avail:>15} {pct:>8}")
    return 0


# --------------------------------------------------------------------------- node commands


def _echo(args: list[str], b: Backend, io_: _Io, stdin: bytes) -> int:
    newline = True
    if args[:1] == ["-n"]:
        newline, args = False, args[1:]
    io_.out.write(" ".join(args) + ("\n" if newline else ""))
    return 0


def _true(args: list[str], b: Backend, io_: _Io, stdin: bytes) -> int:
    return 0


def _false(args: list[str], b: Backend, io_: _Io, stdin: bytes) -> int:
    return 1


def _hostname(args: list[str], b: Backend, io_: _Io, stdin: bytes) -> int:
    io_.print(b.node)
    return 0


def _kernel(b: Backend) -> str:
    try:
        return str(b.api("GET", f"/nodes/{b.node}/status").get("kversion", "")).split()[1]
    except (ApiError, IndexError, AttributeError):
        return "6.14.8-2-pve"


def _uname(args: list[str], b: Backend, io_: _Io, stdin: bytes) -> int:
    if "-a" in args:
        io_.print(f"Linux {b.node} {_kernel(b)} #1 SMP PREEMPT_DYNAMIC PMX (2025-07-22T10:04Z) x86_64 GNU/Linux")
    elif "-r" in args:
        io_.print(_kernel(b))
    else:
        io_.print("Linux")
    return 0


def _uptime(args: list[str], b: Backend, io_: _Io, stdin: bytes) -> int:
    st = b.api("GET", f"/nodes/{b.node}/status")
    up = int(st.get("uptime") or 0)
    load = ", ".join(str(x) for x in st.get("loadavg") or ["0.00", "0.00", "0.00"])
    now = time.strftime("%H:%M:%S")
    io_.print(f" {now} up {up // 86400} days, {up % 86400 // 3600:2d}:{up % 3600 // 60:02d},  0 users,  load average: {load}")
    return 0


def _pveversion(args: list[str], b: Backend, io_: _Io, stdin: bytes) -> int:
    v = b.api("GET", "/version")
    io_.print(f"pve-manager/{v.get('version')}/{v.get('repoid')} (running kernel: {_kernel(b)})")
    return 0


def _cat(args: list[str], b: Backend, io_: _Io, stdin: bytes) -> int:
    if not args:
        io_.out.write(stdin.decode("utf-8", "replace"))
        return 0
    status = 0
    for path in args:
        try:
            io_.out.write(b.read_file(path).decode("utf-8", "replace"))
        except FileNotFoundError:
            io_.err.write(f"cat: {path}: No such file or directory\n")
            status = 1
        except IsADirectoryError:
            io_.err.write(f"cat: {path}: Is a directory\n")
            status = 1
        except PermissionError:
            io_.err.write(f"cat: {path}: Permission denied\n")
            status = 1
    return status


def _free(args: list[str], b: Backend, io_: _Io, stdin: bytes) -> int:
    mem = b.api("GET", f"/nodes/{b.node}/status").get("memory") or {}
    div = 1024 * 1024 if "-m" in args else 1024 * 1024 * 1024 if "-g" in args else 1024
    total, used, free = (int(mem.get(k) or 0) // div for k in ("total", "used", "free"))
    io_.print(f"{'':15}{'total':>12}{'used':>12}{'free':>12}")
    io_.print(f"{'Mem:':15}{total:>12}{used:>12}{free:>12}")
    return 0


def _df(args: list[str], b: Backend, io_: _Io, stdin: bytes) -> int:
    fs = b.api("GET", f"/nodes/{b.node}/status").get("rootfs") or {}
    total, used, avail = (int(fs.get(k) or 0) // 1024 for k in ("total", "used", "avail"))
    io_.print("Filesystem           1K-blocks      Used Available Use% Mounted on")
    io_.print(f"/dev/mapper/pve-root {total:>9} {used:>9} {avail:>9} {used * 100 // max(total, 1):>3}% /")
    return 0


def _systemctl(args: list[str], b: Backend, io_: _Io, stdin: bytes) -> int:
    positionals, _ = _options(args)
    sub = positionals[0] if positionals else "list-units"
    units = positionals[1:] or ["pveproxy", "pvedaemon", "pve-cluster", "corosync"]
    if sub == "is-active":
        for _ in units:
            io_.print("active")
        return 0
    if sub == "status":
        for u in units:
            io_.print(f"● {u}.service - {u} (simulated)")
            io_.print(f"     Loaded: loaded (/lib/systemd/system/{u}.service; enabled; preset: enabled)")
            io_.print("     Active: active (running)")
        return 0
    for u in units:
        io_.print(f"{u}.service loaded active running {u}")
    return 0


def _journalctl(args: list[str], b: Backend, io_: _Io, stdin: bytes) -> int:
    for t in (b.api("GET", f"/nodes/{b.node}/tasks", {"limit": 20}) or [])[::-1]:
        stamp = time.strftime("%b %d %H:%M:%S", time.localtime(int(t.get("starttime") or 0)))
        io_.print(f"{stamp} {b.node} pvedaemon[{int(t.get('pid') or 0)}]: <{t.get('user')}> end task {t.get('upid')} {t.get('status', 'OK')}")
    return 0


def _ip(args: list[str], b: Backend, io_: _Io, stdin: bytes) -> int:
    ip = "10.10.10.10"
    for entry in b.api("GET", "/cluster/status") or []:
        if entry.get("type") == "node" and entry.get("name") == b.node:
            ip = entry.get("ip") or ip
    io_.print("1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 state UNKNOWN\n    inet 127.0.0.1/8 scope host lo")
    io_.print(f"2: vmbr0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state UP\n    inet {ip}/24 scope global vmbr0")
    return 0


_SHELL_OPS = {";", "&&", "||"}


def _sh(args: list[str], b: Backend, io_: _Io, stdin: bytes) -> int:
    """``sh -c SCRIPT``: simple commands joined by ``;``, ``&&`` and ``||``."""
    if len(args) < 2 or args[0] != "-c":
        raise _Exit(2, "sh: interactive shells are not simulated (use sh -c SCRIPT)")
    lexer = shlex.shlex(args[1].replace("\n", " ; "), posix=True, punctuation_chars=";&|<>()")
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError as exc:
        raise _Exit(2, f"sh: 1: Syntax error: {exc}") from None
    status, op, cmd = 0, ";", []
    for tok in [*tokens, ";"]:
        if tok in _SHELL_OPS or tok == "\n":
            if cmd and (op == ";" or (op == "&&" and status == 0) or (op == "||" and status != 0)):
                if cmd[0] == "exit":
                    return int(cmd[1]) if len(cmd) > 1 and cmd[1].isdigit() else status
                sub = run(cmd, b, stdin)
                io_.out.write(sub.stdout)
                io_.err.write(sub.stderr)
                status = sub.status
            op, cmd = tok, []
        elif set(tok) <= set("&|<>()"):
            raise _Exit(2, f"sh: pipes, redirections and subshells are not simulated ({tok!r})")
        else:
            cmd.append(tok)
    return status


_COMMANDS: dict[str, Callable[[list[str], Backend, _Io, bytes], int]] = {
    "pvesh": _pvesh,
    "qm": _guest_cmd("qemu"),
    "pct": _guest_cmd("lxc"),
    "pvesm": _pvesm,
    "echo": _echo,
    "true": _true,
    "false": _false,
    "hostname": _hostname,
    "uname": _uname,
    "uptime": _uptime,
    "pveversion": _pveversion,
    "cat": _cat,
    "free": _free,
    "df": _df,
    "systemctl": _systemctl,
    "journalctl": _journalctl,
    "ip": _ip,
    "sh": _sh,
}


# --------------------------------------------------------------------------- inside a guest


def _ct_facts(vmid: int, conf: Mapping[str, Any]) -> dict[str, str]:
    ostype = str(conf.get("ostype") or "debian")
    return {"hostname": str(conf.get("hostname") or f"CT{vmid}"), "ostype": ostype}


_OS_RELEASE = {
    "debian": 'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nNAME="Debian GNU/Linux"\nVERSION_ID="13"\nID=debian\n',
    "ubuntu": 'PRETTY_NAME="Ubuntu 24.04.3 LTS"\nNAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\n',
    "alpine": 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.22.0\nPRETTY_NAME="Alpine Linux v3.22"\n',
    "windows": "",
}


def guest_exec(argv: Sequence[str], facts: Mapping[str, str], stdin: bytes = b"") -> tuple[int, str, str]:
    """A command inside a guest: ``echo``, ``hostname``, ``cat`` of /etc/hostname and
    /etc/os-release, ``uname``, ``id``, ``true``/``false``, ``sh -c`` of those. Returns
    (exit status, stdout, stderr); an unknown program exits 127."""
    files = {
        "/etc/hostname": facts.get("hostname", "guest") + "\n",
        "/etc/os-release": _OS_RELEASE.get(facts.get("ostype", "debian"), _OS_RELEASE["debian"]),
    }
    name, args = argv[0].rsplit("/", 1)[-1], list(argv[1:])
    if name == "echo":
        newline = args[:1] != ["-n"]
        return 0, " ".join(args[0 if newline else 1 :]) + ("\n" if newline else ""), ""
    if name in ("true", "false"):
        return (0 if name == "true" else 1), "", ""
    if name == "hostname":
        return 0, files["/etc/hostname"], ""
    if name == "id":
        return 0, "uid=0(root) gid=0(root) groups=0(root)\n", ""
    if name == "uname":
        full = "Linux " + facts.get("hostname", "guest") + " 6.14.8-2-pve #1 SMP x86_64 GNU/Linux\n"
        return 0, full if "-a" in args else "Linux\n", ""
    if name == "cat":
        if not args:
            return 0, stdin.decode("utf-8", "replace"), ""
        out, err, status = [], [], 0
        for path in args:
            if path in files:
                out.append(files[path])
            else:
                err.append(f"cat: {path}: No such file or directory\n")
                status = 1
        return status, "".join(out), "".join(err)
    if name == "sh" and args[:1] == ["-c"] and len(args) > 1:
        outs, errs, status = [], [], 0
        for part in re.split(r"\s*;\s*", args[1]):
            if part.strip():
                status, o, e = guest_exec(shlex.split(part), facts)
                outs.append(o)
                errs.append(e)
        return status, "".join(outs), "".join(errs)
    return 127, "", f'Failed to exec "{argv[0]}": No such file or directory\n'


# --------------------------------------------------------------------------- over HTTPS


class HttpBackend:
    """The simulator's REST API over HTTPS with an API token (for fakes on a real sshd)."""

    def __init__(self, url: str, auth_header: str, ca_file: str, node: str) -> None:
        self.url = url.rstrip("/")
        self.auth_header = auth_header
        self.node = node
        self._ctx = ssl.create_default_context(cafile=ca_file)

    def api(self, method: str, path: str, params: Mapping[str, Any] | None = None) -> Any:
        pairs: list[tuple[str, str]] = []
        for k, v in (params or {}).items():
            for item in v if isinstance(v, list) else [v]:
                pairs.append((k, str(item)))
        encoded = urllib.parse.urlencode(pairs)
        quoted = "/".join(urllib.parse.quote(seg, safe="@!:=+,~") for seg in path.split("/"))
        url = self.url + quoted
        body = None
        if method in ("GET", "DELETE"):
            url += ("?" + encoded) if encoded else ""
        else:
            body = encoded.encode()
        req = urllib.request.Request(url, data=body, method=method, headers={"Authorization": self.auth_header})
        if body is not None:
            req.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with urllib.request.urlopen(req, context=self._ctx, timeout=60) as resp:
                return json.loads(resp.read() or b"{}").get("data")
        except urllib.error.HTTPError as exc:
            message = exc.reason or ""
            try:
                message = json.loads(exc.read() or b"{}").get("message") or message
            except ValueError:
                pass
            raise ApiError(exc.code, str(message)) from None

    def read_file(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def main_http(argv: Sequence[str], config_file: str) -> int:
    """Entry point of a fake ``pvesh``/``qm``/``pct`` script: ``argv`` as the script got it."""
    with open(config_file, encoding="utf-8") as f:
        cfg = json.load(f)
    backend = HttpBackend(cfg["url"], cfg["auth_header"], cfg["ca_file"], cfg["node"])
    stdin = b"" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.buffer.read()
    result = run([argv[0].rsplit("/", 1)[-1], *argv[1:]], backend, stdin)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.status
