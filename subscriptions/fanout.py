"""Shared execution: subscriptions with the same document, variables and visibility (the
viewer, or nobody for public fields like ``priceUpdated``) run ONCE; each result is serialised
once and the same ``next`` payload is written to every subscriber's socket. A replay cursor
(``events(after:)``) gets its own execution."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
from typing import TYPE_CHECKING, Any

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
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import Operation
from strawberry.types.execution import ExecutionResult, PreExecutionError

from subscriptions.frames import dumps, ws_text_frame
from subscriptions.live import CURSOR_ARGS, PUBLIC_FIELDS

if TYPE_CHECKING:
    from subscriptions.transport import LiveHandler

log = structlog.get_logger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class DocInfo:
    """What the fan-out needs to know about a subscription document."""

    fields: frozenset[str]  # root field names
    cursor_literal: bool = False  # a replay cursor given as a non-null literal
    cursor_vars: tuple[str, ...] = ()  # variables used as replay cursors


class SharedExecutions:
    """The running shared executions of one GraphQL view, by share key."""

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self.groups: dict[tuple[Any, ...], FanoutGroup] = {}
        self._docs: collections.OrderedDict[tuple[str, str | None], DocInfo | str | None] = collections.OrderedDict()

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
        variables = dumps(payload.get("variables") or {})
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


class FanoutGroup:
    """One execution of a subscription shared by every subscriber with the same key."""

    def __init__(self, live: SharedExecutions, key: tuple[Any, ...], payload: dict[str, Any], context: Any) -> None:
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
        prefix = '{"id":' + dumps(op.id) + ',"type":"next","payload":'
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
                    tail = dumps(body) + "}"  # serialised once for every subscriber
                    self._deliver(tail)
            finally:
                with contextlib.suppress(Exception):
                    await source.aclose()
            self._complete_all()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("ws_fanout_group_failed")
            self._complete_all()
        finally:
            if self.live.groups.get(self.key) is self:
                del self.live.groups[self.key]

    def _deliver(self, tail: str) -> None:
        """Queue one result for every member. The WebSocket frame is built once per distinct
        operation id (clients mostly use the same ids, so usually once) and the same bytes go to
        every socket; per subscriber there is only a dict lookup and the push (an append; the
        socket's frames of this loop turn are written together, ``LiveHandler.flush``)."""
        frames: dict[str, tuple[bytes, str]] = {}
        for handler, prefix in list(self.members.values()):
            built = frames.get(prefix)
            if built is None:
                text = prefix + tail
                built = frames[prefix] = (ws_text_frame(text), text)
            handler.push(*built)

    def _fail(self, result: Any) -> None:
        errors = [e.formatted for e in (result.errors or [])]
        for op, (handler, _) in list(self.members.items()):
            handler.finish_shared(op, {"id": op.id, "type": "error", "payload": errors})
        self.members.clear()

    def _complete_all(self) -> None:
        for op, (handler, _) in list(self.members.items()):
            handler.finish_shared(op, {"id": op.id, "type": "complete"})
        self.members.clear()
