"""Clean refusals at the HTTP/GraphQL edge (issue #10 item 7 and the Low findings): 400/404 in the
contract's shape instead of 500, BAD_USER_INPUT with the field instead of INTERNAL, no suggestions in
production, no echo of whole inputs, security headers on every response."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.http import graphiql
from tests.support.server import GraphQLClient, error_codes

ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"


def _field(body: dict[str, Any]) -> str | None:
    return (body.get("errors") or [{}])[0].get("extensions", {}).get("field")


@pytest.mark.parametrize("content", [b'"a string"', b"1", b"null", b"true"])
async def test_json_body_that_is_not_an_object_is_a_400(gql: GraphQLClient, content: bytes) -> None:
    resp = await gql.http.post("/graphql", content=content, headers={"content-type": "application/json"})
    assert resp.status_code == 400
    body = resp.json()
    assert error_codes(body) == ["BAD_USER_INPUT"] and "JSON object" in body["errors"][0]["message"]
    assert body["errors"][0]["extensions"]["errorId"]


class TestProductionSuggestsNothing:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"env": "production"}

    @pytest.mark.parametrize(
        "query",
        [
            "{ walets { totalCount } }",  # field
            '{ wallet(idd: "x") { id } }',  # argument
            "query { viewer { ... on Walet { id } } }",  # type
            "query($n: Netwrk) { viewer { id } }",  # type of a variable
            'mutation { importWallet(input: {name: "a", source: "b", network: MAINET}) { id } }',  # enum value
            'mutation { importWallet(input: {name: "a", sorce: "b"}) { id } }',  # input field
        ],
        ids=["field", "argument", "type", "variable-type", "enum", "input-field"],
    )
    async def test_no_did_you_mean(self, gql: GraphQLClient, query: str) -> None:
        body = (await gql.http.post("/graphql", json={"query": query})).json()
        assert error_codes(body) and set(error_codes(body)) == {"BAD_USER_INPUT"}
        text = " ".join(e["message"] for e in body["errors"])
        assert "Did you mean" not in text and "Wallet'" not in text and "MAINNET" not in text, text

    async def test_enum_value_in_variables_is_not_suggested_either(self, gql: GraphQLClient) -> None:
        token = await gql.register("prod@example.com")
        body = await gql(
            "mutation($i: ImportWalletInput!) { importWallet(input: $i) { id } }",
            {"i": {"name": "a", "source": ZPUB, "network": "MAINET"}},
            token=token,
            expect_errors=True,
        )
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert "Did you mean" not in body["errors"][0]["message"]


async def test_development_still_suggests(gql: GraphQLClient) -> None:
    body = (await gql.http.post("/graphql", json={"query": '{ wallet(idd: "x") { id } }'})).json()
    assert "Did you mean 'id'?" in body["errors"][0]["message"]


async def test_errors_do_not_echo_whole_inputs(gql: GraphQLClient) -> None:
    password = "my very secret passphrase 42"
    body = await gql(
        "mutation($i: RegisterInput!) { register(input: $i) { token } }",
        {"i": {"email": "echo@example.com", "password": password, "extra": "x" * 500_000}},
        token="",
        expect_errors=True,
    )
    assert error_codes(body) and set(error_codes(body)) == {"BAD_USER_INPUT"}
    assert password not in str(body) and "x" * 100 not in str(body)
    assert all(len(e["message"]) <= 300 for e in body["errors"])
    literal = "y" * 900
    body = await gql(f'{{ price(currency: "USD", at: "{literal}") {{ value }} }}', expect_errors=True)
    assert error_codes(body) and "y" * 40 not in str(body)


async def test_huge_amount_msat_is_a_bad_input(gql: GraphQLClient, user_token: str) -> None:
    body = await gql(
        "mutation($i: CreateInvoiceInput!) { createInvoice(input: $i) { paymentRequest } }",
        {"i": {"nodeId": "n", "amountMsat": "9" * 30}},
        expect_errors=True,
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    body = await gql(
        "mutation($i: CreateInvoiceInput!) { createInvoice(input: $i) { paymentRequest } }",
        {"i": {"nodeId": "n", "amountMsat": str(21_000_000 * 10**11 + 1)}},
        expect_errors=True,
    )
    assert error_codes(body) == ["BAD_USER_INPUT"] and "21 million" in body["errors"][0]["message"]


async def test_deeply_nested_label_json_is_a_bad_input(gql: GraphQLClient, user_token: str) -> None:
    wallet = (
        await gql(
            "mutation($i: ImportWalletInput!) { importWallet(input: $i) { id } }",
            {"i": {"name": "w", "source": ZPUB, "network": "MAINNET"}},
        )
    )["data"]["importWallet"]
    nested = "[" * 100_000 + "]" * 100_000
    body = await gql(
        "mutation($w: ID!, $j: String!) { importLabels(walletId: $w, jsonl: $j) }",
        {"w": wallet["id"], "j": nested},
        expect_errors=True,
    )
    assert error_codes(body) == ["BAD_USER_INPUT"] and _field(body) == "jsonl"


@pytest.mark.parametrize(
    ("query", "variables", "field"),
    [
        (
            "mutation($i: RegisterInput!) { register(input: $i) { token } }",
            {"i": {"email": "nul\u0000@example.com", "password": "a long enough password"}},
            "email",
        ),
        (
            "mutation($i: ImportWalletInput!) { importWallet(input: $i) { id } }",
            {"i": {"name": "bad\u0000name", "source": ZPUB}},
            "name",
        ),
        (
            "mutation($i: CreatePortfolioInput!) { createPortfolio(input: $i) { id } }",
            {"i": {"name": "p\u0000", "walletIds": []}},
            "name",
        ),
    ],
    ids=["email", "wallet-name", "portfolio-name"],
)
async def test_nul_characters_are_bad_input_on_every_engine(
    any_engine: str, gql: GraphQLClient, user_token: str, query: str, variables: dict[str, Any], field: str
) -> None:
    body = await gql(query, variables, expect_errors=True)
    assert error_codes(body) == ["BAD_USER_INPUT"] and _field(body) == field


async def test_graphiql_assets_404_when_absent(
    gql: GraphQLClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(graphiql, "GRAPHIQL_DIR", tmp_path / "absent")
    resp = await gql.http.get("/static/graphiql/graphiql.min.js")
    assert resp.status_code == 404 and error_codes(resp.json()) == ["NOT_FOUND"]


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/healthz", {}),
        ("GET", "/graphql", {"params": {"query": "{ viewer { id } }"}}),
        ("POST", "/graphql", {"json": {"query": "{ viewer { id } }"}}),
        ("POST", "/graphql", {"content": b"1", "headers": {"content-type": "application/json"}}),
        ("POST", "/graphql", {"json": {"query": "{ viewer { id } }"}, "headers": {"authorization": "Bearer nope"}}),
        ("GET", "/graphql", {"headers": {"accept": "text/html"}}),
        ("GET", "/reports/x/download", {}),
        ("GET", "/nowhere", {}),
    ],
    ids=["healthz", "get", "post", "400", "401", "graphiql", "report-401", "404"],
)
async def test_security_headers_on_every_response(
    gql: GraphQLClient, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    resp = await gql.http.request(method, path, **kwargs)
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]
    assert resp.headers["referrer-policy"] == "no-referrer"
    assert resp.headers["cache-control"] == "no-store"


async def test_authenticated_json_is_not_cached(gql: GraphQLClient, user_token: str) -> None:
    resp = await gql.http.post(
        "/graphql", json={"query": "{ viewer { email } }"}, headers={"authorization": f"Bearer {user_token}"}
    )
    assert resp.json()["data"]["viewer"]["email"] == "alice@example.com"
    assert resp.headers["cache-control"] == "no-store"
