"""Helpers: import a dev chain wallet and wait for its sync; sign PSBTs with embit test keys."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from embit.descriptor import Descriptor
from embit.psbt import PSBT

from app.dev.devchain.runner import DevChain
from tests.support.server import GraphQLClient
from tests.wallets.helpers import import_wallet

STATUS = "query($id: ID!) { wallet(id: $id) { syncStatus syncError balance { confirmed unconfirmed total } } }"
PSBT_FIELDS = """psbt txid fee vsize feeRate rbf locktime signaturesRequired complete coinSelection waste changeAddress
  inputs { txid vout value address ours signedBy missingSigners complete }
  outputs { address value ours change }"""
CREATE = f"""mutation($w: ID!, $o: [PsbtOutputInput!]!, $r: Decimal, $t: FeeTarget, $u: [String!],
  $rbf: Boolean! = true) {{
  createPsbt(walletId: $w, outputs: $o, feeRate: $r, feeTarget: $t, utxos: $u, rbf: $rbf) {{ {PSBT_FIELDS} }} }}"""
ANALYZE = f"query($w: ID!, $p: String!) {{ analyzePsbt(walletId: $w, psbt: $p) {{ {PSBT_FIELDS} }} }}"
COMBINE = f"mutation($w: ID!, $p: [String!]!) {{ combinePsbt(walletId: $w, psbts: $p) {{ {PSBT_FIELDS} }} }}"
FINALIZE = "mutation($w: ID!, $p: String!) { finalizePsbt(walletId: $w, psbt: $p) { txid hex psbt } }"
BROADCAST = "mutation($w: ID!, $p: String, $h: String) { broadcastTransaction(walletId: $w, psbt: $p, hex: $h) }"
TXS = "query($id: ID!) { wallet(id: $id) { transactions(first: 200) { edges { node { txid fee netAmount } } } } }"


async def import_synced(gql: GraphQLClient, chain: DevChain, name: str) -> dict[str, Any]:
    w = next(x for x in chain.info["wallets"] if x["name"] == name)
    wallet = await import_wallet(gql, name=name, source=w["descriptor"], network="REGTEST")
    return await wait_synced(gql, wallet["id"])


async def wait_synced(gql: GraphQLClient, wallet_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        w: dict[str, Any] = (await gql(STATUS, {"id": wallet_id}))["data"]["wallet"]
        if w["syncStatus"] in ("SYNCED", "ERROR"):
            assert w["syncStatus"] == "SYNCED", w
            return {"id": wallet_id, **w}
        assert time.monotonic() < deadline, w
        await asyncio.sleep(0.05)


def signers(chain: DevChain, name: str) -> list[Any]:
    """One embit signer per cosigner key (tprv with its origin) of a scenario wallet."""
    wallet = next(w for w in chain.state.wallets if w.name == name)
    return list(Descriptor.from_string(wallet.private_descriptor(0).split("#")[0]).keys)


def sign(psbt_b64: str, keys: list[Any]) -> str:
    psbt = PSBT.from_string(psbt_b64)
    for k in keys:
        assert psbt.sign_with(k) > 0
    return str(psbt.to_string())


async def tx_ids(gql: GraphQLClient, wallet_id: str) -> set[str]:
    body = await gql(TXS, {"id": wallet_id})
    return {e["node"]["txid"] for e in body["data"]["wallet"]["transactions"]["edges"]}
