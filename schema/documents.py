"""Documents parsed and validated once: an LRU of valid documents keyed by the SHA-256 of their text.

Validation depends only on the schema and the document, so a document that validated once is
valid for every later request. What depends on the request still runs every time: the query
limits of :mod:`schema.limits` (depth, aliases, cost, input sizes: they read the variables) run
before this cache is consulted, and refuse as before; the cost still goes to ``extensions``.
A document is remembered only after it parsed under the token limit and validated without
errors, so a refused document is parsed (and refused) again. The same hook enforces
``MBF_PERSISTED_QUERIES=only``: a document that is not on the allow-list is refused before it
is even parsed (HTTP and WebSocket alike).

What the cache holds is per document (its validation outcome); what depends on the request runs
on every request, cached or not: choosing the operation (``operationName``; a document of several
operations without one is refused, as the GraphQL spec says, instead of Strawberry's first
operation), the operation-type checks (subscriptions over HTTP, mutations over GET) and the limits.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

from graphql import DocumentNode, GraphQLError, OperationDefinitionNode
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError

from app.persisted_queries import NOT_ALLOWED_CODE, document_hash


class DocumentLRU:
    """``hash → parsed, validated document``; shared by every request of one schema."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._docs: OrderedDict[str, DocumentNode] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, digest: str) -> DocumentNode | None:
        doc = self._docs.get(digest)
        if doc is None:
            self.misses += 1
            return None
        self._docs.move_to_end(digest)
        self.hits += 1
        return doc

    def put(self, digest: str, doc: DocumentNode) -> None:
        if self.max_entries <= 0:
            return
        self._docs[digest] = doc
        self._docs.move_to_end(digest)
        while len(self._docs) > self.max_entries:
            self._docs.popitem(last=False)

    def __len__(self) -> int:
        return len(self._docs)


class OperationNameRequired(CannotGetOperationTypeError):
    """A document of several operations sent without ``operationName`` (a request error: HTTP 400,
    WebSocket close 4400, like an unknown operation name)."""

    def __init__(self) -> None:
        super().__init__(None)

    def as_http_error_reason(self) -> str:
        return "This document holds several operations: send operationName to say which one to run."


def _several_operations(doc: DocumentNode) -> bool:
    count = 0
    for definition in doc.definitions:
        if isinstance(definition, OperationDefinitionNode):
            count += 1
            if count > 1:
                return True
    return False


class DocumentCache(SchemaExtension):
    """Parse from the LRU, skip validation for a document known valid; refuse unlisted documents."""

    def __init__(self, documents: DocumentLRU) -> None:
        self.documents = documents
        self.digest: str | None = None
        self.cached = False

    def on_parse(self) -> Iterator[None]:
        ctx = self.execution_context
        if ctx.query is not None and ctx.graphql_document is None:
            self.digest = digest = document_hash(ctx.query)
            if not ctx.context.container.persisted_queries.allowed(digest):
                raise GraphQLError(
                    "This server runs only registered documents, and this one is not registered.",
                    extensions={
                        "code": NOT_ALLOWED_CODE,
                        "hint": "add it to the allow-list with mbf documents add (docs/performance.md)",
                    },
                )
            doc = self.documents.get(digest)
            if doc is not None:
                ctx.graphql_document = doc
                self.cached = True
        yield
        doc = ctx.graphql_document
        if doc is not None and ctx._provided_operation_name is None and _several_operations(doc):
            raise OperationNameRequired

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        ran_limits_clean = ctx.pre_execution_errors is None  # the query limits (before us) passed
        if self.cached and ran_limits_clean:
            ctx.pre_execution_errors = []  # known valid: graphql-core's validation is skipped
        yield
        if (
            not self.cached
            and ran_limits_clean
            and self.digest is not None
            and ctx.graphql_document is not None
            and ctx.pre_execution_errors == []
        ):
            self.documents.put(self.digest, ctx.graphql_document)
