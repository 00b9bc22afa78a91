"""Validation cost linear in the document, the query cost budget and input size caps (issue #10 High 1-2)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.observability.scrape import scrape, value
from tests.security._attack import fragment_bomb, healthz_during
from tests.support.server import GraphQLClient, LiveServer, error_codes

XPUB = "xpub6CatWdiZiodmUeTDp8LT5or8nmbKNcuyvz7WyksVFkKB4RHwCD3XyuvPEbvqAQY3rAPshWcMLoP2fMFMKHPJ4ZeZXYVUhLv1VMrjPC7PW6V"


async def _post(gql: GraphQLClient, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    resp = await gql.http.post("/graphql", json={"query": query, "variables": variables or {}})
    assert resp.status_code < 500, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def test_fragment_bomb_is_refused_while_healthz_answers(server: LiveServer, gql: GraphQLClient) -> None:
    query = fragment_bomb(22)
    assert len(query) < 1000  # anonymous, under a kilobyte
    healthz, body = await healthz_during(server.url, _post(gql, query))
    assert healthz == 200
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "cost" in body["errors"][0]["message"] and body["errors"][0]["extensions"]["hint"]
    # (that the refusal is linear in the document: test_deeper_fragment_bomb_is_refused_too; how
    # long /healthz takes meanwhile: bench/healthz_under_attack.py)


async def test_deeper_fragment_bomb_is_refused_too(gql: GraphQLClient) -> None:
    body = await _post(gql, fragment_bomb(150))  # 2**150 spreads: only linear work can refuse this
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_circular_fragments_are_refused(gql: GraphQLClient) -> None:
    body = await _post(gql, "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }")
    assert error_codes(body) and set(error_codes(body)) == {"BAD_USER_INPUT"}


async def test_thirty_aliases_of_500_transactions_are_refused(gql: GraphQLClient, user_token: str) -> None:
    fields = " ".join(
        f'a{i}: wallet(id: "w") {{ transactions(first: 500) {{ edges {{ node {{ txid fee blockHeight }} }} }} }}'
        for i in range(30)
    )
    body = await _post(gql, f"{{ {fields} }}")
    assert error_codes(body) == ["BAD_USER_INPUT"]
    message = body["errors"][0]["message"]
    assert "cost" in message and "budget" in message and body.get("data") is None
    assert body["extensions"]["cost"]["requested"] > body["extensions"]["cost"]["budget"]


async def test_cost_is_reported_in_extensions(server: LiveServer, gql: GraphQLClient, user_token: str) -> None:
    body = await gql("{ wallets(first: 10) { totalCount edges { node { id name } } } }")
    cost = body["extensions"]["cost"]
    # wallets 1 + totalCount 1 + edges 1 + 10 x (node 1 + id 1 + name 1) = 33
    assert cost == {"requested": 33, "budget": server.settings.max_query_cost}
    meter = server.server.config.app.state.cost_meter
    assert meter.operations >= 1 and meter.max_cost >= 33


async def test_cost_and_refusals_reach_the_metrics(server: LiveServer, gql: GraphQLClient, user_token: str) -> None:
    url = f"{server.url}/metrics"
    before = await scrape(url)
    await gql("{ wallets(first: 10) { totalCount edges { node { id name } } } }")  # cost 33
    aliases = " ".join(f"a{i}: wallets(first: 500) {{ edges {{ node {{ id }} }} }}" for i in range(30))
    assert error_codes(await _post(gql, "{ " + aliases + " }")) == ["BAD_USER_INPUT"]
    after = await scrape(url)
    grew = {name: value(after, name) - value(before, name) for name in (
        "mbf_graphql_query_cost_count", "mbf_graphql_cost_refusals_total")}
    assert grew == {"mbf_graphql_query_cost_count": 2, "mbf_graphql_cost_refusals_total": 1}
    # The 33 falls in the "up to 100" bucket, the refused one beyond 10,000.
    assert value(after, "mbf_graphql_query_cost_bucket", le="100.0") - value(
        before, "mbf_graphql_query_cost_bucket", le="100.0") == 1


class TestBudgetSetting:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"max_query_cost": 100}

    async def test_budget_follows_the_setting(self, gql: GraphQLClient, user_token: str) -> None:
        ok = await gql("{ wallets(first: 5) { edges { node { id } } } }")
        assert ok["extensions"]["cost"] == {"requested": 12, "budget": 100}
        body = await _post(gql, "{ wallets(first: 50) { edges { node { id } } } }")
        assert error_codes(body) == ["BAD_USER_INPUT"]
        body = await _post(gql, "query($n: Int) { wallets(first: $n) { edges { node { id } } } }", {"n": 50})
        assert error_codes(body) == ["BAD_USER_INPUT"], "a page size in a variable counts too"


async def test_oversized_source_is_refused_before_parsing(
    server: LiveServer, gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    imports: list[object] = []
    real_import = server.container.wallets.import_wallet

    async def counted(*args: Any, **kw: Any) -> Any:
        imports.append(args)
        return await real_import(*args, **kw)

    monkeypatch.setattr(server.container.wallets, "import_wallet", counted)
    token = await gql.register("big@example.com")
    source = XPUB * (900_000 // len(XPUB))  # 900 KB: the 7-minute base58 decode
    query = "mutation($i: ImportWalletInput!) { importWallet(input: $i) { id } }"
    attack = gql.http.post(
        "/graphql",
        json={"query": query, "variables": {"i": {"name": "w", "source": source}}},
        headers={"authorization": f"Bearer {token}"},
    )
    healthz, resp = await healthz_during(server.url, attack)
    assert healthz == 200
    body = resp.json()
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == "source"
    assert len(body["errors"][0]["message"]) < 200 and XPUB not in body["errors"][0]["message"]
    assert imports == []  # refused by the input size cap: the import (and its base58 decode) never ran
    wallets = await gql("{ wallets { totalCount } }", token=token)
    assert wallets["data"]["wallets"]["totalCount"] == 0


@pytest.mark.parametrize(
    ("query", "variables", "field"),
    [
        (
            'mutation { importWallet(input: {name: "%s", source: "xpub"}) { id } }' % ("n" * 101),
            None,
            "name",
        ),
        (
            'mutation($e: String!) { login(input: {email: $e, password: "p"}) { token } }',
            {"e": "a" * 300 + "@example.com"},
            "email",
        ),
        (
            'mutation($w: ID!, $l: String!) { setLabel(walletId: $w, ref: "r", label: $l) { label } }',
            {"w": "x", "l": "l" * 256},
            "label",
        ),
        (
            "mutation($w: ID!, $j: String!) { importLabels(walletId: $w, jsonl: $j) }",
            {"w": "x", "j": "x" * (512 * 1024 + 1)},
            "jsonl",
        ),
        ("query($c: String!) { price(currency: $c) { value } }", {"c": "EURO" * 10}, "currency"),
        ('query { wallet(id: "%s") { id } }' % ("9" * 200), None, "id"),
    ],
    ids=["name-literal", "email-variable", "label", "jsonl", "currency", "id"],
)
async def test_string_caps_by_meaning(
    gql: GraphQLClient, user_token: str, query: str, variables: dict[str, Any] | None, field: str
) -> None:
    body = await _post(gql, query, variables)
    codes = error_codes(body)
    assert codes and set(codes) == {"BAD_USER_INPUT"}, body
    assert body["errors"][0]["extensions"].get("field") == field, body["errors"]


async def test_register_password_cap(gql: GraphQLClient) -> None:
    password = "p" * 5000
    body = await _post(
        gql,
        "mutation($i: RegisterInput!) { register(input: $i) { token } }",
        {"i": {"email": "long@example.com", "password": password}},
    )
    assert error_codes(body) == ["BAD_USER_INPUT"] and body["errors"][0]["extensions"]["field"] == "password"
    assert password not in str(body)
