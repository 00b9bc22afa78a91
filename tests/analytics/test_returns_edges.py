"""Returns at their edges, each figure worked out by hand: movements after the window, values
below one unit of money, annualisation at and around one year, the XIRR cash-flow list, and XIRR
when the first cash flow is not on day 0. (Written from the survivors of a mutation run: each
test fails for a one-token change of app/analytics/returns.py.)"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest

from app.analytics.pricing import DailyPrices
from app.analytics.returns import (
    Movements,
    annualise,
    deannualise,
    money_weighted_return,
    period_returns,
    time_weighted_return,
    value_series,
    xirr,
    xirr_cash_flows,
)

D0 = date(2024, 1, 1)
BTC = 100_000_000


def test_movements_after_the_window_are_not_in_it() -> None:
    prices = DailyPrices.from_pairs([(D0 + timedelta(days=i), Decimal(100)) for i in range(5)])
    moves = Movements.from_rows([(D0, BTC, 0), (D0 + timedelta(days=3), BTC, 0)])  # day 3 is after the end
    s = value_series(moves, prices, D0, D0 + timedelta(days=2))
    assert s.balance_sats.tolist() == [BTC, BTC, BTC]
    assert s.flows.tolist() == [100.0, 0.0, 0.0]


def test_a_value_below_one_unit_still_has_a_return() -> None:
    # 0.5 -> 1.0 without flows is +100 %; a zero previous value gives 0 (nothing held)
    assert period_returns(np.array([0.5, 1.0]), np.array([0.0, 0.0])).tolist() == [1.0]
    assert period_returns(np.array([0.0, 1.0]), np.array([0.0, 1.0])).tolist() == [0.0]
    assert time_weighted_return(np.array([0.5, 0.75]), np.array([0.0, 0.0])) == pytest.approx(0.5)
    assert time_weighted_return(np.array([7.0]), np.array([0.0])) == 0.0


def test_annualise_from_one_year_on() -> None:
    assert annualise(0.5, 364) is None  # under a year: not meaningful
    assert annualise(0.5, 365) == pytest.approx(0.5)
    assert annualise(0.21, 730) == pytest.approx(0.1)  # 1.21 ** (365 / 730) - 1
    assert annualise(1.25, 730) == pytest.approx(0.5)  # more than +100 %: still compounded
    assert annualise(-0.19, 730) == pytest.approx(-0.1)  # 0.81 ** 0.5 - 1
    assert annualise(-1.0, 730) is None  # everything lost: no rate
    assert deannualise(0.1, 730) == pytest.approx(0.21)
    assert deannualise(None, 730) is None


def test_xirr_cash_flows_keep_the_first_day_and_drop_empty_days() -> None:
    # nothing held on days 0 and 1, 50 put in on day 2, worth 60 on day 3
    values = np.array([0.0, 0.0, 50.0, 60.0])
    flows = np.array([0.0, 0.0, 50.0, 0.0])
    amounts, offsets = xirr_cash_flows(values, flows)
    assert amounts.tolist() == [0.0, -50.0, 60.0]
    assert offsets.tolist() == [0.0, 2.0, 3.0]
    # an ordinary series: -V0 on day 0, -flows on flow days, +VN on the last day
    amounts, offsets = xirr_cash_flows(np.array([100.0, 105.0, 220.0]), np.array([0.0, 0.0, 100.0]))
    assert amounts.tolist() == [-100.0, 120.0] and offsets.tolist() == [0.0, 2.0]


def test_xirr_counts_years_from_the_first_cash_flow() -> None:
    assert xirr(np.array([-100.0, 110.0]), np.array([10.0, 375.0])) == pytest.approx(0.1)
    assert xirr(np.array([-100.0, 121.0]), np.array([400.0, 1130.0])) == pytest.approx(0.1)


def test_mwr_needs_two_days() -> None:
    assert money_weighted_return(np.array([100.0]), np.array([0.0])) is None
