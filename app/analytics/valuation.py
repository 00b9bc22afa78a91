"""The value of every day of a period as Decimal money (what value history, reports and their
tables show): balance x the day's close, flows at the close, estimated and missing days flagged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from app.analytics.performance import Performance
from app.analytics.pricing import DailyPrices, from_day64

SATS = Decimal(100_000_000)


@dataclass(frozen=True)
class ValuePoint:
    day: date
    balance: int
    price: Decimal | None  # None: no close within the allowed gap
    value: Decimal | None  # None: a price is missing and something was held
    estimated: bool
    missing: bool = False
    flow: Decimal | None = Decimal(0)  # external flows of the day at its close


def value_points(perf: Performance, prices: DailyPrices) -> list[ValuePoint]:
    """Balance, price, value and flow of every day of a performance series, as Decimal money."""
    s = perf.series
    if s is None:
        return []
    cent = Decimal("0.01")
    out: list[ValuePoint] = []
    for d, b, c, e, f in zip(s.days, s.balance_sats, s.closes, s.estimated, s.flows, strict=True):
        day = from_day64(d)
        if c != c:  # NaN: no close within the allowed gap
            value = Decimal(0).quantize(cent) if int(b) == 0 else None
            flow = Decimal(0).quantize(cent) if f == 0 else None
            out.append(ValuePoint(day, int(b), None, value, True, True, flow))
            continue
        exact = None if e else prices.exact.get(day)
        price = exact if exact is not None else Decimal(str(round(float(c), 2)))
        value = (price * int(b) / SATS).quantize(cent)
        flow = Decimal(str(round(float(f), 2))).quantize(cent)
        out.append(ValuePoint(day, int(b), price, value, bool(e), False, flow))
    return out
