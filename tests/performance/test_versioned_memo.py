"""Portfolio answers kept under the user's data version: a repeated read through the API runs no
SQL statement, a change is seen by the next read, and an answer computed from a snapshot that may
predate the last change is never kept. (That the kept figures equal a from-scratch computation
after payments, a reorg, ticks and settings changes: tests/portfolios/test_analytics_cache.py.)"""

from __future__ import annotations

import pytest

from app.container import Container
from app.events.envelope import Event
from app.events.versions import DATA_CHANGED
from app.prices.bundled import BundledProvider
from app.prices.chain import PriceChain
from app.services.versioned_memo import VersionedMemo
from tests.performance.test_session_cache import statements
from tests.portfolios.test_analytics_cache import TickingProvider
from tests.support.server import GraphQLClient, LiveServer

READ = """query($id: ID!) { portfolio(id: $id) { name value performance(timeframe: ALL) { endValue }
  costBasis(method: HIFO) { totalCost } } }"""
CREATE = 'mutation { createPortfolio(input: {name: "Savings", walletIds: []}) { id } }'
RENAME = 'mutation($id: ID!) { updatePortfolio(input: {id: $id, name: "Pension"}) { name } }'


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    # Sessions from memory, whole responses never: every read below executes.
    return {"session_cache_ttl_s": 30, "response_cache_ttl_s": 0, "price_providers": []}


async def test_a_repeated_portfolio_read_runs_no_statement(
    server: LiveServer, gql: GraphQLClient, user_token: str
) -> None:
    container = server.container
    ticker = TickingProvider()
    container.prices._chain = PriceChain([ticker, BundledProvider()], 5.0)
    pid = (await gql(CREATE))["data"]["createPortfolio"]["id"]
    for portfolio in ("all", pid):
        first = await gql(READ, {"id": portfolio})
        with statements(container) as seen:
            again = await gql(READ, {"id": portfolio})
        assert again == first and seen == []
    # A mutation moves the user's version: the next read executes and sees it.
    await gql(RENAME, {"id": pid})
    renamed = await gql(READ, {"id": pid})
    assert renamed["data"]["portfolio"]["name"] == "Pension"
    with statements(container) as seen:
        assert await gql(READ, {"id": pid}) == renamed
    assert seen == []


async def test_an_answer_from_a_snapshot_older_than_the_last_change_is_not_kept(container: Container) -> None:
    memo = VersionedMemo(container.portfolios.versions, lambda: True, container.store)
    user = "01TESTUSER0000000000000000"

    async def a_read() -> None:
        async with container.store.read() as s:
            await (await s.connection()).exec_driver_sql("SELECT 1")

    async with container.store.snapshot():
        await a_read()  # the operation's snapshot begins here...
        await container.hub.publish(Event(type=DATA_CHANGED, user_id=None, subject=user, payload={}))
        stamp = memo.stamp(user)  # ...a change was committed and announced after it began
        memo.put(user, stamp, "answer", "from the older snapshot")
    assert memo.get(user, "answer") is None

    async with container.store.snapshot():  # announced before this snapshot began: kept
        stamp = memo.stamp(user)
        await a_read()
        memo.put(user, stamp, "answer", "current")
    assert memo.get(user, "answer") == "current"

    # A version that moved while the answer was computed, or an unlinked hub: not kept, not answered.
    stamp = memo.stamp(user)
    container.portfolios.versions.bump_user(user)
    memo.put(user, stamp, "other", "stale")
    assert memo.get(user, "other") is None and memo.get(user, "answer") is None
    unlinked = VersionedMemo(container.portfolios.versions, lambda: False, container.store)
    unlinked.put(user, unlinked.stamp(user), "answer", "x")
    assert unlinked.stamp(user) is None and unlinked.get(user, "answer") is None
