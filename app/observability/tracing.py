"""OpenTelemetry tracing: off by default, on when the standard ``OTEL_EXPORTER_OTLP_ENDPOINT``
(or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set.

Spans are exported over OTLP/HTTP (protobuf) by a batch processor. The server creates one span
per GraphQL operation (``schema/tracing.py``), resolver spans for fields slower than
``MBF_TRACE_RESOLVER_MIN_MS``, and child spans for SQL statements, chain server requests and LND
calls; each span carries the request id (``mbf.request_id``) that the logs carry.

The tracer provider is the app's own (not OpenTelemetry's process-global one), created in the
ASGI lifespan and flushed at shutdown. The standard variables apply: ``OTEL_SERVICE_NAME``
(default ``mybitcoinfuture``), ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_EXPORTER_OTLP_HEADERS``,
``OTEL_TRACES_SAMPLER``/``_ARG``, ``OTEL_BSP_*``; ``OTEL_SDK_DISABLED=true`` turns tracing off.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

import structlog

log = structlog.get_logger(__name__)

_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")

_provider: Any = None  # the running app's TracerProvider, or None (tracing off)
_tracer: Any = None


def configured(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return any(env.get(name) for name in _ENDPOINT_VARS)


def start() -> bool:
    """Create the provider and exporter when configured; returns whether tracing is on."""
    global _provider, _tracer
    if not configured():
        return False
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol and protocol != "http/protobuf":
        log.warning("otel_protocol_unsupported", protocol=protocol, using="http/protobuf")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME", "mybitcoinfuture")})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    _provider, _tracer = provider, provider.get_tracer("mybitcoinfuture")
    log.info("tracing_enabled", endpoint=next(os.environ[n] for n in _ENDPOINT_VARS if os.environ.get(n)))
    return True


def stop() -> None:
    """Flush what is buffered and stop exporting."""
    global _provider, _tracer
    provider, _provider, _tracer = _provider, None, None
    if provider is not None:
        provider.shutdown()


def enabled() -> bool:
    return _tracer is not None


def _request_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get("request_id")
    return value if isinstance(value, str) else None


@contextlib.contextmanager
def span(name: str, attributes: Mapping[str, Any] | None = None, *, kind: str = "internal") -> Iterator[Any]:
    """A child span of the current one (no-op when tracing is off); exceptions mark it as an error."""
    tracer = _tracer
    if tracer is None:
        yield None
        return
    from opentelemetry.trace import SpanKind

    attrs = dict(attributes or {})
    request_id = _request_id()
    if request_id:
        attrs["mbf.request_id"] = request_id
    with tracer.start_as_current_span(name, kind=getattr(SpanKind, kind.upper()), attributes=attrs) as current:
        yield current


def start_span(name: str, attributes: Mapping[str, Any] | None = None, *, parent_headers: Any = None) -> Any:
    """A span the caller ends (and makes current with :func:`use_span`); None when tracing is off.

    ``parent_headers``: incoming HTTP headers; a W3C ``traceparent`` there makes this span its child.
    """
    tracer = _tracer
    if tracer is None:
        return None
    from opentelemetry.trace import SpanKind

    ctx = None
    if parent_headers is not None:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        ctx = TraceContextTextMapPropagator().extract({k.lower(): v for k, v in parent_headers.items()})
    attrs = dict(attributes or {})
    request_id = _request_id()
    if request_id:
        attrs["mbf.request_id"] = request_id
    return tracer.start_span(name, context=ctx, kind=SpanKind.SERVER, attributes=attrs)


def record_span(name: str, start_ns: int, end_ns: int, attributes: Mapping[str, Any] | None = None) -> None:
    """A span for something already timed (a resolver over the threshold), child of the current span."""
    tracer = _tracer
    if tracer is None:
        return
    attrs = dict(attributes or {})
    request_id = _request_id()
    if request_id:
        attrs["mbf.request_id"] = request_id
    s = tracer.start_span(name, start_time=start_ns, attributes=attrs)
    s.end(end_time=end_ns)


@contextlib.contextmanager
def use_span(current: Any) -> Iterator[None]:
    """Make ``current`` (from :func:`start_span`) the parent of spans started inside."""
    if current is None:
        yield
        return
    from opentelemetry import context, trace

    token = context.attach(trace.set_span_in_context(current))
    try:
        yield
    finally:
        context.detach(token)


def end_span(current: Any, *, error: str | None = None, attributes: Mapping[str, Any] | None = None) -> None:
    if current is None:
        return
    from opentelemetry.trace import Status, StatusCode

    for key, value in (attributes or {}).items():
        current.set_attribute(key, value)
    if error:
        current.set_status(Status(StatusCode.ERROR, error))
    current.end()


def db_span_start(statement: str, system: str) -> Any:
    """A client span for one SQL statement (no parameters, only the statement's text), or None."""
    tracer = _tracer
    if tracer is None:
        return None
    from opentelemetry.trace import SpanKind

    words = statement.lstrip().split(None, 1)
    attrs: dict[str, Any] = {"db.system": system, "db.statement": statement[:2000]}
    request_id = _request_id()
    if request_id:
        attrs["mbf.request_id"] = request_id
    return tracer.start_span(f"db {words[0].upper() if words else 'SQL'}", kind=SpanKind.CLIENT, attributes=attrs)
