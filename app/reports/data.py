"""The plain data a report is rendered from (built by the reports service, no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from app.analytics.costbasis import CostBasisResult, DisposalRow
from app.analytics.performance import Performance
from app.analytics.risk import RiskReport

SATS = Decimal(100_000_000)


@dataclass(frozen=True)
class TransactionRow:
    day: date
    txid: str
    wallets: str  # wallet names involved
    kind: str  # ACQUISITION | DISPOSAL | TRANSFER
    sats: int  # signed, from the user's view (fee included for outgoing)
    fee_sats: int
    price: Decimal  # close of the day
    fiat_value: Decimal  # sats x price
    price_estimated: bool = False
    label: str = ""


@dataclass(frozen=True)
class AllocationRow:
    wallet: str
    sats: int
    value: Decimal
    share: float


@dataclass
class ReportData:
    title: str
    portfolio_name: str
    owner: str
    currency: str
    timeframe: str
    period_start: date
    period_end: date
    generated_at: datetime
    balance_sats: int
    value: Decimal
    price: Decimal
    price_source: str
    price_at: datetime
    performance: Performance
    cost_basis: CostBasisResult
    risk: RiskReport
    allocation: list[AllocationRow] = field(default_factory=list)
    transactions: list[TransactionRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def period_disposals(self) -> list[DisposalRow]:
        return [r for r in self.cost_basis.disposals if self.period_start <= r.day <= self.period_end]

    @property
    def period_realized_gain(self) -> Decimal:
        return sum((r.gain for r in self.period_disposals), Decimal(0))

    @property
    def series(self) -> tuple[list[date], list[float], list[float]]:
        """(days, values, drawdowns) for the charts."""
        s = self.performance.series
        if s is None or len(s) == 0:
            return [], [], []
        from app.analytics.pricing import from_day64

        days = [from_day64(d) for d in s.days]
        dd = self.performance.drawdowns
        return days, [float(v) for v in s.values], [float(x) for x in (dd if dd is not None else [])]


def chart_allocation(data: ReportData, top: int = 10) -> list[AllocationRow]:
    """The largest ``top`` wallets, and the rest summed up as one "Other" row (charts stay readable)."""
    rows = sorted(data.allocation, key=lambda a: -a.sats)
    if len(rows) <= top + 1:
        return rows
    rest = rows[top:]
    other = AllocationRow(
        f"Other ({len(rest)} wallets)",
        sum(a.sats for a in rest),
        sum((a.value for a in rest), Decimal(0)),
        sum(a.share for a in rest),
    )
    return [*rows[:top], other]


def fmt_btc(sats: int) -> str:
    sign = "-" if sats < 0 else ""
    sats = abs(sats)
    return f"{sign}{sats // 100_000_000:,}.{sats % 100_000_000:08d}"


def fmt_money(x: Decimal | float | None, currency: str = "") -> str:
    if x is None:
        return "n/a"
    d = Decimal(str(x)).quantize(Decimal("0.01"))
    s = f"{d:,.2f}"
    return f"{s} {currency}".strip()


def fmt_pct(x: float | None, signed: bool = True) -> str:
    if x is None:
        return "n/a"
    return f"{x * 100:+.2f}%" if signed else f"{x * 100:.2f}%"


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
        ("Start value", fmt_money(p.start_value, cur), f"value at the close of {p.start}"),
        ("End value", fmt_money(p.end_value, cur), f"value at the close of {p.end}"),
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
    return rows


def summary_rows(data: ReportData) -> list[tuple[str, str]]:
    cb = data.cost_basis
    cur = data.currency
    return [
        ("Balance", f"{fmt_btc(data.balance_sats)} BTC"),
        ("Value", fmt_money(data.value, cur)),
        (
            "Price",
            f"{fmt_money(data.price, cur)} ({data.price_source}, {data.price_at.strftime('%Y-%m-%d %H:%M UTC')})",
        ),
        (f"Cost basis ({cb.method.value})", fmt_money(cb.total_cost, cur)),
        ("Unrealized gain", fmt_money(cb.unrealized_gain, cur)),
        ("Realized gain in the period", fmt_money(data.period_realized_gain, cur)),
        ("Realized gain (all time)", fmt_money(cb.realized_gain, cur)),
        ("Risk score", f"{data.risk.score:.1f} / 100 (0 best)"),
    ]
