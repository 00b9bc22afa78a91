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
    start_value: float
    end_value: float
    net_flows: float
    time_weighted_return: float
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


def analyse(
    movements: Movements,
    prices: DailyPrices,
    start: date,
    end: date,
    risk_free_rate: float = 0.0,
) -> Performance:
    s = value_series(movements, prices, start, end)
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
        partial=s.partial,
        estimated_days=int(s.estimated.sum()),
        series=s,
        drawdowns=drawdown_series(r),
    )
