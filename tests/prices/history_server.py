"""A local HTTP server answering the providers' daily-history endpoints for any range asked, in
the shapes their documentation gives (the fixed fixtures in ``server.py`` only cover October 2025):

- Coinbase Exchange ``GET /products/BTC-{CUR}/candles?granularity=86400&start=ISO&end=ISO`` ->
  ``[[time, low, high, open, close, volume], ...]`` newest first, numbers; ticker
  ``GET /products/BTC-{CUR}/ticker`` -> ``{"trade_id", "price", "size", "time", "bid", "ask", "volume"}``.
- Kraken ``GET /0/public/OHLC?pair=XBT{CUR}&interval=1440&since=UNIX`` ->
  ``{"error": [], "result": {"XXBTZ{CUR}": [[time, "open", "high", "low", "close", "vwap", "volume",
  count], ...], "last": UNIX}}`` with at most the 720 latest candles, the running day included;
  ticker ``GET /0/public/Ticker?pair=XBT{CUR}`` -> ``{"error": [], "result": {"XXBTZ{CUR}": {"c":
  ["last", "lot"], ...}}}``.

The close of day ``d`` in currency ``c`` is :func:`close_of` (deterministic, so tests can check what
was stored). ``modes[provider] = "500"`` makes a provider fail.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

RATE = {"USD": 1, "EUR": Decimal("0.92"), "GBP": Decimal("0.79"), "CHF": Decimal("0.88"),
        "JPY": Decimal("150"), "CAD": Decimal("1.37"), "AUD": Decimal("1.52")}  # fmt: skip
KRAKEN_PAIR = {"USD": "XXBTZUSD", "EUR": "XXBTZEUR", "GBP": "XXBTZGBP", "CHF": "XBTCHF",
               "JPY": "XXBTZJPY", "CAD": "XXBTZCAD", "AUD": "XBTAUD"}  # fmt: skip
KRAKEN_MAX = 720


def close_of(day: date, currency: str = "USD") -> Decimal:
    """The served close of ``day``: a wavy series around 100,000 USD, converted at a fixed rate."""
    usd = Decimal(100_000 + (day.toordinal() % 97) * 125) + Decimal("0.25")
    return (usd * Decimal(RATE[currency])).quantize(Decimal("0.01"))


def _unix(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())


@dataclass
class HistoryApis:
    url: str = ""
    modes: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)

    def settings(self) -> dict[str, object]:
        return {
            "price_providers": ["coinbase", "kraken"],
            "coinbase_url": f"{self.url}/coinbase",
            "kraken_url": f"{self.url}/kraken/0/public",
        }


def _coinbase(path: str, q: dict[str, list[str]]) -> object | None:
    parts = path.split("/")  # ['', 'coinbase', 'products', 'BTC-USD', 'candles']
    if len(parts) != 5 or parts[2] != "products" or not parts[3].startswith("BTC-"):
        return None
    cur = parts[3][4:]
    if cur not in RATE:
        return {"message": "NotFound"}
    today = datetime.now(UTC).date()
    if parts[4] == "ticker":
        p = close_of(today, cur)
        return {"ask": str(p + 1), "bid": str(p - 1), "volume": "5432.1", "trade_id": 86326522, "price": str(p),
                "size": "0.0015", "time": datetime.now(UTC).isoformat().replace("+00:00", "Z")}  # fmt: skip
    if parts[4] != "candles":
        return None
    start = date.fromisoformat(q["start"][0][:10])
    end = min(date.fromisoformat(q["end"][0][:10]), today)
    out = []
    d = end
    while d >= start and len(out) < 300:
        c = float(close_of(d, cur))
        out.append([_unix(d), round(c * 0.98, 2), round(c * 1.02, 2), round(c * 0.99, 2), c, 1234.56789])
        d -= timedelta(days=1)
    return out


def _kraken(path: str, q: dict[str, list[str]]) -> object | None:
    endpoint = path.rsplit("/", 1)[-1]
    cur = q.get("pair", [""])[0].removeprefix("XBT")
    if cur not in RATE:
        return {"error": ["EQuery:Unknown asset pair"]}
    pair = KRAKEN_PAIR[cur]
    today = datetime.now(UTC).date()
    if endpoint == "Ticker":
        p = str(close_of(today, cur))
        return {"error": [], "result": {pair: {"a": [p, "1", "1.000"], "b": [p, "2", "2.000"], "c": [p, "0.001"],
                                               "v": ["100", "2000"], "p": [p, p], "t": [10, 200],
                                               "l": [p, p], "h": [p, p], "o": p}}}  # fmt: skip
    if endpoint != "OHLC":
        return None
    since = datetime.fromtimestamp(int(q.get("since", ["0"])[0]), UTC).date()
    first = max(since, today - timedelta(days=KRAKEN_MAX - 1))
    rows = []
    d = first
    while d <= today:  # the running day is included, as Kraken does
        c = str(close_of(d, cur))
        rows.append([_unix(d), c, c, c, c, c, "12.34567890", 321])
        d += timedelta(days=1)
    return {"error": [], "result": {pair: rows, "last": _unix(today)}}


@contextmanager
def serve_history_apis() -> Iterator[HistoryApis]:
    state = HistoryApis()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            q = parse_qs(parts.query)
            state.requests.append((parts.path, q))
            provider = parts.path.split("/")[1]
            if state.modes.get(provider) == "500":
                return self._send(500, {"message": "Internal server error"})
            answer = _coinbase(parts.path, q) if provider == "coinbase" else _kraken(parts.path, q)
            if answer is None:
                return self._send(404, {"message": "NotFound"})
            self._send(200, answer)

        def _send(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
