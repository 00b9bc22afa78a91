"""Reads a /metrics exposition with prometheus-client's own text parser."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


async def scrape(url: str, token: str | None = None) -> Samples:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def scrape_until(
    url: str, check: Callable[[Samples], bool], timeout: float = 20.0, token: str | None = None
) -> Samples:
    """Scrape until ``check`` holds (the gauges are sampled); fails with the last scrape after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        samples = await scrape(url, token)
        if check(samples):
            return samples
        assert time.monotonic() < deadline, "metrics never reached the expected state"
        await asyncio.sleep(0.1)


def any_value(samples: Samples, name: str) -> Any:
    return [(dict(ls), v) for (n, ls), v in samples.items() if n == name]
