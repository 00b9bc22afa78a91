"""Returns: days without a close, the shortest series, amounts below one unit of money, the
bisection fallback of XIRR for rates above 100 % a year, and immutable inputs.

Each figure is worked out by hand. (Written from the survivors of a mutation run of
app/analytics/returns.py: each test fails for a one-token change there.)"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest

from app.analytics.pricing import DailyPrices
from app.analytics.returns import (
    Movements,
    _bisect,
    money_weighted_return,
    value_series,
    xirr,
)

D0 = date(2024, 1, 1)
BTC = 100_000_000


def _gap_prices() -> DailyPrices:
    # closes on days 0 and 10 only; a gap of 9 days may not be estimated (max 3): days 1-9 have none
    return DailyPrices.from_pairs([(D0, Decimal(100)), (D0 + timedelta(days=10), Decimal(200))], max_gap_days=3)


def test_a_day_without_a_close_is_missing_only_when_something_is_held_or_moved() -> None:
    # nothing held until day 2 (1 BTC arrives: a flow on a day without a close), then held
    moves = Movements.from_rows([(D0 + timedelta(days=2), BTC, 0)])
    s = value_series(moves, _gap_prices(), D0, D0 + timedelta(days=3))
    assert s.balance_sats.tolist() == [0, 0, BTC, BTC]
    # day 1: no close but nothing held or moved: worth exactly 0, not unknown
    assert s.values[1] == 0.0 and s.flows[1] == 0.0
    # day 2: the flow needs the missing close; day 3: the holding does (no flow that day)
    assert np.isnan(s.values[2]) and np.isnan(s.flows[2])
    assert np.isnan(s.values[3]) and s.flows[3] == 0.0
    assert s.missing.tolist() == [False, False, True, True]
    assert s.partial


def test_a_payment_out_on_a_day_without_a_close_is_missing_even_when_the_balance_is_not() -> None:
    # 1 BTC held from day 0 (a close); on day 1 (no close) 0.5 BTC leave: the flow is unknown
    moves = Movements.from_rows([(D0, BTC, 0), (D0 + timedelta(days=1), -BTC // 2, 0)])
    s = value_series(moves, _gap_prices(), D0, D0 + timedelta(days=1))
    assert s.values[0] == 100.0 and s.flows[0] == 100.0
    assert np.isnan(s.flows[1])
    assert s.missing.tolist() == [False, True]


def test_mwr_of_the_shortest_series_two_days() -> None:
    # 100 on day 0, 100.01 on day 1, no flows: (1.0001) ** 365 - 1 a year
    got = money_weighted_return(np.array([100.0, 100.01]), np.array([0.0, 0.0]))
    assert got == pytest.approx(1.0001**365 - 1, rel=1e-9)


def test_xirr_of_amounts_below_one_unit() -> None:
    # 0.50 put in, 0.55 out a year later: 10 %
    assert xirr(np.array([-0.5, 0.55]), np.array([0.0, 365.0])) == pytest.approx(0.1)
    assert xirr(np.array([-0.5, 0.45]), np.array([0.0, 365.0])) == pytest.approx(-0.1)


@pytest.mark.parametrize("rate", [0.5, 4.0, 250.0])
def test_the_bisection_fallback_finds_the_rate_above_and_below_100_percent(rate: float) -> None:
    # -1 now, (1 + rate) a year later: the root is `rate`; the bracket starts at [-1, 1] and is
    # widened tenfold until the NPV changes sign
    a = np.array([-1.0, 1.0 + rate])
    y = np.array([0.0, 1.0])
    assert _bisect(a, y) == pytest.approx(rate, rel=1e-9)


def test_the_bisection_fallback_finds_a_loss_of_almost_everything() -> None:
    a = np.array([-1.0, 1e-4])  # 99.99 % lost in a year
    assert _bisect(a, np.array([0.0, 1.0])) == pytest.approx(-0.9999, rel=1e-9)


def test_the_bisection_fallback_without_a_sign_change_has_no_rate() -> None:
    assert _bisect(np.array([-1.0, -2.0]), np.array([0.0, 1.0])) is None


def test_movements_are_immutable_values() -> None:
    # the analytics cache keys on its inputs: a Movements must not change under it
    moves = Movements.from_rows([(D0, BTC, 0)])
    with pytest.raises(dataclasses.FrozenInstanceError):
        moves.net_sats = np.array([0], dtype=np.int64)  # type: ignore[misc]
