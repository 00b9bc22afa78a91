"""A local HTTP server that serves the providers' recorded JSON shapes (and failures on demand)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).parent / "fixtures"

# path on the local server -> fixture file
ROUTES = {
    "/coinbase/products/BTC-USD/ticker": "coinbase_ticker.json",
    "/coinbase/products/BTC-USD/candles": "coinbase_candles.json",
    "/kraken/0/public/Ticker": "kraken_ticker.json",
    "/kraken/0/public/OHLC": "kraken_ohlc.json",
    "/coingecko/api/v3/simple/price": "coingecko_simple_price.json",
    "/coingecko/api/v3/coins/bitcoin/market_chart/range": "coingecko_market_chart_range.json",
    "/bitstamp/api/v2/ticker/btcusd/": "bitstamp_ticker.json",
    "/bitstamp/api/v2/ohlc/btcusd/": "bitstamp_ohlc.json",
}


@dataclass
class FakeApis:
    """``modes[provider] in {"ok", "500", "timeout", "malformed", "empty", "hold"}``; ``requests``
    records paths. ``hold`` keeps each request open (``held`` counts them) until ``release`` is set,
    then answers normally: a provider that is slow for exactly as long as a test needs."""

    url: str = ""
    modes: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    hang_s: float = 2.0
    release: threading.Event = field(default_factory=threading.Event)
    held: int = 0

    def settings_urls(self) -> dict[str, str]:
        return {
            "coinbase_url": f"{self.url}/coinbase",
            "kraken_url": f"{self.url}/kraken/0/public",
            "coingecko_url": f"{self.url}/coingecko/api/v3",
            "bitstamp_url": f"{self.url}/bitstamp/api/v2",
        }


@contextmanager
def serve_fake_apis() -> Iterator[FakeApis]:
    state = FakeApis()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            state.requests.append((parts.path, parse_qs(parts.query)))
            state.headers.append({k.lower(): v for k, v in self.headers.items()})
            provider = parts.path.split("/")[1]
            mode = state.modes.get(provider, "ok")
            fixture = ROUTES.get(parts.path)
            if fixture is None:
                return self._send(404, b'{"message":"NotFound"}')
            if mode == "500":
                return self._send(500, b'{"message":"Internal server error"}')
            if mode == "hold":
                state.held += 1
                state.release.wait(120)  # bounded: a test that forgets to release still ends
            elif mode == "timeout":
                time.sleep(state.hang_s)
                return self._send(504, b"{}")
            if mode == "malformed":
                return self._send(200, b'{"price": "not-a-number", "result": {"X": [[1, "a"]]}, "bitcoin": 3')
            if mode == "empty":
                return self._send(200, b"{}")
            return self._send(200, (FIXTURES / fixture).read_bytes())

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

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
