"""What every handler gets (:class:`Call`) and how handlers are registered (:func:`route`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..cluster import SimCluster
from ..errors import PVEError
from ..state import Guest, GuestKind, Node

__all__ = ["ROUTES", "Call", "Handler", "Paged", "index", "route"]


@dataclass
class Paged:
    """A list answer with ``total`` in the envelope (task lists, task logs)."""

    data: list[Any]
    total: int


@dataclass
class Call:
    """One validated request, as a handler sees it.

    Attributes:
        params: the validated, normalised parameters (booleans 0/1, numbers as numbers),
            path parameters excluded.
        path_params: the values taken from the path (strings).
        authid: who calls: ``user@realm`` or a token ``user@realm!name``.
    """

    cluster: SimCluster
    method: str
    path: str
    template: str
    path_params: dict[str, str]
    params: dict[str, Any]
    authid: str

    def param(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)

    def flag(self, name: str, default: int = 0) -> bool:
        return bool(int(self.params.get(name, default) or 0))

    @property
    def node_name(self) -> str:
        return self.path_params["node"]

    @property
    def node(self) -> Node:
        """The node of the path (existence is checked before handlers run)."""
        return self.cluster.state.nodes[self.node_name]

    @property
    def vmid(self) -> int:
        return int(self.path_params["vmid"])

    def guest(self, kind: GuestKind) -> Guest:
        """The guest of the path, on the path's node.

        Raises:
            PVEError: 500 ``Configuration file 'nodes/pve1/qemu-server/101.conf' does not exist``.
        """
        g = self.cluster.state.guests.get(self.vmid)
        if g is None or g.kind != kind or g.node != self.node_name:
            sub = "qemu-server" if kind == "qemu" else "lxc"
            raise PVEError(500, f"Configuration file 'nodes/{self.node_name}/{sub}/{self.vmid}.conf' does not exist")
        return g

    def can(self, path: str, *privs: str, any_: bool = True) -> bool:
        return self.cluster.access.has(self.authid, path, privs, any_=any_)

    def now(self) -> float:
        return self.cluster.clock.time()


Handler = Callable[[Call], Any]

# (METHOD, schema path template) -> handler
ROUTES: dict[tuple[str, str], Handler] = {}


def route(method: str, template: str) -> Callable[[Handler], Handler]:
    """Register a handler for one schema endpoint."""

    def deco(fn: Handler) -> Handler:
        ROUTES[(method, template)] = fn
        return fn

    return deco


def index(*names: str, key: str = "subdir") -> Callable[[Call], list[dict[str, str]]]:
    """A directory index handler (``[{"subdir": "status"}, ...]``)."""

    def handler(call: Call) -> list[dict[str, str]]:
        return [{key: n} for n in names]

    return handler
