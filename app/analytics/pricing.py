"""Daily close prices on a contiguous calendar.

A day without a recorded close is **estimated** (flagged) only inside a gap shorter than
``max_gap_days``: interpolated linearly between two recorded closes, or the nearest close carried
when it lies fewer than ``max_gap_days`` days before the first / after the last one. Every other day
without a close is **missing**: its close is NaN and anything that needs it says so instead of
inventing a number. ``max_gap_days=None`` interpolates
every gap and carries the nearest close outwards (the old behaviour, for callers that ask for it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import numpy as np

EPOCH = date(1970, 1, 1)
DEFAULT_MAX_GAP_DAYS = 7


def to_day64(d: date) -> np.datetime64:
    return np.datetime64(d.isoformat(), "D")


def from_day64(d: np.datetime64) -> date:
    return EPOCH + timedelta(days=int(d.astype("datetime64[D]").astype(np.int64)))


class NoPriceData(ValueError):
    """There is no price at all to value anything with."""


@dataclass(frozen=True)
class DailyPrices:
    """Known daily closes (sorted, unique days) and the longest gap that may be interpolated."""

    days: np.ndarray  # datetime64[D], sorted
    closes: np.ndarray  # float64
    exact: dict[date, Decimal]
    max_gap_days: int | None = None

    @classmethod
    def from_pairs(cls, pairs: Sequence[tuple[date, Decimal]], max_gap_days: int | None = None) -> DailyPrices:
        if not pairs:
            raise NoPriceData("no price history")
        ordered = sorted(dict(pairs).items())
        days = np.array([d.isoformat() for d, _ in ordered], dtype="datetime64[D]")
        closes = np.array([float(c) for _, c in ordered], dtype=np.float64)
        return cls(days, closes, dict(ordered), max_gap_days)

    @classmethod
    def from_arrays(cls, days: np.ndarray, closes: np.ndarray, max_gap_days: int | None = None) -> DailyPrices:
        if len(days) == 0:
            raise NoPriceData("no price history")
        order = np.argsort(days, kind="stable")
        d = days[order].astype("datetime64[D]")
        c = closes[order].astype(np.float64)
        exact = {from_day64(x): Decimal(repr(float(y))) for x, y in zip(d, c, strict=True)}
        return cls(d, c, exact, max_gap_days)

    @property
    def first_day(self) -> date:
        return from_day64(self.days[0])

    @property
    def last_day(self) -> date:
        return from_day64(self.days[-1])

    def on_calendar(self, start: date, end: date) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(days, closes, estimated) for every calendar day ``start..end`` inclusive; a missing
        day's close is NaN (and it counts as estimated)."""
        one = np.timedelta64(1, "D")
        cal = np.arange(to_day64(start), to_day64(end) + one, dtype="datetime64[D]")
        x = self.days.astype(np.int64)
        xi = cal.astype(np.int64)
        closes = np.interp(xi, x, self.closes)
        idx = np.minimum(np.searchsorted(x, xi), len(x) - 1)
        estimated = x[idx] != xi
        if self.max_gap_days is not None and estimated.any():
            closes[self._missing(xi, x, estimated)] = np.nan
        return cal, closes, estimated

    def _missing(self, xi: np.ndarray, x: np.ndarray, estimated: np.ndarray) -> np.ndarray:
        """Days without a close that may not be estimated: inside a gap of ``max_gap_days`` or more
        missing days, or that many days (or more) before the first / after the last known close."""
        n = len(x)
        after = np.searchsorted(x, xi)  # index of the first known day >= the day
        has_next, has_prev = after < n, after > 0
        nxt = x[np.minimum(after, n - 1)]
        prev = x[np.maximum(after - 1, 0)]
        gap = np.where(has_next & has_prev, nxt - prev - 1, np.where(has_prev, xi - prev, nxt - xi))
        return estimated & (gap >= (self.max_gap_days or 0))

    def close_on(self, day: date) -> tuple[Decimal | None, bool]:
        """The close of ``day`` as Decimal and whether it is an estimate; None when missing."""
        hit = self.exact.get(day)
        if hit is not None:
            return hit, False
        _, closes, _ = self.on_calendar(day, day)
        if np.isnan(closes[0]):
            return None, True
        return Decimal(str(round(float(closes[0]), 2))), True

    def missing_days(self, start: date, end: date) -> list[date]:
        """Days in ``start..end`` without a usable close."""
        cal, closes, _ = self.on_calendar(start, end)
        return [from_day64(d) for d in cal[np.isnan(closes)]]
