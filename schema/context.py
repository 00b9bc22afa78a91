"""Per-request (or per-WebSocket-connection) context handed to every resolver."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from app.container import Container
from app.errors import Unauthenticated
from app.services.accounts import Client, Viewer
from schema.loaders import Loaders, loaders_for

T = TypeVar("T")


@dataclass
class Context:
    container: Container
    request: Request | WebSocket
    response: Response | WebSocket | None
    viewer: Viewer | None = None
    token: str | None = None
    connection_params: dict[str, Any] | None = None
    loaders: dict[str, Any] = field(default_factory=dict)

    @property
    def batch(self) -> Loaders:
        """The operation's DataLoaders (``schema/loaders.py``): one query per level of the tree."""
        return loaders_for(self.container)

    def require_viewer(self) -> Viewer:
        """The signed-in viewer, or an ``UNAUTHENTICATED`` error."""
        if self.viewer is None:
            raise Unauthenticated()
        return self.viewer

    async def load_once(self, key: str, factory: Callable[[], Awaitable[T]]) -> T:
        """Load ``key`` once per request, shared by every resolver that asks for it.

        The future (not the value) is remembered, so sibling fields resolved concurrently wait for
        the same load instead of each running their own, possibly seeing different states.
        """
        future = self.loaders.get(key)
        if future is None:
            future = self.loaders[key] = asyncio.ensure_future(factory())
        result: T = await future
        return result

    def prime(self, key: str, value: Any) -> None:
        """Pre-fill ``key`` (e.g. from one batched query for a whole page)."""
        future = asyncio.get_running_loop().create_future()
        future.set_result(value)
        self.loaders[key] = future

    @property
    def client_address(self) -> str:
        client = self.request.client
        return client.host if client else ""

    @property
    def client(self) -> Client:
        """The caller's address and user agent (kept on sessions, used by the login throttle)."""
        return Client(ip=self.client_address, user_agent=self.request.headers.get("user-agent", "")[:256])
