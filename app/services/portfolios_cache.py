"""Per-process caches of portfolio analytics, each keyed by exactly what it was computed from.

Three layers, all per user (another user's data is never in a key of yours: isolation is by
construction, and every entry is reached through the owner-scoped reads of ``PortfolioService``):

* :class:`UserHistory`: the user's per-wallet transaction rows, sorted, and per portfolio scope the
  ledger and its daily balance changes (:class:`~app.analytics.incremental.ScopedLedger`), plus
  cost-basis lot checkpoints. It stands for one generation of the :class:`LedgerCache`; a sync that
  moves the generation is applied per changed txid (the ledger cache's journal says which),
  never by re-reading or re-deriving the history. A checkpoint survives a change that only touches
  days after it (new payments, today's RBF replacement); a change at or before its day (a reorg of an
  older block, a transaction found late) drops it and the next read rebuilds it from the ledger.
* Price series: the stored closes of a range, kept while the stored history of that range is
  unchanged (its row count and last day, one small query); the spot price is added per read as
  ``PriceService.daily_prices`` does, so a price tick re-values without reading the history.
* Results: the figures of one (portfolio, method, period, currency) under a key of every input:
  the ledger generation, the sync stamps (balances, UTXOs, address use), the costs set by the
  user, the tax settings, the price series version with the spot price, the fee rate and the day.
  A repeated read with nothing changed answers from here.

A reader whose snapshot is behind the cache (``LedgerSnapshot.generation`` None) gets a history
built from what it read, used for that read only.
"""

from __future__ import annotations

import bisect
import contextlib
import time
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import sqlalchemy as sa

from app.analytics.costbasis import CostBasisResult, FeeTreatment, Method, WalletMove
from app.analytics.incremental import LotCheckpoint, ScopedLedger
from app.analytics.pricing import DailyPrices
from app.errors import UpstreamUnavailable
from app.services.ledger_cache import LedgerCache, LedgerSnapshot
from app.services.prices import PRICES, RETRY_MISSING_S, PriceService
from app.sync.model import AddressUse, Balance
from app.sync.queries import SyncQueries

RESULTS_PER_USER = 64
CHECKPOINTS_PER_USER = 16
PRICE_SERIES = 64
USERS = 256  # users whose history is kept (least recently read first out)
REBUILD_SHARE = 8  # more changed txids than 1/8 of the history (a rescan): rebuilt, not patched


def _key(t: WalletMove) -> tuple[date, str]:
    return (t.day, t.txid)


class UserHistory:
    """One user's transaction rows and what is derived from them, patched per changed txid."""

    def __init__(self, rows: list[WalletMove], generation: int | None) -> None:
        self.generation = generation
        self.txs = sorted(rows, key=_key)  # every row of every wallet of the user, by (day, txid)
        self.rows: dict[str, list[WalletMove]] = {}
        for r in self.txs:
            self.rows.setdefault(r.txid, []).append(r)
        self.scoped: dict[frozenset[str], ScopedLedger] = {}
        self.checkpoints: OrderedDict[tuple[Any, ...], LotCheckpoint] = OrderedDict()
        self._memo: dict[Hashable, Any] = {}  # figures of this generation (first days, holdings)
        self.patched = 0  # txids applied since built (tests, bench)
        self.checkpoints_built = 0  # lot checkpoints built from the whole ledger (tests, bench)

    def apply(self, changed: Mapping[str, list[WalletMove]], generation: int) -> None:
        """Replace the rows of these txids (an empty list: the transaction left every wallet)."""
        for txid, rows in changed.items():
            for old in self.rows.pop(txid, []):
                i = bisect.bisect_left(self.txs, _key(old), key=_key)
                while self.txs[i] is not old:
                    i += 1
                del self.txs[i]
            if rows:
                self.rows[txid] = rows
                for r in rows:
                    bisect.insort_right(self.txs, r, key=_key)
        for scope, ledger in self.scoped.items():
            lowest = ledger.patch(changed)
            for k in [k for k, cp in self.checkpoints.items() if k[0] == scope and not cp.holds(lowest)]:
                del self.checkpoints[k]
        self._memo.clear()
        self.patched += len(changed)
        self.generation = generation

    def ledger(self, scope: frozenset[str]) -> ScopedLedger:
        got = self.scoped.get(scope)
        if got is None:
            got = self.scoped[scope] = ScopedLedger(self.txs, scope)
        return got

    def first_day(self, scope: frozenset[str] | None) -> date | None:
        """The first day of a row in ``scope`` (None: of any row)."""
        key = ("first", scope)
        if key not in self._memo:
            days = [t.day for t in self.txs if scope is None or t.wallet_id in scope]
            self._memo[key] = min(days) if days else None
        result: date | None = self._memo[key]
        return result

    def holdings(self, scope: frozenset[str], end: date) -> tuple[dict[str, int], dict[str, int]]:
        """(balance, unconfirmed part) per wallet of ``scope`` at the end of ``end`` (as
        ``holdings_at``); fresh dicts, the memo is not handed out."""
        from app.analytics.portfolio import holdings_at

        key = ("holdings", scope, end)
        if key not in self._memo:
            self._memo[key] = holdings_at(self.txs, end, set(scope))
        balances, unconfirmed = self._memo[key]
        return dict(balances), dict(unconfirmed)

    def cost_basis(
        self,
        scope: frozenset[str],
        method: Method,
        costs: Mapping[str, Decimal],
        long_term_months: int,
        fee_treatment: FeeTreatment,
        series: PriceSeries,
        end: date,
        current_price: Decimal,
    ) -> CostBasisResult:
        """The cost basis of the scope's ledger up to ``end``: the lots up to the last settled
        price day come from a checkpoint (built once), only the entries after it are fed."""
        prices, prices_version = series.prices, series.version
        through = None if series.settled is None or prices_version is None else min(series.settled, end)
        ledger = self.ledger(scope)
        key = (
            scope, method, tuple(sorted(costs.items())), long_term_months, fee_treatment, prices_version, through
        )  # fmt: skip
        cp = self.checkpoints.get(key) if prices_version is not None else None
        if cp is None:
            cp = LotCheckpoint.build(
                ledger.entries, prices, through, method, costs,
                long_term_months=long_term_months, fee_treatment=fee_treatment,
            )  # fmt: skip
            self.checkpoints_built += 1
            if prices_version is not None:
                self.checkpoints[key] = cp
                while len(self.checkpoints) > CHECKPOINTS_PER_USER:
                    self.checkpoints.popitem(last=False)
        else:
            self.checkpoints.move_to_end(key)
        return cp.result(ledger.entries, prices, end, current_price)


@dataclass
class ChainData:
    stamps: tuple[tuple[str, datetime], ...]
    balances: dict[str, Balance]
    utxos: dict[str, list[int]]
    use: dict[str, AddressUse]


@dataclass(frozen=True)
class PriceSeries:
    prices: DailyPrices
    version: Hashable  # of the stored closes (None: not from a kept series, nothing may be reused)
    spot: Decimal | None  # today's close added from the spot price
    settled: date | None  # the last stored close's day: no later price changes a close up to it

    @property
    def key(self) -> Hashable:
        return None if self.version is None else (self.version, self.spot)


@dataclass
class _Series:
    version: tuple[Any, ...]
    base: DailyPrices | None  # the stored closes (None: none stored in the range)
    complete: bool
    asked: float  # monotonic time the stored history was last asked for (it backfills)
    with_spot: dict[tuple[Decimal, date], DailyPrices] = field(default_factory=dict)


@dataclass
class _User:
    history: UserHistory | None = None
    chain: ChainData | None = None
    results: OrderedDict[Hashable, Any] = field(default_factory=OrderedDict)


class AnalyticsCache:
    def __init__(self, ledgers: LedgerCache, sync: SyncQueries, prices: PriceService) -> None:
        self.ledgers = ledgers
        self.sync = sync
        self.prices = prices
        self._users: OrderedDict[str, _User] = OrderedDict()
        self._series: OrderedDict[tuple[str, date, date], _Series] = OrderedDict()
        self.hits = 0  # result cache (tests, bench)
        self.misses = 0

    def _user(self, user_id: str) -> _User:
        u = self._users.get(user_id)
        if u is None:
            u = self._users[user_id] = _User()
            while len(self._users) > USERS:
                self._users.popitem(last=False)
        else:
            self._users.move_to_end(user_id)
        return u

    # -- history ------------------------------------------------------------------------------------

    async def history(self, user_id: str, wallet_ids: Sequence[str]) -> tuple[UserHistory, LedgerSnapshot]:
        snap = await self.ledgers.snapshot(user_id, wallet_ids)
        u = self._user(user_id)
        h = u.history
        gen = snap.generation
        if gen is None or (h is not None and h.generation is not None and gen < h.generation):
            return UserHistory(snap.moves, None), snap  # this read only
        if h is not None and h.generation == gen:
            return h, snap
        changed = (
            self.ledgers.changed_since(user_id, h.generation) if h is not None and h.generation is not None else None
        )
        if h is None or changed is None or len(changed) > max(64, len(h.rows) // REBUILD_SHARE):
            h = u.history = UserHistory(snap.moves, gen)
            u.results.clear()
            return h, snap
        rows: dict[str, list[WalletMove]] = {txid: [] for txid in changed}
        for m in snap.moves:
            if m.txid in rows:
                rows[m.txid].append(m)
        h.apply(rows, gen)
        return h, snap

    async def chain_data(self, user_id: str, stamps: Mapping[str, datetime]) -> ChainData:
        """Balances, unspent values and address use, read again only when a sync wrote."""
        key = tuple(sorted(stamps.items()))
        u = self._user(user_id)
        if u.chain is not None and u.chain.stamps == key:
            return u.chain
        data = ChainData(
            key,
            await self.sync.balances(user_id),
            await self.sync.unspent_values(user_id),
            await self.sync.address_use(user_id),
        )
        u.chain = data
        return data

    # -- prices -----------------------------------------------------------------------------------

    async def _stored_version(self, cur: str, start: date, end: date) -> tuple[int, date | None]:
        q = sa.select(sa.func.count(), sa.func.max(PRICES.c.day)).where(
            PRICES.c.currency == cur, PRICES.c.day >= start, PRICES.c.day <= end
        )
        async with self.prices.store.read(live=True) as s:  # closes are filled in during requests
            count, last = (await (await s.connection()).execute(q)).one()
        return int(count or 0), last

    async def daily_prices(self, currency: str, start: date, end: date) -> PriceSeries:
        """``PriceService.daily_prices`` from a kept series of the stored closes."""
        cur = self.prices.normalise(currency)
        today = datetime.now(UTC).date()
        hi = min(end, today - timedelta(days=1))
        if hi < start:
            return PriceSeries(await self.prices.daily_prices(cur, start, end), None, None, None)
        key = (cur, start, end)
        version = (await self._stored_version(cur, start, hi), today)
        series = self._series.get(key)
        expected = (hi - start).days + 1
        if (
            series is None
            or series.version != version
            or (not series.complete and time.monotonic() - series.asked > RETRY_MISSING_S)
        ):
            asked = time.monotonic()
            rows = await self.prices.history(cur, start, end)  # backfills what is missing
            version = (await self._stored_version(cur, start, hi), today)
            base = (
                DailyPrices.from_pairs(
                    [(r.day, r.close) for r in rows], max_gap_days=self.prices.settings.price_max_gap_days
                )
                if rows
                else None
            )
            series = self._series[key] = _Series(version, base, len(rows) >= expected, asked)
            while len(self._series) > PRICE_SERIES:
                self._series.popitem(last=False)
        self._series.move_to_end(key)
        if series.base is None:
            return PriceSeries(await self.prices.daily_prices(cur, start, end), None, None, None)
        spot_value: Decimal | None = None
        if end >= today:
            with contextlib.suppress(UpstreamUnavailable):
                spot = await self.prices.spot(cur)
                if spot.age_seconds() < 2 * 86400:  # a stale fallback is not today's price
                    spot_value = spot.value
        base = series.base
        settled = base.last_day
        if spot_value is None:
            return PriceSeries(base, (key, series.version), None, settled)
        made = series.with_spot.get((spot_value, today))
        if made is None:
            series.with_spot.clear()  # one tick at a time
            made = series.with_spot[(spot_value, today)] = DailyPrices(
                np.append(base.days, np.datetime64(today.isoformat(), "D")),
                np.append(base.closes, float(spot_value)),
                {**base.exact, today: spot_value},
                base.max_gap_days,
            )
        return PriceSeries(made, (key, series.version), spot_value, settled)

    # -- results ----------------------------------------------------------------------------------

    def result(self, user_id: str, key: Hashable) -> Any | None:
        u = self._user(user_id)
        hit = u.results.get(key)
        if hit is None:
            self.misses += 1
            return None
        u.results.move_to_end(key)
        self.hits += 1
        return hit

    def keep(self, user_id: str, key: Hashable, value: Any) -> None:
        u = self._user(user_id)
        u.results[key] = value
        while len(u.results) > RESULTS_PER_USER:
            u.results.popitem(last=False)

    def held(self, user_id: str) -> UserHistory | None:
        """The history kept for the user (tests, bench)."""
        u = self._users.get(user_id)
        return None if u is None else u.history

    def forget(self, user_id: str) -> None:
        self._users.pop(user_id, None)
