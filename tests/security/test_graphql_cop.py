"""graphql-cop's checks (dolevf/graphql-cop), each as the request it sends and the answer that passes.

Alias overloading, field duplication, directive overloading, circular fragments, circular
introspection, GET/URL-encoded CSRF, batching, tracing, stack traces, field suggestions and
introspection/GraphiQL in production.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.server import GraphQLClient, LiveServer, error_codes


async def _post(gql: GraphQLClient, query: str) -> dict[str, Any]:
    resp = await gql.http.post("/graphql", json={"query": query})
    assert resp.status_code < 500
    body: dict[str, Any] = resp.json()
    return body


async def test_alias_overloading_is_refused(gql: GraphQLClient) -> None:
    aliases = " ".join(f"alias{i}:__typename" for i in range(101))
    body = await _post(gql, f"query cop {{ {aliases} }}")
    assert error_codes(body) == ["BAD_USER_INPUT"] and "aliases" in body["errors"][0]["message"]


async def test_field_duplication_is_refused(gql: GraphQLClient) -> None:
    body = await _post(gql, "query cop { " + "__typename \n" * 500 + "}")
    assert error_codes(body) == ["BAD_USER_INPUT"] and not body.get("data")


async def test_directive_overloading_gets_one_refusal(gql: GraphQLClient) -> None:
    body = await _post(gql, "query cop { __typename " + "@aa" * 10 + " }")
    assert error_codes(body) == ["BAD_USER_INPUT"]  # one error, not one per directive


async def test_circular_fragments_are_refused(gql: GraphQLClient) -> None:
    body = await _post(gql, "query cop { ...A } fragment A on Query { ...B } fragment B on Query { ...A }")
    assert body.get("data") is None and set(error_codes(body)) == {"BAD_USER_INPUT"}


async def test_circular_introspection_is_refused(gql: GraphQLClient) -> None:
    q = "query cop { __schema { types { fields { type { fields { type { fields { type { name } } } } } } } } }"
    body = await _post(gql, q)
    assert error_codes(body) == ["BAD_USER_INPUT"] and body.get("data") is None


async def test_get_mutation_is_refused(gql: GraphQLClient) -> None:
    resp = await gql.http.get("/graphql", params={"query": "mutation cop { logout }"})
    assert 400 <= resp.status_code < 500 and error_codes(resp.json()) == ["BAD_USER_INPUT"]


async def test_url_encoded_post_is_refused(gql: GraphQLClient) -> None:
    resp = await gql.http.post("/graphql", data={"query": "mutation cop { logout }"})
    assert resp.status_code == 415 and error_codes(resp.json()) == ["BAD_USER_INPUT"]


async def test_get_queries_carry_no_ambient_credentials(gql: GraphQLClient, user_token: str) -> None:
    """GET queries are allowed (cacheable reads) but cannot be forged cross-site: credentials are only
    a bearer header, never a cookie, and a token in the URL is ignored."""
    resp = await gql.http.get("/graphql", params={"query": "{ viewer { email } }", "token": user_token})
    assert resp.status_code == 200 and resp.json()["data"]["viewer"] is None
    assert "set-cookie" not in resp.headers


async def test_array_batching_is_refused(gql: GraphQLClient) -> None:
    resp = await gql.http.post("/graphql", json=[{"query": "query cop { __typename }"}] * 10)
    assert resp.status_code == 400 and error_codes(resp.json()) == ["BAD_USER_INPUT"]


async def test_no_tracing_and_no_stack_traces(gql: GraphQLClient) -> None:
    ok = await _post(gql, "query cop { __typename }")
    assert set(ok.get("extensions", {})) <= {"cost"}  # no apollo tracing or debug data
    bad = await _post(gql, "query cop { __typename @include(if: 1) }")
    for error in bad["errors"]:
        assert set(error.get("extensions", {})) <= {"code", "errorId", "field", "hint"}


class TestProduction:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"env": "production"}

    async def test_introspection_is_off(self, gql: GraphQLClient) -> None:
        body = await _post(gql, "query cop { __schema { types { name } } }")
        assert set(error_codes(body)) == {"BAD_USER_INPUT"} and body.get("data") is None
        body = await _post(gql, 'query cop { __type(name: "Query") { name } }')
        assert set(error_codes(body)) == {"BAD_USER_INPUT"} and body.get("data") is None

    async def test_field_suggestions_are_off(self, gql: GraphQLClient) -> None:
        body = await _post(gql, "query cop { __schema { directive } }")
        body2 = await _post(gql, "query cop { walle { id } }")
        for b in (body, body2):
            assert "Did you mean" not in str(b)

    async def test_graphiql_is_off(self, gql: GraphQLClient, server: LiveServer) -> None:
        resp = await gql.http.get("/graphql", headers={"accept": "text/html"})
        assert "graphiql" not in resp.text.lower()
        assert (await gql.http.get("/static/graphiql/index.html")).status_code == 404
