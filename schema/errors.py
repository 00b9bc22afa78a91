"""Maps every GraphQL error to the contract's shape: ``extensions.code``, ``errorId`` and ``field``.

Domain errors keep their message; request errors (syntax, validation, variable coercion) are
``BAD_USER_INPUT``; anything unexpected is logged with its stack and the error id and
returned as ``INTERNAL`` without internals.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import structlog
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.error import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import ExecutionResult as StrawberryExecutionResult

from app.errors import DomainError

log = structlog.get_logger(__name__)

_VARIABLE = re.compile(r"Variable '\$(\w+)'")
_FIELD = re.compile(r"(?:[Ff]ield|[Aa]rgument) '(?:\w+\.)?(\w+)'")


_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")
_FOUND = re.compile(r"[,;]? found:? .*$", re.S)
_INVALID_VALUE = re.compile(r"(invalid value(?: at [^:]*)?: [^:]*: ).*$", re.S)
_QUOTED = re.compile(r"\"[^\"]{33,}\"")  # GraphQL string literals echoed back
MAX_MESSAGE = 300


def excerpt_message(message: str, *, hide_suggestions: bool) -> str:
    """A request error's message without the whole input it may echo (passwords, 500 KB literals).

    graphql-core repeats the offending value (``found: {email: ..., password: ...}``); we drop it,
    shorten long quoted strings, cap the length and, in production, drop "Did you mean" suggestions.
    """
    if hide_suggestions:
        message = _SUGGESTION.sub("", message)
    message = _FOUND.sub(".", message)
    message = _INVALID_VALUE.sub(lambda m: m.group(1) + "(value not shown).", message)
    message = _QUOTED.sub(lambda m: m.group(0)[:17] + "…" + m.group(0)[0], message)
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


def new_error_id() -> str:
    return secrets.token_hex(6)


def format_error(error: GraphQLError, *, hide_suggestions: bool = False) -> GraphQLError:
    """Return a new error in the contract's shape (idempotent for already-formatted errors)."""
    if error.extensions and "errorId" in error.extensions:
        return error
    original = error.original_error
    # Unwrap errors re-raised inside graphql-core (e.g. located errors).
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    error_id = new_error_id()
    extensions: dict[str, object] = {"errorId": error_id}
    if isinstance(original, DomainError):
        message = original.message
        extensions["code"] = original.code
        if original.field:
            extensions["field"] = original.field
        if original.hint:
            extensions["hint"] = original.hint
    elif original is None or isinstance(original, GraphQLError) or error.path is None:
        # A request error: parse, validation, or an input value the scalars/enums refused.
        message = error.message
        extensions["code"] = "BAD_USER_INPUT"
        match = _VARIABLE.search(message) or _FIELD.search(message)
        if match:
            extensions["field"] = match.group(1)
        for key in ("field", "hint"):  # set by our own checks (schema/limits.py)
            if error.extensions and error.extensions.get(key):
                extensions[key] = error.extensions[key]
        message = excerpt_message(message, hide_suggestions=hide_suggestions)
    else:
        message = f"Internal error (id {error_id}); it has been logged."
        extensions["code"] = "INTERNAL"
        log.error(
            "graphql_internal_error",
            error_id=error_id,
            path=".".join(str(p) for p in error.path or ()),
            exc_info=original,
        )
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=original if isinstance(original, DomainError) else None,
        extensions=extensions,
    )


class ContractErrors(SchemaExtension):
    """Applies :func:`format_error` to every result, including each subscription result."""

    def __init__(self, *, hide_suggestions: bool = False) -> None:
        self.hide_suggestions = hide_suggestions  # production: no "Did you mean" of any kind

    def _process(self, result: object) -> None:
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = [format_error(e, hide_suggestions=self.hide_suggestions) for e in errors]  # type: ignore[attr-defined]

    def on_stream_result(self, result: object) -> Iterator[None]:
        """Each result of a subscription (or other streamed operation), before it is sent."""
        self._process(result)
        yield

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if isinstance(result, GraphQLExecutionResult | StrawberryExecutionResult):
            self._process(result)
        elif (initial := getattr(result, "initial_result", None)) is not None:
            self._process(initial)
        # Pre-execution errors (parse/validation) are kept on the context for subscriptions.
        if self.execution_context.pre_execution_errors:
            self.execution_context.pre_execution_errors = [
                format_error(e, hide_suggestions=self.hide_suggestions)
                for e in self.execution_context.pre_execution_errors
            ]
