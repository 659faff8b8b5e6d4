"""One redaction layer for logs, audit records, errors and tool outputs.

:class:`Redactor` replaces two kinds of things with ``***``:

* **known values**: every secret the server resolved (registered with :meth:`Redactor.add`,
  which :class:`~proxmox_operator_mcp.secrets.SecretResolver` does for each value it reads),
  also in their URL-encoded and JSON-escaped forms;
* **shapes**: text that looks like a credential whatever its value: ``PVEAPIToken=…``,
  ``PVEAuthCookie=…``, PVE tickets (``PVE:user@realm:HEX::sig``), ``CSRFPreventionToken``,
  ``Authorization`` headers, cookies, ``user:password@`` in URLs, ``--password X`` /
  ``password=X`` / ``"password": "X"``, ``sshpass -p X`` / ``mysql -pX``, PEM private keys,
  JWTs and Vault tokens.

It runs on every tool output, so it is pure and cheap: patterns are compiled once, and a
pattern runs only where a substring test found its literal or keyword (see "shape rules"
below). The cost is about that of a dozen ``str.find`` over the text: ~150 µs for 10 KB of
PVE JSON on a slow 2-core CI machine (where ``str.lower`` of 10 KB takes 6 µs), ~0.5 µs per
value for :meth:`Redactor.redact_obj`; ``python -m tests.secrets.bench_redact`` measures it.

``REDACTOR`` is the process-wide instance; :class:`RedactingFilter` applies it to log records.
"""

from __future__ import annotations

import bisect
import functools
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, quote_plus

from pydantic import SecretBytes, SecretStr

__all__ = ["MASK", "REDACTOR", "RedactingFilter", "Redactor", "is_sensitive_key"]

MASK = "***"

# Values shorter than this are not replaced by value: masking every "ab" in an output would
# mangle it and protect nothing. Shape rules still apply to them.
_MIN_VALUE_LEN = 4

_SENSITIVE_KEY_RE = re.compile(
    r"passw(?:or)?d|passphrase|secret|token|ticket|authorization|cookie|csrf|api[_-]?key|"
    r"private[_-]?key|credential",
    re.IGNORECASE,
)
# Keys that contain a sensitive word but name something that is not a secret: token ids,
# user names, TTLs, paths, the names of the variables that hold secrets.
_SAFE_KEY_SUFFIX_RE = re.compile(
    r"(?:^|[_\-.])(?:ids?|name|user|userid|realm|ttl|expire|expires|type|count|len|length|"
    r"policies|accessor|path|file|env|mount|role|version|renewable)$|tokenid$|userid$",
    re.IGNORECASE,
)


# Every match of _SENSITIVE_KEY_RE contains one of these (lower-case) words. A case-insensitive
# alternation scans ~200 ns per character in Python's re; lower() and a few `in` tests on the
# same text cost under 5 % of that, so the pattern runs only where one of them occurs.
_SENSITIVE_WORDS = ("pass", "secret", "token", "ticket", "authoriz", "cookie", "csrf", "key", "credential")
_SENSITIVE_KEY_LOW_RE = re.compile(_SENSITIVE_KEY_RE.pattern)


def _has_sensitive_word(text: str) -> bool:
    """``_SENSITIVE_KEY_RE.search(text)``, fast for the usual text that holds none of its words."""
    low = _lower(text)
    return any(w in low for w in _SENSITIVE_WORDS) and _SENSITIVE_KEY_LOW_RE.search(low) is not None


@functools.lru_cache(maxsize=4096)
def is_sensitive_key(key: str) -> bool:
    """True when a mapping key (or ``key=`` in text) names a secret value.

    ``password``, ``token_secret``, ``CSRFPreventionToken``, ``client_token``, ``secret_id`` are
    sensitive; ``tokenid``, ``token_id``, ``token_ttl``, ``PROXMOX_MCP_SECRET_BACKEND`` are not.
    """
    k = key.lower()
    # the namespace of our own settings: only the part after it says what the value is
    k = k.removeprefix("proxmox_mcp_secret_")
    if not _SENSITIVE_KEY_RE.search(k):
        return False
    if "secret" in k or "passw" in k:
        return True
    return not _SAFE_KEY_SUFFIX_RE.search(k)


_SCALARS = frozenset({int, float, bool, type(None)})


def _maskable(value: Any) -> bool:
    return not (value is None or isinstance(value, bool) or value == "")


# --- shape rules --------------------------------------------------------------------------
# Python's re has no fast path for case-insensitive or alternation patterns (~40 ns per
# character on 10 KB), but it finds a literal prefix about as fast as str.find. So each rule is
# either a case-sensitive pattern with a literal prefix, run with .sub() (the PVE formats are
# case-exact), or "anchored": str.find locates a keyword in the lower-cased text and the
# pattern is only tried with .match() at those few places.

_Q_VALUE = r"""(?:"(?:[^"\\\n]|\\.)*"|'[^'\n]*'|[^\s"',;&}\])]+)"""
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-")


def _mask_value(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return f"{value[0]}{MASK}{value[0]}"
    return MASK


def _already_masked(value: str) -> bool:
    return value.strip("\"'").endswith(MASK)


def _auth_header(m: re.Match[str]) -> str:
    value = m.group("val")
    if value.startswith("PVEAPIToken=") or _already_masked(value):
        return m.group(0)  # the PVEAPIToken rule keeps the (non-secret) token id visible
    scheme = m.group("scheme")
    return f"{m.group('pre')}{scheme + ' ' if scheme else ''}{MASK}"


def _api_token(m: re.Match[str]) -> str:
    ident = m.group("id")
    return f"{m.group('pre')}{ident + '=' if ident else ''}{MASK}"


def _key_value(m: re.Match[str]) -> str:
    key = m.group("key")
    value = m.group("val")
    if not is_sensitive_key(key) or _already_masked(value):
        return m.group(0)
    rest = value
    while rest[:2] in ("\\n", "\\r", "\\t"):
        rest = rest[2:]
    if rest != value:
        # JSON-escaped line breaks first: the key ends a line of text inside a JSON string (YAML
        # such as `chpasswd:\n  expire: false`). Nothing else: keep it; else mask what follows.
        if not rest:
            return m.group(0)
        return f"{m.group('dash') or ''}{key}{m.group('sep')}{value[: len(value) - len(rest)]}{MASK}"
    if value.strip("\"'") in ("null", "true", "false", "None", "True", "False"):
        return m.group(0)
    return f"{m.group('dash') or ''}{key}{m.group('sep')}{_mask_value(value)}"


def _vault_token(m: re.Match[str]) -> str:
    start = m.start()
    text = m.string
    if (
        start < 1
        or text[start - 1] not in "sbr"
        or (start >= 2 and (text[start - 2].isalnum() or text[start - 2] in "_."))
    ):
        return m.group(0)
    return "." + MASK


# Literal-prefix rules: (the literal every match starts with, pattern, replacement), applied in
# order with .sub() when the literal occurs (a substring test is ~10x cheaper than .sub() on the
# short strings redact_obj sees by the thousand).
_LITERAL_RULES: tuple[tuple[str, re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (
        "-----BEGIN ",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----.*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\Z)", re.DOTALL
        ),
        MASK,
    ),
    # PVEAPIToken=user@realm!tokenid=SECRET: the token id stays, the secret goes
    (
        "PVEAPIToken",
        re.compile(r"(?P<pre>PVEAPIToken\s*=\s*)(?:(?P<id>[^\s=,;\"'&]+)=)?(?P<val>[^\s,;\"'&]+)"),
        _api_token,
    ),
    # tickets PVE:user@realm:HEX::signature, plain or URL-encoded (PVEAuthCookie values)
    (
        "PVE",
        re.compile(
            r"(PVE(?<![\w%]PVE)(?:VNC|TFA)?"
            r"(?::[^\s:\"']{1,256}:[0-9A-Fa-f]{8}::|%3[Aa][^\s\"'&;]{1,256}?%3[Aa][0-9A-Fa-f]{8}%3[Aa]%3[Aa]))"
            r"[A-Za-z0-9%+/=._\-]+"
        ),
        r"\1" + MASK,
    ),
    # JWTs (OIDC tokens, Kubernetes service-account tokens)
    ("eyJ", re.compile(r"eyJ(?<![\w\-]eyJ)[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]+"), MASK),
    # Vault tokens: hvs./hvb./hvr. and the older s./b./r. with 24 characters
    ("hv", re.compile(r"hv(?<![\w.]hv)[sbr]\.[A-Za-z0-9_\-]{24,}"), MASK),
    (".", re.compile(r"\.[A-Za-z0-9]{24}(?![\w.\-])"), _vault_token),
)

_AUTH_RE = re.compile(
    r"(?P<pre>authorization[\"']?\s*[:=]\s*[\"']?)(?:(?P<scheme>bearer|basic|digest|negotiate|token)\s+)?"
    r"(?P<val>[^\s\"',;]+)",
    re.IGNORECASE,
)
_URL_USERINFO_RE = re.compile(r"([^\s:/@\"'<>]+:)[^\s/@\"'<>]+(?=@)")
_DASH_P_RE = re.compile(
    r"((?:sshpass|mysql|mariadb)\w*\b[^\n|;&]{0,200}?\s-p)(\s*)(?!\*\*\*)([^\s\-]\S*)", re.IGNORECASE
)
_KEY_VALUE_RE = re.compile(
    r"(?P<dash>--?)?(?P<key>[A-Za-z_][\w.\-]{0,127})"
    r"(?P<sep>(?(dash)(?:\s+|=)|[\"']?[ \t]*[:=][ \t]*))"
    rf"(?P<val>{_Q_VALUE})"
)
_KEY_WORDS = ("pass", "secret", "token", "ticket", "cookie", "key", "credential")


_MAX_KEY_LEN = 128


def _key_starts(low: str) -> list[int]:
    """Where the words holding a sensitive keyword start (at most 128 characters before it).

    Walking back from each occurrence stops at the previous one of the same keyword, so a
    text made of keywords costs O(n), not O(n²).
    """
    starts = []
    for kw in _KEY_WORDS:
        if kw not in low:
            continue
        prev_i, prev_start = -1, -1
        for i in _find_all(low, kw):
            j = i
            while j > 0 and low[j - 1] in _KEY_CHARS and i - j < _MAX_KEY_LEN:
                j -= 1
                if j == prev_i:
                    j = prev_start
                    break
            if i - j >= _MAX_KEY_LEN:
                j = i  # an absurdly long word: the key starts at the keyword
            prev_i, prev_start = i, j
            starts.append(j)
    return starts


def _sub_at(
    text: str,
    positions: Iterable[int],
    pattern: re.Pattern[str],
    repl: str | Callable[[re.Match[str]], str],
) -> str:
    """Apply ``pattern`` with .match() at each position (left to right, no overlaps)."""
    out: list[str] = []
    last = 0
    for pos in sorted(set(positions)):
        if pos < last:
            continue
        m = pattern.match(text, pos)
        if m is None:
            continue
        new = repl(m) if callable(repl) else m.expand(repl)
        if new == m.group(0):
            continue
        out.append(text[last : m.start()])
        out.append(new)
        last = m.end()
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def _find_all(low: str, word: str) -> list[int]:
    found = []
    i = low.find(word)
    while i >= 0:
        found.append(i)
        i = low.find(word, i + len(word))
    return found


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _lower(text: str) -> str:
    """Lower-case with positions kept (``"İ".lower()`` is two characters; keywords are ASCII)."""
    low = text.lower()
    return low if len(low) == len(text) else text.translate(_ASCII_LOWER)


def _redact_shapes(text: str) -> str:
    for literal, pattern, repl in _LITERAL_RULES:
        if literal in text:
            text = pattern.sub(repl, text)
    low = _lower(text)
    if "authoriz" in low:
        text = _sub_at(text, _find_all(low, "authorization"), _AUTH_RE, _auth_header)
        low = _lower(text)
    if "://" in low:
        text = _sub_at(text, [i + 3 for i in _find_all(low, "://")], _URL_USERINFO_RE, r"\1" + MASK)
        low = _lower(text)
    if " -p" in low:
        starts = [i for prog in ("sshpass", "mysql", "mariadb") for i in _find_all(low, prog)]
        if starts:
            text = _sub_at(text, starts, _DASH_P_RE, r"\1\2" + MASK)
            low = _lower(text)
    starts = _key_starts(low)
    if starts:
        text = _sub_at(text, starts, _KEY_VALUE_RE, _key_value)
    return text


_ARGV_PASSWORD_PROGRAMS = frozenset({"sshpass", "mysql", "mariadb", "mysqldump", "mysqladmin"})


class Redactor:
    """Replaces secret values and credential-shaped text with ``***``.

    Thread-safe: :meth:`add` may run from any thread; :meth:`redact` reads an immutable snapshot.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        # (values longest first, so a value containing another is replaced whole; their negated
        # lengths, ascending, so redact() skips the values longer than the text). One attribute,
        # swapped whole by add(), so a concurrent redact() always sees a consistent pair.
        self._snapshot: tuple[tuple[str, ...], tuple[int, ...]] = ((), ())

    def add(self, value: str | SecretStr | SecretBytes | bytes | None) -> None:
        """Register a secret value: from now on it is replaced wherever it appears.

        Its URL-encoded and JSON-escaped forms are registered too. Values shorter than four
        characters are ignored (shape rules still catch them in their usual places).
        """
        if value is None:
            return
        if isinstance(value, SecretStr | SecretBytes):
            value = value.get_secret_value()
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                return
        forms = {value, value.strip(), quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}
        forms = {f for f in forms if len(f) >= _MIN_VALUE_LEN}
        with self._lock:
            if forms <= self._values:
                return
            self._values |= forms
            ordered = tuple(sorted(self._values, key=len, reverse=True))
            self._snapshot = (ordered, tuple(-len(v) for v in ordered))

    def add_all(self, values: Iterable[str | SecretStr | None]) -> None:
        for v in values:
            self.add(v)

    def clear(self) -> None:
        """Forget every registered value (tests; shape rules stay)."""
        with self._lock:
            self._values = set()
            self._snapshot = ((), ())

    def __len__(self) -> int:
        return len(self._snapshot[0])

    def redact(self, text: str) -> str:
        """Return ``text`` with every known secret and credential-shaped part replaced by ``***``."""
        if not text:
            return text
        ordered, neg_lengths = self._snapshot
        for k in range(bisect.bisect_left(neg_lengths, -len(text)), len(ordered)):
            value = ordered[k]
            if value in text:
                text = text.replace(value, MASK)
        if text.isalnum():
            return text  # no shape rule can match a single word (most values in API output)
        return _redact_shapes(text)

    def redact_output(self, obj: Any) -> tuple[Any, str]:
        """A tool result and its compact JSON text, both redacted.

        The common case (no known secret, no secret-like shape, no sensitive key anywhere) costs
        one JSON dump and one scan of the text; only then is the structure walked.
        """
        text = json.dumps(obj, separators=(",", ":"), default=str)
        if self.redact(text) == text and not _has_sensitive_word(text):
            return obj, text
        clean = self.redact_obj(obj)
        return clean, self.redact(json.dumps(clean, separators=(",", ":"), default=str))

    def redact_obj(self, obj: Any) -> Any:
        """Redact a JSON-like structure: strings are redacted, values under sensitive keys
        (password, secret, token, ticket, authorization, cookie, csrf ...) become ``***``.

        Returns a new structure (dicts, lists and tuples are copied); other objects are
        returned as they are, pydantic ``SecretStr``/``SecretBytes`` become ``***``.
        """
        kind = type(obj)
        if kind is str:
            return self.redact(obj)
        if kind in _SCALARS:
            return obj
        if isinstance(obj, dict | Mapping):
            redact_obj = self.redact_obj
            return {
                k: MASK if type(k) is str and is_sensitive_key(k) and _maskable(v) else redact_obj(v)
                for k, v in obj.items()
            }
        if isinstance(obj, list):
            return [self.redact_obj(v) for v in obj]
        if isinstance(obj, tuple):
            return tuple(self.redact_obj(v) for v in obj)
        if isinstance(obj, str):  # a str subclass (an enum member, ...)
            return self.redact(obj)
        if isinstance(obj, SecretStr | SecretBytes):
            return MASK
        return obj

    def redact_argv(self, argv: Sequence[str]) -> list[str]:
        """Redact an argument vector: the value after ``--password``/``--secret``/... (and
        after ``-p`` for sshpass and mysql-like programs), ``--password=X``, then each argument
        as text.
        """
        out: list[str] = []
        prog = argv[0].rsplit("/", 1)[-1] if argv else ""
        mask_next = False
        for arg in argv:
            if mask_next:
                out.append(MASK)
                mask_next = False
                continue
            if arg.startswith("-") and "=" not in arg:
                name = arg.lstrip("-")
                if (name and is_sensitive_key(name)) or (arg == "-p" and prog in _ARGV_PASSWORD_PROGRAMS):
                    mask_next = True
                elif arg.startswith("-p") and len(arg) > 2 and prog in _ARGV_PASSWORD_PROGRAMS and prog != "sshpass":
                    arg = "-p" + MASK
            out.append(self.redact(arg))
        return out


REDACTOR = Redactor()
"""The process-wide redactor: logs, audit, errors and tool outputs all use this one."""


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the message, its arguments and any traceback.

    Attach it to **handlers** (a filter on a logger does not see records propagated from its
    children). The record's ``exc_info`` is rendered into ``exc_text`` (redacted) and dropped,
    so no formatter can render the unredacted exception again.
    """

    def __init__(self, redactor: Redactor | None = None, name: str = "") -> None:
        super().__init__(name)
        self._redactor = redactor if redactor is not None else REDACTOR

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: let the handler report it as usual
            return True
        record.msg = self._redactor.redact(message)
        record.args = None
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = self._redactor.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redactor.redact(record.stack_info)
        return True
