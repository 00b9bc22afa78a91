"""Periods over real HTTP: tax years with the user's fiscal-year start, from/to dates, bad periods
(BAD_USER_INPUT naming the field, nothing written), tax settings, and reports that say their period
in the title and the download's file name (``<portfolio>-<period>.<ext>``)."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.server import GraphQLClient, LiveServer, error_codes
from tests.wallets.helpers import import_wallet

ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
SETTINGS = "{ taxSettings { fiscalYearStart longTermMonths feeTreatment } }"
UPDATE = """mutation($i: UpdateTaxSettingsInput!) { updateTaxSettings(input: $i) {
  fiscalYearStart longTermMonths feeTreatment } }"""
PERIOD = """query($id: ID!, $p: Period) { portfolio(id: $id) {
  performance(period: $p) { timeframe period start end }
  costBasis(period: $p) { period longTermMonths feeTreatment summary { taxYear } }
  valueHistory(period: $p) { date } } }"""
GENERATE = """mutation($i: GenerateReportInput!) { generateReport(input: $i) { id period timeframe status } }"""
REPORT = "query($id: ID!) { report(id: $id) { status error downloadUrl period timeframe } }"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"price_providers": [], "mainnet_esplora_url": "http://127.0.0.1:9", "chain_retries": 0}


def errors(body: dict[str, Any]) -> list[tuple[str | None, str | None]]:
    return [(e["extensions"].get("code"), e["extensions"].get("field")) for e in body.get("errors") or []]


async def test_tax_settings_default_update_and_refuse_bad_values(gql: GraphQLClient, user_token: str) -> None:
    default = {"fiscalYearStart": "01-01", "longTermMonths": 12, "feeTreatment": "DISPOSE"}
    assert (await gql(SETTINGS))["data"]["taxSettings"] == default
    uk = (await gql(UPDATE, {"i": {"fiscalYearStart": "04-06"}}))["data"]["updateTaxSettings"]
    assert uk == {**default, "fiscalYearStart": "04-06"}
    for bad, field in (
        ({"fiscalYearStart": "13-01"}, "fiscalYearStart"),
        ({"fiscalYearStart": "02-29"}, "fiscalYearStart"),
        ({"fiscalYearStart": "April"}, "fiscalYearStart"),
        ({"longTermMonths": -1}, "longTermMonths"),
        ({"longTermMonths": 5000}, "longTermMonths"),
    ):
        body = await gql(UPDATE, {"i": {**bad, "feeTreatment": "ADD_TO_COST"}}, expect_errors=True)
        assert errors(body) == [("BAD_USER_INPUT", field)], bad
    assert (await gql(SETTINGS))["data"]["taxSettings"] == uk  # nothing written by the refused updates
    bob = await gql.register("bob@example.com")
    assert (await gql(SETTINGS, token=bob))["data"]["taxSettings"] == default  # per user


async def test_tax_year_and_dates_resolve_with_the_fiscal_year_start(gql: GraphQLClient, user_token: str) -> None:
    w = await import_wallet(gql, name="Hot", source=ZPUB)
    pid = (await gql("mutation($i: CreatePortfolioInput!) { createPortfolio(input: $i) { id } }",
                     {"i": {"name": "Savings", "walletIds": [w["id"]]}}))["data"]["createPortfolio"]["id"]  # fmt: skip
    data = (await gql(PERIOD, {"id": pid, "p": {"taxYear": 2024}}))["data"]["portfolio"]
    perf = data["performance"]
    # calendar year by default; the valuation starts at the close of the day before
    assert (perf["timeframe"], perf["period"], perf["start"], perf["end"]) == (
        None, "tax year 2024", "2023-12-31", "2024-12-31",
    )  # fmt: skip
    assert data["valueHistory"][0]["date"] == "2023-12-31" and len(data["valueHistory"]) == 367
    assert data["costBasis"]["period"] == "tax year 2024" and data["costBasis"]["longTermMonths"] == 12

    await gql(UPDATE, {"i": {"fiscalYearStart": "04-06", "feeTreatment": "ADD_TO_COST"}})
    data = (await gql(PERIOD, {"id": pid, "p": {"taxYear": 2024}}))["data"]["portfolio"]
    perf = data["performance"]
    assert (perf["period"], perf["start"], perf["end"]) == ("tax year 2024/25", "2024-04-05", "2025-04-05")
    assert data["costBasis"]["feeTreatment"] == "ADD_TO_COST"
    custom = {"from": "2024-02-01", "to": "2024-02-29"}
    perf = (await gql(PERIOD, {"id": pid, "p": custom}))["data"]["portfolio"]["performance"]
    assert (perf["period"], perf["start"], perf["end"]) == ("2024-02-01 to 2024-02-29", "2024-01-31", "2024-02-29")
    # the current tax year runs to today
    this_year = datetime.now(UTC).year
    await gql(UPDATE, {"i": {"fiscalYearStart": "01-01"}})
    perf = (await gql(PERIOD, {"id": pid, "p": {"taxYear": this_year}}))["data"]["portfolio"]["performance"]
    assert perf["end"] == datetime.now(UTC).date().isoformat()


@pytest.mark.parametrize(
    ("period", "field"),
    [
        ({"taxYear": 2024, "from": "2024-01-01"}, "period.taxYear"),  # both forms
        ({"from": "2024-03-01", "to": "2024-02-01"}, "period.to"),  # ends before it starts
        ({"from": (date.today() + timedelta(days=30)).isoformat()}, "period.from"),  # starts in the future
        ({"from": "2024-01-01", "to": "2100-01-01"}, "period.to"),  # far future
        ({"taxYear": 2100}, "period.taxYear"),
        ({"taxYear": 1999}, "period.taxYear"),
        ({}, "period"),
    ],
)
async def test_bad_periods_are_refused_naming_the_field(
    server: LiveServer, gql: GraphQLClient, user_token: str, period: dict[str, Any], field: str
) -> None:
    body = await gql(PERIOD, {"id": "all", "p": period}, expect_errors=True)
    assert set(errors(body)) == {("BAD_USER_INPUT", field)}
    body = await gql(GENERATE, {"i": {"portfolioId": "all", "period": period, "format": "JSON"}}, expect_errors=True)
    assert errors(body) == [("BAD_USER_INPUT", field)]
    assert (await gql("{ reports { totalCount } }"))["data"]["reports"]["totalCount"] == 0  # nothing written


async def wait_report(gql: GraphQLClient, rid: str) -> dict[str, Any]:
    for _ in range(400):
        r: dict[str, Any] = (await gql(REPORT, {"id": rid}))["data"]["report"]
        if r["status"] in ("SUCCEEDED", "FAILED"):
            return r
        await asyncio.sleep(0.05)
    raise AssertionError("report did not finish")


async def fetch(server: LiveServer, url: str, token: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url) as c:
        return await c.get(url, headers={"authorization": f"Bearer {token}"})


async def test_reports_say_their_period_and_portfolio_in_title_and_file_name(
    server: LiveServer, gql: GraphQLClient, user_token: str
) -> None:
    w = await import_wallet(gql, name="Hot", source=ZPUB)
    ids = {}
    for name in ("Family Savings", "Business"):
        body = await gql("mutation($i: CreatePortfolioInput!) { createPortfolio(input: $i) { id } }",
                         {"i": {"name": name, "walletIds": [w["id"]]}})  # fmt: skip
        ids[name] = body["data"]["createPortfolio"]["id"]
    await gql(UPDATE, {"i": {"fiscalYearStart": "04-06"}})
    names = {}
    for name, pid in ids.items():
        for fmt in ("JSON", "CSV"):
            started = await gql(GENERATE, {"i": {"portfolioId": pid, "period": {"taxYear": 2024}, "format": fmt}})
            rep = started["data"]["generateReport"]
            assert (rep["period"], rep["timeframe"]) == ("tax year 2024/25", None)
            done = await wait_report(gql, rep["id"])
            assert done["status"] == "SUCCEEDED", done
            resp = await fetch(server, done["downloadUrl"], user_token)
            assert resp.status_code == 200
            names[(name, fmt)] = resp.headers["content-disposition"]
            if fmt == "JSON":
                doc = json.loads(resp.content)
                assert doc["title"] == "Bitcoin portfolio report, tax year 2024/25"
                assert (doc["period"]["from"], doc["period"]["to"], doc["period"]["taxYear"]) == (
                    "2024-04-06", "2025-04-05", 2024,
                )  # fmt: skip
            else:
                with zipfile.ZipFile(io.BytesIO(resp.content)) as z:
                    assert "form8949.csv" in z.namelist()
    assert 'filename="family-savings-tax-year-2024-25.json"' in names[("Family Savings", "JSON")]
    assert 'filename="family-savings-tax-year-2024-25-csv.zip"' in names[("Family Savings", "CSV")]
    assert 'filename="business-tax-year-2024-25.json"' in names[("Business", "JSON")]
    # a trailing timeframe is named by it
    rep = await gql(GENERATE, {"i": {"portfolioId": ids["Business"], "timeframe": "YTD", "format": "HTML"}})
    done = await wait_report(gql, rep["data"]["generateReport"]["id"])
    assert (done["period"], done["timeframe"]) == ("YTD", "YTD")
    resp = await fetch(server, done["downloadUrl"], user_token)
    assert 'filename="business-ytd.html"' in resp.headers["content-disposition"]
    assert error_codes(await gql(REPORT, {"id": rep["data"]["generateReport"]["id"]}, token=await gql.register(
        "eve@example.com"), expect_errors=True)) == ["NOT_FOUND"]  # fmt: skip


async def test_offline_only_usd_is_valued_and_eur_is_said_to_need_a_provider(
    gql: GraphQLClient, user_token: str
) -> None:
    body = await gql("{ priceCurrencies { code providers offlineHistory note } }")
    assert body["data"]["priceCurrencies"] == [{"code": "USD", "providers": [], "offlineHistory": True, "note": None}]
    body = await gql('{ price(currency: "EUR") { value } }', expect_errors=True)
    assert errors(body) == [("BAD_USER_INPUT", "currency")]
    assert "EUR needs a live price provider" in body["errors"][0]["extensions"]["hint"]
