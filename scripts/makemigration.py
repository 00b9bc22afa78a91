"""Draft an alembic migration: upgrade a scratch SQLite DB to heads, then autogenerate the diff.

Usage: python scripts/makemigration.py <rev_id> <down_revision> "message"
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from alembic import command
from sqlalchemy.engine import Connection

from app.store import migrate
from app.store.db import Store


async def main(rev_id: str, down: str, message: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite+aiosqlite:///{Path(tmp) / 'draft.db'}")
        await migrate.upgrade(store, "heads")

        def _rev(conn: Connection) -> None:
            cfg = migrate.alembic_config()
            cfg.attributes["connection"] = conn
            command.revision(cfg, message=message, autogenerate=True, rev_id=rev_id, head=down or "head")

        async with store.engine.begin() as conn:
            await conn.run_sync(_rev)
        await store.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
