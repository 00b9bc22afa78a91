"""The bundled, offline daily BTC/USD history (``app/prices/data/btc-usd-daily.csv``).

Provenance (from the data README): real public exchange data taken from
https://github.com/mathaszip/BTCprice (``data/btc/daily/BTCUSD_1d_candles_full.csv``, commit
``34486739ac76``): Bitstamp BTC/USD 2011-08 to 2015-07-21, Coinbase BTC-USD from 2015-07-21,
resampled
to UTC days from 1-minute candles. Span 2011-08-18 .. 2025-09-23, 5,151 rows, no missing days,
floats
rounded to 8 decimals. sha256 ``cbc2f236e3d840fb387d07f9b5fa4d075f95c91a2e518d7435ca91660647e77f``.

Only ``close`` is used. Known anomalies kept in the file: 2017-04-15 ``low`` = 0.06 (bad Coinbase
print;
open/high/close are normal) and 2011-11-25 ``high`` = 15 (thin-market print).
"""

from __future__ import annotations

import bisect
import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from importlib import resources

import numpy as np

from app.prices.provider import DailyClose, Price, ProviderError

SOURCE = "bundled"


class BundledProvider:
    """Offline provider over the packaged CSV; USD only. ``spot`` is the last close (stale: see
    ``at``)."""

    name = SOURCE

    def __init__(self, text: str | None = None) -> None:
        if text is None:
            text = resources.files("app.prices").joinpath("data/btc-usd-daily.csv").read_text("utf-8")
        days: list[date] = []
        closes: list[Decimal] = []
        for row in csv.DictReader(io.StringIO(text)):
            days.append(date.fromisoformat(row["date"]))
            closes.append(Decimal(row["close"]))
        if not days:
            raise ValueError("bundled price file is empty")
        self.days = days
        self.closes = closes

    @property
    def first_day(self) -> date:
        return self.days[0]

    @property
    def last_day(self) -> date:
        return self.days[-1]

    def supports(self, currency: str) -> bool:
        return currency.upper() == "USD"

    def _check(self, currency: str) -> str:
        if currency.upper() != "USD":
            raise ProviderError(f"bundled history has no BTC/{currency.upper()}")
        return "USD"

    async def spot(self, currency: str) -> Price:
        cur = self._check(currency)
        at = datetime.combine(self.last_day + timedelta(days=1), time(0), UTC)
        return Price(cur, self.closes[-1], at, self.name)

    def close_on(self, day: date) -> Decimal | None:
        i = bisect.bisect_left(self.days, day)
        return self.closes[i] if i < len(self.days) and self.days[i] == day else None

    async def history(self, currency: str, start: date, end: date) -> list[DailyClose]:
        cur = self._check(currency)
        lo = bisect.bisect_left(self.days, start)
        hi = bisect.bisect_right(self.days, end)
        return [DailyClose(cur, self.days[i], self.closes[i], self.name) for i in range(lo, hi)]

    def as_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(days as datetime64[D], closes as float64) for the analytics."""
        return (
            np.array([d.isoformat() for d in self.days], dtype="datetime64[D]"),
            np.array([float(c) for c in self.closes], dtype=np.float64),
        )
