"""Handlers of the simulated API, one module per area; importing this package registers them all."""

from __future__ import annotations

from . import access, cluster, content, datacenter, guests, storage  # noqa: F401  (registration by import)
from .base import ROUTES, Call, Paged

__all__ = ["ROUTES", "Call", "Paged"]
