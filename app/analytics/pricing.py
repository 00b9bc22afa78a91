"""Daily close prices on a contiguous calendar, with missing days interpolated and marked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import numpy as np

EPOCH = date(1970, 1, 1)


def to_day64(d: date) -> np.datetime64:
    return np.datetime64(d.isoformat(), "D")


def from_day64(d: np.datetime64) -> date:
    return EPOCH + timedelta(days=int(d.astype("datetime64[D]").astype(np.int64)))


class NoPriceData(ValueError):
    """There is no price at all to value anything with."""


@dataclass(frozen=True)
class DailyPrices:
    """Known daily closes (sorted, unique days). Days in between are linearly interpolated; days
    outside the known span take the nearest known close. Every such day is *estimated*."""

    days: np.ndarray  # datetime64[D], sorted
    closes: np.ndarray  # float64
    exact: dict[date, Decimal]

    @classmethod
    def from_pairs(cls, pairs: Sequence[tuple[date, Decimal]]) -> DailyPrices:
        if not pairs:
            raise NoPriceData("no price history")
        ordered = sorted(dict(pairs).items())
        days = np.array([d.isoformat() for d, _ in ordered], dtype="datetime64[D]")
        closes = np.array([float(c) for _, c in ordered], dtype=np.float64)
        return cls(days, closes, dict(ordered))

    @classmethod
    def from_arrays(cls, days: np.ndarray, closes: np.ndarray) -> DailyPrices:
        if len(days) == 0:
            raise NoPriceData("no price history")
        order = np.argsort(days, kind="stable")
        d = days[order].astype("datetime64[D]")
        c = closes[order].astype(np.float64)
        exact = {from_day64(x): Decimal(repr(float(y))) for x, y in zip(d, c, strict=True)}
        return cls(d, c, exact)

    @property
    def first_day(self) -> date:
        return from_day64(self.days[0])

    @property
    def last_day(self) -> date:
        return from_day64(self.days[-1])

    def on_calendar(self, start: date, end: date) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(days, closes, estimated) for every calendar day ``start..end`` inclusive."""
        one = np.timedelta64(1, "D")
        cal = np.arange(to_day64(start), to_day64(end) + one, dtype="datetime64[D]")
        x = self.days.astype(np.int64)
        xi = cal.astype(np.int64)
        closes = np.interp(xi, x, self.closes)
        idx = np.minimum(np.searchsorted(x, xi), len(x) - 1)
        estimated = x[idx] != xi
        return cal, closes, estimated

    def close_on(self, day: date) -> tuple[Decimal, bool]:
        """The close of ``day`` as Decimal and whether it is an estimate (interpolated/nearest)."""
        hit = self.exact.get(day)
        if hit is not None:
            return hit, False
        _, closes, _ = self.on_calendar(day, day)
        return Decimal(str(round(float(closes[0]), 2))), True
