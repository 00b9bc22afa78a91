"""The contract's list fields (``utxos``, ``portfolios``, ``lightningNodes``, ``priceHistory``,
``peers``) keep their shape; next to each a Relay connection (``<item>Connection``) pages the same
items in the same order, forward and backward, with the same batched reads."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from embit import bip32
from sqlmodel import select

from app.store.models.chain import WalletOutput, WalletSyncState
from tests.support.connections import connection, walk
from tests.support.server import GraphQLClient, LiveServer

ARGS = "$first: Int, $after: String, $last: Int, $before: String"
PASS = "first: $first, after: $after, last: $last, before: $before"
PAGE = "totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { %s } }"
IMPORT = "mutation($i: ImportWalletInput!) { importWallet(input: $i) { id } }"
UTXOS = f"""query($id: ID!, {ARGS}) {{ wallet(id: $id) {{
  utxoConnection({PASS}) {{ {PAGE % "txid vout value"} }} }} }}"""
PORTFOLIOS = f"query({ARGS}) {{ portfolioConnection({PASS}) {{ {PAGE % 'id name'} }} }}"
PRICES = f"""query({ARGS}) {{
  priceHistoryConnection(currency: "USD", from: "2017-04-01", to: "2017-04-30", {PASS}) {{ {PAGE % "value at"} }} }}"""


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"price_providers": [], "mainnet_esplora_url": "http://127.0.0.1:9", "chain_retries": 0}


async def _no_first_sync(user_id: str, wallet_id: str) -> None:
    """The test writes the chain data itself."""


def _xpub(n: int) -> str:
    root = bip32.HDKey.from_seed(hashlib.sha256(f"list-connections-{n}".encode()).digest())
    return str(root.derive("m/84h/0h/0h").to_public().to_base58())


async def test_utxos_portfolios_and_prices_page_like_their_lists(server: LiveServer) -> None:
    server.container.wallets.connect_sync(_no_first_sync)
    gql = GraphQLClient(server.url)
    try:
        gql.token = await gql.register("carol@example.com")
        user_id = (await gql("{ viewer { id } }"))["data"]["viewer"]["id"]
        ids = [
            (await gql(IMPORT, {"i": {"name": f"W{n}", "source": _xpub(n), "scriptType": "P2WPKH"}}))["data"][
                "importWallet"
            ]["id"]
            for n in range(2)
        ]
        spk = "0014" + "11" * 20
        async with server.container.store.write() as s:
            for n in range(7):  # values with ties: the txid, then the output index order them
                txid = hashlib.sha256(f"tx{n // 2}".encode()).hexdigest()
                s.add(
                    WalletOutput(
                        user_id=user_id, wallet_id=ids[0], txid=txid, vout=n % 2, value=1000 * (n % 3 + 1), chain=0,
                        index=n, script_pubkey=spk, height=100 + n,
                    )
                )  # fmt: skip
            s.add(WalletSyncState(wallet_id=ids[0], user_id=user_id, status="SYNCED", tip_height=110))

        listed = await gql("query($id: ID!) { wallet(id: $id) { utxos { txid vout value } } }", {"id": ids[0]})
        utxos = listed["data"]["wallet"]["utxos"]
        assert len(utxos) == 7 and [u["value"] for u in utxos] == sorted((u["value"] for u in utxos), reverse=True)
        for size in (1, 2, 3, 7):
            forward, backward = await walk(gql, UTXOS, size, id=ids[0])
            assert forward == backward == sorted(utxos, key=lambda u: (-u["value"], u["txid"], u["vout"]))

        # a spent output's cursor keeps its place
        page = connection(await gql(UTXOS, {"id": ids[0], "first": 3}))
        gone = page["edges"][2]["node"]
        async with server.container.store.write() as s:
            row = (
                await s.exec(
                    select(WalletOutput).where(
                        WalletOutput.wallet_id == ids[0],
                        WalletOutput.txid == gone["txid"],
                        WalletOutput.vout == gone["vout"],
                    )
                )
            ).one()
            row.spent_by = "ee" * 32
            s.add(row)
        rest = connection(await gql(UTXOS, {"id": ids[0], "first": 10, "after": page["edges"][2]["cursor"]}))
        assert [e["node"] for e in rest["edges"]] == forward[3:] and rest["totalCount"] == 6

        for n in range(3):
            await gql(
                "mutation($i: CreatePortfolioInput!) { createPortfolio(input: $i) { id } }",
                {"i": {"name": f"P{n}", "walletIds": ids, "baseCurrency": "USD"}},
            )
        portfolios = (await gql("{ portfolios { id name } }"))["data"]["portfolios"]
        assert len(portfolios) == 4 and portfolios[0]["id"] == "all"
        for size in (1, 3):
            forward, backward = await walk(gql, PORTFOLIOS, size)
            assert forward == backward == portfolios

        prices = await gql('{ priceHistory(currency: "USD", from: "2017-04-01", to: "2017-04-30") { value at } }')
        history = prices["data"]["priceHistory"]
        assert len(history) == 30
        for size in (7, 30):
            forward, backward = await walk(gql, PRICES, size)
            assert forward == backward == history
        body = await gql(PRICES, {"first": 2, "last": 2}, expect_errors=True)
        assert body["errors"][0]["extensions"] == body["errors"][0]["extensions"] | {
            "code": "BAD_USER_INPUT",
            "field": "last",
        }
    finally:
        await gql.aclose()
