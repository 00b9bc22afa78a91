"""Legacy script wallets spent end to end on the dev chain: a classic 2-of-3 ``sh(sortedmulti)``,
legacy P2SH miniscript ``sh(...)`` (primary key, and the recovery key after its ``older()``), bare
``multi()`` and ``pk()`` wallets. Each: the server builds the PSBT (NON_WITNESS_UTXO, REDEEM_SCRIPT,
BIP32_DERIVATION), embit signs it, the server builds the scriptSig (minimal pushes), and the dev chain's
interpreter runs the redeem / bare script with the legacy sighash before accepting it; mined, the
balance drops by exactly amount + fee, the signed size within the estimate."""

from __future__ import annotations

from typing import Any

import pytest
from embit.descriptor import Descriptor
from embit.psbt import PSBT

from app.dev.devchain.runner import DevChain
from tests.spend.helpers import BROADCAST, PSBT_FIELDS, wait_synced
from tests.spend.test_descriptor_spend import ROOTS, balance_reaches, key
from tests.support.server import GraphQLClient
from tests.wallets.helpers import addresses, import_wallet

A, B, C = key(0), key(1), key(2)
CREATE_S = f"""mutation($w: ID!, $o: [PsbtOutputInput!]!, $r: Decimal, $s: [String!]) {{
  createPsbt(walletId: $w, outputs: $o, feeRate: $r, signers: $s) {{ {PSBT_FIELDS} }} }}"""


async def fund(gql: GraphQLClient, chain: DevChain, source: str, *, bare: bool = False) -> str:
    wallet = await import_wallet(gql, name="legacy", source=source, network="REGTEST")
    await wait_synced(gql, wallet["id"])
    if bare:  # no address: pay the scripts of receive indexes 0 and 1 directly
        body = source.replace("<0;1>", "0").replace("combo(", "pk(")
        desc = Descriptor.from_string(f"sh({body})")
        for index, sats in ((0, 300_000), (1, 170_000)):
            await chain.send_to_script(bytes(desc.derive(index).miniscript.compile()), sats)
    else:
        receive = (await addresses(gql, wallet["id"], first=2, chain="RECEIVE"))["edges"]
        for edge, sats in zip(receive, (300_000, 170_000), strict=True):
            await chain.send(edge["node"]["address"], sats)
    await chain.mine(1)
    await balance_reaches(gql, wallet["id"], 470_000)
    return str(wallet["id"])


async def spend(
    gql: GraphQLClient, chain: DevChain, wid: str, signer_groups: list[int], signers: list[str] | None = None
) -> dict[str, Any]:
    to = chain.info["wallets"][0]["firstAddress"]
    variables = {"w": wid, "o": [{"address": to, "amount": 200_000}], "r": "3", "s": signers}
    body = await gql(CREATE_S, variables)
    assert "errors" not in body, body
    draft = body["data"]["createPsbt"]
    psbt = PSBT.from_string(draft["psbt"])
    for scope in psbt.inputs:  # legacy inputs: the full previous transaction, no witness UTXO
        assert scope.non_witness_utxo is not None and scope.witness_utxo is None
        assert scope.bip32_derivations
    for n in signer_groups:
        assert psbt.sign_with(ROOTS[n]) > 0, n
    txid = (await gql(BROADCAST, {"w": wid, "p": str(psbt.to_string())}))["data"]["broadcastTransaction"]
    assert txid in chain.chain.mempool  # the dev chain ran the script with the legacy sighash
    tx = chain.chain.txs[txid]
    assert not any(i.witness for i in tx.vin)
    assert tx.fee == draft["fee"] and tx.vsize <= draft["vsize"] and tx.fee / tx.vsize >= 3
    await chain.mine(1)
    await balance_reaches(gql, wid, 470_000 - 200_000 - draft["fee"])
    return draft


async def test_classic_p2sh_sortedmulti_two_of_three(devchain: DevChain, gql: GraphQLClient, user_token: str) -> None:
    wid = await fund(gql, devchain, f"sh(sortedmulti(2,{A},{B},{C}))")
    to = devchain.info["wallets"][0]["firstAddress"]
    one = {"w": wid, "o": [{"address": to, "amount": 200_000}], "r": "3", "s": [ROOTS[0].my_fingerprint.hex()]}
    err = (await gql(CREATE_S, one, expect_errors=True))["errors"][0]  # one signer of a 2-of-3
    assert err["extensions"]["field"] == "signers" and "no branch of its script is theirs" in err["message"]
    draft = await spend(gql, devchain, wid, [0, 2], [ROOTS[0].my_fingerprint.hex(), ROOTS[2].my_fingerprint.hex()])
    assert draft["signaturesRequired"] == 2


@pytest.mark.parametrize(("signer", "wait"), [(0, 0), (1, 1)], ids=["primary", "recovery-after-older"])
async def test_legacy_p2sh_miniscript(
    signer: int, wait: int, devchain: DevChain, gql: GraphQLClient, user_token: str
) -> None:
    wid = await fund(gql, devchain, f"sh(or_d(pk({A}),and_v(v:pk({B}),older(2))))")
    await devchain.mine(wait)
    await spend(gql, devchain, wid, [signer], [ROOTS[signer].my_fingerprint.hex()])


@pytest.mark.parametrize(
    ("source", "signer_groups"),
    [(f"multi(2,{A},{B})", [0, 1]), (f"pk({A})", [0]), (f"combo({A})", [0])],
    ids=["bare-multi", "bare-pk", "combo"],
)
async def test_bare_scripts(
    source: str, signer_groups: list[int], devchain: DevChain, gql: GraphQLClient, user_token: str
) -> None:
    """Bare scripts have no address: funded by script; the change goes to the wallet's next bare change script."""
    wid = await fund(gql, devchain, source, bare=True)
    draft = await spend(gql, devchain, wid, signer_groups)
    change = [o for o in draft["outputs"] if o["change"]]
    assert len(change) == 1 and change[0]["ours"]
