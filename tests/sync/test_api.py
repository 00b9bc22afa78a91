"""The sync part of the GraphQL API over real HTTP against the dev chain: syncWallet jobs,
balance, transactions (paged), UTXOs, addresses, syncStatus; isolation between users."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.dev.devchain.runner import DevChain
from tests.support.server import GraphQLClient, error_codes

WALLET = """query($id: ID!) { wallet(id: $id) {
  syncStatus syncError lastSyncedAt balance { confirmed unconfirmed total }
  syncProgress { phase addressesScanned txsFound tipHeight backend lastError }
  utxos { txid vout value address chain index confirmations label }
} }"""
TXS = """query($id: ID!, $first: Int, $after: String) { wallet(id: $id) { transactions(first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor }
  edges { cursor node { txid status blockHeight blockTime confirmations fee feePaid vsize netAmount direction label } }
} } }"""
SYNC = "mutation($id: ID!) { syncWallet(id: $id) { id status walletId } }"
JOB = "query($id: ID!) { syncJob(id: $id) { id status addressesScanned txsFound error } }"
IMPORT = "mutation($i: ImportWalletInput!) { importWallet(input: $i) { id syncStatus } }"


@pytest.fixture
async def small(tmp_path: Path) -> AsyncIterator[DevChain]:
    # Some latency so that a sync lasts long enough to be asked for twice.
    async with DevChain.start(scenario="small", seed=1, data_dir=tmp_path / "chain", latency_ms=30) as chain:
        yield chain


@pytest.fixture
def settings_overrides(small: DevChain) -> dict[str, Any]:
    return {"regtest_esplora_url": small.esplora_url, "sync_interval_s": 3600}


async def wait_status(gql: GraphQLClient, wallet_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        w = (await gql(WALLET, {"id": wallet_id}))["data"]["wallet"]
        if w["syncStatus"] in ("SYNCED", "ERROR"):
            return dict(w)
        assert time.monotonic() < deadline, w
        await asyncio.sleep(0.05)


async def test_sync_over_graphql(small: DevChain, gql: GraphQLClient, user_token: str) -> None:
    w = small.info["wallets"][0]
    body = await gql(IMPORT, {"i": {"name": "alice", "source": w["descriptor"], "network": "REGTEST"}})
    wallet_id = body["data"]["importWallet"]["id"]

    # The import started a sync; asking again returns the running job, not a second one.
    first = (await gql(SYNC, {"id": wallet_id}))["data"]["syncWallet"]
    again = (await gql(SYNC, {"id": wallet_id}))["data"]["syncWallet"]
    assert first["id"] == again["id"] and first["walletId"] == wallet_id
    assert first["status"] in ("QUEUED", "RUNNING")

    data = await wait_status(gql, wallet_id)
    exp = w["expected"]
    assert data["syncStatus"] == "SYNCED" and data["syncError"] is None and data["lastSyncedAt"]
    assert data["balance"] == {
        "confirmed": exp["confirmed"],
        "unconfirmed": exp["unconfirmed"],
        "total": exp["confirmed"] + exp["unconfirmed"],
    }
    assert len(data["utxos"]) == exp["utxoCount"]
    assert sum(u["value"] for u in data["utxos"]) == data["balance"]["total"]
    assert all(u["address"].startswith("bcrt1") for u in data["utxos"])
    assert data["syncProgress"]["backend"] == "esplora"
    assert data["syncProgress"]["tipHeight"] == small.info["tip"]["height"]

    # Transactions, paged 7 at a time, newest first, no duplicates, total as expected.
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        conn = (await gql(TXS, {"id": wallet_id, "first": 7, "after": after}))["data"]["wallet"]["transactions"]
        assert conn["totalCount"] == exp["txCount"]
        seen += [e["node"] for e in conn["edges"]]
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert len({t["txid"] for t in seen}) == len(seen) == exp["txCount"]
    assert sum(t["netAmount"] for t in seen) == data["balance"]["total"]
    heights = [t["blockHeight"] or 10**9 for t in seen]
    assert heights == sorted(heights, reverse=True)
    confirmed = [t for t in seen if t["status"] == "CONFIRMED"]
    assert len(confirmed) == exp["confirmedTxCount"]
    assert all(t["confirmations"] >= 1 and t["blockTime"] for t in confirmed)
    assert all(t["confirmations"] == 0 for t in seen if t["status"] == "MEMPOOL")
    assert {t["direction"] for t in seen} <= {"INCOMING", "OUTGOING", "SELF"}
    assert all(t["feePaid"] == (t["direction"] != "INCOMING") for t in seen if t["direction"] != "INCOMING")

    # A label set through the wallets API shows on the transaction.
    txid = seen[0]["txid"]
    await gql(
        'mutation($w: ID!, $r: String!) { setLabel(walletId: $w, ref: $r, label: "rent") { label } }',
        {"w": wallet_id, "r": txid},
    )
    conn = (await gql(TXS, {"id": wallet_id, "first": 1}))["data"]["wallet"]["transactions"]
    assert conn["edges"][0]["node"]["label"] == "rent"

    # A finished job can be read back; a new request makes a new job.
    job = (await gql(JOB, {"id": first["id"]}))["data"]["syncJob"]
    assert job["status"] == "SUCCEEDED" and job["addressesScanned"] >= 40 and job["txsFound"] == exp["txCount"]
    newer = (await gql(SYNC, {"id": wallet_id}))["data"]["syncWallet"]
    assert newer["id"] != first["id"]

    # Another user sees none of it.
    other = await gql.register("mallory@example.com")
    for query, variables in ((SYNC, {"id": wallet_id}), (JOB, {"id": first["id"]}), (TXS, {"id": wallet_id})):
        body = await gql(query, variables, token=other, expect_errors=True)
        assert error_codes(body) == ["NOT_FOUND"]
    # Bad cursor: a clear input error.
    body = await gql(TXS, {"id": wallet_id, "after": "garbage"}, expect_errors=True)
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_unreachable_backend_shows_on_the_wallet(gql: GraphQLClient, user_token: str, small: DevChain) -> None:
    # The chain server is down: the import succeeds and the wallet shows the error.
    await small.close()
    w = small.info["wallets"][0]
    body = await gql(IMPORT, {"i": {"name": "alice", "source": w["descriptor"], "network": "REGTEST"}})
    wallet_id = body["data"]["importWallet"]["id"]
    data = await wait_status(gql, wallet_id)
    assert data["syncStatus"] == "ERROR"
    assert small.esplora_url in data["syncError"]
    assert data["syncProgress"]["lastError"] == data["syncError"]
