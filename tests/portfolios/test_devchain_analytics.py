"""Analytics on the dev chain's `small` scenario with the real (bundled) BTC/USD history.

The wallets are imported and synced through the real sync engine (Esplora REST of the dev
chain). The expected figures are computed independently here from the dev chain's own blocks
(not from the synced tables): per-day user balance from outputs paying the scenario wallets'
scripts and inputs spending them, valued at the bundled daily close, and a plain-Python TWR.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.bitcoin.networks import Network
from app.container import Container
from app.dev.devchain.runner import DevChain
from app.prices.bundled import BundledProvider
from app.services.wallets import ImportWalletInput
from tests.conftest import make_settings

pytestmark = pytest.mark.slow


@pytest.fixture
async def synced(tmp_path: Path, database_url: str) -> AsyncIterator[tuple[Container, str, DevChain, dict[str, str]]]:
    async with DevChain.start(scenario="small", seed=1, data_dir=tmp_path / "chain") as chain:
        # offline, and the bundled closes carried past the file's end (2025-09-23) to today: these tests check
        # the arithmetic against an independent calculation over those closes, not the missing-price policy
        # (the default gap of 7 days makes those days missing: tests/portfolios/test_devchain_api.py)
        settings = make_settings(
            tmp_path, database_url, regtest_esplora_url=chain.esplora_url, price_providers=[], sync_interval_s=3600,
            price_max_gap_days=100_000,
        )  # fmt: skip
        c = Container(settings)
        await c.start()
        try:
            user = await c.accounts.create_user("alice@example.com", "correct horse battery staple")
            ids: dict[str, str] = {}
            for w in chain.info["wallets"]:
                view = await c.wallets.import_wallet(
                    user.id, ImportWalletInput(name=w["name"], source=w["descriptor"], network=Network.REGTEST)
                )
                ids[w["name"]] = view.id
            deadline = time.monotonic() + 120
            for wid in ids.values():
                while True:
                    st = await c.sync.state(user.id, wid)
                    if st.status in ("SYNCED", "ERROR") and not c.supervisor.running(f"sync:{wid}"):
                        assert st.status == "SYNCED", st
                        break
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.05)
            yield c, user.id, chain, ids
        finally:
            await c.stop()


def independent_daily_balances(chain: DevChain) -> tuple[dict[date, int], dict[date, int]]:
    """(net balance change per day, external flow per day) of all scenario wallets together."""
    ch = chain.chain
    mine: set[bytes] = set()
    for w in chain.state.wallets:
        mine |= set(w.spks)
    value_of: dict[tuple[str, int], tuple[int, bool]] = {}  # outpoint -> (value, ours)
    net: dict[date, int] = {}
    flow: dict[date, int] = {}
    today = datetime.now(UTC).date()

    def scan(tx: Any, day: date) -> None:
        ins_ours = 0
        ins_total = 0
        for inp in [] if tx.is_coinbase else tx.vin:
            v, ours = value_of.get((inp.txid, inp.vout), (0, False))
            ins_total += v
            if ours:
                ins_ours += v
        outs_ours = 0
        for n, o in enumerate(tx.vout):
            ours = o.spk in mine
            value_of[(tx.txid, n)] = (o.value, ours)
            if ours:
                outs_ours += o.value
        delta = outs_ours - ins_ours
        if delta == 0 and ins_ours == 0:
            return
        fee = (ins_total - sum(o.value for o in tx.vout)) if ins_ours and not tx.is_coinbase else 0
        net[day] = net.get(day, 0) + delta
        flow[day] = flow.get(day, 0) + delta + fee

    for bhash in ch.active[1:]:
        day = datetime.fromtimestamp(ch.blocks[bhash].time, UTC).date()
        for tx in ch.block_txs[bhash]:
            scan(tx, day)
    for tx in ch.topo_mempool():
        scan(tx, today)
    return net, flow


async def test_value_history_and_twr_match_an_independent_calculation(
    any_engine: str,
    synced: tuple[Container, str, DevChain, dict[str, str]],
) -> None:
    c, uid, chain, ids = synced
    p = await c.portfolios.create(uid, "Everything", list(ids.values()))
    points, analysis = await c.portfolios.value_history(uid, p.id, "ALL")
    net, flow = independent_daily_balances(chain)

    # balance at every day's close = cumulative independent net changes
    first = min(net)
    assert points[0].day == first - timedelta(days=1) and points[0].balance == 0
    bundled = BundledProvider()
    running = 0
    values: list[float] = []
    flows: list[float] = []
    for pt in points:
        running += net.get(pt.day, 0)
        assert pt.balance == running, pt.day
        close = bundled.close_on(pt.day) or bundled.closes[-1]  # after the file ends: last close, estimated
        assert pt.estimated == (bundled.close_on(pt.day) is None)
        expected_value = (Decimal(running) * close / Decimal(100_000_000)).quantize(Decimal("0.01"))
        assert pt.value == expected_value, pt.day  # exact Decimal money
        values.append(float(running) / 1e8 * float(close))
        flows.append(float(flow.get(pt.day, 0)) / 1e8 * float(close))

    # final balance = the dev chain's own expected figures
    expected_total = sum(w["expected"]["confirmed"] + w["expected"]["unconfirmed"] for w in chain.info["wallets"])
    assert points[-1].balance == expected_total
    bal = c.portfolios.balance_of(analysis.data)
    assert bal.total == expected_total

    # TWR by a plain loop over the independent series
    growth = 1.0
    for i in range(1, len(values)):
        if values[i - 1] > 0:
            growth *= (values[i] - flows[i]) / values[i - 1]
    assert analysis.performance.time_weighted_return == pytest.approx(growth - 1.0, rel=1e-9)
    assert analysis.performance.partial  # days after 2025-09-23 have no bundled close
    assert analysis.performance.max_drawdown.value < 0


async def test_cost_basis_and_risk_on_the_scenario(synced: tuple[Container, str, DevChain, dict[str, str]]) -> None:
    c, uid, chain, _ids = synced
    results = {}
    for method in ("FIFO", "LIFO", "HIFO", "AVERAGE"):
        results[method] = await c.portfolios.cost_basis(uid, "all", method)
    confirmed = sum(w["expected"]["confirmed"] for w in chain.info["wallets"])
    for method, r in results.items():
        # every method ends holding exactly what the wallets hold confirmed (mempool transactions are
        # pending, not yet acquisitions or disposals); every spend had a known lot
        assert r.holdings_sats == confirmed, method
        assert r.pending and all(p.day == datetime.now(UTC).date() for p in r.pending), method
        assert r.missing_basis_sats == 0, method
        # realized + unrealized is the same for every method: value now + proceeds - all costs
        assert all(d.gain == d.proceeds - d.cost for d in r.disposals)
    # realized + unrealized = value now + proceeds - all costs: the same for every method, up to the
    # per-row rounding to cents (at most 1 cent per row)
    totals = {m: r.realized_gain + r.unrealized_gain for m, r in results.items()}
    rows = max(len(r.disposals) for r in results.values())
    assert max(totals.values()) - min(totals.values()) <= Decimal("0.01") * (rows + 1)
    assert results["FIFO"].disposals, "the scenario pays people: there are disposals"
    # transfers between the user's own wallets are not disposals: every SPEND row is a payment to others
    assert {d.kind for d in results["FIFO"].disposals} <= {"SPEND", "FEE"}
    risk = await c.portfolios.risk(uid, "all", "Y3")
    assert 0 <= risk.score <= 100
    names = {f.name for f in risk.factors}
    assert names == {
        "single_sig_share",
        "concentration",
        "address_reuse",
        "dust_fragmentation",
        "unconfirmed_exposure",
        "market",
    }
    # the scenario reuses addresses: the factor sees it
    assert next(f for f in risk.factors if f.name == "address_reuse").score > 0


async def test_user_set_costs_and_reports_on_the_scenario(
    synced: tuple[Container, str, DevChain, dict[str, str]], tmp_path: Path
) -> None:
    c, uid, _chain, _ids = synced
    a = await c.portfolios.analyse(uid, "all", "ALL", "FIFO")
    acquisitions = [e for e in a.result.ledger if e.kind.value == "ACQUISITION"]
    first, second = acquisitions[0], acquisitions[1]
    base = a.result.cost_basis.acquisitions_cost
    close1, _ = (await c.prices.daily_prices("USD", first.day, first.day)).close_on(first.day)
    close2, _ = (await c.prices.daily_prices("USD", second.day, second.day)).close_on(second.day)
    at_close1 = (close1 * first.sats / Decimal(100_000_000)).quantize(Decimal("0.00000001"))
    at_close2 = (close2 * second.sats / Decimal(100_000_000)).quantize(Decimal("0.00000001"))
    # a cost written in a BIP-329 label of the first acquisition, and one set by the mutation's service
    await c.wallets.set_label(uid, first.wallet_ids[0], first.txid, "Bought OTC, cost: 1,000.50")
    await c.portfolios.set_cost(uid, second.txid, Decimal("2000"), "USD")
    b = await c.portfolios.analyse(uid, "all", "ALL", "FIFO")
    expected = base - at_close1 - at_close2 + Decimal("1000.50") + Decimal("2000")
    assert abs(b.result.cost_basis.acquisitions_cost - expected) <= Decimal("0.01")

    # reports over the scenario: every format finishes and is stored under data_dir/reports/<user>/
    for fmt in ("PDF", "HTML", "CSV", "JSON"):
        r = await c.reports.generate(uid, "all", "ALL", fmt)
        await c.reports.wait(r.id)
        done = await c.reports.get(uid, r.id)
        assert done.status == "SUCCEEDED", done
        path, _media, _name = await c.reports.file(uid, r.id)
        assert path.parent.name == uid and path.stat().st_size > 1000
        keep = Path(os.environ.get("REPORT_SAMPLES_DIR", tmp_path))  # set it to look at the files
        (keep / f"mbf-devchain-report.{path.suffix.lstrip('.')}").write_bytes(path.read_bytes())
    html = (Path(os.environ.get("REPORT_SAMPLES_DIR", tmp_path)) / "mbf-devchain-report.html").read_text()
    assert "Bought OTC, cost: 1,000.50" in html or first.day < b.start
