"""Which plane serves an Operation, and the per-cluster transports behind it.

Every REST operation is validated against the official PVE API schema here, before it leaves
the process, whichever tool produced it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgumentError
from ..operation import Operation

if TYPE_CHECKING:
    import httpx2

    from ..config import Settings
    from .rest import RestClient

__all__ = ["Router"]


class Router:
    """Owns one REST client per cluster (created lazily) and dispatches operations by plane."""

    def __init__(self, settings: Settings, *, rest_transport: httpx2.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self._rest: dict[str, RestClient] = {}
        self._rest_transport = rest_transport

    def rest(self, cluster: str) -> RestClient:
        client = self._rest.get(cluster)
        if client is None:
            # Imported here, not at module top: keeps `proxmox-mcp serve` start-up free of it.
            from .rest import RestClient

            client = RestClient(self.settings.cluster(cluster), transport=self._rest_transport)
            self._rest[cluster] = client
        return client

    async def execute(self, op: Operation) -> Any:
        """Send ``op`` over its plane.

        Raises:
            UnknownEndpointError, SchemaValidationError: the request is not valid for PVE; nothing was sent.
            InvalidArgumentError: the plane is not available.
            TransportError: the plane failed.
        """
        if op.plane == "api":
            from ..schema import get_schema

            assert op.method is not None and op.path is not None
            req = get_schema().validate(op.method, op.path, op.params)
            return await self.rest(op.cluster).request(op.method, req.path, req.params, url_path=req.url_path)
        raise InvalidArgumentError(
            f"the {op.plane} plane is not available in this build",
            hint="Use the REST tools or proxmox_api_call.",
        )

    async def aclose(self) -> None:
        for client in self._rest.values():
            await client.aclose()
        self._rest.clear()
