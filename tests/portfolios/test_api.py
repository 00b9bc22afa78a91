"""Portfolios, prices and reports over real HTTP (uvicorn on an ephemeral port)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.support.server import GraphQLClient, LiveServer, error_codes
from tests.wallets.helpers import import_wallet

ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
XPUB = "xpub6BosfCnifzxcFwrSzQiqu2DBVTshkCXacvNsWGYJVVhhawA7d4R5WSWGFNbi8Aw6ZRc1brxMyWMzG3DSSSSoekkudhUd9yLb6qx39T9nMdj"

PORTFOLIO_FIELDS = """id name baseCurrency implicit wallets { id name } balance { confirmed unconfirmed total }"""
CREATE = f"mutation($i: CreatePortfolioInput!) {{ createPortfolio(input: $i) {{ {PORTFOLIO_FIELDS} }} }}"
UPDATE = f"mutation($i: UpdatePortfolioInput!) {{ updatePortfolio(input: $i) {{ {PORTFOLIO_FIELDS} }} }}"
LIST = f"{{ portfolios {{ {PORTFOLIO_FIELDS} }} }}"
GET = f"query($id: ID!) {{ portfolio(id: $id) {{ {PORTFOLIO_FIELDS} }} }}"
ANALYTICS = """query($id: ID!, $tf: Timeframe!) { portfolio(id: $id) {
  value(currency: "USD") price { currency value at source }
  valueHistory(timeframe: $tf) { date value balance estimated }
  performance(timeframe: $tf) { timeWeightedReturn moneyWeightedReturn volatility sharpeRatio sortinoRatio
    maxDrawdown { value peakDate troughDate recoveryDate } benchmark { name return } partial notes start end }
  costBasis(method: HIFO) { method totalCost unrealizedGain realizedGain disposals(first: 5) { totalCount } }
  risk { score factors { name score weight detail recommendation } recommendations } } }"""


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # offline: the bundled price history only; chain sync pointed at a closed local port
    return {"price_providers": [], "mainnet_esplora_url": "http://127.0.0.1:9", "chain_retries": 0}


def codes(body: dict[str, Any]) -> list[str]:
    return error_codes(body)


def fields(body: dict[str, Any]) -> list[str | None]:
    return [e.get("extensions", {}).get("field") for e in body.get("errors") or []]


async def create(gql: GraphQLClient, name: str, wallet_ids: list[str], currency: str = "USD") -> dict[str, Any]:
    body = await gql(CREATE, {"i": {"name": name, "walletIds": wallet_ids, "baseCurrency": currency}})
    out: dict[str, Any] = body["data"]["createPortfolio"]
    return out


async def test_portfolio_crud_and_the_all_wallets_view(any_engine: str, gql: GraphQLClient, user_token: str) -> None:
    w1 = await import_wallet(gql, name="Hot", source=ZPUB)
    w2 = await import_wallet(gql, name="Legacy", source=XPUB, scriptType="P2PKH")
    p = await create(gql, "Savings", [w1["id"], w2["id"]], "usd")
    assert (p["name"], p["baseCurrency"], p["implicit"]) == ("Savings", "USD", False)
    assert {w["name"] for w in p["wallets"]} == {"Hot", "Legacy"}
    assert p["balance"] == {"confirmed": 0, "unconfirmed": 0, "total": 0}

    listed = (await gql(LIST))["data"]["portfolios"]
    assert [x["id"] for x in listed] == ["all", p["id"]]
    assert listed[0]["implicit"] and {w["name"] for w in listed[0]["wallets"]} == {"Hot", "Legacy"}

    # a wallet may be in several portfolios
    p2 = await create(gql, "Only hot", [w1["id"]])
    assert [w["name"] for w in p2["wallets"]] == ["Hot"]

    upd = (await gql(UPDATE, {"i": {"id": p["id"], "name": "Family", "walletIds": [w2["id"]]}}))["data"][
        "updatePortfolio"
    ]
    assert (upd["name"], [w["name"] for w in upd["wallets"]], upd["baseCurrency"]) == ("Family", ["Legacy"], "USD")

    assert (await gql("mutation($id: ID!) { deletePortfolio(id: $id) }", {"id": p["id"]}))["data"]["deletePortfolio"]
    body = await gql(GET, {"id": p["id"]}, expect_errors=True)
    assert codes(body) == ["NOT_FOUND"]
    # deleting a wallet drops it from portfolios
    await gql("mutation($id: ID!) { deleteWallet(id: $id) }", {"id": w1["id"]})
    assert (await gql(GET, {"id": p2["id"]}))["data"]["portfolio"]["wallets"] == []


async def test_bad_input(gql: GraphQLClient, user_token: str) -> None:
    mine = await import_wallet(gql, name="Mine", source=ZPUB)
    # unknown wallet id
    body = await gql(CREATE, {"i": {"name": "X", "walletIds": ["01NOSUCHWALLET000000000000"]}}, expect_errors=True)
    assert codes(body) == ["NOT_FOUND"] and fields(body) == ["walletIds"]
    # another user's wallet and portfolio answer NOT_FOUND, never FORBIDDEN
    alice_portfolio = await create(gql, "Alice", [mine["id"]])
    bob = await gql.register("bob@example.com")
    body = await gql(CREATE, {"i": {"name": "Steal", "walletIds": [mine["id"]]}}, token=bob, expect_errors=True)
    assert codes(body) == ["NOT_FOUND"]
    for query, variables in [
        (GET, {"id": alice_portfolio["id"]}),
        (UPDATE, {"i": {"id": alice_portfolio["id"], "name": "mine now"}}),
        ("mutation($id: ID!) { deletePortfolio(id: $id) }", {"id": alice_portfolio["id"]}),
        ("mutation($i: GenerateReportInput!) { generateReport(input: $i) { id } }",
         {"i": {"portfolioId": alice_portfolio["id"], "timeframe": "Y1", "format": "PDF"}}),
    ]:  # fmt: skip
        assert codes(await gql(query, variables, token=bob, expect_errors=True)) == ["NOT_FOUND"]
    # bob's implicit view does not contain alice's wallet
    assert (await gql(LIST, token=bob))["data"]["portfolios"][0]["wallets"] == []
    # a currency no provider has
    body = await gql(CREATE, {"i": {"name": "X", "walletIds": [], "baseCurrency": "XYZ"}}, expect_errors=True)
    assert codes(body) == ["BAD_USER_INPUT"] and fields(body) == ["currency"]
    body = await gql('{ price(currency: "XYZ") { value } }', expect_errors=True)
    assert codes(body) == ["BAD_USER_INPUT"] and fields(body) == ["currency"]
    # the offline set-up has only USD: EUR is quoted by no configured provider
    body = await gql('{ price(currency: "EUR") { value } }', expect_errors=True)
    assert codes(body) == ["BAD_USER_INPUT"]
    # empty name, the implicit view cannot be deleted, unauthenticated
    body = await gql(CREATE, {"i": {"name": "  ", "walletIds": []}}, expect_errors=True)
    assert codes(body) == ["BAD_USER_INPUT"] and fields(body) == ["name"]
    body = await gql('mutation { deletePortfolio(id: "all") }', expect_errors=True)
    assert codes(body) == ["BAD_USER_INPUT"]
    assert codes(await gql(LIST, token="", expect_errors=True)) == ["UNAUTHENTICATED"]
    # dates before bitcoin had a price
    body = await gql('{ price(currency: "USD", at: "2009-01-03T18:15:05Z") { value } }', expect_errors=True)
    assert codes(body) == ["BAD_USER_INPUT"] and fields(body) == ["at"]


async def test_prices_from_the_bundled_history(any_engine: str, gql: GraphQLClient, user_token: str) -> None:
    body = await gql('{ price(currency: "usd", at: "2017-12-17T15:00:00Z") { currency value at source } }')
    assert body["data"]["price"] == {
        "currency": "USD",
        "value": "19378.99",
        "at": "2017-12-18T00:00:00+00:00",  # the end of the UTC day the close belongs to
        "source": "bundled",
    }
    hist = (await gql('{ priceHistory(currency: "USD", from: "2017-04-14", to: "2017-04-16") { value at } }'))["data"]
    # 2017-04-15 is the day with the bad `low` print: the close is normal
    assert [Decimal(p["value"]) for p in hist["priceHistory"]] == [
        Decimal("1173.74"),
        Decimal("1178.85"),
        Decimal("1177.99"),
    ]
    # the spot price, with every provider offline, is the last bundled close, visibly stale
    spot = (await gql('{ price(currency: "USD") { value at source } }'))["data"]["price"]
    assert spot["source"] == "bundled" and spot["at"].startswith("2025-09-24")
    body = await gql(
        '{ priceHistory(currency: "USD", from: "2020-01-02", to: "2020-01-01") { value } }', expect_errors=True
    )
    assert codes(body) == ["BAD_USER_INPUT"]


async def test_empty_portfolio_analytics_are_zero_and_say_so(
    any_engine: str, gql: GraphQLClient, user_token: str
) -> None:
    p = await create(gql, "Nothing yet", [])
    for tf in ("D1", "YTD", "ALL"):
        data = (await gql(ANALYTICS, {"id": p["id"], "tf": tf}))["data"]["portfolio"]
        assert data["value"] == "0.00"
        perf = data["performance"]
        assert perf["timeWeightedReturn"] == 0 and perf["moneyWeightedReturn"] is None
        assert perf["sharpeRatio"] is None and perf["maxDrawdown"]["value"] == 0
        assert any("no wallets" in n for n in perf["notes"])
        assert all(v["value"] == "0.0" or Decimal(v["value"]) == 0 for v in data["valueHistory"])
        assert data["costBasis"]["totalCost"] == "0.00" and data["costBasis"]["disposals"]["totalCount"] == 0
        assert data["risk"]["score"] == 0
    # the implicit view of a user without wallets works too
    data = (await gql(ANALYTICS, {"id": "all", "tf": "Y1"}))["data"]["portfolio"]
    assert data["value"] == "0.00" and len(data["valueHistory"]) == 366


async def download(server: LiveServer, url: str, token: str | None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=server.url) as c:
        return await c.get(url, headers=headers)


REPORT = "query($id: ID!) { report(id: $id) { id status progress error downloadUrl format timeframe } }"


async def wait_report(gql: GraphQLClient, rid: str) -> dict[str, Any]:
    for _ in range(300):
        r: dict[str, Any] = (await gql(REPORT, {"id": rid}))["data"]["report"]
        if r["status"] in ("SUCCEEDED", "FAILED"):
            return r
        await asyncio.sleep(0.05)
    raise AssertionError("report did not finish")


@pytest.mark.parametrize(("fmt", "magic", "media"), [
    ("PDF", b"%PDF", "application/pdf"),
    ("HTML", b"<!DOCTYPE html>", "text/html; charset=utf-8"),
    ("JSON", b"{", "application/json"),
    ("CSV", b"PK", "application/zip"),
])  # fmt: skip
async def test_generate_and_download_reports(
    server: LiveServer, gql: GraphQLClient, user_token: str, fmt: str, magic: bytes, media: str
) -> None:
    w = await import_wallet(gql, name="Hot", source=ZPUB)
    p = await create(gql, "Accounts", [w["id"]])
    body = await gql(
        "mutation($i: GenerateReportInput!) { generateReport(input: $i) { id status format createdAt downloadUrl } }",
        {"i": {"portfolioId": p["id"], "timeframe": "Y1", "format": fmt}},
    )
    started = body["data"]["generateReport"]
    assert started["status"] in ("QUEUED", "RUNNING") and started["downloadUrl"] is None
    done = await wait_report(gql, started["id"])
    assert done["status"] == "SUCCEEDED", done
    assert done["downloadUrl"] == f"/reports/{started['id']}/download" and done["progress"] == 1.0
    listed = (await gql("{ reports(first: 10) { totalCount edges { node { id status } } } }"))["data"]["reports"]
    assert listed["totalCount"] == 1 and [e["node"]["id"] for e in listed["edges"]] == [started["id"]]

    resp = await download(server, done["downloadUrl"], user_token)
    assert resp.status_code == 200 and resp.headers["content-type"] == media
    assert resp.content.startswith(magic)
    assert "attachment" in resp.headers["content-disposition"]
    # the file lives under data_dir/reports/<user>/
    files = list((server.settings.data_dir / "reports").rglob(f"{started['id']}.*"))
    assert len(files) == 1

    # no token: 401; another user's token: 404 (never a file)
    anon = await download(server, done["downloadUrl"], None)
    assert anon.status_code == 401 and codes(anon.json()) == ["UNAUTHENTICATED"]
    bob = await gql.register("bob@example.com")
    other = await download(server, done["downloadUrl"], bob)
    assert other.status_code == 404 and codes(other.json()) == ["NOT_FOUND"]
    assert codes(await gql(REPORT, {"id": started["id"]}, token=bob, expect_errors=True)) == ["NOT_FOUND"]
    assert (await gql("{ reports { totalCount } }", token=bob))["data"]["reports"]["totalCount"] == 0


async def test_set_transaction_cost_validates(gql: GraphQLClient, user_token: str) -> None:
    m = "mutation($i: SetTransactionCostInput!) { setTransactionCost(input: $i) }"
    # Only transactions of the user's own wallets (issue #10): a txid in none of them is NOT_FOUND.
    body = await gql(m, {"i": {"txid": "ab" * 32, "cost": "1234.56", "currency": "usd"}}, expect_errors=True)
    assert codes(body) == ["NOT_FOUND"] and fields(body) == ["txid"]
    for bad in ("1e999999", "0.001", "1000000000001"):  # bounded: finite, <= 2 decimals, a sane range
        body = await gql(m, {"i": {"txid": "ab" * 32, "cost": bad}}, expect_errors=True)
        assert codes(body) == ["BAD_USER_INPUT"] and fields(body) == ["cost"], bad
    body = await gql(m, {"i": {"txid": "ab" * 32, "cost": "-1"}}, expect_errors=True)
    assert codes(body) == ["BAD_USER_INPUT"] and fields(body) == ["cost"]
    body = await gql(m, {"i": {"txid": "ab" * 32, "cost": "1", "currency": "XYZ"}}, expect_errors=True)
    assert codes(body) == ["BAD_USER_INPUT"] and fields(body) == ["currency"]
    body = await gql(m, {"i": {"txid": "not-a-txid", "cost": "1"}}, expect_errors=True)
    assert codes(body) == ["BAD_USER_INPUT"] and fields(body) == ["txid"]
