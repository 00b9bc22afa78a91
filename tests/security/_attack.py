"""Shared helpers of the security suite: run an attack while timing ``/healthz``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

import httpx

HEALTHZ_BOUND_S = 0.2  # the one timing bound: the server still answers /healthz meanwhile


async def healthz_latency_during(base_url: str, attack: Awaitable[Any]) -> tuple[float, Any]:
    """Start ``attack``, then time a ``/healthz`` on a second connection while it is in flight.

    The attack's result is returned so the test can also check how it was refused.
    """
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as probe:
        await probe.get("/healthz")  # connection open before the attack starts
        task = asyncio.ensure_future(attack)
        await asyncio.sleep(0)  # let the attack's request go out first
        started = time.perf_counter()
        resp = await probe.get("/healthz")
        latency = time.perf_counter() - started
        assert resp.status_code == 200
        return latency, await task


def fragment_bomb(levels: int = 22) -> str:
    """The 917-byte anonymous document of the issue: 2**levels spreads of one fragment."""
    frags = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels))
    return f"query {{ ...F0 }} {frags} fragment F{levels} on Query {{ __typename }}"
