"""The ``EventHub`` interface that services publish to and subscriptions read from."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from app.events.envelope import Event


class EventHub(Protocol):
    """Per-user topics. Services call :meth:`publish` after their transaction commits.

    Implementations: ``app.events.memory.MemoryHub`` (in-process, default) and
    ``app.events.redis.RedisHub`` (``MBF_REDIS_URL``).
    """

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, event: Event) -> None:
        """Deliver to the event's user (or everyone for a public event); never blocks on slow readers."""

    def subscribe(self, user_id: str) -> AsyncIterator[Event]:
        """Live events of ``user_id`` plus public events, from now on."""
        ...

    async def replay(self, user_id: str, after: str | None, limit: int = 1000) -> list[Event]:
        """Events of ``user_id`` published after the event id ``after`` (within retention)."""
        ...

    async def health(self) -> dict[str, object]: ...
