"""The WebSocket connection handlers: Strawberry's ``graphql-transport-ws`` handler (and the
legacy ``graphql-ws`` one) with limits, auth lifetime, an outbox per socket and shared fan-out.

Strawberry's handler keeps the protocol rules of the reference ``graphql-ws`` server (4408 init
timeout, 4429 duplicate init, 4401 subscribe before ack, 4409 duplicate id, 4400 malformed); the
handlers here override its ``handle``, ``handle_connection_init``, ``handle_subscribe``,
``cleanup_operation`` and ``send_message`` (pinned by ``tests/subscriptions``) and add:

* Frame validation (:mod:`subscriptions.frames`): frames larger than ``ws_max_message_bytes``,
  binary frames, non-JSON and ill-shaped messages close the socket with 4400.
* The connection registry (:mod:`subscriptions.registry`): ``ws_max_connections_per_user``
  (4429 "Too many connections" at init), 4403 at the token's expiry and on revocation, keep-alive
  ``ping`` messages from one sweeper task per registry.
* ``ws_max_subscriptions_per_connection`` (an ``error`` for the operation; a client that keeps
  going past twice the limit is closed with 4429).
* Frames are written as pre-built WebSocket frames straight to the socket's transport (uvicorn's
  sans-I/O protocol), all frames of one loop turn together in one write; while the transport is
  above its high-water mark (the reader is behind) they wait, in order, in a bounded queue; a
  client that lets ``outbox_max`` frames (or ``outbox_max_bytes``) pile up there is closed with
  1013 (try again later; resume with ``events(after:)``). A slow socket never blocks anyone else.
  Behind another ASGI server, frames take one bounded outbox drained by a writer task instead.
* Shared execution (:mod:`subscriptions.fanout`): subscriptions with the same document,
  variables and visibility run ONCE and each result is serialised once for every subscriber.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import weakref
from typing import Any

from graphql import GraphQLError
from starlette.websockets import WebSocketDisconnect
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types.unset import UnsetType

from subscriptions.fanout import FanoutGroup
from subscriptions.frames import dumps, receive, valid, valid_legacy, ws_text_frame
from subscriptions.registry import LiveConnections

try:
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
except ImportError:  # pragma: no cover - uvicorn without websockets: frames take the outbox path
    WebSocketsSansIOProtocol = None  # type: ignore[assignment,misc]

CLOSE_TOO_SLOW = 1013
TOO_SLOW = "Client too slow; reconnect and resume with events(after:)"


def server_protocol(ws: Any) -> Any:
    """uvicorn's sans-I/O WebSocket protocol behind this socket, or None.

    Pre-built frames are written to its transport, skipping the per-frame ASGI send path
    (Starlette, uvicorn, the websockets framer: tens of microseconds per frame per subscriber).
    The outermost middleware (:mod:`app.http.connection_abort`) puts the server's transport in
    the scope's state; the attributes used here (``writable``, ``close_sent``, ``disconnected``)
    are pinned by ``tests/subscriptions/test_delivery.py``.
    """
    transport = (getattr(ws, "scope", None) or {}).get("state", {}).get("server_transport")
    if transport is None or WebSocketsSansIOProtocol is None:
        return None
    proto = transport.get_protocol()
    return proto if isinstance(proto, WebSocketsSansIOProtocol) else None


class _Flusher:
    """The sockets that got frames during this loop turn: one callback after the turn writes
    each socket's frames with one write (a fan-out that fell behind catches up with one system
    call per socket instead of one per frame)."""

    __slots__ = ("dirty", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.dirty: list[LiveHandler] = []

    def add(self, handler: LiveHandler) -> None:
        if not self.dirty:
            self.loop.call_soon(self.run)
        self.dirty.append(handler)

    def run(self) -> None:
        dirty, self.dirty = self.dirty, []
        for handler in dirty:
            handler.flush()


_FLUSHERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Flusher] = weakref.WeakKeyDictionary()


def _flusher() -> _Flusher:
    loop = asyncio.get_running_loop()
    flusher = _FLUSHERS.get(loop)
    if flusher is None:
        flusher = _FLUSHERS[loop] = _Flusher(loop)
    return flusher


class _Closing:
    """Close the socket once, from anywhere (limits, token expiry, slow readers); both handlers share it."""

    closing: bool
    websocket: Any
    live: LiveConnections

    async def close(self, code: int, reason: str) -> None:
        """Send the close frame; a peer that does not read cannot receive it, so after
        ``ws_close_timeout_s`` the connection is aborted (:mod:`app.http.connection_abort`)."""
        if self.closing:
            return
        self.closing = True
        try:
            async with asyncio.timeout(self.live.settings.ws_close_timeout_s):
                await self.websocket.close(code=code, reason=reason)
        except TimeoutError:
            abort = self.websocket.ws.scope.get("state", {}).get("abort_connection")
            if abort is not None:
                abort()
        except Exception:  # already gone: nothing left to close
            pass

    def close_soon(self, code: int, reason: str) -> None:
        if not self.closing:
            asyncio.get_running_loop().create_task(self.close(code, reason))


class LiveHandler(_Closing, BaseGraphQLTransportWSHandler[Any, Any]):
    """Strawberry's graphql-transport-ws handler with the additions listed in the module doc."""

    outbox_max = 1024  # frames waiting for a reader that is behind (then 1013)
    outbox_max_bytes = 8 << 20  # the same, in bytes (pre-built frames)

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.live = LiveConnections.of(self.view)
        self.max_message_bytes: int = self.live.settings.ws_max_message_bytes
        self.raw: Any = None  # uvicorn's protocol, when frames are written to its transport
        self.pending: list[bytes] = []  # pre-built frames not yet written (this turn's, or waiting for a drain)
        self.pending_bytes = 0
        self._queued = False  # registered with the loop turn's flusher
        self._flusher: _Flusher | None = None
        self.high_water = 0  # of the transport's write buffer
        self.outbox: collections.deque[str] = collections.deque()  # without ``raw``
        self._writer: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None
        self.closing = False
        self.viewer: Any = None
        self.revocation: Any = None
        self.rejected = 0
        self.shared: dict[str, FanoutGroup] = {}

    async def close(self, code: int, reason: str) -> None:
        if self.raw is not None and not self.closing:
            self.flush()  # what was sent before the close frame goes out before it
        await super().close(code, reason)

    # -- receiving ------------------------------------------------------------------------

    async def handle(self) -> None:
        self.on_request_accepted()
        admitted = self.live.add(self)
        ws = self.websocket.ws
        self.raw = server_protocol(ws)
        if self.raw is not None:
            self._flusher = _flusher()
            self.high_water = self.raw.transport.get_write_buffer_limits()[1]
        limit = self.max_message_bytes
        try:
            if not admitted:
                await self.close(4429, "Too many connections")
            while not self.closing:
                message = await receive(self, ws, limit, valid)
                if message is None:
                    break
                await self.handle_message(message)
        except (WebSocketDisconnect, WebSocketDisconnected, RuntimeError):
            pass
        finally:
            self.closing = True
            self.live.remove(self)
            await self.shutdown()
            if self._writer is not None:
                self._writer.cancel()
                with contextlib.suppress(BaseException):
                    await self._writer

    async def handle_invalid_message(self, error_message: str) -> None:
        await self.close(4400, error_message)

    async def handle_connection_init(self, message: Any) -> None:
        if self.connection_timed_out:
            return
        if self.connection_init_timeout_task:
            self.connection_init_timeout_task.cancel()
        payload = message.get("payload") or {}
        if self.connection_init_received:
            await self.close(4429, "Too many initialisation requests")
            return
        self.connection_init_received = True
        self.context.connection_params = payload
        try:
            ack_payload = await self.view.on_ws_connect(self.context)
        except ConnectionRejectionError:
            await self.close(4403, "Forbidden")
            return
        viewer = getattr(self.context, "viewer", None)
        if viewer is not None:
            if not self.live.admit(self, viewer):
                await self.close(4429, "Too many connections for this user")
                return
            self.viewer = viewer
        if isinstance(ack_payload, UnsetType) or ack_payload is None:
            await self.send_message({"type": "connection_ack"})
        else:
            await self.send_message({"type": "connection_ack", "payload": ack_payload})
        self.connection_acknowledged = True

    async def handle_subscribe(self, message: Any) -> None:
        if not self.connection_acknowledged:
            await self.close(4401, "Unauthorized")
            return
        op_id = message["id"]
        if op_id in self.operations:
            await self.close(4409, f"Subscriber for {op_id} already exists")
            return
        limit = self.max_subscriptions_per_connection
        if limit is not None and len(self.operations) >= limit:
            self.rejected += 1
            if self.rejected > limit:
                await self.close(4429, "Too many subscriptions")
                return
            error = GraphQLError("Subscription limit reached", extensions={"code": "RATE_LIMITED"})
            await self.send_message({"id": op_id, "type": "error", "payload": [error.formatted]})
            return
        payload = message["payload"]
        syntax = self.live.shared.root_fields(payload["query"], payload.get("operationName"))
        if isinstance(syntax, str):  # like the reference server: a document that does not parse
            await self.close(4400, syntax[:120])
            return
        key = self.live.shared.share_key(self, payload)
        if key is None:
            await super().handle_subscribe(message)
            return
        op: Operation[Any, Any] = Operation(
            self, op_id, payload["query"], payload.get("variables"), payload.get("operationName")
        )
        self.operations[op_id] = op
        self.shared[op_id] = self.live.shared.join(key, op, self, payload)

    async def cleanup_operation(self, operation_id: str) -> None:
        group = self.shared.pop(operation_id, None)
        if group is None:
            await super().cleanup_operation(operation_id)
            return
        op = self.operations.pop(operation_id, None)
        if op is not None:
            group.discard(op)

    def finish_shared(self, op: Operation[Any, Any], message: dict[str, Any]) -> None:
        """The shared execution ended for ``op`` (complete or error)."""
        self.shared.pop(op.id, None)
        if self.operations.get(op.id) is op:
            del self.operations[op.id]
        self.enqueue(dumps(message))

    # -- sending --------------------------------------------------------------------------

    async def send_message(self, message: Any) -> None:
        self.enqueue(dumps(message))

    def enqueue(self, frame: str) -> None:
        """Queue one frame for this socket; never blocks. Too slow a reader is disconnected."""
        if self.raw is not None:
            self.push(ws_text_frame(frame), frame)
            return
        if self.closing:
            return
        if len(self.outbox) >= self.outbox_max:
            self.outbox.clear()
            self.close_soon(CLOSE_TOO_SLOW, TOO_SLOW)
            return
        self.outbox.append(frame)
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write_loop())
        elif self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def push(self, data: bytes, text: str) -> None:
        """Send one frame: ``data`` is the complete WebSocket frame (the fan-out builds it once
        for every subscriber with the same operation id), ``text`` the message, for a socket
        without ``raw`` (it takes the outbox). Queued for the end of this loop turn; never blocks.
        A reader that lets ``outbox_max`` frames (or ``outbox_max_bytes``) wait while its
        transport is paused is closed with 1013."""
        if self.raw is None:
            self.enqueue(text)
            return
        if self.closing:
            return
        pending = self.pending
        if len(pending) >= self.outbox_max or self.pending_bytes >= self.outbox_max_bytes:
            self.flush()  # a long turn: write now if the transport takes it
            if pending:  # it does not: the reader is that far behind
                pending.clear()
                self.pending_bytes = 0
                self.close_soon(CLOSE_TOO_SLOW, TOO_SLOW)
                return
        pending.append(data)
        self.pending_bytes += len(data)
        if not self._queued:
            self._queued = True
            self._flusher.add(self)  # type: ignore[union-attr]

    def flush(self) -> None:
        """Write the queued frames, together, while the transport is below its high-water mark;
        what is left (the kernel's buffer is full: the reader is behind) waits, in order, for the
        transport to drain (``_drain``). One write per socket and turn in the common case; a
        write never takes the transport more than one frame past its high-water mark (as one
        frame per send would), so a reader that is briefly behind catches up before its queue
        fills."""
        self._queued = False
        pending = self.pending
        if not pending:
            return
        raw = self.raw
        transport = raw.transport
        if self.closing or raw.close_sent or raw.disconnected or transport.is_closing():
            pending.clear()
            self.pending_bytes = 0
            return
        writable = raw.writable
        while pending and writable.is_set():
            room = self.high_water - transport.get_write_buffer_size()
            k, size = 1, len(pending[0])
            while k < len(pending) and size + len(pending[k]) <= room:
                size += len(pending[k])
                k += 1
            transport.write(pending[0] if k == 1 else b"".join(pending[:k]))  # may pause it
            del pending[:k]
            self.pending_bytes -= size
        if pending and self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        raw = self.raw
        try:
            while self.pending and not self.closing:
                await raw.writable.wait()
                self.flush()
        finally:
            self._writer = None

    async def _write_loop(self) -> None:
        ws = self.websocket.ws
        loop = asyncio.get_running_loop()
        try:
            while not self.closing:
                while self.outbox:
                    await ws.send_text(self.outbox.popleft())
                self._wake = loop.create_future()
                await self._wake
                self._wake = None
        except (WebSocketDisconnect, WebSocketDisconnected, RuntimeError, OSError):
            self.closing = True


class LegacyLiveHandler(_Closing, BaseGraphQLWSHandler[Any, Any]):
    """The legacy ``graphql-ws`` protocol (only with ``MBF_LEGACY_GRAPHQL_WS``): Strawberry's
    handler plus the same frame limit (4400), per-user connection limit (4429) and token
    lifetime (4403 at expiry or revocation). No shared execution."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.live = LiveConnections.of(self.view)
        self.max_message_bytes: int = self.live.settings.ws_max_message_bytes
        self.closing = False
        self.viewer: Any = None
        self.revocation: Any = None

    async def handle(self) -> None:
        admitted = self.live.add(self)  # type: ignore[arg-type]
        ws = self.websocket.ws
        limit = self.max_message_bytes
        try:
            if not admitted:
                await self.close(4429, "Too many connections")
            while not self.closing:
                message = await receive(self, ws, limit, valid_legacy)
                if message is None:
                    break
                await self.handle_message(message)
        except (WebSocketDisconnect, WebSocketDisconnected, RuntimeError, KeyError, TypeError):
            pass
        finally:
            self.closing = True
            self.live.remove(self)  # type: ignore[arg-type]
            if self.keep_alive_task:
                self.keep_alive_task.cancel()
                with contextlib.suppress(BaseException):
                    await self.keep_alive_task
            await self.cleanup()

    async def handle_connection_init(self, message: Any) -> None:
        await super().handle_connection_init(message)
        viewer = getattr(self.context, "viewer", None)
        if self.connection_acknowledged and viewer is not None:
            if not self.live.admit(self, viewer):  # type: ignore[arg-type]
                await self.close(4429, "Too many connections for this user")
                return
            self.viewer = viewer

    def enqueue(self, frame: str) -> None:
        """Keep-alive is the protocol's own ``ka`` message here."""
