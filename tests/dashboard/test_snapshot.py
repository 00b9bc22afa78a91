"""Every field of one query reads one database snapshot: a sync committing while a dashboard query
runs never yields a mixed answer (balance from after the sync, transactions from before).

Deterministic, no sleeps: the query is held inside its transactions read (after its balance read
has finished) while a real sync of a new payment commits; then it is released. Without one
snapshot per operation the transactions would show the new payment next to the old balance.
Both SQLite (one read transaction held in WAL mode) and PostgreSQL (REPEATABLE READ, READ ONLY).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from app.dev.devchain.runner import DevChain
from tests.conftest import make_settings
from tests.support.server import GraphQLClient, live_server
from tests.sync.test_sync import wait_synced

pytestmark = pytest.mark.slow

DASHBOARD = """{ wallets { edges { node {
  balance { total }
  transactions(first: 100) { totalCount edges { node { txid netAmount } } }
  utxos { value }
} } } }"""


def figures(data: dict[str, Any]) -> tuple[int, int, int, int]:
    w = data["wallets"]["edges"][0]["node"]
    txs = w["transactions"]
    net = sum(e["node"]["netAmount"] for e in txs["edges"])
    return w["balance"]["total"], txs["totalCount"], net, sum(u["value"] for u in w["utxos"])


async def test_a_sync_committing_during_a_query_does_not_mix_states(
    tmp_path: Path, any_engine: str, database_url: str
) -> None:
    async with DevChain.start(scenario="small", seed=1, data_dir=tmp_path / "chain") as chain:
        settings = make_settings(
            tmp_path, database_url, regtest_esplora_url=chain.esplora_url, price_providers=[], sync_interval_s=3600
        )
        async with live_server(settings) as server:
            c = server.container
            gql = GraphQLClient(server.url)
            try:
                gql.token = await gql.register("alice@example.com")
                user_id = (await gql("{ viewer { id } }"))["data"]["viewer"]["id"]
                w = chain.info["wallets"][0]
                body = await gql(
                    "mutation($i: ImportWalletInput!) { importWallet(input: $i) { id } }",
                    {"i": {"name": w["name"], "source": w["descriptor"], "network": "REGTEST"}},
                )
                wallet_id = body["data"]["importWallet"]["id"]
                await wait_synced(c, user_id, wallet_id)
                before = figures((await gql(DASHBOARD))["data"])
                assert before[0] == before[3] > 0  # a consistent, non-empty start

                # Hold the query in its transactions read, after its balance read has finished.
                balance_read, in_transactions, release = asyncio.Event(), asyncio.Event(), asyncio.Event()
                states, transactions_of = c.sync.states, c.sync.transactions_of

                async def states_then_mark(uid: str, ids: Sequence[str]) -> Any:
                    result = await states(uid, ids)
                    balance_read.set()
                    return result

                async def held_transactions_of(uid: str, ids: Sequence[str], **kw: Any) -> Any:
                    await balance_read.wait()
                    in_transactions.set()
                    await release.wait()
                    return await transactions_of(uid, ids, **kw)

                c.sync.states = states_then_mark  # type: ignore[method-assign]
                c.sync.transactions_of = held_transactions_of  # type: ignore[method-assign]
                # Another document: the same one would be answered from the response cache (nothing
                # changed since ``before``) and never reach the held read.
                query = asyncio.create_task(gql("query Held " + DASHBOARD))
                await asyncio.wait_for(in_transactions.wait(), 30)

                # Meanwhile a payment arrives and a real sync commits it.
                address = (await c.wallets.next_receive_address(user_id, wallet_id)).address
                await chain.send(address, 250_000)
                await chain.mine()
                assert (await c.sync.sync_now(user_id, wallet_id)).status == "SUCCEEDED"
                release.set()
                during = figures((await asyncio.wait_for(query, 30))["data"])
                c.sync.states, c.sync.transactions_of = states, transactions_of  # type: ignore[method-assign]

                after = figures((await gql(DASHBOARD))["data"])
                assert after[0] == before[0] + 250_000 and after[1] == before[1] + 1  # the sync did commit
                assert after[0] == after[3] and after[2] == before[2] + 250_000
                assert during == before, f"one answer mixed two states: {during} (before {before}, after {after})"
            finally:
                await gql.aclose()
