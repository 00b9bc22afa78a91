"""Per-request loading: sibling fields resolved concurrently share one load (one consistent state)."""

from __future__ import annotations

import asyncio
from typing import Any

from schema.context import Context


async def test_load_once_shares_one_load_between_concurrent_resolvers() -> None:
    ctx = Context(container=None, request=None, response=None)  # type: ignore[arg-type]
    calls = 0
    states = iter(["SYNCING", "SYNCED"])  # what the database says on the first and a second read

    async def load() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return next(states)

    seen: list[Any] = await asyncio.gather(*(ctx.load_once("state", load) for _ in range(5)))
    assert calls == 1 and seen == ["SYNCING"] * 5
    assert await ctx.load_once("state", load) == "SYNCING"  # and later in the same request too

    ctx.prime("other", 42)
    assert await ctx.load_once("other", load) == 42 and calls == 1
