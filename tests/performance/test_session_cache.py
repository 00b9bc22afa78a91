"""The token → viewer cache: a repeated request reads no database row to authenticate, and every
revocation path drops the cached viewer at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from app.container import Container
from app.services.accounts import Client

PASSWORD = "correct horse battery staple"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"session_cache_ttl_s": 30}  # on without Redis: this process is the only one


@contextmanager
def statements(container: Container) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    engine = container.store.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def test_a_known_token_is_answered_without_the_database(container: Container) -> None:
    accounts = container.accounts
    issued = await accounts.register("a@example.com", PASSWORD, client=Client(ip="127.0.0.1"))
    first = await accounts.authenticate(issued.token)
    assert first is not None
    with statements(container) as seen:
        again = await accounts.authenticate(issued.token)
    assert again == first and seen == []


async def test_every_revocation_drops_the_cached_viewer(container: Container) -> None:
    accounts = container.accounts
    issued = await accounts.register("b@example.com", PASSWORD, client=Client(ip="127.0.0.1"))
    viewer = await accounts.authenticate(issued.token)
    assert viewer is not None
    # Logout.
    assert await accounts.logout(viewer)
    assert await accounts.authenticate(issued.token) is None

    # Password change: the other sessions go, the one that changed it stays.
    one = await accounts.login("b@example.com", PASSWORD, None, Client(ip="127.0.0.1"))
    two = await accounts.login("b@example.com", PASSWORD, None, Client(ip="127.0.0.1"))
    v1, v2 = await accounts.authenticate(one.token), await accounts.authenticate(two.token)
    assert v1 is not None and v2 is not None
    await accounts.change_password(v1, PASSWORD, "another long passphrase")
    assert await accounts.authenticate(two.token) is None
    assert await accounts.authenticate(one.token) == v1

    # An API key revoked.
    issued_key = await container.api_keys.create(v1, "script", ["wallets:read"], "another long passphrase")
    key_viewer = await accounts.authenticate(issued_key.token)
    assert key_viewer is not None and key_viewer.scopes == frozenset({"wallets:read"})
    await container.api_keys.revoke(v1, issued_key.key.id)
    assert await accounts.authenticate(issued_key.token) is None

    # Lost events (the shared bus dropped): nothing is answered from memory until it is back.
    container.hub.fanout.missed()
    assert len(accounts.session_cache) == 0


async def test_role_change_and_expiry_are_seen_at_once(container: Container) -> None:
    accounts = container.accounts
    admin = await accounts.register("c@example.com", PASSWORD, client=Client(ip="127.0.0.1"))
    user = await accounts.register("d@example.com", PASSWORD, client=Client(ip="127.0.0.2"))
    admin_v, user_v = await accounts.authenticate(admin.token), await accounts.authenticate(user.token)
    assert admin_v is not None and user_v is not None and user_v.role == "user"
    await accounts.set_role(admin_v, user_v.user_id, "viewer")
    changed = await accounts.authenticate(user.token)
    assert changed is not None and changed.role == "viewer"

    # A session past its expiry is refused even while cached.
    from dataclasses import replace
    from datetime import timedelta

    from app.store.models.base import utcnow

    cache = accounts.session_cache
    expired = replace(changed, expires_at=utcnow() - timedelta(seconds=1))
    from app.security.tokens import token_hash

    cache.put(token_hash(user.token), expired, cache.generation)
    assert cache.get(token_hash(user.token), utcnow()) is None
