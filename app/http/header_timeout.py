"""A request-header read timeout for uvicorn, which has none of its own (slowloris).

uvicorn times out idle keep-alive connections, but a connection that sends its request line and
headers a byte at a time, or nothing at all after connecting, is kept open indefinitely. This
protocol (uvicorn's httptools protocol plus one timer) closes a connection whose headers are not
complete ``timeout_s`` after the connection opened or the next request's first byte arrived,
the same rule as nginx's ``client_header_timeout``. Bodies are timed by
:mod:`app.http.timeouts` and keep-alive by uvicorn.

``mbf serve`` passes the class to uvicorn (``http=``); every worker process sets
``timeout_s`` from its settings in :func:`app.main.create_app`, since workers are separate
processes that import the class afresh.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools HTTP protocol with a timer on reading each request's headers."""

    timeout_s: ClassVar[float] = 10.0

    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.timeout_s, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.abort()  # nothing to flush: no response was started
