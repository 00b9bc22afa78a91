"""Typed subscriptions on a real imported wallet: renameWallet reaches walletUpdated(walletId);
another user's wallet id answers NOT_FOUND and streams nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.subscriptions.test_ws import connect
from tests.subscriptions.wsclient import WS
from tests.support.server import GraphQLClient, LiveServer
from tests.support.signals import registered
from tests.wallets.helpers import import_wallet

ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
UPDATED = "subscription($w: ID!) { walletUpdated(walletId: $w) { id walletId change wallet { id name } } }"
RENAME = "mutation($id: ID!, $n: String!) { renameWallet(id: $id, name: $n) { name } }"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # Never reach public chain servers: the import's first sync fails fast.
    return {"esplora_url": "http://127.0.0.1:9", "sync_interval_s": 3600, "chain_retries": 0}


async def next_renamed(ws: WS, op_id: str) -> dict[str, Any]:
    while True:  # the import's own sync may publish walletUpdated too
        msg = await ws.recv()
        assert msg["id"] == op_id and msg["type"] == "next", msg
        event: dict[str, Any] = msg["payload"]["data"]["walletUpdated"]
        if event["change"] == "RENAMED":
            return event


async def test_rename_reaches_wallet_updated_and_others_get_not_found(
    server: LiveServer, gql: GraphQLClient, user_token: str
) -> None:
    wallet = await import_wallet(gql, source=ZPUB)
    bob_token = await gql.register("bob@example.com")

    alice_ws = await connect(server, user_token)
    async with registered(server, 1):
        await alice_ws.subscribe("w", UPDATED, {"w": wallet["id"]})
    bob_ws = await connect(server, bob_token)
    await bob_ws.subscribe("w", UPDATED, {"w": wallet["id"]})
    msg = await bob_ws.recv()
    errors = msg["payload"] if msg["type"] == "error" else msg["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"
    assert errors[0]["extensions"]["field"] == "walletId"

    await gql(RENAME, {"id": wallet["id"], "n": "Savings"})
    event = await next_renamed(alice_ws, "w")
    assert event["walletId"] == wallet["id"]
    assert event["wallet"] == {"id": wallet["id"], "name": "Savings"}  # the wallet as it is now, typed
    # Bob's socket got nothing but the error (and its complete).
    await bob_ws.send({"type": "ping"})
    rest = [await bob_ws.recv()]
    while rest[-1]["type"] != "pong":
        rest.append(await bob_ws.recv())
    assert all(m.get("type") in ("complete", "pong") for m in rest)
    await alice_ws.close()
    await bob_ws.close()
