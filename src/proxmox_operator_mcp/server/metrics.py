"""A tiny Prometheus text exposition (format 0.0.4): counters, gauges and histograms with labels.

No client library: the server needs a handful of metrics, and every dependency is start-up time
for each stdio client. Everything here is synchronous and cheap (a dict update under a lock), so
it may be called from the event loop and from worker threads alike.

The process-wide :data:`METRICS` holds the metrics the issue names; other layers record into
it (``METRICS.tool_calls.inc(tool=name, outcome="ok")``) and ``/metrics`` renders it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from .. import __version__

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_BUCKETS",
    "METRICS",
    "Counter",
    "Gauge",
    "Histogram",
    "Registry",
    "ServerMetrics",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

DEFAULT_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

LabelValues = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _labels(names: Sequence[str], values: Sequence[str], extra: tuple[str, str] | None = None) -> str:
    pairs = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra is not None:
        pairs.append(f'{extra[0]}="{_escape(extra[1])}"')
    return "{" + ",".join(pairs) + "}" if pairs else ""


@dataclass
class _Metric:
    name: str
    help: str
    label_names: tuple[str, ...] = ()
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def _key(self, labels: dict[str, str]) -> LabelValues:
        if set(labels) != set(self.label_names):
            raise ValueError(f"{self.name} takes labels {self.label_names}, got {tuple(labels)}")
        return tuple(str(labels[n]) for n in self.label_names)

    def header(self, kind: str) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {kind}"]


@dataclass
class Counter(_Metric):
    """A monotonically increasing count per label set."""

    _values: dict[LabelValues, float] = field(default_factory=dict, repr=False)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self._values.get(self._key(labels), 0.0)

    def render(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return self.header("counter") + [f"{self.name}{_labels(self.label_names, k)} {_fmt(v)}" for k, v in items]


@dataclass
class Gauge(_Metric):
    """A value that goes up and down; or, with ``callback``, read at scrape time."""

    callback: Callable[[], Iterable[tuple[dict[str, str], float]]] | None = None
    _values: dict[LabelValues, float] = field(default_factory=dict, repr=False)

    def set(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = float(value)

    def value(self, **labels: str) -> float:
        return self._values.get(self._key(labels), 0.0)

    def render(self) -> list[str]:
        with self._lock:
            values = dict(self._values)
        if self.callback is not None:
            for labels, v in self.callback():
                values[self._key(labels)] = float(v)
        return self.header("gauge") + [
            f"{self.name}{_labels(self.label_names, k)} {_fmt(v)}" for k, v in sorted(values.items())
        ]


@dataclass
class _Series:
    counts: list[int]
    total: float = 0.0
    n: int = 0


@dataclass
class Histogram(_Metric):
    """Observations counted into cumulative buckets, with their sum and count."""

    buckets: tuple[float, ...] = DEFAULT_BUCKETS
    _series: dict[LabelValues, _Series] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if list(self.buckets) != sorted(self.buckets) or not self.buckets:
            raise ValueError("histogram buckets must be a non-empty increasing sequence")

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = _Series(counts=[0] * len(self.buckets))
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    series.counts[i] += 1
            series.total += value
            series.n += 1

    def count(self, **labels: str) -> int:
        series = self._series.get(self._key(labels))
        return series.n if series else 0

    def render(self) -> list[str]:
        out = self.header("histogram")
        with self._lock:
            items = sorted((k, _Series(list(s.counts), s.total, s.n)) for k, s in self._series.items())
        for key, series in items:
            for bound, cumulative in zip(self.buckets, series.counts, strict=True):
                out.append(f"{self.name}_bucket{_labels(self.label_names, key, ('le', _fmt(bound)))} {cumulative}")
            out.append(f"{self.name}_bucket{_labels(self.label_names, key, ('le', '+Inf'))} {series.n}")
            out.append(f"{self.name}_sum{_labels(self.label_names, key)} {_fmt(series.total)}")
            out.append(f"{self.name}_count{_labels(self.label_names, key)} {series.n}")
        return out


_M = TypeVar("_M", Counter, Gauge, Histogram)


class Registry:
    """An ordered set of metrics rendered together."""

    def __init__(self) -> None:
        self._metrics: dict[str, Counter | Gauge | Histogram] = {}

    def register(self, metric: _M) -> _M:
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name} is already registered")
        self._metrics[metric.name] = metric
        return metric

    def render(self) -> str:
        """The whole registry in the Prometheus text format."""
        lines: list[str] = []
        for metric in self._metrics.values():
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"


class ServerMetrics(Registry):
    """The metrics this server exposes. One instance per process (:data:`METRICS`); tests make
    their own."""

    def __init__(self) -> None:
        super().__init__()
        self.build_info = self.register(
            Gauge("proxmox_mcp_build_info", "Version of proxmox-operator-mcp.", ("version",))
        )
        self.build_info.set(1, version=__version__)
        self.tool_calls = self.register(
            Counter("proxmox_mcp_tool_calls_total", "Tool calls by tool and outcome.", ("tool", "outcome"))
        )
        self.tool_duration = self.register(
            Histogram("proxmox_mcp_tool_call_duration_seconds", "Tool call latency.", ("tool",))
        )
        self.proxmox_requests = self.register(
            Counter(
                "proxmox_mcp_proxmox_requests_total",
                "Requests to the Proxmox VE API by cluster, method and HTTP status (or error kind).",
                ("cluster", "method", "status"),
            )
        )
        self.proxmox_requests_joined = self.register(
            Counter(
                "proxmox_mcp_proxmox_requests_joined_total",
                "GETs answered by joining an identical one in flight (not sent again) by cluster.",
                ("cluster",),
            )
        )
        self.proxmox_duration = self.register(
            Histogram("proxmox_mcp_proxmox_request_duration_seconds", "Proxmox VE API latency.", ("cluster",))
        )
        self.ssh_pool = self.register(
            Gauge("proxmox_mcp_ssh_pool_connections", "Open pooled SSH connections by cluster.", ("cluster",))
        )
        self.auth_failures = self.register(
            Counter("proxmox_mcp_auth_failures_total", "Rejected bearer tokens by reason.", ("reason",))
        )
        self.http_requests = self.register(
            Counter(
                "proxmox_mcp_http_requests_total",
                "HTTP requests by endpoint and status.",
                ("endpoint", "status"),
            )
        )
        self.http_duration = self.register(
            Histogram("proxmox_mcp_http_request_duration_seconds", "HTTP request latency by endpoint.", ("endpoint",))
        )
        self.rate_limited = self.register(
            Counter("proxmox_mcp_rate_limited_total", "Requests refused by the per-principal rate limit.")
        )


METRICS = ServerMetrics()
