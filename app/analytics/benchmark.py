"""Benchmarks for a timeframe: buy-and-hold of the starting value, and weekly DCA of the money put
in.

* Buy and hold: the value at the start of the timeframe kept in bitcoin with no further flows
  (undefined when the timeframe starts with nothing);
  return = ``P_N / P_0 - 1``; final value = ``V_0 x P_N / P_0``.
* DCA: the same money the user put in (the starting value plus every external deposit) bought in
  equal parts every 7 days from the first day (day 0, 7, 14, ...) and held to the end;
  return = ``final / invested - 1`` with ``final = sum(part / P_k) x P_N``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DCA_EVERY_DAYS = 7


@dataclass(frozen=True)
class BenchmarkResult:
    name: str
    return_: float | None
    invested: float
    final_value: float


def buy_and_hold(closes: np.ndarray, start_value: float) -> BenchmarkResult:
    if len(closes) == 0 or closes[0] <= 0 or start_value <= 0:
        # nothing held at the start: there is nothing to buy and hold
        return BenchmarkResult("Buy and hold", None, start_value, start_value)
    ratio = float(closes[-1] / closes[0])
    return BenchmarkResult("Buy and hold", ratio - 1.0, start_value, start_value * ratio)


def dca(closes: np.ndarray, start_value: float, flows: np.ndarray) -> BenchmarkResult:
    name = f"DCA every {DCA_EVERY_DAYS} days"
    deposits = float(np.sum(np.maximum(flows[1:], 0.0))) if len(flows) > 1 else 0.0
    invested = max(start_value, 0.0) + deposits
    if len(closes) == 0 or invested <= 0:
        return BenchmarkResult(name, None, invested, invested)
    buy_days = np.arange(0, len(closes), DCA_EVERY_DAYS)
    part = invested / len(buy_days)
    btc = float(np.sum(part / closes[buy_days]))
    final = btc * float(closes[-1])
    return BenchmarkResult(name, final / invested - 1.0, invested, final)
