"""Report periods: trailing timeframes (``Y1``, ``YTD`` ...), tax years with a fiscal-year start,
and custom ``from``/``to`` dates, resolved to one shape (pure; no I/O).

A period covers the days ``first..end`` (inclusive). Its valuation starts at the close of the day
before ``first`` (``start``), so the start value is what was held when the period opened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from app.analytics.gains import CALENDAR_YEAR, FiscalStart, tax_year_label, tax_year_range
from app.errors import BadInput

TIMEFRAMES = ("D1", "W1", "M1", "M3", "YTD", "Y1", "Y3", "ALL")
FIRST_TAX_YEAR = 2009  # bitcoin's first year
MAX_AHEAD_DAYS = 366  # a period may end at most this far after today (a tax year in progress)


TIMEFRAME_NAMES = {
    "D1": "last day", "W1": "last 7 days", "M1": "last 30 days", "M3": "last 91 days", "YTD": "year to date",
    "Y1": "last 365 days", "Y3": "last 3 years", "ALL": "all time",
}  # fmt: skip


def describe_period(label: str) -> str:
    """A period's label for a title: ``last 365 days (Y1)``, ``tax year 2024/25``, dates as they are."""
    name = TIMEFRAME_NAMES.get(label)
    return f"{name} ({label})" if name else label


@dataclass(frozen=True)
class PeriodInput:
    """What the user asked for: a tax year, or from/to dates (either may be open)."""

    tax_year: int | None = None
    from_: date | None = None
    to: date | None = None


@dataclass(frozen=True)
class Period:
    """A resolved period: ``label`` for titles and file names, ``timeframe`` when it is one."""

    label: str
    start: date  # valuation start: the close of the day before the period's first day
    end: date  # last day (inclusive), never after today
    timeframe: str | None = None
    tax_year: int | None = None
    requested_end: date | None = None  # the end asked for, when it lies after today

    @property
    def first(self) -> date:
        """The period's first day (disposals on or after it belong to the period)."""
        return self.start + timedelta(days=1)

    @property
    def slug(self) -> str:
        """The label for a file name: lower case, ``[a-z0-9-]`` only."""
        return re.sub(r"[^a-z0-9]+", "-", self.label.lower()).strip("-") or "period"


def timeframe_period(timeframe: str, today: date, first_day: date | None) -> Period:
    """A trailing timeframe ending today (``ALL`` from the day before the first transaction)."""
    tf = timeframe.upper()
    if tf not in TIMEFRAMES:
        raise BadInput(f"Unknown timeframe {timeframe!r}.", field="timeframe", hint=", ".join(TIMEFRAMES))
    days = {"D1": 1, "W1": 7, "M1": 30, "M3": 91, "Y1": 365, "Y3": 3 * 365}
    if tf in days:
        return Period(tf, today - timedelta(days=days[tf]), today, tf)
    if tf == "YTD":
        return Period(tf, date(today.year, 1, 1) - timedelta(days=1), today, tf)  # from the close of Dec 31
    start = first_day - timedelta(days=1) if first_day else today - timedelta(days=1)
    return Period(tf, min(start, today - timedelta(days=1)), today, tf)


def resolve_period(
    p: PeriodInput, today: date, first_day: date | None, fy: FiscalStart = CALENDAR_YEAR, field: str = "period"
) -> Period:
    """Check and resolve a :class:`PeriodInput` (``BadInput`` naming the field when it is wrong)."""
    if p.tax_year is not None:
        if p.from_ is not None or p.to is not None:
            raise BadInput(
                "Give either a tax year or from/to dates, not both.",
                field=f"{field}.taxYear",
                hint='period: {taxYear: 2024} or period: {from: "2024-01-01", to: "2024-12-31"}',
            )
        first, last = _tax_year(p.tax_year, today, fy, field)
        label = f"tax year {tax_year_label(p.tax_year, fy)}"
        return Period(
            label, first - timedelta(days=1), min(last, today), None, p.tax_year, last if last > today else None
        )
    if p.from_ is None and p.to is None:
        raise BadInput("A period needs a tax year or from/to dates.", field=field, hint="e.g. {taxYear: 2024}")
    first = p.from_ or first_day or today
    last = p.to or today
    if p.to is not None and p.from_ is not None and p.to < p.from_:
        raise BadInput("The period ends before it starts.", field=f"{field}.to", hint="`to` must not be before `from`.")
    if first > today:
        raise BadInput("The period starts in the future.", field=f"{field}.from", hint=f"Today is {today}.")
    if last > today + timedelta(days=MAX_AHEAD_DAYS):
        raise BadInput(
            "The period ends too far in the future.",
            field=f"{field}.to",
            hint=f"End it at most {MAX_AHEAD_DAYS} days from today; days after today are not valued yet.",
        )
    if first.year < FIRST_TAX_YEAR:
        raise BadInput(
            "The period starts before bitcoin existed.", field=f"{field}.from", hint="Start in 2009 or later."
        )
    first = min(first, last)
    label = f"{first.isoformat()} to {last.isoformat()}"
    return Period(label, first - timedelta(days=1), min(last, today), None, None, last if last > today else None)


def _tax_year(year: int, today: date, fy: FiscalStart, field: str) -> tuple[date, date]:
    if year < FIRST_TAX_YEAR:
        raise BadInput(f"Tax year {year} is before bitcoin existed.", field=f"{field}.taxYear", hint="2009 or later.")
    first, last = tax_year_range(year, fy) if year <= 9998 else (date.max, date.max)
    if first > today:
        raise BadInput(
            f"Tax year {year} has not started yet (it starts on {first}).",
            field=f"{field}.taxYear",
            hint="Ask for the current or a past tax year.",
        )
    return first, last


def parse_fiscal_start(value: str, field: str = "fiscalYearStart") -> FiscalStart:
    """``"MM-DD"`` (e.g. ``"04-06"`` for 6 April) as (month, day); 29 February is refused."""
    m = re.fullmatch(r"(\d{2})-(\d{2})", (value or "").strip())
    if m is None:
        raise BadInput("A fiscal-year start is written MM-DD.", field=field, hint='e.g. "01-01" or "04-06"')
    month, day = int(m.group(1)), int(m.group(2))
    try:
        date(2023, month, day)  # not a leap year: 02-29 is refused
    except ValueError:
        raise BadInput(f"{value!r} is not a day of the year.", field=field, hint='e.g. "04-06"') from None
    return month, day
