"""What a scrape returns: this process's metrics, or every worker's in multiprocess mode, plus disk space.

Used by the ``/metrics`` route and by the separate metrics port that ``mbf serve`` opens
when ``MBF_METRICS_PORT`` is set.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from app.observability.metrics import REGISTRY

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV)


class DiskCollector(Collector):
    """Free and total bytes of the file system holding the data directory (read at scrape time)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def collect(self) -> Iterable[Metric]:
        free = GaugeMetricFamily("mbf_data_dir_free_bytes", "Free bytes on the data directory's file system.")
        total = GaugeMetricFamily("mbf_data_dir_size_bytes", "Size of the data directory's file system.")
        try:
            usage = shutil.disk_usage(self.data_dir)
        except OSError:
            return []
        free.add_metric([], usage.free)
        total.add_metric([], usage.total)
        return [free, total]


class _Own(Collector):
    """This process's metrics (single-process mode)."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def scrape_registry(data_dir: Path) -> CollectorRegistry:
    """A registry that collects everything a scrape should return, at collect time."""
    registry = CollectorRegistry(auto_describe=False)
    directory = multiprocess_dir()
    if directory:
        MultiProcessCollector(registry, path=directory)
    else:
        registry.register(_Own())
        ProcessCollector(registry=registry)
    registry.register(DiskCollector(data_dir))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


def prepare_multiprocess_dir(directory: Path) -> None:
    """Create the directory and drop value files left by an earlier run (their pids are gone)."""
    directory.mkdir(parents=True, exist_ok=True)
    for leftover in directory.glob("*.db"):
        leftover.unlink(missing_ok=True)


def mark_dead(pid: int) -> None:
    """A worker stops: its live gauges stop counting."""
    directory = multiprocess_dir()
    if directory:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, directory)
