"""CoinGecko public API (v3).

- ``GET {coingecko_url}/simple/price?ids=bitcoin&vs_currencies=usd&include_last_updated_at=true`` ->
  ``{"bitcoin": {"usd": 67187.33, "last_updated_at": 1711356300}}``
- ``GET {coingecko_url}/coins/bitcoin/market_chart/range?vs_currency=usd&from=UNIX&to=UNIX`` ->
  ``{"prices": [[ms, price], ...], "market_caps": [[ms, cap], ...], "total_volumes": [[ms, vol],
  ...]}``.
  Ranges above 90 days come as one point a day (00:00 UTC); shorter ranges are hourly, from which
  the last point of each UTC day is taken as its close.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from app.prices.http import HttpProvider
from app.prices.provider import DailyClose, Price, ProviderError, day_start_unix, to_decimal


def api_key_header(base_url: str, key: str | None) -> dict[str, str]:
    """CoinGecko's key header: ``x-cg-pro-api-key`` for pro-api.coingecko.com, else the demo one."""
    if not key:
        return {}
    return {"x-cg-pro-api-key" if "pro-api." in base_url else "x-cg-demo-api-key": key}


class CoinGeckoProvider(HttpProvider):
    name = "coingecko"
    currencies = frozenset(
        {
            "USD",
            "EUR",
            "GBP",
            "JPY",
            "CHF",
            "CAD",
            "AUD",
            "NZD",
            "SEK",
            "NOK",
            "DKK",
            "PLN",
            "CZK",
            "HUF",
            "BRL",
            "MXN",
            "INR",
            "KRW",
            "CNY",
            "HKD",
            "SGD",
            "ZAR",
            "TRY",
            "ILS",
            "ARS",
        }
    )

    async def spot(self, currency: str) -> Price:
        cur = self._check(currency)
        data = await self.get_json(
            "/simple/price",
            {"ids": "bitcoin", "vs_currencies": cur.lower(), "include_last_updated_at": "true"},
        )
        try:
            entry = data["bitcoin"]
            value = entry[cur.lower()]
        except (KeyError, TypeError) as exc:
            raise ProviderError("coingecko: no bitcoin price in answer") from exc
        at = datetime.now(UTC)
        if entry.get("last_updated_at") is not None:
            at = datetime.fromtimestamp(int(entry["last_updated_at"]), UTC)
        return Price(cur, to_decimal(value, "coingecko price"), at, self.name)

    async def history(self, currency: str, start: date, end: date) -> list[DailyClose]:
        cur = self._check(currency)
        data = await self.get_json(
            "/coins/bitcoin/market_chart/range",
            {
                "vs_currency": cur.lower(),
                "from": day_start_unix(start),
                "to": day_start_unix(end + timedelta(days=1)),
            },
        )
        points = data.get("prices") if isinstance(data, dict) else None
        if not isinstance(points, list):
            raise ProviderError("coingecko: no prices in answer")
        today = datetime.now(UTC).date()
        daily = len(points) >= 2 and _is_daily(points)
        out: dict[date, DailyClose] = {}
        for point in points:
            if not isinstance(point, list) or len(point) < 2:
                raise ProviderError("coingecko: malformed price point")
            ts = datetime.fromtimestamp(int(point[0]) / 1000, UTC)
            # Daily points are stamped 00:00 UTC of the next day: they close the day before.
            day = (ts - timedelta(seconds=1)).date() if daily else ts.date()
            if start <= day <= end and day < today:
                out[day] = DailyClose(cur, day, to_decimal(point[1], "coingecko price"), self.name)
        return [out[d] for d in sorted(out)]


def _is_daily(points: list[list[object]]) -> bool:
    try:
        step = int(str(points[1][0])) - int(str(points[0][0]))
    except (ValueError, IndexError):
        return False
    return step >= 23 * 3600 * 1000
