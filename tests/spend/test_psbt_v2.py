"""PSBT version 2 (BIP-370): the specification's test vectors (invalid ones refused with
BAD_USER_INPUT, valid ones read and written back field for field, the lock time determination),
then a v2 draft from createPsbt signed by embit, finalized and broadcast into the dev chain."""

from __future__ import annotations

import base64

import pytest
from embit.psbt import PSBT

from app.dev.devchain.runner import DevChain
from app.errors import BadInput
from app.spend import psbt as P
from app.spend import psbt_v2
from tests.spend.bip370_vectors import INVALID, LOCKTIME, VALID
from tests.spend.helpers import BROADCAST, FINALIZE, PSBT_FIELDS, import_synced, signers
from tests.support.server import GraphQLClient

ANALYZE_V = f"query($w: ID!, $p: String!) {{ analyzePsbt(walletId: $w, psbt: $p) {{ {PSBT_FIELDS} psbtVersion }} }}"
CREATE_V = f"""mutation($w: ID!, $o: [PsbtOutputInput!]!, $r: Decimal, $v: Int!) {{
  createPsbt(walletId: $w, outputs: $o, feeRate: $r, psbtVersion: $v) {{ {PSBT_FIELDS} psbtVersion draftId }} }}"""


@pytest.mark.parametrize(("case", "b64"), INVALID, ids=[c for c, _ in INVALID])
def test_invalid_vectors_are_refused(case: str, b64: str) -> None:
    with pytest.raises(BadInput) as err:
        P.parse_psbt(b64)
    assert err.value.field == "psbt"


@pytest.mark.parametrize(("case", "b64"), VALID, ids=[c for c, _ in VALID])
def test_valid_vectors_round_trip(case: str, b64: str) -> None:
    raw = base64.b64decode(b64)
    psbt = P.parse_psbt(b64)
    assert psbt.source_version == 2 and psbt.version is None  # handled as v0 inside
    again = psbt_v2.read_maps(P.serialize(psbt))
    original = psbt_v2.read_maps(raw)
    assert again.version == 2
    assert again.globals == original.globals
    assert again.inputs == original.inputs
    assert again.outputs == original.outputs
    # and as v0: the same unsigned transaction, no v2 field left
    v0 = psbt_v2.read_maps(bytes(psbt.serialize()))
    psbt_v2.check(v0)
    assert v0.version == 0 and len(v0.inputs) == len(original.inputs)


@pytest.mark.parametrize(("case", "expected", "b64"), LOCKTIME, ids=[c for c, _, _ in LOCKTIME])
def test_lock_time_determination(case: str, expected: int | None, b64: str) -> None:
    if expected is None:
        with pytest.raises(BadInput, match="lock time cannot be determined"):
            P.parse_psbt(b64)
        return
    assert P.parse_psbt(b64).tx.locktime == expected


async def test_v2_draft_is_signed_finalized_and_accepted(
    devchain: DevChain, gql: GraphQLClient, user_token: str
) -> None:
    wallet = await import_synced(gql, devchain, "alice")
    wid = wallet["id"]
    to = devchain.info["wallets"][5]["firstAddress"]
    body = await gql(CREATE_V, {"w": wid, "o": [{"address": to, "amount": 80_000}], "r": "2", "v": 2})
    draft = body["data"]["createPsbt"]
    assert draft["psbtVersion"] == 2
    maps = psbt_v2.read_maps(base64.b64decode(draft["psbt"]))
    assert maps.version == 2 and bytes([psbt_v2.GLOBAL_UNSIGNED_TX]) not in maps.globals
    for t in (psbt_v2.GLOBAL_TX_VERSION, psbt_v2.GLOBAL_FALLBACK_LOCKTIME, 4, 5):
        assert bytes([t]) in maps.globals
    assert int.from_bytes(maps.globals[bytes([psbt_v2.GLOBAL_FALLBACK_LOCKTIME])], "little") == draft["locktime"]
    assert all(bytes([k]) in m for m in maps.inputs for k in (0x0E, 0x0F, 0x10))
    assert all(bytes([k]) in m for m in maps.outputs for k in (0x03, 0x04))
    # a v2 signer (embit reads and writes v2) signs it
    psbt = PSBT.from_string(draft["psbt"])
    for k in signers(devchain, "alice"):
        psbt.sign_with(k)
    signed = psbt.to_string()
    seen = (await gql(ANALYZE_V, {"w": wid, "p": signed}))["data"]["analyzePsbt"]
    assert seen["complete"] and seen["psbtVersion"] == 2
    final = (await gql(FINALIZE, {"w": wid, "p": signed}))["data"]["finalizePsbt"]
    assert psbt_v2.read_maps(base64.b64decode(final["psbt"])).version == 2  # answered in the version given
    assert final["txid"] == draft["txid"]
    txid = (await gql(BROADCAST, {"w": wid, "p": signed}))["data"]["broadcastTransaction"]
    assert txid == draft["txid"] and txid in devchain.chain.mempool


async def test_unknown_psbt_version_is_refused(devchain: DevChain, gql: GraphQLClient, user_token: str) -> None:
    wallet = await import_synced(gql, devchain, "alice")
    to = devchain.info["wallets"][5]["firstAddress"]
    body = await gql(
        CREATE_V, {"w": wallet["id"], "o": [{"address": to, "amount": 80_000}], "r": "2", "v": 1}, expect_errors=True
    )
    err = body["errors"][0]
    assert err["extensions"]["code"] == "BAD_USER_INPUT" and err["extensions"]["field"] == "psbtVersion"


BUMP_V = f"""mutation($w: ID!, $t: String!, $r: Decimal!, $v: Int!) {{
  bumpFee(walletId: $w, txid: $t, feeRate: $r, psbtVersion: $v) {{ {PSBT_FIELDS} psbtVersion }} }}"""
CPFP_V = f"""mutation($w: ID!, $t: String!, $r: Decimal!, $v: Int!) {{
  cpfp(walletId: $w, txid: $t, feeRate: $r, psbtVersion: $v) {{ {PSBT_FIELDS} psbtVersion }} }}"""


def sign_v2(b64: str, keys: list[object]) -> str:
    maps = psbt_v2.read_maps(base64.b64decode(b64))
    assert maps.version == 2 and bytes([psbt_v2.GLOBAL_UNSIGNED_TX]) not in maps.globals
    psbt = PSBT.from_string(b64)
    for k in keys:
        psbt.sign_with(k)
    return str(psbt.to_string())


async def test_bump_and_cpfp_answer_in_v2(devchain: DevChain, gql: GraphQLClient, user_token: str) -> None:
    """bumpFee and cpfp with psbtVersion 2: v2 PSBTs a v2 signer signs; the replacement evicts the
    original in the dev chain's mempool and the child brings the package to the rate asked."""
    wallet = await import_synced(gql, devchain, "alice")
    wid, keys = wallet["id"], signers(devchain, "alice")
    to = devchain.info["wallets"][5]["firstAddress"]
    draft = (await gql(CREATE_V, {"w": wid, "o": [{"address": to, "amount": 70_000}], "r": "1", "v": 2}))["data"][
        "createPsbt"
    ]
    first = (await gql(BROADCAST, {"w": wid, "p": sign_v2(draft["psbt"], keys)}))["data"]["broadcastTransaction"]
    bump = (await gql(BUMP_V, {"w": wid, "t": first, "r": "6", "v": 2}))["data"]["bumpFee"]
    assert bump["psbtVersion"] == 2 and bump["fee"] > draft["fee"]
    second = (await gql(BROADCAST, {"w": wid, "p": sign_v2(bump["psbt"], keys)}))["data"]["broadcastTransaction"]
    assert second in devchain.chain.mempool and first not in devchain.chain.mempool
    child = (await gql(CPFP_V, {"w": wid, "t": second, "r": "20", "v": 2}))["data"]["cpfp"]
    assert child["psbtVersion"] == 2
    child_id = (await gql(BROADCAST, {"w": wid, "p": sign_v2(child["psbt"], keys)}))["data"]["broadcastTransaction"]
    parent, kid = devchain.chain.txs[second], devchain.chain.txs[child_id]
    assert (parent.fee + kid.fee) / (parent.vsize + kid.vsize) >= 20
    bad = await gql(BUMP_V, {"w": wid, "t": child_id, "r": "30", "v": 3}, expect_errors=True)
    assert bad["errors"][0]["extensions"]["field"] == "psbtVersion"
