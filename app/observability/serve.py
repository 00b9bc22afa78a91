"""What ``mbf serve`` sets up for metrics before uvicorn starts the workers.

Several processes (``--workers N``, or ``--reload``'s child) need prometheus-client's
multiprocess mode, chosen by ``PROMETHEUS_MULTIPROC_DIR`` *before* any worker imports it:
the CLI sets it (``<data dir>/prometheus`` unless the operator set one) and empties it, since
files of a previous run describe processes that no longer exist. ``MBF_METRICS_PORT`` is
served from the CLI process itself, which in multiprocess mode reads every worker's files.
"""

from __future__ import annotations

import os
from pathlib import Path

from app.config import Settings
from app.observability import exposition


def prepare(settings: Settings, *, processes: int) -> Path | None:
    """Set up multiprocess mode when more than one process serves; returns its directory."""
    existing = exposition.multiprocess_dir()
    if processes <= 1 and not existing:
        return None
    directory = Path(existing) if existing else settings.data_dir / "prometheus"
    exposition.prepare_multiprocess_dir(directory)
    os.environ[exposition.MULTIPROC_ENV] = str(directory.resolve())
    return directory


def start_metrics_port(settings: Settings) -> tuple[str, int] | None:
    """Serve the metrics on ``MBF_METRICS_PORT`` (a daemon thread of this process), if set."""
    if settings.metrics_port is None:
        return None
    from prometheus_client import start_http_server

    host = settings.metrics_host or settings.host
    start_http_server(settings.metrics_port, addr=host, registry=exposition.scrape_registry(settings.data_dir))
    return host, settings.metrics_port
