"""Kraken public market data (no key).

- ``GET {kraken_url}/Ticker?pair=XBTUSD`` -> ``{"error": [], "result": {"XXBTZUSD": {"a": [price,
  whole, lot],
  "b": [...], "c": [last_price, lot_volume], "v": [...], "p": [...], "t": [...], "l": [...], "h":
  [...],
  "o": "open"}}}``
- ``GET {kraken_url}/OHLC?pair=XBTUSD&interval=1440&since=UNIX`` ->
  ``{"error": [], "result": {"XXBTZUSD": [[time, open, high, low, close, vwap, volume, count], ...],
  "last": UNIX}}``. Only the 720 most recent candles are served; the last one is the running day.

``kraken_url`` includes the ``/0/public`` prefix.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from app.prices.http import HttpProvider
from app.prices.provider import (
    DailyClose,
    Price,
    ProviderError,
    day_start_unix,
    to_decimal,
    utc_from_unix,
)


class KrakenProvider(HttpProvider):
    name = "kraken"
    currencies = frozenset({"USD", "EUR", "GBP", "CAD", "JPY", "CHF", "AUD"})

    @staticmethod
    def _result(data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise ProviderError("kraken: answer is not an object")
        if data.get("error"):
            raise ProviderError(f"kraken: {', '.join(map(str, data['error']))}")
        result = data.get("result")
        if not isinstance(result, dict):
            raise ProviderError("kraken: no result")
        return result

    @staticmethod
    def _pair_value(result: dict[str, Any]) -> Any:
        keys = [k for k in result if k != "last"]
        if not keys:
            raise ProviderError("kraken: result without pair")
        return result[keys[0]]

    async def spot(self, currency: str) -> Price:
        cur = self._check(currency)
        result = self._result(await self.get_json("/Ticker", {"pair": f"XBT{cur}"}))
        ticker = self._pair_value(result)
        try:
            last = ticker["c"][0]
        except (KeyError, IndexError, TypeError) as exc:
            raise ProviderError("kraken: ticker without last trade") from exc
        # Kraken's ticker carries no timestamp: the fetch time is the best staleness we have.
        return Price(cur, to_decimal(last, "kraken price"), datetime.now(UTC), self.name)

    async def history(self, currency: str, start: date, end: date) -> list[DailyClose]:
        cur = self._check(currency)
        result = self._result(
            await self.get_json("/OHLC", {"pair": f"XBT{cur}", "interval": 1440, "since": day_start_unix(start) - 1})
        )
        rows = self._pair_value(result)
        if not isinstance(rows, list):
            raise ProviderError("kraken: OHLC is not a list")
        today = datetime.now(UTC).date()
        out: dict[date, DailyClose] = {}
        for row in rows:
            if not isinstance(row, list) or len(row) < 5:
                raise ProviderError("kraken: malformed candle")
            day = utc_from_unix(row[0]).date()
            if start <= day <= end and day < today:  # the running day is not a close yet
                out[day] = DailyClose(cur, day, to_decimal(row[4], "kraken close"), self.name)
        return [out[d] for d in sorted(out)]
