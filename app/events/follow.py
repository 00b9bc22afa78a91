"""Replay-then-live reading of a user's events, healing gaps from the replay log.

Every subscription reads through :func:`follow`: it subscribes first, then replays what came
after ``after`` (so nothing falls between the two), then yields live events. A ``gap`` marker
(slow reader, or the hub lost its Redis link) triggers a replay from the marker's cursor;
events already yielded are skipped by id, so the caller sees each event once, in order. If the
log cannot be read (Redis down), the gap marker itself is yielded so the caller can tell the
client where to resume from.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator, Callable, Collection

import structlog

from app.errors import UpstreamUnavailable
from app.events.envelope import GAP, Event
from app.events.hub import EventHub

log = structlog.get_logger(__name__)

Accept = Callable[[Event], bool]


class _Seen:
    """The last ``size`` event ids yielded (bounded)."""

    def __init__(self, size: int = 2048) -> None:
        self._ids: set[str] = set()
        self._order: collections.deque[str] = collections.deque()
        self._size = size

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        if event_id in self._ids:
            return
        self._ids.add(event_id)
        self._order.append(event_id)
        if len(self._order) > self._size:
            self._ids.discard(self._order.popleft())


async def follow(
    hub: EventHub,
    user_id: str | None,
    *,
    after: str | None = None,
    types: Collection[str] | None = None,
    accept: Accept | None = None,
    include_public: bool = False,
    replay_limit: int = 1000,
    maxsize: int | None = None,
) -> AsyncIterator[Event]:
    """Events of ``user_id`` (``None``: public events only), replayed from ``after`` then live."""
    sub = hub.subscribe(user_id, types=types, include_public=include_public, maxsize=maxsize)
    seen = _Seen()

    def wanted(e: Event) -> bool:
        if e.id in seen:
            return False
        if types is not None and e.type not in types:
            return False
        return accept is None or accept(e)

    async def replay(cursor: str) -> AsyncIterator[Event]:
        assert user_id is not None
        while True:
            batch = await hub.replay(user_id, cursor, limit=replay_limit)
            for e in batch:
                if wanted(e):
                    seen.add(e.id)
                    yield e
            if batch:
                cursor = batch[-1].id
                sub.advance(cursor)
            if len(batch) < replay_limit:
                return

    try:
        if after is not None and user_id is not None:
            async for e in replay(after):
                yield e
        async for e in sub:
            if e.type == GAP:
                if user_id is None:
                    continue  # public events are live only
                cursor = str(e.payload.get("after") or sub.last_id)
                try:
                    async for r in replay(cursor):
                        yield r
                except UpstreamUnavailable:
                    log.warning("follow_gap_unrecoverable", user_id=user_id)
                    yield e
                continue
            if wanted(e):
                seen.add(e.id)
                yield e
    finally:
        sub.close()
