"""Fee bumping: an RBF replacement built by the server replaces the original in the dev chain's
mempool; a CPFP child gets the package to the rate asked."""

from __future__ import annotations

from app.dev.devchain.runner import DevChain
from tests.spend.helpers import BROADCAST, CREATE, PSBT_FIELDS, import_synced, sign, signers
from tests.support.server import GraphQLClient

BUMP = (
    f"mutation($w: ID!, $t: String!, $r: Decimal!) {{ bumpFee(walletId: $w, txid: $t, feeRate: $r) "
    f"{{ {PSBT_FIELDS} }} }}"
)
CPFP = (
    f"mutation($w: ID!, $t: String!, $r: Decimal!) {{ cpfp(walletId: $w, txid: $t, feeRate: $r) {{ {PSBT_FIELDS} }} }}"
)


async def test_rbf_bump_replaces_and_cpfp_pays_for_the_package(
    devchain: DevChain, gql: GraphQLClient, user_token: str
) -> None:
    wallet = await import_synced(gql, devchain, "alice")
    wid = wallet["id"]
    keys = signers(devchain, "alice")
    to = devchain.info["wallets"][5]["firstAddress"]
    draft = (await gql(CREATE, {"w": wid, "o": [{"address": to, "amount": 70_000}], "r": "1"}))["data"]["createPsbt"]
    first = (await gql(BROADCAST, {"w": wid, "p": sign(draft["psbt"], keys)}))["data"]["broadcastTransaction"]
    assert first in devchain.chain.mempool

    bump = (await gql(BUMP, {"w": wid, "t": first, "r": "6"}))["data"]["bumpFee"]
    assert bump["fee"] > draft["fee"] and float(bump["feeRate"]) >= 6
    assert [o["value"] for o in bump["outputs"] if not o["ours"]] == [70_000]
    assert {(i["txid"], i["vout"]) for i in bump["inputs"]} == {(i["txid"], i["vout"]) for i in draft["inputs"]}
    second = (await gql(BROADCAST, {"w": wid, "p": sign(bump["psbt"], keys)}))["data"]["broadcastTransaction"]
    assert second in devchain.chain.mempool and first not in devchain.chain.mempool  # replaced (BIP-125)
    new_tx = devchain.chain.txs[second]
    assert new_tx.fee / new_tx.vsize >= 6

    # CPFP on the replacement's change: the package pays at least 20 sat/vB.
    child = (await gql(CPFP, {"w": wid, "t": second, "r": "20"}))["data"]["cpfp"]
    assert [(i["txid"]) for i in child["inputs"]] == [second]
    child_id = (await gql(BROADCAST, {"w": wid, "p": sign(child["psbt"], keys)}))["data"]["broadcastTransaction"]
    child_tx = devchain.chain.txs[child_id]
    assert (new_tx.fee + child_tx.fee) / (new_tx.vsize + child_tx.vsize) >= 20
