"""Coinbase Exchange public market data (no key).

- ``GET {coinbase_url}/products/BTC-USD/ticker`` ->
  ``{"ask": "...", "bid": "...", "volume": "...", "trade_id": 1, "price": "...", "size": "...",
  "time": "2024-03-20T10:00:00.123456Z"}``
- ``GET {coinbase_url}/products/BTC-USD/candles?granularity=86400&start=ISO&end=ISO`` ->
  ``[[time, low, high, open, close, volume], ...]`` newest first, at most 300 candles a request.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from app.prices.http import HttpProvider
from app.prices.provider import DailyClose, Price, ProviderError, to_decimal, utc_from_unix

MAX_CANDLES = 300


class CoinbaseProvider(HttpProvider):
    name = "coinbase"
    currencies = frozenset({"USD", "EUR", "GBP"})

    async def spot(self, currency: str) -> Price:
        cur = self._check(currency)
        data = await self.get_json(f"/products/BTC-{cur}/ticker")
        if not isinstance(data, dict) or "price" not in data:
            raise ProviderError("coinbase: ticker without price")
        at = datetime.now(UTC)
        if isinstance(data.get("time"), str):
            try:
                at = datetime.fromisoformat(data["time"].replace("Z", "+00:00"))
            except ValueError as exc:
                raise ProviderError(f"coinbase: malformed time {data['time']!r}") from exc
        return Price(cur, to_decimal(data["price"], "coinbase price"), at, self.name)

    async def history(self, currency: str, start: date, end: date) -> list[DailyClose]:
        cur = self._check(currency)
        out: dict[date, DailyClose] = {}
        chunk_start = start
        while chunk_start <= end:
            chunk_end = min(end, chunk_start + timedelta(days=MAX_CANDLES - 1))
            data = await self.get_json(
                f"/products/BTC-{cur}/candles",
                {
                    "granularity": 86400,
                    "start": f"{chunk_start.isoformat()}T00:00:00Z",
                    "end": f"{chunk_end.isoformat()}T23:59:59Z",
                },
            )
            if not isinstance(data, list):
                raise ProviderError("coinbase: candles are not a list")
            for row in data:
                if not isinstance(row, list) or len(row) < 6:
                    raise ProviderError("coinbase: malformed candle")
                day = utc_from_unix(row[0]).date()
                if start <= day <= end:
                    out[day] = DailyClose(cur, day, to_decimal(row[4], "coinbase close"), self.name)
            chunk_start = chunk_end + timedelta(days=1)
        return [out[d] for d in sorted(out)]
