"""Per-request (or per-WebSocket-connection) context handed to every resolver."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from app.container import Container
from app.errors import Unauthenticated
from app.services.accounts import Viewer


@dataclass
class Context:
    container: Container
    request: Request | WebSocket
    response: Response | WebSocket | None
    viewer: Viewer | None = None
    token: str | None = None
    connection_params: dict[str, Any] | None = None
    loaders: dict[str, Any] = field(default_factory=dict)

    def require_viewer(self) -> Viewer:
        """The signed-in viewer, or an ``UNAUTHENTICATED`` error."""
        if self.viewer is None:
            raise Unauthenticated()
        return self.viewer

    @property
    def client_address(self) -> str:
        client = self.request.client
        return client.host if client else ""
