"""Tracing of GraphQL execution: one span per operation, resolver spans over a threshold.

Installed by ``build_schema`` only when tracing is configured (``app/observability/tracing.py``),
so the per-field hook costs nothing otherwise. The operation span continues an incoming W3C
``traceparent`` and parents the SQL, chain and LND spans made while the operation runs.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from inspect import isawaitable
from typing import Any

from graphql import GraphQLResolveInfo
from strawberry.extensions import SchemaExtension

from app.observability import tracing


class OperationTracing(SchemaExtension):
    def __init__(self, *, resolver_min_ms: float = 10.0) -> None:
        self.resolver_min_ns = int(resolver_min_ms * 1_000_000)

    def on_operation(self) -> Iterator[None]:
        ctx = self.execution_context
        request = getattr(ctx.context, "request", None)
        current = tracing.start_span("graphql.operation", parent_headers=getattr(request, "headers", None))
        with tracing.use_span(current):
            yield
        if current is None:
            return
        result = ctx.result
        errors = getattr(result, "errors", None) or ctx.pre_execution_errors or []
        try:
            op_type = ctx.operation_type.value
        except Exception:  # the document did not parse
            op_type = "unknown"
        name = ctx.operation_name or "anonymous"
        current.update_name(f"graphql {op_type} {name}")
        codes = sorted({str((e.extensions or {}).get("code", "?")) for e in errors})
        tracing.end_span(
            current,
            error=",".join(codes) if codes else None,
            attributes={
                "graphql.operation.name": name,
                "graphql.operation.type": op_type,
                "graphql.errors": len(errors),
            },
        )

    def resolve(self, _next: Callable[..., Any], root: Any, info: GraphQLResolveInfo, *args: Any, **kwargs: Any) -> Any:
        started = time.time_ns()
        result = _next(root, info, *args, **kwargs)
        if isawaitable(result):
            return self._timed(result, info, started)
        self._record(info, started)
        return result

    async def _timed(self, result: Awaitable[Any], info: GraphQLResolveInfo, started: int) -> Any:
        try:
            return await result
        finally:
            self._record(info, started)

    def _record(self, info: GraphQLResolveInfo, started: int) -> None:
        ended = time.time_ns()
        if ended - started >= self.resolver_min_ns:
            tracing.record_span(
                f"resolve {info.parent_type.name}.{info.field_name}",
                started,
                ended,
                {"graphql.field.path": ".".join(str(p) for p in info.path.as_list())},
            )
