"""Schema extensions: operation logging (name and duration)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import structlog
from strawberry.extensions import SchemaExtension

from app.observability.metrics import observe_operation

log = structlog.get_logger("graphql")


class OperationLog(SchemaExtension):
    """One log line per operation: name, type, duration and whether it errored. Never variables."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        ctx = self.execution_context
        result = ctx.result
        errors = getattr(result, "errors", None) or ctx.pre_execution_errors or []
        try:
            op_type = ctx.operation_type.value
        except Exception:  # the document did not parse
            op_type = "unknown"
        elapsed = time.perf_counter() - started
        codes = [(e.extensions or {}).get("code", "?") for e in errors]
        observe_operation(ctx.operation_name, op_type, elapsed, codes)
        log.info(
            "graphql_operation",
            operation=ctx.operation_name or "anonymous",
            type=op_type,
            duration_ms=round(elapsed * 1000, 2),
            errors=len(errors),
            codes=sorted(set(codes)) or None,
        )
