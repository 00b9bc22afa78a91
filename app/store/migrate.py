"""Run alembic from inside the app (``mbf serve``/``mbf migrate``) on the store's own engine."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from app.store.db import Store

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


async def upgrade(store: Store, target: str = "heads") -> None:
    await _run(store, lambda cfg: command.upgrade(cfg, target))


async def downgrade(store: Store, target: str) -> None:
    await _run(store, lambda cfg: command.downgrade(cfg, target))


async def current_revisions(store: Store) -> set[str]:
    def _current(conn: Connection) -> set[str]:
        return set(MigrationContext.configure(conn).get_current_heads())

    async with store.engine.connect() as conn:
        return await conn.run_sync(_current)


async def is_at_head(store: Store) -> bool:
    return await current_revisions(store) == head_revisions()


async def _run(store: Store, action: object) -> None:
    def _sync(conn: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        action(cfg)  # type: ignore[operator]

    async with store.engine.begin() as conn:
        await conn.run_sync(_sync)
