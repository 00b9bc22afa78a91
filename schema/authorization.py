"""Roles and API-key scopes, checked once per operation before it executes.

The root fields of the operation (through fragments, each visited once) are looked up in
:mod:`app.security.policy`; a refused operation runs nothing and answers ``FORBIDDEN``.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError
from graphql.language import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from strawberry.extensions import SchemaExtension

from app.errors import Forbidden
from app.security.policy import refusal


def root_fields(document: DocumentNode, operation_name: str | None) -> tuple[str, list[str]] | None:
    """The operation's type and root field names, or None when the document names no such operation."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    if operation_name is None:
        op = operations[0] if len(operations) == 1 else None
    else:
        op = next((o for o in operations if o.name and o.name.value == operation_name), None)
    if op is None:
        return None
    names: list[str] = []
    seen: set[str] = set()
    pending: list[SelectionSetNode] = [op.selection_set]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                names.append(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                seen.add(selection.name.value)
                fragment = fragments.get(selection.name.value)
                if fragment is not None:
                    pending.append(fragment.selection_set)
    return op.operation.value, names


class Authorization(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        viewer = ctx.context.viewer
        found = root_fields(ctx.graphql_document, ctx.operation_name) if ctx.graphql_document else None
        if viewer is not None and found is not None:
            operation, fields = found
            reason = refusal(operation, fields, role=viewer.role, scopes=viewer.scopes)
            if reason is not None:
                error = Forbidden(reason)
                if operation == "subscription":
                    raise error  # Strawberry turns an on_execute exception into the stream's error
                ctx.result = GraphQLExecutionResult(data=None, errors=[GraphQLError(reason, original_error=error)])
        yield
