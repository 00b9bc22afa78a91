"""In-process fan-out shared by every hub backend: per-user topics, bounded subscriber queues.

Backpressure policy (see ``docs/events.md``): publishing never waits for a reader. Every
subscriber owns a bounded queue; when it is full the *oldest* queued events are dropped and
one ``gap`` marker is put at the head of the queue. The marker carries ``payload.after``: the
id of the last event of that user the subscriber actually received (or the subscriber's start
cursor), so the reader can fetch what it missed with ``hub.replay(user, after)`` — the GraphQL
subscriptions do that themselves, so a slow dashboard catches up instead of silently losing
events. Memory per subscriber is bounded by ``maxsize`` events whatever the publish rate.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable, Collection, Iterable
from typing import Any

import structlog

from app.events.envelope import GAP, Event, id_floor, id_time_ms
from app.observability.metrics import observe_hub_delivery

log = structlog.get_logger(__name__)


class Subscriber:
    """One reader of one user's topic (plus public events). An async iterator of :class:`Event`.

    ``types`` (optional) filters at fan-out time so a subscription to one event type is never
    woken for the others. Close it with :meth:`close` (or ``async with``) to unregister.
    """

    __slots__ = (
        "_closed",
        "_fanout",
        "_gap_pending",
        "_queue",
        "_waiter",
        "callback",
        "delivered",
        "dropped",
        "include_public",
        "last_id",
        "maxsize",
        "start_id",
        "types",
        "user_id",
    )

    def __init__(
        self,
        fanout: LocalFanout,
        user_id: str | None,
        maxsize: int,
        types: Collection[str] | None,
        include_public: bool,
    ) -> None:
        self._fanout = fanout
        self.user_id = user_id
        self.maxsize = maxsize
        self.types = frozenset(types) if types is not None else None
        self.include_public = include_public
        self._queue: collections.deque[Event] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._gap_pending = False
        self.callback: Callable[[Event], None] | None = None
        # Resume cursor: the id of the last *logged* (user) event handed to the reader; before
        # the first one, an id floor at subscription time so a replay covers "since I subscribed".
        self.start_id: str = id_floor(int(time.time() * 1000) - 1)
        self.last_id: str = self.start_id
        self.delivered = 0
        self.dropped = 0

    # -- producer side (never blocks) -------------------------------------------------

    def wants(self, event: Event) -> bool:
        return self.types is None or event.type in self.types or event.type == GAP

    def push(self, event: Event) -> None:
        if self._closed:
            return
        if self.callback is not None:
            try:
                self.callback(event)
            except Exception:  # a listener's bug must not break the publisher
                log.exception("event_listener_failed", event_type=event.type)
            return
        q = self._queue
        if len(q) >= self.maxsize:
            self._overflow()
        q.append(event)
        self._wake()

    def push_gap(self, after: str | None = None) -> None:
        """Tell the reader that events after ``after`` (default: its cursor) may be missing."""
        if self._closed:
            return
        if self._gap_pending:  # an earlier marker is still queued: keep the earlier cursor
            return
        self._gap_pending = True
        self._queue.appendleft(self._gap_event(after))
        self._wake()

    def advance(self, event_id: str) -> None:
        """The reader caught up to ``event_id`` by other means (a replay)."""
        self.last_id = event_id

    def _overflow(self) -> None:
        # Drop the oldest real events so that the marker (kept first, and only one) plus the
        # incoming event fit in ``maxsize``.
        q = self._queue
        gap = q.popleft() if self._gap_pending else None
        while q and len(q) + 2 > self.maxsize:
            q.popleft()
            self.dropped += 1
        if gap is None:
            self._gap_pending = True
            gap = self._gap_event()
        q.appendleft(gap)

    def _gap_event(self, after: str | None = None) -> Event:
        return Event(type=GAP, user_id=self.user_id, payload={"after": after or self.last_id})

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    # -- consumer side ------------------------------------------------------------------

    def get_nowait(self) -> Event | None:
        if not self._queue:
            return None
        event = self._queue.popleft()
        self._note(event)
        return event

    def _note(self, event: Event) -> None:
        if event.type == GAP:
            self._gap_pending = False
        elif event.user_id is not None:
            self.last_id = event.id
        self.delivered += 1

    def __aiter__(self) -> Subscriber:
        return self

    async def __anext__(self) -> Event:
        while not self._queue:
            if self._closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        event = self._queue.popleft()
        self._note(event)
        return event

    def qsize(self) -> int:
        return len(self._queue)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.clear()
        self._fanout._remove(self)
        self._wake()

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> Subscriber:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()


class LocalFanout:
    """This process's subscribers indexed by user; delivery costs O(subscribers of that user)."""

    def __init__(self, queue_size: int) -> None:
        self.queue_size = queue_size
        self._by_user: dict[str | None, set[Subscriber]] = {}
        self._public: set[Subscriber] = set()
        # Process-wide caches (sessions, responses) that see every delivered event, all users.
        self._watchers: list[Callable[[Event], None]] = []
        # Reactions to what this process published (run once per event, not once per process).
        self._own_watchers: list[Callable[[Event], None]] = []
        # False while events of other processes may not be reaching us (shared bus down):
        # the caches must not answer from memory then.
        self.linked: Callable[[], bool] = lambda: True

    def watch(self, callback: Callable[[Event], None], *, own_only: bool = False) -> Callable[[], None]:
        """Call ``callback`` for every event delivered here (every user, public too) and with a
        ``gap`` event when events may have been missed; returns the function that stops it.

        ``own_only``: only the events this process published, not those relayed from other
        processes (a reaction that must run once per event, such as re-valuing portfolios after
        a sync, runs where the event was published), and no ``gap`` events.
        The callback must be quick and must not raise (start a task for slow work).
        """
        watchers = self._own_watchers if own_only else self._watchers
        watchers.append(callback)
        return lambda: watchers.remove(callback) if callback in watchers else None

    def subscribe(
        self,
        user_id: str | None,
        *,
        types: Collection[str] | None = None,
        include_public: bool = True,
        maxsize: int | None = None,
    ) -> Subscriber:
        sub = Subscriber(self, user_id, maxsize or self.queue_size, types, include_public)
        self._by_user.setdefault(user_id, set()).add(sub)
        if include_public:
            self._public.add(sub)
        return sub

    def listen(
        self,
        user_id: str | None,
        callback: Callable[[Event], None],
        *,
        types: Collection[str] | None = None,
        include_public: bool = False,
    ) -> Subscriber:
        """Call ``callback(event)`` synchronously on delivery instead of queueing (no reader task).

        The callback must be quick and must not raise; ``close()`` the handle to stop.
        """
        sub = self.subscribe(user_id, types=types, include_public=include_public, maxsize=1)
        sub.callback = callback
        return sub

    def _remove(self, sub: Subscriber) -> None:
        subs = self._by_user.get(sub.user_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._by_user[sub.user_id]
        self._public.discard(sub)

    def deliver(self, event: Event, *, relayed: bool = False) -> int:
        """Queue ``event`` for every interested local subscriber; returns how many got it.
        ``relayed``: published by another process (the shared bus brought it here)."""
        observe_hub_delivery(id_time_ms(event.id))
        for watcher in self._watchers:
            watcher(event)
        if not relayed:
            for watcher in self._own_watchers:
                watcher(event)
        if event.user_id is None:
            targets: Iterable[Subscriber] = tuple(self._public)
        else:
            targets = tuple(self._by_user.get(event.user_id, ()))
        n = 0
        for sub in targets:
            if sub.wants(event):
                sub.push(event)
                n += 1
        return n

    def cursors(self) -> dict[Subscriber, str]:
        """Every subscriber's resume cursor now (taken when the shared bus is lost)."""
        return {sub: sub.last_id for subs in self._by_user.values() for sub in subs}

    def gap_all(self, cursors: dict[Subscriber, str] | None = None) -> None:
        """Every subscriber may have missed events since ``cursors`` (default: its start)."""
        cursors = cursors or {}
        self.missed()
        for subs in list(self._by_user.values()):
            for sub in list(subs):
                sub.push_gap(cursors.get(sub, sub.start_id))

    def missed(self) -> None:
        """Tell the watchers that events may have been missed (they drop what they cached)."""
        gap = Event(type=GAP, user_id=None, payload={})
        for watcher in self._watchers:
            watcher(gap)

    def users(self) -> list[str]:
        return [u for u in self._by_user if u is not None]

    def count(self) -> int:
        """Live readers: subscriptions' subscribers, not the process's own ``listen`` callbacks (caches)."""
        return sum(1 for subs in self._by_user.values() for sub in subs if sub.callback is None)

    def close_all(self) -> None:
        for subs in list(self._by_user.values()):
            for sub in list(subs):
                sub.close()


class FanoutSubscribe:
    """``EventHub.subscribe`` for a hub whose live subscribers are its process's ``fanout``."""

    fanout: LocalFanout

    def subscribe(
        self,
        user_id: str | None,
        *,
        types: Collection[str] | None = None,
        include_public: bool = True,
        maxsize: int | None = None,
    ) -> Subscriber:
        return self.fanout.subscribe(user_id, types=types, include_public=include_public, maxsize=maxsize)
