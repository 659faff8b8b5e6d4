"""Errors the simulated API answers with, shaped like PVE's ``PVE::Exception``.

A handler raises :class:`PVEError`; the app turns it into the HTTP status, a reason phrase
carrying the first line of the message, and the body ``{"data": null, "message": ..., "errors": ...}``.
Messages end with a newline, as PVE's ``die "...\\n"`` messages do.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["PVEError", "TaskFailure", "no_such_node", "param_error", "perm_error"]


class PVEError(Exception):
    """An API error: HTTP ``status``, PVE's ``message`` and optional per-parameter ``errors``.

    ``bare`` errors are answered with the status line only, as pveproxy does for failed
    authentication and for a node it cannot reach.
    """

    def __init__(
        self, status: int, message: str, errors: Mapping[str, str] | None = None, *, bare: bool = False
    ) -> None:
        if not message.endswith("\n"):
            message += "\n"
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = dict(errors) if errors else None
        self.bare = bare  # answered without a body (pveproxy's own errors: 401, 59x)


class TaskFailure(Exception):
    """Raised inside a simulated worker: the task ends with ``TASK ERROR: <message>``."""

    def __init__(self, message: str) -> None:
        super().__init__(message.rstrip("\n"))
        self.message = message.rstrip("\n")


def param_error(errors: Mapping[str, str]) -> PVEError:
    """PVE's ``raise_param_exc``: 400 ``Parameter verification failed.`` with per-field errors."""
    return PVEError(400, "Parameter verification failed.", errors)


def perm_error(what: str | None = None) -> PVEError:
    """PVE's ``raise_perm_exc``: 403 ``Permission check failed (<what>)``."""
    return PVEError(403, f"Permission check failed ({what})" if what else "Permission check failed")


def no_such_node(node: str) -> PVEError:
    """What pveproxy answers for a node name it cannot resolve."""
    return PVEError(
        500, f"hostname lookup '{node}' failed - failed to get address info for: {node}: Name or service not known"
    )
