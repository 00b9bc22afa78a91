"""The ASGI application factory (``app.main:create_app``) and its lifespan."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator

import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Mount, Route, WebSocketRoute

from app.config import Settings, load_settings
from app.container import Container
from app.graphql_schema import build_schema
from app.http.connection_abort import ConnectionAbortMiddleware
from app.http.errors import internal_error
from app.http.graphiql import STATIC_URL, GraphiQLAssets
from app.http.graphql import GraphQLApp, live_subscription_count
from app.http.header_timeout import HeaderTimeoutProtocol
from app.http.health import healthz, readyz
from app.http.lightning_backup import download_channel_backup
from app.http.middleware import BodyLimitMiddleware, RequestContextMiddleware
from app.http.psbt import download_psbt
from app.http.reports import download_report
from app.http.security_headers import SecurityHeadersMiddleware
from app.http.timeouts import BodyReadTimeoutMiddleware
from app.logging import configure_logging
from app.observability import exposition, metrics, tracing
from app.observability.http import Sampler, WebSocketGauge, metrics_endpoint, metrics_route_enabled
from subscriptions.registry import LiveConnections

log = structlog.get_logger(__name__)


def cors_middleware(settings: Settings) -> Middleware:
    """Exact origins from ``MBF_CORS_ORIGINS``; bearer tokens, so no credentials mode (cookies
    are never read); preflights cached ``MBF_CORS_MAX_AGE_S``. WebSockets: ``app/http/graphql.py``."""
    return Middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        expose_headers=["X-Request-ID"],
        allow_credentials=False,
        max_age=settings.cors_max_age_s,
    )


def create_app(settings: Settings | None = None, container: Container | None = None) -> Starlette:
    settings = settings or load_settings()
    configure_logging(settings.log_level, settings.effective_log_format)
    container = container or Container(settings)
    schema = build_schema(settings)
    live = LiveConnections(settings, container, schema)  # this app's WebSocket registry
    graphql = GraphQLApp(schema, container, settings, live)
    metrics.configure(settings.db_slow_statement_ms)
    HeaderTimeoutProtocol.timeout_s = settings.header_read_timeout_s  # per worker process (see its module)
    sampler = Sampler(lambda: live_subscription_count(live))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tracing.start()  # only when OTEL_EXPORTER_OTLP_ENDPOINT is set
        await container.start()
        await sampler.start()
        # Start-up objects (modules, schema, app) live forever: keep them out of the cyclic GC's
        # full collections, whose pauses otherwise grow with them (WebSocket p99 latency).
        # (No gc.collect() first: it would cost every server start in the test suite.)
        gc.freeze()
        log.info("server_ready", env=settings.env, database="sqlite" if container.store.is_sqlite else "postgresql")
        try:
            yield
        finally:
            await container.stop()
            await sampler.stop()  # after the store closed: a stopped worker's gauges are dropped last
            tracing.stop()  # flushes buffered spans
            gc.unfreeze()  # several apps in one process (tests, --reload): let them be collected
            log.info("server_stopped")

    routes: list[Route | WebSocketRoute | Mount] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/reports/{report_id}/download", download_report, methods=["GET"]),
        Route("/psbt/{draft_id}", download_psbt, methods=["GET"]),
        Route("/lightning/{node_id}/channel-backup", download_channel_backup, methods=["GET"]),
    ]
    if metrics_route_enabled(settings):
        routes.append(Route("/metrics", metrics_endpoint, methods=["GET"]))
    if settings.graphiql_enabled:
        routes.append(Mount(STATIC_URL, GraphiQLAssets()))  # 404 while the assets are absent
    middleware = [
        Middleware(RequestContextMiddleware),
        Middleware(SecurityHeadersMiddleware),  # nosniff, no framing, no referrer, no-store
        Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes),
        Middleware(BodyReadTimeoutMiddleware, timeout_s=settings.body_read_timeout_s),
        Middleware(WebSocketGauge),
    ]
    if settings.cors_origins:
        # Outermost: preflights are answered before anything else, and every response (errors
        # from the inner middleware included) carries the headers a browser needs to read it.
        middleware.insert(0, cors_middleware(settings))
    # Outermost of all: it needs the server's own send (CORS passes WebSocket scopes through untouched).
    middleware.insert(0, Middleware(ConnectionAbortMiddleware))
    app = Starlette(
        routes=routes, lifespan=lifespan, middleware=middleware, exception_handlers={Exception: internal_error}
    )
    app.state.container = container
    app.state.settings = settings
    app.state.live = live
    app.state.metrics_sampler = sampler
    app.state.metrics_registry = exposition.scrape_registry(settings.data_dir)
    app.state.cost_meter = schema.cost_meter  # query cost counters (schema/limits.py) for metrics
    schema.cost_meter.listener = metrics.observe_query_cost
    return app
