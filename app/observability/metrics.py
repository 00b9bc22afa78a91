"""Every Prometheus metric of the server, in one place, and the one-line recording helpers.

The metrics live in :data:`REGISTRY` (not prometheus-client's global one, so importing this
module registers nothing anywhere). Under ``mbf serve --workers N`` the CLI sets
``PROMETHEUS_MULTIPROC_DIR`` before the workers start: prometheus-client then keeps each
worker's values in files there and ``/metrics`` sums them (gauges: ``livesum`` over the live
workers). The metric catalogue, with what each one means, is in ``docs/operations.md``.

No response cache exists yet, so there is deliberately no cache hit-rate metric.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from app.observability import tracing

REGISTRY = CollectorRegistry(auto_describe=True)

_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SLOW = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)

# -- GraphQL --------------------------------------------------------------------------------------
GRAPHQL_OPERATIONS = Counter(
    "mbf_graphql_operations_total",
    "GraphQL operations executed, by operation name, type and outcome (ok or error).",
    ["operation", "type", "outcome"],
    registry=REGISTRY,
)
GRAPHQL_DURATION = Histogram(
    "mbf_graphql_operation_duration_seconds",
    "GraphQL operation latency (parse to result), by operation name and type.",
    ["operation", "type"],
    buckets=_FAST,
    registry=REGISTRY,
)
GRAPHQL_ERRORS = Counter(
    "mbf_graphql_errors_total",
    "GraphQL errors returned, by extensions.code.",
    ["code"],
    registry=REGISTRY,
)
GRAPHQL_QUERY_COST = Histogram(
    "mbf_graphql_query_cost",
    "Analysed cost of GraphQL operations (schema/limits.py: list fields times first), refused ones included.",
    buckets=(10, 100, 1_000, 10_000, 100_000),
    registry=REGISTRY,
)
GRAPHQL_COST_REFUSALS = Counter(
    "mbf_graphql_cost_refusals_total",
    "GraphQL operations refused for exceeding the query cost budget (MBF_MAX_QUERY_COST).",
    registry=REGISTRY,
)
WEBSOCKET_CONNECTIONS = Gauge(
    "mbf_websocket_connections",
    "Open WebSocket connections (accepted, not yet closed).",
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
SUBSCRIPTIONS_ACTIVE = Gauge(
    "mbf_graphql_subscriptions_active",
    "Running GraphQL subscriptions over all WebSocket connections (sampled every few seconds and at scrape).",
    multiprocess_mode="livesum",
    registry=REGISTRY,
)

# -- events ---------------------------------------------------------------------------------------
HUB_LAG = Histogram(
    "mbf_hub_delivery_lag_seconds",
    "Time from an event's creation (publish) to its delivery to this process's subscribers.",
    buckets=_FAST,
    registry=REGISTRY,
)

# -- sync -----------------------------------------------------------------------------------------
SYNC_JOBS = Counter(
    "mbf_sync_jobs_total",
    "Wallet sync jobs finished, by chain backend (esplora, electrum) and outcome (ok, failed).",
    ["backend", "outcome"],
    registry=REGISTRY,
)
SYNC_DURATION = Histogram(
    "mbf_sync_job_duration_seconds",
    "Wall time of a wallet sync job, start to outcome, by backend.",
    ["backend"],
    buckets=_SLOW,
    registry=REGISTRY,
)
SYNC_ADDRESSES = Counter(
    "mbf_sync_addresses_scanned_total",
    "Addresses (script hashes) scanned by successful sync jobs, by backend.",
    ["backend"],
    registry=REGISTRY,
)
SYNC_TRANSACTIONS = Counter(
    "mbf_sync_transactions_total",
    "Wallet transactions found by successful sync jobs, by backend.",
    ["backend"],
    registry=REGISTRY,
)

# -- chain servers --------------------------------------------------------------------------------
CHAIN_REQUEST_DURATION = Histogram(
    "mbf_chain_request_duration_seconds",
    "Chain server request (or Electrum batch) latency per attempt, by server.",
    ["server"],
    buckets=_FAST,
    registry=REGISTRY,
)
CHAIN_REQUEST_FAILURES = Counter(
    "mbf_chain_request_failures_total",
    "Chain server request attempts that failed transiently (timeout, connection, 5xx, 429), by server.",
    ["server"],
    registry=REGISTRY,
)
CHAIN_BACKEND_UP = Gauge(
    "mbf_chain_backend_up",
    "1 while the server answers, 0 after a request failed all its retries (circuit breaker open).",
    ["server"],
    multiprocess_mode="livemin",
    registry=REGISTRY,
)

# -- lightning ------------------------------------------------------------------------------------
LND_CALL_DURATION = Histogram(
    "mbf_lnd_call_duration_seconds",
    "LND unary gRPC call latency, by method and outcome (ok, error).",
    ["method", "outcome"],
    buckets=_FAST,
    registry=REGISTRY,
)
LND_STREAM_RESTARTS = Counter(
    "mbf_lnd_stream_restarts_total",
    "LND server streams reopened after they ended or failed, by stream (channels, invoices, transactions).",
    ["stream"],
    registry=REGISTRY,
)
LND_STREAMS = Gauge(
    "mbf_lnd_streams",
    "LND server streams by stream and state (up, down, failed); a node's stream is in exactly one.",
    ["stream", "state"],
    multiprocess_mode="livesum",
    registry=REGISTRY,
)

# -- database -------------------------------------------------------------------------------------
DB_POOL_IN_USE = Gauge(
    "mbf_db_pool_connections_in_use",
    "Database connections checked out of the pool.",
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
DB_POOL_CAPACITY = Gauge(
    "mbf_db_pool_capacity",
    "Connections the pool may hold (pool size plus overflow).",
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
DB_STATEMENT_DURATION = Histogram(
    "mbf_db_statement_duration_seconds",
    "SQL statement execution time.",
    buckets=_FAST,
    registry=REGISTRY,
)
DB_SLOW_STATEMENTS = Counter(
    "mbf_db_slow_statements_total",
    "SQL statements slower than MBF_DB_SLOW_STATEMENT_MS, by statement kind (select, insert, ...).",
    ["kind"],
    registry=REGISTRY,
)

# -- prices ---------------------------------------------------------------------------------------
PRICE_TIMESTAMP = Gauge(
    "mbf_price_timestamp_seconds",
    "Unix time of the latest spot price the poller obtained, by currency (freshness = time() - value).",
    ["currency"],
    multiprocess_mode="livemax",
    registry=REGISTRY,
)
PRICE_POLL_FAILURES = Counter(
    "mbf_price_poll_failures_total",
    "Price polls that got no usable price for a currency (every provider failed or only a stale price).",
    ["currency"],
    registry=REGISTRY,
)

# -- recording helpers (one call at each seam) ------------------------------------------------

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_MAX_OPERATION_NAMES = 200
_operation_names: set[str] = set()


def _operation_label(name: str | None) -> str:
    """Operation names come from clients: bound the label set so a client cannot explode it."""
    if not name:
        return "anonymous"
    if not _NAME.match(name):
        return "invalid"
    if name in _operation_names:
        return name
    if len(_operation_names) >= _MAX_OPERATION_NAMES:
        return "other"
    _operation_names.add(name)
    return name


def observe_operation(name: str | None, op_type: str, seconds: float, codes: list[str]) -> None:
    label = _operation_label(name)
    GRAPHQL_OPERATIONS.labels(label, op_type, "error" if codes else "ok").inc()
    GRAPHQL_DURATION.labels(label, op_type).observe(seconds)
    for code in codes:
        GRAPHQL_ERRORS.labels(code).inc()


def observe_query_cost(cost: int, refused: bool) -> None:
    GRAPHQL_QUERY_COST.observe(cost)
    if refused:
        GRAPHQL_COST_REFUSALS.inc()


def observe_hub_delivery(created_ms: int | None) -> None:
    if created_ms is not None:
        HUB_LAG.observe(max(0.0, time.time() - created_ms / 1000))


def observe_sync(
    backend: str | None,
    outcome: str,
    started: datetime | None,
    finished: datetime | None,
    addresses: int = 0,
    transactions: int = 0,
) -> None:
    label = backend or "none"
    SYNC_JOBS.labels(label, outcome).inc()
    if started is not None and finished is not None:
        SYNC_DURATION.labels(label).observe(max(0.0, (_aware(finished) - _aware(started)).total_seconds()))
    if outcome == "ok":
        SYNC_ADDRESSES.labels(label).inc(addresses)
        SYNC_TRANSACTIONS.labels(label).inc(transactions)


def sync_outcome(backend: str | None, outcome: str, job: Any, addresses: int = 0) -> Callable[[], Awaitable[None]]:
    """A post-commit hook recording a sync job's outcome (a rolled-back outcome is never counted)."""
    started = getattr(job, "started_at", None)
    finished = getattr(job, "finished_at", None)
    transactions = getattr(job, "txs_found", 0) or 0

    async def hook() -> None:
        observe_sync(backend, outcome, started, finished, addresses, transactions)

    return hook


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def server_label(url: str) -> str:
    """A server URL without credentials, path or query (labels must never carry secrets)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "invalid"
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}:{parts.port}" if parts.port else f"{parts.scheme}://{host}"


@contextlib.contextmanager
def chain_attempt(server: str) -> Iterator[None]:
    """Times one request attempt to a chain server; a transient failure is counted."""
    from app.chain.retry import Transient

    label = server_label(server)
    started = time.perf_counter()
    try:
        with tracing.span("chain.request", {"server": label}, kind="client"):
            yield
    except Transient:
        CHAIN_REQUEST_FAILURES.labels(label).inc()
        raise
    finally:
        CHAIN_REQUEST_DURATION.labels(label).observe(time.perf_counter() - started)


def chain_backend_up(server: str, up: bool) -> None:
    CHAIN_BACKEND_UP.labels(server_label(server)).set(1 if up else 0)


@contextlib.contextmanager
def lnd_call(method: str) -> Iterator[None]:
    started = time.perf_counter()
    outcome = "error"
    try:
        with tracing.span("lnd.call", {"rpc.system": "grpc", "rpc.method": method}, kind="client"):
            yield
        outcome = "ok"
    finally:
        LND_CALL_DURATION.labels(method, outcome).observe(time.perf_counter() - started)


_TRACKED_STREAM_STATES = frozenset({"up", "down", "failed"})


def lnd_stream_state(name: str, old: str, new: str) -> None:
    """A stream named ``<node>:<kind>`` moved from ``old`` to ``new`` state."""
    kind = name.rsplit(":", 1)[-1]
    if old in _TRACKED_STREAM_STATES:
        LND_STREAMS.labels(kind, old).dec()
    if new in _TRACKED_STREAM_STATES:
        LND_STREAMS.labels(kind, new).inc()
    if new == "down":
        LND_STREAM_RESTARTS.labels(kind).inc()


def price_obtained(currency: str, at: datetime) -> None:
    PRICE_TIMESTAMP.labels(currency).set(_aware(at).timestamp())


def price_failed(currency: str) -> None:
    PRICE_POLL_FAILURES.labels(currency).inc()


_STATEMENT_KINDS = frozenset({"select", "insert", "update", "delete", "with", "begin", "commit", "pragma"})
SLOW_STATEMENT_S = 0.25  # MBF_DB_SLOW_STATEMENT_MS, set by configure()


def configure(slow_statement_ms: float) -> None:
    global SLOW_STATEMENT_S
    SLOW_STATEMENT_S = slow_statement_ms / 1000


def instrument_engine(engine: Any) -> None:
    """Pool usage and statement timings of an SQLAlchemy (async) engine."""
    from sqlalchemy import event

    sync_engine = getattr(engine, "sync_engine", engine)
    pool = sync_engine.pool
    capacity = getattr(pool, "size", lambda: 0)() + max(0, getattr(pool, "_max_overflow", 0))
    sync_engine._mbf_pool_capacity = capacity  # released once, however often the store is disposed
    DB_POOL_CAPACITY.inc(capacity)

    @event.listens_for(pool, "checkout")
    def _checkout(*_: Any) -> None:
        DB_POOL_IN_USE.inc()

    @event.listens_for(pool, "checkin")
    def _checkin(*_: Any) -> None:
        DB_POOL_IN_USE.dec()

    system = sync_engine.dialect.name

    # Timings and spans ride on the statement's execution context (never left behind by a failure).
    @event.listens_for(sync_engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        if context is not None:
            context._mbf_started = time.perf_counter()
            context._mbf_span = tracing.db_span_start(statement, system)

    @event.listens_for(sync_engine, "handle_error")
    def _error(exception_context: Any) -> None:
        context = exception_context.execution_context
        current = getattr(context, "_mbf_span", None)
        if current is not None:
            context._mbf_span = None
            tracing.end_span(current, error=type(exception_context.original_exception).__name__)

    @event.listens_for(sync_engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        started = getattr(context, "_mbf_started", None)
        if started is None:
            return
        tracing.end_span(getattr(context, "_mbf_span", None))
        elapsed = time.perf_counter() - started
        DB_STATEMENT_DURATION.observe(elapsed)
        if elapsed >= SLOW_STATEMENT_S:
            words = statement.lstrip().split(None, 1)
            kind = words[0].lower() if words else ""
            DB_SLOW_STATEMENTS.labels(kind if kind in _STATEMENT_KINDS else "other").inc()


def release_engine(engine: Any) -> None:
    """The engine is disposed: its capacity no longer counts (a second dispose changes nothing)."""
    sync_engine = getattr(engine, "sync_engine", engine)
    capacity = getattr(sync_engine, "_mbf_pool_capacity", None)
    if capacity is not None:
        sync_engine._mbf_pool_capacity = None
        DB_POOL_CAPACITY.dec(capacity)
