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


UTXOS = "query($id: ID!) { wallet(id: $id) { utxos { txid vout value blockHeight } } }"


async def test_bump_adds_confirmed_inputs_when_there_is_no_change(
    devchain: DevChain, gql: GraphQLClient, user_token: str
) -> None:
    """A changeless payment (coin control: one coin, the amount leaving less than the change
    minimum) bumped to 25 sat/vB: the change cannot pay, so confirmed coins of the wallet are added,
    the rest comes back as change, and the replacement evicts the original in the dev chain."""
    from tests.spend.test_spend_e2e import wait_synced_after

    wallet = await import_synced(gql, devchain, "alice")
    wid = wallet["id"]
    before = wallet["balance"]["confirmed"] + wallet["balance"]["unconfirmed"]
    keys = signers(devchain, "alice")
    to = devchain.info["wallets"][5]["firstAddress"]
    utxos = (await gql(UTXOS, {"id": wid}))["data"]["wallet"]["utxos"]
    confirmed = sorted((u for u in utxos if u["blockHeight"] is not None), key=lambda u: u["value"])
    coin = next(u for u in confirmed if u["value"] > 50_000)
    amount = coin["value"] - 600  # at 1 sat/vB ~110 sats of fee: the ~490 left is below the change minimum
    draft = (
        await gql(
            CREATE,
            {"w": wid, "o": [{"address": to, "amount": amount}], "r": "1", "u": [f"{coin['txid']}:{coin['vout']}"]},
        )
    )["data"]["createPsbt"]
    assert len(draft["outputs"]) == 1 and draft["fee"] == 600
    first = (await gql(BROADCAST, {"w": wid, "p": sign(draft["psbt"], keys)}))["data"]["broadcastTransaction"]

    bump = (await gql(BUMP, {"w": wid, "t": first, "r": "25"}))["data"]["bumpFee"]
    assert bump["coinSelection"] == "bump+inputs"
    old_inputs = {(i["txid"], i["vout"]) for i in draft["inputs"]}
    new_inputs = {(i["txid"], i["vout"]) for i in bump["inputs"]}
    assert old_inputs < new_inputs  # every original input kept (it must conflict), more added
    heights = {(u["txid"], u["vout"]): u["blockHeight"] for u in utxos}
    assert all(heights.get(k) is not None for k in new_inputs - old_inputs)  # only confirmed coins added
    assert [o["value"] for o in bump["outputs"] if not o["ours"]] == [amount]
    change = [o for o in bump["outputs"] if o["change"]]
    assert len(change) == 1 and change[0]["value"] >= 1_000
    second = (await gql(BROADCAST, {"w": wid, "p": sign(bump["psbt"], keys)}))["data"]["broadcastTransaction"]
    assert second in devchain.chain.mempool and first not in devchain.chain.mempool
    new_tx = devchain.chain.txs[second]
    assert new_tx.fee == bump["fee"] and new_tx.fee / new_tx.vsize >= 25
    assert new_tx.fee >= draft["fee"] + new_tx.vsize  # BIP-125 rule 4: pays its own relay fee on top

    await devchain.mine(1)
    await gql("mutation($id: ID!) { syncWallet(id: $id) { id } }", {"id": wid})
    after = await wait_synced_after(gql, wid, devchain)
    assert after["balance"]["confirmed"] == before - amount - bump["fee"]


async def test_bump_that_no_coins_can_pay_is_refused(devchain: DevChain, gql: GraphQLClient, user_token: str) -> None:
    wallet = await import_synced(gql, devchain, "alice")
    wid = wallet["id"]
    keys = signers(devchain, "alice")
    to = devchain.info["wallets"][5]["firstAddress"]
    draft = (await gql(CREATE, {"w": wid, "o": [{"address": to}], "r": "1"}))["data"]["createPsbt"]  # send max
    first = (await gql(BROADCAST, {"w": wid, "p": sign(draft["psbt"], keys)}))["data"]["broadcastTransaction"]
    body = await gql(BUMP, {"w": wid, "t": first, "r": "50"}, expect_errors=True)
    err = body["errors"][0]
    assert err["extensions"]["code"] == "BAD_USER_INPUT" and err["extensions"]["field"] == "feeRate"
    assert "cannot pay the higher fee" in err["message"] and "(0 sats)" in err["message"]
    assert first in devchain.chain.mempool
