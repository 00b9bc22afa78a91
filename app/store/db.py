"""The database: one async engine, read and write sessions, post-commit hooks.

SQLite is tuned for a server: WAL (readers never block the writer), foreign keys on,
a busy timeout, and ``BEGIN IMMEDIATE`` for write transactions so concurrent writers
queue on the lock instead of failing with "database is locked" at commit.
PostgreSQL (``postgresql+asyncpg://``) needs none of this.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import structlog
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
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


class Store:
    """Owns the engine. Services use :meth:`read` and :meth:`write`; nothing else opens sessions."""

    def __init__(self, url: str, *, echo: bool = False, busy_timeout_ms: int = 15_000) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # hide_parameters: SQL errors never carry bound values (emails, hashes, ciphertexts) into logs.
        kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": not self.is_sqlite, "hide_parameters": True}
        if not self.is_sqlite:
            kwargs.update(pool_size=10, max_overflow=20)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            _tune_sqlite(self.engine, busy_timeout_ms)
        self._write_engine = self.engine.execution_options(**{_IMMEDIATE: True})
        instrument_engine(self.engine)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        """A read-only unit of work (a plain transaction, rolled back at the end)."""
        async with Tx(self.engine, expire_on_commit=False) as session:
            yield session

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[Tx]:
        """One write transaction: commits on success, rolls back on any exception, then runs hooks."""
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
