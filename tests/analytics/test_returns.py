"""Returns, value series and XIRR against hand calculations."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest

from app.analytics.performance import analyse
from app.analytics.pricing import DailyPrices, NoPriceData
from app.analytics.returns import (
    Movements,
    money_weighted_return,
    period_returns,
    time_weighted_return,
    value_series,
    xirr,
)

D0 = date(2024, 1, 1)
BTC = 100_000_000


def prices_from(closes: list[float], start: date = D0) -> DailyPrices:
    return DailyPrices.from_pairs([(start + timedelta(days=i), Decimal(str(c))) for i, c in enumerate(closes)])


def test_value_series_and_twr_neutralise_a_deposit() -> None:
    # closes 100, 110, 99, 120; 1 BTC held from before the start, 1 BTC deposited on day 2.
    # V = 100, 110, 2*99 = 198, 2*120 = 240; the deposit F_2 = 1 BTC x 99 = 99.
    # r1 = 110/100 - 1 = 0.10; r2 = (198 - 99)/110 - 1 = -0.10; r3 = 240/198 - 1 = 0.2121...
    # TWR = 1.1 x 0.9 x 240/198 - 1 = 0.99 x 1.2121... - 1 = 0.20 (= the price return 120/100 - 1)
    prices = prices_from([100, 110, 99, 120])
    mv = Movements.from_rows([(D0 - timedelta(days=5), BTC, 0), (D0 + timedelta(days=2), BTC, 0)])
    s = value_series(mv, prices, D0, D0 + timedelta(days=3))
    assert s.balance_sats.tolist() == [BTC, BTC, 2 * BTC, 2 * BTC]
    assert s.values.tolist() == pytest.approx([100, 110, 198, 240])
    assert s.flows.tolist() == pytest.approx([0, 0, 99, 0])
    assert period_returns(s.values, s.flows).tolist() == pytest.approx([0.1, -0.1, 240 / 198 - 1])
    assert time_weighted_return(s.values, s.flows) == pytest.approx(0.20)
    assert not s.partial


def test_fee_is_a_loss_not_a_flow() -> None:
    # 1 BTC at a flat 100; on day 1 a self-transfer pays a 1,000,000 sat fee (0.01 BTC = 1.00).
    # V = 100, 99; the fee is not an external flow, so r1 = 99/100 - 1 = -0.01.
    prices = prices_from([100, 100])
    mv = Movements.from_rows([(D0 - timedelta(days=1), BTC, 0), (D0 + timedelta(days=1), -1_000_000, 1_000_000)])
    s = value_series(mv, prices, D0, D0 + timedelta(days=1))
    assert s.flows.tolist() == [0, 0]
    assert time_weighted_return(s.values, s.flows) == pytest.approx(-0.01)


def test_withdrawal_is_a_flow() -> None:
    # 2 BTC at 100 then 150; on day 1 0.5 BTC is sent away plus a 0.01 BTC fee.
    # V0 = 200; V1 = 1.49 x 150 = 223.5; F1 = -0.5 x 150 = -75.
    # r1 = (223.5 + 75)/200 - 1 = 0.4925 (the price return 0.5 minus the fee 0.01 x 150 / 200 = 0.0075)
    prices = prices_from([100, 150])
    mv = Movements.from_rows([(D0, 2 * BTC, 0), (D0 + timedelta(days=1), -(BTC // 2) - 1_000_000, 1_000_000)])
    s = value_series(mv, prices, D0, D0 + timedelta(days=1))
    assert s.values.tolist() == pytest.approx([200, 223.5])
    # (the 2 BTC arriving on day 0 are part of the starting value, not a flow of the period)
    assert s.flows.tolist() == pytest.approx([200, -75])
    assert time_weighted_return(s.values, s.flows) == pytest.approx(0.4925)


def test_xirr_matches_the_spreadsheet_reference_example() -> None:
    # The classic XIRR example (spreadsheet documentation): -10000 on 2008-01-01, 2750 on 2008-03-01,
    # 4250 on 2008-10-30, 3250 on 2009-02-15, 2750 on 2009-04-01 -> 0.373362535 (37.34%).
    # Day offsets: Jan 31 + Feb 29 = 60; to Oct 30 = 303; to 2009-02-15 = 411; to 2009-04-01 = 456.
    amounts = np.array([-10000, 2750, 4250, 3250, 2750], dtype=float)
    days = np.array([0, 60, 303, 411, 456], dtype=float)
    assert xirr(amounts, days) == pytest.approx(0.373362535, abs=1e-8)


@pytest.mark.parametrize(
    ("amounts", "days", "expected"),
    [
        # -1000 now, +1100 in 365 days -> 10% a year exactly
        ([-1000, 1100], [0, 365], 0.10),
        # -100 now, +1 in a year -> -99%
        ([-100, 1], [0, 365], -0.99),
        # doubling in 10 days -> 2^(365/10) - 1 (far from Newton's start: bisection territory)
        ([-100, 200], [0, 10], 2**36.5 - 1),
        # -1000, -1000 after half a year, +2200 after a year: (1+r) + (1+r)^0.5 = 2.2
        # -> let x = (1+r)^0.5: x^2 + x - 2.2 = 0 -> x = (-1 + sqrt(9.8))/2 = 1.065247584 -> r = 0.134752...
        ([-1000, -1000, 2200], [0, 182.5, 365], ((-1 + 9.8**0.5) / 2) ** 2 - 1),
    ],
)
def test_xirr_hand_cases(amounts: list[float], days: list[float], expected: float) -> None:
    got = xirr(np.array(amounts, dtype=float), np.array(days, dtype=float))
    assert got == pytest.approx(expected, rel=1e-7)


def test_xirr_undefined_when_no_sign_change() -> None:
    assert xirr(np.array([100.0, 200.0]), np.array([0.0, 10.0])) is None
    assert xirr(np.array([-100.0]), np.array([0.0])) is None


def test_mwr_of_a_value_series_with_missing_price_days() -> None:
    # Only two closes are known: 1000 on day 0 and 1100 on day 365. Days between are interpolated
    # (and marked). Holding 1 BTC: cash flows -1000 (day 0), +1100 (day 365) -> XIRR = 10%.
    prices = DailyPrices.from_pairs([(D0, Decimal(1000)), (D0 + timedelta(days=365), Decimal(1100))])
    mv = Movements.from_rows([(D0, BTC, 0)])
    s = value_series(mv, prices, D0, D0 + timedelta(days=365))
    assert s.partial and int(s.estimated.sum()) == 364
    assert s.closes[1] == pytest.approx(1000 + 100 / 365)  # linear interpolation
    assert money_weighted_return(s.values, s.flows) == pytest.approx(0.10, rel=1e-9)


def test_mwr_differs_from_twr_when_timing_matters() -> None:
    # Known closes 100 (day 0), 200 (day 100), 100 (day 200); days between are interpolated.
    # 1 BTC held from day 0; another BTC deposited on day 100 at 200 (F = 200).
    # TWR: x2 to day 100, then 400 -> 200 on 2 BTC: x0.5 -> 2 x 0.5 - 1 = 0.
    # MWR: -100 (d0), -200 (d100), +200 (d200). With v = (1+r)^(-100/365):
    # -100 - 200 v + 200 v^2 = 0 -> v = (200 + sqrt(120000)) / 400 = 1.3660254
    # -> 1 + r = v^(-3.65) = exp(-3.65 x 0.3119054) = 0.320314 -> r = -0.679686
    prices = DailyPrices.from_pairs(
        [(D0, Decimal(100)), (D0 + timedelta(days=100), Decimal(200)), (D0 + timedelta(days=200), Decimal(100))]
    )
    mv = Movements.from_rows([(D0, BTC, 0), (D0 + timedelta(days=100), BTC, 0)])
    s = value_series(mv, prices, D0, D0 + timedelta(days=200))
    assert time_weighted_return(s.values, s.flows) == pytest.approx(0.0, abs=1e-12)
    v = (200 + 120000**0.5) / 400
    assert money_weighted_return(s.values, s.flows) == pytest.approx(v ** (-3.65) - 1, rel=1e-9)
    assert money_weighted_return(s.values, s.flows) == pytest.approx(-0.679686, abs=1e-6)


def test_timeframe_before_the_first_transaction_starts_at_zero() -> None:
    prices = prices_from([100, 100, 100, 120, 120])
    mv = Movements.from_rows([(D0 + timedelta(days=2), BTC, 0)])
    perf = analyse(mv, prices, D0, D0 + timedelta(days=4))
    # V = 0, 0, 100, 120, 120: days with no capital return 0; then 100 -> 120 = +20%
    assert perf.start_value == 0
    assert perf.time_weighted_return == pytest.approx(0.20)
    # money: -100 on day 2, +120 on day 4 -> (1.2)^(365/2) - 1
    assert perf.money_weighted_return == pytest.approx(1.2 ** (365 / 2) - 1, rel=1e-6)
    assert perf.money_weighted_return_period == pytest.approx(1.2 ** (4 / 2) - 1, rel=1e-6)


def test_empty_portfolio_is_all_zero_never_a_crash() -> None:
    prices = prices_from([100, 110, 90])
    perf = analyse(Movements.empty(), prices, D0, D0 + timedelta(days=2))
    assert perf.start_value == perf.end_value == 0
    assert perf.time_weighted_return == 0
    assert perf.money_weighted_return is None
    assert perf.volatility == 0.0
    assert perf.sharpe_ratio is None and perf.sortino_ratio is None
    assert perf.max_drawdown.value == 0 and perf.max_drawdown.peak_date is None


def test_no_price_at_all_is_a_clear_error() -> None:
    with pytest.raises(NoPriceData):
        DailyPrices.from_pairs([])


def test_interpolation_marks_days_and_carries_edges() -> None:
    prices = DailyPrices.from_pairs([(D0 + timedelta(days=1), Decimal(100)), (D0 + timedelta(days=3), Decimal(120))])
    _days, closes, est = prices.on_calendar(D0, D0 + timedelta(days=4))
    # day 0: before the first known close -> carried back (100); day 2 midway -> 110; day 4 -> carried 120
    assert closes.tolist() == [100, 100, 110, 120, 120]
    assert est.tolist() == [True, False, True, False, True]
    assert prices.close_on(D0 + timedelta(days=2)) == (Decimal("110.0"), True)
    assert prices.close_on(D0 + timedelta(days=1)) == (Decimal(100), False)


# ---- properties -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_property_flat_price_with_deposits_has_zero_twr(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 200
    prices = prices_from([30_000.0] * n)
    rows = [
        (D0 + timedelta(days=int(d)), int(a), 0)
        for d, a in zip(rng.integers(0, n, 40), rng.integers(1_000, 50_000_000, 40), strict=True)
    ]
    perf = analyse(Movements.from_rows(rows), prices, D0, D0 + timedelta(days=n - 1))
    assert perf.time_weighted_return == pytest.approx(0.0, abs=1e-12)
    assert perf.volatility == pytest.approx(0.0, abs=1e-12)
    assert perf.max_drawdown.value == pytest.approx(0.0, abs=1e-12)
    if perf.money_weighted_return is not None:
        assert perf.money_weighted_return == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_property_twr_equals_price_return_whatever_the_deposits(seed: int) -> None:
    # Any history of deposits and withdrawals (no fees) that never empties the portfolio earns
    # exactly the price return P_N / P_0 - 1 in time-weighted terms.
    rng = np.random.default_rng(seed)
    n = 120
    closes = list(20_000 * np.exp(np.cumsum(rng.normal(0, 0.03, n))))
    prices = prices_from([round(c, 2) for c in closes])
    rows = [(D0 - timedelta(days=1), 10 * BTC, 0)]
    rows += [
        (D0 + timedelta(days=int(d)), int(a), 0)
        for d, a in zip(rng.integers(1, n, 30), rng.integers(-BTC // 10, BTC, 30), strict=True)
    ]
    perf = analyse(Movements.from_rows(rows), prices, D0, D0 + timedelta(days=n - 1))
    s = perf.series
    assert s is not None and (s.balance_sats > 0).all()
    assert perf.time_weighted_return == pytest.approx(s.closes[-1] / s.closes[0] - 1, rel=1e-9)
    assert perf.benchmarks[0].return_ == pytest.approx(perf.time_weighted_return, rel=1e-9)
