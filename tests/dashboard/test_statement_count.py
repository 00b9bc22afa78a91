"""The dashboard query costs the same number of SQL statements for 1, 10 or 50 wallets.

Three users hold 1, 10 and 50 wallets, each wallet with transactions, unspent outputs, labels and a
sync state; the dashboard query of issue #12 (wallets with balance, transactions, UTXOs, addresses
and labels, the "all" portfolio's balance and value, the portfolio's wallets) is sent over HTTP with
a request id, and every statement the engine runs for that request is counted
(``before_cursor_execute``). One query per level of the tree (schema/loaders.py) makes the count a
property of the query's shape, not of the number of wallets.

The wallets are imported through the API; their chain data is written straight into the sync
area's tables (a real sync of 61 wallets would take minutes and is not what is measured here; the
sync itself is tested in tests/sync).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import structlog
from embit import bip32
from sqlalchemy import event

from app.store.models.chain import WalletOutput, WalletSyncState, WalletTx
from tests.support.server import GraphQLClient, LiveServer

DASHBOARD = """{
  viewer { id email }
  portfolio(id: "all") { balance { confirmed unconfirmed total } value wallets { id name balance { total } } }
  wallets(first: 50) { totalCount edges { node {
    id name network scriptType syncStatus lastSyncedAt
    balance { confirmed unconfirmed total }
    transactions(first: 20) { totalCount edges { node {
      txid blockHeight blockTime confirmations fee vsize netAmount direction label } } }
    utxos { txid vout value address confirmations label }
    addresses(first: 3) { totalCount edges { node { address used label } } }
  } } }
}"""

FIRST_ADDRESSES = (
    "{ wallets(first: 50) { edges { node { id addresses(first: 1) { edges { node { address scriptPubKey } } } } } } }"
)
IMPORT = "mutation($i: ImportWalletInput!) { importWallet(input: $i) { id } }"
SET_LABEL = "mutation($w: ID!, $r: String!, $l: String!) { setLabel(walletId: $w, ref: $r, label: $l) { ref } }"
TXS_PER_WALLET = 3


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"price_providers": [], "mainnet_esplora_url": "http://127.0.0.1:9", "chain_retries": 0}


def xpub(n: int) -> str:
    root = bip32.HDKey.from_seed(hashlib.sha256(f"dashboard-{n}".encode()).digest())
    return str(root.derive("m/84h/0h/0h").to_public().to_base58())


async def _no_first_sync(user_id: str, wallet_id: str) -> None:
    """The test writes the chain data itself (see the module docstring)."""


async def seed_user(server: LiveServer, email: str, wallets: int, offset: int) -> tuple[str, int]:
    """A user with ``wallets`` wallets; returns the bearer token and the expected total balance."""
    gql = GraphQLClient(server.url)
    try:
        gql.token = await gql.register(email)
        user_id = (await gql("{ viewer { id } }"))["data"]["viewer"]["id"]
        ids = []
        for n in range(wallets):
            body = await gql(
                IMPORT,
                {"i": {"name": f"W{n:02}", "source": xpub(offset + n), "network": "MAINNET", "scriptType": "P2WPKH"}},
            )
            ids.append(body["data"]["importWallet"]["id"])
        spks = {
            e["node"]["id"]: e["node"]["addresses"]["edges"][0]["node"]
            for e in (await gql(FIRST_ADDRESSES))["data"]["wallets"]["edges"]
        }
        total = 0
        base = datetime(2024, 1, 1, tzinfo=UTC)
        async with server.container.store.write() as s:
            for w, wallet_id in enumerate(ids):
                balance = 0
                for t in range(TXS_PER_WALLET):
                    txid = hashlib.sha256(f"{wallet_id}:{t}".encode()).hexdigest()
                    value = 10_000 * (t + 1) + w
                    s.add(
                        WalletTx(
                            user_id=user_id, wallet_id=wallet_id, txid=txid, status="confirmed", height=100 + t,
                            block_hash="00" * 32, block_time=base + timedelta(days=t), first_seen=base, fee=200,
                            vsize=141, weight=561, received=value, sent=0, net_amount=value, direction="INCOMING",
                            io='{"v":2,"l":0,"i":[],"o":[]}',
                        )
                    )  # fmt: skip
                    s.add(
                        WalletOutput(
                            user_id=user_id, wallet_id=wallet_id, txid=txid, vout=0, value=value, chain=0, index=0,
                            script_pubkey=spks[wallet_id]["scriptPubKey"], height=100 + t,
                        )
                    )  # fmt: skip
                    balance += value
                s.add(
                    WalletSyncState(
                        wallet_id=wallet_id, user_id=user_id, status="SYNCED", last_synced_at=base, tip_height=110,
                        confirmed=balance, tx_count=TXS_PER_WALLET, utxo_count=TXS_PER_WALLET,
                    )
                )  # fmt: skip
                total += balance
        for wallet_id in ids:  # labels through the API: one transaction, one output, one address
            txid = hashlib.sha256(f"{wallet_id}:0".encode()).hexdigest()
            for ref in (txid, f"{txid}:0", spks[wallet_id]["address"]):
                await gql(SET_LABEL, {"w": wallet_id, "r": ref, "l": f"label {ref[:6]}"})
        return gql.token, total
    finally:
        await gql.aclose()


async def test_dashboard_statements_do_not_grow_with_the_number_of_wallets(server: LiveServer) -> None:
    server.container.wallets.connect_sync(_no_first_sync)
    users = {n: await seed_user(server, f"u{n}@example.com", n, offset=n * 100) for n in (1, 10, 50)}

    counted: dict[str, list[str]] = {}

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        request_id = structlog.contextvars.get_contextvars().get("request_id")
        if request_id in counted:
            counted[request_id].append(statement)

    engine = server.container.store.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        results: dict[int, tuple[int, dict[str, Any]]] = {}
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            for n, (token, _) in users.items():
                request_id = uuid.uuid4().hex
                counted[request_id] = []
                resp = await http.post(
                    "/graphql",
                    json={"query": DASHBOARD},
                    headers={"authorization": f"Bearer {token}", "x-request-id": request_id},
                )
                body = resp.json()
                assert resp.status_code == 200 and "errors" not in body, body
                results[n] = (len(counted[request_id]), body["data"])
    finally:
        event.remove(engine, "before_cursor_execute", count)

    for n, (_, data) in results.items():  # the answers are complete and right
        wallets = [e["node"] for e in data["wallets"]["edges"]]
        assert data["wallets"]["totalCount"] == n == len(wallets) == len(data["portfolio"]["wallets"])
        assert data["portfolio"]["balance"]["total"] == users[n][1] == sum(w["balance"]["total"] for w in wallets)
        for w in wallets:
            assert w["transactions"]["totalCount"] == TXS_PER_WALLET == len(w["transactions"]["edges"])
            assert w["syncStatus"] == "SYNCED" and len(w["utxos"]) == TXS_PER_WALLET
            assert w["balance"]["total"] == sum(u["value"] for u in w["utxos"])
            assert [t["node"]["confirmations"] for t in w["transactions"]["edges"]] == [9, 10, 11]
            labelled = [t["node"]["label"] for t in w["transactions"]["edges"] if t["node"]["label"]]
            assert len(labelled) == 1 and sum(1 for u in w["utxos"] if u["label"]) == 1
            assert w["addresses"]["totalCount"] == 40 and w["addresses"]["edges"][0]["node"]["label"]

    counts = {n: c for n, (c, _) in results.items()}
    print("statements per dashboard request (1, 10, 50 wallets):", counts)
    assert counts[1] == counts[10] == counts[50], counts
    assert counts[1] <= 25, counts  # one statement per level, plus the session check and the snapshot
