"""The response cache: a repeated read is answered with the same bytes without executing anything,
and a read after a committed change never returns the older answer (mutations, background commits
announced by events, price ticks, revocations)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.events.envelope import Event
from tests.performance.test_session_cache import statements
from tests.support.server import GraphQLClient, LiveServer

ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
IMPORT = "mutation($i: ImportWalletInput!) { importWallet(input: $i) { id } }"
RENAME = "mutation($id: ID!, $n: String!) { renameWallet(id: $id, name: $n) { name } }"
DASH = """query Dash($n: Int) { viewer { id email }
  wallets(first: $n) { totalCount edges { node { id name balance { confirmed unconfirmed total } } } } }"""


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"session_cache_ttl_s": 30}  # one process: sessions from memory too, so a hit runs no SQL


async def raw(
    gql: GraphQLClient, query: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> httpx.Response:
    headers = {"authorization": f"Bearer {token or gql.token}"}
    return await gql.http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)


async def names(gql: GraphQLClient) -> list[str]:
    body = (await raw(gql, DASH, {"n": 20})).json()
    return [e["node"]["name"] for e in body["data"]["wallets"]["edges"]]


async def test_a_repeated_read_is_served_from_memory(server: LiveServer, gql: GraphQLClient, user_token: str) -> None:
    # (No wallet: an imported wallet's first sync would move the data version while we look.)
    first = await raw(gql, DASH, {"n": 20})
    assert first.status_code == 200 and first.json()["data"]["viewer"]["email"]
    with statements(server.container) as seen:
        again = await raw(gql, DASH, {"n": 20})
    assert again.content == first.content and seen == []  # nothing executed: no SQL at all
    # Other variables are another answer.
    with statements(server.container) as seen:
        other = await raw(gql, DASH, {"n": 0})
    assert other.json()["data"]["wallets"]["edges"] == [] and seen != []


async def test_read_after_write_never_returns_the_older_answer(
    server: LiveServer, gql: GraphQLClient, user_token: str
) -> None:
    wallet = (await gql(IMPORT, {"i": {"name": "w0", "network": "MAINNET", "source": ZPUB}}))["data"]["importWallet"]
    for i in range(1, 11):
        assert await names(gql) == [f"w{i - 1}"]
        assert await names(gql) == [f"w{i - 1}"]  # cached
        await gql(RENAME, {"id": wallet["id"], "n": f"w{i}"})  # a mutation through the API
        assert await names(gql) == [f"w{i}"]
    # A commit outside any GraphQL request (a service, as a sync would): its event moves the version.
    viewer = await server.container.accounts.authenticate(user_token)
    assert viewer is not None
    await server.container.wallets.rename_wallet(viewer.user_id, wallet["id"], "background")
    assert await names(gql) == ["background"]


async def test_price_ticks_and_lost_events_expire_answers(
    server: LiveServer, gql: GraphQLClient, user_token: str
) -> None:
    await raw(gql, DASH)
    with statements(server.container) as seen:
        await raw(gql, DASH)
    assert seen == []
    hub = server.container.hub
    await hub.publish(Event(type="priceUpdated", user_id=None, subject="USD", payload={"currency": "USD"}))
    with statements(server.container) as seen:
        await raw(gql, DASH)
    assert seen != []  # executed again after the tick
    hub.fanout.missed()  # events may have been lost: nothing old is served
    with statements(server.container) as seen:
        await raw(gql, DASH)
    assert seen != []


async def test_what_is_never_cached(server: LiveServer, gql: GraphQLClient, user_token: str) -> None:
    # Sessions (lastUsedAt moves without an event) are read every time.
    for _ in range(2):
        with statements(server.container) as seen:
            assert (await raw(gql, "{ sessions { id } }")).status_code == 200
        assert seen != []
    # An answer with errors is not kept.
    missing = 'query { wallet(id: "01M8QPRXRK4V0T5M8TST1J4J9T") { id } }'
    for _ in range(2):
        with statements(server.container) as seen:
            body = (await raw(gql, missing)).json()
        assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND" and seen != []
    # Anonymous requests are not cached; a signed-out token is refused even though its answer was cached.
    await raw(gql, DASH)
    await raw(gql, DASH)
    await gql("mutation { logout }")
    assert (await raw(gql, DASH)).status_code == 401
