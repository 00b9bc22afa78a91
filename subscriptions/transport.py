"""The ``graphql-transport-ws`` connection handler: limits, auth lifetime, shared fan-out.

Built on Strawberry's handler (which keeps the protocol rules of the reference ``graphql-ws``
server: 4408 init timeout, 4429 duplicate init, 4401 subscribe before ack, 4409 duplicate id,
4400 malformed) and adds:

* Frames larger than ``ws_max_message_bytes``, binary frames, non-JSON and ill-shaped messages
  close the socket with 4400.
* Auth: the ``connection_init`` token (checked by the view's ``on_ws_connect``) is watched for
  its whole life: the socket closes with 4403 at the token's expiry, and on revocation (a
  ``sessionRevoked`` event, or the periodic re-check of the session).
* ``ws_max_connections_per_user`` (4429 "Too many connections" at init) and
  ``ws_max_subscriptions_per_connection`` (an ``error`` for the operation; a client that keeps
  going past twice the limit is closed with 4429).
* Every frame goes through one bounded outbox per connection drained by one writer task, so a
  slow socket never blocks anyone else; a client too slow to drain ``outbox_max`` frames is
  closed with 1013 (try again later; resume with ``events(after:)``).
* One process-wide sweeper task sends keep-alive ``ping`` messages, closes expired sessions and
  re-checks revocations (uvicorn's WebSocket pings clean up dead TCP peers).
* Shared execution: subscriptions with the same document, variables and visibility (the viewer,
  or nobody for public fields like ``priceUpdated``) run ONCE; each result is serialised once and
  the same ``next`` payload is written to every subscriber's socket.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import heapq
import itertools
import json
import time
import weakref
from collections.abc import Callable
from typing import Any

import structlog
from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLSyntaxError,
    NullValueNode,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    parse,
)
from starlette.websockets import WebSocketDisconnect
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.types.unset import UnsetType

from subscriptions.live import CURSOR_ARGS, PUBLIC_FIELDS

log = structlog.get_logger(__name__)

CLOSE_TOO_SLOW = 1013
REVOCATION_EVENT = "sessionRevoked"


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def _valid_legacy(message: Any) -> bool:
    """Shape of a legacy graphql-ws client message: an object with a string ``type``."""
    return isinstance(message, dict) and isinstance(message.get("type"), str)


async def _receive(handler: Any, ws: Any, limit: int, valid: Callable[[Any], bool]) -> Any:
    """The next client message, or None once the peer has gone or the socket was closed with
    4400 for a frame over ``limit`` bytes, a binary frame, non-JSON or a message ``valid`` rejects."""
    msg = await ws.receive()
    if msg["type"] == "websocket.disconnect":
        return None
    text = msg.get("text")
    if text is None:
        await handler.close(4400, "WebSocket message type must be text")
        return None
    if len(text) > limit or (len(text) * 4 > limit and len(text.encode()) > limit):
        await handler.close(4400, f"Message too large (limit {limit} bytes)")
        return None
    try:
        message = json.loads(text)
    except ValueError:
        await handler.close(4400, "WebSocket message must be valid JSON")
        return None
    if not valid(message):
        await handler.close(4400, "Invalid message")
        return None
    return message


def _valid(message: Any) -> bool:
    """Shape of a graphql-transport-ws client message (anything else closes with 4400)."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return False
    kind = message["type"]
    if kind == "subscribe":
        payload = message.get("payload")
        return (
            isinstance(message.get("id"), str)
            and 0 < len(message["id"]) <= 128
            and isinstance(payload, dict)
            and isinstance(payload.get("query"), str)
            and isinstance(payload.get("variables") or {}, dict)
            and isinstance(payload.get("operationName") or "", str)
            and isinstance(payload.get("extensions") or {}, dict)
        )
    if kind == "complete":
        return isinstance(message.get("id"), str)
    if kind == "connection_init":
        return isinstance(message.get("payload") or {}, dict)
    return True  # ping / pong / unknown types: Strawberry answers (unknown → 4400)


@dataclasses.dataclass(frozen=True, slots=True)
class DocInfo:
    """What the fan-out needs to know about a subscription document."""

    fields: frozenset[str]  # root field names
    cursor_literal: bool = False  # a replay cursor given as a non-null literal
    cursor_vars: tuple[str, ...] = ()  # variables used as replay cursors


class LiveConnections:
    """Process-wide state of the WebSocket connections of one GraphQL view."""

    recheck_s = 5.0

    def __init__(self, view: Any) -> None:
        self.view = view
        self.settings = view.settings
        self.container = view.container
        self.schema = view.schema
        self.all: set[LiveHandler] = set()
        self.by_user: dict[str, set[LiveHandler]] = {}
        self.groups: dict[tuple[Any, ...], FanoutGroup] = {}
        # (expiry, seq, weak handler): closed connections must not stay referenced until their
        # token's expiry; the heap is compacted when mostly stale.
        self._expiry: list[tuple[float, int, weakref.ref[LiveHandler]]] = []
        self._seq = itertools.count()
        self._rearm = asyncio.Event()
        self._sweeper: asyncio.Task[None] | None = None
        self._docs: collections.OrderedDict[tuple[str, str | None], DocInfo | str | None] = collections.OrderedDict()

    @classmethod
    def of(cls, view: Any) -> LiveConnections:
        live = _REGISTRIES.get(view.container)
        if live is None:
            live = cls(view)
            _REGISTRIES[view.container] = live
        return live

    # -- connections --------------------------------------------------------------------

    def add(self, handler: LiveHandler) -> None:
        self.all.add(handler)
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep(), name="ws-sweeper")

    def admit(self, handler: LiveHandler, viewer: Any) -> bool:
        """Register an authenticated connection; False when the user is at the limit."""
        mine = self.by_user.setdefault(viewer.user_id, set())
        if len(mine) >= self.settings.ws_max_connections_per_user:
            return False
        mine.add(handler)
        expires = viewer.expires_at.timestamp()
        heapq.heappush(self._expiry, (expires, next(self._seq), weakref.ref(handler)))
        self._rearm.set()
        session_id = viewer.session_id

        def on_revoked(event: Any) -> None:
            if event.subject in (session_id, None):
                handler.close_soon(4403, "Token revoked")

        handler.revocation = self.container.hub.fanout.listen(viewer.user_id, on_revoked, types={REVOCATION_EVENT})
        return True

    def remove(self, handler: LiveHandler) -> None:
        self.all.discard(handler)
        viewer = handler.viewer
        if viewer is not None:
            mine = self.by_user.get(viewer.user_id)
            if mine is not None:
                mine.discard(handler)
                if not mine:
                    del self.by_user[viewer.user_id]
        if handler.revocation is not None:
            handler.revocation.close()
            handler.revocation = None
        if len(self._expiry) > 2 * len(self.all) + 64:
            self._expiry = [e for e in self._expiry if e[2]() in self.all]
            heapq.heapify(self._expiry)

    async def _sweep(self) -> None:
        """Keep-alive pings, token expiry and revocation re-checks for every connection."""
        keepalive = self.settings.ws_keepalive_s
        next_ping = time.time() + keepalive
        next_check = time.time() + self.recheck_s
        while self.all:
            now = time.time()
            while self._expiry and self._expiry[0][0] <= now:
                _, _, ref = heapq.heappop(self._expiry)
                h = ref()
                if h is not None and h in self.all:
                    h.close_soon(4403, "Token expired")
            if now >= next_ping:
                next_ping = now + keepalive
                for h in list(self.all):
                    if h.connection_acknowledged:
                        h.enqueue('{"type":"ping"}')
            if now >= next_check:
                next_check = now + self.recheck_s
                await self._recheck_sessions()
            deadline = min(next_ping, next_check, self._expiry[0][0] if self._expiry else next_ping)
            self._rearm.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, deadline - time.time())):
                    await self._rearm.wait()
        self._sweeper = None

    async def _recheck_sessions(self) -> None:
        sessions: dict[str, list[LiveHandler]] = {}
        for h in self.all:
            if h.viewer is not None:
                sessions.setdefault(h.viewer.session_id, []).append(h)
        for session_id, handlers in sessions.items():
            try:
                active = await self.container.accounts.session_active(session_id)
            except Exception:  # database trouble: keep the connections, check again later
                log.warning("ws_session_recheck_failed", exc_info=True)
                return
            if not active:
                for h in handlers:
                    h.close_soon(4403, "Token revoked or expired")

    # -- shared execution ---------------------------------------------------------------

    def root_fields(self, query: str, operation_name: str | None) -> DocInfo | str | None:
        """The root fields of the subscription operation; None if it is not a (single, plain)
        subscription; a ``str`` (the message) if the document does not parse."""
        key = (query, operation_name)
        if key in self._docs:
            self._docs.move_to_end(key)
            return self._docs[key]
        fields: DocInfo | str | None = None
        try:
            doc = parse(query)
            ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
            if operation_name is not None:
                ops = [o for o in ops if o.name and o.name.value == operation_name]
            if len(ops) == 1 and ops[0].operation == OperationType.SUBSCRIPTION:
                selections = ops[0].selection_set.selections
                if all(isinstance(s, FieldNode) for s in selections):  # no root fragments
                    fields = _doc_info([s for s in selections if isinstance(s, FieldNode)])
        except GraphQLSyntaxError as exc:
            fields = exc.message
        except GraphQLError:
            fields = None
        self._docs[key] = fields
        if len(self._docs) > 512:
            self._docs.popitem(last=False)
        return fields

    def share_key(self, handler: LiveHandler, payload: dict[str, Any]) -> tuple[Any, ...] | None:
        query = payload["query"]
        op_name = payload.get("operationName")
        info = self.root_fields(query, op_name)
        if not isinstance(info, DocInfo) or not info.fields or info.cursor_literal:
            return None
        variables_in = payload.get("variables") or {}
        if any(variables_in.get(v) is not None for v in info.cursor_vars):
            return None  # resuming from a cursor: its own execution
        if info.fields <= PUBLIC_FIELDS:
            visibility = None
        else:
            viewer = handler.viewer
            visibility = viewer.user_id if viewer is not None else "anonymous"
        variables = _dumps(payload.get("variables") or {})
        return (visibility, query, variables, op_name)

    def join(
        self, key: tuple[Any, ...], op: Operation[Any, Any], handler: LiveHandler, payload: dict[str, Any]
    ) -> FanoutGroup:
        group = self.groups.get(key)
        if group is None:
            group = FanoutGroup(self, key, payload, handler.context)
            self.groups[key] = group
            group.start()
        group.add(op, handler)
        return group


def _doc_info(selections: list[FieldNode]) -> DocInfo:
    literal = False
    cursor_vars: list[str] = []
    for field in selections:
        arg_name = CURSOR_ARGS.get(field.name.value)
        for arg in field.arguments or ():
            if arg.name.value != arg_name:
                continue
            if isinstance(arg.value, VariableNode):
                cursor_vars.append(arg.value.name.value)
            elif not isinstance(arg.value, NullValueNode):
                literal = True
    return DocInfo(frozenset(f.name.value for f in selections), literal, tuple(cursor_vars))


_REGISTRIES: weakref.WeakKeyDictionary[Any, LiveConnections] = weakref.WeakKeyDictionary()


def connections_of(container: Any) -> LiveConnections | None:
    """The WebSocket registry of the server built on ``container`` (for tests and health)."""
    return _REGISTRIES.get(container)


class FanoutGroup:
    """One execution of a subscription shared by every subscriber with the same key."""

    def __init__(self, live: LiveConnections, key: tuple[Any, ...], payload: dict[str, Any], context: Any) -> None:
        self.live = live
        self.key = key
        self.payload = payload
        self.context = context
        self.members: dict[Operation[Any, Any], tuple[LiveHandler, str]] = {}
        self.task: asyncio.Task[None] | None = None
        self.results = 0

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="ws-fanout-group")

    def add(self, op: Operation[Any, Any], handler: LiveHandler) -> None:
        prefix = '{"id":' + _dumps(op.id) + ',"type":"next","payload":'
        self.members[op] = (handler, prefix)

    def discard(self, op: Operation[Any, Any]) -> None:
        self.members.pop(op, None)
        if not self.members:
            self._end()

    def _end(self) -> None:
        if self.live.groups.get(self.key) is self:
            del self.live.groups[self.key]
        if self.task is not None and not self.task.done():
            self.task.cancel()

    async def _run(self) -> None:
        try:
            source = await self.live.schema.subscribe(
                self.payload["query"],
                variable_values=self.payload.get("variables"),
                context_value=self.context,
                operation_name=self.payload.get("operationName"),
            )
            if isinstance(source, ExecutionResult | PreExecutionError):
                self._fail(source)
                return
            try:
                async for result in source:
                    if isinstance(result, PreExecutionError):
                        self._fail(result)
                        return
                    self.results += 1
                    body: dict[str, Any] = {"data": result.data}
                    if result.errors:
                        body["errors"] = [e.formatted for e in result.errors]
                    if result.extensions:
                        body["extensions"] = result.extensions
                    tail = _dumps(body) + "}"  # serialised once for every subscriber
                    for handler, prefix in list(self.members.values()):
                        handler.enqueue(prefix + tail)
            finally:
                with contextlib.suppress(Exception):
                    await source.aclose()  # type: ignore[union-attr]
            self._complete_all()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("ws_fanout_group_failed")
            self._complete_all()
        finally:
            if self.live.groups.get(self.key) is self:
                del self.live.groups[self.key]

    def _fail(self, result: Any) -> None:
        errors = [e.formatted for e in (result.errors or [])]
        for op, (handler, _) in list(self.members.items()):
            handler.finish_shared(op, {"id": op.id, "type": "error", "payload": errors})
        self.members.clear()

    def _complete_all(self) -> None:
        for op, (handler, _) in list(self.members.items()):
            handler.finish_shared(op, {"id": op.id, "type": "complete"})
        self.members.clear()


class _Closing:
    """Close the socket once, from anywhere (limits, token expiry, slow readers); both handlers share it."""

    closing: bool
    websocket: Any

    async def close(self, code: int, reason: str) -> None:
        if self.closing:
            return
        self.closing = True
        with contextlib.suppress(Exception):
            await self.websocket.close(code=code, reason=reason)

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
        self.live.add(self)
        ws = self.websocket.ws  # type: ignore[attr-defined]
        limit = self.max_message_bytes
        try:
            while not self.closing:
                message = await _receive(self, ws, limit, _valid)
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
        syntax = self.live.root_fields(payload["query"], payload.get("operationName"))
        if isinstance(syntax, str):  # like the reference server: a document that does not parse
            await self.close(4400, syntax[:120])
            return
        key = self.live.share_key(self, payload)
        if key is None:
            await super().handle_subscribe(message)
            return
        op: Operation[Any, Any] = Operation(
            self, op_id, payload["query"], payload.get("variables"), payload.get("operationName")
        )
        self.operations[op_id] = op
        self.shared[op_id] = self.live.join(key, op, self, payload)

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
        self.enqueue(_dumps(message))

    # -- sending --------------------------------------------------------------------------

    async def send_message(self, message: Any) -> None:
        self.enqueue(_dumps(message))

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
        ws = self.websocket.ws  # type: ignore[attr-defined]
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
        self.live.add(self)  # type: ignore[arg-type]
        ws = self.websocket.ws  # type: ignore[attr-defined]
        limit = self.max_message_bytes
        try:
            while not self.closing:
                message = await _receive(self, ws, limit, _valid_legacy)
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
