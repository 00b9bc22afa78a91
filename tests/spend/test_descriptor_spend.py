"""Spending from miniscript and taproot script-path wallets: the server builds the PSBT
(WITNESS_SCRIPT and BIP32_DERIVATION for every key of a wsh() miniscript; TAP_LEAF_SCRIPT,
TAP_INTERNAL_KEY, TAP_MERKLE_ROOT and TAP_BIP32_DERIVATION with leaf hashes for tr() trees), embit
test keys sign it as hardware signers would, the server builds the witness from the signatures and
the script, and the dev chain's mempool runs the script (app/bitcoin/interpreter.py) before
accepting it; a block is mined and the sync sees the balance lowered by exactly amount + fee."""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

import pytest
from embit.bip32 import HDKey
from embit.networks import NETWORKS
from embit.psbt import PSBT

from app.dev.devchain.runner import DevChain
from tests.spend.helpers import ANALYZE, BROADCAST, COMBINE, CREATE, FINALIZE, tx_ids, wait_synced
from tests.support.server import GraphQLClient
from tests.wallets.helpers import addresses, import_wallet

REG = NETWORKS["regtest"]
SYNC = "mutation($id: ID!) { syncWallet(id: $id) { id } }"
ROOTS = [
    HDKey.from_seed(hashlib.sha256(f"spend-descriptor/{n}".encode()).digest(), version=REG["xprv"]) for n in range(5)
]


def key(n: int) -> str:
    """The cosigner's account tpub with its key origin, receive/change multipath."""
    root = ROOTS[n]
    xpub = root.derive("m/48h/1h/0h/2h").to_public().to_base58(version=REG["xpub"])
    return f"[{root.my_fingerprint.hex()}/48h/1h/0h/2h]{xpub}/<0;1>/*"


A, B, C, K = key(0), key(1), key(2), key(3)
MIXED = f"wpkh({key(0)[: -len('/<0;1>/*')]}/0/*)\ntr({key(4)[: -len('/<0;1>/*')]}/1/*)"  # P2WPKH receive, P2TR change
WALLETS = {
    "timelock": f"wsh(or_d(pk({A}),and_v(v:pkh({B}),older(5))))",
    "thresh": f"wsh(thresh(2,pk({A}),s:pk({B}),s:pk({C})))",
    "taptree": f"tr({K},{{pk({A}),multi_a(2,{B},{C})}})",
    "mixed": MIXED,
}
UTXOS = "query($id: ID!) { wallet(id: $id) { utxos { txid vout value blockHeight } } }"


async def funded(gql: GraphQLClient, chain: DevChain, name: str) -> dict[str, Any]:
    wallet = await import_wallet(gql, name=name, source=WALLETS[name], network="REGTEST")
    await wait_synced(gql, wallet["id"])
    receive = (await addresses(gql, wallet["id"], first=3, chain="RECEIVE"))["edges"]
    for edge, sats in zip(receive, (300_000, 170_000), strict=False):
        await chain.send(edge["node"]["address"], sats)
    await chain.mine(1)
    return await balance_reaches(gql, wallet["id"], 470_000)


async def balance_reaches(gql: GraphQLClient, wallet_id: str, confirmed: int) -> dict[str, Any]:
    """Sync until the confirmed balance is ``confirmed`` (the timeout is only a failure bound)."""
    deadline = time.monotonic() + 60
    while True:
        await gql(SYNC, {"id": wallet_id})
        w = await wait_synced(gql, wallet_id)
        if w["balance"]["confirmed"] == confirmed and w["balance"]["unconfirmed"] == 0:
            return w
        assert time.monotonic() < deadline, w
        await asyncio.sleep(0.1)


def sign(psbt_b64: str, signers: list[int]) -> str:
    psbt = PSBT.from_string(psbt_b64)
    for n in signers:
        assert psbt.sign_with(ROOTS[n]) > 0, n
    return str(psbt.to_string())


async def spend(
    gql: GraphQLClient, chain: DevChain, name: str, copies: list[list[int]], amount: int = 200_000
) -> dict[str, Any]:
    """Create, sign (one copy per signer group, combined by the server), broadcast, mine, check."""
    wallet = await funded(gql, chain, name)
    wid = wallet["id"]
    to = chain.info["wallets"][0]["firstAddress"]
    body = await gql(CREATE, {"w": wid, "o": [{"address": to, "amount": amount}], "r": "4"})
    assert "errors" not in body, body
    draft = body["data"]["createPsbt"]
    assert not draft["complete"] and all(i["ours"] for i in draft["inputs"])
    change = [o for o in draft["outputs"] if o["change"]]
    assert len(change) == 1 and change[0]["ours"]
    parts = [sign(draft["psbt"], group) for group in copies]
    if len(parts) > 1:
        combined = (await gql(COMBINE, {"w": wid, "p": parts}))["data"]["combinePsbt"]
        assert combined["complete"], combined
        signed = combined["psbt"]
    else:
        signed = parts[0]
        assert (await gql(ANALYZE, {"w": wid, "p": signed}))["data"]["analyzePsbt"]["complete"]
    txid = (await gql(BROADCAST, {"w": wid, "p": signed}))["data"]["broadcastTransaction"]
    assert txid in chain.chain.mempool  # the dev chain ran the script and checked every signature
    assert txid in await tx_ids(gql, wid)
    tx = chain.chain.txs[txid]
    assert tx.fee == draft["fee"] and tx.fee / tx.vsize >= 4
    assert tx.vsize <= draft["vsize"]  # the estimate is an upper bound
    await chain.mine(1)
    await balance_reaches(gql, wid, 470_000 - amount - draft["fee"])
    return draft


def _fields(psbt_b64: str) -> PSBT:
    return PSBT.from_string(psbt_b64)


async def test_miniscript_timelock_wallet_spends_by_its_primary_key(
    devchain: DevChain, gql: GraphQLClient, user_token: str
) -> None:
    draft = await spend(gql, devchain, "timelock", [[0]])
    psbt = _fields(draft["psbt"])
    for scope in psbt.inputs:  # every key of the script, with its origin, and the script itself
        assert scope.witness_script is not None and scope.non_witness_utxo is not None
        assert {d.fingerprint for d in scope.bip32_derivations.values()} == {
            ROOTS[0].my_fingerprint,
            ROOTS[1].my_fingerprint,
        }
    change = next(o for o, v in zip(psbt.outputs, draft["outputs"], strict=True) if v["change"])
    assert change.witness_script is not None and len(change.bip32_derivations) == 2


async def test_miniscript_thresh_from_two_separate_signers(
    devchain: DevChain, gql: GraphQLClient, user_token: str
) -> None:
    await spend(gql, devchain, "thresh", [[1], [2]])


async def test_taproot_multi_a_leaf_from_two_signers(devchain: DevChain, gql: GraphQLClient, user_token: str) -> None:
    draft = await spend(gql, devchain, "taptree", [[1], [2]])
    scope = _fields(draft["psbt"]).inputs[0]
    assert scope.taproot_internal_key is not None and scope.taproot_merkle_root is not None
    assert len(scope.taproot_scripts) == 2 and scope.witness_utxo is not None
    leaves = {bytes(d[1].fingerprint): d[0] for d in scope.taproot_bip32_derivations.values()}
    assert leaves[ROOTS[3].my_fingerprint] == []  # the internal key is in no leaf
    assert all(len(leaves[ROOTS[n].my_fingerprint]) == 1 for n in (0, 1, 2))


async def test_taproot_pk_leaf_and_key_path(devchain: DevChain, gql: GraphQLClient, user_token: str) -> None:
    await spend(gql, devchain, "taptree", [[0]])


async def test_taproot_tree_wallet_key_path(devchain: DevChain, gql: GraphQLClient, user_token: str) -> None:
    draft = await spend(gql, devchain, "taptree", [[3]])
    assert draft["vsize"] > 0


async def test_timelock_branch_alone_cannot_finalize_and_nothing_is_sent(
    devchain: DevChain, gql: GraphQLClient, user_token: str
) -> None:
    """B's branch needs older(5): a default draft signals RBF (nSequence 0xfffffffd disables
    relative lock times), so B's signature alone does not satisfy the script, and the refusal says
    which lock is missing (createPsbt(signers) builds that spend: test_timelock_spend.py)."""
    wallet = await funded(gql, devchain, "timelock")
    to = devchain.info["wallets"][0]["firstAddress"]
    draft = (await gql(CREATE, {"w": wallet["id"], "o": [{"address": to, "amount": 50_000}], "r": "2"}))["data"][
        "createPsbt"
    ]
    signed = sign(draft["psbt"], [1])
    seen = (await gql(ANALYZE, {"w": wallet["id"], "p": signed}))["data"]["analyzePsbt"]
    assert not seen["complete"] and all(ROOTS[1].my_fingerprint.hex() in i["signedBy"] for i in seen["inputs"])
    before = set(devchain.chain.mempool)
    body = await gql(BROADCAST, {"w": wallet["id"], "p": signed}, expect_errors=True)
    err = body["errors"][0]
    assert err["extensions"]["code"] == "BAD_USER_INPUT" and "older(5) needs nSequence 5" in err["message"]
    assert set(devchain.chain.mempool) == before


async def test_tampered_script_path_signature_is_refused(
    devchain: DevChain, gql: GraphQLClient, user_token: str
) -> None:
    wallet = await funded(gql, devchain, "taptree")
    to = devchain.info["wallets"][0]["firstAddress"]
    draft = (await gql(CREATE, {"w": wallet["id"], "o": [{"address": to, "amount": 50_000}], "r": "2"}))["data"][
        "createPsbt"
    ]
    psbt = PSBT.from_string(sign(draft["psbt"], [0]))
    for k, sig in list(psbt.inputs[0].taproot_sigs.items()):
        psbt.inputs[0].taproot_sigs[k] = bytes([sig[0] ^ 1]) + sig[1:]
    body = await gql(FINALIZE, {"w": wallet["id"], "p": psbt.to_string()}, expect_errors=True)
    err = body["errors"][0]
    assert err["extensions"]["code"] == "BAD_USER_INPUT" and "does not verify" in err["message"]


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("addr(bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080)", "has no keys"),
        (f"rawtr({K})", "untweaked output key"),
    ],
)
async def test_kinds_that_cannot_be_spent_are_refused(
    source: str, why: str, devchain: DevChain, gql: GraphQLClient, user_token: str
) -> None:
    wallet = await import_wallet(gql, name="w", source=source, network="REGTEST")
    to = devchain.info["wallets"][0]["firstAddress"]
    body = await gql(
        CREATE, {"w": wallet["id"], "o": [{"address": to, "amount": 50_000}], "r": "2"}, expect_errors=True
    )
    err = body["errors"][0]
    assert err["extensions"]["code"] == "BAD_USER_INPUT" and err["extensions"]["field"] == "walletId"
    assert why in err["message"]


async def test_mixed_script_types_in_one_transaction(devchain: DevChain, gql: GraphQLClient, user_token: str) -> None:
    """A wallet whose receive keychain is P2WPKH and change keychain P2TR: the first spend's change
    is taproot; the second spends a P2WPKH coin and that P2TR change together (each input sized
    and finalized by its own keychain), and the dev chain accepts both."""
    wid = (await funded(gql, devchain, "mixed"))["id"]
    to = devchain.info["wallets"][0]["firstAddress"]
    coins = (await gql(UTXOS, {"id": wid}))["data"]["wallet"]["utxos"]
    small = next(c for c in coins if c["value"] == 170_000)
    first = (
        await gql(
            CREATE,
            {"w": wid, "o": [{"address": to, "amount": 100_000}], "r": "3", "u": [f"{small['txid']}:{small['vout']}"]},
        )
    )["data"]["createPsbt"]
    change = next(o for o in first["outputs"] if o["change"])
    assert change["address"].startswith("bcrt1p")  # the change keychain is taproot
    txid = (await gql(BROADCAST, {"w": wid, "p": sign(first["psbt"], [0])}))["data"]["broadcastTransaction"]
    assert txid in devchain.chain.mempool
    await devchain.mine(1)
    await balance_reaches(gql, wid, 470_000 - 100_000 - first["fee"])
    coins = (await gql(UTXOS, {"id": wid}))["data"]["wallet"]["utxos"]
    assert len(coins) == 2  # the other P2WPKH coin and the P2TR change
    body = await gql(
        CREATE,
        {"w": wid, "o": [{"address": to}], "r": "3", "u": [f"{c['txid']}:{c['vout']}" for c in coins]},
    )
    draft = body["data"]["createPsbt"]
    assert len(draft["inputs"]) == 2 and not draft["complete"]
    txid = (await gql(BROADCAST, {"w": wid, "p": sign(draft["psbt"], [0, 4])}))["data"]["broadcastTransaction"]
    tx = devchain.chain.txs[txid]
    assert txid in devchain.chain.mempool and tx.vsize <= draft["vsize"] and tx.fee / tx.vsize >= 3
    await devchain.mine(1)
    await balance_reaches(gql, wid, 0)
