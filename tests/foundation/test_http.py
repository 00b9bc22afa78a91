"""The HTTP surface: bad requests get clear 4xx/GraphQL errors, never a 500; query safety limits."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.server import GraphQLClient, LiveServer, error_codes


async def test_get_query_and_request_id(gql: GraphQLClient) -> None:
    resp = await gql.http.get("/graphql", params={"query": "{ viewer { id } }"}, headers={"x-request-id": "abc-123"})
    assert resp.status_code == 200 and resp.json()["data"] == {"viewer": None}
    assert resp.headers["x-request-id"] == "abc-123"
    generated = await gql.http.get("/healthz", headers={"x-request-id": "bad id with spaces"})
    assert generated.headers["x-request-id"] != "bad id with spaces" and len(generated.headers["x-request-id"]) == 32


async def test_get_refuses_mutations(gql: GraphQLClient) -> None:
    resp = await gql.http.get("/graphql", params={"query": "mutation { logout }"})
    assert 400 <= resp.status_code < 500 and error_codes(resp.json()) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"query { viewer { id } }", "text/plain", 415),
        (b'{"variables": {}}', "application/json", 400),
        (b'[{"query": "{ viewer { id } }"}, {"query": "{ viewer { id } }"}]', "application/json", 400),
    ],
    ids=["malformed-json", "wrong-content-type", "no-query", "batching-off"],
)
async def test_bad_requests(gql: GraphQLClient, content: bytes, content_type: str, status: int) -> None:
    resp = await gql.http.post("/graphql", content=content, headers={"content-type": content_type})
    assert resp.status_code == status
    body = resp.json()
    assert error_codes(body) == ["BAD_USER_INPUT"] and body["errors"][0]["message"]


async def test_oversized_body(gql: GraphQLClient, server: LiveServer) -> None:
    big = "{ viewer { id } }" + " " * (server.settings.max_body_bytes + 10)
    resp = await gql.http.post("/graphql", json={"query": big})
    assert resp.status_code == 413 and error_codes(resp.json()) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("{ nope }", "Cannot query field"),
        ("query A { viewer { id } }", None),
        ("{ viewer { id ", "Syntax Error"),
    ],
)
async def test_graphql_errors_have_codes(gql: GraphQLClient, query: str, fragment: str | None) -> None:
    payload: dict[str, Any] = {"query": query}
    if fragment is None:
        payload["operationName"] = "B"  # unknown operation
    resp = await gql.http.post("/graphql", json=payload)
    assert resp.status_code < 500
    body = resp.json()
    assert error_codes(body) == ["BAD_USER_INPUT"]
    if fragment:
        assert fragment in body["errors"][0]["message"]


async def test_alias_limit(gql: GraphQLClient, server: LiveServer) -> None:
    n = server.settings.max_aliases + 1
    query = "{ " + " ".join(f"a{i}: viewer {{ id }}" for i in range(n)) + " }"
    body = (await gql.http.post("/graphql", json={"query": query})).json()
    assert error_codes(body) == ["BAD_USER_INPUT"] and "aliases" in body["errors"][0]["message"]


async def test_token_limit(gql: GraphQLClient, server: LiveServer) -> None:
    query = "{ viewer { " + "id " * server.settings.max_query_tokens + "} }"
    body = (await gql.http.post("/graphql", json={"query": query})).json()
    assert error_codes(body) == ["BAD_USER_INPUT"] and "token" in body["errors"][0]["message"].lower()


async def test_health_endpoints(gql: GraphQLClient) -> None:
    assert (await gql.http.get("/healthz")).json() == {"status": "ok"}
    ready = await gql.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["components"]["database"]["status"] == "ok"


async def test_graphiql_page_is_local(gql: GraphQLClient) -> None:
    resp = await gql.http.get("/graphql", headers={"accept": "text/html"})
    assert resp.status_code == 200 and "text/html" in resp.headers["content-type"]
    for cdn in ("unpkg.com", "jsdelivr", "cdnjs", "esm.sh"):
        assert cdn not in resp.text


class TestProduction:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"env": "production"}

    async def test_introspection_graphiql_and_suggestions_off(self, gql: GraphQLClient) -> None:
        body = (await gql.http.post("/graphql", json={"query": "{ __schema { types { name } } }"})).json()
        assert body.get("data") is None and set(error_codes(body)) == {"BAD_USER_INPUT"}
        page = await gql.http.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code == 404
        typo = (await gql.http.post("/graphql", json={"query": "{ viewr { id } }"})).json()
        assert "Did you mean" not in typo["errors"][0]["message"]


class TestDepthLimit:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"max_query_depth": 1}

    async def test_depth_limit(self, gql: GraphQLClient) -> None:
        q = 'mutation { register(input: {email: "x@example.com", password: "123456789012"}) { user { id } } }'
        body = (await gql.http.post("/graphql", json={"query": q})).json()
        assert error_codes(body) == ["BAD_USER_INPUT"] and "depth" in body["errors"][0]["message"]
