"""Daily value series, time-weighted return and money-weighted return (XIRR).

Conventions (see ``docs/analytics.md``):

* A day is a UTC calendar day; the value of day *t* is the balance at that day's close times the
close.
* External flows are coins entering or leaving the user's wallets (not fees, not transfers between
the
  user's own wallets), valued at the close of the day they happen, and counted at the end of the
  day.
* ``r_t = (V_t - F_t) / V_{t-1} - 1`` (0 when ``V_{t-1} == 0``), ``TWR = prod(1 + r_t) - 1``.
* XIRR solves ``sum_i CF_i / (1 + r) ** (d_i / 365) = 0`` with investor cash flows (money put in is
  negative): ``-V_0`` at the start, ``-F_t`` on each flow day, ``+V_N`` at the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np

from app.analytics.pricing import DailyPrices, to_day64

SATS_PER_BTC = 100_000_000
DAYS_PER_YEAR = 365  # bitcoin trades every calendar day


@dataclass(frozen=True)
class Movements:
    """Balance changes of a portfolio, one entry per transaction (any order).

    ``net_sats``: change of the portfolio balance (negative when coins leave, fee included).
    ``fee_sats``: the part of a negative change that went to miners (0 for incoming transactions).
    """

    days: np.ndarray  # datetime64[D]
    net_sats: np.ndarray  # int64
    fee_sats: np.ndarray  # int64

    @classmethod
    def empty(cls) -> Movements:
        return cls(
            np.array([], dtype="datetime64[D]"),
            np.array([], dtype=np.int64),
            np.array([], dtype=np.int64),
        )

    @classmethod
    def from_rows(cls, rows: list[tuple[date, int, int]]) -> Movements:
        if not rows:
            return cls.empty()
        return cls(
            np.array([d.isoformat() for d, _, _ in rows], dtype="datetime64[D]"),
            np.array([n for _, n, _ in rows], dtype=np.int64),
            np.array([f for _, _, f in rows], dtype=np.int64),
        )

    @property
    def flow_sats(self) -> np.ndarray:
        """External flows: the net change without the fee (a fee is a loss, not a withdrawal)."""
        return self.net_sats + self.fee_sats


@dataclass(frozen=True)
class ValueSeries:
    days: np.ndarray  # datetime64[D], contiguous
    balance_sats: np.ndarray  # int64, at each day's close
    closes: np.ndarray  # float64 fiat per BTC
    values: np.ndarray  # float64 fiat, balance x close
    flows: np.ndarray  # float64 fiat, external flows of the day valued at the close
    estimated: np.ndarray  # bool, the close of that day was interpolated / carried (or is missing)

    @property
    def missing(self) -> np.ndarray:
        """Days whose value or flow needs a close that does not exist (NaN)."""
        return np.isnan(self.values) | np.isnan(self.flows)

    @property
    def partial(self) -> bool:
        return bool(self.estimated.any())

    def __len__(self) -> int:
        return len(self.days)


def value_series(movements: Movements, prices: DailyPrices, start: date, end: date) -> ValueSeries:
    """Balance and value at every day's close in ``start..end``; earlier movements form the opening
    balance (so a timeframe that starts before the first transaction simply starts at zero)."""
    days, closes, estimated = prices.on_calendar(start, end)
    n = len(days)
    offs = (movements.days.astype("datetime64[D]") - to_day64(start)).astype(np.int64)
    before = offs < 0
    inside = (offs >= 0) & (offs < n)
    opening = int(movements.net_sats[before].sum())
    delta = np.zeros(n, dtype=np.int64)
    np.add.at(delta, offs[inside], movements.net_sats[inside])
    flow_sats = np.zeros(n, dtype=np.int64)
    np.add.at(flow_sats, offs[inside], movements.flow_sats[inside])
    balance = opening + np.cumsum(delta)
    # nothing held (or moved) needs no price: 0, even on a day without a close
    with np.errstate(invalid="ignore"):
        values = np.where(balance == 0, 0.0, balance / SATS_PER_BTC * closes)
        flows = np.where(flow_sats == 0, 0.0, flow_sats / SATS_PER_BTC * closes)
    return ValueSeries(days, balance, closes, values, flows, estimated)


def period_returns(values: np.ndarray, flows: np.ndarray) -> np.ndarray:
    """Daily flow-neutralised returns ``r_t`` for t = 1..N (length N-1 for N values)."""
    prev = values[:-1]
    cur = values[1:] - flows[1:]
    out = np.zeros(len(prev), dtype=np.float64)
    ok = prev > 0
    np.divide(cur, prev, out=out, where=ok)
    out[ok] -= 1.0
    return out


def time_weighted_return(values: np.ndarray, flows: np.ndarray) -> float:
    """Cumulative TWR over the whole series (flows on the first day are part of the start value)."""
    if len(values) < 2:
        return 0.0
    return float(np.prod(1.0 + period_returns(values, flows)) - 1.0)


def annualise(period_return: float, days: int) -> float | None:
    """Compound a period return to a yearly rate; None for periods under a year (not meaningful)."""
    if days < DAYS_PER_YEAR or period_return <= -1.0:
        return None
    return float((1.0 + period_return) ** (DAYS_PER_YEAR / days) - 1.0)


def xirr_cash_flows(values: np.ndarray, flows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(amounts, day offsets) of the investor's cash flows for a value series."""
    n = len(values)
    amounts = -flows.astype(np.float64).copy()
    amounts[0] = -values[0]
    amounts[-1] += values[-1]
    offsets = np.arange(n, dtype=np.float64)
    keep = amounts != 0
    keep[0] = True
    return amounts[keep], offsets[keep]


def _npv(rate: float, amounts: np.ndarray, years: np.ndarray) -> tuple[float, float]:
    """NPV and its derivative at ``rate`` (computed in log space to avoid overflow)."""
    lg = math.log1p(rate)
    with np.errstate(over="ignore", invalid="ignore"):
        disc = np.exp(-years * lg)
        npv = float(np.sum(amounts * disc))
        d = float(np.sum(-years * amounts * disc / (1.0 + rate)))
    return npv, d


def xirr(amounts: np.ndarray, day_offsets: np.ndarray, guess: float = 0.1) -> float | None:
    """The annual rate r that zeroes ``sum a_i (1+r)^(-d_i/365)``.

    Newton's method from ``guess``; if it diverges, leaves ``r > -1`` or stalls, bisection on a
    bracket found by widening. None when no sign change exists (e.g. flows all of one sign)."""
    a = np.asarray(amounts, dtype=np.float64)
    y = (np.asarray(day_offsets, dtype=np.float64) - float(day_offsets[0])) / DAYS_PER_YEAR
    if len(a) < 2 or not (np.any(a > 0) and np.any(a < 0)):
        return None
    scale = float(np.max(np.abs(a)))
    a = a / scale
    r = guess
    for _ in range(60):
        f, d = _npv(r, a, y)
        if not (math.isfinite(f) and math.isfinite(d)) or d == 0:
            break
        step = f / d
        nr = r - step
        if nr <= -1.0 or not math.isfinite(nr):
            break
        if abs(step) < 1e-12 * max(1.0, abs(nr)):
            f2, _ = _npv(nr, a, y)
            if abs(f2) < 1e-9:
                return nr
            break
        r = nr
    return _bisect(a, y)


def _bisect(a: np.ndarray, y: np.ndarray) -> float | None:
    lo, f_lo = -1.0, math.nan
    for cand in (-1.0 + 1e-9, -0.9999, -0.999, -0.99, -0.9):
        lo = cand
        f_lo, _ = _npv(lo, a, y)
        if math.isfinite(f_lo):
            break
    hi = 1.0
    f_hi, _ = _npv(hi, a, y)
    while math.isfinite(f_lo) and math.isfinite(f_hi) and f_lo * f_hi > 0 and hi < 1e12:
        hi *= 10.0
        f_hi, _ = _npv(hi, a, y)
    if not (math.isfinite(f_lo) and math.isfinite(f_hi)) or f_lo * f_hi > 0:
        return None
    for _ in range(300):
        mid = (lo + hi) / 2.0
        f_mid, _ = _npv(mid, a, y)
        if f_mid == 0 or (hi - lo) < 1e-13 * max(1.0, abs(mid)):
            return mid
        if (f_mid > 0) == (f_lo > 0):
            lo, f_lo = mid, f_mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def money_weighted_return(values: np.ndarray, flows: np.ndarray) -> float | None:
    """XIRR (annual rate) of a value series; None when it is undefined (no money ever in)."""
    if len(values) < 2:
        return None
    amounts, offsets = xirr_cash_flows(values, flows)
    return xirr(amounts, offsets)


def deannualise(rate: float | None, days: int) -> float | None:
    """An annual rate back to the period's own rate: ``(1 + r) ** (days / 365) - 1``."""
    if rate is None:
        return None
    return float((1.0 + rate) ** (days / DAYS_PER_YEAR) - 1.0)
