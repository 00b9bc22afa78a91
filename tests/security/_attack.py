"""Shared helpers of the security suite: run an attack while asking ``/healthz``.

How long ``/healthz`` takes meanwhile (the 0.2 s bound of issue #10) is measured by
``bench/healthz_under_attack.py``, not asserted here: a wall-clock bound in a test fails on a
loaded machine for reasons that are not the server's. The tests check what can be observed
deterministically: the answer, the refusal, and that the refused work never started."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import httpx


async def healthz_during(base_url: str, attack: Awaitable[Any]) -> tuple[int, Any]:
    """Start ``attack``, then ask ``/healthz`` on a second connection while it is in flight.

    Returns the ``/healthz`` status and the attack's result (so the test can check the refusal)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as probe:
        await probe.get("/healthz")  # connection open before the attack starts
        task = asyncio.ensure_future(attack)
        await asyncio.sleep(0)  # let the attack's request go out first
        resp = await probe.get("/healthz")
        return resp.status_code, await task


def fragment_bomb(levels: int = 22) -> str:
    """The 917-byte anonymous document of the issue: 2**levels spreads of one fragment."""
    frags = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels))
    return f"query {{ ...F0 }} {frags} fragment F{levels} on Query {{ __typename }}"
