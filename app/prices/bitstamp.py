"""Bitstamp HTTP API v2 public market data.

- ``GET {bitstamp_url}/ticker/btcusd/`` -> ``{"timestamp": "1711356300", "open": "...", "high":
  "...",
  "low": "...", "last": "67187", "volume": "...", "vwap": "...", "bid": "...", "ask": "...",
  "side": "0",
  "open_24": "...", "percent_change_24": "1.23"}``
- ``GET {bitstamp_url}/ohlc/btcusd/?step=86400&limit=1000&start=UNIX&end=UNIX`` ->
  ``{"data": {"pair": "BTC/USD", "ohlc": [{"timestamp": "...", "open": "...", "high": "...",
  "low": "...",
  "close": "...", "volume": "..."}, ...]}}`` (at most 1000 candles a request, oldest first).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from app.prices.http import HttpProvider
from app.prices.provider import (
    DailyClose,
    Price,
    ProviderError,
    day_start_unix,
    to_decimal,
    utc_from_unix,
)

MAX_CANDLES = 1000


class BitstampProvider(HttpProvider):
    name = "bitstamp"
    currencies = frozenset({"USD", "EUR", "GBP"})

    async def spot(self, currency: str) -> Price:
        cur = self._check(currency)
        data = await self.get_json(f"/ticker/btc{cur.lower()}/")
        if not isinstance(data, dict) or "last" not in data:
            raise ProviderError("bitstamp: ticker without last")
        at = utc_from_unix(data["timestamp"]) if "timestamp" in data else datetime.now(UTC)
        return Price(cur, to_decimal(data["last"], "bitstamp price"), at, self.name)

    async def history(self, currency: str, start: date, end: date) -> list[DailyClose]:
        cur = self._check(currency)
        today = datetime.now(UTC).date()
        out: dict[date, DailyClose] = {}
        chunk_start = start
        while chunk_start <= end:
            chunk_end = min(end, chunk_start + timedelta(days=MAX_CANDLES - 1))
            data = await self.get_json(
                f"/ohlc/btc{cur.lower()}/",
                {
                    "step": 86400,
                    "limit": MAX_CANDLES,
                    "start": day_start_unix(chunk_start),
                    "end": day_start_unix(chunk_end),
                },
            )
            try:
                rows = data["data"]["ohlc"]
            except (KeyError, TypeError) as exc:
                raise ProviderError("bitstamp: no ohlc in answer") from exc
            if not isinstance(rows, list):
                raise ProviderError("bitstamp: ohlc is not a list")
            for row in rows:
                if not isinstance(row, dict) or "timestamp" not in row or "close" not in row:
                    raise ProviderError("bitstamp: malformed candle")
                day = utc_from_unix(row["timestamp"]).date()
                if start <= day <= end and day < today:
                    out[day] = DailyClose(cur, day, to_decimal(row["close"], "bitstamp close"), self.name)
            chunk_start = chunk_end + timedelta(days=1)
        return [out[d] for d in sorted(out)]
