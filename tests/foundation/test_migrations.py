"""Alembic owns the schema: up and down on both engines, and no drift from the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from app.store import migrate
from app.store.db import Store
from app.store.models import metadata


def _diff(conn: Connection) -> list[object]:
    ctx = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(ctx, metadata))


async def test_models_match_migrations(any_engine: str, store: Store) -> None:
    await migrate.upgrade(store)
    assert await migrate.is_at_head(store)
    async with store.engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == [], f"models and migrations differ; add a migration: {diff}"


async def test_down_to_base_and_up_again(any_engine: str, store: Store) -> None:
    await migrate.upgrade(store)
    await migrate.downgrade(store, "base")
    assert await migrate.current_revisions(store) == set()
    async with store.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(c.dialect.get_table_names(c)))
    assert tables <= {"alembic_version"}
    await migrate.upgrade(store)
    assert await migrate.is_at_head(store)


def test_history_has_one_head() -> None:
    """A second head means two migrations were written against the same parent: re-point the newer one."""
    heads = migrate.head_revisions()
    assert len(heads) == 1, f"alembic history has several heads {sorted(heads)}: set down_revision to the one head"
