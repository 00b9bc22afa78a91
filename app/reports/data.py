"""The plain data a report is rendered from (built by the reports service, no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from app.analytics.costbasis import CostBasisResult, DisposalRow, PendingTx
from app.analytics.gains import CALENDAR_YEAR, FiscalStart, GainSubtotal, summarise_gains
from app.analytics.performance import Performance
from app.analytics.risk import RiskReport
from app.analytics.valuation import ValuePoint

SATS = Decimal(100_000_000)


@dataclass(frozen=True)
class TransactionRow:
    day: date
    txid: str
    wallets: str  # wallet names involved
    kind: str  # ACQUISITION | DISPOSAL | TRANSFER | MOVE_OUT
    sats: int  # signed, from the user's view (fee included for outgoing)
    fee_sats: int
    price: Decimal | None  # close of the day (None: no close)
    fiat_value: Decimal | None  # sats x price
    price_estimated: bool = False
    label: str = ""
    confirmed: bool = True


@dataclass(frozen=True)
class AllocationRow:
    """One wallet's holdings at the end of the period: the table every share in the report
    (allocation, risk concentration, single-signature and unconfirmed shares) is computed from."""

    wallet: str
    sats: int
    value: Decimal | None  # sats x the report's one price
    share: float  # sats / sum of the positive balances
    multisig: bool = False
    confirmed: int = 0
    unconfirmed: int = 0


@dataclass
class ReportData:
    title: str
    portfolio_name: str
    owner: str
    currency: str
    timeframe: str | None  # None for a tax year or custom dates
    period_start: date  # valuation start: the close of the day before the period's first day
    period_end: date
    generated_at: datetime
    balance_sats: int
    value: Decimal | None  # balance x price: the value every share and total of the report uses
    price: Decimal | None  # the one price everything held at the end is valued at
    price_source: str
    price_at: datetime
    performance: Performance
    cost_basis: CostBasisResult
    risk: RiskReport
    allocation: list[AllocationRow] = field(default_factory=list)
    transactions: list[TransactionRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    period_label: str = ""
    value_points: list[ValuePoint] = field(default_factory=list)
    fiscal_year_start: FiscalStart = CALENDAR_YEAR
    wallet_names: dict[str, str] = field(default_factory=dict)
    tax_year: int | None = None

    @property
    def period_first(self) -> date:
        return self.period_start + timedelta(days=1)

    @property
    def period_disposals(self) -> list[DisposalRow]:
        first, last = self.period_first, self.period_end
        return [r for r in self.cost_basis.disposals if first <= r.day <= last]

    @property
    def period_realized_gain(self) -> Decimal | None:
        return self.cost_basis.realized_in(self.period_first, self.period_end)

    @property
    def gains_summary(self) -> list[GainSubtotal]:
        return summarise_gains(self.period_disposals, self.fiscal_year_start)

    @property
    def pending(self) -> list[PendingTx]:
        return self.cost_basis.pending

    def wallet_list(self, ids: tuple[str, ...]) -> str:
        return ", ".join(self.wallet_names.get(w, w) for w in ids)

    @property
    def series(self) -> tuple[list[date], list[float], list[float]]:
        """(days, values, drawdowns) for the charts."""
        s = self.performance.series
        if s is None or len(s) == 0:
            return [], [], []
        from app.analytics.pricing import from_day64

        dd = self.performance.drawdowns
        if dd is None:  # prices missing: chart only the days with a value, no drawdown
            known = [(from_day64(d), float(v)) for d, v in zip(s.days, s.values, strict=True) if v == v]
            return [d for d, _ in known], [v for _, v in known], []
        days = [from_day64(d) for d in s.days]
        return days, [float(v) for v in s.values], [float(x) for x in dd]


def chart_allocation(data: ReportData, top: int = 10) -> list[AllocationRow]:
    """The largest ``top`` wallets, and the rest summed up as one "Other" row (charts stay readable)."""
    rows = sorted(data.allocation, key=lambda a: -a.sats)
    if len(rows) <= top + 1:
        return rows
    rest = rows[top:]
    values = [a.value for a in rest]
    other = AllocationRow(
        f"Other ({len(rest)} wallets)",
        sum(a.sats for a in rest),
        None if any(v is None for v in values) else sum((v for v in values if v is not None), Decimal(0)),
        sum(a.share for a in rest),
    )
    return [*rows[:top], other]


def fmt_btc(sats: int) -> str:
    sign = "-" if sats < 0 else ""
    sats = abs(sats)
    return f"{sign}{sats // 100_000_000:,}.{sats % 100_000_000:08d}"


def fmt_money(x: Decimal | float | None, currency: str = "") -> str:
    if x is None or x != x:
        return "n/a"
    d = Decimal(str(x)).quantize(Decimal("0.01"))
    s = f"{d:,.2f}"
    return f"{s} {currency}".strip()


MULTIPLE_ABOVE = 10.0  # returns beyond +1,000 % print as the multiple of the money (x 11 = +1,000 %)


def fmt_pct(x: float | None, signed: bool = True) -> str:
    """A fraction as a percentage; beyond +1,000 % as the multiple ``\u00d7N`` (the value times N)."""
    if x is None or x != x:
        return "n/a"
    if signed and x > MULTIPLE_ABOVE:
        return f"×{1 + x:,.0f}"
    return f"{x * 100:+,.2f}%" if signed else f"{x * 100:,.2f}%"


def fmt_ratio(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def fmt_date(d: date | None) -> str:
    return "—" if d is None else d.isoformat()


def performance_rows(data: ReportData) -> list[tuple[str, str, str]]:
    """(metric, value, explanation) rows shared by the HTML and PDF renderers."""
    p = data.performance
    dd = p.max_drawdown
    cur = data.currency
    rows = [
        ("Start value", fmt_money(_first_value(data), cur), f"value at the close of {p.start}"),
        ("End value", fmt_money(data.value, cur), f"value at the close of {p.end}"),
        ("Net deposits", fmt_money(p.net_flows, cur), "coins received minus sent to others"),
        ("Time-weighted return", fmt_pct(p.time_weighted_return), "flows neutralised"),
        (
            "TWR, annualised",
            fmt_pct(p.time_weighted_return_annualised),
            "only for periods of a year or more",
        ),
        ("Money-weighted return", fmt_pct(p.money_weighted_return), "XIRR, annual rate"),
        ("MWR over the period", fmt_pct(p.money_weighted_return_period), "XIRR, not annualised"),
        ("Volatility", fmt_pct(p.volatility, signed=False), "annualised, daily x sqrt(365)"),
        ("Sharpe ratio", fmt_ratio(p.sharpe_ratio), "annualised"),
        ("Sortino ratio", fmt_ratio(p.sortino_ratio), "annualised"),
        (
            "Maximum drawdown",
            fmt_pct(dd.value),
            f"peak {fmt_date(dd.peak_date)}, trough {fmt_date(dd.trough_date)}, "
            f"recovered {fmt_date(dd.recovery_date) if dd.recovery_date else 'not yet'}",
        ),
    ]
    for b in p.benchmarks:
        rows.append((f"Benchmark: {b.name}", fmt_pct(b.return_), f"invested {fmt_money(b.invested, cur)}"))
    if p.missing:
        rows.append(("Not computed", "n/a", f"no price for {p.missing_days} day(s) of the period: see the notes"))
    return rows


def _first_value(data: ReportData) -> Decimal | None:
    return data.value_points[0].value if data.value_points else None


def summary_rows(data: ReportData) -> list[tuple[str, str]]:
    cb = data.cost_basis
    cur = data.currency
    return [
        ("Period", f"{data.period_label} ({data.period_first} to {data.period_end})"),
        ("Balance", f"{fmt_btc(data.balance_sats)} BTC"),
        ("Value", fmt_money(data.value, cur)),
        (
            "Price",
            f"{fmt_money(data.price, cur)} ({data.price_source}, {data.price_at.strftime('%Y-%m-%d %H:%M UTC')})",
        ),
        (f"Cost basis ({cb.method.value})", fmt_money(cb.known_total_cost, cur)),
        ("Unrealized gain", fmt_money(cb.known_unrealized, cur)),
        ("Realized gain in the period", fmt_money(data.period_realized_gain, cur)),
        ("Realized gain (all time)", fmt_money(cb.realized_in(), cur)),
        ("Risk score", f"{data.risk.score:.1f} / 100 (0 best)"),
    ]
