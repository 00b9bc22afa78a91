"""Recovery branches of miniscript wallets, end to end on the dev chain: ``older(n)`` (BIP-68/112),
``after(t)`` (BIP-65) and ``sha256(h)`` branches spent by the recovery key alone. ``createPsbt``
with ``signers`` picks the branch and sets nSequence / nLockTime for it, or refuses while the coin is
locked (saying how many blocks are left); the dev chain's mempool refuses an early spend
(``non-BIP68-final``, ``non-final``) and accepts it once the lock is met; the server finalizes the
branch (the preimage from ``finalizePsbt(preimages)`` or the PSBT's PSBT_IN_SHA256 field)."""

from __future__ import annotations

import hashlib
from typing import Any

from embit.psbt import PSBT

from app.dev.devchain.runner import DevChain
from tests.spend.helpers import ANALYZE, BROADCAST, FINALIZE, PSBT_FIELDS, tx_ids, wait_synced
from tests.spend.test_descriptor_spend import ROOTS, balance_reaches, key
from tests.support.server import GraphQLClient
from tests.wallets.helpers import addresses, import_wallet

A, B = key(0), key(1)
FP_A, FP_B = ROOTS[0].my_fingerprint.hex(), ROOTS[1].my_fingerprint.hex()
CREATE_S = f"""mutation($w: ID!, $o: [PsbtOutputInput!]!, $r: Decimal, $u: [String!], $s: [String!]) {{
  createPsbt(walletId: $w, outputs: $o, feeRate: $r, utxos: $u, signers: $s) {{ {PSBT_FIELDS} }} }}"""
FINALIZE_P = """mutation($w: ID!, $p: String!, $x: [String!]) {
  finalizePsbt(walletId: $w, psbt: $p, preimages: $x) { txid hex psbt } }"""
BUMP = f"""mutation($w: ID!, $t: String!, $r: Decimal!) {{
  bumpFee(walletId: $w, txid: $t, feeRate: $r) {{ {PSBT_FIELDS} }} }}"""
PREIMAGE = hashlib.sha256(b"h15 recovery preimage").digest()


async def funded(gql: GraphQLClient, chain: DevChain, source: str) -> str:
    """Import ``source``, pay 300,000 + 170,000 sats to it, mine one block, wait for the sync."""
    wallet = await import_wallet(gql, name="recovery", source=source, network="REGTEST")
    await wait_synced(gql, wallet["id"])
    receive = (await addresses(gql, wallet["id"], first=2, chain="RECEIVE"))["edges"]
    for edge, sats in zip(receive, (300_000, 170_000), strict=True):
        await chain.send(edge["node"]["address"], sats)
    await chain.mine(1)
    await balance_reaches(gql, wallet["id"], 470_000)
    return str(wallet["id"])


def sign(psbt_b64: str, n: int, *, sequence: int | None = None, locktime: int | None = None) -> str:
    """Sign with cosigner ``n`` (embit), after setting the sequences / lock time when given (the
    early spends the server would not build)."""
    psbt = PSBT.from_string(psbt_b64)
    if sequence is not None:
        for scope in psbt.inputs:
            scope.sequence = sequence
    if locktime is not None:
        psbt.locktime = locktime
    assert psbt.sign_with(ROOTS[n]) > 0
    return str(psbt.to_string())


async def create(gql: GraphQLClient, wid: str, to: str, signers: list[str] | None, **extra: Any) -> dict[str, Any]:
    variables = {"w": wid, "o": [{"address": to, "amount": 200_000}], "r": "3", "s": signers, **extra}
    return await gql(CREATE_S, variables, expect_errors=True)


def refusal(body: dict[str, Any], field: str) -> str:
    err = body["errors"][0]
    assert err["extensions"]["code"] == "BAD_USER_INPUT" and err["extensions"]["field"] == field, err
    return f"{err['message']} {err['extensions'].get('hint')}"


async def broadcast_refused(gql: GraphQLClient, chain: DevChain, wid: str, signed: str, reason: str) -> None:
    before, txs = set(chain.chain.mempool), await tx_ids(gql, wid)
    body = await gql(BROADCAST, {"w": wid, "p": signed}, expect_errors=True)
    err = body["errors"][0]
    assert err["extensions"]["code"] == "BAD_USER_INPUT" and reason in err["message"], err
    assert set(chain.chain.mempool) == before and await tx_ids(gql, wid) == txs


async def sent_and_mined(gql: GraphQLClient, chain: DevChain, wid: str, txid: str, draft: dict[str, Any]) -> None:
    assert txid in chain.chain.mempool  # the dev chain ran the script, the lock rules and the signature
    tx = chain.chain.txs[txid]
    assert tx.fee == draft["fee"] and tx.vsize <= draft["vsize"] and tx.fee / tx.vsize >= 3
    await chain.mine(1)
    await balance_reaches(gql, wid, 470_000 - 200_000 - draft["fee"])


async def test_older_branch_is_refused_until_met_then_spent_by_the_recovery_key(
    devchain: DevChain, gql: GraphQLClient, user_token: str
) -> None:
    wid = await funded(gql, devchain, f"wsh(or_d(pk({A}),and_v(v:pk({B}),older(5))))")
    to = devchain.info["wallets"][0]["firstAddress"]
    # one confirmation: B's branch needs five
    assert "4 blocks" in refusal(await create(gql, wid, to, [FP_B]), "signers")
    coins = (await gql("query($id: ID!) { wallet(id: $id) { utxos { txid vout } } }", {"id": wid}))["data"]
    first = coins["wallet"]["utxos"][0]
    manual = await create(gql, wid, to, [FP_B], u=[f"{first['txid']}:{first['vout']}"])
    assert "4 blocks" in refusal(manual, "utxos[0]")
    assert "is not the master fingerprint" in refusal(await create(gql, wid, to, ["deadbeef"]), "signers[0]")
    await devchain.mine(3)  # four confirmations
    assert "1 block" in refusal(await create(gql, wid, to, [FP_B]), "signers")
    # The spend the server refuses to build, made by hand (nSequence 5 on a primary-path draft):
    # the script is satisfied, but the dev chain's mempool enforces BIP-68.
    plain = (await create(gql, wid, to, None))["data"]["createPsbt"]
    early = sign(plain["psbt"], 1, sequence=5)
    await broadcast_refused(gql, devchain, wid, early, "non-BIP68-final")
    # B alone on the RBF draft: the finalizer says which lock the transaction lacks
    body = await gql(FINALIZE, {"w": wid, "p": sign(plain["psbt"], 1)}, expect_errors=True)
    assert "older(5) needs nSequence 5" in refusal(body, "psbt")

    await devchain.mine(1)  # five confirmations
    draft = (await create(gql, wid, to, [FP_B]))["data"]["createPsbt"]
    psbt = PSBT.from_string(draft["psbt"])
    assert [scope.sequence for scope in psbt.inputs] == [5] * len(psbt.inputs) and draft["rbf"]
    signed = sign(draft["psbt"], 1)
    seen = (await gql(ANALYZE, {"w": wid, "p": signed}))["data"]["analyzePsbt"]
    assert seen["complete"]
    txid = (await gql(BROADCAST, {"w": wid, "p": signed}))["data"]["broadcastTransaction"]
    assert txid in devchain.chain.mempool
    # a fee bump keeps the inputs' nSequence 5: B alone signs the replacement too
    bump = (await gql(BUMP, {"w": wid, "t": txid, "r": "8"}))["data"]["bumpFee"]
    assert [scope.sequence for scope in PSBT.from_string(bump["psbt"]).inputs] == [5] * len(psbt.inputs)
    second = (await gql(BROADCAST, {"w": wid, "p": sign(bump["psbt"], 1)}))["data"]["broadcastTransaction"]
    assert txid not in devchain.chain.mempool
    await sent_and_mined(gql, devchain, wid, second, bump)


async def test_after_branch_is_refused_until_the_height_then_spent(
    devchain: DevChain, gql: GraphQLClient, user_token: str
) -> None:
    lock = devchain.chain.height + 4
    wid = await funded(gql, devchain, f"wsh(or_d(pk({A}),and_v(v:pk({B}),after({lock}))))")
    to = devchain.info["wallets"][0]["firstAddress"]
    await devchain.mine(lock - 1 - devchain.chain.height)  # the tip one block before the lock
    assert f"1 block (until height {lock})" in refusal(await create(gql, wid, to, [FP_B]), "signers")
    plain = (await create(gql, wid, to, None))["data"]["createPsbt"]
    await broadcast_refused(gql, devchain, wid, sign(plain["psbt"], 1, locktime=lock), "non-final")

    await devchain.mine(1)
    draft = (await create(gql, wid, to, [FP_B]))["data"]["createPsbt"]
    assert draft["locktime"] == lock and draft["rbf"]
    txid = (await gql(BROADCAST, {"w": wid, "p": sign(draft["psbt"], 1)}))["data"]["broadcastTransaction"]
    await sent_and_mined(gql, devchain, wid, txid, draft)


async def test_sha256_branch_needs_its_preimage(devchain: DevChain, gql: GraphQLClient, user_token: str) -> None:
    digest = hashlib.sha256(PREIMAGE).digest()
    wid = await funded(gql, devchain, f"wsh(or_d(pk({A}),and_v(v:pk({B}),sha256({digest.hex()}))))")
    to = devchain.info["wallets"][0]["firstAddress"]
    draft = (await create(gql, wid, to, [FP_B]))["data"]["createPsbt"]
    signed = sign(draft["psbt"], 1)
    missing = await gql(FINALIZE_P, {"w": wid, "p": signed}, expect_errors=True)
    assert digest.hex() in refusal(missing, "preimages")
    wrong = await gql(FINALIZE_P, {"w": wid, "p": signed, "x": ["11" * 32]}, expect_errors=True)
    assert digest.hex() in refusal(wrong, "preimages")
    short = await gql(FINALIZE_P, {"w": wid, "p": signed, "x": ["abcd"]}, expect_errors=True)
    refusal(short, "preimages[0]")
    final = (await gql(FINALIZE_P, {"w": wid, "p": signed, "x": [PREIMAGE.hex()]}))["data"]["finalizePsbt"]
    assert PREIMAGE in bytes.fromhex(final["hex"])
    # The same through the PSBT's own PSBT_IN_SHA256 field (a signer or the user put it there).
    psbt = PSBT.from_string(signed)
    for scope in psbt.inputs:
        scope.unknown = {**scope.unknown, b"\x0b" + digest: PREIMAGE}
    with_field = str(psbt.to_string())
    assert (await gql(ANALYZE, {"w": wid, "p": with_field}))["data"]["analyzePsbt"]["complete"]
    txid = (await gql(BROADCAST, {"w": wid, "p": with_field}))["data"]["broadcastTransaction"]
    assert txid == final["txid"]
    await sent_and_mined(gql, devchain, wid, txid, draft)


async def test_signers_without_a_branch_are_refused(devchain: DevChain, gql: GraphQLClient, user_token: str) -> None:
    wid = await funded(gql, devchain, f"wsh(and_v(v:pk({A}),pk({B})))")
    to = devchain.info["wallets"][0]["firstAddress"]
    assert "no branch of its script is theirs" in refusal(await create(gql, wid, to, [FP_B]), "signers")


async def test_time_based_older_and_taproot_leaf_lock(devchain: DevChain, gql: GraphQLClient, user_token: str) -> None:
    """older() in 512-second units (BIP-68 bit 22), in a taproot leaf: createPsbt(signers: [B])
    refuses until the tip's median time past is 512 s past the coin's, then the draft's nSequence is
    the lock, B alone signs the leaf, and the dev chain (judging by its own median times) accepts it."""
    lock = (1 << 22) | 0xFFFF  # 388 days: the dev chain's older blocks are ~8 months apart, so 1-2 blocks
    K = key(3)
    wid = await funded(gql, devchain, f"tr({K},{{pk({A}),and_v(v:pk({B}),older({lock}))}})")
    to = devchain.info["wallets"][0]["firstAddress"]
    refused = 0
    for _ in range(20):
        body = await create(gql, wid, to, [FP_B])
        if "errors" not in body:
            break
        assert "seconds" in refusal(body, "signers")
        refused += 1
        await devchain.mine(1)
    assert refused >= 1  # locked at first
    draft = body["data"]["createPsbt"]
    assert [s.sequence for s in PSBT.from_string(draft["psbt"]).inputs] == [lock] * len(draft["inputs"])
    txid = (await gql(BROADCAST, {"w": wid, "p": sign(draft["psbt"], 1)}))["data"]["broadcastTransaction"]
    await sent_and_mined(gql, devchain, wid, txid, draft)
