"""In-process event hub (the embedded default): local fan-out + a replay log in the database.

Publishing delivers to local subscribers at once and hands the event to a background writer
that appends batches to the ``events`` table, so a publisher never waits on the database.
``replay`` first waits until everything published so far is written, so a client that saw an
event live can always resume from its id. A periodic task prunes the log by age and per-user
count. Only user events are logged; public events (prices) are live only.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import structlog

from app.events.envelope import Event, id_time_ms
from app.events.fanout import FanoutSubscribe, LocalFanout
from app.store.db import Store
from app.store.models.events import EventRecord

log = structlog.get_logger(__name__)

_T = EventRecord.__table__  # type: ignore[attr-defined]


class EventLog:
    """The database replay log with a batching writer. Used by :class:`MemoryHub`."""

    def __init__(
        self,
        store: Store,
        *,
        retention_count: int,
        retention_hours: float,
        max_backlog: int = 50_000,
        batch: int = 500,
    ) -> None:
        self.store = store
        self.retention_count = retention_count
        self.retention = timedelta(hours=retention_hours)
        self.max_backlog = max_backlog
        self.batch = batch
        self._pending: list[Event] = []
        self._wake = asyncio.Event()
        self._written = asyncio.Condition()
        self._enqueued = 0  # events accepted so far
        self._done = 0  # events written (or given up on) so far
        self.dropped = 0
        self.last_error: str | None = None

    def append(self, event: Event) -> None:
        if len(self._pending) >= self.max_backlog:
            # The database is stuck; keep memory bounded. Live delivery is unaffected.
            self._pending.pop(0)
            self.dropped += 1
            self._done += 1
        self._pending.append(event)
        self._enqueued += 1
        self._wake.set()

    @property
    def backlog(self) -> int:
        return len(self._pending)

    async def run_writer(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                chunk = self._pending[: self.batch]
                try:
                    await self._insert(chunk)
                    self.last_error = None
                except Exception as exc:  # keep the batch, retry after a pause
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    log.warning("event_log_write_failed", error=self.last_error)
                    await asyncio.sleep(1.0)
                    continue
                del self._pending[: len(chunk)]
                self._done += len(chunk)
                async with self._written:
                    self._written.notify_all()

    async def _insert(self, chunk: list[Event]) -> None:
        rows = [
            {
                "id": e.id,
                "user_id": e.user_id,
                "type": e.type,
                "occurred_at": e.occurred_at,
                "body": e.to_json(),
            }
            for e in chunk
        ]
        try:
            async with self.store.write() as s:
                await (await s.connection()).execute(sa.insert(_T), rows)
        except sa.exc.IntegrityError:
            # A duplicate id or an event of a deleted user: insert one by one, skip the bad ones.
            for row in rows:
                try:
                    async with self.store.write() as s:
                        await (await s.connection()).execute(sa.insert(_T), [row])
                except sa.exc.IntegrityError:
                    log.info("event_log_row_skipped", event_id=row["id"])

    async def flush(self, wait_s: float = 5.0) -> None:
        """Wait until everything appended so far is in the database (at most ``wait_s``)."""
        target = self._enqueued
        if self._done >= target:
            return
        async with self._written:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await self._written.wait_for(lambda: self._done >= target)

    async def replay(self, user_id: str, after: str, limit: int) -> list[Event]:
        await self.flush()
        async with self.store.read() as session:
            s = await session.connection()
            found = sa.select(_T.c.seq).where(_T.c.id == after, _T.c.user_id == user_id)
            seq = (await s.execute(found)).scalar()
            q = sa.select(_T.c.body).where(_T.c.user_id == user_id)
            # A pruned or unknown id is read as a point in time (ids sort by time).
            q = q.where(_T.c.seq > seq) if seq is not None else q.where(_T.c.id > after)
            rows = (await s.execute(q.order_by(_T.c.seq).limit(limit))).scalars().all()
        return [Event.from_json(body) for body in rows]

    async def prune(self) -> int:
        """Delete events older than the retention age and beyond the per-user count."""
        cutoff = datetime.now(UTC) - self.retention
        removed = 0
        async with self.store.write() as session:
            s = await session.connection()
            res = await s.execute(sa.delete(_T).where(_T.c.occurred_at < cutoff))
            removed += res.rowcount or 0
            over = (
                await s.execute(
                    sa.select(_T.c.user_id)
                    .group_by(_T.c.user_id)
                    .having(sa.func.count() > self.retention_count)
                )
            ).scalars().all()
            for user_id in over:
                keep_from = (
                    await s.execute(
                        sa.select(_T.c.seq)
                        .where(_T.c.user_id == user_id)
                        .order_by(_T.c.seq.desc())
                        .offset(self.retention_count - 1)
                        .limit(1)
                    )
                ).scalar()
                if keep_from is not None:
                    res = await s.execute(
                        sa.delete(_T).where(_T.c.user_id == user_id, _T.c.seq < keep_from)
                    )
                    removed += res.rowcount or 0
        return removed


class MemoryHub(FanoutSubscribe):
    """Single-process hub. Several server processes need :class:`app.events.redis.RedisHub`."""

    backend = "memory"

    def __init__(
        self,
        store: Store,
        *,
        queue_size: int = 256,
        retention_count: int = 10_000,
        retention_hours: float = 72,
        prune_interval_s: float = 300.0,
    ) -> None:
        self.fanout = LocalFanout(queue_size)
        self.log = EventLog(store, retention_count=retention_count, retention_hours=retention_hours)
        self.prune_interval_s = prune_interval_s
        self._tasks: list[asyncio.Task[None]] = []
        self.published = 0

    async def start(self) -> None:
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self.log.run_writer(), name="events-log-writer"),
            asyncio.create_task(self._prune_loop(), name="events-prune"),
        ]

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.log.flush(wait_s=2.0)
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []
        self.fanout.close_all()

    async def _prune_loop(self) -> None:
        # Sleep first: pruning at start-up only adds work there (and raced explicit prunes in tests).
        while True:
            await asyncio.sleep(self.prune_interval_s)
            try:
                removed = await self.log.prune()
                if removed:
                    log.info("event_log_pruned", removed=removed)
            except Exception:
                log.exception("event_log_prune_failed")

    async def publish(self, event: Event) -> None:
        self.published += 1
        self.fanout.deliver(event)
        if event.user_id is not None:
            self.log.append(event)

    async def flush(self) -> None:
        """Nothing to wait for: local delivery happened in :meth:`publish`."""

    async def replay(self, user_id: str, after: str | None, limit: int = 1000) -> list[Event]:
        if after is None or id_time_ms(after) is None:
            return []
        return await self.log.replay(user_id, after, limit)

    async def health(self) -> dict[str, object]:
        degraded = self.log.last_error is not None
        return {
            "status": "degraded" if degraded else "ok",
            "backend": self.backend,
            "subscribers": self.fanout.count(),
            "published": self.published,
            "log_backlog": self.log.backlog,
            "log_dropped": self.log.dropped,
            "error": self.log.last_error,
            "checked_at": time.time(),
        }
