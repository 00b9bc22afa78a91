"""Portfolio, price, analytics and report types (contract: Portfolios, prices, analytics, reports)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from datetime import date as Date
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from app.analytics import gains, performance
from app.analytics.costbasis import CostBasisResult, DisposalKind, DisposalRow, EntryKind, PendingTx
from app.analytics.periods import PeriodInput
from app.analytics.risk import RiskReport
from app.prices import provider
from app.prices.provider import DailyClose
from app.services import tax_settings
from app.services.portfolios import Analysis, PortfolioView, ValuePoint
from app.services.reports import ReportView
from app.store.paging import paginate_positions
from schema.context import Context
from schema.enums import ReportStatus
from schema.pagination import Connection, PageArgs, paged, to_connection
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


@strawberry.enum(
    description="How network fees enter realised gains. DISPOSE: a fee is a disposal of its own sats (row kind "
    "FEE). ADD_TO_COST: a fee's cost is added to the disposal it paid for; a transfer fee's cost stays with the coins."
)
class FeeTreatment(Enum):
    DISPOSE = "DISPOSE"
    ADD_TO_COST = "ADD_TO_COST"


@strawberry.input(
    description="A tax year (named by the calendar year it starts in, using your fiscal-year start) or from/to "
    "dates (inclusive, UTC days). Give one form, not both."
)
class Period:
    tax_year: int | None = None
    from_: Date | None = strawberry.field(name="from", default=None)
    to: Date | None = None

    def to_input(self) -> PeriodInput:
        return PeriodInput(self.tax_year, self.from_, self.to)


def period_input(p: Period | None) -> PeriodInput | None:
    return None if p is None else p.to_input()


@strawberry.type(description="Your tax settings: they name tax years and classify and compute realised gains.")
class TaxSettings:
    fiscal_year_start: str = strawberry.field(description='MM-DD the tax year starts on ("01-01", UK "04-06").')
    long_term_months: int = strawberry.field(description="Held more than this many months = LONG (default 12).")
    fee_treatment: FeeTreatment

    @classmethod
    def of(cls, t: tax_settings.TaxSettings) -> TaxSettings:
        return cls(
            fiscal_year_start=t.fiscal_year_start_text,
            long_term_months=t.long_term_months,
            fee_treatment=FeeTreatment(t.fee_treatment.value),
        )


@strawberry.input
class UpdateTaxSettingsInput:
    fiscal_year_start: str | None = None
    long_term_months: int | None = None
    fee_treatment: FeeTreatment | None = None


@strawberry.type(description="A BTC price in a fiat currency, with where and when it comes from.")
class Price:
    currency: str
    value: Decimal
    at: datetime = strawberry.field(description="When the provider says the price is from (staleness).")
    source: str = strawberry.field(description="coinbase, kraken, coingecko, bitstamp, bundled, or stored.")
    age_seconds: float = strawberry.field(description="Seconds between `at` and now.")

    @classmethod
    def of(cls, p: provider.Price) -> Price:
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


@strawberry.type(description="A currency prices can be had in: its live providers and whether it works offline.")
class PriceCurrency:
    code: str
    providers: list[str] = strawberry.field(description="The configured live providers that quote BTC in it.")
    offline_history: bool = strawberry.field(
        description="A daily history is bundled (USD only): valuation works without any provider."
    )
    note: str | None = strawberry.field(description="Why it may not work offline.")

    @classmethod
    def of(cls, code: str, providers: list[str], offline: bool) -> PriceCurrency:
        note = None if offline else f"{code} needs a live price provider: no offline {code} history is bundled."
        return cls(code=code, providers=providers, offline_history=offline, note=note)


@strawberry.type
class PortfolioBalance:
    confirmed: Sats
    unconfirmed: Sats
    total: Sats


@strawberry.type(name="ValuePoint", description="Balance and value at one day's close.")
class ValuePoint_:
    date: date
    balance: Sats
    price: Decimal | None = strawberry.field(description="Null when the day has no close and none near enough.")
    value: Decimal | None = strawberry.field(description="Null when a price is missing and something was held.")
    estimated: bool = strawberry.field(description="The day's close was estimated (interpolated or carried).")
    missing: bool = strawberry.field(description="No close exists for this day within the allowed gap.")

    @classmethod
    def of(cls, v: ValuePoint) -> ValuePoint_:
        return cls(
            date=v.day, balance=v.balance, price=v.price, value=v.value, estimated=v.estimated, missing=v.missing
        )


@strawberry.type
class Drawdown:
    value: float | None = strawberry.field(
        description="Largest fall from a peak, e.g. -0.25 for -25% (0 if none; null when prices are missing)."
    )
    peak_date: date | None
    trough_date: date | None
    recovery_date: date | None = strawberry.field(description="Null while not recovered.")


@strawberry.type
class Benchmark:
    name: str
    return_: float | None = strawberry.field(name="return")
    invested: Decimal | None
    final_value: Decimal | None


@strawberry.type(
    description="Performance of one timeframe or period. Ratios as Float; annualised where named. A figure that "
    "needs a price that does not exist is null and named in `missing` (never computed from invented prices)."
)
class Performance:
    timeframe: Timeframe | None = strawberry.field(description="Null when a period was asked for.")
    period: str = strawberry.field(description='"Y1", "tax year 2024/25", "2024-01-01 to 2024-06-30"...')
    currency: str
    start: date
    end: date
    start_value: Decimal | None
    end_value: Decimal | None
    net_deposits: Decimal | None
    time_weighted_return: float | None = strawberry.field(
        description="Cumulative over the timeframe, flows neutralised."
    )
    time_weighted_return_annualised: float | None = strawberry.field(description="Null for periods under a year.")
    money_weighted_return: float | None = strawberry.field(description="XIRR: an annual rate.")
    money_weighted_return_period: float | None = strawberry.field(description="XIRR over the period itself.")
    volatility: float | None = strawberry.field(description="Annualised (daily x sqrt(365)).")
    sharpe_ratio: float | None = strawberry.field(description="Annualised.")
    sortino_ratio: float | None = strawberry.field(description="Annualised.")
    max_drawdown: Drawdown
    benchmark: list[Benchmark]
    partial: bool = strawberry.field(description="Some days' closes were estimated (and flagged).")
    estimated_days: int
    missing: list[str] = strawberry.field(description="Fields that are null because prices are missing.")
    missing_days: int = strawberry.field(description="Days of the period without a usable close.")
    notes: list[str]

    @classmethod
    def of(cls, a: Analysis) -> Performance:
        p: performance.Performance = a.performance
        dd = p.max_drawdown
        return cls(
            timeframe=Timeframe(a.timeframe) if a.timeframe else None,
            period=a.period.label,
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
            missing=list(p.missing),
            missing_days=p.missing_days,
            notes=a.notes,
        )


def _money(x: float | None) -> Decimal | None:
    return None if x is None else Decimal(str(round(float(x), 2))).quantize(Decimal("0.01"))


@strawberry.type(description="One disposal (coins sent to others, or a network fee) and its gain.")
class Disposal:
    txid: str
    date: date
    kind: DisposalKind = strawberry.field(description="Coins spent (SPEND) or a fee paid (FEE).")
    amount: Sats = strawberry.field(description="Sats disposed of (with ADD_TO_COST: the fee sats included).")
    proceeds: Decimal | None = strawberry.field(description="Null when the day has no price (see priceMissing).")
    cost: Decimal | None
    gain: Decimal | None
    holding_period: HoldingPeriod
    holding_days: int | None = strawberry.field(description="Days held, from the earliest acquisition used.")
    acquired_date: Date | None = strawberry.field(description="The earliest acquisition used.")
    acquired_dates: list[Date] = strawberry.field(description="Every acquisition date of the lots used.")
    fee_included: Sats = strawberry.field(description="Fee sats whose cost is in `cost` (fee treatment ADD_TO_COST).")
    wallet_ids: list[strawberry.ID]
    price_estimated: bool
    price_missing: bool = strawberry.field(description="A close needed for this row does not exist.")
    missing_basis: bool = strawberry.field(description="No acquisition was known for this amount: cost is 0.")

    @classmethod
    def of(cls, r: DisposalRow) -> Disposal:
        unknown = r.price_missing
        return cls(
            txid=r.txid,
            date=r.day,
            kind=DisposalKind(r.kind),
            amount=r.sats,
            proceeds=None if unknown else r.proceeds,
            cost=None if unknown else r.cost,
            gain=None if unknown else r.gain,
            holding_period=HoldingPeriod(r.holding_period),
            holding_days=r.holding_days,
            acquired_date=r.acquired,
            acquired_dates=list(r.acquired_dates),
            fee_included=r.fee_sats,
            wallet_ids=[strawberry.ID(w) for w in r.wallet_ids],
            price_estimated=r.price_estimated,
            price_missing=r.price_missing,
            missing_basis=r.missing_basis,
        )


@strawberry.type(description="An unconfirmed transaction: not an acquisition or disposal until it confirms.")
class PendingTransaction:
    txid: str
    date: Date = strawberry.field(description="First seen.")
    kind: EntryKind = strawberry.field(description="How it will count once confirmed.")
    amount: Sats
    fee: Sats
    wallet_ids: list[strawberry.ID]

    @classmethod
    def of(cls, p: PendingTx) -> PendingTransaction:
        return cls(
            txid=p.txid, date=p.day, kind=EntryKind(p.kind), amount=p.sats, fee=p.fee_sats,
            wallet_ids=[strawberry.ID(w) for w in p.wallet_ids],
        )  # fmt: skip


@strawberry.type(description="Realised gains of one tax year and holding class.")
class GainSubtotal:
    tax_year: int
    label: str = strawberry.field(description='"2024", or "2024/25" when the tax year spans two calendar years.')
    start: Date
    end: Date
    holding_period: HoldingPeriod
    disposals: int = strawberry.field(description="Rows of coins sent to others.")
    proceeds: Decimal = strawberry.field(description="All rows, fees included.")
    cost: Decimal
    gain: Decimal
    fee_disposals: int
    fee_gain: Decimal

    @classmethod
    def of(cls, g: gains.GainSubtotal) -> GainSubtotal:
        return cls(
            tax_year=g.tax_year, label=g.label, start=g.start, end=g.end,
            holding_period=HoldingPeriod(g.holding_period), disposals=g.disposals, proceeds=g.proceeds, cost=g.cost,
            gain=g.gain, fee_disposals=g.fee_disposals, fee_gain=g.fee_gain,
        )  # fmt: skip


@strawberry.type(
    description="Cost basis at the end of the period (now for timeframes). `disposals`, `summary` and "
    "`realizedGain` cover the period; `pending` lists unconfirmed transactions."
)
class CostBasis:
    method: CostBasisMethod
    currency: str
    period: str
    fee_treatment: FeeTreatment
    long_term_months: int
    total_cost: Decimal | None = strawberry.field(description="Cost of the bitcoin held (null if a price is missing).")
    current_value: Decimal
    unrealized_gain: Decimal | None
    _result: strawberry.Private[CostBasisResult]
    _first: strawberry.Private[date | None]
    _last: strawberry.Private[date]
    _fy: strawberry.Private[tuple[int, int]]

    # The period's sums are worked out only when asked for (a result is new after every tick or
    # payment, and summing thousands of disposal rows is most of a read that does not want them).
    realized_gain: Decimal | None = strawberry.field(
        resolver=lambda root: root._result.realized_in(root._first, root._last),
        description="Of the period's disposals.",
    )
    realized_gain_all_time: Decimal | None = strawberry.field(resolver=lambda root: root._result.realized_in())
    holdings: Sats
    missing_basis: Sats
    estimated_prices: bool
    missing_prices: list[str] = strawberry.field(description="Txids whose day has no price (set a cost for them).")
    pending: list[PendingTransaction]

    @strawberry.field(description="Per tax year and holding class, in the period.")
    def summary(self) -> list[GainSubtotal]:
        return [GainSubtotal.of(g) for g in self._result.summary_in(self._first, self._last, self._fy)]

    @classmethod
    def of(cls, r: CostBasisResult, a: Analysis) -> CostBasis:
        return cls(
            method=CostBasisMethod(r.method.value),
            currency=a.currency,
            period=a.period.label,
            fee_treatment=FeeTreatment(r.fee_treatment.value),
            long_term_months=r.long_term_months,
            total_cost=r.known_total_cost,
            current_value=r.current_value,
            unrealized_gain=r.known_unrealized,
            holdings=r.holdings_sats,
            missing_basis=r.missing_basis_sats,
            estimated_prices=r.estimated_prices,
            missing_prices=[t for t, _ in r.missing_prices],
            pending=[PendingTransaction.of(p) for p in r.pending],
            _result=r,
            _first=a.period.first,
            _last=a.period.end,
            _fy=a.tax.fiscal_year_start,
        )

    @strawberry.field(description="Per-disposal rows of the period, oldest first.")
    @paged
    def disposals(
        self, page: PageArgs
    ) -> Connection[Disposal]:
        rows = self._result.disposals_in(self._first, self._last)  # kept on the result: a cached one is read again
        return paginate(rows, page, Disposal.of)


def paginate(items: list[Any], args: PageArgs, convert: Any) -> Connection[Any]:
    """A connection over a computed list (disposals, reports): the shared positional paginator."""
    return to_connection(paginate_positions(items, args.window()), convert)


@strawberry.type
class RiskFactor:
    name: str
    score: float | None = strawberry.field(description="Null when not scored for lack of data (see detail).")
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

    async def _analysis(
        self, info: Info[Context, None], timeframe: str, method: str = "FIFO", period: Period | None = None
    ) -> Analysis:
        uid = self._uid(info)
        p = period_input(period)

        async def analyse() -> Analysis:
            result: Analysis = await info.context.container.portfolios.analysis(
                uid, self._view.id, timeframe, method, p, load=lambda: self._data(info)
            )
            return result

        key = f"portfolio_analysis:{self._view.id}:{timeframe}:{method}:{p}"
        return await info.context.load_once(key, analyse)

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

    @strawberry.field(description="Balance x close at every day's close of the timeframe (or `period`).")
    async def value_history(
        self, info: Info[Context, None], timeframe: Timeframe = Timeframe.ALL, period: Period | None = None
    ) -> list[ValuePoint_]:
        a = await self._analysis(info, timeframe.value, period=period)
        return [ValuePoint_.of(v) for v in a.value_points()]

    @strawberry.field(description="Of the timeframe, or of `period` when given.")
    async def performance(
        self, info: Info[Context, None], timeframe: Timeframe = Timeframe.ALL, period: Period | None = None
    ) -> Performance:
        return Performance.of(await self._analysis(info, timeframe.value, period=period))

    @strawberry.field(description="Lots over the whole history up to the period's end; disposals of the period.")
    async def cost_basis(
        self,
        info: Info[Context, None],
        method: CostBasisMethod = CostBasisMethod.FIFO,
        period: Period | None = None,
    ) -> CostBasis:
        a = await self._analysis(info, "ALL", method.value, period=period)
        return CostBasis.of(a.result.cost_basis, a)

    @strawberry.field(description="Risk now; the market factor uses the timeframe (default one year).")
    async def risk(self, info: Info[Context, None], timeframe: Timeframe = Timeframe.Y1) -> Risk:
        return Risk.of((await self._analysis(info, timeframe.value)).result.risk)


@strawberry.type
class Report:
    id: strawberry.ID
    portfolio_id: strawberry.ID | None
    timeframe: Timeframe | None = strawberry.field(description="Null for a report of a period.")
    period: str = strawberry.field(description='"Y1", "tax year 2024", "2024-01-01 to 2024-03-31"...')
    format: ReportFormat
    status: ReportStatus = strawberry.field(description="Where the report job stands.")
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
            timeframe=Timeframe(r.timeframe) if r.timeframe in Timeframe._value2member_map_ else None,
            period=r.period_label or r.timeframe,
            format=ReportFormat(r.format),
            status=ReportStatus(r.status),
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
    period: Period | None = strawberry.field(default=None, description="A tax year or dates; wins over timeframe.")
    format: ReportFormat = ReportFormat.PDF
    method: CostBasisMethod = CostBasisMethod.FIFO


@strawberry.input
class SetTransactionCostInput:
    txid: str
    cost: Decimal
    currency: str = "USD"
