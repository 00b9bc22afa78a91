"""Every owner-scoped subscription refuses another user's object with NOT_FOUND (on the
argument that names it) and streams nothing of it, while the owner's identical subscription
does receive the event (the positive control that makes the refusal meaningful); and
``events(after:)`` given another user's event id replays nothing of that user's.

(``channelEvents`` / ``invoiceUpdated`` need a Lightning node: tests/lightning/test_graphql.py.)
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from app.events.envelope import Event
from app.store.models.chain import SyncJob
from tests.subscriptions.test_ws import connect, sync_failed, user_id_of
from tests.subscriptions.wsclient import EVENTS, nothing_pending, refused
from tests.support.server import GraphQLClient, LiveServer
from tests.support.signals import registered
from tests.wallets.helpers import import_wallet

ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"

# (root field, argument naming the object, kind of object)
TYPED = [
    ("walletUpdated", "walletId", "wallet"),
    ("transactionReceived", "walletId", "wallet"),
    ("walletSyncProgress", "walletId", "wallet"),
    ("portfolioValueChanged", "portfolioId", "portfolio"),
]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # Wallet imports never reach public chain servers: their first sync fails fast.
    return {"esplora_url": "http://127.0.0.1:9", "sync_interval_s": 3600, "chain_retries": 0}


def document(field: str, arg: str) -> str:
    return f"subscription($x: ID!) {{ {field}({arg}: $x) {{ __typename }} }}"


async def test_every_typed_subscription_refuses_another_users_object(
    server: LiveServer, gql: GraphQLClient, user_token: str
) -> None:
    alice = await user_id_of(gql, user_token)
    wallet = (await import_wallet(gql, source=ZPUB))["id"]
    await sync_failed(gql, wallet)  # the import's own sync has published what it will
    body = await gql(
        "mutation($i: CreatePortfolioInput!) { createPortfolio(input: $i) { id } }",
        {"i": {"name": "Savings", "walletIds": [wallet]}},
    )
    ids = {"wallet": wallet, "portfolio": body["data"]["createPortfolio"]["id"]}
    bob_token = await gql.register("bob@example.com")
    alice_ws, bob_ws = await connect(server, user_token), await connect(server, bob_token)

    for n, (field, arg, kind) in enumerate(TYPED):
        await bob_ws.subscribe(f"b{n}", document(field, arg), {"x": ids[kind]})
        error = await refused(bob_ws, f"b{n}")
        assert error["extensions"]["code"] == "NOT_FOUND", (field, error)
        assert error["extensions"]["field"] == arg, (field, error)
        async with registered(server, 1):  # the owner's identical subscription is accepted
            await alice_ws.subscribe(f"a{n}", document(field, arg), {"x": ids[kind]})

    async with server.container.store.read() as s:  # the import's (failed) sync job
        job = (await s.exec(select(SyncJob).where(SyncJob.wallet_id == wallet))).first()
    assert job is not None
    payloads = {  # the events each subscription is about, shaped as their publishers shape them
        "walletUpdated": {"walletId": wallet, "change": "renamed"},
        "transactionReceived": {"walletId": wallet, "txid": "ab" * 32, "netAmount": 1, "direction": "INCOMING"},
        "walletSyncProgress": {"walletId": wallet, "jobId": job.id, "phase": "scanning", "addressesScanned": 3},
        "portfolioValueChanged": {"portfolioId": ids["portfolio"], "value": "1.00", "currency": "USD"},
    }
    for field, _, kind in TYPED:
        await server.container.hub.publish(Event(type=field, user_id=alice, subject=ids[kind], payload=payloads[field]))
    got = {}
    for _ in TYPED:
        msg = await alice_ws.recv()
        assert msg["type"] == "next", msg
        got[msg["id"]] = msg["payload"]["data"]
    assert sorted(got) == [f"a{n}" for n in range(len(TYPED))]
    assert all(got[f"a{n}"][field] is not None for n, (field, _, _) in enumerate(TYPED))
    await nothing_pending(bob_ws)  # Bob's refused subscriptions delivered none of it
    await alice_ws.close()
    await bob_ws.close()


async def test_events_replay_from_another_users_event_id_yields_only_ones_own(
    server: LiveServer, gql: GraphQLClient, user_token: str
) -> None:
    alice = await user_id_of(gql, user_token)
    bob_token = await gql.register("bob@example.com")
    bob = await user_id_of(gql, bob_token)
    alices = [Event(type="walletUpdated", user_id=alice, subject="w", payload={"n": n}) for n in range(3)]
    for e in alices:
        await server.container.hub.publish(e)
    bobs = Event(type="walletUpdated", user_id=bob, subject="v", payload={"n": 9})
    await server.container.hub.publish(bobs)
    ws = await connect(server, bob_token)
    # Bob resumes "after" Alice's first event id. An id that is not his reads as a point in time
    # (millisecond resolution, so his own event of the same millisecond may or may not be
    # replayed); none of Alice's events may come out, replayed or live.
    async with registered(server, 1):
        await ws.subscribe("r", EVENTS, {"after": alices[0].id})
    await server.container.hub.publish(Event(type="transactionReceived", user_id=alice, subject="w", payload={}))
    mine = Event(type="transactionReceived", user_id=bob, subject="v", payload={"n": 5})
    await server.container.hub.publish(mine)
    seen = []
    while not seen or seen[-1] != mine.id:
        msg = await ws.recv()
        assert msg["type"] == "next", msg
        seen.append(msg["payload"]["data"]["events"]["id"])
    assert seen in ([bobs.id, mine.id], [mine.id]), seen
    await nothing_pending(ws)
    await ws.close()
