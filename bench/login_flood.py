"""Benchmark: /healthz latency while a flood of logins runs, argon2 on the worker pool vs on the event loop.

Run: ``.venv/bin/python bench/login_flood.py [--logins 60] [--concurrency 12]``.
A real uvicorn server (SQLite in a temp dir) gets ``--logins`` failing logins, ``--concurrency`` at a time,
while a probe GETs /healthz back to back. Printed: the probe's median and p95 latency idle, during the flood
with argon2 on its two worker threads (the product), and during the flood with argon2 run inline on the event
loop (the old behaviour, patched in for comparison), with the ratios side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import app.services.accounts as accounts_module
from app.security.passwords import verify_password
from tests.conftest import make_settings
from tests.support.server import live_server

LOGIN = "mutation($i: LoginInput!) { login(input: $i) { token } }"


async def probe(client: httpx.AsyncClient, stop: asyncio.Event) -> list[float]:
    samples = []
    while not stop.is_set():
        started = time.perf_counter()
        (await client.get("/healthz")).raise_for_status()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def flood(client: httpx.AsyncClient, logins: int, concurrency: int) -> tuple[float, int]:
    """Seconds taken, and how many logins got anything but the expected UNAUTHENTICATED."""
    gate = asyncio.Semaphore(concurrency)
    unexpected = 0

    async def one(n: int) -> None:
        nonlocal unexpected
        async with gate:
            body = {"query": LOGIN, "variables": {"i": {"email": f"u{n}@example.com", "password": "wrong password!!"}}}
            answer = (await client.post("/graphql", json=body)).json()
            codes = [e["extensions"]["code"] for e in answer.get("errors") or []]
            unexpected += codes != ["UNAUTHENTICATED"]

    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(logins)))
    return time.perf_counter() - started, unexpected


async def measure(base: str, logins: int, concurrency: int) -> tuple[list[float], tuple[float, int]]:
    async with (
        httpx.AsyncClient(base_url=base, timeout=60) as probe_client,
        httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=concurrency)) as load_client,
    ):
        stop = asyncio.Event()
        probing = asyncio.create_task(probe(probe_client, stop))
        if logins:
            elapsed = await flood(load_client, logins, concurrency)
        else:
            await asyncio.sleep(1.0)
            elapsed = (1.0, 0)
        stop.set()
        return await probing, elapsed


def stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logins", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(
            Path(tmp), f"sqlite+aiosqlite:///{tmp}/bench.sqlite3", login_free_attempts=100_000, log_level="error"
        )
        async with live_server(settings) as server:
            await measure(server.url, 4, 2)  # warm-up (first argon2 use, connections)
            idle, _ = await measure(server.url, 0, 1)
            pooled, t_pool = await measure(server.url, args.logins, args.concurrency)
            original: Callable[[str | None, str], Awaitable[bool]] = accounts_module.verify_password_async

            async def inline(password_hash: str | None, password: str) -> bool:
                return verify_password(password_hash, password)

            accounts_module.verify_password_async = inline  # type: ignore[assignment]
            try:
                blocking, t_inline = await measure(server.url, args.logins, args.concurrency)
            finally:
                accounts_module.verify_password_async = original  # type: ignore[assignment]
    rows = [
        ("idle", idle, None),
        ("flood, argon2 on worker pool", pooled, t_pool),
        ("flood, argon2 on the event loop", blocking, t_inline),
    ]
    base_median = stats(idle)[0]
    print(f"{args.logins} failing logins, {args.concurrency} concurrent; /healthz probe latency (ms)")
    print(f"{'':34} {'median':>8} {'p95':>8} {'x idle':>8} {'probes':>7} {'flood s':>8} {'failed':>7}")
    for name, samples, result in rows:
        median, p95 = stats(samples)
        tail = f"{result[0]:8.2f} {result[1]:7d}" if result else ""
        print(f"{name:34} {median:8.2f} {p95:8.2f} {median / base_median:8.1f} {len(samples):7d} {tail}")


if __name__ == "__main__":
    asyncio.run(main())
