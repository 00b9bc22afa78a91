"""The document cache holds a document's validation outcome; what depends on the request still runs
on every request (schema/documents.py).

One document of three operations is sent again and again with a different ``operationName``: each
request gets its own operation's outcome (the query answers, the subscription is pointed at the
WebSocket, the mutation is refused over GET, an unknown or missing name is refused) although the
document was parsed and validated once. A document with a validation error is refused every time,
however often it is sent, and is never remembered as valid.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import strawberry.schema.schema as strawberry_schema

from tests.support.server import LiveServer

SUBSCRIPTION = 'subscription S { priceUpdated(currency: "USD") { currency value } }'
DOC = f"query Q {{ __typename }} {SUBSCRIPTION} mutation M {{ logout }}"
INVALID = f"query Q {{ __typename viewer {{ xyzzy }} }} {SUBSCRIPTION}"
OVER_WS = "subscriptions run over WebSocket: graphql-transport-ws at /graphql"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"price_providers": []}


@pytest.fixture
def validated(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How often graphql-core validates a document (the server runs in this process)."""
    calls = [0]
    real = strawberry_schema.validate

    def validate(*args: Any, **kw: Any) -> Any:
        calls[0] += 1
        return real(*args, **kw)

    monkeypatch.setattr(strawberry_schema, "validate", validate)
    return calls


def refused(r: httpx.Response, message: str) -> bool:
    errors = r.json()["errors"]
    return (
        r.status_code == 400
        and r.json().get("data") is None
        and errors[0]["message"] == message
        and errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    )


async def test_one_cached_document_answers_each_operation_on_its_own(server: LiveServer, validated: list[int]) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:

        async def post(op: str | None) -> httpx.Response:
            return await http.post("/graphql", json={"query": DOC, "operationName": op})

        for _ in range(2):  # the second round runs from the cache
            q = await post("Q")
            assert q.status_code == 200 and q.json()["data"] == {"__typename": "Query"} and "errors" not in q.json()
            assert refused(await post("S"), OVER_WS)
            assert (await post("Q")).json()["data"] == {"__typename": "Query"}
            assert refused(await post("Nope"), 'Unknown operation named "Nope".')
            assert refused(
                await post(None), "This document holds several operations: send operationName to say which one to run."
            )
            get = await http.get("/graphql", params={"query": DOC, "operationName": "M"})
            assert refused(get, "mutations are not allowed when using GET")
            get = await http.get("/graphql", params={"query": DOC, "operationName": "Q"})
            assert get.status_code == 200 and get.json()["data"] == {"__typename": "Query"}
        # One document, validated once: the outcomes above are per request, not from the cache.
        assert validated[0] == 1


async def test_a_document_with_validation_errors_stays_refused(server: LiveServer, validated: list[int]) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        for round_ in range(1, 4):
            r = await http.post("/graphql", json={"query": INVALID, "operationName": "Q"})
            body = r.json()
            assert body["data"] is None
            assert body["errors"][0]["message"] == "Cannot query field 'xyzzy' on type 'User'."
            assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
            assert validated[0] == round_  # validated again each time: a refusal is never cached as valid
            # The other operation of the document is refused too (over HTTP, for its own reason).
            assert refused(await http.post("/graphql", json={"query": INVALID, "operationName": "S"}), OVER_WS)
