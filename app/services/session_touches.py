"""When sessions and API keys were last used: remembered in memory, written in the background.

Signing in must never fail, nor wait, because of this bookkeeping. Writing ``last_used_at`` on the
request path made every first sign-in a write: a thousand WebSockets signing in at once queued a
thousand writes on SQLite's single writer, the last ones passed the busy timeout and their
``connection_init`` failed with "database is locked". Here a use is noted in memory (at most once
per :data:`TOUCH_EVERY` per session or key, whatever the process saw or read last), and a
background flush writes every pending stamp in one transaction a moment later. A flush that fails
(the database busy or down) keeps the stamps and tries again later, with a warning and no
traceback; it never reaches the request that noted them. Revocation is unaffected: it is checked
on every sign-in from the stored row (or the session cache, which revocations clear).

The sessions and API keys lists show the later of the stored stamp and this process's own
(:meth:`SessionTouches.last_used`), so a use is visible at once in the process that saw it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
import structlog

from app.backoff import Backoff
from app.store.db import Store, background_context

log = structlog.get_logger(__name__)

Kind = Literal["session", "key"]
TOUCH_EVERY = timedelta(minutes=1)  # ``last_used_at`` moves at most this often per session or key
_KNOWN_MAX = 50_000  # remembered stamps (LRU); a forgotten one costs at most one extra write


class SessionTouches:
    """Pending ``last_used_at`` stamps of sessions and API keys, flushed in one write."""

    def __init__(
        self, store: Store, *, every: timedelta = TOUCH_EVERY, delay_s: float = 1.0, retry_max_s: float = 60.0
    ) -> None:
        self.store = store
        self.every = every
        self.delay_s = delay_s
        self.retry_max_s = retry_max_s
        self._known: OrderedDict[str, datetime] = OrderedDict()  # id → latest stamp stored or noted
        self._pending: dict[tuple[Kind, str], datetime] = {}
        self._task: asyncio.Task[None] | None = None
        self._failures = 0
        self._in_flight = 0  # stamps being written right now
        self.writes = 0  # flush transactions committed (tests, health)

    def note(self, kind: Kind, ident: str, now: datetime, stored: datetime | None = None) -> None:
        """``ident`` was used at ``now``; ``stored`` is its stamp as just read, when it was read."""
        last = self._known.get(ident)
        if stored is not None and (last is None or stored > last):
            last = stored
        if last is not None and now - last <= self.every:
            self._remember(ident, last)
            return
        self._remember(ident, now)
        self._pending[(kind, ident)] = now
        self._schedule(self.delay_s)

    def last_used(self, ident: str, stored: datetime | None) -> datetime | None:
        """The later of ``stored`` and the stamp this process noted (perhaps not written yet)."""
        mine = self._known.get(ident)
        if mine is None or (stored is not None and stored >= mine):
            return stored
        return mine

    @property
    def pending(self) -> int:
        """Stamps not written yet (those of a flush under way included)."""
        return len(self._pending) + self._in_flight

    def _remember(self, ident: str, stamp: datetime) -> None:
        self._known[ident] = stamp
        self._known.move_to_end(ident)
        while len(self._known) > _KNOWN_MAX:
            self._known.popitem(last=False)

    def _schedule(self, delay_s: float) -> None:
        if self._task is not None and not self._task.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a synchronous caller): the next noted use schedules it
            return
        # Not in the request's context: the flush must not join (or end) a GraphQL operation's snapshot.
        self._task = loop.create_task(self._later(delay_s), context=background_context())

    async def _later(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        ok = await self.flush()
        self._task = None
        if self._pending:
            retry = Backoff(self.delay_s, self.retry_max_s, jitter=(1.0, 1.0))
            self._schedule(self.delay_s if ok else retry.delay(self._failures))

    async def flush(self) -> bool:
        """Write every pending stamp in one transaction; False (stamps kept) when it failed."""
        if not self._pending:
            return True
        from app.store.models.accounts import ApiKey, AuthSession

        batch, self._pending = self._pending, {}
        self._in_flight = len(batch)
        rows: dict[Kind, list[dict[str, Any]]] = {"session": [], "key": []}
        for (kind, ident), stamp in batch.items():
            rows[kind].append({"ident": ident, "stamp": stamp})
        try:
            async with self.store.write() as s:
                conn = await s.connection()
                for kind, model in (("session", AuthSession), ("key", ApiKey)):
                    if rows[kind]:
                        table: sa.Table = model.__table__  # type: ignore[union-attr]
                        stmt = (
                            sa.update(table)
                            .where(table.c.id == sa.bindparam("ident"))
                            .values(last_used_at=sa.bindparam("stamp"))
                        )
                        await conn.execute(stmt, rows[kind])
        except BaseException as exc:  # busy, locked, unreachable or cancelled: keep the stamps
            for key, stamp in batch.items():
                if key not in self._pending or self._pending[key] < stamp:
                    self._pending[key] = stamp
            if not isinstance(exc, Exception):
                raise
            self._failures += 1
            log.warning("session_touch_deferred", stamps=len(batch), error=type(exc).__name__, attempt=self._failures)
            return False
        finally:
            self._in_flight = 0
        self._failures = 0
        self.writes += 1
        return True

    # -- component: nothing to start; stopping writes what is pending ------------------------------

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush(), timeout=5)

    async def health(self) -> dict[str, Any]:
        """Always ok: a deferred stamp harms nothing (failures are logged, and counted here)."""
        return {"status": "ok", "pending": len(self._pending), "failedFlushes": self._failures}
