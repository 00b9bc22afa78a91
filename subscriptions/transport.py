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
* Every frame goes through one bounded outbox per connection drained by one writer task, so a
  slow socket never blocks anyone else; a client too slow to drain ``outbox_max`` frames is
  closed with 1013 (try again later; resume with ``events(after:)``).
* Shared execution (:mod:`subscriptions.fanout`): subscriptions with the same document,
  variables and visibility run ONCE and each result is serialised once for every subscriber.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
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
from subscriptions.frames import dumps, receive, valid, valid_legacy
from subscriptions.registry import LiveConnections

CLOSE_TOO_SLOW = 1013


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

    outbox_max = 1024

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.live = LiveConnections.of(self.view)
        self.max_message_bytes: int = self.live.settings.ws_max_message_bytes
        self.outbox: collections.deque[str] = collections.deque()
        self._writer: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None
        self.closing = False
        self.viewer: Any = None
        self.revocation: Any = None
        self.rejected = 0
        self.shared: dict[str, FanoutGroup] = {}

    # -- receiving ------------------------------------------------------------------------

    async def handle(self) -> None:
        self.on_request_accepted()
        admitted = self.live.add(self)
        ws = self.websocket.ws
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
        if self.closing:
            return
        if len(self.outbox) >= self.outbox_max:
            self.outbox.clear()
            self.close_soon(CLOSE_TOO_SLOW, "Client too slow; reconnect and resume with events(after:)")
            return
        self.outbox.append(frame)
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write_loop())
        elif self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

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
