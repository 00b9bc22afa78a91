"""Apollo automatic persisted queries over HTTP (GET and POST): turn a request's
``extensions.persistedQuery`` into the document text, or into the answer Apollo clients expect.

- hash only, known → run the stored document;
- hash only, unknown → ``PersistedQueryNotFound`` (HTTP 200, ``extensions.code``
  ``PERSISTED_QUERY_NOT_FOUND``): the client sends the query again with the hash;
- hash and query → the hash must be the query's SHA-256 (else 400), then it is registered
  (``MBF_PERSISTED_QUERIES=auto``; in ``only`` mode nothing is registered and an unlisted document
  is refused by :mod:`schema.documents`).
"""

from __future__ import annotations

import re
from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError
from strawberry.types import ExecutionResult

from app.persisted_queries import NOT_FOUND, NOT_FOUND_CODE, PersistedQueries, document_hash

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


def resolve(persisted: PersistedQueries, extension: Any, query: str | None) -> str | ExecutionResult:
    """The document text to run, or the ``PersistedQueryNotFound`` result. Malformed: a 400."""
    if not isinstance(extension, dict):
        raise HTTPException(400, "extensions.persistedQuery must be an object: {version: 1, sha256Hash}.")
    if extension.get("version") != 1:
        raise HTTPException(400, "Unsupported persisted query version: only version 1 is supported.")
    digest = extension.get("sha256Hash")
    if not isinstance(digest, str) or not _HEX64.match(digest):
        raise HTTPException(400, "extensions.persistedQuery.sha256Hash must be 64 hexadecimal characters.")
    digest = digest.lower()
    if query is None:
        text = persisted.lookup(digest)
        if text is None:
            error = GraphQLError(NOT_FOUND, extensions={"code": NOT_FOUND_CODE})
            return ExecutionResult(data=None, errors=[error])
        return text
    if document_hash(query) != digest:
        raise HTTPException(400, "provided sha does not match query: sha256Hash must be the SHA-256 of the query.")
    persisted.register(digest, query)
    return query
