"""The devchain `small` scenario through the whole stack: wallets imported and synced over GraphQL,
then the portfolio analytics asked over real HTTP and compared with an independent figure (the dev
chain's own expected balances) and with the service's own analysis.

The comparison with the service is a *serialisation* test: it checks that the API carries the
service's figures unchanged (names, units, rounding), not that the figures are right. Their
correctness is checked against independent implementations in tests/portfolios/test_two_users.py
(TWR, MWR, volatility, Sharpe, Sortino, drawdown, realised gain on the same scenario) and
tests/portfolios/test_devchain_analytics.py (value history, TWR)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.dev.devchain.runner import DevChain
from tests.support.server import GraphQLClient, LiveServer

pytestmark = pytest.mark.slow


@pytest.fixture
async def chain(tmp_path: Path) -> AsyncIterator[DevChain]:
    async with DevChain.start(scenario="small", seed=1, data_dir=tmp_path / "chain") as c:
        yield c


@pytest.fixture
def settings_overrides(chain: DevChain) -> dict[str, Any]:
    return {"regtest_esplora_url": chain.esplora_url, "price_providers": [], "sync_interval_s": 3600}


QUERY = """query($id: ID!) { portfolio(id: $id) {
  balance { confirmed unconfirmed total } value
  valueHistory(timeframe: Y3) { date balance value estimated missing }
  performance(timeframe: Y3) { timeWeightedReturn moneyWeightedReturn volatility sharpeRatio sortinoRatio
    maxDrawdown { value peakDate troughDate recoveryDate } benchmark { name return } partial estimatedDays
    missing missingDays notes startValue endValue }
  taxYear: performance(period: {taxYear: 2024}) { period start end timeWeightedReturn volatility missing
    startValue endValue }
  costBasis(method: HIFO) { method totalCost unrealizedGain realizedGain holdings
    disposals(first: 3) { totalCount edges { node { date kind amount proceeds cost gain holdingPeriod } } } }
  gains2024: costBasis(method: FIFO, period: {taxYear: 2024}) { period realizedGain
    summary { taxYear holdingPeriod disposals gain feeDisposals }
    disposals(first: 500) { totalCount edges { node { date kind gain holdingPeriod acquiredDates holdingDays } } } }
  risk { score factors { name score weight detail } recommendations } } }"""


async def test_scenario_analytics_over_http(
    server: LiveServer, gql: GraphQLClient, user_token: str, chain: DevChain
) -> None:
    ids = []
    for w in chain.info["wallets"]:
        body = await gql(
            "mutation($i: ImportWalletInput!) { importWallet(input: $i) { id } }",
            {"i": {"name": w["name"], "source": w["descriptor"], "network": "REGTEST"}},
        )
        ids.append(body["data"]["importWallet"]["id"])
    deadline = time.monotonic() + 120
    while True:
        body = await gql("{ wallets(first: 50) { edges { node { id syncStatus } } } }")
        states = {e["node"]["syncStatus"] for e in body["data"]["wallets"]["edges"]}
        if states == {"SYNCED"}:
            break
        assert "ERROR" not in states and time.monotonic() < deadline, states
        await asyncio.sleep(0.1)

    body = await gql(
        "mutation($i: CreatePortfolioInput!) { createPortfolio(input: $i) { id } }",
        {"i": {"name": "Scenario", "walletIds": ids}},
    )
    pid = body["data"]["createPortfolio"]["id"]
    data = (await gql(QUERY, {"id": pid}))["data"]["portfolio"]
    everything = (await gql(QUERY, {"id": "all"}))["data"]["portfolio"]
    assert data == everything  # the portfolio holds every wallet: same figures as the implicit view

    expected = sum(w["expected"]["confirmed"] + w["expected"]["unconfirmed"] for w in chain.info["wallets"])
    assert data["balance"]["total"] == expected
    # the cost basis holds what is confirmed; mempool transactions are pending
    assert data["costBasis"]["holdings"] == sum(w["expected"]["confirmed"] for w in chain.info["wallets"])
    assert data["valueHistory"][-1]["balance"] == expected
    assert len(data["valueHistory"]) == 3 * 365 + 1

    # serialisation: the HTTP figures are the service's figures, carried unchanged
    uid = (await gql("{ viewer { id } }"))["data"]["viewer"]["id"]
    a = await server.container.portfolios.analyse(uid, pid, "Y3", "HIFO")
    perf = data["performance"]
    # the bundled history ends on 2025-09-23 and no provider is configured: the Y3 timeframe has days
    # without any close, so every figure that needs them is null and named, never computed on invented prices
    assert perf["missingDays"] > 300 and a.performance.missing_days == perf["missingDays"]
    for name in ("timeWeightedReturn", "moneyWeightedReturn", "volatility", "sharpeRatio", "sortinoRatio"):
        assert perf[name] is None and name in perf["missing"]
    assert perf["maxDrawdown"]["value"] is None and perf["benchmark"] == []
    assert perf["startValue"] is not None and perf["endValue"] is None  # today has no price either
    assert any("cannot be computed" in n for n in perf["notes"])
    history = data["valueHistory"]
    assert history[0]["value"] is not None and history[-1]["value"] is None and history[-1]["missing"]
    last_close = max(h["date"] for h in history if not h["missing"] and not h["estimated"])
    assert last_close == "2025-09-23"
    # gaps under 7 days after the last close are estimated and flagged; from the 7th day on they are missing
    assert [h["date"] for h in history if h["estimated"] and not h["missing"]] == [
        f"2025-09-{d}" for d in range(24, 30)
    ]
    market = next(f for f in data["risk"]["factors"] if f["name"] == "market")
    assert market["score"] is None and "Not scored" in market["detail"]
    assert Decimal(data["costBasis"]["totalCost"]) == a.result.cost_basis.total_cost
    assert data["costBasis"]["disposals"]["totalCount"] == len(a.result.cost_basis.disposals) > 0
    assert 0 < data["risk"]["score"] <= 100 and len(data["risk"]["factors"]) == 6

    # tax year 2024 (calendar year by default) lies inside the bundled history: every figure is there
    ty = data["taxYear"]
    assert (ty["period"], ty["start"], ty["end"]) == ("tax year 2024", "2023-12-31", "2024-12-31")
    assert ty["missing"] == [] and ty["timeWeightedReturn"] is not None and ty["volatility"] is not None
    gains = data["gains2024"]
    rows = [e["node"] for e in gains["disposals"]["edges"]]
    assert gains["period"] == "tax year 2024" and all(r["date"].startswith("2024-") for r in rows)
    for s in gains["summary"]:
        mine = [r for r in rows if r["holdingPeriod"] == s["holdingPeriod"]]
        assert Decimal(s["gain"]) == sum(Decimal(r["gain"]) for r in mine)
        assert s["disposals"] + s["feeDisposals"] == len(mine)
    assert Decimal(gains["realizedGain"]) == sum(Decimal(s["gain"]) for s in gains["summary"])
    for r in rows:  # holding days count from the earliest acquisition used
        first = min(date.fromisoformat(d) for d in r["acquiredDates"])
        assert r["holdingDays"] == (date.fromisoformat(r["date"]) - first).days
