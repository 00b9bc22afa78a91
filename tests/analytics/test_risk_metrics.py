"""Volatility, Sharpe, Sortino, drawdown and benchmarks against hand calculations."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pytest

from app.analytics.benchmark import buy_and_hold, dca
from app.analytics.risk_metrics import max_drawdown, sharpe_ratio, sortino_ratio, volatility

R = np.array([0.02, -0.01, 0.03, -0.02])
SQRT365 = math.sqrt(365)  # = 19.104973...


def test_volatility_by_hand() -> None:
    # mean = (0.02 - 0.01 + 0.03 - 0.02) / 4 = 0.005
    # deviations 0.015, -0.015, 0.025, -0.025 -> squares 0.000225 x2 + 0.000625 x2 = 0.0017
    # sample variance 0.0017 / 3 = 0.000566667; sd = 0.0238048; x sqrt(365) = 0.454790
    assert volatility(R) == pytest.approx(math.sqrt(0.0017 / 3) * SQRT365)
    assert volatility(R) == pytest.approx(0.454790, abs=1e-6)


def test_sharpe_by_hand() -> None:
    # rf = 0: 0.005 / 0.02380476 = 0.2100420 x 19.104973 = 4.012847
    assert sharpe_ratio(R) == pytest.approx(0.005 / math.sqrt(0.0017 / 3) * SQRT365)
    assert sharpe_ratio(R) == pytest.approx(4.012847, abs=1e-6)
    # rf = 3.65% a year = 0.0001 a day: excess mean 0.0049, same sd -> 3.932598
    assert sharpe_ratio(R, 0.0365) == pytest.approx(0.0049 / math.sqrt(0.0017 / 3) * SQRT365)


def test_sortino_by_hand() -> None:
    # downside min(r, 0) = 0, -0.01, 0, -0.02 -> squares 0.0001 + 0.0004 = 0.0005, / 4 days = 0.000125
    # DD = sqrt(0.000125) = 0.0111803; 0.005 / 0.0111803 x 19.104973 = 8.544004
    assert sortino_ratio(R) == pytest.approx(0.005 / math.sqrt(0.000125) * SQRT365)
    assert sortino_ratio(R) == pytest.approx(8.544004, abs=1e-6)


def test_ratios_undefined_without_variation() -> None:
    flat = np.zeros(10)
    assert volatility(flat) == 0.0
    assert sharpe_ratio(flat) is None
    assert sortino_ratio(np.full(5, 0.01)) is None  # never a down day
    assert volatility(np.array([0.1])) is None  # one return: no sample deviation


def days(n: int) -> np.ndarray:
    return np.arange(np.datetime64("2024-01-01"), np.datetime64("2024-01-01") + n)


def test_max_drawdown_by_hand() -> None:
    # closes 100, 120, 90, 60, 130, 110 (1 BTC held): peak 120 on day 1, trough 60 on day 3:
    # 60/120 - 1 = -0.5; first close >= 120 after the trough: 130 on day 4 -> recovery day 4
    closes = np.array([100, 120, 90, 60, 130, 110], dtype=float)
    r = closes[1:] / closes[:-1] - 1
    dd = max_drawdown(days(6), r)
    d0 = date(2024, 1, 1)
    assert dd.value == pytest.approx(-0.5)
    assert (dd.peak_date, dd.trough_date, dd.recovery_date) == (
        d0 + timedelta(days=1),
        d0 + timedelta(days=3),
        d0 + timedelta(days=4),
    )


def test_max_drawdown_not_recovered() -> None:
    # 100, 80, 90: peak day 0, trough day 1 (-20%), 90 < 100 -> not recovered
    closes = np.array([100, 80, 90], dtype=float)
    dd = max_drawdown(days(3), closes[1:] / closes[:-1] - 1)
    assert dd.value == pytest.approx(-0.2)
    assert dd.recovery_date is None
    assert dd.peak_date == date(2024, 1, 1)


def test_max_drawdown_picks_the_deepest_of_two() -> None:
    # 100, 90 (-10%), 110, 77 (-30% from 110), 105: the deepest is 110 -> 77
    closes = np.array([100, 90, 110, 77, 105], dtype=float)
    dd = max_drawdown(days(5), closes[1:] / closes[:-1] - 1)
    assert dd.value == pytest.approx(-0.3)
    assert dd.peak_date == date(2024, 1, 3) and dd.trough_date == date(2024, 1, 4)


def test_buy_and_hold_by_hand() -> None:
    # 1000 at a close of 100 -> 10 BTC; end close 110 -> 1100: +10%
    res = buy_and_hold(np.array([100, 120, 90, 60, 130, 110], dtype=float), 1000.0)
    assert res.return_ == pytest.approx(0.10)
    assert res.final_value == pytest.approx(1100)


def test_dca_by_hand() -> None:
    # 8 days, buys on day 0 and day 7 (every 7 days); 1000 start value + a 500 deposit on day 3
    # = 1500 invested, 750 per buy: 750/100 + 750/250 = 7.5 + 3 = 10.5 BTC x 250 = 2625 -> +75%
    closes = np.array([100, 120, 130, 140, 150, 160, 170, 250], dtype=float)
    flows = np.array([0, 0, 0, 500, 0, 0, 0, 0], dtype=float)
    res = dca(closes, 1000.0, flows)
    assert res.invested == pytest.approx(1500)
    assert res.final_value == pytest.approx(2625)
    assert res.return_ == pytest.approx(0.75)


def test_dca_with_nothing_invested() -> None:
    res = dca(np.array([100.0, 110.0]), 0.0, np.zeros(2))
    assert res.return_ is None
