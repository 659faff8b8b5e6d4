"""How we reach Proxmox: the REST plane (and, beside it, CLI and shell over SSH).

The names below are loaded on first use, not on import: importing this package must not pull
httpx2 and the TLS stack into a stdio server's start-up (see STYLE.md).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .rest import ApiResponse, RestClient, encode_params, encode_path, to_float, to_int
    from .tasks import TaskStatus, task_log, wait_for_task
    from .upid import Upid, is_upid

__all__ = [
    "ApiResponse",
    "RestClient",
    "TaskStatus",
    "Upid",
    "encode_params",
    "encode_path",
    "is_upid",
    "task_log",
    "to_float",
    "to_int",
    "wait_for_task",
]

_WHERE = {
    "ApiResponse": "rest",
    "RestClient": "rest",
    "encode_params": "rest",
    "encode_path": "rest",
    "to_float": "rest",
    "to_int": "rest",
    "TaskStatus": "tasks",
    "task_log": "tasks",
    "wait_for_task": "tasks",
    "Upid": "upid",
    "is_upid": "upid",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
