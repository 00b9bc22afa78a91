"""Signing in never fails because of ``last_used_at``: the stamp is written in the background, and a
database whose writer is busy (or locked past its busy timeout) delays the stamp, not the sign-in."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import col

from app.container import Container
from app.security.tokens import new_token, token_hash
from app.services.accounts import AccountService, Client
from app.store.db import Store
from app.store.models.accounts import AuthSession
from app.store.models.base import utcnow
from tests.subscriptions.wsclient import WS
from tests.support.server import LiveServer

PASSWORD = "correct horse battery staple"
SOCKETS = 200


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    # One user opens every socket, all at once from one address: the per-user and per-address limits
    # would refuse most of them before their connection_init (that is what they are for).
    return {"ws_max_connections_per_user": SOCKETS, "ws_max_anonymous_per_ip": SOCKETS}


async def _sessions(container: Container, user_id: str, count: int) -> list[str]:
    """``count`` signed-in sessions of one user (written directly: argon2 per login would take minutes)."""
    tokens = [new_token() for _ in range(count)]
    expires = utcnow() + timedelta(hours=1)
    async with container.store.write() as s:
        for token in tokens:
            s.add(AuthSession(user_id=user_id, token_hash=token_hash(token), expires_at=expires))
    return tokens


def _stamps(path: str) -> list[object]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT last_used_at FROM auth_sessions")]


async def test_sign_ins_succeed_while_the_writer_is_locked(container: Container) -> None:
    """The SQLite write lock held by another process past the busy timeout: every sign-in still
    succeeds (reads are not blocked in WAL mode), and the stamps are written once the lock goes."""
    user = await container.accounts.register("burst@example.com", PASSWORD, client=Client(ip="127.0.0.1"))
    tokens = await _sessions(container, user.user.id, 30)
    path = container.store.url.split("///", 1)[1]
    store = Store(container.store.url, busy_timeout_ms=50)  # a short timeout: "database is locked" fast
    accounts = AccountService(store, container.keyring, container.settings, container.hub)
    accounts.session_cache.ttl_s = 0  # no session cache: every sign-in reads
    accounts.touches.delay_s = 0.05
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        viewers = await asyncio.gather(*(accounts.authenticate(t) for t in tokens))
        assert all(v is not None and v.user_id == user.user.id for v in viewers)
        assert len({v.session_id for v in viewers if v is not None}) == len(tokens)
        await asyncio.sleep(0.3)  # flushes ran and failed on the lock: the stamps are kept
        assert accounts.touches.pending >= len(tokens) and accounts.touches.writes == 0
        # The lists show this process's stamp while the database cannot take it yet.
        mine = next(v for v in viewers if v is not None)
        listed = await accounts.sessions(mine)
        assert all(s.last_used_at is not None for s in listed if s.id in {v.session_id for v in viewers if v})
        holder.execute("ROLLBACK")
        for _ in range(100):
            if accounts.touches.pending == 0:
                break
            await asyncio.sleep(0.05)
        assert accounts.touches.pending == 0 and accounts.touches.writes >= 1
        stamped = _stamps(path)
        assert sum(stamp is not None for stamp in stamped) >= len(tokens)
        # A second sign-in within the minute writes nothing more.
        writes = accounts.touches.writes
        await asyncio.gather(*(accounts.authenticate(t) for t in tokens))
        assert accounts.touches.pending == 0 and accounts.touches.writes == writes
    finally:
        holder.close()
        await accounts.touches.stop()
        await store.dispose()


async def test_a_revoked_session_is_refused_at_once(container: Container) -> None:
    """Deferring the stamp defers nothing else: revocation is read on every uncached sign-in."""
    user = await container.accounts.register("revoked@example.com", PASSWORD, client=Client(ip="127.0.0.1"))
    viewer = await container.accounts.authenticate(user.token)
    assert viewer is not None
    await container.accounts.logout(viewer)
    assert await container.accounts.authenticate(user.token) is None
    async with container.store.read() as s:
        revoked = (await s.exec(sa.select(AuthSession.revoked_at))).all()  # type: ignore[call-overload]
    assert revoked[0][0] is not None


async def test_many_websockets_sign_in_at_once(server: LiveServer, capfd: pytest.CaptureFixture[str]) -> None:
    """SOCKETS real WebSockets send their connection_init together: every one gets connection_ack,
    each session's use is stamped afterwards, and nothing is logged with a traceback."""
    container = server.container
    user = await container.accounts.register("many@example.com", PASSWORD, client=Client(ip="127.0.0.1"))
    tokens = await _sessions(container, user.user.id, SOCKETS)
    sockets = await asyncio.gather(*(WS.open(server.ws_url) for _ in tokens))
    try:
        acks = await asyncio.gather(*(ws.init(token) for ws, token in zip(sockets, tokens, strict=True)))
        assert [a["type"] for a in acks] == ["connection_ack"] * SOCKETS
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))
    await container.accounts.touches.stop()  # what the server's shutdown does: write what is pending
    async with container.store.read() as s:
        stamped = (
            await s.exec(
                sa.select(sa.func.count()).where(  # type: ignore[call-overload]
                    AuthSession.user_id == user.user.id,  # type: ignore[arg-type]
                    col(AuthSession.last_used_at).isnot(None),
                )
            )
        ).one()[0]
    assert stamped >= SOCKETS
    out, err = capfd.readouterr()
    for logged in (out, err):  # structlog writes to stdout, the standard library's logging to stderr
        assert "Traceback" not in logged and "database is locked" not in logged
