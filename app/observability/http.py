"""The ``/metrics`` route, WebSocket connection counting, and the per-worker gauge sampler.

Protection, as the operator chooses (docs/operations.md):
- ``MBF_METRICS_PORT``: ``mbf serve`` serves the metrics on that port (bind it to a private
  interface or network policy); the main port's ``/metrics`` is then not routed at all.
- ``MBF_METRICS_TOKEN``: ``/metrics`` on the main port needs ``Authorization: Bearer <token>``.
- Neither: open in development; refused (403 with a hint) in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
from collections.abc import Callable

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings
from app.http.errors import error_response
from app.observability import exposition
from app.observability.metrics import SUBSCRIPTIONS_ACTIVE, WEBSOCKET_CONNECTIONS
from app.security.tokens import bearer_from_header

log = structlog.get_logger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class WebSocketGauge:
    """Pure ASGI middleware: counts WebSocket connections from accept to the end of the socket."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        accepted = False

        async def counting_send(message: Message) -> None:
            nonlocal accepted
            if message["type"] == "websocket.accept" and not accepted:
                accepted = True
                WEBSOCKET_CONNECTIONS.inc()
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            if accepted:
                WEBSOCKET_CONNECTIONS.dec()


class Sampler:
    """Sets the gauges that are read from live state (running subscriptions) every ``interval_s``.

    Each worker samples its own state; multiprocess mode sums the workers' values.
    """

    def __init__(self, subscriptions: Callable[[], int], interval_s: float = 5.0) -> None:
        self._subscriptions = subscriptions
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> None:
        try:
            SUBSCRIPTIONS_ACTIVE.set(self._subscriptions())
        except Exception:  # a metric must never break the server
            log.exception("metrics_sample_failed")

    async def start(self) -> None:
        self.sample()
        self._task = asyncio.create_task(self._loop(), name="metrics-sampler")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            self.sample()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        SUBSCRIPTIONS_ACTIVE.set(0)
        exposition.mark_dead(os.getpid())


def metrics_route_enabled(settings: Settings) -> bool:
    """With a separate metrics port, the main port does not serve /metrics at all."""
    return settings.metrics_port is None


async def metrics_endpoint(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    request_id = (request.scope.get("state") or {}).get("request_id")
    if settings.metrics_token is not None:
        given = bearer_from_header(request.headers.get("authorization")) or ""
        if not hmac.compare_digest(given.encode(), settings.metrics_token.get_secret_value().encode()):
            response = error_response(
                401, "/metrics needs the bearer token of MBF_METRICS_TOKEN.", "UNAUTHENTICATED", request_id
            )
            response.headers["www-authenticate"] = 'Bearer realm="metrics"'
            return response
    elif settings.is_production:
        return error_response(
            403,
            "/metrics is not public in production: set MBF_METRICS_TOKEN (bearer token) or MBF_METRICS_PORT "
            "(a separate port).",
            "FORBIDDEN",
            request_id,
        )
    sampler: Sampler | None = getattr(request.app.state, "metrics_sampler", None)
    if sampler is not None:
        sampler.sample()
    body = exposition.render(request.app.state.metrics_registry)
    return Response(body, media_type=CONTENT_TYPE)
