"""Fresh, migrated databases per test, cheaply: migrate a template once, then copy it.

SQLite: the template file is copied. PostgreSQL: ``CREATE DATABASE ... TEMPLATE``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg

from app.store import migrate
from app.store.db import Store
from tests.support.services import pg_admin_dsn, pg_url


def _run(coro_factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a coroutine to completion in its own thread and loop (fixtures may be set up inside a loop)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(coro_factory())).result()


async def _migrate(url: str) -> None:
    store = Store(url)
    try:
        await migrate.upgrade(store)
    finally:
        await store.dispose()


class SqliteTemplates:
    def __init__(self, root: Path) -> None:
        self.template = root / "template.sqlite3"
        _run(lambda: _migrate(f"sqlite+aiosqlite:///{self.template}"))

    def fresh(self, directory: Path) -> str:
        target = directory / "mbf.sqlite3"
        shutil.copyfile(self.template, target)
        return f"sqlite+aiosqlite:///{target}"


class PostgresTemplates:
    def __init__(self) -> None:
        self.template = f"mbf_tmpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.created: list[str] = []

        async def setup() -> None:
            conn = await asyncpg.connect(pg_admin_dsn())
            try:
                await conn.execute(f'CREATE DATABASE "{self.template}"')
            finally:
                await conn.close()
            await _migrate(pg_url(self.template))

        _run(setup)

    async def fresh(self) -> str:
        name = f"mbf_t_{uuid.uuid4().hex[:12]}"
        conn = await asyncpg.connect(pg_admin_dsn())
        try:
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        finally:
            await conn.close()
        self.created.append(name)
        return pg_url(name)

    async def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        conn = await asyncpg.connect(pg_admin_dsn())
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    def close(self) -> None:
        async def teardown() -> None:
            conn = await asyncpg.connect(pg_admin_dsn())
            try:
                for name in [*self.created, self.template]:
                    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()

        _run(teardown)
