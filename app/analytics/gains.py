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


@dataclass
class GainSums:
    """The running sums of one (tax year, holding class): what :class:`GainSubtotal` reports."""

    disposals: int = 0
    proceeds: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    gain: Decimal = Decimal(0)
    fee_disposals: int = 0
    fee_proceeds: Decimal = Decimal(0)
    fee_cost: Decimal = Decimal(0)
    fee_gain: Decimal = Decimal(0)
    sats: int = 0

    def add(self, r: DisposalRow) -> None:
        self.proceeds += r.proceeds
        self.cost += r.cost
        self.gain += r.gain
        self.sats += r.sats
        if r.kind == "FEE":
            self.fee_disposals += 1
            self.fee_proceeds += r.proceeds
            self.fee_cost += r.cost
            self.fee_gain += r.gain
        else:
            self.disposals += 1

    def plus(self, o: GainSums) -> GainSums:
        return GainSums(
            self.disposals + o.disposals, self.proceeds + o.proceeds, self.cost + o.cost, self.gain + o.gain,
            self.fee_disposals + o.fee_disposals, self.fee_proceeds + o.fee_proceeds, self.fee_cost + o.fee_cost,
            self.fee_gain + o.fee_gain, self.sats + o.sats,
        )  # fmt: skip


GroupSums = dict[tuple[int, str], GainSums]


def gain_sums(rows: Iterable[DisposalRow], fy: FiscalStart = CALENDAR_YEAR) -> GroupSums:
    """The sums per (tax year, holding class). Sums of a list's parts, merged with
    :func:`merge_sums`, are those of the whole list (Decimal addition of these amounts is exact),
    so a cost-basis checkpoint's rows are summed once and only the rows after it per read."""
    acc: GroupSums = {}
    for r in rows:
        key = (tax_year_of(r.day, fy), r.holding_period)
        group = acc.get(key)
        if group is None:
            group = acc[key] = GainSums()
        group.add(r)
    return acc


def merge_sums(a: GroupSums, b: GroupSums) -> GroupSums:
    out = dict(a)
    for key, sums in b.items():
        have = out.get(key)
        out[key] = sums if have is None else have.plus(sums)
    return out


def subtotals(acc: GroupSums, fy: FiscalStart = CALENDAR_YEAR) -> list[GainSubtotal]:
    """Subtotals per (tax year, holding class), oldest year first, SHORT before LONG."""
    out: list[GainSubtotal] = []
    for (year, term), g in sorted(acc.items(), key=lambda kv: (kv[0][0], kv[0][1] != "SHORT")):
        start, end = tax_year_range(year, fy)
        out.append(
            GainSubtotal(
                tax_year=year,
                label=tax_year_label(year, fy),
                start=start,
                end=end,
                holding_period=term,
                disposals=g.disposals,
                proceeds=g.proceeds,
                cost=g.cost,
                gain=g.gain,
                fee_disposals=g.fee_disposals,
                fee_proceeds=g.fee_proceeds,
                fee_cost=g.fee_cost,
                fee_gain=g.fee_gain,
                sats=g.sats,
            )
        )
    return out


def summarise_gains(rows: Iterable[DisposalRow], fy: FiscalStart = CALENDAR_YEAR) -> list[GainSubtotal]:
    """Subtotals per (tax year, holding class), oldest year first, SHORT before LONG."""
    return subtotals(gain_sums(rows, fy), fy)


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
