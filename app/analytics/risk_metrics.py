"""Volatility, Sharpe, Sortino and maximum drawdown over flow-neutralised daily returns.

Annualisation uses sqrt(365), not the equity-market sqrt(252): bitcoin trades every calendar day,
and
the value series has one point per calendar day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np

from app.analytics.pricing import from_day64
from app.analytics.returns import DAYS_PER_YEAR

ANNUALISE = math.sqrt(DAYS_PER_YEAR)


def volatility(returns: np.ndarray) -> float | None:
    """Annualised volatility: sample standard deviation (ddof=1) of daily returns x sqrt(365)."""
    if len(returns) < 2:
        return None
    return float(np.std(returns, ddof=1) * ANNUALISE)


def sharpe_ratio(returns: np.ndarray, risk_free_rate: float = 0.0) -> float | None:
    """mean(r - rf/365) / std(r - rf/365, ddof=1) x sqrt(365); None when the std is 0."""
    if len(returns) < 2:
        return None
    excess = returns - risk_free_rate / DAYS_PER_YEAR
    sd = float(np.std(excess, ddof=1))
    if sd == 0.0:
        return None
    return float(np.mean(excess) / sd * ANNUALISE)


def sortino_ratio(returns: np.ndarray, risk_free_rate: float = 0.0) -> float | None:
    """mean(r - rf/365) / DD x sqrt(365) with the downside deviation
    DD = sqrt(mean(min(r - rf/365, 0)^2)) over all days; None when there was no down day."""
    if len(returns) < 2:
        return None
    excess = returns - risk_free_rate / DAYS_PER_YEAR
    downside = float(np.sqrt(np.mean(np.minimum(excess, 0.0) ** 2)))
    if downside == 0.0:
        return None
    return float(np.mean(excess) / downside * ANNUALISE)


@dataclass(frozen=True)
class Drawdown:
    value: float | None  # <= 0, e.g. -0.25 for a 25% fall from the peak; None without prices
    peak_date: date | None
    trough_date: date | None
    recovery_date: date | None  # None while not recovered


def wealth_index(returns: np.ndarray) -> np.ndarray:
    """W_0 = 1, W_t = prod_{i<=t} (1 + r_i): the growth of 1 unit with flows neutralised."""
    return np.concatenate(([1.0], np.cumprod(1.0 + returns)))


def drawdown_series(returns: np.ndarray) -> np.ndarray:
    """W_t / max_{i<=t} W_i - 1 for every day (length len(returns) + 1)."""
    w = wealth_index(returns)
    return w / np.maximum.accumulate(w) - 1.0


def max_drawdown(days: np.ndarray, returns: np.ndarray) -> Drawdown:
    """Largest peak-to-trough fall of the wealth index; ``days`` has len(returns) + 1 entries."""
    w = wealth_index(returns)
    peaks = np.maximum.accumulate(w)
    dd = w / peaks - 1.0
    trough = int(np.argmin(dd))
    if dd[trough] >= 0.0:
        return Drawdown(0.0, None, None, None)
    peak_level = peaks[trough]
    at_peak = np.nonzero(w[: trough + 1] >= peak_level)[0]
    peak = int(at_peak[-1])
    after = np.nonzero(w[trough + 1 :] >= peak_level)[0]
    recovery = from_day64(days[trough + 1 + int(after[0])]) if len(after) else None
    return Drawdown(float(dd[trough]), from_day64(days[peak]), from_day64(days[trough]), recovery)
