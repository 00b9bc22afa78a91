"""The store under concurrent writers, and its post-commit hooks."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from sqlmodel import select

from app.store.db import Store
from app.store.models.accounts import User


async def test_concurrent_writers_wait_instead_of_failing(any_engine: str, store: Store) -> None:
    """Read-then-write transactions from many tasks: none fails with "database is locked"."""

    async def add(n: int) -> None:
        async with store.write() as s:
            count = (await s.exec(select(sa.func.count()).select_from(User))).one()
            await asyncio.sleep(0.005)  # hold the transaction open across an await
            s.add(User(email=f"u{n}-{count}@example.com", password_hash="x"))

    await asyncio.gather(*(add(n) for n in range(25)))
    async with store.read() as s:
        assert (await s.exec(select(sa.func.count()).select_from(User))).one() == 25


async def test_after_commit_hooks_run_only_after_commit(store: Store) -> None:
    ran: list[str] = []

    async def hook() -> None:
        async with store.read() as s:  # the change is visible to others when the hook runs
            ran.append((await s.exec(select(User.email))).one())

    async with store.write() as s:
        s.add(User(email="hook@example.com", password_hash="x"))
        s.on_commit(hook)
        assert ran == []
    assert ran == ["hook@example.com"]

    with pytest.raises(RuntimeError):
        async with store.write() as s:
            s.add(User(email="rolled-back@example.com", password_hash="x"))
            s.on_commit(hook)
            raise RuntimeError("boom")
    assert ran == ["hook@example.com"]
    async with store.read() as s:
        assert (await s.exec(select(User.email))).all() == ["hook@example.com"]
