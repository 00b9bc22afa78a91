"""Consistent database snapshots and their restore, per engine.

SQLite: the online backup API (a consistent copy while the server writes; WAL readers never
block). PostgreSQL: ``pg_dump --format=custom`` inside an exported REPEATABLE READ snapshot, so
the row counts recorded in the manifest describe exactly the dumped data.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

SKIP_EMPTY_CHECK = {"alembic_version", "key_store"}  # present in a freshly started, empty database


class SnapshotError(Exception):
    """A snapshot could not be taken or restored (the message says why)."""


@dataclass
class Facts:
    revision: str | None
    counts: dict[str, int]


# ------------------------------------------------------------------------------------------ SQLite


def sqlite_snapshot(db_path: Path, dest: Path) -> Facts:
    if not db_path.exists():
        raise SnapshotError(f"no database at {db_path}")
    src = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    dst = sqlite3.connect(dest)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    return sqlite_facts(dest)


def sqlite_facts(path: Path) -> Facts:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        counts = {t: int(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in tables}
        revision = None
        if "alembic_version" in tables:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = row[0] if row else None
        return Facts(revision, counts)
    finally:
        conn.close()


def sqlite_integrity(path: Path) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()
    return "; ".join(str(r[0]) for r in rows)


def sqlite_restore(snapshot: Path, target: Path) -> None:
    """Copy ``snapshot`` over ``target`` page by page, in one transaction of the target."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o600))
    src = sqlite3.connect(f"file:{snapshot}?mode=ro", uri=True)
    dst = sqlite3.connect(target, timeout=30)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def sqlite_has_data(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return False
    facts = sqlite_facts(path)
    return any(n for t, n in facts.counts.items() if t not in SKIP_EMPTY_CHECK)


# -------------------------------------------------------------------------------------- PostgreSQL


def _pg_params(url: str) -> dict[str, Any]:
    u = make_url(url)
    return {
        "host": u.host or "localhost",
        "port": u.port or 5432,
        "user": u.username,
        "password": u.password,
        "database": u.database,
    }


def _pg_env(url: str) -> dict[str, str]:
    """libpq environment for pg_dump/pg_restore (the password never appears on a command line)."""
    p = _pg_params(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update({"PGHOST": str(p["host"]), "PGPORT": str(p["port"]), "PGDATABASE": str(p["database"])})
    if p["user"]:
        env["PGUSER"] = str(p["user"])
    if p["password"]:
        env["PGPASSWORD"] = str(p["password"])
    ssl = make_url(url).query.get("ssl") or make_url(url).query.get("sslmode")
    if ssl:
        env["PGSSLMODE"] = str(ssl if isinstance(ssl, str) else ssl[0])
    return env


async def _connect(url: str) -> asyncpg.Connection:
    p = _pg_params(url)
    return await asyncpg.connect(**p)


async def _pg_facts(conn: asyncpg.Connection) -> Facts:
    tables = [
        r["table_name"]
        for r in await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_type = 'BASE TABLE' ORDER BY table_name"
        )
    ]
    counts = {t: int(await conn.fetchval(f'SELECT count(*) FROM "{t}"')) for t in tables}
    revision = await conn.fetchval("SELECT version_num FROM alembic_version") if "alembic_version" in tables else None
    return Facts(revision, counts)


async def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
    except FileNotFoundError:
        raise SnapshotError(
            f"{cmd[0]} not found: install the PostgreSQL client tools (Debian: apt-get install postgresql-client)"
        ) from None
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise SnapshotError(f"{what} failed: {err.decode(errors='replace').strip()[:500]}")


async def pg_snapshot(url: str, dest: Path) -> Facts:
    conn = await _connect(url)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            facts = await _pg_facts(conn)
            cmd = ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}"]
            await _run([*cmd, f"--file={dest}"], _pg_env(url), "pg_dump")
    finally:
        await conn.close()
    return facts


async def pg_has_data(url: str) -> bool:
    conn = await _connect(url)
    try:
        facts = await _pg_facts(conn)
    finally:
        await conn.close()
    return any(n for t, n in facts.counts.items() if t not in SKIP_EMPTY_CHECK)


async def pg_facts(url: str) -> Facts:
    conn = await _connect(url)
    try:
        return await _pg_facts(conn)
    finally:
        await conn.close()


async def pg_restore(dump: Path, url: str) -> None:
    """Drop everything in the target schema (tables, views, sequences, functions, types), then
    restore the dump in one transaction."""
    conn = await _connect(url)
    try:
        async with conn.transaction():
            await _pg_drop_all(conn)
    finally:
        await conn.close()
    cmd = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    await _run([*cmd, f"--dbname={_pg_params(url)['database']}", str(dump)], _pg_env(url), "pg_restore")


async def _pg_drop_all(conn: asyncpg.Connection) -> None:
    ns = "(SELECT oid FROM pg_namespace WHERE nspname = current_schema())"
    for r in await conn.fetch(
        f"SELECT c.oid::regclass::text AS name FROM pg_class c WHERE c.relnamespace = {ns} AND c.relkind IN ('v', 'm')"
    ):
        await conn.execute(f"DROP VIEW IF EXISTS {r['name']} CASCADE")
    for r in await conn.fetch(
        f"SELECT c.oid::regclass::text AS name FROM pg_class c WHERE c.relnamespace = {ns} AND c.relkind IN ('r', 'p')"
    ):
        await conn.execute(f"DROP TABLE IF EXISTS {r['name']} CASCADE")
    for r in await conn.fetch(
        f"SELECT c.oid::regclass::text AS name FROM pg_class c WHERE c.relnamespace = {ns} AND c.relkind = 'S'"
    ):
        await conn.execute(f"DROP SEQUENCE IF EXISTS {r['name']} CASCADE")
    for r in await conn.fetch(f"SELECT p.oid::regprocedure::text AS name FROM pg_proc p WHERE p.pronamespace = {ns}"):
        await conn.execute(f"DROP FUNCTION IF EXISTS {r['name']} CASCADE")
    for r in await conn.fetch(
        f"SELECT t.oid::regtype::text AS name FROM pg_type t WHERE t.typnamespace = {ns} AND t.typtype IN ('e', 'd')"
    ):
        await conn.execute(f"DROP TYPE IF EXISTS {r['name']} CASCADE")
