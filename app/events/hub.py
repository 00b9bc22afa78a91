"""The ``EventHub`` interface that services publish to and subscriptions read from."""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from app.events.envelope import Event
from app.events.fanout import LocalFanout, Subscriber


class EventHub(Protocol):
    """Per-user topics. Services call :meth:`publish` after their transaction commits.

    Implementations: ``app.events.memory.MemoryHub`` (in-process, default, replay log in the
    database) and ``app.events.redis.RedisHub`` (``MBF_REDIS_URL``, replay log in Redis Streams).
    Build one with ``app.events.factory.make_hub``.
    """

    fanout: LocalFanout  # this process's subscribers (``fanout.listen`` for callbacks)

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, event: Event) -> None:
        """Deliver to the event's user (everyone for a public event); never waits for readers."""

    async def flush(self) -> None:
        """Wait (briefly) until what was published has reached the other processes.

        Called before answering a request whose effect other processes must see at once
        (a logout, a mutation: their caches drop the old answer before the client can ask again)."""

    def subscribe(
        self,
        user_id: str | None,
        *,
        types: Collection[str] | None = None,
        include_public: bool = True,
        maxsize: int | None = None,
    ) -> Subscriber:
        """Live events of ``user_id`` (plus public events unless ``include_public`` is False).

        ``user_id=None`` receives public events only. The returned :class:`Subscriber` is an
        async iterator; ``close()`` it when done. A ``gap`` event in the stream means events were
        dropped or may have been missed: resume with ``replay(user_id, gap.payload["after"])``.
        """
        ...

    async def replay(self, user_id: str, after: str | None, limit: int = 1000) -> list[Event]:
        """Events of ``user_id`` logged after the event id ``after`` (within retention), in order.

        An id that is no longer (or never was) in the log is read as a point in time: every
        retained event with a later id is returned. ``after=None`` returns nothing.
        """
        ...

    async def health(self) -> dict[str, object]:
        """``{"status": "ok" | "degraded", "backend": ...}`` plus backend figures."""
        ...
