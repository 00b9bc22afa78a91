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
  valueHistory(timeframe: Y3) { date balance value estimated }
  performance(timeframe: Y3) { timeWeightedReturn moneyWeightedReturn volatility sharpeRatio sortinoRatio
    maxDrawdown { value peakDate troughDate recoveryDate } benchmark { name return } partial estimatedDays }
  costBasis(method: HIFO) { method totalCost unrealizedGain realizedGain holdings
    disposals(first: 3) { totalCount edges { node { date kind amount proceeds cost gain holdingPeriod } } } }
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
    assert perf["timeWeightedReturn"] == pytest.approx(a.performance.time_weighted_return)
    assert perf["moneyWeightedReturn"] == pytest.approx(a.performance.money_weighted_return)
    assert perf["maxDrawdown"]["value"] == pytest.approx(a.performance.max_drawdown.value)
    assert Decimal(data["costBasis"]["totalCost"]) == a.result.cost_basis.total_cost
    assert data["costBasis"]["disposals"]["totalCount"] == len(a.result.cost_basis.disposals) > 0
    assert perf["partial"] and perf["estimatedDays"] > 0  # days after the bundled history ends
    assert [b["name"] for b in perf["benchmark"]] == ["Buy and hold", "DCA every 7 days"]
    assert 0 < data["risk"]["score"] <= 100 and len(data["risk"]["factors"]) == 6
