"""Spending end to end: the server builds PSBTs, embit test keys sign them (as a hardware wallet
would), the server finalizes and broadcasts, the dev chain's mempool verifies every script and
signature, a block is mined and the sync sees the new balance."""

from __future__ import annotations

from typing import Any

import pytest

from app.dev.devchain.runner import DevChain
from tests.spend.helpers import (
    ANALYZE,
    BROADCAST,
    COMBINE,
    CREATE,
    FINALIZE,
    import_synced,
    sign,
    signers,
    tx_ids,
    wait_synced,
)
from tests.support.server import GraphQLClient

SYNC = "mutation($id: ID!) { syncWallet(id: $id) { id } }"


async def spend_and_confirm(
    gql: GraphQLClient, chain: DevChain, name: str, *, sign_with: list[int] | None = None
) -> dict[str, Any]:
    wallet = await import_synced(gql, chain, name)
    before = wallet["balance"]["confirmed"] + wallet["balance"]["unconfirmed"]
    to = chain.info["wallets"][0]["firstAddress"] if name != "alice" else chain.info["wallets"][5]["firstAddress"]
    body = await gql(CREATE, {"w": wallet["id"], "o": [{"address": to, "amount": 120_000}], "r": "3"})
    assert "errors" not in body, body
    draft = body["data"]["createPsbt"]
    assert draft["fee"] > 0 and draft["rbf"] and not draft["complete"]
    assert draft["locktime"] >= chain.chain.height - 100
    change = [o for o in draft["outputs"] if o["change"]]
    assert [o["value"] for o in draft["outputs"] if not o["ours"]] == [120_000]
    assert len(change) <= 1 and all(o["ours"] for o in change)
    assert sum(i["value"] for i in draft["inputs"]) == 120_000 + draft["fee"] + sum(o["value"] for o in change)

    keys = signers(chain, name)
    chosen = [keys[i] for i in (sign_with or range(len(keys)))]
    if len(chosen) > 1:  # each cosigner signs its own copy; the server combines them
        parts = [sign(draft["psbt"], [k]) for k in chosen]
        combined = (await gql(COMBINE, {"w": wallet["id"], "p": parts}))["data"]["combinePsbt"]
        assert combined["complete"]
        assert all(len(i["signedBy"]) == len(chosen) for i in combined["inputs"])
        signed = combined["psbt"]
    else:
        signed = sign(draft["psbt"], chosen)
    txid = (await gql(BROADCAST, {"w": wallet["id"], "p": signed}))["data"]["broadcastTransaction"]
    assert txid in chain.chain.mempool  # accepted: the dev chain verified every signature
    assert txid in await tx_ids(gql, wallet["id"])  # in the wallet at once, as mempool
    mempool_tx = chain.chain.txs[txid]
    # The signed transaction pays at least the rate asked for, on its real size.
    assert mempool_tx.fee == draft["fee"] and mempool_tx.fee / mempool_tx.vsize >= 3
    assert mempool_tx.vsize <= draft["vsize"]
    await chain.mine(1)
    await gql(SYNC, {"id": wallet["id"]})
    after = await wait_synced_after(gql, wallet["id"], chain)
    assert after["balance"]["unconfirmed"] == 0
    assert after["balance"]["confirmed"] == before - 120_000 - draft["fee"]
    return draft


async def wait_synced_after(gql: GraphQLClient, wallet_id: str, chain: DevChain) -> dict[str, Any]:
    import asyncio
    import time

    deadline = time.monotonic() + 60
    while True:
        w = await wait_synced(gql, wallet_id)
        if w["balance"]["unconfirmed"] == 0:
            return w
        assert time.monotonic() < deadline
        await gql(SYNC, {"id": wallet_id})
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("name", ["alice", "bob", "carol", "dave"])
async def test_single_sig_spend_is_accepted_and_mined(
    name: str, devchain: DevChain, gql: GraphQLClient, user_token: str
) -> None:
    """P2WPKH, P2SH-P2WPKH, P2PKH and P2TR (key path)."""
    await spend_and_confirm(gql, devchain, name)


async def test_two_of_three_multisig_from_three_signers(
    devchain: DevChain, gql: GraphQLClient, user_token: str
) -> None:
    draft = await spend_and_confirm(gql, devchain, "erin", sign_with=[0, 1, 2])
    assert draft["signaturesRequired"] == 2


async def test_multisig_with_one_signature_is_incomplete(
    devchain: DevChain, gql: GraphQLClient, user_token: str
) -> None:
    wallet = await import_synced(gql, devchain, "erin")
    to = devchain.info["wallets"][0]["firstAddress"]
    draft = (await gql(CREATE, {"w": wallet["id"], "o": [{"address": to, "amount": 50_000}], "r": "2"}))["data"][
        "createPsbt"
    ]
    one = sign(draft["psbt"], [signers(devchain, "erin")[1]])
    seen = (await gql(ANALYZE, {"w": wallet["id"], "p": one}))["data"]["analyzePsbt"]
    assert not seen["complete"]
    assert all(len(i["signedBy"]) == 1 and len(i["missingSigners"]) == 2 for i in seen["inputs"])
    body = await gql(FINALIZE, {"w": wallet["id"], "p": one}, expect_errors=True)
    err = body["errors"][0]
    assert err["extensions"]["code"] == "BAD_USER_INPUT" and "Not enough signatures" in err["message"]
    assert len(devchain.chain.mempool) == 4  # nothing broadcast
