"""Typed subscription payloads on a real dev chain: a payment to a synced wallet reaches
``transactionReceived`` as a ``TransactionEvent`` whose ``transaction`` and ``wallet`` are the
stored ones (the same figures as the ``wallet`` query), ``walletSyncProgress`` as ``SyncJob``
steps ending SUCCEEDED, ``walletUpdated`` as SYNCED with the new balance, and ``events`` the same
as typed fragments with resumable ids."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.dev.devchain.runner import DevChain
from tests.subscriptions.test_ws import connect
from tests.subscriptions.wsclient import WS
from tests.support.server import GraphQLClient, LiveServer
from tests.support.signals import registered
from tests.sync.test_api import IMPORT, wait_status

RECEIVED = (
    "subscription($w: ID!) { transactionReceived(walletId: $w) { id occurredAt walletId historical "
    "transaction { txid netAmount direction status confirmations blockHeight fee vsize } "
    "wallet { id name balance { confirmed unconfirmed total } } } }"
)
PROGRESS = (
    "subscription($w: ID!) { walletSyncProgress(walletId: $w) { id walletId status phase addressesScanned txsFound } }"
)
UPDATED = "subscription($w: ID!) { walletUpdated(walletId: $w) { id change balance { unconfirmed total } txCount } }"
EVENTS = (
    "subscription { events { __typename id ... on TransactionEvent { walletId transaction { txid netAmount } } "
    "... on WalletSyncProgressEvent { job { id status } } ... on WalletUpdate { change } } }"
)
ADDRESS = "mutation($w: ID!) { nextReceiveAddress(walletId: $w) { address } }"
SYNC = "mutation($w: ID!) { syncWallet(id: $w) { id } }"
WALLET = (
    "query($w: ID!) { wallet(id: $w) { balance { unconfirmed total } "
    "transactions(first: 1) { edges { node { txid netAmount direction status fee vsize } } } } }"
)


@pytest.fixture
async def chain(tmp_path: Path) -> AsyncIterator[DevChain]:
    async with DevChain.start(scenario="small", seed=1, data_dir=tmp_path / "chain") as c:
        yield c


@pytest.fixture
def settings_overrides(chain: DevChain) -> dict[str, Any]:
    return {"regtest_esplora_url": chain.esplora_url, "sync_interval_s": 3600}


class Inbox:
    """The frames of one socket by operation id (the operations' frames interleave)."""

    def __init__(self, ws: WS) -> None:
        self.ws = ws
        self.frames: dict[str, list[dict[str, Any]]] = {}

    async def next(self, op: str) -> dict[str, Any]:
        while not self.frames.get(op):
            msg = await self.ws.recv(wait_s=30)
            assert msg["type"] == "next" and "errors" not in msg["payload"], msg
            self.frames.setdefault(msg["id"], []).append(msg["payload"]["data"])
        return self.frames[op].pop(0)


async def test_payment_reaches_typed_subscriptions(
    server: LiveServer, gql: GraphQLClient, user_token: str, chain: DevChain
) -> None:
    w = chain.info["wallets"][0]
    imported = await gql(IMPORT, {"i": {"name": "Typed", "source": w["descriptor"], "network": "REGTEST"}})
    wallet_id = imported["data"]["importWallet"]["id"]
    assert (await wait_status(gql, wallet_id))["syncStatus"] == "SYNCED"
    address = (await gql(ADDRESS, {"w": wallet_id}))["data"]["nextReceiveAddress"]["address"]

    ws = await connect(server, user_token)
    inbox = Inbox(ws)
    async with registered(server, 4):
        await ws.subscribe("tx", RECEIVED, {"w": wallet_id})
        await ws.subscribe("job", PROGRESS, {"w": wallet_id})
        await ws.subscribe("upd", UPDATED, {"w": wallet_id})
        await ws.subscribe("ev", EVENTS)
    txid = await chain.send(address, 54_321)
    job_id = (await gql(SYNC, {"w": wallet_id}))["data"]["syncWallet"]["id"]

    tx_event = (await inbox.next("tx"))["transactionReceived"]
    assert tx_event["walletId"] == wallet_id and tx_event["historical"] is False
    t = tx_event["transaction"]
    assert t["txid"] == txid and t["netAmount"] == 54_321 and t["direction"] == "INCOMING"
    assert t["status"] == "MEMPOOL" and t["confirmations"] == 0 and t["blockHeight"] is None
    assert t["fee"] > 0 and t["vsize"] > 0
    stored = (await gql(WALLET, {"w": wallet_id}))["data"]["wallet"]
    node = stored["transactions"]["edges"][0]["node"]
    assert {k: t[k] for k in node} == node  # the event's transaction is the stored one
    assert tx_event["wallet"]["id"] == wallet_id and tx_event["wallet"]["name"] == "Typed"
    assert tx_event["wallet"]["balance"]["total"] == stored["balance"]["total"]

    steps = []
    while not steps or steps[-1]["status"] == "RUNNING":
        job = (await inbox.next("job"))["walletSyncProgress"]
        if job["id"] == job_id:
            steps.append(job)
    assert steps[-1]["status"] == "SUCCEEDED" and steps[-1]["phase"] == "DONE"
    assert steps[-1]["txsFound"] >= 1 and steps[-1]["addressesScanned"] > 0

    update = (await inbox.next("upd"))["walletUpdated"]
    while update["change"] != "SYNCED":
        update = (await inbox.next("upd"))["walletUpdated"]
    assert update["balance"] == {"unconfirmed": stored["balance"]["unconfirmed"], "total": stored["balance"]["total"]}

    # The same events on `events`, as typed fragments; the TransactionEvent's id is the one above.
    seen: dict[str, dict[str, Any]] = {}
    while "TransactionEvent" not in seen or "WalletUpdate" not in seen:
        ev = (await inbox.next("ev"))["events"]
        seen.setdefault(ev["__typename"], ev)
    assert seen["TransactionEvent"]["id"] == tx_event["id"]
    assert seen["TransactionEvent"]["transaction"] == {"txid": txid, "netAmount": 54_321}
    await ws.close()
