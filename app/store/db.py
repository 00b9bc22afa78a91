"""The database: one async engine, read and write sessions, post-commit hooks.

SQLite is tuned for a server: WAL (readers never block the writer), foreign keys on,
a busy timeout, and ``BEGIN IMMEDIATE`` for write transactions so concurrent writers
queue on the lock instead of failing with "database is locked" at commit.
PostgreSQL (``postgresql+asyncpg://``) needs none of this.

A :meth:`Store.snapshot` makes every :meth:`Store.read` of one unit of work (a GraphQL operation)
share one read transaction, so all its fields see one state of the database: on SQLite one
deferred ``BEGIN`` held open (WAL keeps that reader's view while writers commit), on PostgreSQL
``REPEATABLE READ, READ ONLY``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import structlog
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from app.observability.metrics import instrument_engine, release_engine

log = structlog.get_logger(__name__)

AfterCommit = Callable[[], Awaitable[Any]]
_IMMEDIATE = "mbf_sqlite_immediate"


class Tx(AsyncSession):
    """A session that remembers callbacks to run once its transaction has committed."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.after_commit: list[AfterCommit] = []

    def on_commit(self, callback: AfterCommit) -> None:
        """Run ``callback`` after a successful commit (e.g. publish an event); dropped on rollback."""
        self.after_commit.append(callback)


def _tune_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Snapshot:
    """One read transaction shared by every :meth:`Store.read` of one unit of work.

    Opened lazily at the first read and held until :meth:`close`. Reads are serialised on it (one
    connection); a read nested in another read of the same task reuses it. ``refresh_on_write``
    (mutations): a write ends the snapshot, so what is read after it (the mutation's result)
    sees the write, again all from one snapshot.
    """

    def __init__(self, store: Store, *, refresh_on_write: bool) -> None:
        self.store = store
        self.refresh_on_write = refresh_on_write
        self.closed = False
        self.transactions = 0  # how many read transactions this unit of work opened (tests, logs)
        self.opened_at: float | None = None  # monotonic time its first read transaction was begun
        self.writes = 0  # writes seen with refresh_on_write (what was read before them is outdated)
        self._session: Tx | None = None
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None
        self._stale = False
        self._slot = False  # holds one of the store's snapshot slots

    @contextlib.asynccontextmanager
    async def use(self) -> AsyncIterator[Tx]:
        task = asyncio.current_task()
        if self._session is not None and self._holder is task:  # nested read in the same task
            yield self._session
            return
        async with self._lock:
            self._holder = task
            try:
                if self._session is None:
                    await self.store._snapshot_slots.acquire()
                    self._slot = True
                    if self.opened_at is None:  # the earliest: what was read is at least this recent
                        self.opened_at = time.monotonic()  # (before the transaction's first statement)
                    self._session = self.store._snapshot_session()
                    self.transactions += 1
                yield self._session
            except DBAPIError:  # a failed statement spoils the transaction: the next read opens another
                self._stale = True
                raise
            finally:
                self._holder = None
                if self._stale or self.closed:
                    await self._end()

    async def ended_by_write(self) -> None:
        """Called before a write: a mutation's later reads must see it."""
        if not self.refresh_on_write:
            return
        self.writes += 1
        if self._lock.locked():  # a read is running (perhaps the writer's own): end it when it finishes
            self._stale = True
        else:
            await self._end()

    async def _end(self) -> None:
        session, self._session, self._stale = self._session, None, False
        try:
            if session is not None:
                await session.close()  # rolls the read transaction back, returns the connection
        finally:
            if self._slot:
                self._slot = False
                self.store._snapshot_slots.release()

    async def close(self) -> None:
        self.closed = True
        if not self._lock.locked():
            await self._end()


_SNAPSHOT: contextvars.ContextVar[Snapshot | None] = contextvars.ContextVar("mbf_snapshot", default=None)


def background_context() -> contextvars.Context:
    """A copy of the current context without the caller's snapshot, for background tasks started
    during a request (a sync, a report): they read the live database, not the request's view."""
    ctx = contextvars.copy_context()
    ctx.run(_SNAPSHOT.set, None)
    return ctx


class Store:
    """Owns the engine. Services use :meth:`read` and :meth:`write`; nothing else opens sessions."""

    def __init__(self, url: str, *, echo: bool = False, busy_timeout_ms: int = 15_000) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # hide_parameters: SQL errors never carry bound values (emails, hashes, ciphertexts) into logs.
        kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": not self.is_sqlite, "hide_parameters": True}
        pool_size, max_overflow = (5, 10) if self.is_sqlite else (10, 20)  # SQLite: SQLAlchemy's defaults
        if not self.is_sqlite:
            kwargs.update(pool_size=pool_size, max_overflow=max_overflow)
        # Snapshots hold their connection for a whole operation; at most half the pool, so that the
        # reads and writes they wait on (live reads, writes, sign-in checks) always find one.
        self._snapshot_slots = asyncio.Semaphore(max(1, (pool_size + max_overflow) // 2))
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            _tune_sqlite(self.engine, busy_timeout_ms)
        self._write_engine = self.engine.execution_options(**{_IMMEDIATE: True})
        self._snapshot_engine = (
            self.engine
            if self.is_sqlite
            else self.engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        )
        instrument_engine(self.engine)

    def _snapshot_session(self) -> Tx:
        # autoflush off: nothing read through a snapshot is ever written back by it.
        return Tx(self._snapshot_engine, expire_on_commit=False, autoflush=False)

    @contextlib.asynccontextmanager
    async def snapshot(self, *, refresh_on_write: bool = False) -> AsyncIterator[Snapshot]:
        """Every :meth:`read` inside this block (this task and the tasks it starts) shares one
        read transaction: one consistent view of the database for a whole GraphQL operation."""
        snap = Snapshot(self, refresh_on_write=refresh_on_write)
        token = _SNAPSHOT.set(snap)
        try:
            yield snap
        finally:
            _SNAPSHOT.reset(token)
            await snap.close()

    def snapshot_opened_at(self) -> float | None:
        """When the current operation's snapshot began its first read transaction (monotonic seconds);
        None when the reads of this task are not in an opened snapshot (each read then begins its
        own transaction, later than now). What was read from it includes every commit made before
        that time: an answer kept under a data version must come from a snapshot opened after the
        version's last move (see ``app/events/versions.py``)."""
        snap = _SNAPSHOT.get()
        if snap is None or snap.closed or snap.store is not self:
            return None
        return snap.opened_at

    @contextlib.asynccontextmanager
    async def read(self, *, live: bool = False) -> AsyncIterator[Tx]:
        """A read-only unit of work (a plain transaction, rolled back at the end); inside a
        :meth:`snapshot`, the snapshot's transaction. ``live``: never the snapshot's (reference
        data that a read-through cache fills during the operation, e.g. price closes)."""
        snap = None if live else _SNAPSHOT.get()
        if snap is not None and not snap.closed and snap.store is self:
            async with snap.use() as session:
                yield session
            return
        async with Tx(self.engine, expire_on_commit=False) as session:
            yield session

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[Tx]:
        """One write transaction: commits on success, rolls back on any exception, then runs hooks."""
        snap = _SNAPSHOT.get()
        if snap is not None and not snap.closed and snap.store is self:
            await snap.ended_by_write()
        async with Tx(self._write_engine, expire_on_commit=False) as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
        for callback in session.after_commit:
            try:
                await callback()
            except Exception:  # a failed notification must not undo a committed change
                log.exception("after_commit_hook_failed")

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        release_engine(self.engine)
