"""One exception tree for the whole server.

Every error that can reach an MCP client derives from :class:`ProxmoxMCPError` and carries a
stable ``code``, a human message (what happened, and why) and an optional ``hint`` (what to
do). Messages never contain secrets: callers pass values through ``secrets.redact`` first when
they echo anything that came from configuration or from Proxmox.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "ConfigError",
    "NotFoundError",
    "PolicyDenied",
    "ProxmoxAPIError",
    "ProxmoxAuthError",
    "ProxmoxBadRequest",
    "ProxmoxConnectionError",
    "ProxmoxMCPError",
    "ProxmoxNodeUnreachable",
    "ProxmoxNotImplemented",
    "ProxmoxPermissionError",
    "ProxmoxServerError",
    "ProxmoxTimeoutError",
    "SchemaValidationError",
    "TaskFailedError",
    "SshError",
    "HostKeyUnknownError",
    "HostKeyChangedError",
    "CommandTimeoutError",
    "SecretError",
    "TransportError",
    "UnknownEndpointError",
    "InvalidArgumentError",
]


class ProxmoxMCPError(Exception):
    """Base of every error this package raises on purpose."""

    code: str = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def to_text(self) -> str:
        """The text a client sees: message, then the hint on its own line."""
        if self.hint:
            return f"{self.message}\nHint: {self.hint}"
        return self.message

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.hint:
            out["hint"] = self.hint
        return out


class ConfigError(ProxmoxMCPError):
    """The configuration is invalid. ``problems`` lists every problem found, one line each."""

    code = "config_invalid"

    def __init__(self, problems: list[str], *, hint: str | None = None) -> None:
        self.problems = list(problems)
        text = "Invalid configuration:\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(text, hint=hint)


class InvalidArgumentError(ProxmoxMCPError):
    """A tool argument is well-typed but makes no sense (bad node name, unknown action ...)."""

    code = "invalid_argument"


class NotFoundError(ProxmoxMCPError):
    """The named object (node, VM, container, task) does not exist."""

    code = "not_found"


class PolicyDenied(ProxmoxMCPError):
    """The policy gate refused an operation before anything was sent."""

    code = "policy_denied"


class UnknownEndpointError(ProxmoxMCPError):
    """A method/path pair that the PVE API schema does not have."""

    code = "unknown_endpoint"

    def __init__(self, method: str, path: str, *, hint: str | None = None) -> None:
        self.method = method
        self.path = path
        super().__init__(f"{method} {path} is not an endpoint of the Proxmox VE API", hint=hint)


class SchemaValidationError(ProxmoxMCPError):
    """Parameters rejected by the PVE schema, with PVE-style per-field errors."""

    code = "invalid_parameters"

    def __init__(
        self,
        method: str,
        path: str,
        errors: Mapping[str, str],
        *,
        hint: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.errors = dict(errors)
        detail = "; ".join(f"{k}: {v}" for k, v in sorted(self.errors.items()))
        super().__init__(
            f"Parameter verification failed for {method} {path}: {detail}",
            hint=hint or "Fix the listed parameters; use proxmox_api_describe to see what this endpoint accepts.",
        )

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["errors"] = self.errors
        return out


class TransportError(ProxmoxMCPError):
    """Reaching Proxmox failed (any plane)."""

    code = "transport_error"


class ProxmoxConnectionError(TransportError):
    """No connection could be made (refused, DNS, TLS verification, ...)."""

    code = "connection_failed"


class ProxmoxTimeoutError(TransportError):
    """Proxmox did not answer within the configured timeout."""

    code = "timeout"


class ProxmoxAPIError(TransportError):
    """Proxmox answered with an HTTP error. ``message`` keeps PVE's own text."""

    code = "api_error"

    def __init__(
        self,
        status: int,
        pve_message: str,
        *,
        method: str = "",
        path: str = "",
        errors: Mapping[str, str] | None = None,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.pve_message = pve_message.strip()
        self.method = method
        self.path = path
        self.errors = dict(errors or {})
        where = f" for {method} {path}" if method else ""
        text = f"{status} from PVE{where}: {self.pve_message}"
        if self.errors:
            text += " (" + "; ".join(f"{k}: {v}" for k, v in sorted(self.errors.items())) + ")"
        super().__init__(text, hint=hint)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["status"] = self.status
        if self.errors:
            out["errors"] = self.errors
        return out


class ProxmoxBadRequest(ProxmoxAPIError):
    code = "bad_request"


class ProxmoxAuthError(ProxmoxAPIError):
    code = "authentication_failed"


class ProxmoxPermissionError(ProxmoxAPIError):
    """403: carries the ACL path and privilege PVE named, when it did."""

    code = "permission_denied"

    def __init__(self, *args: Any, acl_path: str | None = None, privileges: list[str] | None = None, **kw: Any):
        self.acl_path = acl_path
        self.privileges = list(privileges or [])
        super().__init__(*args, **kw)


class ProxmoxNotImplemented(ProxmoxAPIError):
    code = "not_implemented"


class ProxmoxServerError(ProxmoxAPIError):
    code = "server_error"


class ProxmoxNodeUnreachable(ProxmoxAPIError):
    """59x: pveproxy could not reach the node the request was proxied to."""

    code = "node_unreachable"


class SshError(TransportError):
    """The SSH plane failed (connect, auth, channel, remote command)."""

    code = "ssh_error"


class HostKeyUnknownError(SshError):
    """The node offered a host key that is not pinned. Nothing was sent."""

    code = "host_key_unknown"


class HostKeyChangedError(SshError):
    """The node offered a host key other than the pinned one: possible interception."""

    code = "host_key_changed"


class CommandTimeoutError(SshError):
    """A remote command exceeded its timeout and was killed."""

    code = "command_timeout"


class SecretError(ProxmoxMCPError):
    """A secret could not be resolved from its backend (never carries the value)."""

    code = "secret_unavailable"


class TaskFailedError(ProxmoxMCPError):
    """A PVE task ended with an exit status other than OK."""

    code = "task_failed"

    def __init__(self, upid: str, exitstatus: str, *, hint: str | None = None) -> None:
        self.upid = upid
        self.exitstatus = exitstatus
        super().__init__(f"Task {upid} failed: {exitstatus}", hint=hint)
