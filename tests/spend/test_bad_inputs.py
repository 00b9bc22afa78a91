"""Bad spending requests: a clear error naming the field, and nothing stored or broadcast."""

from __future__ import annotations

from typing import Any

from embit.psbt import PSBT

from app.dev.devchain.runner import DevChain
from tests.spend.helpers import ANALYZE, BROADCAST, CREATE, FINALIZE, import_synced, sign, signers, tx_ids
from tests.support.server import GraphQLClient

FEES = "query { feeEstimates(network: REGTEST) { fastest halfHour hour economy minimum stale ageSeconds source } }"
IMPORT_LABELS = "mutation($w: ID!, $j: String!) { importLabels(walletId: $w, jsonl: $j) }"
UTXOS = "query($id: ID!) { wallet(id: $id) { utxos { txid vout value confirmations } } }"


def err(body: dict[str, Any]) -> dict[str, Any]:
    assert body.get("data") is None or all(v is None for v in body["data"].values()), body
    e: dict[str, Any] = body["errors"][0]
    return e


async def test_bad_requests_store_nothing(devchain: DevChain, gql: GraphQLClient, user_token: str) -> None:
    wallet = await import_synced(gql, devchain, "alice")
    wid = wallet["id"]
    balance = wallet["balance"]["confirmed"]
    to = devchain.info["wallets"][5]["firstAddress"]
    mempool = set(devchain.chain.mempool)
    txs = await tx_ids(gql, wid)

    async def create(outputs: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
        return await gql(CREATE, {"w": wid, "o": outputs, "r": "2", **more}, expect_errors=True)

    e = err(await create([{"address": "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "amount": 10_000}]))
    assert (e["extensions"]["code"], e["extensions"]["field"]) == ("BAD_USER_INPUT", "outputs[0].address")
    e = err(await create([{"address": to, "amount": 293}]))
    assert (e["extensions"]["code"], e["extensions"]["field"]) == ("BAD_USER_INPUT", "outputs[0].amount")
    assert "dust" in e["message"]
    e = err(await create([{"address": to, "amount": balance + 1}]))
    assert e["extensions"]["code"] == "BAD_USER_INPUT" and "Insufficient funds" in e["message"]
    e = err(await create([{"address": to, "amount": 10_000}], u=["ab" * 32 + ":0"]))
    assert e["extensions"]["field"] == "utxos[0]"

    # Another user's wallet: NOT_FOUND for every operation.
    draft = (await gql(CREATE, {"w": wid, "o": [{"address": to, "amount": 50_000}], "r": "2"}))["data"]["createPsbt"]
    owner = gql.token
    gql.token = await gql.register("mallory@example.com")
    e = err(await gql(CREATE, {"w": wid, "o": [{"address": to, "amount": 50_000}], "r": "2"}, expect_errors=True))
    assert e["extensions"]["code"] == "NOT_FOUND"
    signed = sign(draft["psbt"], signers(devchain, "alice"))
    for q, v in ((ANALYZE, {"p": draft["psbt"]}), (FINALIZE, {"p": signed}), (BROADCAST, {"p": signed})):
        assert err(await gql(q, {"w": wid, **v}, expect_errors=True))["extensions"]["code"] == "NOT_FOUND"
    gql.token = owner

    # A tampered PSBT: an output changed after signing. The signature no longer verifies.
    psbt = PSBT.from_string(signed)
    psbt.outputs[0].value -= 1000
    e = err(await gql(BROADCAST, {"w": wid, "p": str(psbt.to_string())}, expect_errors=True))
    assert e["extensions"]["code"] == "BAD_USER_INPUT" and "does not verify" in e["message"]
    e = err(await gql(ANALYZE, {"w": wid, "p": "cHNidP8BAHECAAAAAf"}, expect_errors=True))
    assert (e["extensions"]["code"], e["extensions"]["field"]) == ("BAD_USER_INPUT", "psbt")
    # A PSBT of another wallet of the same user spends none of this wallet's coins.
    other = await import_synced(gql, devchain, "frank")
    e = err(await gql(ANALYZE, {"w": other["id"], "p": draft["psbt"]}, expect_errors=True))
    assert e["extensions"]["code"] == "BAD_USER_INPUT" and "no coin of this wallet" in e["message"]

    # The node's own reason: the same coins spent again without RBF after the first went out.
    assert (await gql(BROADCAST, {"w": wid, "p": signed}))["data"]["broadcastTransaction"] == draft["txid"]
    mempool.add(draft["txid"])
    txs.add(draft["txid"])
    e = err(await gql(BROADCAST, {"w": wid, "p": signed}, expect_errors=True))
    assert e["extensions"]["code"] == "BAD_USER_INPUT" and "txn-already-in-mempool" in e["message"]

    assert set(devchain.chain.mempool) == mempool
    assert await tx_ids(gql, wid) == txs


async def test_frozen_outputs_are_never_chosen(devchain: DevChain, gql: GraphQLClient, user_token: str) -> None:
    wallet = await import_synced(gql, devchain, "bob")
    wid = wallet["id"]
    to = devchain.info["wallets"][0]["firstAddress"]
    utxos = (await gql(UTXOS, {"id": wid}))["data"]["wallet"]["utxos"]
    confirmed = [u for u in utxos if u["confirmations"] > 0]
    keep = max(confirmed, key=lambda u: u["value"])
    frozen = [u for u in confirmed if u is not keep]
    lines = "\n".join(
        f'{{"type": "output", "ref": "{u["txid"]}:{u["vout"]}", "label": "cold", "spendable": false}}' for u in frozen
    )
    await gql(IMPORT_LABELS, {"w": wid, "j": lines})
    draft = (await gql(CREATE, {"w": wid, "o": [{"address": to, "amount": 10_000}], "r": "1"}))["data"]["createPsbt"]
    assert [(i["txid"], i["vout"]) for i in draft["inputs"]] == [(keep["txid"], keep["vout"])]
    # More than the unfrozen coin holds: refused, though the balance would cover it.
    body = await gql(CREATE, {"w": wid, "o": [{"address": to, "amount": keep["value"]}], "r": "1"}, expect_errors=True)
    assert "Insufficient funds" in err(body)["message"]
    # Frozen-only funds.
    await gql(
        IMPORT_LABELS,
        {
            "w": wid,
            "j": f'{{"type": "output", "ref": "{keep["txid"]}:{keep["vout"]}", "label": "x", "spendable": false}}',
        },
    )
    body = await gql(CREATE, {"w": wid, "o": [{"address": to, "amount": 10_000}], "r": "1"}, expect_errors=True)
    e = err(body)
    assert e["extensions"]["code"] == "BAD_USER_INPUT" and "frozen" in e["message"]
    # Coin control may still pick a frozen coin on purpose.
    body = await gql(
        CREATE, {"w": wid, "o": [{"address": to, "amount": 10_000}], "r": "1", "u": [f"{keep['txid']}:{keep['vout']}"]}
    )
    assert body["data"]["createPsbt"]["coinSelection"] == "manual"


async def test_drafts_never_share_a_change_address_and_send_max(
    devchain: DevChain, gql: GraphQLClient, user_token: str
) -> None:
    wallet = await import_synced(gql, devchain, "alice")
    to = devchain.info["wallets"][5]["firstAddress"]
    a = (await gql(CREATE, {"w": wallet["id"], "o": [{"address": to, "amount": 40_000}], "r": "2"}))["data"][
        "createPsbt"
    ]
    b = (await gql(CREATE, {"w": wallet["id"], "o": [{"address": to, "amount": 40_000}], "r": "2"}))["data"][
        "createPsbt"
    ]
    assert a["changeAddress"] and b["changeAddress"] and a["changeAddress"] != b["changeAddress"]
    mx = (await gql(CREATE, {"w": wallet["id"], "o": [{"address": to}], "r": "2"}))["data"]["createPsbt"]
    assert mx["coinSelection"] == "all" and len(mx["outputs"]) == 1 and mx["changeAddress"] is None
    assert mx["outputs"][0]["value"] + mx["fee"] == sum(i["value"] for i in mx["inputs"])


async def test_fee_estimates_follow_the_node(devchain: DevChain, gql: GraphQLClient, user_token: str) -> None:
    fees = (await gql(FEES))["data"]["feeEstimates"]
    assert (fees["fastest"], fees["minimum"], fees["stale"]) == ("26.0", "1.0", False), fees
    assert float(fees["fastest"]) >= float(fees["halfHour"]) >= float(fees["hour"]) >= float(fees["economy"])
    wallet = await import_synced(gql, devchain, "alice")
    to = devchain.info["wallets"][5]["firstAddress"]
    draft = (await gql(CREATE, {"w": wallet["id"], "o": [{"address": to, "amount": 40_000}], "t": "HOUR"}))["data"][
        "createPsbt"
    ]
    assert float(draft["feeRate"]) >= float(fees["hour"])
