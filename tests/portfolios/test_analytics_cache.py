"""Cached portfolio analytics (lots, daily series, results) equal a from-scratch computation,
Decimal for Decimal, after payments, an RBF replacement, a reorg and price ticks, for two users;
and they are caught up per transaction, not rebuilt: a repeated read is answered from the result
cache, a price tick or a payment of today re-values from the kept lot checkpoint."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.analytics.periods import PeriodInput
from app.bitcoin.networks import Network
from app.container import Container
from app.dev.devchain.runner import DevChain
from app.errors import NotFound
from app.prices.bundled import BundledProvider
from app.prices.chain import PriceChain
from app.prices.provider import DailyClose, Price, ProviderError
from app.services.portfolios import Analysis
from app.services.versioned_memo import VersionedMemo
from app.services.wallets import ImportWalletInput
from tests.conftest import make_settings
from tests.performance.test_session_cache import statements
from tests.portfolios.test_ledger_cache import full_read
from tests.sync.test_sync import wait_synced

pytestmark = pytest.mark.slow

METHODS = ("FIFO", "LIFO", "HIFO", "AVERAGE")


class TickingProvider:
    """A live provider whose spot price the test moves; it has every close up to yesterday."""

    name = "ticking"

    def __init__(self) -> None:
        self.price = Decimal("61234.56")

    def supports(self, currency: str) -> bool:
        return currency == "USD"

    async def spot(self, currency: str) -> Price:
        return Price(currency, self.price, datetime.now(UTC), self.name)

    async def history(self, currency: str, start: date, end: date) -> list[DailyClose]:
        if start > end:
            raise ProviderError("empty range")
        days = (end - start).days + 1
        return [
            DailyClose(currency, d, Decimal(40_000 + d.toordinal() % 997 * 37) + Decimal("0.25"), self.name)
            for d in (start + timedelta(days=i) for i in range(days))
        ]


async def from_scratch(c: Container, user_id: str, portfolio_id: str, **kw: Any) -> Analysis:
    """Every row and every price read again, nothing kept."""
    kept = c.portfolios.memo
    c.portfolios.memo = VersionedMemo(kept.versions, kept.linked, c.store, ttl_s=0)  # the view read again too
    try:
        data = await c.portfolios.load(user_id, portfolio_id)
    finally:
        c.portfolios.memo = kept
    data.history = None
    data.txs = await full_read(c, user_id)
    data.balances = await c.sync.balances(user_id)
    data.utxos = await c.sync.unspent_values(user_id)
    return await c.portfolios.analyse(user_id, portfolio_id, data=data, cached=False, **kw)


def assert_same(cached: Analysis, fresh: Analysis) -> None:
    a, b = cached.result, fresh.result
    assert a.cost_basis == b.cost_basis  # every row, lot, pending entry and total, exact Decimals
    # The period's sums (a resumed checkpoint's rows are summed once and only the later rows per read).
    first, last = cached.period.first, cached.period.end
    for span in ((None, None), (first, last), (date(2024, 4, 6), None)):
        assert a.cost_basis.realized_in(*span) == b.cost_basis.realized_in(*span)
        for fy in ((1, 1), (4, 6)):
            assert a.cost_basis.summary_in(*span, fy) == b.cost_basis.summary_in(*span, fy)
    assert a.ledger == b.ledger
    assert a.risk == b.risk
    assert (a.wallet_balances, a.wallet_unconfirmed) == (b.wallet_balances, b.wallet_unconfirmed)
    assert cached.value_points() == fresh.value_points()
    assert cached.notes == fresh.notes and cached.end_price == fresh.end_price
    pa, pb = a.performance, b.performance
    for f in dataclasses.fields(pa):
        x, y = getattr(pa, f.name), getattr(pb, f.name)
        if f.name == "series":
            for g in dataclasses.fields(x):
                assert np.array_equal(getattr(x, g.name), getattr(y, g.name), equal_nan=g.name != "days"), g.name
        elif f.name == "drawdowns":
            assert (x is None and y is None) or np.array_equal(x, y, equal_nan=True)
        else:
            assert x == y, f.name


async def check_all(c: Container, user_id: str, portfolio_id: str) -> None:
    """Every method over the whole history; a timeframe and a tax year with one of them."""
    year = datetime.now(UTC).year
    cases: list[tuple[str, dict[str, Any]]] = [(m, {"timeframe": "ALL"}) for m in METHODS]
    cases += [("HIFO", {"timeframe": "M1"}), ("FIFO", {"period": PeriodInput(tax_year=year)})]
    for method, kw in cases:
        cached = await c.portfolios.analyse(user_id, portfolio_id, method=method, **kw)
        fresh = await from_scratch(c, user_id, portfolio_id, method=method, **kw)
        assert_same(cached, fresh)
        # The API's path (whole answers kept under the user's data version) agrees too, and
        # answers a repeated read without a single SQL statement.
        for _ in range(5):  # a background task (a re-valuation after a sync) may move the version meanwhile
            version = c.portfolios.versions.of(user_id)
            answered = await c.portfolios.analysis(user_id, portfolio_id, method=method, **kw)
            assert_same(answered, fresh)
            with statements(c) as seen:
                again = await c.portfolios.analysis(user_id, portfolio_id, method=method, **kw)
            if c.portfolios.versions.of(user_id) == version:
                break
        assert again is answered and seen == [], (version, c.portfolios.versions.of(user_id), seen)


async def settle(c: Container, wallets: list[tuple[str, str]]) -> None:
    """Every wallet synced with the chain as it is now, and no sync left running (a background
    sync writing between a cached read and the fresh one would compare two states)."""
    for user_id, wallet_id in wallets:
        await wait_synced(c, user_id, wallet_id)
        assert (await c.sync.sync_now(user_id, wallet_id)).status == "SUCCEEDED"
    for user_id, wallet_id in wallets:
        await wait_synced(c, user_id, wallet_id)


@pytest.mark.timeout(600)  # a dev chain, three wallets and ~80 analyses: a loaded CI machine takes minutes
async def test_cached_analytics_equal_fresh_through_payments_rbf_reorg_and_ticks(
    tmp_path: Path, database_url: str
) -> None:
    async with DevChain.start(scenario="small", seed=1, data_dir=tmp_path / "chain") as chain:
        settings = make_settings(
            tmp_path, database_url, regtest_esplora_url=chain.esplora_url, price_providers=[], sync_interval_s=3600
        )
        c = Container(settings)
        ticker = TickingProvider()
        c.prices._chain = PriceChain([ticker, BundledProvider()], 5.0)
        await c.start()
        try:
            alice = await c.accounts.create_user("alice@example.com", "correct horse battery staple")
            bob = await c.accounts.create_user("bob@example.com", "correct horse battery staple")
            ids = []
            for user, w in (
                (alice, chain.info["wallets"][0]),
                (alice, chain.info["wallets"][1]),
                (bob, chain.info["wallets"][2]),
            ):
                view = await c.wallets.import_wallet(
                    user.id, ImportWalletInput(name=w["name"], source=w["descriptor"], network=Network.REGTEST)
                )
                await wait_synced(c, user.id, view.id)
                ids.append(view.id)
            wallets = [(alice.id, ids[0]), (alice.id, ids[1]), (bob.id, ids[2])]
            savings = await c.portfolios.create(alice.id, "Savings", [ids[0]], "USD")
            analytics = c.portfolios.analytics

            for pid in ("all", savings.id):
                await check_all(c, alice.id, pid)
            await check_all(c, bob.id, "all")
            with pytest.raises(NotFound):  # owner scoping stays
                await c.portfolios.analyse(bob.id, savings.id)

            # A repeated read is answered from the result cache, with the same figures.
            first = await c.portfolios.analyse(alice.id, "all", "ALL", "HIFO")
            hits = analytics.hits
            again = await c.portfolios.analyse(alice.id, "all", "ALL", "HIFO")
            assert analytics.hits == hits + 1 and again.result is first.result
            assert first.result.cost_basis._prefix is not None  # resumed from a checkpoint: its sums kept
            history = analytics.held(alice.id)
            assert history is not None
            built = history.checkpoints_built

            # A price tick re-values from the kept lots: no checkpoint is rebuilt.
            ticker.price = Decimal("65432.10")
            await c.prices.spot("USD", fresh=True)
            ticked = await c.portfolios.analyse(alice.id, "all", "ALL", "HIFO")
            assert ticked.result.cost_basis.current_value != first.result.cost_basis.current_value
            assert_same(ticked, await from_scratch(c, alice.id, "all", timeframe="ALL", method="HIFO"))
            assert history.checkpoints_built == built

            # A payment mined today: applied per transaction to the kept history and lots.
            address = (await c.wallets.next_receive_address(alice.id, ids[0])).address
            paid = await chain.send(address, 250_000)
            await chain.mine()
            await settle(c, wallets)
            patched = history.patched
            after_pay = await c.portfolios.analyse(alice.id, "all", "ALL", "HIFO")
            assert analytics.held(alice.id) is history and history.patched > patched
            # the dev chain's blocks carry its own clock: a block time up to yesterday (every close
            # stored) is inside the checkpoint, which is then rebuilt once; a later one is not
            paid_day = next(e.day for e in after_pay.result.ledger if e.txid == paid)
            settled = datetime.now(UTC).date() - timedelta(days=1)
            built += paid_day <= settled
            assert history.checkpoints_built == built
            await check_all(c, alice.id, "all")
            await check_all(c, alice.id, savings.id)

            # An unconfirmed payment replaced (RBF): the replaced one leaves, its replacement enters.
            await c.portfolios.analyse(alice.id, "all", "ALL", "HIFO")
            built = history.checkpoints_built
            pending = await chain.send(address, 120_000)
            await settle(c, wallets)
            seen = await c.portfolios.analyse(alice.id, "all", "ALL", "HIFO")
            assert pending in {p.txid for p in seen.result.cost_basis.pending}
            assert_same(seen, await from_scratch(c, alice.id, "all", timeframe="ALL", method="HIFO"))
            bumped = await chain.replace(pending)
            await settle(c, wallets)
            after_bump = await c.portfolios.analyse(alice.id, "all", "ALL", "HIFO")
            txids = {e.txid for e in after_bump.result.ledger}
            assert bumped in txids and pending not in txids
            assert history.checkpoints_built == built  # first seen today: after every settled day
            await check_all(c, alice.id, "all")

            # Settings no sync announces: a cost set by the user, the tax settings (each publishes
            # dataChanged after its commit, so the answers kept for the user go).
            await c.portfolios.set_cost(alice.id, bumped, Decimal("4321.09"), "USD")
            await check_all(c, alice.id, "all")
            await c.portfolios.update_tax_settings(alice.id, long_term_months=6, fee_treatment="ADD_TO_COST")
            await check_all(c, alice.id, savings.id)
            await c.portfolios.update(alice.id, savings.id, wallet_ids=[ids[0], ids[1]])
            await check_all(c, alice.id, savings.id)

            # A reorg re-mines the last blocks (and drops a payment).
            await chain.reorg(depth=3, drop=True)
            await settle(c, wallets)
            await check_all(c, alice.id, "all")
            await check_all(c, alice.id, savings.id)

            # Bob's figures never moved with Alice's payments, and equal his own from scratch.
            await check_all(c, bob.id, "all")
            theirs = analytics.held(bob.id)
            assert theirs is not None and not ({t.wallet_id for t in theirs.txs} & set(ids[:2]))
        finally:
            await c.stop()
