"""Login and registration throttling: exponential backoff per client and per account, each on its own,
without letting an attacker keep the owner out; shared through Redis; bounded without clear-all."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.security.throttle import BackoffPolicy, MemoryThrottle, RedisThrottle, Throttle
from tests.conftest import make_settings
from tests.security.accounts_helpers import PASSWORD, client_from, login
from tests.support.server import GraphQLClient, LiveServer, error_codes, live_server
from tests.support.services import REDIS_URL, require

POLICY = BackoffPolicy(free=3, base_s=10.0, cap_s=80.0, forget_s=1000.0)
WRONG = "not the password at all"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
async def throttle(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Throttle, Clock]]:
    clock = Clock()
    if request.param == "memory":
        yield MemoryThrottle(clock=clock), clock
        return
    require("redis")
    t = RedisThrottle(REDIS_URL, prefix=f"test-{secrets.token_hex(6)}:throttle", clock=clock)
    yield t, clock
    await t.stop()


async def test_backoff_doubles_and_refusals_do_not_extend_it(throttle: tuple[Throttle, Clock]) -> None:
    t, clock = throttle
    for _ in range(POLICY.free):
        assert await t.acquire(["k"], POLICY) == 0  # the free attempts
    waits = []
    for _ in range(5):
        wait = await t.acquire(["k"], POLICY)
        assert wait > 0
        for _ in range(20):  # hammering during the wait is refused and changes nothing
            clock.now += wait / 40
            assert 0 < await t.acquire(["k"], POLICY) <= wait
        clock.now += wait / 2
        assert await t.acquire(["k"], POLICY) == 0
        waits.append(round(wait))
    assert waits == [10, 20, 40, 80, 80]  # base * 2^n, capped


async def test_success_gives_the_attempt_back_and_keys_are_all_or_nothing(throttle: tuple[Throttle, Clock]) -> None:
    t, clock = throttle
    for _ in range(POLICY.free):
        assert await t.acquire(["a"], POLICY) == 0
    assert await t.acquire(["a", "b"], POLICY) > 0  # "a" waits: "b" is not counted either
    for _ in range(POLICY.free):
        assert await t.acquire(["b"], POLICY) == 0
    await t.succeed(["b"])
    assert await t.acquire(["b"], POLICY) == 0  # the given-back attempt is free again
    await t.clear(["a"])
    assert await t.acquire(["a"], POLICY) == 0
    clock.now += POLICY.forget_s + POLICY.cap_s + 1  # forgotten after a quiet period
    for _ in range(POLICY.free):
        assert await t.acquire(["b"], POLICY) == 0


async def test_memory_bound_evicts_the_oldest_key_not_all() -> None:
    clock = Clock()
    t = MemoryThrottle(max_keys=3, clock=clock)
    for _ in range(POLICY.free):
        assert await t.acquire(["victim"], POLICY) == 0
    assert await t.acquire(["victim"], POLICY) > 0
    for n in range(2):  # a spray of new keys up to the bound keeps the victim's count
        await t.acquire([f"spray{n}"], POLICY)
    assert await t.acquire(["victim"], POLICY) > 0
    await t.acquire(["spray2"], POLICY)  # now the least recently used key (spray0) goes, not everything
    assert await t.acquire(["victim"], POLICY) > 0


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"login_free_attempts": 3, "login_backoff_base_s": 600.0, "registrations_per_client": 3}


async def test_per_client_limit_alone(gql: GraphQLClient, server: LiveServer) -> None:
    """One client failing on many different accounts is slowed down; every account and other client is not."""
    await gql.register("owner@example.com")
    attacker = client_from(server.url, "127.0.0.2")
    try:
        codes = [error_codes(await login(attacker, f"guess{n}@example.com", WRONG))[0] for n in range(4)]
        assert codes == ["UNAUTHENTICATED"] * 3 + ["RATE_LIMITED"]  # no email seen twice: only the client key
        assert error_codes(await login(attacker, "owner@example.com")) == ["RATE_LIMITED"]
    finally:
        await attacker.aclose()
    other = client_from(server.url, "127.0.0.3")
    try:
        assert (await login(other, "owner@example.com"))["data"]["login"]["token"]
        assert error_codes(await login(other, "guess0@example.com", WRONG)) == ["UNAUTHENTICATED"]  # not limited
    finally:
        await other.aclose()


async def test_per_account_limit_alone_never_locks_out_the_owner(
    any_engine: str, gql: GraphQLClient, server: LiveServer
) -> None:
    """Failures spread over many clients slow down new clients of that account; the owner's known client
    (where they signed in before) still gets in with the right password."""
    await gql.register("owner@example.com")  # from 127.0.0.1: that client is now known for the account
    for n in range(3):  # three different clients, one failure each: no client key reaches its limit
        c = client_from(server.url, f"127.0.1.{n + 1}")
        try:
            assert error_codes(await login(c, "owner@example.com", WRONG)) == ["UNAUTHENTICATED"]
        finally:
            await c.aclose()
    newcomer = client_from(server.url, "127.0.1.99")
    try:
        assert error_codes(await login(newcomer, "owner@example.com")) == ["RATE_LIMITED"]  # the account key
        assert error_codes(await login(newcomer, "other@example.com", WRONG)) == ["UNAUTHENTICATED"]
    finally:
        await newcomer.aclose()
    for _ in range(3):  # an attacker hammering from yet more clients keeps the account key waiting...
        c = client_from(server.url, f"127.0.2.{_ + 1}")
        try:
            assert error_codes(await login(c, "owner@example.com", WRONG)) == ["RATE_LIMITED"]
        finally:
            await c.aclose()
    # ...but the owner on the known client is not refused, and not slowed by the attack.
    assert (await login(gql, "owner@example.com"))["data"]["login"]["token"]
    assert (await login(gql, "owner@example.com"))["data"]["login"]["token"]


async def test_registration_is_throttled_per_client_and_hides_taken_emails_behind_it(
    any_engine: str, gql: GraphQLClient, server: LiveServer
) -> None:
    q = "mutation($i: RegisterInput!) { register(input: $i) { token } }"
    await gql.register("r0@example.com")
    taken = await gql(q, {"i": {"email": "r0@example.com", "password": PASSWORD}}, token="", expect_errors=True)
    assert error_codes(taken) == ["CONFLICT"]  # a probe for a taken email costs a registration attempt
    await gql.register("r1@example.com")
    limited = await gql(q, {"i": {"email": "r2@example.com", "password": PASSWORD}}, token="", expect_errors=True)
    assert error_codes(limited) == ["RATE_LIMITED"]
    probe = await gql(q, {"i": {"email": "r0@example.com", "password": PASSWORD}}, token="", expect_errors=True)
    assert error_codes(probe) == ["RATE_LIMITED"]  # enumeration waits like everything else
    other = client_from(server.url, "127.0.0.4")
    try:
        assert await other.register("r2@example.com")
    finally:
        await other.aclose()


async def test_login_limits_hold_across_two_servers_through_redis(tmp_path: Path, database_url: str) -> None:
    """Two servers of one deployment (same database and Redis, separate containers) share the counters."""
    require("redis")
    # A long first delay: the third attempt must be refused however slowly a loaded machine sends it.
    shared = make_settings(
        tmp_path, database_url, redis_url=REDIS_URL, login_free_attempts=2, login_backoff_base_s=600.0
    )
    async with live_server(shared) as a, live_server(shared) as b:
        ga, gb = GraphQLClient(a.url), GraphQLClient(b.url)
        try:
            await ga.register("shared@example.com")
            ca, cb = client_from(a.url, "127.0.3.1"), client_from(b.url, "127.0.3.1")
            try:
                assert error_codes(await login(ca, "x1@example.com", WRONG)) == ["UNAUTHENTICATED"]
                assert error_codes(await login(cb, "x2@example.com", WRONG)) == ["UNAUTHENTICATED"]
                assert error_codes(await login(ca, "x3@example.com", WRONG)) == ["RATE_LIMITED"]
                assert error_codes(await login(cb, "x4@example.com", WRONG)) == ["RATE_LIMITED"]
            finally:
                await ca.aclose()
                await cb.aclose()
        finally:
            await ga.aclose()
            await gb.aclose()
