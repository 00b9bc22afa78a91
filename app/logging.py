"""structlog set-up: JSON in production, readable console in development.

Redaction (``app/redaction.py``) drops values of keys that name secrets and scrubs secret-looking
text at any depth, exception messages and tracebacks included; frame locals are never rendered.
The request id is bound per request through ``structlog.contextvars``.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from app.redaction import redact_mapping, redact_value, scrub


def _redact(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Redact secret-named keys and scrub every string at any depth, the formatted exception included."""
    return redact_mapping(event_dict) | {"event": redact_value(event_dict.get("event"))}


class _ScrubbingFilter(logging.Filter):
    """The same scrubbing for stdlib records (uvicorn, asyncio, sqlalchemy): message and traceback text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.msg = scrub(record.getMessage())
            record.args = None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = scrub(record.exc_text)
        except Exception:  # a broken record must not break logging
            record.msg, record.args = "[unloggable record]", None
        return True


def _scrub_stdlib_handlers() -> None:
    loggers = [
        logging.getLogger(),
        *(lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)),
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, _ScrubbingFilter) for f in handler.filters):
                handler.addFilter(_ScrubbingFilter())


def configure_logging(level: str = "info", fmt: str = "console") -> None:
    """Idempotent; called by the CLI and the app factory, never at import time."""
    # Exceptions are formatted as plain text (never with frame locals, which hold passwords and
    # tokens) *before* redaction, so the traceback and the exception message are scrubbed too.
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Route stdlib loggers (uvicorn, alembic, sqlalchemy) at the same level and stream.
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # Third-party per-request lines (thousands during a sync) only at debug.
    for name in ("httpx", "httpcore", "hpack"):
        logging.getLogger(name).setLevel(logging.DEBUG if level.lower() == "debug" else logging.WARNING)
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))
    _scrub_stdlib_handlers()
