"""Portfolios: CRUD, the implicit "all wallets" view, valuation, value history, performance,
cost basis and risk — all owner-scoped (another user's ids answer ``NotFound``).

The chain data (transactions, outputs, sync states) belongs to the sync area: it is read through
its typed read API (``app.sync.queries``), and the wallets through the wallets service, always
owner-scoped.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
import structlog

from app.analytics.costbasis import CostBasisResult, FeeTreatment, Method, WalletMove
from app.analytics.performance import Performance
from app.analytics.performance import analyse as analyse_performance
from app.analytics.periods import Period, PeriodInput, resolve_period, timeframe_period
from app.analytics.portfolio import PortfolioAnalytics, analyse_portfolio, assemble
from app.analytics.pricing import DailyPrices
from app.analytics.risk import RiskReport, WalletRisk
from app.analytics.valuation import ValuePoint, value_points
from app.config import Settings
from app.errors import BadInput, NotFound
from app.events.envelope import Event
from app.events.hub import EventHub
from app.events.versions import DATA_CHANGED, DataVersions
from app.ids import new_id
from app.prices.provider import Price
from app.services.ledger_cache import LedgerCache
from app.services.portfolios_cache import AnalyticsCache, PriceSeries, UserHistory
from app.services.prices import PriceService
from app.services.tax_settings import TaxSettings, load_tax_settings, save_tax_settings
from app.services.versioned_memo import VersionedMemo
from app.services.wallets import WalletInfo, WalletService
from app.store.db import Store
from app.store.models.portfolios import CostOverride, Portfolio, PortfolioWallet
from app.sync.model import Balance
from app.sync.queries import SyncQueries
from app.tasks import Supervisor

log = structlog.get_logger(__name__)

ALL_ID = "all"
ALL_NAME = "All wallets"
DEFAULT_FEE_RATE = 10.0  # sat/vB when no chain backend gives an estimate
SATS = Decimal(100_000_000)
MAX_COST = Decimal(1_000_000_000_000)  # setTransactionCost: per transaction, in the fiat currency

PORTFOLIOS: sa.Table = Portfolio.__table__  # type: ignore[attr-defined]
MEMBERS: sa.Table = PortfolioWallet.__table__  # type: ignore[attr-defined]
OVERRIDES: sa.Table = CostOverride.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class PortfolioView:
    id: str
    name: str
    base_currency: str
    wallet_ids: tuple[str, ...]
    implicit: bool
    created_at: datetime | None


@dataclass
class PortfolioData:
    """Everything read from the database for one portfolio (owner-scoped)."""

    view: PortfolioView
    wallets: list[WalletInfo]
    txs: list[WalletMove]  # every row of every wallet of the user (for transfer detection)
    balances: dict[str, Balance]
    utxos: dict[str, list[int]]
    used_addresses: dict[str, int]
    reused_addresses: dict[str, int]
    cost_overrides: dict[str, Decimal] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # txid -> BIP-329 tx label
    cost_currency: dict[str, str] = field(default_factory=dict)  # txid -> currency of a set cost
    history: UserHistory | None = None  # the cached history ``txs`` was copied from
    generation: int | None = None  # the history's generation then
    chain_stamps: tuple[Any, ...] | None = None  # the sync stamps balances, UTXOs and use were read at

    def costs_in(self, currency: str) -> dict[str, Decimal]:
        """User-set costs that apply in ``currency`` (label costs are in any currency analysed)."""
        return {t: c for t, c in self.cost_overrides.items() if self.cost_currency.get(t, currency) == currency}

    @property
    def scope(self) -> set[str]:
        return set(self.view.wallet_ids)

    @property
    def current_history(self) -> UserHistory | None:
        """The cached history when it still stands for ``txs`` (a sync may have moved it since)."""
        h = self.history
        return h if h is not None and h.generation is not None and h.generation == self.generation else None

    @property
    def first_day(self) -> date | None:
        h = self.current_history
        if h is not None:
            return h.first_day(frozenset(self.view.wallet_ids))
        days = [t.day for t in self.txs if t.wallet_id in self.scope]
        return min(days) if days else None

    @property
    def all_first_day(self) -> date | None:
        """The first day of any of the user's transactions."""
        h = self.current_history
        if h is not None:
            return h.first_day(None)
        return min((t.day for t in self.txs), default=None)


@dataclass(frozen=True)
class Analysis:
    data: PortfolioData
    period: Period
    currency: str
    spot: Price
    result: PortfolioAnalytics
    notes: list[str]
    prices: DailyPrices
    tax: TaxSettings = field(default_factory=TaxSettings)
    end_price: Decimal | None = None  # the price everything held at the end is valued at

    @property
    def timeframe(self) -> str | None:
        return self.period.timeframe

    @property
    def start(self) -> date:
        return self.period.start

    @property
    def end(self) -> date:
        return self.period.end

    @property
    def performance(self) -> Performance:
        return self.result.performance

    def value_points(self) -> list[ValuePoint]:
        """The value series with exact Decimal money: balance x the day's close (recorded closes are
        exact; estimated ones are rounded to cents and flagged; missing ones are None)."""
        return value_points(self.performance, self.prices)


def timeframe_range(timeframe: str, today: date, first_day: date | None) -> tuple[date, date]:
    p = timeframe_period(timeframe, today, first_day)
    return p.start, p.end


class PortfolioService:
    def __init__(
        self,
        store: Store,
        hub: EventHub,
        prices: PriceService,
        settings: Settings,
        fee_rate: Callable[[], Awaitable[float | None]] | None = None,
        *,
        supervisor: Supervisor,
        wallets: WalletService,
        sync: SyncQueries,
    ) -> None:
        self.store = store
        self.wallets = wallets  # the wallets area's read API (wallets, labels)
        self.sync = sync  # the sync area's read API (transactions, balances, outputs)
        self.hub = hub
        self.prices = prices
        self.settings = settings
        self.fee_rate = fee_rate
        self.supervisor = supervisor
        self._last_values: dict[str, Decimal] = {}
        self.ledgers = LedgerCache(sync)  # caught up from what syncs wrote, not re-read per request
        self.analytics = AnalyticsCache(self.ledgers, sync, prices)  # lots, series, results (see module)
        # Whole answers (portfolio views, balances, analyses) kept while the user's data version has
        # not moved: a repeated read runs no SQL (see app/services/versioned_memo.py).
        self.versions = DataVersions()
        hub.fanout.watch(self.versions.on_event)
        self.memo = VersionedMemo(self.versions, lambda: hub.fanout.linked(), store)

    # -- CRUD -------------------------------------------------------------------------------------

    async def _changed(self, user_id: str) -> None:
        """After a commit of the user's portfolio settings (no other event announces them): every
        process's answers kept for the user are stale (the GraphQL layer publishes this after
        every mutation too; this covers callers outside it)."""
        await self.hub.publish(Event(type=DATA_CHANGED, user_id=None, subject=user_id, payload={}))

    @staticmethod
    def _check_name(name: str) -> str:
        name = (name or "").strip()
        if not name:
            raise BadInput("A portfolio needs a name.", field="name")
        if len(name) > 100:
            raise BadInput("The name is longer than 100 characters.", field="name")
        return name

    async def _owned_wallets(self, user_id: str, wallet_ids: Sequence[str] | None = None) -> list[WalletInfo]:
        wallets = await self.wallets.wallet_infos(user_id)
        if wallet_ids is None:
            return wallets
        by_id = {w.id: w for w in wallets}
        missing = [w for w in wallet_ids if w not in by_id]
        if missing:
            raise NotFound(
                f"No wallet with id {missing[0]!r}.",
                field="walletIds",
                hint="Use the ids from `wallets`; a portfolio can only hold your own wallets.",
            )
        return [by_id[w] for w in dict.fromkeys(wallet_ids)]

    async def create(
        self, user_id: str, name: str, wallet_ids: Sequence[str], base_currency: str = "USD"
    ) -> PortfolioView:
        name = self._check_name(name)
        cur = self.prices.normalise(base_currency)
        wallets = await self._owned_wallets(user_id, wallet_ids)
        now = datetime.now(UTC)
        pid = new_id()
        async with self.store.write() as s:
            conn = await s.connection()
            await conn.execute(
                sa.insert(PORTFOLIOS).values(
                    id=pid, user_id=user_id, name=name, base_currency=cur, created_at=now, updated_at=now
                )
            )
            if wallets:
                await conn.execute(
                    sa.insert(MEMBERS), [{"portfolio_id": pid, "wallet_id": w.id, "user_id": user_id} for w in wallets]
                )
        await self._changed(user_id)
        return PortfolioView(pid, name, cur, tuple(w.id for w in wallets), False, now)

    async def update(
        self,
        user_id: str,
        portfolio_id: str,
        name: str | None = None,
        wallet_ids: Sequence[str] | None = None,
        base_currency: str | None = None,
    ) -> PortfolioView:
        if portfolio_id == ALL_ID:
            raise BadInput("The implicit 'All wallets' view cannot be changed.", field="id")
        await self.get(user_id, portfolio_id)  # NotFound for unknown or another user's id
        values: dict[str, Any] = {"updated_at": datetime.now(UTC)}
        if name is not None:
            values["name"] = self._check_name(name)
        if base_currency is not None:
            values["base_currency"] = self.prices.normalise(base_currency)
        wallets = await self._owned_wallets(user_id, wallet_ids) if wallet_ids is not None else None
        async with self.store.write() as s:
            conn = await s.connection()
            await conn.execute(
                sa.update(PORTFOLIOS)
                .where(PORTFOLIOS.c.id == portfolio_id, PORTFOLIOS.c.user_id == user_id)
                .values(**values)
            )
            if wallets is not None:
                await conn.execute(
                    sa.delete(MEMBERS).where(MEMBERS.c.portfolio_id == portfolio_id, MEMBERS.c.user_id == user_id)
                )
                if wallets:
                    await conn.execute(
                        sa.insert(MEMBERS),
                        [{"portfolio_id": portfolio_id, "wallet_id": w.id, "user_id": user_id} for w in wallets],
                    )
        await self._changed(user_id)
        return await self.get(user_id, portfolio_id)

    async def delete(self, user_id: str, portfolio_id: str) -> bool:
        if portfolio_id == ALL_ID:
            raise BadInput("The implicit 'All wallets' view cannot be deleted.", field="id")
        async with self.store.write() as s:
            res = await (await s.connection()).execute(
                sa.delete(PORTFOLIOS).where(PORTFOLIOS.c.id == portfolio_id, PORTFOLIOS.c.user_id == user_id)
            )
        if not res.rowcount:
            raise NotFound("No portfolio with this id.", field="id")
        await self._changed(user_id)
        self._last_values.pop(portfolio_id, None)
        return True

    async def list_portfolios(self, user_id: str) -> list[PortfolioView]:
        async with self.store.read() as s:
            conn = await s.connection()
            rows = (
                await conn.execute(
                    sa.select(PORTFOLIOS).where(PORTFOLIOS.c.user_id == user_id).order_by(PORTFOLIOS.c.created_at)
                )
            ).all()
            members = (
                await conn.execute(
                    sa.select(MEMBERS.c.portfolio_id, MEMBERS.c.wallet_id).where(MEMBERS.c.user_id == user_id)
                )
            ).all()
        by_pid: dict[str, list[str]] = {}
        for pid, wid in members:
            by_pid.setdefault(pid, []).append(wid)
        implicit = await self._implicit(user_id)
        return [implicit] + [
            PortfolioView(r.id, r.name, r.base_currency, tuple(sorted(by_pid.get(r.id, []))), False, r.created_at)
            for r in rows
        ]

    async def _implicit(self, user_id: str, wallets: Sequence[WalletInfo] | None = None) -> PortfolioView:
        if wallets is None:
            wallets = await self._owned_wallets(user_id)
        return PortfolioView(ALL_ID, ALL_NAME, "USD", tuple(w.id for w in wallets), True, None)

    async def get(self, user_id: str, portfolio_id: str) -> PortfolioView:
        key = ("view", portfolio_id)
        kept: PortfolioView | None = self.memo.get(user_id, key)
        if kept is not None:
            return kept
        stamp = self.memo.stamp(user_id)
        view = await self._get(user_id, portfolio_id)
        self.memo.put(user_id, stamp, key, view)
        return view

    async def _get(self, user_id: str, portfolio_id: str) -> PortfolioView:
        if portfolio_id == ALL_ID:
            return await self._implicit(user_id)
        async with self.store.read() as s:
            conn = await s.connection()
            r = (
                await conn.execute(
                    sa.select(PORTFOLIOS).where(PORTFOLIOS.c.id == portfolio_id, PORTFOLIOS.c.user_id == user_id)
                )
            ).first()
            if r is None:
                raise NotFound("No portfolio with this id.", field="id")
            wids = (
                await conn.execute(
                    sa.select(MEMBERS.c.wallet_id).where(
                        MEMBERS.c.portfolio_id == portfolio_id, MEMBERS.c.user_id == user_id
                    )
                )
            ).all()
        return PortfolioView(r.id, r.name, r.base_currency, tuple(sorted(w for (w,) in wids)), False, r.created_at)

    async def set_cost(self, user_id: str, txid: str, cost: Decimal, currency: str) -> None:
        """The user's own acquisition cost for an incoming transaction (``None``-free upsert)."""
        if not re.fullmatch(r"[0-9a-fA-F]{64}", txid or ""):
            raise BadInput("A txid is 64 hexadecimal characters.", field="txid")
        txid = txid.lower()
        if not cost.is_finite() or cost < 0:
            raise BadInput("A cost cannot be negative.", field="cost")
        if cost > MAX_COST or -cost.as_tuple().exponent > 2:  # type: ignore[operator]
            raise BadInput(f"A cost is at most {MAX_COST:,} with at most 2 decimal places.", field="cost")
        cur = self.prices.normalise(currency)
        if not await self.sync.has_transaction(user_id, txid):  # only the user's own (other users': NOT_FOUND)
            raise NotFound("No transaction with this txid in your wallets.", field="txid")
        async with self.store.write() as s:
            conn = await s.connection()
            await conn.execute(sa.delete(OVERRIDES).where(OVERRIDES.c.user_id == user_id, OVERRIDES.c.txid == txid))
            await conn.execute(
                sa.insert(OVERRIDES).values(
                    id=new_id(), user_id=user_id, txid=txid, cost=cost, currency=cur, created_at=datetime.now(UTC)
                )
            )
        await self._changed(user_id)

    # -- data loading -----------------------------------------------------------------------------

    async def load(self, user_id: str, portfolio_id: str) -> PortfolioData:
        all_wallets = await self._owned_wallets(user_id)
        if portfolio_id == ALL_ID:  # the same wallets read once
            view = await self._implicit(user_id, all_wallets)
        else:
            view = await self.get(user_id, portfolio_id)
        scope = set(view.wallet_ids)
        history, snap = await self.analytics.history(user_id, [w.id for w in all_wallets])
        txs = list(history.txs)  # a copy: the cached list is patched by later syncs
        chain = await self.analytics.chain_data(user_id, snap.stamps)
        balances, utxos, use = chain.balances, chain.utxos, chain.use
        used = {wid: u.used for wid, u in use.items()}
        reused = {wid: u.reused for wid, u in use.items() if u.reused}
        overrides: dict[str, Decimal] = {}
        override_currency: dict[str, str] = {}  # txid -> currency of a cost set by the mutation
        labels = await self.wallets.tx_labels(user_id)
        for txid, label in labels.items():
            cost = cost_from_label(label)
            if cost is not None:
                overrides[txid] = cost
        async with self.store.read() as s:
            for txid, cost, cur in (
                await (await s.connection()).execute(
                    sa.select(OVERRIDES.c.txid, OVERRIDES.c.cost, OVERRIDES.c.currency).where(
                        OVERRIDES.c.user_id == user_id
                    )
                )
            ).all():
                overrides[txid] = Decimal(cost)
                override_currency[txid] = cur
        wallets = [w for w in all_wallets if w.id in scope]
        return PortfolioData(
            view, wallets, txs, balances, utxos, used, reused, overrides, labels, override_currency,
            history, history.generation, chain.stamps,
        )  # fmt: skip

    # -- valuation --------------------------------------------------------------------------------

    def balance_of(self, data: PortfolioData) -> Balance:
        conf = unconf = 0
        for w in data.wallets:
            b = data.balances.get(w.id)
            if b is None:  # not synced through the sync state: sum of its transactions
                conf += sum(t.net_sats for t in data.txs if t.wallet_id == w.id)
            else:
                conf += b.confirmed
                unconf += b.unconfirmed
        return Balance(conf, unconf)

    async def balances_of(self, user_id: str, views: Sequence[PortfolioView]) -> dict[str, Balance]:
        """The balance of each of these portfolios of the user from the wallets' sync states (one
        statement; a wallet never synced counts the sum of its ledger, one more; none while the
        user's data version has not moved)."""
        key = ("balances", tuple((v.id, v.wallet_ids) for v in views))
        kept: dict[str, Balance] | None = self.memo.get(user_id, key)
        if kept is not None:
            return dict(kept)
        stamp = self.memo.stamp(user_id)
        out = await self._balances_of(user_id, views)
        self.memo.put(user_id, stamp, key, dict(out))
        return out

    async def _balances_of(self, user_id: str, views: Sequence[PortfolioView]) -> dict[str, Balance]:
        balances = await self.sync.balances(user_id)
        unsynced = {w for v in views for w in v.wallet_ids if w not in balances}
        sums = await self.sync.ledger_sums(user_id, sorted(unsynced)) if unsynced else {}
        out: dict[str, Balance] = {}
        for v in views:
            conf = unconf = 0
            for w in v.wallet_ids:
                b = balances.get(w)
                if b is None:
                    conf += sums.get(w, 0)
                else:
                    conf, unconf = conf + b.confirmed, unconf + b.unconfirmed
            out[v.id] = Balance(conf, unconf)
        return out

    async def balance(self, user_id: str, portfolio_id: str) -> Balance:
        return self.balance_of(await self.load(user_id, portfolio_id))

    async def value(
        self, user_id: str, portfolio_id: str, currency: str | None = None
    ) -> tuple[Decimal, Price, Balance]:
        data = await self.load(user_id, portfolio_id)
        price = await self.prices.spot(currency or data.view.base_currency)
        bal = self.balance_of(data)
        return (price.value * bal.total / SATS).quantize(Decimal("0.01")), price, bal

    async def tax_settings(self, user_id: str) -> TaxSettings:
        return await load_tax_settings(self.store, user_id)

    async def update_tax_settings(
        self,
        user_id: str,
        fiscal_year_start: str | None = None,
        long_term_months: int | None = None,
        fee_treatment: str | None = None,
    ) -> TaxSettings:
        saved = await save_tax_settings(self.store, user_id, fiscal_year_start, long_term_months, fee_treatment)
        await self._changed(user_id)
        return saved

    async def resolve(
        self, user_id: str, data: PortfolioData, timeframe: str = "ALL", period: PeriodInput | None = None
    ) -> tuple[Period, TaxSettings]:
        """The period asked for (a tax year uses the user's fiscal-year start), checked."""
        tax = await self.tax_settings(user_id)
        today = datetime.now(UTC).date()
        if period is not None:
            return resolve_period(period, today, data.first_day, tax.fiscal_year_start), tax
        return timeframe_period(timeframe, today, data.first_day), tax

    async def analyse(
        self,
        user_id: str,
        portfolio_id: str,
        timeframe: str = "ALL",
        method: str = "FIFO",
        currency: str | None = None,
        data: PortfolioData | None = None,
        period: PeriodInput | None = None,
        *,
        cached: bool = True,
    ) -> Analysis:
        """Every figure of one portfolio, period, method and currency. ``cached=False`` computes
        from ``data.txs`` and the stored prices alone, as the caches must agree with (tests, bench)."""
        data = data or await self.load(user_id, portfolio_id)
        cur = self.prices.normalise(currency or data.view.base_currency)
        try:
            m = Method(method.upper())
        except ValueError:
            raise BadInput(
                f"Unknown cost basis method {method!r}.", field="method", hint="FIFO, LIFO, HIFO or AVERAGE"
            ) from None
        per, tax = await self.resolve(user_id, data, timeframe, period)
        first = data.first_day
        start, end = per.start, per.end
        all_first = data.all_first_day or start
        if cached:
            series = await self.analytics.daily_prices(cur, min(start, all_first), end)
        else:
            series = PriceSeries(await self.prices.daily_prices(cur, min(start, all_first), end), None, None, None)
        prices = series.prices
        spot = await self.prices.spot(cur)
        # one price for everything held at the end: the last day's close of the series (today: the spot
        # price when it is fresh, as daily_prices adds it; else an estimate within the gap, or None)
        end_price, _ = prices.close_on(end)
        current_price = end_price if end_price is not None else spot.value
        fee_rate = await self._fee_rate()
        risk_wallets = [
            WalletRisk(
                w.id,
                w.name,
                w.kind.upper() == "MULTISIG",
                w.script_type.upper(),
                max(0, (data.balances.get(w.id) or Balance(0, 0)).confirmed),
                max(0, (data.balances.get(w.id) or Balance(0, 0)).unconfirmed),
                data.utxos.get(w.id, []),
                data.used_addresses.get(w.id, 0),
                data.reused_addresses.get(w.id, 0),
            )
            for w in data.wallets
        ]
        costs = data.costs_in(cur)
        rf = float(self.settings.risk_free_rate)
        history = data.current_history if cached else None
        key: tuple[Any, ...] | None = None
        if history is not None and series.key is not None:
            # every input of the figures below (the day is in ``per`` and in the price series' version)
            key = (
                "analysis", data.view, tuple((w.id, w.name, w.kind, w.script_type) for w in data.wallets),
                history.generation, data.chain_stamps,
                tuple(sorted(costs.items())), cur, m, per, tax, series.key, current_price, fee_rate, rf,
            )  # fmt: skip
            hit = self.analytics.result(user_id, key)
            if hit is not None:
                kept: PortfolioAnalytics = hit[0]
                kept_notes: tuple[str, ...] = hit[1]
                return Analysis(data, per, cur, spot, kept, list(kept_notes), prices, tax, end_price)
        if history is not None:
            scope = frozenset(data.view.wallet_ids)
            ledger = history.ledger(scope)
            perf = analyse_performance(ledger.movements, prices, start, end, rf)
            cb = history.cost_basis(
                scope, m, costs, tax.long_term_months, FeeTreatment(tax.fee_treatment), series, end, current_price
            )
            balances, unconfirmed = history.holdings(scope, end)
            result = assemble(ledger.entries, perf, cb, balances, unconfirmed, risk_wallets, fee_rate)
        else:  # no cached history stands for this read: from its own rows
            result = analyse_portfolio(
                data.txs,
                prices,
                start,
                end,
                current_price,
                m,
                risk_wallets,
                fee_rate,
                rf,
                costs,
                scope=data.scope,
                long_term_months=tax.long_term_months,
                fee_treatment=tax.fee_treatment,
            )
        notes: list[str] = []
        if not data.wallets:
            notes.append("This portfolio has no wallets: every figure is zero.")
        elif first is None:
            notes.append("The wallets of this portfolio have no transactions yet.")
        elif first > start:
            notes.append(
                f"The period starts on {start.isoformat()}, before the first transaction "
                f"({first.isoformat()}): the value is zero until then."
            )
        if per.requested_end is not None:
            notes.append(
                f"The period runs to {per.requested_end.isoformat()}; figures cover the days up to today "
                f"({end.isoformat()})."
            )
        perf = result.performance
        if perf.missing:
            notes.append(
                f"{perf.missing_days} day(s) of the period have no recorded {cur} close and none within "
                f"{prices.max_gap_days} day(s) to estimate it from: "
                + ", ".join(perf.missing)
                + " cannot be computed (null)."
            )
        if perf.partial:
            notes.append(
                f"{perf.estimated_days} day(s) have no recorded {cur} close: their prices are "
                "estimated from the nearest known closes (partial result)."
            )
        if result.cost_basis.pending:
            notes.append(
                f"{len(result.cost_basis.pending)} unconfirmed transaction(s) are pending: they become "
                "acquisitions or disposals once confirmed."
            )
        if key is not None:
            self.analytics.keep(user_id, key, (result, tuple(notes)))
        return Analysis(data, per, cur, spot, result, notes, prices, tax, end_price)

    async def _fee_rate(self) -> float:
        if self.fee_rate is None:
            return DEFAULT_FEE_RATE
        try:
            return (await self.fee_rate()) or DEFAULT_FEE_RATE
        except Exception:
            return DEFAULT_FEE_RATE

    async def analysis(
        self,
        user_id: str,
        portfolio_id: str,
        timeframe: str = "ALL",
        method: str = "FIFO",
        period: PeriodInput | None = None,
        *,
        load: Callable[[], Awaitable[PortfolioData]] | None = None,
    ) -> Analysis:
        """:meth:`analyse` in the portfolio's base currency, answered without reading anything while
        the user's data version has not moved and the spot price and fee rate are those it was
        computed with (a repeated read: no SQL). ``load``: how to get the data when it must run."""
        key = ("analysis", portfolio_id, timeframe, method.upper(), period)
        kept: tuple[Analysis, Decimal, float] | None = self.memo.get(user_id, key)
        if kept is not None:
            a, spot, fee = kept
            if (await self.prices.spot(a.currency)).value == spot and await self._fee_rate() == fee:
                return a
        stamp = self.memo.stamp(user_id)
        data = await load() if load is not None else await self.load(user_id, portfolio_id)
        cur = self.prices.normalise(data.view.base_currency)
        spot, fee = (await self.prices.spot(cur)).value, await self._fee_rate()
        a = await self.analyse(user_id, portfolio_id, timeframe, method, data=data, period=period)
        # kept only if the spot price and fee rate did not move while it ran (it read them inside)
        if (await self.prices.spot(cur)).value == spot == a.spot.value and await self._fee_rate() == fee:
            self.memo.put(user_id, stamp, key, (a, spot, fee))
        return a

    async def value_history(
        self,
        user_id: str,
        portfolio_id: str,
        timeframe: str,
        currency: str | None = None,
        period: PeriodInput | None = None,
    ) -> tuple[list[ValuePoint], Analysis]:
        a = await self.analyse(user_id, portfolio_id, timeframe, currency=currency, period=period)
        points = a.value_points()
        return points, a

    async def cost_basis(
        self, user_id: str, portfolio_id: str, method: str, period: PeriodInput | None = None
    ) -> CostBasisResult:
        return (await self.analyse(user_id, portfolio_id, "ALL", method, period=period)).result.cost_basis

    async def risk(self, user_id: str, portfolio_id: str, timeframe: str = "Y1") -> RiskReport:
        return (await self.analyse(user_id, portfolio_id, timeframe)).result.risk

    # -- re-valuation on price moves --------------------------------------------------------------

    def on_wallet_event(self, event: Event) -> None:
        """A wallet's balance changed (the sync's ``walletUpdated``, watched on the hub for the
        events this process published): re-value that user's portfolios holding it.

        Runs in a supervised task (cancelled cleanly when the container stops), so a slow price
        provider never holds up the sync that published the event.
        """
        if event.type != "walletUpdated" or "balance" not in event.payload or event.user_id is None:
            return
        user_id, wallet_id = event.user_id, str(event.subject)
        self.supervisor.spawn(f"revalue:{event.id}", lambda: self._revalue_wallet(user_id, wallet_id))

    async def _revalue_wallet(self, user_id: str, wallet_id: str) -> None:
        try:
            async with self.store.read() as s:
                conn = await s.connection()
                currencies = (
                    (
                        await conn.execute(
                            sa.select(PORTFOLIOS.c.base_currency).distinct().where(PORTFOLIOS.c.user_id == user_id)
                        )
                    )
                    .scalars()
                    .all()
                )
            for currency in currencies:
                await self.revalue(await self.prices.spot(currency), user_id=user_id, wallet_id=wallet_id)
        except Exception:
            log.warning("portfolio_revalue_failed", user_id=user_id, wallet_id=wallet_id, exc_info=True)

    async def revalue(self, price: Price, *, user_id: str | None = None, wallet_id: str | None = None) -> int:
        """Publish ``portfolioValueChanged`` for every portfolio in ``price.currency`` whose value moved
        (only ``user_id``'s portfolios holding ``wallet_id`` when given)."""
        query = sa.select(PORTFOLIOS.c.id, PORTFOLIOS.c.user_id).where(PORTFOLIOS.c.base_currency == price.currency)
        if user_id is not None:
            query = query.where(PORTFOLIOS.c.user_id == user_id)
        async with self.store.read() as s:
            conn = await s.connection()
            rows = (await conn.execute(query)).all()
            members = (await conn.execute(sa.select(MEMBERS.c.portfolio_id, MEMBERS.c.wallet_id))).all()
        balances: dict[str, int] = {}
        for uid in {uid for _, uid in rows}:  # the owners of the portfolios to value, each asked alone
            balances.update({wid: b.total for wid, b in (await self.sync.balances(uid)).items()})
        by_pid: dict[str, list[str]] = {}
        for pid, wid in members:
            by_pid.setdefault(pid, []).append(wid)
        published = 0
        for pid, uid in rows:
            if wallet_id is not None and wallet_id not in by_pid.get(pid, []):
                continue
            sats = sum(balances.get(w, 0) for w in by_pid.get(pid, []))
            value = (price.value * sats / SATS).quantize(Decimal("0.01"))
            if self._last_values.get(pid) == value:
                continue
            self._last_values[pid] = value
            await self.hub.publish(
                Event(
                    type="portfolioValueChanged",
                    user_id=uid,
                    subject=pid,
                    payload={
                        "portfolioId": pid,
                        "value": str(value),
                        "currency": price.currency,
                        "balance": sats,
                        "price": str(price.value),
                        "priceAt": price.at.isoformat(),
                        "source": price.source,
                    },
                )
            )
            published += 1
        return published

    async def base_currencies(self) -> set[str]:
        """The currencies portfolios are valued in (the price poller fetches these)."""
        async with self.store.read() as s:
            res = await (await s.connection()).execute(sa.select(PORTFOLIOS.c.base_currency).distinct())
            return {c for (c,) in res.all()}


_COST_LABEL = re.compile(r"(?i)\bcost\s*[:=]\s*([0-9][0-9,]*(?:\.[0-9]+)?)")


def cost_from_label(label: str) -> Decimal | None:
    """A user-set acquisition cost written in a transaction label: ``cost: 1234.56`` / ``cost=1234.56``
    (in the portfolio's currency). The ``setTransactionCost`` mutation takes precedence."""
    m = _COST_LABEL.search(label or "")
    if m is None:
        return None
    try:
        return Decimal(m.group(1).replace(",", ""))
    except ArithmeticError:
        return None
