"""All performance figures of one timeframe in one call."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np

from app.analytics.benchmark import BenchmarkResult, buy_and_hold, dca
from app.analytics.pricing import DailyPrices
from app.analytics.returns import (
    Movements,
    ValueSeries,
    annualise,
    deannualise,
    money_weighted_return,
    period_returns,
    value_series,
)
from app.analytics.risk_metrics import (
    Drawdown,
    drawdown_series,
    max_drawdown,
    sharpe_ratio,
    sortino_ratio,
    volatility,
)


@dataclass(frozen=True)
class Performance:
    start: date
    end: date
    days: int
    start_value: float | None  # None: a price needed for it does not exist (see ``missing``)
    end_value: float | None
    net_flows: float | None
    time_weighted_return: float | None
    time_weighted_return_annualised: float | None
    money_weighted_return: float | None  # XIRR, annual rate
    money_weighted_return_period: float | None  # the XIRR over the period itself
    volatility: float | None
    sharpe_ratio: float | None
    sortino_ratio: float | None
    max_drawdown: Drawdown
    benchmarks: list[BenchmarkResult] = field(default_factory=list)
    partial: bool = False  # some closes were interpolated / carried from the nearest day
    estimated_days: int = 0
    series: ValueSeries | None = None
    drawdowns: np.ndarray | None = None
    missing: tuple[str, ...] = ()  # API names of the metrics that are null for lack of prices
    missing_days: int = 0  # days of the period whose value needs a close that does not exist


# every figure below needs the value of every day of the period
SERIES_METRICS = (
    "timeWeightedReturn",
    "timeWeightedReturnAnnualised",
    "moneyWeightedReturn",
    "moneyWeightedReturnPeriod",
    "volatility",
    "sharpeRatio",
    "sortinoRatio",
    "maxDrawdown",
    "benchmark",
)


def analyse(
    movements: Movements,
    prices: DailyPrices,
    start: date,
    end: date,
    risk_free_rate: float = 0.0,
) -> Performance:
    s = value_series(movements, prices, start, end)
    held = s.balance_sats != 0
    estimated_days = int((s.estimated & held & ~np.isnan(s.closes)).sum())
    gaps = s.missing
    if gaps.any():
        return _without_prices(s, start, end, estimated_days, int(gaps.sum()))
    r = period_returns(s.values, s.flows)
    twr = float(np.prod(1.0 + r) - 1.0) if len(r) else 0.0
    n_days = len(s) - 1
    mwr = money_weighted_return(s.values, s.flows)
    start_value = float(s.values[0])
    return Performance(
        start=start,
        end=end,
        days=n_days,
        start_value=start_value,
        end_value=float(s.values[-1]),
        net_flows=float(s.flows[1:].sum()),
        time_weighted_return=twr,
        time_weighted_return_annualised=annualise(twr, n_days),
        money_weighted_return=mwr,
        money_weighted_return_period=deannualise(mwr, n_days),
        volatility=volatility(r),
        sharpe_ratio=sharpe_ratio(r, risk_free_rate),
        sortino_ratio=sortino_ratio(r, risk_free_rate),
        max_drawdown=max_drawdown(s.days, r),
        benchmarks=[buy_and_hold(s.closes, start_value), dca(s.closes, start_value, s.flows)],
        partial=estimated_days > 0,
        estimated_days=estimated_days,
        series=s,
        drawdowns=drawdown_series(r),
    )


def _without_prices(s: ValueSeries, start: date, end: date, estimated_days: int, missing_days: int) -> Performance:
    """Some day's value needs a close that does not exist: every figure that needs the whole
    series is None (named in ``missing``); values that do not need the missing days stay."""
    missing: list[str] = []

    def known(x: float, name: str) -> float | None:
        if np.isnan(x):
            missing.append(name)
            return None
        return float(x)

    start_value = known(float(s.values[0]), "startValue")
    end_value = known(float(s.values[-1]), "endValue")
    net_flows = known(float(s.flows[1:].sum()), "netDeposits")
    return Performance(
        start=start,
        end=end,
        days=len(s) - 1,
        start_value=start_value,
        end_value=end_value,
        net_flows=net_flows,
        time_weighted_return=None,
        time_weighted_return_annualised=None,
        money_weighted_return=None,
        money_weighted_return_period=None,
        volatility=None,
        sharpe_ratio=None,
        sortino_ratio=None,
        max_drawdown=Drawdown(None, None, None, None),
        benchmarks=[],
        partial=estimated_days > 0,
        estimated_days=estimated_days,
        series=s,
        drawdowns=None,
        missing=(*missing, *SERIES_METRICS),
        missing_days=missing_days,
    )
