"""A way for the WebSocket handlers to drop a connection whose peer stopped reading.

ASGI can only *close* a WebSocket, and a close is a frame written after everything already
buffered: to a client that never reads again it never arrives, and the server (uvicorn's
``send`` waits for its paused transport) would hold the socket, its unsent buffer and one of the
user's connection slots for as long as the peer stays silent. This outermost middleware gives
each WebSocket scope an ``abort_connection`` callable (``scope["state"]``) that aborts the TCP
connection of the ASGI server's protocol object, and that ``server_transport`` itself (the
subscription fan-out writes pre-built frames straight to it: ``subscriptions/transport.py``).

It reaches into the server: the ``send`` the server passes to the application is the bound
method of its protocol, which holds the asyncio ``transport`` (true of uvicorn's WebSocket
protocols; pinned in ``tests/foundation/test_dependency_internals.py``). Where it is not, the
callable is absent and connections end when the peer's TCP stack gives up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send


def transport_of(send: Send) -> asyncio.BaseTransport | None:
    """The asyncio transport behind the ASGI server's ``send``, when the server exposes it."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    return transport if isinstance(transport, asyncio.BaseTransport) else None


class ConnectionAbortMiddleware:
    """Puts ``abort_connection`` into each WebSocket scope's state (must be the outermost middleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            transport = transport_of(send)
            if transport is not None:
                state = scope.setdefault("state", {})
                state["abort_connection"] = _aborter(transport)
                state["server_transport"] = transport  # the fan-out writes pre-built frames to it
        await self.app(scope, receive, send)


def _aborter(transport: asyncio.BaseTransport) -> Callable[[], None]:
    def abort() -> None:
        # Also when already closing: a closing transport still waits to flush to a peer that does not read.
        if isinstance(transport, asyncio.Transport):
            transport.abort()

    return abort
