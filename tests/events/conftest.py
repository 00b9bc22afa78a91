"""Fixtures for the event hub tests: users in a migrated temp SQLite store, hubs on the real Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from app.events.memory import MemoryHub
from app.events.redis import RedisHub
from app.store.db import Store
from app.store.models.accounts import User
from tests.support.services import REDIS_URL, require


@pytest.fixture
async def make_user(store: Store) -> Callable[[str], Awaitable[str]]:
    async def _make(email: str) -> str:
        user = User(email=email, password_hash="x")
        async with store.write() as s:
            s.add(user)
        return user.id

    return _make


@pytest.fixture
async def memory_hub(store: Store) -> AsyncIterator[MemoryHub]:
    hub = MemoryHub(store, queue_size=64, retention_count=1000, retention_hours=1)
    await hub.start()
    yield hub
    await hub.stop()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own, so parallel runs on the shared Redis never mix; cleaned up."""
    require("redis")
    prefix = f"mbftest:{uuid.uuid4().hex[:10]}"
    yield prefix
    r = Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in r.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await r.delete(*keys)
    finally:
        await r.aclose()


@pytest.fixture
async def redis_hubs(redis_prefix: str) -> AsyncIterator[Callable[..., Awaitable[RedisHub]]]:
    """Factory of started RedisHubs on the same Redis and prefix (= processes sharing a bus)."""
    hubs: list[RedisHub] = []

    async def _make(url: str = REDIS_URL, **kw: object) -> RedisHub:
        params: dict[str, object] = {"queue_size": 64, "retention_count": 1000, "retention_hours": 1}
        params.update(kw)
        hub = RedisHub(url, prefix=redis_prefix, **params)  # type: ignore[arg-type]
        await hub.start()
        hubs.append(hub)
        return hub

    yield _make
    for hub in hubs:
        await hub.stop()
