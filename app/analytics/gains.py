"""Realised gains as a tax return needs them: tax years (with a fiscal-year start), subtotals per
year and holding class, and network fees aggregated so they do not drown the table.

Pure functions over :class:`~app.analytics.costbasis.DisposalRow` lists (no I/O).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from app.analytics.costbasis import DisposalRow

FiscalStart = tuple[int, int]  # (month, day) the tax year starts on, e.g. (1, 1) or (4, 6)
CALENDAR_YEAR: FiscalStart = (1, 1)


def _start(year: int, fy: FiscalStart) -> date:
    month, day = fy
    return date(year, month, min(day, 28) if month == 2 else day)


def tax_year_of(day: date, fy: FiscalStart = CALENDAR_YEAR) -> int:
    """The tax year a day falls in, named by the calendar year it starts in (6 April 2024 to
    5 April 2025 is tax year 2024)."""
    return day.year if day >= _start(day.year, fy) else day.year - 1


def tax_year_range(year: int, fy: FiscalStart = CALENDAR_YEAR) -> tuple[date, date]:
    """First and last day (inclusive) of tax year ``year``."""
    return _start(year, fy), _start(year + 1, fy) - timedelta(days=1)


def tax_year_label(year: int, fy: FiscalStart = CALENDAR_YEAR) -> str:
    """``2024`` for calendar years, ``2024/25`` when the year straddles two calendar years."""
    return str(year) if fy == CALENDAR_YEAR else f"{year}/{(year + 1) % 100:02d}"


@dataclass(frozen=True)
class GainSubtotal:
    """Realised gains of one tax year and holding class (fee disposals counted separately)."""

    tax_year: int
    label: str
    start: date
    end: date
    holding_period: str  # SHORT | LONG
    disposals: int  # rows of coins sent to others (kind SPEND)
    proceeds: Decimal  # every row, fees included
    cost: Decimal
    gain: Decimal
    fee_disposals: int  # rows of kind FEE (fee treatment DISPOSE)
    fee_proceeds: Decimal
    fee_cost: Decimal
    fee_gain: Decimal
    sats: int


def summarise_gains(rows: Iterable[DisposalRow], fy: FiscalStart = CALENDAR_YEAR) -> list[GainSubtotal]:
    """Subtotals per (tax year, holding class), oldest year first, SHORT before LONG."""
    acc: dict[tuple[int, str], list[DisposalRow]] = {}
    for r in rows:
        acc.setdefault((tax_year_of(r.day, fy), r.holding_period), []).append(r)
    out: list[GainSubtotal] = []
    zero = Decimal(0)
    for (year, term), group in sorted(acc.items(), key=lambda kv: (kv[0][0], kv[0][1] != "SHORT")):
        spends = [r for r in group if r.kind != "FEE"]
        fees = [r for r in group if r.kind == "FEE"]
        start, end = tax_year_range(year, fy)
        out.append(
            GainSubtotal(
                tax_year=year,
                label=tax_year_label(year, fy),
                start=start,
                end=end,
                holding_period=term,
                disposals=len(spends),
                proceeds=sum((r.proceeds for r in group), zero),
                cost=sum((r.cost for r in group), zero),
                gain=sum((r.gain for r in group), zero),
                fee_disposals=len(fees),
                fee_proceeds=sum((r.proceeds for r in fees), zero),
                fee_cost=sum((r.cost for r in fees), zero),
                fee_gain=sum((r.gain for r in fees), zero),
                sats=sum(r.sats for r in group),
            )
        )
    return out


@dataclass(frozen=True)
class FeeLine:
    """Network-fee disposals of one tax year and holding class, as one table line."""

    tax_year: int
    label: str
    holding_period: str
    count: int
    sats: int
    first: date
    last: date
    acquired_first: date | None
    acquired_last: date | None
    proceeds: Decimal
    cost: Decimal
    gain: Decimal


def fee_lines(rows: Sequence[DisposalRow], fy: FiscalStart = CALENDAR_YEAR) -> list[FeeLine]:
    """The FEE rows summed per (tax year, holding class)."""
    acc: dict[tuple[int, str], list[DisposalRow]] = {}
    for r in rows:
        if r.kind == "FEE":
            acc.setdefault((tax_year_of(r.day, fy), r.holding_period), []).append(r)
    out = []
    zero = Decimal(0)
    for (year, term), g in sorted(acc.items(), key=lambda kv: (kv[0][0], kv[0][1] != "SHORT")):
        acquired = [d for r in g for d in r.acquired_dates]
        out.append(
            FeeLine(
                year, tax_year_label(year, fy), term, len(g),
                sum(r.sats for r in g),
                min(r.day for r in g), max(r.day for r in g),
                min(acquired, default=None), max(acquired, default=None),
                sum((r.proceeds for r in g), zero),
                sum((r.cost for r in g), zero),
                sum((r.gain for r in g), zero),
            )
        )  # fmt: skip
    return out
