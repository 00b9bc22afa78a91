"""Benchmark: what the metrics cost on the hot paths, single-process and multiprocess mode side by side.

Run: ``.venv/bin/python bench/metrics_overhead.py`` (pin to one core with ``taskset -c 0``).
For each seam it prints the time of the work alone, the time with its one-line recording call, and the
added microseconds per call: event fan-out to 10 subscribers (+ hub lag histogram), a GraphQL operation
record (counter + histogram), an SQLite ``SELECT 1`` (+ statement histogram and pool gauges). Multiprocess
mode (``mbf serve --workers N``) writes values to mmap'ed files, measured in a child process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N = 20_000


def _best(fn, n: int = N, rounds: int = 5) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        fn(n)
        best = min(best, time.perf_counter() - t)
    return best / n * 1e6  # µs per call


def measure() -> dict[str, tuple[float, float]]:
    import sqlite3

    from sqlalchemy import create_engine, text

    from app.events.envelope import Event, id_time_ms
    from app.events.fanout import LocalFanout
    from app.observability import metrics

    out: dict[str, tuple[float, float]] = {}

    # Fan-out: deliver() records the lag once per event.
    fan = LocalFanout(queue_size=N * 10)
    subs = [fan.subscribe("u1") for _ in range(10)]
    event = Event(type="walletUpdated", user_id="u1", payload={})

    def deliver(n: int) -> None:
        for _ in range(n):
            fan.deliver(event)
        for s in subs:
            while s.get_nowait() is not None:
                pass

    def lag_only(n: int) -> None:
        for _ in range(n):
            metrics.observe_hub_delivery(id_time_ms(event.id))

    with_metrics = _best(deliver)
    alone = with_metrics - _best(lag_only)
    out["fan-out deliver (10 subscribers)"] = (alone, with_metrics)

    # GraphQL operation record (the resolver work itself is not included: this is the added cost).
    def op(n: int) -> None:
        for _ in range(n):
            metrics.observe_operation("Dashboard", "query", 0.004, [])

    out["graphql operation record"] = (0.0, _best(op))

    # SQL statement through an instrumented vs a plain engine.
    tmp = tempfile.mkdtemp()
    sqlite3.connect(f"{tmp}/b.db").close()
    plain = create_engine(f"sqlite:///{tmp}/b.db")
    inst = create_engine(f"sqlite:///{tmp}/b.db")
    metrics.instrument_engine(inst)

    def run(engine):  # type: ignore[no-untyped-def]
        def go(n: int) -> None:
            with engine.connect() as conn:
                for _ in range(n):
                    conn.execute(text("SELECT 1"))

        return go

    out["sqlite SELECT 1"] = (_best(run(plain), N // 4), _best(run(inst), N // 4))
    return out


def main() -> None:
    if os.environ.get("MBF_BENCH_CHILD"):
        sys.stdout.write(json.dumps(measure()))
        return
    results = {}
    for mode in ("single-process", "multiprocess"):
        env = dict(os.environ, MBF_BENCH_CHILD="1")
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        if mode == "multiprocess":
            env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="mbf-bench-prom-")
        raw = subprocess.run([sys.executable, __file__], env=env, capture_output=True, text=True, check=True).stdout
        results[mode] = json.loads(raw)
    print(f"{'seam':36} {'mode':15} {'alone µs':>9} {'with µs':>9} {'added µs':>9}")
    for seam in results["single-process"]:
        for mode, res in results.items():
            alone, with_m = res[seam]
            print(f"{seam:36} {mode:15} {alone:9.2f} {with_m:9.2f} {with_m - alone:9.2f}")


if __name__ == "__main__":
    main()
