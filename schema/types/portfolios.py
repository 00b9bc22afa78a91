"""Portfolio, price, analytics and report types (contract: Portfolios, prices, analytics, reports)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from datetime import date as Date
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from app.analytics.costbasis import CostBasisResult, DisposalRow
from app.analytics.performance import Performance as PerformanceData
from app.analytics.risk import RiskReport
from app.prices.provider import DailyClose
from app.prices.provider import Price as PriceData
from app.services.portfolios import Analysis, PortfolioView, ValuePoint
from app.services.reports import ReportView
from app.store.paging import paginate_positions
from schema.context import Context
from schema.pagination import Connection, to_connection
from schema.scalars import Sats
from schema.types.wallets import Wallet


@strawberry.enum
class Timeframe(Enum):
    D1 = "D1"
    W1 = "W1"
    M1 = "M1"
    M3 = "M3"
    YTD = "YTD"
    Y1 = "Y1"
    Y3 = "Y3"
    ALL = "ALL"


@strawberry.enum
class CostBasisMethod(Enum):
    FIFO = "FIFO"
    LIFO = "LIFO"
    HIFO = "HIFO"
    AVERAGE = "AVERAGE"


@strawberry.enum
class ReportFormat(Enum):
    CSV = "CSV"
    JSON = "JSON"
    HTML = "HTML"
    PDF = "PDF"


@strawberry.enum
class HoldingPeriod(Enum):
    SHORT = "SHORT"
    LONG = "LONG"


@strawberry.type(description="A BTC price in a fiat currency, with where and when it comes from.")
class Price:
    currency: str
    value: Decimal
    at: datetime = strawberry.field(description="When the provider says the price is from (staleness).")
    source: str = strawberry.field(description="coinbase, kraken, coingecko, bitstamp, bundled, or stored.")
    age_seconds: float = strawberry.field(description="Seconds between `at` and now.")

    @classmethod
    def of(cls, p: PriceData) -> Price:
        return cls(currency=p.currency, value=p.value, at=p.at, source=p.source, age_seconds=round(p.age_seconds(), 1))

    @classmethod
    def of_close(cls, c: DailyClose) -> Price:
        at = datetime(c.day.year, c.day.month, c.day.day, tzinfo=UTC) + timedelta(days=1)  # end of the UTC day
        return cls(
            currency=c.currency,
            value=c.close,
            at=at,
            source=c.source,
            age_seconds=round((datetime.now(UTC) - at).total_seconds(), 1),
        )


@strawberry.type
class PortfolioBalance:
    confirmed: Sats
    unconfirmed: Sats
    total: Sats


@strawberry.type(name="ValuePoint", description="Balance and value at one day's close.")
class ValuePoint_:
    date: date
    balance: Sats
    price: Decimal
    value: Decimal
    estimated: bool = strawberry.field(description="The day's close was interpolated (no recorded close).")

    @classmethod
    def of(cls, v: ValuePoint) -> ValuePoint_:
        return cls(date=v.day, balance=v.balance, price=v.price, value=v.value, estimated=v.estimated)


@strawberry.type
class Drawdown:
    value: float = strawberry.field(description="Largest fall from a peak, e.g. -0.25 for -25% (0 if none).")
    peak_date: date | None
    trough_date: date | None
    recovery_date: date | None = strawberry.field(description="Null while not recovered.")


@strawberry.type
class Benchmark:
    name: str
    return_: float | None = strawberry.field(name="return")
    invested: Decimal
    final_value: Decimal


@strawberry.type(description="Performance of one timeframe. Ratios as Float; annualised where named.")
class Performance:
    timeframe: Timeframe
    currency: str
    start: date
    end: date
    start_value: Decimal
    end_value: Decimal
    net_deposits: Decimal
    time_weighted_return: float = strawberry.field(description="Cumulative over the timeframe, flows neutralised.")
    time_weighted_return_annualised: float | None = strawberry.field(description="Null for periods under a year.")
    money_weighted_return: float | None = strawberry.field(description="XIRR: an annual rate.")
    money_weighted_return_period: float | None = strawberry.field(description="XIRR over the period itself.")
    volatility: float | None = strawberry.field(description="Annualised (daily x sqrt(365)).")
    sharpe_ratio: float | None = strawberry.field(description="Annualised.")
    sortino_ratio: float | None = strawberry.field(description="Annualised.")
    max_drawdown: Drawdown
    benchmark: list[Benchmark]
    partial: bool = strawberry.field(description="Some days' closes were interpolated.")
    estimated_days: int
    notes: list[str]

    @classmethod
    def of(cls, a: Analysis) -> Performance:
        p: PerformanceData = a.performance
        dd = p.max_drawdown
        return cls(
            timeframe=Timeframe(a.timeframe),
            currency=a.currency,
            start=a.start,
            end=a.end,
            start_value=_money(p.start_value),
            end_value=_money(p.end_value),
            net_deposits=_money(p.net_flows),
            time_weighted_return=p.time_weighted_return,
            time_weighted_return_annualised=p.time_weighted_return_annualised,
            money_weighted_return=p.money_weighted_return,
            money_weighted_return_period=p.money_weighted_return_period,
            volatility=p.volatility,
            sharpe_ratio=p.sharpe_ratio,
            sortino_ratio=p.sortino_ratio,
            max_drawdown=Drawdown(
                value=dd.value, peak_date=dd.peak_date, trough_date=dd.trough_date, recovery_date=dd.recovery_date
            ),
            benchmark=[
                Benchmark(
                    name=b.name, return_=b.return_, invested=_money(b.invested), final_value=_money(b.final_value)
                )
                for b in p.benchmarks
            ],
            partial=p.partial,
            estimated_days=p.estimated_days,
            notes=a.notes,
        )


def _money(x: float) -> Decimal:
    return Decimal(str(round(float(x), 2))).quantize(Decimal("0.01"))


@strawberry.type(description="One disposal (coins sent to others, or a network fee) and its gain.")
class Disposal:
    txid: str
    date: date
    kind: str = strawberry.field(description="SPEND or FEE.")
    amount: Sats
    proceeds: Decimal
    cost: Decimal
    gain: Decimal
    holding_period: HoldingPeriod
    acquired_date: Date | None
    price_estimated: bool
    missing_basis: bool = strawberry.field(description="No acquisition was known for this amount: cost is 0.")

    @classmethod
    def of(cls, r: DisposalRow) -> Disposal:
        return cls(
            txid=r.txid,
            date=r.day,
            kind=r.kind,
            amount=r.sats,
            proceeds=r.proceeds,
            cost=r.cost,
            gain=r.gain,
            holding_period=HoldingPeriod(r.holding_period),
            acquired_date=r.acquired,
            price_estimated=r.price_estimated,
            missing_basis=r.missing_basis,
        )


@strawberry.type
class CostBasis:
    method: CostBasisMethod
    currency: str
    total_cost: Decimal = strawberry.field(description="Cost of the bitcoin still held.")
    current_value: Decimal
    unrealized_gain: Decimal
    realized_gain: Decimal
    holdings: Sats
    missing_basis: Sats
    estimated_prices: bool
    _rows: strawberry.Private[list[DisposalRow]]

    @classmethod
    def of(cls, r: CostBasisResult, currency: str) -> CostBasis:
        return cls(
            method=CostBasisMethod(r.method.value),
            currency=currency,
            total_cost=r.total_cost,
            current_value=r.current_value,
            unrealized_gain=r.unrealized_gain,
            realized_gain=r.realized_gain,
            holdings=r.holdings_sats,
            missing_basis=r.missing_basis_sats,
            estimated_prices=r.estimated_prices,
            _rows=r.disposals,
        )

    @strawberry.field(description="Per-disposal rows, oldest first.")
    def disposals(self, first: int | None = None, after: str | None = None) -> Connection[Disposal]:
        return paginate(self._rows, first, after, Disposal.of)


def paginate(items: list[Any], first: int | None, after: str | None, convert: Any) -> Connection[Any]:
    """A connection over a computed list (disposals, reports): the shared positional paginator."""
    return to_connection(paginate_positions(items, first, after), convert)


@strawberry.type
class RiskFactor:
    name: str
    score: float
    weight: float
    detail: str
    recommendation: str


@strawberry.type(description="Risk score 0 (best) to 100 (worst) from weighted factors.")
class Risk:
    score: float
    factors: list[RiskFactor]
    recommendations: list[str]

    @classmethod
    def of(cls, r: RiskReport) -> Risk:
        return cls(
            score=r.score,
            factors=[
                RiskFactor(
                    name=f.name, score=f.score, weight=f.weight, detail=f.detail, recommendation=f.recommendation
                )
                for f in r.factors
            ],
            recommendations=r.recommendations,
        )


@strawberry.type(description='A group of wallets; `id: "all"` is the implicit view of all your wallets.')
class Portfolio:
    id: strawberry.ID
    name: str
    base_currency: str
    implicit: bool = strawberry.field(description="True for the automatic 'All wallets' view.")
    created_at: datetime | None
    _view: strawberry.Private[PortfolioView]

    @classmethod
    def of(cls, v: PortfolioView) -> Portfolio:
        return cls(
            id=strawberry.ID(v.id),
            name=v.name,
            base_currency=v.base_currency,
            implicit=v.implicit,
            created_at=v.created_at,
            _view=v,
        )

    def _uid(self, info: Info[Context, None]) -> str:
        return info.context.require_viewer().user_id

    async def _data(self, info: Info[Context, None]) -> Any:
        uid = self._uid(info)
        return await info.context.load_once(
            f"portfolio_data:{self._view.id}", lambda: info.context.container.portfolios.load(uid, self._view.id)
        )

    async def _analysis(self, info: Info[Context, None], timeframe: str, method: str = "FIFO") -> Analysis:
        uid = self._uid(info)

        async def analyse() -> Analysis:
            data = await self._data(info)
            result: Analysis = await info.context.container.portfolios.analyse(
                uid, self._view.id, timeframe, method, data=data
            )
            return result

        return await info.context.load_once(f"portfolio_analysis:{self._view.id}:{timeframe}:{method}", analyse)

    @strawberry.field
    async def wallets(self, info: Info[Context, None]) -> list[Wallet]:
        uid = self._uid(info)
        views = await info.context.batch.wallets.load_many([(uid, w) for w in self._view.wallet_ids])
        return sorted((Wallet.from_view(v) for v in views if v is not None), key=lambda w: w.name.lower())

    async def _balance(self, info: Info[Context, None]) -> Any:
        return await info.context.batch.portfolio_balance.load((self._uid(info), self._view))

    @strawberry.field
    async def balance(self, info: Info[Context, None]) -> PortfolioBalance:
        b = await self._balance(info)
        return PortfolioBalance(confirmed=b.confirmed, unconfirmed=b.unconfirmed, total=b.total)

    @strawberry.field(description="Value now in `currency` (default: the base currency), 2 decimals.")
    async def value(self, info: Info[Context, None], currency: str | None = None) -> Decimal:
        b = await self._balance(info)
        price = await info.context.container.prices.spot(currency or self._view.base_currency)
        return (price.value * b.total / Decimal(100_000_000)).quantize(Decimal("0.01"))

    @strawberry.field(description="The price `value` used (with its source and time).")
    async def price(self, info: Info[Context, None], currency: str | None = None) -> Price:
        return Price.of(await info.context.container.prices.spot(currency or self._view.base_currency))

    @strawberry.field(description="Balance x close at every day's close of the timeframe.")
    async def value_history(self, info: Info[Context, None], timeframe: Timeframe = Timeframe.ALL) -> list[ValuePoint_]:
        a = await self._analysis(info, timeframe.value)
        return [ValuePoint_.of(v) for v in a.value_points()]

    @strawberry.field
    async def performance(self, info: Info[Context, None], timeframe: Timeframe = Timeframe.ALL) -> Performance:
        return Performance.of(await self._analysis(info, timeframe.value))

    @strawberry.field(description="Over the whole history of the portfolio's wallets.")
    async def cost_basis(self, info: Info[Context, None], method: CostBasisMethod = CostBasisMethod.FIFO) -> CostBasis:
        a = await self._analysis(info, "ALL", method.value)
        return CostBasis.of(a.result.cost_basis, a.currency)

    @strawberry.field(description="Risk now; the market factor uses the timeframe (default one year).")
    async def risk(self, info: Info[Context, None], timeframe: Timeframe = Timeframe.Y1) -> Risk:
        return Risk.of((await self._analysis(info, timeframe.value)).result.risk)


@strawberry.type
class Report:
    id: strawberry.ID
    portfolio_id: strawberry.ID | None
    timeframe: Timeframe
    format: ReportFormat
    status: str = strawberry.field(description="QUEUED, RUNNING, SUCCEEDED or FAILED.")
    progress: float
    error: str | None
    download_url: str | None = strawberry.field(
        description="Relative URL; GET it with the same `Authorization: Bearer` header."
    )
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, r: ReportView) -> Report:
        return cls(
            id=strawberry.ID(r.id),
            portfolio_id=strawberry.ID(r.portfolio_id) if r.portfolio_id else None,
            timeframe=Timeframe(r.timeframe),
            format=ReportFormat(r.format),
            status=r.status,
            progress=r.progress,
            error=r.error,
            download_url=r.download_url,
            created_at=r.created_at,
            finished_at=r.finished_at,
        )


@strawberry.input
class CreatePortfolioInput:
    name: str
    wallet_ids: list[strawberry.ID]
    base_currency: str = "USD"


@strawberry.input
class UpdatePortfolioInput:
    id: strawberry.ID
    name: str | None = None
    wallet_ids: list[strawberry.ID] | None = None
    base_currency: str | None = None


@strawberry.input
class GenerateReportInput:
    portfolio_id: strawberry.ID
    timeframe: Timeframe = Timeframe.Y1
    format: ReportFormat = ReportFormat.PDF


@strawberry.input
class SetTransactionCostInput:
    txid: str
    cost: Decimal
    currency: str = "USD"
